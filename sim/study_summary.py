"""Summaries of a quality study's tidy table (sim/study.py): per-recipe means, SemanticDialect's margins and
per-prompt win rates against every other recipe, every recipe's PSNR margin against each 4-bit baseline with a
paired bootstrap interval (sim/study_stats.py), the share of the NVFP4 -> W8A8 PSNR gap it closes, and
summary.md with the command that reproduces the study.  Reads tables, computes no new measurements.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from . import defaults

SUMMARY_METRICS = ("psnr_db", "ssim", "tdiff_psnr_db", "flicker_delta", "warp_error_delta", "latent_nmse",
                   "velocity_nmse_mean", "task_all")
MARGIN_METRICS = ("psnr_db", "ssim", "tdiff_psnr_db")
# for flicker / warping deltas the ideal is 0, so the comparison uses their magnitude
ABS_BETTER = ("flicker_delta", "warp_error_delta")
TARGET = defaults.RECIPE
GAP_LOW, GAP_HIGH = "nvfp4", "w8a8"


def wide(tidy: pd.DataFrame) -> pd.DataFrame:
    """One row per (recipe, outliers, prompt, seed), one column per metric."""
    return tidy.pivot_table(index=["recipe", "outliers", "prompt", "seed"], columns="metric", values="value",
                            aggfunc="first").reset_index()


def summary_table(tidy: pd.DataFrame, costs: pd.DataFrame) -> pd.DataFrame:
    """Mean of each summary metric per (recipe, outliers) (|delta| for flicker / warping), joined with costs."""
    w = wide(tidy)
    for k in ABS_BETTER:
        w[k] = w[k].abs()
    keep = [k for k in SUMMARY_METRICS if k in w.columns]
    means = w.groupby(["recipe", "outliers"], sort=False)[keep].mean().reset_index()
    means = means.rename(columns={k: f"abs_{k}" for k in ABS_BETTER})
    cost_cols = ["recipe", "outliers", "formatbook", "act_bits_per_element", "act_bits_with_residual",
                 "weight_bits_per_element", "extra_mac_fraction", "sample_seconds"]
    return means.merge(costs[cost_cols], on=["recipe", "outliers"], how="left")


def margins_table(tidy: pd.DataFrame, target: str = TARGET) -> pd.DataFrame:
    """Per outlier mode and other quantized recipe (fp, the reference itself, is left out): mean of (target - other) for each margin metric over matching
    (prompt, seed) pairs, and the target's win rate (strictly better; ties count one half)."""
    w = wide(tidy)
    rows = []
    for mode, sub in w.groupby("outliers", sort=False):
        t = sub[sub.recipe == target].set_index(["prompt", "seed"])
        if t.empty:
            continue
        for other, o in sub[~sub.recipe.isin([target, "fp"])].groupby("recipe", sort=False):
            o = o.set_index(["prompt", "seed"]).loc[t.index]
            row = {"outliers": mode, "target": target, "baseline": other, "pairs": len(t)}
            for k in MARGIN_METRICS:
                d = (t[k] - o[k]).to_numpy(dtype=float)
                finite = np.isfinite(d)
                row[f"margin_{k}"] = float(d[finite].mean()) if finite.any() else float("nan")
                row[f"win_rate_{k}"] = float(((d > 0) + 0.5 * (d == 0)).mean())
            rows.append(row)
    return pd.DataFrame(rows)


def gap_closed(summary: pd.DataFrame, target: str = TARGET) -> pd.DataFrame:
    """(PSNR_target - PSNR_nvfp4) / (PSNR_w8a8 - PSNR_nvfp4) per outlier mode, from the mean PSNRs."""
    rows = []
    for mode, sub in summary.groupby("outliers", sort=False):
        p = sub.set_index("recipe")["psnr_db"]
        if not {target, GAP_LOW, GAP_HIGH} <= set(p.index):
            continue
        gap = p[GAP_HIGH] - p[GAP_LOW]
        rows.append({"outliers": mode, "psnr_nvfp4": p[GAP_LOW], "psnr_w8a8": p[GAP_HIGH],
                     "psnr_target": p[target], "gap_db": gap,
                     "fraction_closed": (p[target] - p[GAP_LOW]) / gap if gap != 0 else float("nan")})
    return pd.DataFrame(rows)


# what each ablation removes from the full recipe
ABLATIONS = (("decomposition", "semanticdialect-no-decomp"), ("SeDA", "semanticdialect-no-seda"),
             ("D=32 book (vs D=16)", "semanticdialect-d16"))


def feature_table(summary: pd.DataFrame, target: str = TARGET) -> pd.DataFrame:
    """What each feature contributes: full recipe minus the ablation without it (PSNR, SSIM, temporal PSNR,
    activation bits with residual, extra MAC fraction), per outlier mode."""
    rows = []
    for mode, sub in summary.groupby("outliers", sort=False):
        s = sub.set_index("recipe")
        if target not in s.index:
            continue
        for feature, ablation in ABLATIONS:
            if ablation in s.index:
                keys = ("psnr_db", "ssim", "tdiff_psnr_db", "act_bits_with_residual", "extra_mac_fraction")
                rows.append({"outliers": mode, "feature": feature, "ablation": ablation,
                             **{f"delta_{k}": float(s.loc[target, k] - s.loc[ablation, k]) for k in keys}})
    return pd.DataFrame(rows)


def _md_table(df: pd.DataFrame, floats: dict) -> str:
    if df.empty:
        return "(no rows: a recipe needed for this table was not run)"
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            cells.append(format(v, floats.get(c, ".4g")) if isinstance(v, (float, np.floating)) else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def significance(tidy: pd.DataFrame, versus) -> pd.DataFrame:
    """Every recipe's PSNR against each baseline in `versus`: sim.study_stats.comparison_table of the tidy table."""
    from .study_stats import comparison_table
    return comparison_table(wide(tidy), versus)


def _significance_md(table: pd.DataFrame) -> str:
    if table.empty:
        return "(no rows: none of the baselines was run)"
    shown = pd.DataFrame({
        "outliers": table.outliers, "recipe": table.recipe, "vs": table.versus, "pairs": table.pairs_finite,
        "margin_psnr_db": table.margin_psnr_db,
        "95% interval": [f"[{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) else "n/a"
                         for lo, hi in zip(table.ci_low, table.ci_high)],
        "win_rate": table.win_rate, "significant": np.where(table.significant, "**yes**", "no"),
        "prompt-level interval": [f"[{lo:+.3f}, {hi:+.3f}]" if np.isfinite(lo) else "n/a"
                                  for lo, hi in zip(table.ci_low_prompt, table.ci_high_prompt)],
        "significant (prompts)": np.where(table.significant_prompt, "**yes**", "no")})
    return _md_table(shown, {"margin_psnr_db": "+.3f", "win_rate": ".3f"})


def method_text() -> str:
    from . import study_stats as st
    return (f"Unit: a (prompt, seed) pair, both recipes sampled from the same prompt and initial noise. Margin: mean "
            f"of recipe minus baseline PSNR over the pairs. Interval: paired percentile bootstrap, "
            f"{st.RESAMPLES} resamples of the pairs with replacement, {int(st.LEVEL * 100)} %, numpy generator seed "
            f"{st.BOOTSTRAP_SEED} (sim/study_stats.py); n/a below {st.MIN_PAIRS} pairs. **yes** = the interval excludes 0. Win rate: fraction of "
            f"pairs where the recipe's PSNR is higher, ties one half. Pairs of one prompt under different seeds "
            f"are not independent; the pair interval treats them as if they were, so each comparison also has a "
            f"prompt-level interval: the prompts resampled with replacement, each with all its seeds' pairs "
            f"(cluster bootstrap, same resamples and seed; n/a below {st.MIN_PAIRS} prompts). With few prompts a "
            f"cluster percentile interval is itself imprecise and tends to be too narrow; where the two intervals "
            f"disagree, the difference is not settled.")


def rerun_command(conf: dict, out: str) -> str:
    """The `sim study` command line that reproduces a study with manifest config `conf` into `out`."""
    parts = ["sim study", f"--prompts {len(conf['prompts'])}", f"--steps {conf['steps']}",
             f"--seeds {','.join(map(str, conf['seeds']))}", f"--guidance {conf['guidance']}",
             f"--backend {conf['backend']}", f"--checkpoint {conf['checkpoint']}",
             f"--recipes {','.join(conf['recipes'])}", f"--outliers {','.join(conf['outliers'])}"]
    if conf.get("versus") is not None:
        parts.append(f"--versus {','.join(conf['versus'])}")
    return " ".join(parts + [f"--out {out}"])


def markdown(summary: pd.DataFrame, margins: pd.DataFrame, gap: pd.DataFrame, header: str,
             notes=(), features: pd.DataFrame | None = None, comparisons: pd.DataFrame | None = None) -> str:
    """The committed summary: header, per-recipe table, paired comparisons, margins / win rates, gap closed,
    features, notes."""
    fmt = {"psnr_db": ".2f", "tdiff_psnr_db": ".2f", "ssim": ".4f", "act_bits_per_element": ".3f",
           "act_bits_with_residual": ".3f", "weight_bits_per_element": ".3f", "extra_mac_fraction": ".4f",
           "task_all": ".3f", "sample_seconds": ".0f"}
    parts = [header, "## Mean per recipe (vs FP of the same model and outlier mode)", _md_table(summary, fmt)]
    if comparisons is not None:
        parts += ["## PSNR margin of each recipe over each 4-bit baseline (paired bootstrap 95 % interval, win rate)",
                  method_text(), _significance_md(comparisons)]
    parts += [f"## {TARGET} minus each recipe (mean over prompts x seeds) and per-pair win rate",
              _md_table(margins, {k: ".3f" for k in margins.columns}),
              f"## Share of the {GAP_LOW} -> {GAP_HIGH} PSNR gap closed by {TARGET}",
              _md_table(gap, {k: ".3f" for k in gap.columns})]
    if features is not None and len(features):
        parts += [f"## What each feature contributes ({TARGET} minus the ablation without it)",
                  _md_table(features, {k: ".4f" for k in features.columns})]
    if notes:
        parts += ["## Notes"] + [f"- {n}" for n in notes]
    return "\n\n".join(parts) + "\n"
