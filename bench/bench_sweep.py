"""Sweep throughput: points per second of the `accel` evaluator on the full Open-Sora 2.0 256px workload, with
1 and 2 workers (Ray, local instance), and the wall time of the whole configs/sweeps/edge-dse.yaml sweep.

    python bench/bench_sweep.py            # subset of 100 points with 1 and 2 workers, then the full sweep
    python bench/bench_sweep.py --quick    # subset of 24 points only

The baseline of the ratio is the 1-worker run measured in the same invocation.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sim.sweep import load_sweep, run_sweep  # noqa: E402
from sim.sweep.spec import SweepSpec  # noqa: E402


def subset(spec: SweepSpec, n: int) -> SweepSpec:
    """The same sweep as a random search of n points (seeded), so both worker counts see identical points."""
    from dataclasses import replace
    return replace(spec, search_kind="random", samples=n, seed=0, name=f"{spec.name}-sub{n}")


def timed(spec, workers, executor):
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run_sweep(spec, d, executor=executor, workers=workers, progress=False, chunk=4)
        return res, time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--executor", default="ray")
    args = ap.parse_args()
    spec = load_sweep(ROOT / "configs/sweeps/edge-dse.yaml")
    n = 24 if args.quick else 100
    import ray
    rates = {}
    for w in (1, 2):
        if ray.is_initialized():
            ray.shutdown()
        res, wall = timed(subset(spec, n), w, args.executor)
        rates[w] = res.n_evaluated / wall
        print(f"{n} points, {w} worker(s): {wall:.1f} s wall, {rates[w]:.2f} points/s "
              f"(mean {res.seconds / max(res.n_evaluated, 1) * w:.3f} s per point per worker, incl. Ray start-up)")
    print(f"speed-up 2 workers / 1 worker: {rates[2] / rates[1]:.2f}x")
    if not args.quick:
        if ray.is_initialized():
            ray.shutdown()
        res, wall = timed(spec, 2, args.executor)
        print(f"full sweep {spec.name}: {res.n_points} points, {res.n_evaluated} evaluated, {res.n_failed} failed, "
              f"{wall:.1f} s wall with 2 workers ({res.n_evaluated / wall:.2f} points/s)")


if __name__ == "__main__":
    main()
