"""Speed of `sim estimate`: a whole Open-Sora 2.0 sampling run (57 blocks x 50 steps x 3 CFG branches) from shapes
to latency, energy and area, on one core, in process and as a whole `python -m sim estimate` process.

    python bench/bench_sim.py [--workload opensora2-256px] [--arch edge] [--recipe semanticdialect] [--repeats 7]

In process (median of --repeats): the estimate and its summary with every cache cleared first (what one
`sim estimate` computes), with the caches warm (a later point of a sweep), and as baseline the per-point path
measured in the same run (caches cleared, summary reduced from the pandas tables, as every estimate was before).
Whole process: wall time of `python -m sim estimate`, against `python -c pass` and `python -c "import numpy"`
measured in the same run (the floor), and the modules the command imported.  Targets: < 30 ms in process,
< 0.3 s whole process.
"""
from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_v] = "1"                          # one core: set before numpy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGET_IN_PROCESS_S, TARGET_PROCESS_S = 0.030, 0.3


def in_process(args, cold: bool, reference: bool) -> float:
    from sim import preflight
    from sim.accel.estimate import clear_caches, estimate, reference_summary
    times = []
    for _ in range(args.repeats):
        if cold:
            clear_caches()
        t0 = time.perf_counter()
        preflight.workloads([args.workload])
        preflight.recipes([args.recipe])
        est = estimate(args.workload, preflight.arch(args.arch), args.recipe)
        reference_summary(est) if reference else est.summary()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def process_wall(cmd: list, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="opensora2-256px")
    ap.add_argument("--arch", default="edge")
    ap.add_argument("--recipe", default="semanticdialect")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    base = in_process(args, cold=True, reference=True)
    cold = in_process(args, cold=True, reference=False)
    warm = in_process(args, cold=False, reference=False)
    print(f"in process, {args.workload} on {args.arch}, {args.recipe} (median of {args.repeats}): per-point path "
          f"{1e3 * base:.1f} ms; estimate {1e3 * cold:.1f} ms cold ({base / cold:.1f}x), {1e3 * warm:.2f} ms with "
          f"warm caches ({base / warm:.0f}x); {cold / TARGET_IN_PROCESS_S:.2f}x of the "
          f"{1e3 * TARGET_IN_PROCESS_S:.0f} ms target: {'PASS' if cold < TARGET_IN_PROCESS_S else 'FAIL'}")
    py = [sys.executable]
    est_cmd = py + ["-m", "sim", "estimate", "--workload", args.workload, "--arch", args.arch, "--recipe", args.recipe]
    floor = {name: process_wall(py + ["-c", code], args.repeats) for name, code in
             (("python -c pass", "pass"), ("python -c 'import numpy'", "import numpy"))}
    whole = process_wall(est_cmd, args.repeats)
    probe = ("import sys; from sim.cli import main; main(sys.argv[1:]); "
             "print(' '.join(m for m in ('pandas', 'torch', 'matplotlib', 'yaml', 'numpy') if m in sys.modules))")
    loaded = subprocess.run(py + ["-c", probe, *est_cmd[3:]], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.splitlines()[-1]
    print(f"whole process `python -m sim estimate` (median of {args.repeats}): {whole:.3f} s; "
          + ", ".join(f"{k} {v:.3f} s" for k, v in floor.items()) + f"; imported: {loaded}")
    print(f"whole process: {whole / TARGET_PROCESS_S:.2f}x of the {TARGET_PROCESS_S} s target: "
          f"{'PASS' if whole < TARGET_PROCESS_S else 'FAIL'}")
    return 0 if cold < TARGET_IN_PROCESS_S and whole < TARGET_PROCESS_S else 1


if __name__ == "__main__":
    sys.exit(main())
