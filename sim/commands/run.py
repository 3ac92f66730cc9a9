"""`sim run [CONFIG] [--out DIR]`: the main job.  With no argument: the tiny model, the semanticdialect recipe,
the edge design (configs/run/default.yaml).  Samples FP and quantized videos, cross-checks back ends bit for bit,
measures quality vs FP, estimates latency/energy/area (tiny and full-size Open-Sora 2.0 at 256px) and writes
CSVs, a manifest and a PDF report into the output folder."""
from __future__ import annotations

from .. import defaults, preflight
from ..pipeline.config import load_run_config


def register(sub):
    p = sub.add_parser("run", help="run the main job (default: tiny model, semanticdialect, edge design)")
    p.add_argument("config", nargs="?", help="run configuration YAML (default configs/run/default.yaml)")
    p.add_argument("--out", default=defaults.out_dir("run"), help=f"output folder (default {defaults.out_dir('run')})")
    p.add_argument("--recipe", help="recipe under study (overrides the config)")
    p.add_argument("--recipes", help="comma-separated recipes to compare side by side (overrides compare_recipes)")
    p.add_argument("--arch", help="accelerator design name or YAML path")
    add_model_flags(p)
    p.add_argument("--backends", help="comma-separated back ends to cross-check (overrides check_backends)")
    p.add_argument("--steps", type=int)
    p.add_argument("--prompts", type=int)
    p.add_argument("--outliers", action="store_true", default=None, help="also run with outlier injection")
    p.set_defaults(func=run)


def add_model_flags(p):
    """--checkpoint and --backend mean what they mean in `sim sample` and `sim study`: the model and the back
    end that runs the whole sampling (the config's `model:` and `full_backend:`)."""
    p.add_argument("--checkpoint", help="shipped model name (tiny) or .safetensors path (overrides model)")
    p.add_argument("--backend", help="back end that runs the whole sampling (overrides full_backend)")


def config_from_args(args):
    """The validated run config (every name, the design files and the checkpoint header checked; a
    RunConfigError naming the file and field otherwise), and the output folder probed for writability."""
    overrides = {"recipe": args.recipe, "arch": args.arch, "steps": args.steps, "prompts": args.prompts,
                 "compare_recipes": args.recipes, "check_backends": getattr(args, "backends", None),
                 "outliers": args.outliers, "verify_arch": getattr(args, "verify_arch", None),
                 "model": args.checkpoint, "full_backend": args.backend}
    cfg = load_run_config(preflight.input_file(args.config, "config") if args.config else None, **overrides)
    preflight.out_dir(args.out)
    return cfg


def run(args) -> int:
    from ..pipeline.output import execute
    cfg = config_from_args(args)
    return execute(cfg, args.out, quality=True, crosscheck=True, estimates=True)
