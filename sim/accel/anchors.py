"""External anchors (configs/anchors/*.yaml): a published time and energy for the same workload on real hardware,
shown beside our estimates as context, each with its source and assumptions.

    a = load_anchor("h100");  a.latency_s, a.energy_j, a.power_w, a.source
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .schema import Field, SpecError, load_yaml, validate
from .spec import CONFIG_DIR

ANCHOR_DIR = CONFIG_DIR / "anchors"
# energy_j is stated in the file for readers; it must be latency x power to this relative tolerance
PRODUCT_TOLERANCE = 0.01
ANCHOR_SCHEMA = {
    "version": Field(int, choices=(1,)),
    "name": Field(str),
    "description": Field(str, default=""),
    "workload": Field(str),
    "latency_s": Field(float, 1e-9, 1e9),
    "power_w": Field(float, 1e-6, 1e7),
    "energy_j": Field(float, 1e-9, 1e15),
    "source": Field(str),
    "assumptions": Field(str),
}


@dataclass(frozen=True)
class Anchor:
    name: str
    latency_s: float
    energy_j: float
    power_w: float
    source: str
    workload: str = ""
    assumptions: str = ""


def anchor_names() -> list:
    return sorted(p.stem for p in ANCHOR_DIR.glob("*.yaml"))


def load_anchor(name="h100") -> Anchor:
    """A shipped anchor by name, or a path to an anchor YAML."""
    p = Path(name)
    if p.suffix not in (".yaml", ".yml"):
        p = ANCHOR_DIR / f"{name}.yaml"
        if not p.is_file():
            raise SpecError(name, "", f"no such anchor; valid: {', '.join(anchor_names())}")
    d = validate(load_yaml(p), ANCHOR_SCHEMA, p)
    for key in ("source", "assumptions"):
        if not d[key].strip():
            raise SpecError(p, key, "empty; an anchor states where its numbers come from and what they assume")
    product = d["latency_s"] * d["power_w"]
    if abs(d["energy_j"] / product - 1) > PRODUCT_TOLERANCE:
        raise SpecError(p, "energy_j", f"{d['energy_j']} J is not latency_s x power_w = {product:.6g} J")
    return Anchor(d["name"], d["latency_s"], d["energy_j"], d["power_w"], d["source"], d["workload"],
                  d["assumptions"])
