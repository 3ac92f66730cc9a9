"""`sim run` output folder: tidy CSVs, a manifest, the FP-vs-quantized frame strip (PNG) and the PDF report.

The PDF is built only from the files in the folder, so `sim report DIR` rebuilds it without rerunning anything.
"""
from __future__ import annotations

import io
import json
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from .io import atomic_path, atomic_write_bytes, atomic_write_csv, atomic_write_json  # noqa: E402

FRAMES_PNG = "frames.png"


def write_run(out_dir, tables: dict, manifest: dict, frame_strips: dict, notes: list) -> dict:
    """tables: name -> DataFrame (written as name.csv); frame_strips: caption -> (T, H, W, 3) float frames of one
    video per row (FP first); notes: lines for the summary page.  Returns written paths."""
    out = Path(out_dir)
    paths = {name: atomic_write_csv(out / f"{name}.csv", df) for name, df in tables.items()}
    paths["manifest"] = atomic_write_json(out / "manifest.json", dict(manifest, notes=notes))
    if frame_strips:
        paths["frames"] = atomic_write_bytes(out / FRAMES_PNG, _strip_png(frame_strips))
    paths["pdf"] = build_pdf(out)
    return paths


def _strip_png(strips: dict) -> bytes:
    n = len(strips)
    t = max(v.shape[0] for v in strips.values())
    fig, axes = plt.subplots(n, t, figsize=(1.2 * t, 1.35 * n), squeeze=False)
    for r, (caption, video) in enumerate(strips.items()):
        for c in range(t):
            ax = axes[r][c]
            ax.imshow(np.clip(video[c], 0, 1), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(caption, fontsize=6, rotation=0, ha="right", va="center")
            if r == 0:
                ax.set_title(f"frame {c}", fontsize=6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _read(out: Path, name: str) -> pd.DataFrame:
    p = out / f"{name}.csv"
    if not p.exists() or p.stat().st_size == 0:
        return pd.DataFrame()
    try:
        return pd.read_csv(p)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def build_pdf(out_dir) -> Path:
    out = Path(out_dir)
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").exists() else {}
    t = {n: _read(out, n) for n in ("summary", "quality", "crosscheck", "energy_breakdown", "latency_per_op",
                                   "latency_per_block", "dialect_usage")}
    with atomic_path(out / "report.pdf") as tmp:
        with PdfPages(tmp) as pdf:
            _summary_page(pdf, manifest, t)
            for page in (_energy_page, _latency_page, _roofline_page, _dialect_page, _recipe_page):
                page(pdf, t, manifest)
            if (out / FRAMES_PNG).exists():
                _image_page(pdf, out / FRAMES_PNG, "FP vs quantized frames (same prompts and seeds)")
    return out / "report.pdf"


def _text_page(pdf, lines, size=7.5):
    fig = plt.figure(figsize=(8.27, 11.69))
    fig.text(0.05, 0.97, "\n".join(lines), va="top", family="monospace", fontsize=size)
    pdf.savefig(fig)
    plt.close(fig)


def _summary_page(pdf, manifest, t):
    cfg = manifest.get("config", {})
    lines = ["sim run report", "", f"recipe {cfg.get('recipe')} on {cfg.get('arch')}, model {cfg.get('model')}, "
             f"{cfg.get('prompts')} prompts x {cfg.get('steps')} steps, seed {cfg.get('seed')}",
             f"git {manifest.get('git_revision')}   created {manifest.get('created_utc')}", ""]
    s = t["summary"]
    if not s.empty:
        lines.append("latency / energy / area (accelerator model, per sampled video):")
        cols = [c for c in ("workload", "recipe", "latency_s", "energy_j", "area_mm2", "psnr_db", "ssim",
                            "act_bits_per_element") if c in s.columns]
        lines += s[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}").splitlines()
        lines.append("")
    c = t["crosscheck"]
    if not c.empty:
        lines.append("bit-level cross-check of back ends:")
        for _, r in c.iterrows():
            status = "BIT-IDENTICAL" if r["bit_identical"] else ("skipped" if r["scope"] == "skipped" else "MISMATCH")
            lines.append(f"  {r['backend']:>10} vs {r['reference']}: {status} "
                         f"({r['matching_layer_calls']}/{r['layer_calls']} layer calls; {r['scope']})")
            if isinstance(r["first_mismatch"], str) and r["first_mismatch"]:
                lines.append(f"      {r['first_mismatch'][:120]}")
        lines.append("")
    for n in manifest.get("notes", []):
        lines += textwrap.wrap(str(n), 110) + [""]
    _text_page(pdf, lines)


def _energy_page(pdf, t, _m):
    e = t["energy_breakdown"]
    if e.empty:
        return
    piv = e.pivot_table(index=["workload", "recipe"], columns="component", values="energy_j", aggfunc="sum")
    fig, axes = plt.subplots(1, piv.index.get_level_values(0).nunique(), figsize=(11, 5), squeeze=False)
    for ax, (w, sub) in zip(axes[0], piv.groupby(level=0)):
        sub.droplevel(0).plot.bar(stacked=True, ax=ax, legend=ax is axes[0][-1])
        ax.set_title(f"energy by component: {w}")
        ax.set_ylabel("J per video")
    if axes[0][-1].get_legend():
        axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _main_rows(df, manifest, workload=None):
    recipe = manifest.get("config", {}).get("recipe")
    sub = df[df["recipe"] == recipe] if "recipe" in df else df
    if workload is not None and "workload" in sub:
        ws = [w for w in sub["workload"].unique() if w != "tiny"] or list(sub["workload"].unique())
        sub = sub[sub["workload"] == ws[0]]
    return sub


def _latency_page(pdf, t, manifest):
    b, op = t["latency_per_block"], t["latency_per_op"]
    if b.empty or op.empty:
        return
    b, op = _main_rows(b, manifest, True), _main_rows(op, manifest, True)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(11, 8))
    blk = b.pivot_table(index="block", columns="kind", values="latency_s", aggfunc="sum").fillna(0)
    blk.plot.bar(stacked=True, ax=a1, width=0.9)
    a1.set_title(f"latency per transformer block ({op['workload'].iloc[0]}; -1 = embedders/final layer)")
    a1.set_ylabel("s per video")
    a1.tick_params(axis="x", labelsize=5)
    kinds = op.assign(opname=op["op"].str.replace(r"^(double|single)_blocks\.\d+\.", "", regex=True))
    kinds.groupby("opname")["latency_s"].sum().sort_values().plot.barh(ax=a2)
    a2.set_title("latency per op type (summed over blocks)")
    a2.set_xlabel("s per video")
    a2.tick_params(axis="y", labelsize=6)
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _roofline_page(pdf, t, manifest):
    op, s = t["latency_per_op"], t["summary"]
    if op.empty or s.empty:
        return
    op = _main_rows(op, manifest, True)
    op = op[(op["kind"] == "gemm") & (op["cycles"] > 0)]
    row = s[s["workload"] == op["workload"].iloc[0]].iloc[0]
    bytes_ = (op["dram_read_bytes"] + op["dram_write_bytes"]).clip(lower=1)
    intensity, perf = op["macs"] / bytes_, op["macs"] / op["cycles"]
    fig, ax = plt.subplots(figsize=(9, 6))
    ax.scatter(intensity, perf, s=10, c=(op["bottleneck"] == "compute").map({True: "tab:blue", False: "tab:red"}))
    xs = np.logspace(np.log10(max(intensity.min(), 1e-3)), np.log10(intensity.max() * 10), 100)
    ax.plot(xs, np.minimum(row["peak_macs_per_cycle_4bit"], xs * row["dram_bytes_per_cycle"]), "k--",
            label="roofline (4-bit MAC peak, DRAM bandwidth)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (MAC per DRAM byte)")
    ax.set_ylabel("achieved MAC per cycle")
    ax.set_title("roofline: GEMMs (blue: compute-bound, red: memory/LUT-bound)")
    ax.legend()
    pdf.savefig(fig)
    plt.close(fig)


def _dialect_page(pdf, t, manifest):
    d = t["dialect_usage"]
    if d.empty:
        return
    d = _main_rows(d, manifest)
    d = d[(d["operand"] == "act") & (~d["outliers"].astype(bool))]
    if d.empty:
        return
    piv = d.pivot_table(index="layer", columns="dialect", values="blocks", aggfunc="sum").fillna(0)
    share = piv.div(piv.sum(axis=1), axis=0)
    fig, ax = plt.subplots(figsize=(11, max(4, 0.16 * len(share))))
    im = ax.imshow(share.to_numpy(), aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(share)), share.index, fontsize=5)
    ax.set_xticks(range(share.shape[1]), share.columns, fontsize=6)
    ax.set_xlabel("dialect id")
    ax.set_title("activation dialect usage (share of blocks per layer)")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _recipe_page(pdf, t, _m):
    s = t["summary"]
    if s.empty or s["recipe"].nunique() < 1:
        return
    metrics = [c for c in ("psnr_db", "ssim", "latency_s", "energy_j") if c in s.columns]
    fig, axes = plt.subplots(1, len(metrics), figsize=(11, 4), squeeze=False)
    for ax, m in zip(axes[0], metrics):
        sub = s.dropna(subset=[m])
        sub = sub[sub["workload"] == sub["workload"].iloc[-1]] if m in ("latency_s", "energy_j") and len(sub) else sub
        sub = sub.drop_duplicates("recipe")
        ax.bar(sub["recipe"], sub[m])
        ax.set_title(m if m not in ("latency_s", "energy_j") or not len(sub) else f"{m} ({sub['workload'].iloc[0]})")
        ax.tick_params(axis="x", rotation=60, labelsize=6)
    fig.suptitle("recipe comparison")
    fig.tight_layout()
    pdf.savefig(fig)
    plt.close(fig)


def _image_page(pdf, path, title):
    img = plt.imread(path)
    fig, ax = plt.subplots(figsize=(11, 8.5))
    ax.imshow(img)
    ax.axis("off")
    ax.set_title(title)
    pdf.savefig(fig)
    plt.close(fig)
