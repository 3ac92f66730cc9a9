"""Component areas: instance counts from the arch spec x per-instance areas from the energy table, node-scaled.

Where decoding happens (one choice, the same in RTL, area and energy): 4-bit elements are decoded at the array
edge, one decoder per lane on each edge (rows x lanes for X, cols x lanes for W), and the PE lanes multiply 5-bit
signed integers (`mac_lane_int5`; INT4 lanes 4-bit, INT8 lanes 8-bit, no decoder).  Each PE has one block scaler
per scale kind its lanes need (pow2 for dialect / MXFP4, pow2_wide for MX FP8, E4M3 product for NVFP4, float for
INT4 / INT8; no sharing between kinds is modelled [ours]).

Swappable: when rtl_models/data/area.csv exists (Yosys synthesis of the RTL, 45 nm NanGate cell areas), the blocks
named in YOSYS_BLOCKS replace the table entries of their component and the source reads "yosys".  The LUT unit comes
from the synthesised selector of the design's own kind, book size and bank count (lut_unit_block): the whole unit's
area spread over its banks, so that units x banks x the per-bank area is units x the synthesised unit.  The table's
`lut_unit.bank` estimate is only the fallback for a design with no such row (e.g. 16 banks at D=32, or SeDA).
"""
from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path

from .energy import EnergyTable
from .recipes import BLOCK_SCALE_KIND, DECODER_KIND
from .spec import ACT_QUANTIZER_LANES, ArchSpec, LutUnit

YOSYS_AREA_CSV = Path(__file__).resolve().parents[2] / "rtl_models" / "data" / "area.csv"
INT5_LANE_MODES = ("dialect4", "e2m1", "fp4_scaled")
# area-table component -> RTL block of rtl_models/data/area.csv that implements it
YOSYS_BLOCKS = {"pe.int5_lane": "mac_lane_int5", "pe.int4_lane": "mac_lane_int4", "pe.int8_lane": "mac_lane_int8",
                "pe.scaler_pow2": "bs_fp32_acc", "pe.scaler_e4m3": "bs_nvfp4_acc",
                "decoder.dialect_d16": "decoder_dialect_d16", "decoder.dialect_d32": "decoder_dialect_d32",
                "decoder.e2m1": "decoder_e2m1"}
LUT_BANK = "lut_unit.bank"


def lut_unit_block(lut: LutUnit) -> str | None:
    """The rtl_models/data/area.csv row that synthesises this LUT unit (one unit), or None (no RTL of its kind)."""
    if lut.selector == "lut_argmin":
        return f"lut_selector_d{lut.book_size}_b{lut.banks}"
    if lut.selector == "two_stage":
        return f"two_stage_selector_d{lut.book_size}"
    return None


@lru_cache(maxsize=4)
def _yosys_rows(csv_path: str) -> dict:
    with open(csv_path, newline="") as f:
        return {row["block"]: float(row["area_um2"]) for row in csv.DictReader(f) if row.get("area_um2")}


def per_instance_areas(table: EnergyTable, csv_path: Path | None = YOSYS_AREA_CSV,
                       arch: ArchSpec | None = None) -> tuple:
    """(component -> um^2 at the table's node, component -> source), with Yosys overrides applied; the LUT unit's
    bank only for a given `arch` (its row depends on the design's selector, book size and banks)."""
    areas, sources = dict(table.area_um2), {k: table.sources[k] for k in table.area_um2}
    if csv_path is not None and Path(csv_path).is_file():
        by_block = _yosys_rows(str(csv_path))
        for name, block in YOSYS_BLOCKS.items():
            if name in areas and block in by_block:
                areas[name] = by_block[block]
                sources[name] = f"yosys: {block} ({Path(csv_path).name})"
        block = lut_unit_block(arch.lut_unit) if arch is not None else None
        if block in by_block:
            areas[LUT_BANK] = by_block[block] / arch.lut_unit.banks
            sources[LUT_BANK] = f"yosys: {block} ({Path(csv_path).name}) / {arch.lut_unit.banks} banks"
    return areas, sources


def lane_kinds(modes: dict) -> dict:
    """Lane component -> lanes per PE.  INT4 and INT8 run on the 5-bit lanes when a design has them (an 8x8
    product from four 5x5 multipliers' worth of area [ours]), so they add area only where they are the only kind.
    FP8 (MX E4M3) lanes are always their own."""
    int5 = max([modes[m] for m in INT5_LANE_MODES if m in modes], default=0)
    lanes = {"pe.int5_lane": int5}
    lanes["pe.int4_lane"] = modes.get("int4", 0) if not int5 else 0
    lanes["pe.int8_lane"] = modes.get("int8", 0) if not (int5 or lanes["pe.int4_lane"]) else 0
    lanes["pe.fp8_lane"] = modes.get("fp8", 0)        # its own lanes: significand products into a 41-bit tree [ours]
    lanes["pe.fp16_lane"] = max(modes.get("fp16", 0), modes.get("w4a16", 0))
    return lanes


# bits a PE holds of the stationary operand in ws / is: its widest mode's lanes x decoded bits per lane (4-bit
# lanes multiply 5-bit integers; INT8 lanes 8 bits; FP16 16) [ours]
LANE_OPERAND_BITS = {"dialect4": 5, "e2m1": 5, "fp4_scaled": 5, "int4": 5, "int8": 8, "fp8": 8, "w4a16": 16,
                     "fp16": 16}   # fp8: the E4M3 code itself [ours]
ACC_BITS = 32          # the float32 accumulator


def register_bits(pe) -> dict:
    """Per PE: bits of the second register (`shadow_registers`: the accumulator's twin where the array runs os,
    the stationary operand's where it runs ws or is) and of the dataflow-switch muxes (an array that runs more
    than one dataflow: operand hold + partial-sum input select)."""
    dfs = pe.mapper_dataflows
    operand = max(n * LANE_OPERAND_BITS[m] for m, n in pe.mac_modes)
    k_on_rows = any(d in ("ws", "is") for d in dfs)
    shadow = (ACC_BITS * ("os" in dfs) + operand * k_on_rows) if pe.shadow_registers else 0
    switch = operand + ACC_BITS if len(dfs) > 1 else 0
    return {"pe.shadow_register_bit": shadow, "pe.dataflow_switch_bit": switch}


def decoder_component(arch: ArchSpec) -> str | None:
    """The edge decoder of the design's 4-bit lanes: a dialect ROM decoder when it has dialect lanes, else E2M1
    when it has MXFP4 / NVFP4 lanes, else none (INT).  FP8 lanes' E4M3 decoders are counted beside it."""
    kinds = {DECODER_KIND[m] for m, _ in arch.pe_array.mac_modes if m in DECODER_KIND}
    if "dialect" in kinds:
        return f"decoder.dialect_d{arch.decode_lut.max_dialects}"
    return "decoder.e2m1" if "e2m1" in kinds else None


def instance_counts(arch: ArchSpec) -> dict:
    """How many of each area-table component the design has, by component group."""
    pe, modes = arch.pe_array, dict(arch.pe_array.mac_modes)
    pes = pe.rows * pe.cols
    lanes = lane_kinds(modes)
    four = lanes["pe.int5_lane"]
    scalers = {f"pe.scaler_{BLOCK_SCALE_KIND[m]}" for m in modes if m in BLOCK_SCALE_KIND}
    dec = decoder_component(arch)
    lut = arch.lut_unit
    return {
        "pe_array": {**{k: pes * v for k, v in lanes.items()}, **{s: pes for s in sorted(scalers)},
                     **{k: pes * v for k, v in register_bits(pe).items() if v}},
        # X-edge and W-edge decoders for the 4-bit lanes; W-edge decoders for weight-only (FP16) lanes; E4M3
        # decoders on both edges for the FP8 lanes
        "decoders": {**({dec: (pe.rows + pe.cols) * four + pe.cols * modes.get("w4a16", 0)} if dec else {}),
                     **({"decoder.e4m3": (pe.rows + pe.cols) * modes["fp8"]} if "fp8" in modes else {})},
        "lut_unit": {LUT_BANK: lut.units * lut.banks if lut.selector != "none" else 0},
        # table entries are per unit of ACT_QUANTIZER_LANES lanes; other widths scale with their lanes
        "act_quantizer": {f"act_quantizer.{k}": n * lanes / ACT_QUANTIZER_LANES for k, n, lanes in arch.act_quantizers},
        "vector_unit": {"vector_unit.lane": arch.vector_unit.lanes},
    }


def _area_of(areas: dict, component: str) -> float:
    if component in areas:
        return areas[component]
    if component.startswith("decoder.dialect_d"):        # a book size with no entry: ROM bits ~ SRAM bits
        return int(component.rsplit("d", 1)[1]) * 32 * areas["sram.bit"]
    raise KeyError(f"the energy table has no area entry {component!r}")


def area_mm2(arch: ArchSpec, table: EnergyTable, csv_path: Path | None = YOSYS_AREA_CSV) -> dict:
    """Area per component group in mm^2 at the design's node; SRAM from its bit count."""
    _, af = table.factors(arch.technology.node_nm)
    areas, _ = per_instance_areas(table, csv_path, arch)
    out = {group: sum(_area_of(areas, c) * n for c, n in parts.items()) * af / 1e6
           for group, parts in instance_counts(arch).items()}
    for b in ("inputs", "weights", "outputs"):
        out[f"sram_{b}"] = getattr(arch.global_buffer, b).size_bytes * 8 * areas["sram.bit"] * af / 1e6
    return out
