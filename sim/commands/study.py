"""`sim study`: the quality study of every recipe on evaluation prompts (with and without outlier injection),
plus its calibration-only companions: `--tune` (SemanticDialect knobs) and `--calibrate-book` (the D=32 book).

    sim study --out results/study                                  # the committed study
    sim study --tune --prompts 4 --out results/study               # tuning.csv on calibration prompts
    sim study --calibrate-book /tmp/book.py                        # freeze_source of dialectfp4-32
    sim study --merge A,B --out results/study                      # combine partial runs (recipes split)
"""
from __future__ import annotations

import os

from ..cli import CliError

OUTPUTS = ("study_tidy.csv", "study_costs.csv", "summary.csv", "margins.csv", "gap_closed.csv", "features.csv",
           "summary.md",
           "manifest.json")


def _csv(text: str, cast=str) -> tuple:
    try:
        return tuple(cast(t.strip()) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise CliError(f"could not parse {text!r}: {exc}") from None


def register(sub):
    from ..study import DEFAULT_CHECKPOINT, OUTLIER_MODES, STUDY_RECIPES
    p = sub.add_parser("study", help="quality study: every recipe vs FP on evaluation prompts (tidy CSV + summary)")
    p.add_argument("--recipes", default=",".join(STUDY_RECIPES), help="comma-separated recipe names")
    p.add_argument("--prompts", type=int, default=8, help="number of prompts (evaluation subset; calibration "
                   "prompts with --tune)")
    p.add_argument("--steps", type=int, default=6, help="sampler steps")
    p.add_argument("--seeds", default="0", help="comma-separated sampling seeds")
    p.add_argument("--outliers", default=",".join(OUTLIER_MODES), help="comma-separated: none, on (stress mode)")
    p.add_argument("--backend", default="numba", help="quantization back end (numba, reference, ...)")
    p.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the checkpoint card's)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch and Numba")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    p.add_argument("--out", default=os.path.join("results", "study"), help="output folder")
    p.add_argument("--tune", action="store_true", help="tune SemanticDialect knobs on CALIBRATION prompts; "
                   "writes OUT/tuning.csv")
    p.add_argument("--calibrate-book", metavar="PY", default=None,
                   help="learn dialectfp4-32 on calibration prompts and write its freeze_source to PY")
    p.add_argument("--merge", metavar="DIRS", default=None,
                   help="comma-separated output folders of partial runs (same settings, different recipes): "
                   "write their combined tables and summary to --out without sampling")
    p.set_defaults(func=run)


def _config(args, prompts):
    from ..study import StudyConfig
    from vdit.release import card_guidance
    if not os.path.exists(args.checkpoint):
        raise CliError(f"checkpoint {args.checkpoint} not found (train one with `python -m vdit.train`)")
    if args.prompts < 1 or args.prompts > len(prompts):
        raise CliError(f"--prompts must be in 1..{len(prompts)}, got {args.prompts}")
    try:
        return StudyConfig(prompts=tuple(prompts[:args.prompts]), recipes=_csv(args.recipes), steps=args.steps,
                           seeds=_csv(args.seeds, int), outliers=_csv(args.outliers), backend=args.backend,
                           guidance=card_guidance() if args.guidance is None else args.guidance,
                           checkpoint=args.checkpoint, threads=args.threads)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def run(args) -> int:
    import vdit
    if args.calibrate_book:
        return _calibrate(args)
    if args.merge:
        return _merge(args)
    if args.tune:
        return _tune(args, _config(args, vdit.CALIBRATION_PROMPTS))
    return _study(args, _config(args, vdit.EVALUATION_SUBSET))


def _study(args, cfg) -> int:
    from ..study import config_dict, run_study
    res = run_study(cfg)
    _write(args.out, config_dict(cfg), res.tidy, res.costs, res.notes)
    return 0


def _merge(args) -> int:
    """Summaries of several partial runs (e.g. recipes split across processes) that used the same settings."""
    import json

    import pandas as pd
    dirs = _csv(args.merge)
    manifests = []
    for d in dirs:
        path = os.path.join(d, "manifest.json")
        if not os.path.exists(path):
            raise CliError(f"--merge: {path} not found (each folder must hold a `sim study` output)")
        with open(path) as fh:
            manifests.append(json.load(fh))
    conf = {k: v for k, v in manifests[0]["config"].items() if k != "recipes"}
    for d, m in zip(dirs, manifests):
        other = {k: v for k, v in m["config"].items() if k != "recipes"}
        if other != conf:
            raise CliError(f"--merge: {d} was run with different settings than {dirs[0]}; only the recipes may differ")
    conf["recipes"] = [r for m in manifests for r in m["config"]["recipes"]]
    tidy = pd.concat([pd.read_csv(os.path.join(d, "study_tidy.csv")) for d in dirs], ignore_index=True)
    costs = pd.concat([pd.read_csv(os.path.join(d, "study_costs.csv"), dtype={"formatbook": str}) for d in dirs],
                      ignore_index=True)
    costs["formatbook"] = costs["formatbook"].fillna("")
    notes = list(dict.fromkeys(n for m in manifests for n in m.get("notes", [])))
    _write(args.out, conf, tidy, costs, notes + [f"merged from {len(dirs)} partial runs with identical settings"])
    return 0


def _write(out: str, conf: dict, tidy, costs, notes) -> None:
    from reports.io import atomic_write_csv, atomic_write_json, atomic_write_text
    from reports.manifest import build_manifest
    from .. import study_summary as ss
    summary = ss.summary_table(tidy, costs)
    margins, gap, features = ss.margins_table(tidy), ss.gap_closed(summary), ss.feature_table(summary)
    header = (f"# Quality study\n\nCheckpoint `{conf['checkpoint']}` (sha256 {conf['checkpoint_sha256'][:16]}), "
              f"{len(conf['prompts'])} evaluation prompts, seeds {list(conf['seeds'])}, {conf['steps']} steps, "
              f"guidance {conf['guidance']}, back end {conf['backend']}. Outliers `on` = vdit.outliers stress mode "
              f"(FP reference: the same injected model in FP). Rerun: `sim study --prompts {len(conf['prompts'])} "
              f"--steps {conf['steps']} --seeds {','.join(map(str, conf['seeds']))} --out {out}`.")
    for name, table in (("study_tidy", tidy), ("study_costs", costs), ("summary", summary), ("margins", margins),
                        ("gap_closed", gap), ("features", features)):
        atomic_write_csv(os.path.join(out, f"{name}.csv"), table)
    atomic_write_text(os.path.join(out, "summary.md"), ss.markdown(summary, margins, gap, header, notes, features))
    atomic_write_json(os.path.join(out, "manifest.json"),
                      build_manifest(conf, seeds={"sampling": list(conf["seeds"]), "outliers": 0},
                                     extra={"notes": notes}))
    print(f"wrote {', '.join(OUTPUTS)} to {out}")


def _tune(args, cfg) -> int:
    from reports.io import atomic_write_csv
    from ..study_tune import tune
    table = tune(cfg)
    path = os.path.join(args.out, "tuning.csv")
    atomic_write_csv(path, table)
    print(f"wrote {path}")
    return 0


def _calibrate(args) -> int:
    from quant.learn import freeze_source
    from reports.io import atomic_write_text
    from ..study_tune import BookCalibration, calibrate_book, settings_source
    from vdit.release import card_guidance
    settings = BookCalibration(guidance=card_guidance() if args.guidance is None else args.guidance)
    book, info = calibrate_book(settings, args.checkpoint, args.threads)
    src = settings_source(settings, info) + freeze_source(book)
    atomic_write_text(args.calibrate_book, src)
    print(f"wrote {args.calibrate_book} ({info['blocks']} blocks, learn {info['learn_seconds']:.0f} s)")
    return 0
