"""Yosys synthesis of the RTL blocks -> gate counts -> area (rtl_models/data/area.csv).

Script per block (Yosys 0.23): read_verilog; chparam; synth -flatten -top X -noabc -noshare (the SAT-based
resource sharing pass does not finish on the float32 adder; it is off for every block alike); dfflegalize to plain D
flip-flops; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; opt_clean; stat -json.  Areas from gate_areas.py.

    python -m rtl_models.synth            # regenerate data/area.csv (also `sim area --regen`)
"""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .gate_areas import NAND2_UM2, area_um2
from .rom import book_for_size, write_rom_include
from .runner import HDL_DIR

DATA_DIR = Path(__file__).resolve().parent / "data"
AREA_CSV = DATA_DIR / "area.csv"
GATES = "AND,NAND,OR,NOR,XOR,XNOR,MUX"
YOSYS_TIMEOUT_S = 300


@dataclass(frozen=True)
class SynthBlock:
    name: str           # row name in area.csv
    group: str          # "mac_lane", "block_dot", "accumulator", "selector"
    top: str
    sources: tuple
    parameters: tuple = ()
    book_size: int = 16  # every file that decodes dialects includes the generated ROM
    note: str = ""


BLOCKS = (
    SynthBlock("mac_lane_dialectfp4", "mac_lane", "mac_lane_dialect", ("trees.v", "mac_units.v"),
               (("D", 16), ("ID_BITS", 4)), note="decode ROM x2 + 5x5 signed multiply + 14-bit accumulator"),
    SynthBlock("mac_lane_fp4", "mac_lane", "mac_lane_fp4", ("trees.v", "mac_units.v"),
               note="E2M1 decode x2 + 5x5 signed multiply + 14-bit accumulator"),
    SynthBlock("mac_lane_int4", "mac_lane", "mac_lane_int4", ("trees.v", "mac_units.v"),
               note="4x4 signed multiply + 13-bit accumulator"),
    SynthBlock("mac_lane_int8", "mac_lane", "mac_lane_int8", ("trees.v", "mac_units.v"),
               note="8x8 signed multiply + 21-bit accumulator"),
    SynthBlock("block_dot_dialectfp4", "block_dot", "block_dot_dialect", ("trees.v", "mac_units.v"),
               (("D", 16), ("ID_BITS", 4)), note="32 lanes, decode ROMs, exact adder tree (combinational)"),
    SynthBlock("block_dot_fp4", "block_dot", "block_dot_fp4", ("trees.v", "mac_units.v")),
    SynthBlock("block_dot_int4", "block_dot", "block_dot_int4", ("trees.v", "mac_units.v")),
    SynthBlock("block_dot_int8", "block_dot", "block_dot_int8", ("trees.v", "mac_units.v")),
    SynthBlock("bs_fp32_acc", "accumulator", "bs_fp32_acc", ("bs_fp32_acc.v",),
               note="exact 2^s scaling + IEEE RNE float32 add + 32-bit register"),
)

# The selectors read their ROMs with variable addresses through generated read-only memories; Yosys 0.23 does not
# finish them within YOSYS_TIMEOUT_S on a shared 2-core machine (memory_map of hundreds of ROM read ports), so
# they are not in the committed CSV yet: `python -m rtl_models.synth --selectors` tries them.
SELECTOR_BLOCKS = (
    SynthBlock("lut_selector_d16_b16", "selector", "lut_selector", ("trees.v", "lut_selector.v"),
               (("D", 16), ("ID_BITS", 4), ("BANKS", 16)), note="1 block/cycle"),
    SynthBlock("lut_selector_d16_b4", "selector", "lut_selector", ("trees.v", "lut_selector.v"),
               (("D", 16), ("ID_BITS", 4), ("BANKS", 4)), note="4 cycles/block"),
    SynthBlock("lut_selector_d32_b32", "selector", "lut_selector", ("trees.v", "lut_selector.v"),
               (("D", 32), ("ID_BITS", 5), ("BANKS", 32)), book_size=32, note="1 block/cycle"),
    SynthBlock("lut_selector_d32_b8", "selector", "lut_selector", ("trees.v", "lut_selector.v"),
               (("D", 32), ("ID_BITS", 5), ("BANKS", 8)), book_size=32, note="4 cycles/block"),
    SynthBlock("two_stage_selector_d16", "selector", "two_stage_selector", ("trees.v", "two_stage_selector.v"),
               (("D", 16), ("ID_BITS", 4)), note="BlockDialect two-stage, 1 block/cycle"),
)


def yosys_script(block: SynthBlock, include_dir: Path, stat_json: Path) -> str:
    files = " ".join(str(HDL_DIR / s) for s in block.sources)
    chparams = "".join(f"chparam -set {k} {v} {block.top}; " for k, v in block.parameters)
    return (f"read_verilog -I{include_dir} {files}; {chparams}"
            f"synth -flatten -top {block.top} -noabc -noshare; dfflegalize -cell $_DFF_P_ x; "
            f"abc -g {GATES}; opt_clean; tee -q -o {stat_json} stat -json")


def synthesize(block: SynthBlock) -> dict:
    """Run Yosys on one block; returns {cell type: count}."""
    if shutil.which("yosys") is None:
        raise RuntimeError("yosys is not installed: apt-get install -y yosys (see setup.sh)")
    with tempfile.TemporaryDirectory() as tmp:
        write_rom_include(book_for_size(block.book_size), tmp)
        stat_json = Path(tmp) / "stat.json"
        proc = subprocess.run(["yosys", "-q", "-p", yosys_script(block, Path(tmp), stat_json)],
                              capture_output=True, text=True, timeout=YOSYS_TIMEOUT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"yosys failed on {block.name}: {(proc.stderr or proc.stdout)[-2000:]}")
        stat = json.loads(stat_json.read_text())
    return dict(stat["design"]["num_cells_by_type"])


def area_row(block: SynthBlock, cells: dict, seconds: float) -> dict:
    a = area_um2(cells)
    return {"block": block.name, "group": block.group, "top": block.top,
            "parameters": " ".join(f"{k}={v}" for k, v in block.parameters),
            "book": book_for_size(block.book_size).name if "dialect" in block.top or "selector" in block.top else "",
            "cells": sum(cells.values()), "flip_flops": cells.get("$_DFF_P_", 0), "area_um2": a,
            "nand2_eq": round(a / NAND2_UM2, 1), "cell_counts": json.dumps(cells, sort_keys=True),
            "synth_s": round(seconds, 2), "note": block.note}


def regenerate(blocks=BLOCKS, path: Path = AREA_CSV, log=print) -> list:
    rows = []
    for b in blocks:
        t0 = time.perf_counter()
        cells = synthesize(b)
        rows.append(area_row(b, cells, time.perf_counter() - t0))
        log(f"{b.name}: {rows[-1]['cells']} cells, {rows[-1]['area_um2']} um^2 ({rows[-1]['synth_s']} s)")
    write_csv(rows, path)
    return rows


def write_csv(rows: list, path: Path = AREA_CSV):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def read_csv(path: Path = AREA_CSV) -> list:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


if __name__ == "__main__":
    import sys
    regenerate(BLOCKS + SELECTOR_BLOCKS if "--selectors" in sys.argv else BLOCKS)
