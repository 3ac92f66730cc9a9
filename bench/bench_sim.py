"""Speed of the accelerator model: a whole Open-Sora 2.0 sampling run (57 blocks x 50 steps x 3 CFG branches)
from shapes to latency, energy and area, on one core.

    python bench/bench_sim.py [--workload opensora2-256px] [--arch edge] [--recipe semanticdialect] [--repeats 5]

Prints the median wall time per stage, the time per distinct op and per op instance, and the ratio to the
2-second target; as a baseline measured in the same run, the same pipeline on the tiny model.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"                          # one core: set before numpy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
TARGET_S = 2.0


def run_once(workload: str, arch: str, recipe: str) -> dict:
    from sim.accel.area import area_mm2
    from sim.accel.counts import count_actions, energy_pj
    from sim.accel.energy import action_energy_pj, load_energy_table
    from sim.accel.engine import simulate
    from sim.accel.spec import load_arch
    from sim.accel.trace import build_trace
    t = [time.perf_counter()]
    spec = load_arch(arch)
    trace = build_trace(workload, recipe)
    t.append(time.perf_counter())
    sim = simulate(trace, spec)
    t.append(time.perf_counter())
    table = load_energy_table(spec.technology.energy_table)
    energy = energy_pj(count_actions(sim), action_energy_pj(table, spec))
    area = area_mm2(spec, table)
    t.append(time.perf_counter())
    return {"trace_s": t[1] - t[0], "timing_s": t[2] - t[1], "energy_area_s": t[3] - t[2], "total_s": t[3] - t[0],
            "ops": len(trace.ops), "instances": int(trace.ops.repeat.sum()), "latency_s": sim.latency_s,
            "energy_j": float(energy.drop(columns="op").to_numpy().sum()) * 1e-12, "area_mm2": sum(area.values())}


def median_run(workload, arch, recipe, repeats) -> dict:
    runs = [run_once(workload, arch, recipe) for _ in range(repeats)]
    return {k: statistics.median(r[k] for r in runs) if isinstance(runs[0][k], float) else runs[0][k]
            for k in runs[0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="opensora2-256px")
    ap.add_argument("--arch", default="edge")
    ap.add_argument("--recipe", default="semanticdialect")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    run_once("tiny", args.arch, args.recipe)                        # warm imports and caches
    base = median_run("tiny", args.arch, args.recipe, args.repeats)
    full = median_run(args.workload, args.arch, args.recipe, args.repeats)
    for name, r in (("tiny (baseline)", base), (args.workload, full)):
        print(f"{name}: {r['ops']} distinct ops, {r['instances']} op instances; median of {args.repeats}: "
              f"trace {r['trace_s']:.3f} s + timing {r['timing_s']:.3f} s + energy/area {r['energy_area_s']:.3f} s "
              f"= {r['total_s']:.3f} s  ({1e3 * r['total_s'] / r['ops']:.3f} ms per distinct op, "
              f"{1e6 * r['total_s'] / r['instances']:.2f} us per op instance)")
        print(f"    simulated: latency {r['latency_s']:.4g} s, energy {r['energy_j']:.4g} J, area {r['area_mm2']:.3f} mm^2")
    print(f"{args.workload} vs tiny: {full['total_s'] / base['total_s']:.2f}x the time for "
          f"{full['instances'] / base['instances']:.1f}x the op instances; "
          f"{full['total_s'] / TARGET_S:.2f}x of the {TARGET_S:.0f} s target: "
          f"{'PASS' if full['total_s'] < TARGET_S else 'FAIL'}")
    return 0 if full["total_s"] < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
