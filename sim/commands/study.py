"""`sim study`: the quality study of every recipe on evaluation prompts (with and without outlier injection).
Its companions are commands of their own: `sim tune` (SemanticDialect knobs on calibration prompts, tune.py),
`sim calibrate-book` (the D=32 book, calibrate_book.py) and `sim study-merge` (combine partial runs,
study_merge.py).  The old spellings `sim study --tune / --calibrate-book PY / --merge A,B` still work and say
which command replaced them.

    sim study --out results/study                                  # the committed study (default out/study)
    sim study --workers 2 --out results/study                      # cells on a local process pool
    sim study --address ray://HOST:10001 --out results/study       # cells on a Ray cluster
    sim tune --prompts 4 --out results/study                       # tuning.csv on calibration prompts
    sim calibrate-book --out /tmp/book.py                          # freeze_source of dialectfp4-32
    sim study-merge A B --out results/study                        # combine partial runs (recipes split)
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from .. import defaults, preflight
from ..cli import CliError

OUTPUTS = ("study_tidy.csv", "study_costs.csv", "summary.csv", "significance.csv", "margins.csv", "gap_closed.csv",
           "features.csv", "summary.md", "manifest.json")


def _csv(text: str, cast=str) -> tuple:
    try:
        return tuple(cast(t.strip()) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise CliError(f"could not parse {text!r}: {exc}") from None


def add_sampling_flags(p, command: str, prompts_help: str, seeds: str = "0"):
    """The flags `sim study` and `sim tune` share (the same names as in `sim run` and `sim sample`)."""
    from ..study import OUTLIER_MODES, STUDY_RECIPES
    p.add_argument("--recipes", default=",".join(STUDY_RECIPES), help="comma-separated recipe names")
    p.add_argument("--prompts", type=int, default=8, help=prompts_help)
    p.add_argument("--steps", type=int, default=6, help="sampler steps")
    p.add_argument("--seeds", default=seeds, help=f"comma-separated sampling seeds (default {seeds})")
    p.add_argument("--outliers", default=",".join(OUTLIER_MODES), help="comma-separated: none, on (stress mode)")
    p.add_argument("--backend", default=defaults.BACKEND, help="quantization back end (numba, reference, ...)")
    p.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the checkpoint card's)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch and Numba")
    p.add_argument("--checkpoint", default=defaults.CHECKPOINT, help="shipped model name (tiny) or .safetensors path")
    p.add_argument("--out", default=defaults.out_dir(command),
                   help=f"output folder (default {defaults.out_dir(command)}; the committed study is results/study)")


def register(sub):
    from ..study import BASELINES, DEFAULT_SEEDS
    p = sub.add_parser("study", help="quality study: every recipe vs FP on evaluation prompts (tidy CSV + summary)")
    add_sampling_flags(p, "study", "number of evaluation prompts", ",".join(map(str, DEFAULT_SEEDS)))
    p.add_argument("--versus", default=",".join(BASELINES),
                   help="comma-separated baselines every recipe's PSNR is compared with (paired bootstrap)")
    p.add_argument("--workers", type=int, default=None,
                   help="cells run in parallel (default: the cores divided by --threads)")
    # checked in _executor: importing sim.sweep here would load pandas for every command's parser
    p.add_argument("--executor", default=None,
                   help="local process pool (default), ray (default when --address is given), or inline")
    p.add_argument("--address", default=None, help="address of an existing Ray cluster (e.g. ray://host:10001)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    # the old spellings of `sim tune`, `sim calibrate-book` and `sim study-merge`, kept working with a notice
    p.add_argument("--tune", action="store_true", help="deprecated: use `sim tune`")
    p.add_argument("--calibrate-book", metavar="PY", default=None, help="deprecated: use `sim calibrate-book --out PY`")
    p.add_argument("--merge", metavar="DIRS", default=None, help="deprecated: use `sim study-merge DIR DIR ...`")
    p.set_defaults(func=run)


def checkpoint_arg(name_or_path: str) -> str:
    """The checkpoint as the manifest records it: shipped names as their repository-relative path."""
    path = preflight.checkpoint(name_or_path)
    shipped = name_or_path in defaults.SHIPPED_MODELS and Path(defaults.CHECKPOINT).exists()   # run from the root
    return defaults.CHECKPOINT if shipped else str(path)


def _config(args, prompts):
    from ..study import StudyConfig
    from vdit.release import card_guidance
    args.checkpoint = checkpoint_arg(args.checkpoint)
    preflight.backends([args.backend])
    if args.threads < 1:
        raise CliError(f"--threads must be at least 1, got {args.threads}")
    if args.prompts < 1 or args.prompts > len(prompts):
        raise CliError(f"--prompts must be in 1..{len(prompts)}, got {args.prompts}")
    try:
        return StudyConfig(prompts=tuple(prompts[:args.prompts]), recipes=_csv(args.recipes), steps=args.steps,
                           seeds=_csv(args.seeds, int), outliers=_csv(args.outliers), backend=args.backend,
                           guidance=card_guidance() if args.guidance is None else args.guidance,
                           checkpoint=args.checkpoint, threads=args.threads,
                           **({"versus": _csv(args.versus)} if hasattr(args, "versus") else {}))
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _deprecated(old: str, new: str):
    print(f"sim study: note: `sim study {old}` is deprecated; use `{new}`", file=sys.stderr)


def run(args) -> int:
    import vdit
    if args.calibrate_book:
        _deprecated("--calibrate-book PY", "sim calibrate-book --out PY")
        from .calibrate_book import calibrate
        return calibrate(args.checkpoint, args.guidance, args.threads, args.calibrate_book)
    if args.merge:
        _deprecated("--merge A,B", "sim study-merge A B")
        from .study_merge import merge
        return merge(_csv(args.merge), args.out)
    if args.tune:
        _deprecated("--tune", "sim tune")
        from .tune import tune_to
        cfg = _config(args, vdit.CALIBRATION_PROMPTS)
        return tune_to(cfg, preflight.out_dir(args.out))
    cfg = _config(args, vdit.EVALUATION_SUBSET)
    return _study(args, cfg)


def _executor(args) -> tuple:
    """(executor, workers) of `sim study`: a local pool unless --address names a Ray cluster."""
    from ..sweep.executor import EXECUTORS
    executor = args.executor or ("ray" if args.address else "local")
    if executor not in EXECUTORS:
        raise CliError(f"--executor {executor}: unknown; valid: {', '.join(EXECUTORS)}")
    if args.address and executor != "ray":
        raise CliError(f"--address needs --executor ray, got --executor {executor}")
    workers = args.workers if args.workers is not None else max(1, (os.cpu_count() or 1) // args.threads)
    if workers < 1:
        raise CliError(f"--workers must be at least 1, got {workers}")
    return executor, workers


def _study(args, cfg) -> int:
    from reports.io import run_lock
    from ..study import config_dict
    from ..study_run import run_study
    executor, workers = _executor(args)
    out = preflight.out_dir(args.out)
    args.resume_hint = f"finished cells are kept in {out / 'cells'}; rerun the same command to resume"
    with run_lock(out):         # a second study into the same folder is refused, not interleaved
        res = run_study(cfg, out, executor, workers, args.address, progress=not args.no_progress)
        t = res.timing
        print(f"study: {t['fp_references']} FP reference(s) in {t['fp_seconds']:.1f} s, {t['cells']} cell(s) in "
              f"{t['cell_seconds']:.1f} s (task seconds), {t['cells_stored_before']} stored before; wall "
              f"{t['wall_seconds']:.1f} s on {workers} {executor} worker(s)")
        _write(args.out, config_dict(cfg), res.tidy, res.costs, res.notes, timing=dict(t, workers=workers,
                                                                                     executor=executor))
    return 0


def _write(out: str, conf: dict, tidy, costs, notes, timing=None) -> None:
    from reports.io import atomic_write_csv, atomic_write_json, atomic_write_text
    from reports.manifest import build_manifest
    from .. import study_summary as ss
    from ..sampling import OUTLIER_SEED
    from ..study import BASELINES
    from ..study_stats import BOOTSTRAP_SEED
    summary = ss.summary_table(tidy, costs)
    margins, gap, features = ss.margins_table(tidy), ss.gap_closed(summary), ss.feature_table(summary)
    comparisons = ss.significance(tidy, conf.get("versus", BASELINES))
    header = (f"# Quality study\n\nCheckpoint `{conf['checkpoint']}` (sha256 {conf['checkpoint_sha256'][:16]}), "
              f"{len(conf['prompts'])} evaluation prompts, seeds {list(conf['seeds'])}, {conf['steps']} steps, "
              f"guidance {conf['guidance']}, back end {conf['backend']}. Outliers `on` = vdit.outliers stress mode "
              f"with seed {conf.get('outlier_seed', OUTLIER_SEED)} (FP reference: the same injected model in FP). "
              f"Reproduce: `{ss.rerun_command(conf, out)}`.")
    for name, table in (("study_tidy", tidy), ("study_costs", costs), ("summary", summary),
                        ("significance", comparisons), ("margins", margins), ("gap_closed", gap),
                        ("features", features)):
        atomic_write_csv(os.path.join(out, f"{name}.csv"), table)
    atomic_write_text(os.path.join(out, "summary.md"),
                      ss.markdown(summary, margins, gap, header, notes, features, comparisons))
    seeds = {"sampling": list(conf["seeds"]), "outliers": conf.get("outlier_seed", OUTLIER_SEED),
             "bootstrap": BOOTSTRAP_SEED}
    atomic_write_json(os.path.join(out, "manifest.json"),
                      build_manifest(conf, seeds=seeds, extra={"notes": notes, "timing": timing}))
    print(f"wrote {', '.join(OUTPUTS)} to {out}")
