"""Sweep analysis: feasibility, the Pareto set over all objectives, 2-D fronts and best points per objective.
The report module only draws and writes what this computes."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .pareto import pareto_mask

# cost vs cost, and quality (joined from a study, see sim/sweep/accel_eval.py) vs energy and vs area
FRONT_PAIRS = (("latency_s", "energy_j"), ("latency_s", "area_mm2"), ("energy_j", "psnr_db"), ("area_mm2", "psnr_db"),
               ("energy_j", "task_all"), ("area_mm2", "task_all"))


def analyse(frame: pd.DataFrame, objectives: dict, constraints) -> tuple:
    """-> (points with feasible / pareto / front.<x>.<y> columns, best-per-objective table)."""
    done = frame[frame["status"] == "done"].copy() if len(frame) else frame.copy()
    recs = done.to_dict("records")
    done["feasible"] = np.array([all(c.holds(r) for c in constraints) for r in recs], dtype=bool)
    objs = [m for m in objectives if m in done.columns]
    done["pareto"] = _front(done, objs, [objectives[m] for m in objs])
    for x, y in FRONT_PAIRS:
        if x in done.columns and y in done.columns:
            done[f"front.{x}.{y}"] = _front(done, [x, y], [objectives.get(x, "min"), _sense(y, objectives)])
    return done, best_points(done, objectives)


def _sense(metric, objectives):
    # quality metrics are maximized even when not declared as objectives
    return objectives.get(metric, "max" if metric.startswith(("psnr", "ssim", "task")) else "min")


def _front(done, cols, senses) -> np.ndarray:
    mask = np.zeros(len(done), dtype=bool)
    if not cols or not len(done):
        return mask
    fe = np.flatnonzero(done["feasible"].to_numpy())
    if len(fe):
        mask[fe] = pareto_mask(done.iloc[fe][cols].to_numpy(dtype=float), senses)
    return mask


def best_points(done: pd.DataFrame, objectives: dict) -> pd.DataFrame:
    fe = done[done["feasible"]]
    rows = []
    for m, sense in objectives.items():
        if m in fe.columns and fe[m].notna().any():
            i = fe[m].idxmin() if sense == "min" else fe[m].idxmax()
            rows.append(fe.loc[[i]].assign(best_for=m))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
