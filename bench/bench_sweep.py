"""Sweep throughput of the `accel` evaluator on the full Open-Sora 2.0 256px workload (configs/sweeps/edge-dse.yaml),
against the per-point path measured in the same run.

    python bench/bench_sweep.py                       # local process pool, 1 and 2 workers
    python bench/bench_sweep.py --quick               # 2 workers only, smaller baseline subset
    python bench/bench_sweep.py --executor ray

Baseline (`accel-per-point`): every point traced and tiled from scratch and its summary reduced from the pandas
tables, as every point was before the caches (same metrics, bit for bit: tests/test_sweep_cached_eval.py).  It runs
on a seeded random subset of the grid; the cached path runs the whole 1,200-point grid.  Wall times include the
worker start-up.  Target: >= 30 points/s with 2 workers.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.sweep import load_sweep, run_sweep  # noqa: E402

TARGET_POINTS_PER_S = 30.0


def timed(spec, workers: int, executor: str) -> float:
    """Points per second of a fresh sweep into a temporary folder."""
    if executor == "ray":
        import ray
        if ray.is_initialized():
            ray.shutdown()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run_sweep(spec, d, executor=executor, workers=workers, progress=False)
        wall = time.perf_counter() - t0
    if res.n_failed:
        raise SystemExit(f"{res.n_failed} points failed")
    return res.n_evaluated / wall


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--executor", default="local", choices=("local", "ray", "inline"))
    args = ap.parse_args(argv)
    spec = load_sweep(ROOT / "configs/sweeps/edge-dse.yaml")
    n_base = 24 if args.quick else 96
    base = replace(spec, evaluator="accel-per-point", search_kind="random", samples=n_base, seed=0,
                   name=f"{spec.name}-per-point")
    ok = True
    for workers in ((2,) if args.quick else (1, 2)):
        before = timed(base, workers, args.executor)
        after = timed(spec, workers, args.executor)
        print(f"{workers} worker(s), {args.executor}: per-point path {before:.2f} points/s ({n_base} points); "
              f"cached path {after:.1f} points/s ({len(spec.points())} points): {after / before:.1f}x")
        if workers == 2:
            ok = after >= TARGET_POINTS_PER_S
            print(f"2 workers: {after / TARGET_POINTS_PER_S:.2f}x of the {TARGET_POINTS_PER_S:.0f} points/s target: "
                  f"{'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
