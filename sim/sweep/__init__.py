"""Design-space sweeps: a spec (YAML), a results store (SQLite, resumable), runners (Ray by default), Pareto."""
from .pareto import pareto_mask
from .runner import EXECUTORS, SweepRun, run_sweep
from .spec import SweepSpec, SweepSpecError, load_sweep, parse_sweep, point_id, resolve
from .store import ResultStore, StoreError

__all__ = ["pareto_mask", "EXECUTORS", "SweepRun", "run_sweep", "SweepSpec", "SweepSpecError", "load_sweep",
           "parse_sweep", "point_id", "resolve", "ResultStore", "StoreError"]
