"""Sampling time per recipe: one `sim run` quality sampling (the prompts, steps, guidance and seed of
configs/run/default.yaml, its full back end) per recipe, with mxfp4 as the baseline measured in the same run.

    python bench/bench_sampling.py [--recipes fp,mxfp4,nvfp4,semanticdialect,semanticdialect-fullpath]
                                   [--steps N] [--profile RECIPE]

Each recipe is sampled once after a one-step warm-up (Numba compilation, caches); the model is quantized before
the clock starts.  Prints wall and process CPU seconds per recipe and their ratios to mxfp4; on a shared machine
trust the CPU column.  --profile RECIPE also prints that recipe's top cProfile entries (cumulative time).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
RECIPES = ("fp", "mxfp4", "nvfp4", "semanticdialect", "semanticdialect-fullpath")
BASELINE = "mxfp4"


def _model(cfg, recipe: str):
    from sim.pipeline.run import _load, _quantized
    return _load(cfg, False) if recipe == "fp" else _quantized(cfg, recipe, cfg.full_backend, False)


def time_recipe(cfg, prompts, recipe: str, steps: int, profile: bool) -> dict:
    from sim.pipeline.run import _sample
    _sample(cfg, _model(cfg, recipe), prompts, steps=steps, max_steps=1)        # warm-up: compile, fill caches
    model = _model(cfg, recipe)
    prof = cProfile.Profile() if profile else None
    t0, c0 = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    _sample(cfg, model, prompts, steps=steps)
    if prof:
        prof.disable()
    out = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    if prof:
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(r"quant|vdit", 25)
        out["profile"] = text.getvalue()
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default=",".join(RECIPES))
    ap.add_argument("--steps", type=int, default=None, help="denoising steps (default: the run config's)")
    ap.add_argument("--profile", default=None, help="print this recipe's cProfile summary")
    args = ap.parse_args(argv)
    import vdit
    from sim.pipeline.config import load_run_config
    cfg = load_run_config()
    steps = args.steps or cfg.steps
    prompts = tuple(vdit.EVALUATION_SUBSET[:cfg.prompts])
    recipes = [r for r in args.recipes.split(",") if r]
    if BASELINE not in recipes:
        recipes.insert(0, BASELINE)
    print(f"{len(prompts)} prompts x {steps} steps, guidance {cfg.guidance}, seed {cfg.seed}, back end "
          f"{cfg.full_backend} (configs/run/default.yaml)")
    res = {r: time_recipe(cfg, prompts, r, steps, r == args.profile) for r in recipes}
    base = res[BASELINE]
    print(f"{'recipe':28s} {'wall s':>8s} {'cpu s':>8s} {'wall/mxfp4':>11s} {'cpu/mxfp4':>10s}")
    for r, m in res.items():
        print(f"{r:28s} {m['wall_s']:8.2f} {m['cpu_s']:8.2f} {m['wall_s'] / base['wall_s']:11.2f} "
              f"{m['cpu_s'] / base['cpu_s']:10.2f}")
    for r, m in res.items():
        if "profile" in m:
            print(f"\ncProfile of {r} (cumulative):\n{m['profile']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
