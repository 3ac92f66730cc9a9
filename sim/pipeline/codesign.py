"""The co-design output of a comparison: tidy CSVs, a meta file and the co-design PDF pages.

Files (the contract reports/codesign_report.py reads): codesign.csv (one row per recipe), codesign_dram.csv
(energy per video at each DRAM energy of the catalog's sensitivity sweep), codesign_anchor.csv (published
hardware anchors for the same workload, as context), codesign_meta.json.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

ANCHORS_BY_WORKLOAD = {"opensora2-256px": ("h100",)}


def comparison_tables(cmp) -> dict:
    """name -> DataFrame of the co-design files (without the meta)."""
    from sim.accel.anchors import load_anchor
    from sim.accel.compare import dram_sensitivity
    from sim.accel.energy import load_dram_catalog
    dram = load_dram_catalog()
    anchors = [load_anchor(n) for n in ANCHORS_BY_WORKLOAD.get(cmp.meta["workload"], ())]
    return {
        "codesign": cmp.rows,
        "codesign_dram": dram_sensitivity(cmp, dram.sensitivity_pj_per_bit),
        "codesign_anchor": pd.DataFrame([{"name": a.name, "latency_s": a.latency_s, "energy_j": a.energy_j,
                                          "power_w": a.power_w, "source": a.source} for a in anchors],
                                        columns=["name", "latency_s", "energy_j", "power_w", "source"]),
    }


def write_comparison(cmp, out_dir, pdf: bool = True) -> list:
    """Write the co-design files and, with `pdf`, codesign.pdf into a folder that replaces `out_dir` whole when
    all are written (reports.io.staged_folder); returns the paths."""
    from reports.io import atomic_write_csv, atomic_write_json, staged_folder
    with staged_folder(out_dir) as tmp:
        paths = [atomic_write_csv(tmp / f"{name}.csv", df) for name, df in comparison_tables(cmp).items()]
        paths.append(atomic_write_json(tmp / "codesign_meta.json", cmp.meta))
        if pdf:
            from reports.codesign_report import build_codesign_pdf
            paths.append(build_codesign_pdf(tmp))
    return [Path(out_dir) / p.name for p in paths]
