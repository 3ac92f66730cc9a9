"""Sweep report: tidy CSVs (all points, Pareto set, best per objective) and a PDF (Pareto fronts, sensitivity)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from .io import atomic_path, atomic_write_csv  # noqa: E402


def write_sweep_report(points: pd.DataFrame, best: pd.DataFrame, objectives: dict, space_keys, constraints,
                       out_dir, title: str) -> dict:
    """Write points.csv, pareto.csv, best.csv and report.pdf into out_dir from an analysed points table
    (columns feasible, pareto, front.<x>.<y>; see sim.sweep.analysis); returns the paths."""
    out = Path(out_dir)
    paths = {
        "points": atomic_write_csv(out / "points.csv", points),
        "pareto": atomic_write_csv(out / "pareto.csv", points[points["pareto"]] if len(points) else points),
        "best": atomic_write_csv(out / "best.csv", best),
    }
    objs = [m for m in objectives if m in points.columns]
    with atomic_path(out / "report.pdf") as tmp:
        with PdfPages(tmp) as pdf:
            _summary_page(pdf, title, points, best, objectives, constraints)
            for col in [c for c in points.columns if c.startswith("front.")]:
                _front_page(pdf, points, col)
            for key in space_keys:
                if f"config.{key}" in points.columns and objs:
                    _sensitivity_page(pdf, points, f"config.{key}", objs)
    paths["pdf"] = out / "report.pdf"
    return paths


def _summary_page(pdf, title, done, best, objectives, constraints):
    fig = plt.figure(figsize=(8.27, 11.69))
    lines = [title, "", f"points evaluated: {len(done)}   feasible: {int(done['feasible'].sum()) if len(done) else 0}"
             f"   Pareto-optimal: {int(done.get('pareto', pd.Series(dtype=bool)).sum())}",
             "objectives: " + ", ".join(f"{k} ({v})" for k, v in objectives.items()),
             "constraints: " + (", ".join(f"{c.metric} {c.op} {c.value:g}" for c in constraints) or "none"), ""]
    for _, r in best.iterrows():
        lines.append(f"best {r['best_for']}: " + ", ".join(f"{m}={r[m]:.4g}" for m in objectives if m in r))
        cfg = {k[7:]: r[k] for k in best.columns if k.startswith("config.") and pd.notna(r[k])}
        lines.append("    " + ", ".join(f"{k}={v}" for k, v in cfg.items())[:110])
    fig.text(0.06, 0.95, "\n".join(lines), va="top", family="monospace", fontsize=8)
    pdf.savefig(fig)
    plt.close(fig)


def _front_page(pdf, points, col):
    _, x, y = col.split(".", 2)
    fig, ax = plt.subplots(figsize=(8, 6))
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
    pdf.savefig(fig)
    plt.close(fig)


def _sensitivity_page(pdf, done, col, objs):
    fig, axes = plt.subplots(1, max(len(objs), 1), figsize=(11, 4), squeeze=False)
    for ax, m in zip(axes[0], objs):
        g = done.groupby(col)[m].agg(["mean", "min", "max"])
        xs = np.arange(len(g))
        ax.errorbar(xs, g["mean"], yerr=[g["mean"] - g["min"], g["max"] - g["mean"]], fmt="o-", capsize=3)
        ax.set_xticks(xs, [str(v) for v in g.index], rotation=45, fontsize=7)
        ax.set_xlabel(col[7:])
        ax.set_ylabel(m)
    fig.suptitle(f"sensitivity to {col[7:]} (mean, min-max over the other parameters)")
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)
