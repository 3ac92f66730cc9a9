"""Run-report page: attention's share of latency and energy per recipe, FP16 attention next to quantized
attention (the run's `--full-path` what-if, or the recipe's own quantized attention), with the quality cost of
quantizing it from the committed full-path study.

Reads only the run folder's summary.csv (columns attention_share_of_*, full_path, full_path_*) and
full_path_quality.csv (sim/pipeline/tables.py), so `sim report DIR` redraws it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .pages import plot_page, save_page

SERIES = ("FP16 attention", "quantized attention")
COLOURS = ("tab:gray", "tab:blue")


def attention_rows(summary: pd.DataFrame) -> pd.DataFrame:
    """Per recipe of the full-size workload (the first non-tiny one): latency, energy and attention shares with
    FP16 attention and with quantized attention (NaN where the run has no such estimate)."""
    if summary.empty or "attention_share_of_latency" not in summary:
        return pd.DataFrame()
    big = [w for w in summary["workload"].unique() if w != "tiny"]
    if not big:
        return pd.DataFrame()
    s = summary[summary["workload"] == big[0]].drop_duplicates("recipe")
    quantized = s["full_path"].astype(str).str.lower() == "true" if "full_path" in s else pd.Series(False, s.index)
    fp = lambda c: s[f"full_path_{c}"] if f"full_path_{c}" in s else pd.Series(np.nan, s.index)
    out = pd.DataFrame({"workload": s["workload"], "recipe": s["recipe"], "arch": s.get("arch", "")})
    for col in ("latency_s", "energy_j", "attention_share_of_latency", "attention_share_of_energy"):
        out[f"fp16_{col}"] = s[col].where(~quantized)
        out[f"quant_{col}"] = s[col].where(quantized, fp(col))
    return out.reset_index(drop=True)


def attention_page(pdf, summary: pd.DataFrame, quality: pd.DataFrame):
    rows = attention_rows(summary)
    if rows.empty or rows.filter(like="quant_attention").notna().to_numpy().sum() == 0:
        return
    fig, axes = plot_page(2, 2, height_ratios=(3, 2))
    for ax, what in zip(axes[0], ("latency", "energy")):
        _share_bars(ax, rows, what)
    table_ax = fig.add_subplot(axes[1][0].get_gridspec()[1, :])
    for ax in axes[1]:
        ax.remove()
    _table(table_ax, rows, quality)
    fig.suptitle(f"attention with FP16 vs quantized attention matmuls: {rows['workload'].iloc[0]} on "
                 f"{rows['arch'].iloc[0]}", fontsize=11)
    save_page(pdf, fig, "attention share")


def _share_bars(ax, rows: pd.DataFrame, what: str):
    x = np.arange(len(rows))
    width = 0.38
    for i, (name, colour) in enumerate(zip(SERIES, COLOURS)):
        key = ("fp16_" if i == 0 else "quant_") + f"attention_share_of_{what}"
        vals = 100 * rows[key].to_numpy(dtype=float)
        bars = ax.bar(x + (i - 0.5) * width, np.nan_to_num(vals), width, label=name, color=colour)
        ax.bar_label(bars, labels=["" if np.isnan(v) else f"{v:.0f}" for v in vals], fontsize=6, padding=1)
    ax.set_xticks(x, rows["recipe"], fontsize=7, rotation=25, ha="right", rotation_mode="anchor")
    ax.set_ylabel(f"attention, % of {what}")
    ax.set_ylim(0, 130)                  # room above 100 % for the legend, clear of every bar and its label
    ax.set_yticks(range(0, 101, 20))
    ax.set_title(f"attention's share of {what}", fontsize=9)
    ax.legend(fontsize=7, loc="upper center", ncols=2)


def _table(ax, rows: pd.DataFrame, quality: pd.DataFrame):
    """Latency and energy (FP16 -> quantized attention) and the quality cost where the study has it."""
    q = quality.set_index("run_recipe") if not quality.empty and "run_recipe" in quality else pd.DataFrame()
    arrow = lambda a, b, f: f"{_fmt(a, f)} -> {_fmt(b, f)}"
    cells = []
    for r in rows.itertuples():
        cost = q.loc[r.recipe] if r.recipe in q.index else None
        cells.append([r.recipe, arrow(r.fp16_latency_s, r.quant_latency_s, ",.0f"),
                      arrow(r.fp16_energy_j, r.quant_energy_j, ",.0f"),
                      "-" if cost is None else f"{cost.quantized_recipe}: {cost.delta_psnr_db:+.2f} dB, task "
                                               f"{cost.task_all:.2f} -> {cost.quantized_task_all:.2f}"])
    cols = ["recipe", "latency s (FP16 -> quantized attn)", "energy J (FP16 -> quantized attn)",
            "quality cost of quantized attention (PSNR change, task accuracy)"]
    ax.axis("off")
    table = ax.table(cellText=cells, colLabels=cols, loc="upper center", cellLoc="left", colLoc="left",
                     colWidths=(0.2, 0.2, 0.2, 0.4))
    table.auto_set_font_size(False)
    table.set_fontsize(8)
    table.scale(1, 1.3)
    src = (quality["source"].iloc[0] if not quality.empty else "no full-path study in this checkout")
    ax.set_title(f"latency / energy: accelerator model, per video ('-' -> x: the recipe quantizes attention "
                 f"itself).\nQuality cost: {src}, the quantized recipe minus the recipe it extends (tiny model, "
                 "outliers off, mean over its prompts and seeds; '-': not in the study).", fontsize=7, loc="left")


def _fmt(v, f) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, f)
