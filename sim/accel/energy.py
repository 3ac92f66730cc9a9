"""Energy tables (configs/energy/*.yaml): per-action energies and per-component areas at a reference node, with a
source per number, node-scaling factors, and SRAM access energy interpolated by bank size; and the DRAM catalog
(configs/energy/dram.yaml): off-chip energy per bit and channel bandwidth per memory standard, with a source each.

Counting and costing stay apart: `counts.py` turns a SimResult into action counts; this module only prices them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .schema import Field, ListOf, MapOf, SpecError, load_yaml, validate
from .spec import CONFIG_DIR, ArchSpec, Buffer

ENERGY_DIR = CONFIG_DIR / "energy"
DRAM_FILE = ENERGY_DIR / "dram.yaml"     # the DRAM catalog lives beside the tables but is not one
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
    # energy_fit: optional published per-node fit E(V) = a V^2 + b V + c; with voltage_v given, every factor must
    # equal E_node(V) / E_ref(V) to FIT_TOLERANCE, so a mistyped factor cannot slip through
    "scaling": {"source": Field(str),
                "voltage_v": Field(float, 0.1, 5.0, nullable=True, default=None),
                "nodes": MapOf({"energy": Field(float, 0, 10), "area": Field(float, 0, 10),
                                "energy_fit": ListOf(Field(float, -1e6, 1e6), min_items=0)})},
}
FIT_TOLERANCE = 0.005     # relative; the factors are written to 3 significant digits


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

    def factors(self, node_nm: int, design: str = "") -> tuple:
        """(energy factor, area factor) from the table's node to `node_nm`; `design` names the asking arch file."""
        if node_nm not in self.scaling:
            asked = f" (technology.node_nm of {design})" if design else ""
            raise SpecError(self.source_file, "scaling.nodes",
                            f"no scaling factors for a {node_nm} nm node{asked}; valid nodes: "
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
        if not p.is_file() or p == DRAM_FILE:
            names = sorted(q.stem for q in ENERGY_DIR.glob("*.yaml") if q != DRAM_FILE)
            raise SpecError(name_or_path, "technology.energy_table", f"no such energy table; valid: {', '.join(names)}")
    if not p.is_file():
        load_yaml(p)                                   # the one-line "file not found" error
    st = p.stat()
    return _load_table(str(p), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=16)
def _load_table(name: str, mtime_ns: int, size: int) -> EnergyTable:
    """One parse per file version: a sweep prices every point with the same table (treat the result as read-only)."""
    p = Path(name)
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
    _check_scaling(d["scaling"], d["node_nm"], p)
    return EnergyTable(d["name"], str(p), d["node_nm"], actions, areas, sources, points, scaling)


def _check_scaling(sc: dict, ref_node: int, p):
    """The reference node scales by 1; a node with a published fit must match it at the stated voltage."""
    nodes = {int(k): v for k, v in sc["nodes"].items()}
    if nodes.get(ref_node, {}).get("energy") != 1.0 or nodes[ref_node]["area"] != 1.0:
        raise SpecError(p, f"scaling.nodes.{ref_node}", f"the table's own node ({ref_node} nm) must be listed with "
                        "energy: 1.0 and area: 1.0")
    for n, v in nodes.items():
        if v["energy_fit"] and len(v["energy_fit"]) != 3:
            raise SpecError(p, f"scaling.nodes.{n}.energy_fit", "expected [a, b, c] of E(V) = a V^2 + b V + c")
    ref_fit, volt = nodes[ref_node]["energy_fit"], sc["voltage_v"]
    if volt is None or not ref_fit:
        return
    e_ref = _fit_energy(ref_fit, volt)
    for n, v in nodes.items():
        if not v["energy_fit"]:
            continue
        derived = _fit_energy(v["energy_fit"], volt) / e_ref
        if abs(v["energy"] / derived - 1) > FIT_TOLERANCE:
            raise SpecError(p, f"scaling.nodes.{n}.energy", f"{v['energy']} disagrees with its energy_fit: "
                            f"E_{n}({volt} V) / E_{ref_node}({volt} V) = {derived:.4g}")


def _fit_energy(fit, volt: float) -> float:
    a, b, c = fit
    return a * volt * volt + b * volt + c


def action_energy_pj(table: EnergyTable, arch: ArchSpec) -> dict:
    """pJ per action at the design's node, for every action `counts.py` emits."""
    ef, _ = table.factors(arch.technology.node_nm, arch.source_file)
    out = {a: e * ef for a, e in table.action_pj.items()}
    for name in ("inputs", "weights", "outputs"):
        buf = getattr(arch.global_buffer, name)
        base = table.sram_access_pj(buf) * ef
        out[f"sram.{name}.read"] = buf.read_energy_pj if buf.read_energy_pj is not None else base
        out[f"sram.{name}.write"] = buf.write_energy_pj if buf.write_energy_pj is not None else base
    out["dram.read_byte"] = out["dram.write_byte"] = arch.dram.energy_pj_per_byte   # off-chip: not node-scaled
    return out


# --- DRAM catalog ----------------------------------------------------------------------------------------------
DRAM_SCHEMA = {
    "version": Field(int, choices=(1,)),
    "name": Field(str),
    "default": Field(str, doc="the preset modern designs use (LPDDR5 class)"),
    "sensitivity_pj_per_bit": ListOf(Field(float, 0, 1e4), min_items=2),
    "sensitivity_source": Field(str),
    "presets": MapOf({"energy_pj_per_bit": Field(float, 0, 1e4),
                      "bandwidth_gbps": Field(float, 1e-3, 1e5, doc="GB/s (1e9 bytes/s) of one channel"),
                      "channel": Field(str, doc="what one channel is, with the standard it is taken from"),
                      "source": Field(str)}),
}


@dataclass(frozen=True)
class DramPreset:
    """One memory standard: off-chip energy per byte moved (not node-scaled) and one channel's bandwidth."""

    name: str
    energy_pj_per_byte: float
    bandwidth_gbps: float
    source: str
    channel: str = ""

    @property
    def energy_pj_per_bit(self) -> float:
        return self.energy_pj_per_byte / 8


@dataclass(frozen=True)
class DramCatalog:
    presets: dict                    # name -> DramPreset
    default: str                     # name of the LPDDR5-class default
    sensitivity_pj_per_bit: tuple    # DRAM energies (pJ/bit) the report's sensitivity plot sweeps
    sensitivity_source: str
    source_file: str

    @property
    def default_preset(self) -> DramPreset:
        return self.presets[self.default]


def load_dram_catalog(path=None) -> DramCatalog:
    """configs/energy/dram.yaml (or `path`), validated: unknown keys, empty sources, an unknown default or an
    unsorted sweep give a SpecError naming the file and the field."""
    p = Path(path) if path is not None else DRAM_FILE
    d = validate(load_yaml(p), DRAM_SCHEMA, p)
    for name, v in d["presets"].items():
        for key in ("source", "channel"):
            if not v[key].strip():
                raise SpecError(p, f"presets.{name}.{key}", "empty; every number names its source")
    if d["default"] not in d["presets"]:
        raise SpecError(p, "default", f"no preset {d['default']!r}; valid: {', '.join(sorted(d['presets']))}")
    sweep = tuple(d["sensitivity_pj_per_bit"])
    if list(sweep) != sorted(set(sweep)):
        raise SpecError(p, "sensitivity_pj_per_bit", "expected distinct values in ascending order")
    if d["presets"][d["default"]]["energy_pj_per_bit"] not in sweep:
        raise SpecError(p, "sensitivity_pj_per_bit", "must include the default preset's energy_pj_per_bit "
                        f"({d['presets'][d['default']]['energy_pj_per_bit']}) so the plot marks it")
    presets = {name: DramPreset(name, v["energy_pj_per_bit"] * 8, v["bandwidth_gbps"], v["source"], v["channel"])
               for name, v in d["presets"].items()}
    return DramCatalog(presets, d["default"], sweep, d["sensitivity_source"], str(p))


def load_dram_presets(path=None) -> dict:
    """name -> DramPreset(name, energy_pj_per_byte, bandwidth_gbps, source, channel)."""
    return load_dram_catalog(path).presets
