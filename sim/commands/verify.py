"""`sim verify [CONFIG] [--json]`: only the bit-level cross-check of the back ends (no quality run, no estimates).
--json prints {"steps": S, "backends": {NAME: {"bit_identical": bool, "coverage": {KIND: {"checked": n,
"identical": n}}, ...}}} (sim.pipeline.tables.verify_summary).  `--arch X`: the accel back end's functional
datapath is built from design X as given (without it: the run's design specialized for the recipe); a design it
cannot represent is refused before any work, naming the field.  `--recipe R`: check recipe R."""
from __future__ import annotations

from .. import defaults
from .run import add_model_flags, config_from_args


def register(sub):
    p = sub.add_parser("verify", help="cross-check back ends bit for bit on a slice of the run")
    p.add_argument("config", nargs="?", help="run configuration YAML (default configs/run/default.yaml)")
    p.add_argument("--out", default=defaults.out_dir("verify"),
                   help=f"output folder (default {defaults.out_dir('verify')})")
    add_model_flags(p)
    p.add_argument("--backends", help="comma-separated back ends to cross-check")
    p.add_argument("--json", action="store_true", help="print the verdict and coverage by call kind as JSON")
    p.add_argument("--arch", dest="verify_arch", default=None,
                   help="design (name or YAML) whose functional datapath is the accel back end, as given")
    p.add_argument("--recipe", default=None, help="the recipe to cross-check (default: the run config's)")
    p.set_defaults(func=run, recipes=None, arch=None, steps=None, prompts=None, outliers=None)


def run(args) -> int:
    from ..pipeline.output import execute
    return execute(config_from_args(args), args.out, quality=False, crosscheck=True, estimates=False,
                   json_summary=args.json)
