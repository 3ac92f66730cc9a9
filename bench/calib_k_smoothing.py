"""Calibration-only choice of `attention.k_smoothing` for semanticdialect-fullpath: the recipe with and without K
smoothing (and semanticdialect with FP16 attention as the reference point), on CALIBRATION prompts only, both
outlier modes; mean PSNR vs FP and task accuracy over prompts x seeds.

    python -m bench.calib_k_smoothing [--prompts 6] [--steps 6] [--seeds 0,1] [--out results/study-fullpath]

Writes k_smoothing_calibration.csv (atomic).  The evaluation prompts are never touched here.
"""
from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def variants():
    from quant.recipes import recipe
    base = recipe("semanticdialect-fullpath")
    flip = not base.attention.k_smoothing
    return {"semanticdialect": recipe("semanticdialect"), base.name: base,
            f"{base.name} k_smoothing={flip}": replace(base, name=f"{base.name}-ks{int(flip)}",
                                                      attention=replace(base.attention, k_smoothing=flip))}


def main(argv=None) -> int:
    import pandas as pd
    import vdit
    from reports.io import atomic_write_csv
    from sim.sampling import set_threads
    from sim.study import StudyConfig, fp_reference, run_recipe
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=6)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--guidance", type=float, default=6.0)
    p.add_argument("--out", default="results/study-fullpath")
    a = p.parse_args(argv)
    set_threads(1)
    prompts, seeds = tuple(vdit.CALIBRATION_PROMPTS[:a.prompts]), tuple(int(s) for s in a.seeds.split(","))
    rows = []
    for mode in ("none", "on"):
        cfg = StudyConfig(prompts=prompts, recipes=("fp",), steps=a.steps, seeds=seeds, outliers=(mode,),
                          guidance=a.guidance)
        fp = fp_reference(cfg, mode)
        for label, r in variants().items():
            t0 = time.perf_counter()
            got, _ = run_recipe(cfg, r, mode, fp)
            mean = {m: float(np.mean([x["value"] for x in got if x["metric"] == m])) for m in ("psnr_db", "task_all")}
            rows.append({"outliers": mode, "variant": label, "k_smoothing": getattr(r.attention, "k_smoothing", False),
                         "prompts": len(prompts), "seeds": a.seeds, "steps": a.steps, **mean,
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(f"{mode:4s} {label:44s} PSNR {mean['psnr_db']:6.2f} dB  task {mean['task_all']:.3f}", flush=True)
    atomic_write_csv(Path(a.out) / "k_smoothing_calibration.csv", pd.DataFrame(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
