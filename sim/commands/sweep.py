"""`sim sweep SWEEP.yaml`: a design-space sweep on Ray (local instance by default, --address for a cluster),
resumable from its results store, with Pareto reports (CSV + PDF)."""
from __future__ import annotations

from .. import defaults, preflight
from ..cli import CliError


def register(sub):
    p = sub.add_parser("sweep", help="run a design-space sweep (resumable) and write Pareto reports")
    p.add_argument("spec", help="sweep YAML (see configs/sweeps/)")
    p.add_argument("--out", help=f"output folder (default {defaults.out_dir('sweep', '<name>')})")
    p.add_argument("--executor", default="ray", choices=("ray", "local", "inline"),
                   help="ray (default; local Ray instance unless --address), local process pool, or inline")
    p.add_argument("--workers", type=int, default=None, help="parallel workers (default: all cores)")
    p.add_argument("--address", default=None, help="address of an existing Ray cluster (e.g. ray://host:10001)")
    p.add_argument("--chunk", type=int, default=16, help="points per task")
    p.add_argument("--report-only", action="store_true", help="rebuild the report from the results store")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from reports.sweep_report import write_sweep_report
    from sim.sweep import ResultStore, load_sweep, run_sweep
    from sim.sweep.analysis import analyse

    spec = load_sweep(preflight.input_file(args.spec, "sweep file"))   # space values checked as the fields they set
    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be at least 1, got {args.workers}")
    if args.chunk < 1:
        raise CliError(f"--chunk must be at least 1, got {args.chunk}")
    out = preflight.out_dir(args.out or defaults.out_dir("sweep", spec.name))
    # Ctrl-C (sim.cli prints this): every finished point is already committed to the store
    args.resume_hint = (f"finished points are kept in {out / 'results.sqlite'}; rerun `sim sweep {args.spec} "
                        f"--out {out}` to resume")
    if not args.report_only:
        res = run_sweep(spec, out, executor=args.executor, workers=args.workers, address=args.address,
                        chunk=args.chunk, progress=not args.no_progress)
        print(f"sweep {spec.name}: {res.n_points} points, {res.n_skipped} already done, {res.n_evaluated} evaluated, "
              f"{res.n_failed} failed in {res.seconds:.1f} s ({res.points_per_second:.1f} points/s, "
              f"{res.workers} workers, {res.executor})")
    elif not (out / "results.sqlite").exists():
        raise CliError(f"no results store at {out / 'results.sqlite'}; run the sweep first")
    with ResultStore(out / "results.sqlite") as store:
        frame = store.frame()
    if not len(frame):
        raise CliError("the results store is empty")
    points, best = analyse(frame, spec.objectives, spec.constraints)
    paths = write_sweep_report(points, best, spec.objectives, list(spec.space), spec.constraints, out,
                               f"sweep {spec.name} ({spec.source})")
    print(f"report: {paths['pdf']}  tables: {paths['points']}, {paths['pareto']}, {paths['best']}")
    if len(best):
        cols = ["best_for"] + [m for m in spec.objectives if m in best.columns]
        print(best[cols].to_string(index=False))
    return 0
