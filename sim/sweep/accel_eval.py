"""The `accel` sweep evaluator: one design point through the accelerator model (shapes only).

Point config keys: workload (default sim.defaults.WORKLOAD), arch (shipped name or YAML path, default sim.defaults.ARCH),
arch_overrides (nested dict merged over the design before validation), recipe, dataflow (optional),
specialize (bool: run the point on `specialize(design, recipe)`, the design the recipe needs and nothing else),
full_path (bool), quality (optional {study: a `sim study` folder or summary CSV, mode: none|on, columns: [...]}:
the study's quality columns for the point's recipe are merged into the metrics, so that sweep objectives and
constraints can use them, e.g. `psnr_db: max`; a recipe the study lacks gets no quality metrics).
"""
from __future__ import annotations

from functools import lru_cache

METRICS = ("latency_s", "energy_j", "area_mm2", "edp_js", "dram_bytes", "macs", "mac_utilization")


@lru_cache(maxsize=8)
def _quality(study: str, mode: str, columns: tuple) -> dict:
    from sim.accel.compare import load_quality
    return load_quality(study, mode, columns)[0]


def quality_metrics(q: dict, recipe: str) -> dict:
    from sim.accel.compare import QUALITY_COLUMNS
    columns = tuple(q.get("columns", QUALITY_COLUMNS))
    return dict(_quality(str(q["study"]), str(q.get("mode", "none")), columns).get(recipe, {}))


def evaluate(cfg: dict) -> dict:
    from sim.accel.estimate import estimate
    from sim.accel.spec import load_arch
    from sim.accel.specialize import specialize

    from sim import defaults
    recipe = cfg.get("recipe", defaults.RECIPE)
    arch = load_arch(cfg.get("arch", defaults.ARCH), cfg.get("arch_overrides"))
    if cfg.get("specialize"):
        arch = specialize(arch, recipe)
    est = estimate(cfg.get("workload", defaults.WORKLOAD), arch, recipe, dataflow=cfg.get("dataflow"),
                   full_path=bool(cfg.get("full_path", False)))
    s = est.summary()
    out = {
        "latency_s": s["latency_s"], "energy_j": s["energy_j"], "area_mm2": s["area_total_mm2"],
        "edp_js": s["latency_s"] * s["energy_j"], "dram_bytes": float(s["dram_bytes"]), "macs": float(s["macs"]),
        "mac_utilization": float(s["mean_mac_rate_of_mean_peak"]),
    }
    out.update({f"energy.{k}_j": v for k, v in s["energy_by_component_j"].items()})
    if cfg.get("quality"):
        out.update(quality_metrics(cfg["quality"], recipe))
    return out
