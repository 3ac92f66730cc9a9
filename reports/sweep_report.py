"""Sweep report: tidy CSVs (all points, Pareto set, best per objective) and a PDF (Pareto fronts, sensitivity)."""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from .io import run_lock, staged_files  # noqa: E402
from .pages import plot_page, save_page, text_page  # noqa: E402

SENSITIVITY_COLUMNS = 3   # objectives side by side on one landscape page; more continue on another row


def write_sweep_report(points: pd.DataFrame, best: pd.DataFrame, objectives: dict, space_keys, constraints,
                       out_dir, title: str) -> dict:
    """Write points.csv, pareto.csv, best.csv and report.pdf into out_dir from an analysed points table
    (columns feasible, pareto, front.<x>.<y>; see sim.sweep.analysis); returns the paths.  The folder (which holds
    the sweep's results store, so it is not swapped whole) is locked while the report is written."""
    with run_lock(out_dir):
        return _write_report(points, best, objectives, space_keys, constraints, Path(out_dir), title)


def _write_report(points, best, objectives, space_keys, constraints, out: Path, title: str) -> dict:
    tables = {"points": points, "pareto": points[points["pareto"]] if len(points) else points, "best": best}
    objs = [m for m in objectives if m in points.columns]
    with staged_files(out) as stage:
        for name, frame in tables.items():
            stage(f"{name}.csv").write_text(frame.to_csv(index=False, lineterminator="\n"), encoding="utf-8")
        with PdfPages(stage("report.pdf")) as pdf:
            _summary_page(pdf, title, points, best, objectives, constraints)
            for col in [c for c in points.columns if c.startswith("front.")]:
                _front_page(pdf, points, col)
            for key in space_keys:
                if f"config.{key}" in points.columns and objs:
                    _sensitivity_page(pdf, points, f"config.{key}", objs)
    return {**{name: out / f"{name}.csv" for name in tables}, "pdf": out / "report.pdf"}


def _missing(value) -> bool:
    """A config cell that is absent for this point (NaN); lists and mappings (e.g. config.quality.columns) are
    values, not missing."""
    return pd.api.types.is_scalar(value) and pd.isna(value)


def _summary_page(pdf, title, done, best, objectives, constraints):
    lines = [f"points evaluated: {len(done)}   feasible: {int(done['feasible'].sum()) if len(done) else 0}"
             f"   Pareto-optimal: {int(done.get('pareto', pd.Series(dtype=bool)).sum())}",
             "objectives: " + ", ".join(f"{k} ({v})" for k, v in objectives.items()),
             "constraints: " + (", ".join(f"{c.metric} {c.op} {c.value:g}" for c in constraints) or "none"), ""]
    for _, r in best.iterrows():
        lines.append(f"best {r['best_for']}: " + ", ".join(f"{m}={r[m]:.4g}" for m in objectives if m in r))
        cfg = {k[7:]: r[k] for k in best.columns if k.startswith("config.") and not _missing(r[k])}
        lines.append("    " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    text_page(pdf, lines, "sweep summary", size=8, title=title)


def _front_page(pdf, points, col):
    _, x, y = col.split(".", 2)
    fig, axes = plot_page()
    ax = axes[0][0]
    fe = points[points["feasible"]]
    if (~points["feasible"]).any():
        ax.scatter(points[x], points[y], s=8, c="0.8", label="infeasible")
    ax.scatter(fe[x], fe[y], s=10, c="tab:blue", label="feasible")
    front = points[points[col]].sort_values(x)
    ax.plot(front[x], front[y], "o-", c="tab:red", ms=4, label=f"Pareto front ({len(front)})")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(f"{y} vs {x}")
    ax.legend()
    save_page(pdf, fig, f"front {y} vs {x}")


def _sensitivity_page(pdf, done, col, objs):
    ncols = min(len(objs), SENSITIVITY_COLUMNS)
    fig, axes = plot_page(math.ceil(len(objs) / ncols), ncols)
    for ax, m in zip(axes.flat, objs):
        g = done.groupby(col)[m].agg(["mean", "min", "max"])
        xs = np.arange(len(g))
        # the spread of the metric over the other swept keys; clipped at 0 because a constant group's mean can
        # round a hair past its min or max
        spread = [(g["mean"] - g["min"]).clip(lower=0), (g["max"] - g["mean"]).clip(lower=0)]
        ax.errorbar(xs, g["mean"], yerr=spread, fmt="o-", capsize=3)
        ax.set_xticks(xs, [str(v) for v in g.index], fontsize=7)
        ax.set_xlim(-0.5, len(g) - 0.5)   # keeps the end points and their error bars off the frame
        for lbl in ax.get_xticklabels():
            lbl.set(rotation=30, ha="right", rotation_mode="anchor")
        ax.set_xlabel(col[7:])
        ax.set_ylabel(m)
    for ax in list(axes.flat)[len(objs):]:
        ax.axis("off")
    fig.suptitle(f"sensitivity to {col[7:]} (mean, min-max over the other parameters)")
    save_page(pdf, fig, f"sensitivity {col[7:]}")
