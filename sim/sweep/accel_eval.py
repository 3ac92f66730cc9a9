"""The `accel` sweep evaluator: one design point through the accelerator model (shapes only).

Point config keys: workload (default sim.defaults.WORKLOAD), arch (shipped name or YAML path, default sim.defaults.ARCH),
arch_overrides (nested dict merged over the design before validation), recipe, dataflow (optional),
specialize (bool: run the point on `specialize(design, recipe)`, the design the recipe needs and nothing else),
full_path (bool), quality (optional {study: a `sim study` folder or summary CSV, mode: none|on, columns: [...]}:
the study's quality columns for the point's recipe are merged into the metrics, so that sweep objectives and
constraints can use them, e.g. `psnr_db: max`; a recipe the study lacks gets no quality metrics).
"""
from __future__ import annotations

from functools import lru_cache

METRICS = ("latency_s", "energy_j", "area_mm2", "edp_js", "dram_bytes", "macs", "mac_utilization")


@lru_cache(maxsize=8)
def _quality(study: str, mode: str, columns: tuple) -> dict:
    from sim.accel.compare import load_quality
    return load_quality(study, mode, columns)[0]


def quality_metrics(q: dict, recipe: str) -> dict:
    from sim.accel.compare import QUALITY_COLUMNS
    columns = tuple(q.get("columns", QUALITY_COLUMNS))
    return dict(_quality(str(q["study"]), str(q.get("mode", "none")), columns).get(recipe, {}))


def _estimate(cfg: dict):
    from sim.accel.estimate import estimate
    from sim.accel.spec import load_arch
    from sim.accel.specialize import specialize

    from sim import defaults
    recipe = cfg.get("recipe", defaults.RECIPE)
    arch = load_arch(cfg.get("arch", defaults.ARCH), cfg.get("arch_overrides"))
    if cfg.get("specialize"):
        arch = specialize(arch, recipe)
    return estimate(cfg.get("workload", defaults.WORKLOAD), arch, recipe, dataflow=cfg.get("dataflow"),
                    full_path=bool(cfg.get("full_path", False)))


def _metrics(s: dict, cfg: dict) -> dict:
    out = {
        "latency_s": s["latency_s"], "energy_j": s["energy_j"], "area_mm2": s["area_total_mm2"],
        "edp_js": s["latency_s"] * s["energy_j"], "dram_bytes": float(s["dram_bytes"]), "macs": float(s["macs"]),
        "mac_utilization": float(s["mean_mac_rate_of_mean_peak"]),
    }
    out.update({f"energy.{k}_j": v for k, v in s["energy_by_component_j"].items()})
    if cfg.get("quality"):
        from sim import defaults
        out.update(quality_metrics(cfg["quality"], cfg.get("recipe", defaults.RECIPE)))
    return out


def evaluate(cfg: dict) -> dict:
    """One point.  Traces and GEMM tilings are cached in the process (sim.accel.trace, sim.accel.mapping), so the
    points of a task that share a workload and recipe, or a design's array, buffers and DRAM, share that work."""
    return _metrics(_estimate(cfg).summary(), cfg)


def evaluate_per_point(cfg: dict) -> dict:
    """The same metrics the way every point was evaluated before the caches and the NumPy summary: caches cleared,
    the trace and tilings computed for this point alone, the summary reduced from the pandas tables (the baseline
    of bench/bench_sweep.py and the reference of tests/test_sweep_cached_eval.py)."""
    from sim.accel.estimate import clear_caches, reference_summary
    clear_caches()
    return _metrics(reference_summary(_estimate(cfg)), cfg)
