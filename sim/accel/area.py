"""Component areas: instance counts from the arch spec x per-instance areas from the energy table, node-scaled.

Swappable: when rtl_models/data/area.csv exists (Yosys synthesis of the RTL, 45 nm NanGate cell areas), the
blocks named in YOSYS_BLOCKS replace the table entries of their component and the source reads "yosys".  The LUT unit
comes from the synthesised selector of the design's own kind, book size and bank count (lut_unit_block): the whole
unit's area (banks, argmin, IDX packing, registers) spread over its banks, so that units x banks x the per-bank
area is units x the synthesised unit.  The table's `lut_unit.bank` estimate is only the fallback for a design with no
such row (e.g. edge-large's 16 banks at D=32, or the SeDA selector, which has no RTL).
"""
from __future__ import annotations

import csv
from pathlib import Path

from .energy import EnergyTable
from .spec import ArchSpec, LutUnit

YOSYS_AREA_CSV = Path(__file__).resolve().parents[2] / "rtl_models" / "data" / "area.csv"
FOUR_BIT_MODES = ("dialect4", "fp4_scaled", "int4")
# area-table component -> RTL block of rtl_models/data/area.csv that implements it
YOSYS_BLOCKS = {"pe.mac4_lane": "mac_lane_dialectfp4", "pe.int8_lane": "mac_lane_int8",
                "pe.block_scaler": "bs_fp32_acc"}
LUT_BANK = "lut_unit.bank"


def lut_unit_block(lut: LutUnit) -> str | None:
    """The rtl_models/data/area.csv row that synthesises this LUT unit (one unit), or None (no RTL of its kind)."""
    if lut.selector == "lut_argmin":
        return f"lut_selector_d{lut.book_size}_b{lut.banks}"
    if lut.selector == "two_stage":
        return f"two_stage_selector_d{lut.book_size}"
    return None


def per_instance_areas(table: EnergyTable, csv_path: Path | None = YOSYS_AREA_CSV,
                       arch: ArchSpec | None = None) -> tuple:
    """(component -> um^2 at the table's node, component -> source), with Yosys overrides applied; the LUT unit's
    bank only for a given `arch` (its row depends on the design's selector, book size and banks)."""
    areas, sources = dict(table.area_um2), {k: table.sources[k] for k in table.area_um2}
    if csv_path is not None and Path(csv_path).is_file():
        with open(csv_path, newline="") as f:
            by_block = {row["block"]: row for row in csv.DictReader(f) if row.get("area_um2")}
        for name, block in YOSYS_BLOCKS.items():
            if name in areas and block in by_block:
                areas[name] = float(by_block[block]["area_um2"])
                sources[name] = f"yosys: {block} ({Path(csv_path).name})"
        block = lut_unit_block(arch.lut_unit) if arch is not None else None
        if block in by_block:
            areas[LUT_BANK] = float(by_block[block]["area_um2"]) / arch.lut_unit.banks
            sources[LUT_BANK] = f"yosys: {block} ({Path(csv_path).name}) / {arch.lut_unit.banks} banks"
    return areas, sources


def instance_counts(arch: ArchSpec) -> dict:
    """How many of each area-table component the design has, by component group."""
    pe, modes = arch.pe_array, dict(arch.pe_array.mac_modes)
    pes = pe.rows * pe.cols
    lanes4 = max([modes[m] for m in FOUR_BIT_MODES if m in modes], default=0)
    fp_lanes = max(modes.get("fp16", 0), modes.get("w4a16", 0))
    lut = arch.lut_unit
    return {
        "pe_array": {"pe.mac4_lane": pes * lanes4, "pe.int8_lane": pes * modes.get("int8", 0) if not lanes4 else 0,
                     "pe.fp16_lane": pes * fp_lanes, "pe.block_scaler": pes if lanes4 else 0},
        # one decode LUT per 4-bit lane on each array edge: D dialects x 8 entries x 4 bits
        "decode_lut": {"decode_lut.entry_bit": (pe.rows + pe.cols) * lanes4 * arch.decode_lut.max_dialects * 32},
        "lut_unit": {LUT_BANK: lut.units * lut.banks if lanes4 else 0},
        "vector_unit": {"vector_unit.lane": arch.vector_unit.lanes},
    }


def area_mm2(arch: ArchSpec, table: EnergyTable, csv_path: Path | None = YOSYS_AREA_CSV) -> dict:
    """Area per component group in mm^2 at the design's node; SRAM from its bit count."""
    _, af = table.factors(arch.technology.node_nm)
    areas, _ = per_instance_areas(table, csv_path, arch)
    out = {group: sum(areas[c] * n for c, n in parts.items()) * af / 1e6
           for group, parts in instance_counts(arch).items()}
    for b in ("inputs", "weights", "outputs"):
        out[f"sram_{b}"] = getattr(arch.global_buffer, b).size_bytes * 8 * areas["sram.bit"] * af / 1e6
    return out
