"""Evaluators: functions config -> metrics dict, looked up by name so that workers (Ray tasks, pool processes)
import them by themselves.  Registry: EVALUATORS (name -> "module:function"); adding one is one entry."""
from __future__ import annotations

import importlib
import time
import traceback

EVALUATORS = {
    "accel": "sim.sweep.accel_eval:evaluate",
    # the same numbers, each point from scratch (no shared traces or tilings; summary from pandas tables): the
    # baseline of bench/bench_sweep.py and the reference of tests/test_sweep_cached_eval.py
    "accel-per-point": "sim.sweep.accel_eval:evaluate_per_point",
}
METRICS = {
    "accel": "sim.sweep.accel_eval:METRICS",
    "accel-per-point": "sim.sweep.accel_eval:METRICS",
}


def _resolve(path: str):
    module, attr = path.split(":")
    return getattr(importlib.import_module(module), attr)


def get_evaluator(name: str):
    if name not in EVALUATORS:
        raise KeyError(f"unknown evaluator {name!r}; valid evaluators: {', '.join(sorted(EVALUATORS))}")
    return _resolve(EVALUATORS[name])


def metric_names(name: str) -> tuple:
    return tuple(_resolve(METRICS[name])) if name in METRICS else ()


def evaluate_chunk(evaluator: str, items) -> list:
    """Evaluate (point_id, config) pairs; returns (point_id, config, metrics, seconds, error) per point.
    A point that raises is recorded as failed with its traceback; the others still count."""
    fn = get_evaluator(evaluator)
    out = []
    for pid, cfg in items:
        t0 = time.perf_counter()
        try:
            out.append((pid, cfg, fn(cfg), time.perf_counter() - t0, None))
        except Exception:  # a bad point must not lose the chunk's other results
            out.append((pid, cfg, None, time.perf_counter() - t0, traceback.format_exc(limit=5)))
    return out
