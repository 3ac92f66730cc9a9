"""`sim run [CONFIG] [--out DIR]`: the main job.  With no argument: the tiny model, the semanticdialect recipe,
the edge design (configs/run/default.yaml).  Samples FP and quantized videos, cross-checks back ends bit for bit,
measures quality vs FP, estimates latency/energy/area (tiny and full-size Open-Sora 2.0 at 256px) and writes
CSVs, a manifest and a PDF report into the output folder."""
from __future__ import annotations

from ..cli import CliError
from ..pipeline.config import RunConfigError, load_run_config


def register(sub):
    p = sub.add_parser("run", help="run the main job (default: tiny model, semanticdialect, edge design)")
    p.add_argument("config", nargs="?", help="run configuration YAML (default configs/run/default.yaml)")
    p.add_argument("--out", default="out/run", help="output folder (default out/run)")
    p.add_argument("--recipe", help="recipe under study (overrides the config)")
    p.add_argument("--recipes", help="comma-separated recipes to compare side by side (overrides compare_recipes)")
    p.add_argument("--arch", help="accelerator design name or YAML path")
    p.add_argument("--backends", help="comma-separated back ends to cross-check (overrides check_backends)")
    p.add_argument("--steps", type=int)
    p.add_argument("--prompts", type=int)
    p.add_argument("--outliers", action="store_true", default=None, help="also run with outlier injection")
    p.set_defaults(func=run)


def config_from_args(args):
    overrides = {"recipe": args.recipe, "arch": args.arch, "steps": args.steps, "prompts": args.prompts,
                 "compare_recipes": args.recipes, "check_backends": getattr(args, "backends", None),
                 "outliers": args.outliers, "verify_arch": getattr(args, "verify_arch", None)}
    try:
        return load_run_config(args.config, **overrides)
    except RunConfigError as exc:
        raise CliError(str(exc)) from None


def run(args) -> int:
    from ..pipeline.output import execute
    cfg = config_from_args(args)
    return execute(cfg, args.out, quality=True, crosscheck=True, estimates=True)
