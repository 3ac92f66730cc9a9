"""Energy tables (configs/energy/*.yaml): per-action energies and per-component areas at a reference node, with a
source per number, node-scaling factors, and SRAM access energy interpolated by bank size.

Counting and costing stay apart: `counts.py` turns a SimResult into action counts; this module only prices them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .schema import Field, ListOf, MapOf, SpecError, load_yaml, validate
from .spec import CONFIG_DIR, ArchSpec, Buffer

ENERGY_DIR = CONFIG_DIR / "energy"
TABLE_SCHEMA = {
    "version": Field(int, choices=(1,)),
    "name": Field(str),
    "node_nm": Field(int, 1, 1000),
    "primitives": MapOf({"energy_pj": Field(float, 0, 1e9), "area_um2": Field(float, 0, 1e12),
                         "source": Field(str)}),
    "sram_read_64b": {"source": Field(str),
                      "points": ListOf({"size_bytes": Field(int, 1, 2 ** 40), "energy_pj": Field(float, 0, 1e9)})},
    "actions": MapOf({"terms": MapOf(Field(float, 0, 1e9)), "source": Field(str)}),
    # an area entry gives either `terms` over primitives or a direct `area_um2`
    "areas": MapOf({"terms": MapOf(Field(float, 0, 1e12), min_items=0),
                    "area_um2": Field(float, 0, 1e12, nullable=True, default=None), "source": Field(str)}),
    "scaling": {"source": Field(str),
                "nodes": MapOf({"energy": Field(float, 0, 10), "area": Field(float, 0, 10)})},
}


@dataclass(frozen=True)
class EnergyTable:
    """Values at the table's node (`node_nm`); `scaled_to(node)` applies the documented factors."""

    name: str
    source_file: str
    node_nm: int
    action_pj: dict          # action -> pJ per action
    area_um2: dict           # component -> um^2 per instance
    sources: dict            # action / component -> source string
    sram_points: tuple       # ((size_bytes, pJ per 64-bit read), ...)
    scaling: dict            # node_nm -> (energy factor, area factor)

    def factors(self, node_nm: int) -> tuple:
        if node_nm not in self.scaling:
            raise SpecError(self.source_file, "scaling.nodes",
                            f"no scaling factors for a {node_nm} nm node; valid nodes: "
                            f"{', '.join(map(str, sorted(self.scaling)))}")
        return self.scaling[node_nm]

    def sram_access_pj(self, buf: Buffer) -> float:
        """Energy of one access of `buf.access_bits` to one bank of the buffer, at the table's node."""
        sizes, pj = np.array(self.sram_points, dtype=float).T
        bank = max(buf.size_bytes / buf.banks, 1.0)
        e64 = float(np.exp(np.interp(np.log(bank), np.log(sizes), np.log(pj))))
        return e64 * buf.access_bits / 64


def load_energy_table(name_or_path="horowitz45") -> EnergyTable:
    p = Path(name_or_path)
    if not (p.suffix in (".yaml", ".yml") or p.exists()):
        p = ENERGY_DIR / f"{name_or_path}.yaml"
        if not p.is_file():
            names = sorted(q.stem for q in ENERGY_DIR.glob("*.yaml"))
            raise SpecError(name_or_path, "technology.energy_table", f"no such energy table; valid: {', '.join(names)}")
    d = validate(load_yaml(p), TABLE_SCHEMA, p)
    prim = d["primitives"]

    def combine(section, key, terms_of):
        out = {}
        for name, entry in d[section].items():
            if entry.get(key) is not None:
                out[name] = entry[key]
                continue
            if not entry["terms"]:
                raise SpecError(p, f"{section}.{name}", f"give either terms or {key}")
            for t in entry["terms"]:
                if t not in prim:
                    raise SpecError(p, f"{section}.{name}.terms.{t}",
                                    f"unknown primitive; valid: {', '.join(sorted(prim))}")
            out[name] = float(sum(prim[t][terms_of] * f for t, f in entry["terms"].items()))
        return out

    actions = combine("actions", "energy_pj", "energy_pj")
    areas = combine("areas", "area_um2", "area_um2")
    sources = {**{k: v["source"] for k, v in d["actions"].items()}, **{k: v["source"] for k, v in d["areas"].items()}}
    points = tuple(sorted((v["size_bytes"], v["energy_pj"]) for v in d["sram_read_64b"]["points"]))
    scaling = {int(k): (v["energy"], v["area"]) for k, v in d["scaling"]["nodes"].items()}
    return EnergyTable(d["name"], str(p), d["node_nm"], actions, areas, sources, points, scaling)


def action_energy_pj(table: EnergyTable, arch: ArchSpec) -> dict:
    """pJ per action at the design's node, for every action `counts.py` emits."""
    ef, _ = table.factors(arch.technology.node_nm)
    out = {a: e * ef for a, e in table.action_pj.items()}
    for name in ("inputs", "weights", "outputs"):
        buf = getattr(arch.global_buffer, name)
        base = table.sram_access_pj(buf) * ef
        out[f"sram.{name}.read"] = buf.read_energy_pj if buf.read_energy_pj is not None else base
        out[f"sram.{name}.write"] = buf.write_energy_pj if buf.write_energy_pj is not None else base
    out["dram.read_byte"] = out["dram.write_byte"] = arch.dram.energy_pj_per_byte   # off-chip: not node-scaled
    return out
