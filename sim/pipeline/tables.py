"""RunResult -> tidy tables (one DataFrame per CSV of the output folder).  reports/ writes and draws them."""
from __future__ import annotations

import numpy as np
import pandas as pd

from .run import RunResult


def quality_table(res: RunResult) -> pd.DataFrame:
    """recipe x outliers x metric (long format), including task accuracy, bits/element and extra MACs."""
    rows = []
    for outliers, acc in res.fp_task_accuracy.items():
        rows += [_row("fp", outliers, f"task_{k}", v) for k, v in acc.items() if _scalar(v)]
    for rr in res.recipe_runs:
        rows += [_row(rr.recipe, rr.outliers, k, v) for k, v in rr.metrics.items() if _scalar(v)]
        rows += [_row(rr.recipe, rr.outliers, f"task_{k}", v) for k, v in rr.task_accuracy.items() if _scalar(v)]
        rows += [_row(rr.recipe, rr.outliers, k, v) for k, v in rr.context_summary.items() if _scalar(v)]
    return pd.DataFrame(rows, columns=["recipe", "outliers", "metric", "value"])


def _row(recipe, outliers, metric, value):
    return {"recipe": recipe, "outliers": bool(outliers), "metric": metric, "value": float(value)}


def _scalar(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def crosscheck_table(res: RunResult) -> pd.DataFrame:
    """One row per back end checked against the full one (skipped ones with the reason)."""
    rows = [{"backend": c.backend, "reference": c.reference, "status": c.status, "scope": c.scope,
             "layer_calls": c.layer_calls, "matching_layer_calls": c.matching_calls,
             "latents_identical": c.latents_identical, "bit_identical": c.identical, "first_mismatch": c.describe(),
             "runs_reference_for": "; ".join(c.runs_reference_for)} for c in res.checks]
    rows += [{"backend": b, "reference": res.config.full_backend, "status": "skipped", "scope": "skipped",
              "layer_calls": 0, "matching_layer_calls": 0, "latents_identical": False, "bit_identical": False,
              "first_mismatch": why, "runs_reference_for": ""} for b, why in res.skipped_backends.items()]
    return pd.DataFrame(rows, columns=CROSSCHECK_COLUMNS)


CROSSCHECK_COLUMNS = ["backend", "reference", "status", "scope", "layer_calls", "matching_layer_calls",
                      "latents_identical", "bit_identical", "first_mismatch", "runs_reference_for"]
COVERAGE_COLUMNS = ["backend", "reference", "group", "kind", "calls_in_slice", "checked", "identical", "steps",
                    "note"]
FROM_ATTENTION = "salient_from_attention"


def coverage_table(res: RunResult) -> pd.DataFrame:
    """Back end x call kind: calls of that kind in the slice, how many were checked, how many were bit-identical,
    from which denoising steps.  group "kind": the call kinds; "feature": decomposed calls whose salient rows came
    from attention (a subset of the linear kinds); "synthetic": verify stages that are not model calls."""
    present = res.slice_kinds
    ref = res.config.full_backend
    rows = []
    for c in res.checks:
        for kind in dict.fromkeys(list(present) + list(c.coverage)):
            cov = c.coverage.get(kind)
            group = "kind" if kind in present else "synthetic"
            rows.append(_coverage_row(c.backend, ref, group, kind, present.get(kind), cov,
                                      f"error: {c.error}" if c.error else ""))
        rows.append(_coverage_row(c.backend, ref, "feature", FROM_ATTENTION, res.slice_from_attention,
                                  c.salient_from_attention, ""))
    for b, why in res.skipped_backends.items():
        for kind in list(present) + [FROM_ATTENTION]:
            rows.append(_coverage_row(b, ref, "feature" if kind == FROM_ATTENTION else "kind", kind,
                                      present.get(kind, res.slice_from_attention), None, f"skipped: {why}"))
    return pd.DataFrame(rows, columns=COVERAGE_COLUMNS)


def _coverage_row(backend, ref, group, kind, in_slice, cov, note) -> dict:
    return {"backend": backend, "reference": ref, "group": group, "kind": kind,
            "calls_in_slice": in_slice.checked if in_slice is not None else 0,
            "checked": cov.checked if cov else 0, "identical": cov.identical if cov else 0,
            "steps": ",".join(str(s) for s in cov.steps) if cov else "", "note": note}


def verify_summary(cc: pd.DataFrame, cov: pd.DataFrame, steps: int) -> dict:
    """The `sim verify --json` object, built from the same two tables the CSVs hold:
    {"steps": S, "backends": {NAME: {"bit_identical", "status", "coverage": {KIND: {"checked", "identical"}},
    "salient_from_attention", "scope", "runs_reference_for", "mismatch"[, "skipped"]}}}."""
    out = {}
    for _, r in cc.iterrows():
        sub = cov[cov["backend"] == r["backend"]]
        tally = lambda g: {k["kind"]: {"checked": int(k["checked"]), "identical": int(k["identical"])}
                           for _, k in sub[sub["group"].isin(g)].iterrows()}
        entry = {"bit_identical": bool(r["bit_identical"]), "status": r["status"],
                 "coverage": tally(("kind", "synthetic")),
                 FROM_ATTENTION: tally(("feature",)).get(FROM_ATTENTION, {"checked": 0, "identical": 0}),
                 "scope": r["scope"], "runs_reference_for": [p for p in str(r["runs_reference_for"]).split("; ") if p],
                 "mismatch": None if r["bit_identical"] or r["status"] == "skipped" else r["first_mismatch"]}
        if r["status"] == "skipped":
            entry["skipped"] = r["first_mismatch"]
        out[r["backend"]] = entry
    return {"steps": int(steps), "backends": out}


def per_op_table(res: RunResult) -> pd.DataFrame:
    frames = []
    for (workload, recipe), est in res.estimates.items():
        po = est.sim.per_op
        clock_hz = est.sim.arch.clock_mhz * 1e6
        energy = est.energy_per_op_pj.set_index("op").sum(axis=1) * 1e-12
        f = po[["op", "kind", "group", "block", "m", "k", "n", "repeat", "mac_mode", "bottleneck", "cycles",
                "compute_cycles", "memory_cycles", "macs", "dram_read_bytes", "dram_write_bytes"]].copy()
        f["latency_s"] = po.cycles * po.repeat / clock_hz
        f["energy_j"] = f["op"].map(energy).to_numpy()
        f["utilization"] = np.where(po.cycles > 0, po.compute_cycles / po.cycles.where(po.cycles > 0, 1), 0.0)
        f.insert(0, "recipe", recipe)
        f.insert(0, "workload", workload)
        frames.append(f)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def per_block_table(per_op: pd.DataFrame) -> pd.DataFrame:
    if per_op.empty:
        return per_op
    g = per_op.groupby(["workload", "recipe", "block", "kind"], as_index=False)[["latency_s", "energy_j"]].sum()
    return g.sort_values(["workload", "recipe", "block", "kind"])


def energy_table(res: RunResult) -> pd.DataFrame:
    rows = [{"workload": w, "recipe": r, "component": comp, "energy_j": e}
            for (w, r), est in res.estimates.items() for comp, e in est.energy_by_component_j.items()]
    return pd.DataFrame(rows)


def area_table(res: RunResult) -> pd.DataFrame:
    seen = {}
    for (_, recipe), est in res.estimates.items():
        for comp, a in est.area_mm2.items():
            seen[(est.sim.arch.name, comp)] = a
    return pd.DataFrame([{"arch": a, "component": c, "area_mm2": v} for (a, c), v in seen.items()])


def summary_table(res: RunResult) -> pd.DataFrame:
    q = {(rr.recipe, rr.outliers): rr for rr in res.recipe_runs}
    rows = []
    for (workload, recipe), est in res.estimates.items():
        s = est.summary()
        row = {"workload": workload, "recipe": recipe, "arch": s["arch"], "latency_s": s["latency_s"],
               "energy_j": s["energy_j"], "area_mm2": s["area_total_mm2"], "dram_bytes": s["dram_bytes"],
               "mac_utilization": s["mean_mac_rate_of_mean_peak"], "clock_mhz": est.sim.arch.clock_mhz,
               "peak_macs_per_cycle_4bit": max(dict(est.sim.arch.peak_macs_per_cycle).values()),
               "dram_bytes_per_cycle": est.sim.arch.dram_bytes_per_cycle, "full_path": s["full_path"],
               "attention_share_of_latency": s["attention_share_of_latency"],
               "attention_share_of_energy": s["attention_share_of_energy"]}
        fp = res.full_path_estimates.get((workload, recipe))
        if fp is not None:          # the same recipe with the attention matmuls quantized (sim estimate --full-path)
            f = fp.summary()
            row.update({"full_path_latency_s": f["latency_s"], "full_path_energy_j": f["energy_j"],
                        "full_path_attention_share_of_latency": f["attention_share_of_latency"],
                        "full_path_attention_share_of_energy": f["attention_share_of_energy"]})
        rr = q.get((recipe, False))
        if rr is not None:
            row.update({"psnr_db": rr.metrics["psnr_db"], "ssim": rr.metrics["ssim"],
                        "tdiff_psnr_db": rr.metrics.get("tdiff_psnr_db", np.nan),
                        "act_bits_per_element": rr.context_summary.get("act_bits_per_element", np.nan),
                        "extra_mac_fraction": rr.context_summary.get("extra_mac_fraction", np.nan)})
        rows.append(row)
    return pd.DataFrame(rows)


FULL_PATH_STUDY = "results/study-fullpath/summary.csv"
FULL_PATH_QUALITY_COLUMNS = ("run_recipe", "recipe", "quantized_recipe", "psnr_db", "quantized_psnr_db", "delta_psnr_db",
                             "task_all", "quantized_task_all", "source")


def full_path_quality_table(recipes) -> pd.DataFrame:
    """The quality cost of quantizing the attention matmuls, from the committed full-path study (tiny model,
    outliers off): per run recipe (`run_recipe`), the study's pair (the recipe, its `-fullpath` variant) or, for a
    recipe that quantizes attention itself, (the recipe it extends, the recipe).  Empty without the study file."""
    from quant.recipes import recipe
    from sim.pipeline.config import ROOT
    path = ROOT / FULL_PATH_STUDY
    if not path.is_file():
        return pd.DataFrame(columns=list(FULL_PATH_QUALITY_COLUMNS))
    s = pd.read_csv(path)
    s = s[s.outliers == "none"].set_index("recipe")
    rows = []
    for r in recipes:
        if f"{r}-fullpath" in s.index and r in s.index:
            pair = (r, f"{r}-fullpath")
        else:
            bases = [b for b in s.index if r.startswith(f"{b}-") and not recipe(b).full_path]
            if r not in s.index or not bases or not recipe(r).full_path:
                continue
            pair = (max(bases, key=len), r)
        a, q = s.loc[pair[0]], s.loc[pair[1]]
        rows.append({"run_recipe": r, "recipe": pair[0], "quantized_recipe": pair[1], "psnr_db": a.psnr_db,
                     "quantized_psnr_db": q.psnr_db, "delta_psnr_db": q.psnr_db - a.psnr_db,
                     "task_all": a.task_all, "quantized_task_all": q.task_all, "source": FULL_PATH_STUDY})
    return pd.DataFrame(rows, columns=list(FULL_PATH_QUALITY_COLUMNS))


def dialect_usage_table(res: RunResult) -> pd.DataFrame:
    """Blocks per dialect id, per layer and operand (activations online, weights offline)."""
    rows = []
    for rr in res.recipe_runs:
        for lr in rr.layer_rows:
            for operand in ("act", "weight"):
                for d, n in (lr.get(f"{operand}_dialects") or {}).items():
                    rows.append({"recipe": rr.recipe, "outliers": rr.outliers, "layer": lr["layer"],
                                 "operand": operand, "dialect": int(d), "blocks": int(n)})
    return pd.DataFrame(rows, columns=["recipe", "outliers", "layer", "operand", "dialect", "blocks"])


def layer_table(res: RunResult) -> pd.DataFrame:
    rows = [{"recipe": rr.recipe, "outliers": rr.outliers,
             **{k: v for k, v in lr.items() if not isinstance(v, dict)}}
            for rr in res.recipe_runs for lr in rr.layer_rows]
    return pd.DataFrame(rows)


def timing_table(res: RunResult) -> pd.DataFrame:
    return pd.DataFrame([{"stage": k, "seconds": v} for k, v in res.seconds.items()])


def all_tables(res: RunResult) -> dict:
    per_op = per_op_table(res)
    codesign = {}
    if res.comparison is not None:
        from .codesign import comparison_tables
        codesign = comparison_tables(res.comparison)
    return {**codesign, "quality": quality_table(res), "crosscheck": crosscheck_table(res),
            "crosscheck_coverage": coverage_table(res), "latency_per_op": per_op,
            "latency_per_block": per_block_table(per_op), "energy_breakdown": energy_table(res),
            "area": area_table(res), "summary": summary_table(res), "dialect_usage": dialect_usage_table(res),
            "full_path_quality": full_path_quality_table(res.config.recipes),
            "layers": layer_table(res),
            "timings": timing_table(res)}
