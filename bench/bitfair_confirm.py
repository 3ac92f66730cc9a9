"""Confirmation of the bit-fair variant on the EVALUATION prompts, run once after the calibration search chose it
(bench/bitfair_search.py): reads a `sim study` output folder and writes the margins of `semanticdialect-fair`
over NVFP4 (and over `semanticdialect`) per outlier mode: mean over (prompt, seed) pairs, per seed, the per-pair
win rate and a t interval of the mean paired difference.

    python3 -m bench.bitfair_confirm results/study      # the committed study (results/study/summary.md)
"""
from __future__ import annotations

import argparse
import os

import numpy as np

TARGET = "semanticdialect-fair"
BASELINES = ("nvfp4", "semanticdialect")
METRICS = ("psnr_db", "ssim", "tdiff_psnr_db")
T95 = {23: 2.069}          # Student t quantile (two-sided 95 %) for 24 pairs; other counts use the normal 1.96


def paired(tidy, mode: str, baseline: str, metric: str):
    """(target - baseline) per (prompt, seed), aligned; a pandas Series indexed by (prompt, seed)."""
    sub = tidy[(tidy.outliers == mode) & (tidy.metric == metric)]
    t = sub[sub.recipe == TARGET].set_index(["prompt", "seed"]).value
    b = sub[sub.recipe == baseline].set_index(["prompt", "seed"]).value
    return (t - b.loc[t.index]).dropna()


def margins(tidy):
    import pandas as pd
    rows = []
    for mode in ("none", "on"):
        for base in BASELINES:
            if base not in set(tidy.recipe):
                continue
            row = {"outliers": mode, "target": TARGET, "baseline": base}
            for k in METRICS:
                d = paired(tidy, mode, base, k)
                half = T95.get(len(d) - 1, 1.96) * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan
                row.update({f"margin_{k}": d.mean(), f"ci95_{k}": half, f"win_rate_{k}": ((d > 0) + 0.5 * (d == 0)).mean()})
                if k == "psnr_db":
                    for seed, ds in d.groupby(level="seed"):
                        row[f"margin_psnr_db_seed{seed}"] = ds.mean()
            row["pairs"] = len(paired(tidy, mode, base, "psnr_db"))
            rows.append(row)
    return pd.DataFrame(rows)


def markdown(table, summary, folder: str) -> str:
    keep = ["recipe", "outliers", "psnr_db", "ssim", "tdiff_psnr_db", "act_bits_with_residual",
            "weight_bits_per_element", "extra_mac_fraction"]
    lines = [f"# Bit-fair variant: confirmation on the evaluation prompts\n",
             f"Study folder `{folder}` (its `summary.md` has the settings and the rerun command). Margins are "
             f"`{TARGET}` minus the baseline over matched (prompt, seed) pairs; ci95 is the half-width of a t "
             f"interval of the mean paired difference; win rate counts pairs where `{TARGET}` is better.\n",
             "## Mean per recipe\n", _md(summary[keep]), "\n## Margins\n", _md(table)]
    return "\n".join(lines) + "\n"


def _md(df) -> str:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        out.append("| " + " | ".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in r) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    import pandas as pd

    from reports.io import atomic_write_csv, atomic_write_text
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", help="a `sim study` output folder with study_tidy.csv and summary.csv")
    p.add_argument("--out", default=os.path.join("results", "bitfair"))
    args = p.parse_args(argv)
    tidy = pd.read_csv(os.path.join(args.folder, "study_tidy.csv"))
    summary = pd.read_csv(os.path.join(args.folder, "summary.csv"))
    table = margins(tidy)
    atomic_write_csv(os.path.join(args.out, "confirmation.csv"), table)
    atomic_write_text(os.path.join(args.out, "confirmation.md"), markdown(table, summary, args.folder))
    print(table.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
