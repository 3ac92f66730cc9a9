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
    rows = [{"backend": c.backend, "reference": c.reference, "scope": c.scope, "layer_calls": c.layer_calls,
             "matching_layer_calls": c.matching_calls, "latents_identical": c.latents_identical,
             "bit_identical": c.identical, "first_mismatch": c.mismatch.describe(c.reference) if c.mismatch else ""}
            for c in res.checks]
    rows += [{"backend": b, "reference": res.config.full_backend, "scope": "skipped", "layer_calls": 0,
              "matching_layer_calls": 0, "latents_identical": False, "bit_identical": False, "first_mismatch": why}
             for b, why in res.skipped_backends.items()]
    return pd.DataFrame(rows)


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
               "dram_bytes_per_cycle": est.sim.arch.dram_bytes_per_cycle}
        rr = q.get((recipe, False))
        if rr is not None:
            row.update({"psnr_db": rr.metrics["psnr_db"], "ssim": rr.metrics["ssim"],
                        "tdiff_psnr_db": rr.metrics.get("tdiff_psnr_db", np.nan),
                        "act_bits_per_element": rr.context_summary.get("act_bits_per_element", np.nan),
                        "extra_mac_fraction": rr.context_summary.get("extra_mac_fraction", np.nan)})
        rows.append(row)
    return pd.DataFrame(rows)


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
    return {**codesign, "quality": quality_table(res), "crosscheck": crosscheck_table(res), "latency_per_op": per_op,
            "latency_per_block": per_block_table(per_op), "energy_breakdown": energy_table(res),
            "area": area_table(res), "summary": summary_table(res), "dialect_usage": dialect_usage_table(res),
            "layers": layer_table(res),
            "timings": timing_table(res)}
