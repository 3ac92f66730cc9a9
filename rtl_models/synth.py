"""Yosys synthesis of the RTL blocks -> gate counts -> area (rtl_models/data/area.csv).

Script per block (Yosys 0.23): read_verilog; chparam; synth -flatten -top X -noabc -noshare (the SAT-based
resource sharing pass does not finish on the float32 adder; it is off for every block alike); dfflegalize to plain D
flip-flops; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX -script ABC_SCRIPT; opt_clean; stat -json.  Areas from gate_areas.py.

ABC_SCRIPT is Yosys 0.23's own script for `abc -g` with one change, the same for every block: SAT sweeping
(`&fraig -x`) gives up on a node after FRAIG_CONFLICTS conflicts instead of ABC's default 1 000 000.  On a D=16 LUT
selector netlist the uncapped &fraig ran for over 14 min (the rest of the script took 4 s; with the cap, ~40 s); an
unproven pair of nodes is just not merged, so the netlist stays correct and at most slightly larger.  On the datapath
blocks compared the cap changes at most 0.2 % of the cells (block_dot_int8: 15 581 vs 15 606).

The selectors' ROMs are read as whole rows (rom.py), which Yosys folds into logic; each block finishes well within
YOSYS_TIMEOUT_S.  ABC's result depends on the order in which Yosys hands it the nets, and that order shifts with any
change to the parsed sources (even an unused function in the include): equivalent netlists differ by several percent
(block_dot_int4: 4 222 or 3 762 cells, depending only on the include's text).

    python -m rtl_models.synth                 # regenerate every row of data/area.csv (also `sim area --regen`)
    python -m rtl_models.synth --selectors     # only the selector rows; the other rows are kept
    python -m rtl_models.synth --block NAME    # only the named row(s) (repeatable)
"""
from __future__ import annotations

import argparse
import csv
import json
import resource
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
YOSYS_TIMEOUT_S = 600
YOSYS_MEMORY_LIMIT_BYTES = 8 * 10 ** 9   # address-space cap for yosys and its abc child (the machine is shared)
FRAIG_CONFLICTS = 1000
# Yosys 0.23 abc.cc ABC_COMMAND_LIB (the default for `abc -g`), with the &fraig conflict cap; `{D}` is empty here
ABC_SCRIPT = ("strash; &get -n; &fraig -x -C {conflicts}; &put; scorr; dc2; dretime; strash; &get -n; &dch -f; &nf; "
              "&put")


@dataclass(frozen=True)
class SynthBlock:
    name: str           # row name in area.csv
    group: str          # "mac_lane", "block_dot", "accumulator", "selector"
    top: str
    sources: tuple
    parameters: tuple = ()
    book_size: int = 16  # every file that decodes dialects includes the generated ROM
    note: str = ""
    blocks_per_cycle: float | None = None   # selectors: throughput (the testbench asserts D/BANKS cycles per block)


EDGE_SOURCES = ("trees.v", "mac_units.v", "edge_decoders.v")
BLOCKS = (
    SynthBlock("mac_lane_dialectfp4", "mac_lane", "mac_lane_dialect", ("trees.v", "mac_units.v"),
               (("D", 16), ("ID_BITS", 4)), note="decode ROM x2 + 5x5 signed multiply + 14-bit accumulator"),
    SynthBlock("mac_lane_int5", "mac_lane", "mac_lane_int5", ("trees.v", "mac_units.v"),
               note="5x5 signed multiply + 14-bit accumulator; operands decoded at the array edge"),
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
    # edge decoders, one element each: (dialect id, 4-bit code) -> 5-bit signed integer
    SynthBlock("decoder_dialect_d16", "decoder", "decoder_dialect_compact", ("decoder_compact.v",),
               note="compact DialectFP4 decode: levels 0-4 shared, 1-bit + 16-entry tables, level 7 = 15 - id/2"),
    SynthBlock("decoder_dialect_d16_rom", "decoder", "decoder_dialect", EDGE_SOURCES, (("D", 16), ("ID_BITS", 4)),
               note="decode ROM of DialectFP4 (16 x 8 x 4 bits), for comparison with the compact form"),
    SynthBlock("decoder_dialect_d32", "decoder", "decoder_dialect", EDGE_SOURCES, (("D", 32), ("ID_BITS", 5)),
               book_size=32, note="decode ROM of the 32-dialect book (32 x 8 x 4 bits)"),
    SynthBlock("decoder_e2m1", "decoder", "decode_e2m1", ("trees.v", "mac_units.v"), note="FP4 E2M1 decode"),
    SynthBlock("bs_fp32_acc", "accumulator", "bs_fp32_acc", ("bs_fp32_acc.v",),
               note="exact 2^s scaling + IEEE RNE float32 add + 32-bit register"),
    SynthBlock("bs_nvfp4_acc", "accumulator", "bs_nvfp4_acc", ("bs_fp32_acc.v", "bs_nvfp4_acc.v"),
               note="E4M3 x E4M3 block scale (4x4-bit significands, 13x8-bit P multiply, exact) + IEEE RNE float32 "
                    "add + 32-bit register"),
)

# The selectors: the LUT argmin unit at D = 16 and 32 dialects, with D banks (one block per cycle) and D/4 banks (one
# block per 4 cycles), and the BlockDialect two-stage selector (sim/accel/area.py uses them for the LUT unit).
SELECTOR_BLOCKS = (
    SynthBlock("lut_selector_d16_b16", "selector", "lut_selector", ("trees.v", "lut_selector.v"),
               (("D", 16), ("ID_BITS", 4), ("BANKS", 16)), note="LUT argmin, 16 banks", blocks_per_cycle=1.0),
    SynthBlock("lut_selector_d16_b4", "selector", "lut_selector", ("trees.v", "lut_selector.v"),
               (("D", 16), ("ID_BITS", 4), ("BANKS", 4)), note="LUT argmin, 4 banks x 4 passes",
               blocks_per_cycle=0.25),
    SynthBlock("lut_selector_d32_b32", "selector", "lut_selector", ("trees.v", "lut_selector.v"),
               (("D", 32), ("ID_BITS", 5), ("BANKS", 32)), book_size=32, note="LUT argmin, 32 banks",
               blocks_per_cycle=1.0),
    SynthBlock("lut_selector_d32_b8", "selector", "lut_selector", ("trees.v", "lut_selector.v"),
               (("D", 32), ("ID_BITS", 5), ("BANKS", 8)), book_size=32, note="LUT argmin, 8 banks x 4 passes",
               blocks_per_cycle=0.25),
    SynthBlock("two_stage_selector_d16", "selector", "two_stage_selector", ("trees.v", "two_stage_selector.v"),
               (("D", 16), ("ID_BITS", 4)), note="BlockDialect two-stage", blocks_per_cycle=1.0),
)
ALL_BLOCKS = BLOCKS + SELECTOR_BLOCKS
FIELDS = ("block", "group", "top", "parameters", "book", "cells", "flip_flops", "area_um2", "nand2_eq", "cell_counts",
          "blocks_per_cycle", "synth_s", "note")


def yosys_script(block: SynthBlock, include_dir: Path, stat_json: Path, abc_script: Path) -> str:
    files = " ".join(str(HDL_DIR / s) for s in block.sources)
    chparams = "".join(f"chparam -set {k} {v} {block.top}; " for k, v in block.parameters)
    return (f"read_verilog -I{include_dir} {files}; {chparams}"
            f"synth -flatten -top {block.top} -noabc -noshare; dfflegalize -cell $_DFF_P_ x; "
            f"abc -g {GATES} -script {abc_script}; opt_clean; tee -q -o {stat_json} stat -json")


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (YOSYS_MEMORY_LIMIT_BYTES, YOSYS_MEMORY_LIMIT_BYTES))


def synthesize(block: SynthBlock) -> dict:
    """Run Yosys on one block; returns {cell type: count}."""
    if shutil.which("yosys") is None:
        raise RuntimeError("yosys is not installed: apt-get install -y yosys (see setup.sh)")
    with tempfile.TemporaryDirectory() as tmp:
        write_rom_include(book_for_size(block.book_size), tmp)
        stat_json, abc_script = Path(tmp) / "stat.json", Path(tmp) / "abc.script"
        abc_script.write_text(ABC_SCRIPT.format(conflicts=FRAIG_CONFLICTS).replace("; ", "\n") + "\n")
        try:
            proc = subprocess.run(["yosys", "-q", "-p", yosys_script(block, Path(tmp), stat_json, abc_script)],
                                  capture_output=True, text=True, timeout=YOSYS_TIMEOUT_S, preexec_fn=_limit_memory)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"yosys did not finish {block.name} within YOSYS_TIMEOUT_S = {YOSYS_TIMEOUT_S} s "
                               "(rtl_models/synth.py)") from None
        if proc.returncode != 0:
            raise RuntimeError(f"yosys failed on {block.name} (exit {proc.returncode}; memory cap "
                               f"{YOSYS_MEMORY_LIMIT_BYTES / 1e9:g} GB): {(proc.stderr or proc.stdout)[-2000:]}")
        stat = json.loads(stat_json.read_text())
    return dict(stat["design"]["num_cells_by_type"])


def area_row(block: SynthBlock, cells: dict, seconds: float) -> dict:
    a = area_um2(cells)
    return {"block": block.name, "group": block.group, "top": block.top,
            "parameters": " ".join(f"{k}={v}" for k, v in block.parameters),
            "book": book_for_size(block.book_size).name if "dialect" in block.top or "selector" in block.top else "",
            "cells": sum(cells.values()), "flip_flops": cells.get("$_DFF_P_", 0), "area_um2": a,
            "nand2_eq": round(a / NAND2_UM2, 1), "cell_counts": json.dumps(cells, sort_keys=True),
            "blocks_per_cycle": "" if block.blocks_per_cycle is None else block.blocks_per_cycle,
            "synth_s": round(seconds, 2), "note": block.note}


def regenerate(blocks=ALL_BLOCKS, path: Path = AREA_CSV, log=print) -> list:
    """Synthesise `blocks` and write their rows into `path`; rows of other blocks already there are kept (in
    ALL_BLOCKS order).  Returns every row of the written table."""
    new = {}
    for b in blocks:
        t0 = time.perf_counter()
        cells = synthesize(b)
        new[b.name] = area_row(b, cells, time.perf_counter() - t0)
        log(f"{b.name}: {new[b.name]['cells']} cells, {new[b.name]['area_um2']} um^2 ({new[b.name]['synth_s']} s)")
    old = {r["block"]: r for r in read_csv(path)} if Path(path).exists() else {}
    order = [b.name for b in ALL_BLOCKS] + sorted(set(old) - {b.name for b in ALL_BLOCKS})
    rows = [new.get(n) or old[n] for n in order if n in new or n in old]
    write_csv(rows, path)
    return rows


def write_csv(rows: list, path: Path = AREA_CSV):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS, restval="")
        w.writeheader()
        w.writerows(rows)


def read_csv(path: Path = AREA_CSV) -> list:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _blocks_from_args(argv=None) -> tuple:
    p = argparse.ArgumentParser(prog="python -m rtl_models.synth", description="Yosys area of the RTL blocks")
    p.add_argument("--selectors", action="store_true", help="only the selector rows (the others are kept)")
    p.add_argument("--block", action="append", default=[], metavar="NAME",
                   help=f"only this row (repeatable): {', '.join(b.name for b in ALL_BLOCKS)}")
    args = p.parse_args(argv)
    by_name = {b.name: b for b in ALL_BLOCKS}
    unknown = [n for n in args.block if n not in by_name]
    if unknown:
        p.error(f"unknown block(s) {', '.join(unknown)}; valid: {', '.join(by_name)}")
    if args.block:
        return tuple(by_name[n] for n in args.block)
    return SELECTOR_BLOCKS if args.selectors else ALL_BLOCKS


if __name__ == "__main__":
    regenerate(_blocks_from_args())
