"""`sim run` output folder: tidy CSVs, a manifest, the FP-vs-quantized frame strip (PNG) and the PDF report.

The PDF is built only from the files in the folder, so `sim report DIR` rebuilds it without rerunning anything.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from vdit.naming import within_block  # noqa: E402

from .io import (atomic_path, atomic_write_bytes, atomic_write_csv, atomic_write_json, read_optional_csv,  # noqa: E402
                 staged_folder)
from .pages import A4_PORTRAIT, mono_chars_per_line, plot_page, save_page, text_page  # noqa: E402

FRAMES_PNG = "frames.png"
TOP_OP_TYPES = 15        # op types shown by name on the latency page; the rest are summed as "other"
SUMMARY_FONT_PT = 7.5


def write_run(out_dir, tables: dict, manifest: dict, frame_strips: dict, notes: list,
              json_files: dict | None = None) -> dict:
    """tables: name -> DataFrame (written as name.csv); frame_strips: caption -> (T, H, W, 3) float frames of one
    video per row (FP first); notes: lines for the summary page; json_files: name -> object (written as
    name.json, e.g. codesign_meta).  The folder is replaced whole when everything is written (reports.io
    staged_folder: a failure leaves the earlier run as it was).  Returns the written paths."""
    with staged_folder(out_dir) as tmp:
        paths = {name: atomic_write_csv(tmp / f"{name}.csv", df) for name, df in tables.items()}
        paths.update({name: atomic_write_json(tmp / f"{name}.json", obj) for name, obj in (json_files or {}).items()})
        paths["manifest"] = atomic_write_json(tmp / "manifest.json", dict(manifest, notes=notes))
        if frame_strips:
            paths["frames"] = atomic_write_bytes(tmp / FRAMES_PNG, _strip_png(frame_strips))
        paths["pdf"] = build_pdf(tmp)
    return {name: Path(out_dir) / p.name for name, p in paths.items()}


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
    return read_optional_csv(out / f"{name}.csv")


def build_pdf(out_dir) -> Path:
    out = Path(out_dir)
    manifest = json.loads((out / "manifest.json").read_text()) if (out / "manifest.json").exists() else {}
    t = {n: _read(out, n) for n in ("summary", "quality", "crosscheck", "crosscheck_coverage", "energy_breakdown",
                                   "latency_per_op", "latency_per_block", "dialect_usage", "full_path_quality")}
    with atomic_path(out / "report.pdf") as tmp:
        with PdfPages(tmp) as pdf:
            _summary_page(pdf, manifest, t)
            if (out / "codesign.csv").exists():
                from .codesign_report import codesign_pages
                codesign_pages(pdf, out)
            for page in (_energy_page, _attention_page, _latency_page, _roofline_page, _dialect_page,
                         _recipe_page):
                page(pdf, t, manifest)
            if (out / FRAMES_PNG).exists():
                _image_page(pdf, out / FRAMES_PNG, "FP vs quantized frames (same prompts and seeds)")
    return out / "report.pdf"


def _summary_page(pdf, manifest, t):
    cfg = manifest.get("config", {})
    lines = [f"recipe {cfg.get('recipe')} on {cfg.get('arch')}, model {cfg.get('model')}, "
             f"{cfg.get('prompts')} prompts x {cfg.get('steps')} steps, seed {cfg.get('seed')}",
             f"git {manifest.get('git_revision')}   created {manifest.get('created_utc')}", ""]
    s = t["summary"]
    if not s.empty:
        lines.append("latency / energy / area (accelerator model, per sampled video):")
        cols = [c for c in ("workload", "recipe", "latency_s", "energy_j", "area_mm2", "psnr_db", "ssim",
                            "act_bits_per_element", "attention_share_of_latency", "full_path_latency_s",
                            "full_path_attention_share_of_latency") if c in s.columns]
        # a table wider than the page continues below in column blocks instead of running off the edge
        width = mono_chars_per_line(A4_PORTRAIT[0], SUMMARY_FONT_PT)
        lines += s[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}", line_width=width).splitlines()
        lines.append("")
    lines += _crosscheck_lines(t["crosscheck"]) + _coverage_lines(t["crosscheck_coverage"])
    for n in manifest.get("notes", []):
        lines += [str(n), ""]
    text_page(pdf, lines, "summary", size=SUMMARY_FONT_PT, title="sim run report")


def _crosscheck_lines(c) -> list:
    if c.empty:
        return []
    lines = ["bit-level cross-check of back ends:"]
    for _, r in c.iterrows():
        status = _status(r)
        lines.append(f"  {r['backend']:>10} vs {r['reference']}: {status} "
                     f"({r['matching_layer_calls']}/{r['layer_calls']} layer calls; {r['scope']})")
        if isinstance(r["first_mismatch"], str) and r["first_mismatch"]:
            lines.append(f"      {r['first_mismatch']}")
        if isinstance(r.get("runs_reference_for"), str) and r["runs_reference_for"]:
            lines.append(f"      runs the NumPy reference for: {r['runs_reference_for']}")
    return lines + [""]


def _status(r) -> str:
    if r["bit_identical"]:
        return "BIT-IDENTICAL"
    if r["scope"] == "skipped":
        return "skipped"
    status = r.get("status")      # absent in folders written before the column existed
    return status.upper() if isinstance(status, str) else "MISMATCH"


def _coverage_lines(cov) -> list:
    """Back end x call kind: identical/checked of the calls of that kind in the slice (and the steps checked)."""
    if cov.empty:
        return []
    def cell(r):
        if str(r["note"]).startswith("skipped"):
            return "skipped"
        of = f" of {r['calls_in_slice']}" if r["calls_in_slice"] else " vectors"   # synthetic stages: no calls
        steps = f" (steps {r['steps']})" if isinstance(r["steps"], str) and r["steps"] else ""
        return f"{r['identical']}/{r['checked']}{of}{steps}"
    table = cov.assign(cell=cov.apply(cell, axis=1)).pivot_table(index="backend", columns="kind", values="cell",
                                                                 aggfunc="first", sort=False).fillna("-")
    table.index.name, table.columns.name = "back end", None
    lines = ["coverage by call kind (identical/checked of the slice's calls of that kind; salient_from_attention: "
             "decomposed calls whose salient rows came from the previous step's attention; accumulation_order and "
             "rounding_ties: output elements of the test-vector stages):"]
    lines += ["  " + ln for ln in table.to_string().splitlines()]
    skipped = cov["note"].map(lambda v: isinstance(v, str) and v.startswith("skipped"))
    for _, r in cov[skipped].drop_duplicates("backend").iterrows():
        lines.append(f"  {r['backend']}: {r['note']} (nothing counted as checked)")
    return lines + [""]


def _energy_page(pdf, t, _m):
    e = t["energy_breakdown"]
    if e.empty:
        return
    piv = e.pivot_table(index=["workload", "recipe"], columns="component", values="energy_j", aggfunc="sum")
    fig, axes = plot_page(1, piv.index.get_level_values(0).nunique())
    for ax, (w, sub) in zip(axes[0], piv.groupby(level=0)):
        sub.droplevel(0).plot.bar(stacked=True, ax=ax, legend=False, rot=30)
        ax.set_title(f"energy by component: {w}")
        ax.set_ylabel("J per video")
        ax.tick_params(axis="x", labelsize=7)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper", fontsize=7, title="component")
    save_page(pdf, fig, "energy by component")


def _attention_page(pdf, t, _m):
    from .attention_page import attention_page
    attention_page(pdf, t["summary"], t["full_path_quality"])


def _main_rows(df, manifest, workload=None):
    recipe = manifest.get("config", {}).get("recipe")
    sub = df[df["recipe"] == recipe] if "recipe" in df else df
    if workload is not None and "workload" in sub:
        ws = [w for w in sub["workload"].unique() if w != "tiny"] or list(sub["workload"].unique())
        sub = sub[sub["workload"] == ws[0]]
    return sub


def op_type_latency(op: pd.DataFrame, top: int = TOP_OP_TYPES) -> pd.Series:
    """Latency (s per video) per op type, largest first: the block index is dropped (every block's q_proj is one
    type) and a layer's quantize sub-steps count as its quantize step; beyond `top` types the rest are one
    "other (N op types)" entry, so the chart stays readable for any model depth."""
    name = (op["op"].map(within_block).str.replace(r"\.quantize\..*$", ".quantize", regex=True))
    per_type = op.groupby(name)["latency_s"].sum().sort_values(ascending=False)
    if len(per_type) <= top + 1:
        return per_type
    rest = per_type.iloc[top:]
    return pd.concat([per_type.iloc[:top], pd.Series({f"other ({len(rest)} op types)": rest.sum()})])


def _latency_page(pdf, t, manifest):
    b, op = t["latency_per_block"], t["latency_per_op"]
    if b.empty or op.empty:
        return
    b, op = _main_rows(b, manifest, True), _main_rows(op, manifest, True)
    fig, axes = plot_page(2, 1)
    a1, a2 = axes[0][0], axes[1][0]
    blk = b.pivot_table(index="block", columns="kind", values="latency_s", aggfunc="sum").fillna(0)
    blk.plot.bar(stacked=True, ax=a1, width=0.9, rot=0)
    a1.set_title(f"latency per transformer block ({op['workload'].iloc[0]}; -1 = embedders/final layer)")
    a1.set_ylabel("s per video")
    step = max(1, len(blk) // 30)   # at most ~30 block labels fit across the page at 6 pt
    a1.set_xticks(range(0, len(blk), step), [str(v) for v in blk.index[::step]], fontsize=6)
    per_type = op_type_latency(op)
    per_type.iloc[::-1].plot.barh(ax=a2)
    a2.set_title(f"latency per op type (summed over blocks; top {min(TOP_OP_TYPES, len(per_type))})")
    a2.set_xlabel("s per video")
    a2.set_ylabel("")
    a2.tick_params(axis="y", labelsize=7)
    save_page(pdf, fig, "latency")


def _roofline_page(pdf, t, manifest):
    op, s = t["latency_per_op"], t["summary"]
    if op.empty or s.empty:
        return
    op = _main_rows(op, manifest, True)
    op = op[(op["kind"] == "gemm") & (op["cycles"] > 0)]
    if op.empty:
        return
    row = s[s["workload"] == op["workload"].iloc[0]].iloc[0]
    bytes_ = (op["dram_read_bytes"] + op["dram_write_bytes"]).clip(lower=1)
    intensity, perf = op["macs"] / bytes_, op["macs"] / op["cycles"]
    fig, axes = plot_page()
    ax = axes[0][0]
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
    save_page(pdf, fig, "roofline")


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
    fig, axes = plot_page()
    ax = axes[0][0]
    im = ax.imshow(share.to_numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
    step = max(1, len(share) // 70)   # about 70 layer names fit down an A4 landscape page at 5 pt
    ax.set_yticks(range(0, len(share), step), share.index[::step], fontsize=5)
    ax.set_xticks(range(share.shape[1]), share.columns, fontsize=6)
    ax.set_xlabel("dialect id")
    ax.set_title("activation dialect usage (share of blocks per layer"
                 + (f"; every {step}th layer named)" if step > 1 else ")"))
    fig.colorbar(im, ax=ax, label="share of the layer's blocks", pad=0.02)
    save_page(pdf, fig, "dialect usage")


def _recipe_page(pdf, t, _m):
    s = t["summary"]
    if s.empty or s["recipe"].nunique() < 1:
        return
    metrics = [c for c in ("psnr_db", "ssim", "latency_s", "energy_j") if c in s.columns]
    fig, axes = plot_page(2, 2)
    for ax, m in zip(axes.flat, metrics):
        sub = s.dropna(subset=[m])
        per_workload = m in ("latency_s", "energy_j") and len(sub)
        sub = sub[sub["workload"] == sub["workload"].iloc[-1]] if per_workload else sub
        sub = sub.drop_duplicates("recipe")
        ax.bar(sub["recipe"], sub[m])
        ax.set_title(f"{m}\n({sub['workload'].iloc[0]})" if per_workload else m, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        for lbl in ax.get_xticklabels():
            lbl.set(rotation=30, ha="right", rotation_mode="anchor")
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle("recipe comparison")
    save_page(pdf, fig, "recipe comparison")


def _image_page(pdf, path, title):
    img = plt.imread(path)
    fig, axes = plot_page()
    ax = axes[0][0]
    ax.imshow(img)
    ax.axis("off")
    ax.set_title(title)
    save_page(pdf, fig, "frames")
