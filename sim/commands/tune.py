"""`sim tune`: tune SemanticDialect's knobs on CALIBRATION prompts (never the evaluation ones) and write
OUT/tuning.csv (default out/tune; the committed table is results/study/tuning.csv)."""
from __future__ import annotations

import os

from .. import preflight
from .study import _config, add_sampling_flags


def register(sub):
    p = sub.add_parser("tune", help="tune SemanticDialect knobs on calibration prompts (tuning.csv)")
    add_sampling_flags(p, "tune", "number of calibration prompts")
    p.set_defaults(func=run)


def tune_to(cfg, out) -> int:
    from reports.io import atomic_write_csv
    from ..study_tune import tune
    table = tune(cfg)
    path = os.path.join(out, "tuning.csv")
    atomic_write_csv(path, table)
    print(f"wrote {path}")
    return 0


def run(args) -> int:
    import vdit
    cfg = _config(args, vdit.CALIBRATION_PROMPTS)
    return tune_to(cfg, preflight.out_dir(args.out))
