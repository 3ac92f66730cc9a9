"""Co-design report: pages that compare recipes on their own accelerator designs, drawn from the CSVs `sim compare`
writes into an output folder (computes nothing new; every number comes from those files).

Inputs (columns as written by `sim compare`):
  codesign.csv         one row per recipe: design, PE array, area, latency, energy, quality, verdict, Pareto flags,
                       and per-component columns area.<component>_mm2 / energy.<component>_j
  codesign_dram.csv    recipe, dram_pj_per_bit, energy_j: energy per video at each DRAM energy of a sensitivity sweep
  codesign_anchor.csv  name, latency_s, energy_j, power_w, source: reference points (e.g. a GPU) for context
  codesign_meta.json   workload, base_design, normalize, node_nm, energy_table, dram_pj_per_bit
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_pdf import PdfPages  # noqa: E402

from .io import atomic_path, read_optional_csv  # noqa: E402
from .pages import A4_LANDSCAPE, mono_chars_per_line, place_labels, plot_page, save_page, text_page  # noqa: E402

CODESIGN_CSV, DRAM_CSV, ANCHOR_CSV, META_JSON = ("codesign.csv", "codesign_dram.csv", "codesign_anchor.csv",
                                                 "codesign_meta.json")
CODESIGN_PDF = "codesign.pdf"
NUMERIC = ("pe_rows", "pe_cols", "macs_per_pe_cycle", "peak_macs_per_cycle", "area_mm2", "latency_s", "energy_j",
           "energy_per_mac_pj", "avg_power_w", "attention_share_of_latency", "attention_share_of_energy", "psnr_db",
           "task_all")
REQUIRED = ("recipe", "design", "normalize", *NUMERIC, "quality_source", "verdict", "on_front_energy",
            "on_front_area")
NORMALIZE = ("area", "throughput")
TABLE_FONT_PT = 7.5
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


class CodesignInputError(ValueError):
    """A co-design input file is missing a column or holds a value that does not fit it (message names both)."""


def build_codesign_pdf(out_dir) -> Path:
    """Write `codesign.pdf` (only the co-design pages) into `out_dir`, atomically; returns its path."""
    out = Path(out_dir)
    with atomic_path(out / CODESIGN_PDF) as tmp:
        with PdfPages(tmp) as pdf:
            codesign_pages(pdf, out)
    return out / CODESIGN_PDF


def codesign_pages(pdf, out_dir) -> None:
    """Append the co-design pages (comparison table, Pareto plots, area/energy by component, DRAM sensitivity)
    to an open PdfPages, from the files of `out_dir`."""
    out = Path(out_dir)
    rows, meta = read_codesign(out), _read_meta(out)
    _table_page(pdf, rows, read_optional_csv(out / ANCHOR_CSV), meta)
    _pareto_page(pdf, rows, meta)
    _component_page(pdf, rows, meta)
    _dram_page(pdf, read_optional_csv(out / DRAM_CSV), out / DRAM_CSV, meta)


def read_codesign(out: Path) -> pd.DataFrame:
    """codesign.csv, checked against its contract: every column present, numbers numeric, flags boolean."""
    path = out / CODESIGN_CSV
    rows = pd.read_csv(path, keep_default_na=True)
    for col in REQUIRED:
        if col not in rows.columns:
            raise CodesignInputError(f"{path}: missing column '{col}'")
    for col in NUMERIC + tuple(c for c in rows.columns if c.startswith(("area.", "energy."))):
        rows[col] = _numeric(rows[col], path, col)
    for col in ("on_front_energy", "on_front_area"):
        rows[col] = _flags(rows[col], path, col)
    for col in ("attention_share_of_latency", "attention_share_of_energy"):
        if ((rows[col] < 0) | (rows[col] > 1)).any():
            raise CodesignInputError(f"{path}: column '{col}' is a share and must lie in [0, 1]")
    bad = sorted(set(rows["normalize"]) - set(NORMALIZE))
    if bad:
        raise CodesignInputError(f"{path}: column 'normalize' has {bad}; expected one of {list(NORMALIZE)}")
    for col in ("quality_source", "verdict"):
        rows[col] = rows[col].astype(object).where(rows[col].notna(), "").astype(str)
    return rows


def _numeric(col: pd.Series, path, name) -> pd.Series:
    values = pd.to_numeric(col, errors="coerce")
    bad = col[values.isna() & col.notna() & (col.astype(str).str.strip() != "")]
    if len(bad):
        raise CodesignInputError(f"{path}: column '{name}' row {bad.index[0] + 2} is not a number: {bad.iloc[0]!r}")
    return values.astype(float)


def _flags(col: pd.Series, path, name) -> pd.Series:
    words = col.astype(str).str.strip().str.lower()
    known = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}
    bad = words[~words.isin(list(known))]
    if len(bad):
        raise CodesignInputError(f"{path}: column '{name}' row {bad.index[0] + 2} is not a boolean: {bad.iloc[0]!r}")
    return words.map(known).astype(bool)


def _read_meta(out: Path) -> dict:
    path = out / META_JSON
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CodesignInputError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def _fmt(v, spec=".4g") -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def _comparison_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The table as printed: short headers with units, one row per recipe."""
    front = [", ".join(n for n, f in (("energy", e), ("area", a)) if f) or "-"
             for e, a in zip(rows["on_front_energy"], rows["on_front_area"])]
    return pd.DataFrame({
        "recipe": rows["recipe"], "design": rows["design"],
        "PE array": [f"{_fmt(r, '.0f')}x{_fmt(c, '.0f')}" for r, c in zip(rows["pe_rows"], rows["pe_cols"])],
        "MAC/PE": rows["macs_per_pe_cycle"].map(_fmt), "peak MAC": rows["peak_macs_per_cycle"].map(_fmt),
        "area mm2": rows["area_mm2"].map(_fmt), "latency s": rows["latency_s"].map(_fmt),
        "energy J": rows["energy_j"].map(_fmt), "pJ/MAC": rows["energy_per_mac_pj"].map(_fmt),
        "power W": rows["avg_power_w"].map(_fmt),
        "attn lat": rows["attention_share_of_latency"].map(lambda v: _fmt(v, ".1%")),
        "attn E": rows["attention_share_of_energy"].map(lambda v: _fmt(v, ".1%")),
        "PSNR dB": rows["psnr_db"].map(lambda v: _fmt(v, ".2f")),
        "task": rows["task_all"].map(lambda v: _fmt(v, ".3g")),
        "front": front})


def _meta_lines(meta: dict) -> list:
    if not meta:
        return [f"({META_JSON} not found: workload and design settings unknown)"]
    return [f"workload {meta.get('workload')}, base design {meta.get('base_design')}, designs normalized to equal "
            f"{meta.get('normalize')}, {meta.get('node_nm')} nm, energy table {meta.get('energy_table')}, "
            f"DRAM {meta.get('dram_pj_per_bit')} pJ/bit"]


def _table_page(pdf, rows, anchors, meta):
    lines = _meta_lines(meta) + ["", "per video, each recipe on its own design (MAC/PE, peak MAC: per cycle; "
                                     "attn: share of latency / energy spent in attention; front: Pareto-optimal in "
                                     "quality vs energy / area):"]
    # a table wider than the page continues in column blocks below, each led by the recipe names
    table = _comparison_frame(rows).set_index("recipe").rename_axis(None)
    lines += table.to_string(line_width=mono_chars_per_line(A4_LANDSCAPE[0], TABLE_FONT_PT)).splitlines()
    lines += ["", "verdicts:"] + [f"  - {v}" for v in rows["verdict"] if v] + [""]
    if len(anchors):
        lines.append("reference points for context (measured or published elsewhere, not from this model):")
        for _, a in anchors.iterrows():
            lines.append(f"  {a.get('name')}: latency {_fmt(a.get('latency_s'))} s, "
                         f"energy {_fmt(a.get('energy_j'))} J, power {_fmt(a.get('power_w'))} W  "
                         f"(source: {a.get('source')})")
        lines.append("")
    sources = sorted({s for s in rows["quality_source"] if s})
    lines += ["quality (PSNR, task accuracy) from: " + ", ".join(sources) if sources else
              "quality: no study file given (PSNR and task accuracy left empty)"]
    text_page(pdf, lines, "co-design comparison", size=TABLE_FONT_PT, size_in=A4_LANDSCAPE,
              title="co-design: recipes on their own accelerator designs")


def _pareto_page(pdf, rows, meta):
    have = rows.dropna(subset=["psnr_db"])
    if have.empty:
        text_page(pdf, ["No quality numbers: psnr_db is empty for every recipe in codesign.csv, so there is no",
                        "quality-vs-cost Pareto plot. The quality numbers come from a quality study (`sim study`); "
                        "give its results to `sim compare` to fill them in."],
                  "co-design Pareto", size=10, size_in=A4_LANDSCAPE, title="co-design: quality vs cost")
        return
    fig, axes = plot_page(1, 2)
    for ax, (x, flag, xlabel) in zip(axes[0], (("energy_j", "on_front_energy", "energy per video (J)"),
                                               ("area_mm2", "on_front_area", "area (mm$^2$)"))):
        on = have[have[flag]].sort_values(x)
        ax.scatter(have[x], have["psnr_db"], s=25, c="tab:blue", label="recipe")
        ax.plot(on[x], on["psnr_db"], "o-", ms=8, mfc="none", c="tab:red", label=f"Pareto front ({len(on)})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("PSNR vs FP (dB)")
        ax.set_title(f"PSNR vs {xlabel.split(' (')[0]}")
        ax.margins(0.25)
        ax.legend(loc="lower right", fontsize=8)
    missing = sorted(set(rows["recipe"]) - set(have["recipe"]))
    fig.suptitle(f"co-design: quality vs cost ({meta.get('workload', 'workload unknown')})"
                 + (f"; no quality for {', '.join(missing)}" if missing else ""))
    for ax in axes[0]:
        x = "energy_j" if ax is axes[0][0] else "area_mm2"
        place_labels(ax, have[x], have["psnr_db"], have["recipe"])
    save_page(pdf, fig, "co-design Pareto")


def _components(rows, prefix, suffix) -> pd.DataFrame:
    cols = [c for c in rows.columns if c.startswith(prefix) and c.endswith(suffix)]
    frame = rows.set_index("recipe")[cols].fillna(0.0)
    return frame.rename(columns=lambda c: c[len(prefix):-len(suffix)])


def _component_page(pdf, rows, meta):
    area, energy = _components(rows, "area.", "_mm2"), _components(rows, "energy.", "_j")
    if area.empty and energy.empty:
        return
    names = list(dict.fromkeys([*area.columns, *energy.columns]))
    cmap = plt.get_cmap("tab20")
    colour = {n: cmap(i % cmap.N) for i, n in enumerate(names)}   # one colour per component on both charts
    fig, axes = plot_page(1, 2)
    for ax, frame, ylabel, title in ((axes[0][0], area, "mm$^2$", "area by component"),
                                     (axes[0][1], energy, "J per video", "energy by component")):
        if frame.empty:
            ax.text(0.5, 0.5, f"no {title.split()[0]} components in {CODESIGN_CSV}", ha="center",
                    transform=ax.transAxes)
            ax.axis("off")
            continue
        frame.plot.bar(stacked=True, ax=ax, legend=False, color=[colour[c] for c in frame.columns], rot=0)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("")
        for lbl in ax.get_xticklabels():
            lbl.set(rotation=30, ha="right", rotation_mode="anchor", fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[n]) for n in names]
    fig.legend(handles, names, loc="outside right upper", fontsize=8, title="component")
    fig.suptitle(f"co-design: where area and energy go ({meta.get('workload', 'workload unknown')})")
    save_page(pdf, fig, "co-design components")


def _dram_page(pdf, dram, path, meta):
    if dram.empty:
        text_page(pdf, [f"No DRAM-energy sensitivity: {DRAM_CSV} is missing or empty."], "co-design DRAM",
                  size=10, size_in=A4_LANDSCAPE, title="co-design: DRAM-energy sensitivity")
        return
    for col in ("recipe", "dram_pj_per_bit", "energy_j"):
        if col not in dram.columns:
            raise CodesignInputError(f"{path}: missing column '{col}'")
    fig, axes = plot_page()
    ax = axes[0][0]
    for i, (recipe, sub) in enumerate(dram.groupby("recipe", sort=False)):
        sub = sub.sort_values("dram_pj_per_bit")
        # recipes with near-equal energy draw on top of each other; distinct markers keep each one visible
        ax.plot(sub["dram_pj_per_bit"], sub["energy_j"], marker=MARKERS[i % len(MARKERS)], mfc="none", label=recipe)
    if meta.get("dram_pj_per_bit") is not None:
        ax.axvline(float(meta["dram_pj_per_bit"]), ls="--", c="0.5",
                   label=f"design point ({meta['dram_pj_per_bit']} pJ/bit)")
    ax.set_xlabel("DRAM access energy (pJ/bit)")
    ax.set_ylabel("energy per video (J)")
    ax.set_title(f"co-design: energy per video vs DRAM energy ({meta.get('workload', 'workload unknown')})")
    ax.legend(loc="upper left", fontsize=8)
    save_page(pdf, fig, "co-design DRAM")
