"""The `accel` sweep evaluator: one design point through the accelerator model (shapes only).

Point config keys: workload (default opensora2-256px), arch (shipped name or YAML path, default edge),
arch_overrides (nested dict merged over the design before validation), recipe, dataflow (optional),
quality_table (optional CSV with a `recipe` column and quality metrics, e.g. the `sim study` summary: its
row for the point's recipe is merged into the metrics so that quality constraints can be applied).
"""
from __future__ import annotations

from functools import lru_cache

import pandas as pd

METRICS = ("latency_s", "energy_j", "area_mm2", "edp_js", "dram_bytes", "macs", "mac_utilization")


@lru_cache(maxsize=8)
def _quality(path: str) -> pd.DataFrame:
    return pd.read_csv(path).set_index("recipe")


def evaluate(cfg: dict) -> dict:
    from sim.accel.estimate import estimate
    from sim.accel.spec import load_arch

    arch = load_arch(cfg.get("arch", "edge"), cfg.get("arch_overrides"))
    est = estimate(cfg.get("workload", "opensora2-256px"), arch, cfg.get("recipe", "semanticdialect"),
                   dataflow=cfg.get("dataflow"))
    s = est.summary()
    out = {
        "latency_s": s["latency_s"], "energy_j": s["energy_j"], "area_mm2": s["area_total_mm2"],
        "edp_js": s["latency_s"] * s["energy_j"], "dram_bytes": float(s["dram_bytes"]), "macs": float(s["macs"]),
        "mac_utilization": float(s["mean_mac_rate_of_mean_peak"]),
    }
    out.update({f"energy.{k}_j": v for k, v in s["energy_by_component_j"].items()})
    if cfg.get("quality_table"):
        table = _quality(cfg["quality_table"])
        recipe = cfg.get("recipe", "semanticdialect")
        if recipe not in table.index:
            raise KeyError(f"quality table {cfg['quality_table']} has no row for recipe {recipe!r}")
        out.update({k: float(v) for k, v in table.loc[recipe].items() if isinstance(v, (int, float))})
    return out
