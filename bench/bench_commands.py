"""Whole-command wall time of what architects wait for: `sim run` (the embedded default) and the default
`sim study` for one seed, each in a fresh process writing to a temporary folder.

    python -m bench.bench_commands [--commands run,study]

`sim run` is measured twice in the same run: with the default config (`workers: 2`, the cross-check slice beside
the sampling) and, as the baseline, with `workers: 1` (the stages one after the other); the ratio is printed.  The
study is `sim study --prompts 8 --steps 6 --seeds 0` (every default recipe, both outlier modes, 2 workers).
Targets (issue: speed): `sim run` < 40 s, `sim study` one seed < 180 s, on 2 cores.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"run": 40.0, "study": 180.0}


def wall(args: list, cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--commands", default="run,study")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for cmd in a.commands.split(","):
            if cmd == "run":
                seq = tmp / "sequential.yaml"
                default = (ROOT / "configs" / "run" / "default.yaml").read_text()
                seq.write_text(default.replace("\nworkers: 2", "\nworkers: 1"))
                t2 = wall(["run", "--out", str(tmp / "run2")], ROOT)
                t1 = wall(["run", str(seq), "--out", str(tmp / "run1")], ROOT)
                verdict = "PASS" if t2 < TARGETS["run"] else "FAIL"
                print(f"sim run (default, workers 2): {t2:.1f} s; workers 1 (baseline, same run): {t1:.1f} s; "
                      f"ratio {t1 / t2:.2f}x; target < {TARGETS['run']:.0f} s: {verdict}")
            elif cmd == "study":
                t = wall(["study", "--prompts", "8", "--steps", "6", "--seeds", "0", "--no-progress",
                          "--out", str(tmp / "study")], ROOT)
                print(f"sim study --prompts 8 --steps 6 --seeds 0 (default recipes, both modes): {t:.1f} s; "
                      f"target < {TARGETS['study']:.0f} s: {'PASS' if t < TARGETS['study'] else 'FAIL'}")
            else:
                p.error(f"--commands: unknown command {cmd!r}; valid: run, study")
    return 0


if __name__ == "__main__":
    sys.exit(main())
