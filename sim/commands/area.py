"""`sim area`: silicon area of the RTL blocks from Yosys synthesis (rtl_models/data/area.csv), as a table of MAC
types (dialect vs FP4, INT4, INT8) and selectors (D=16 vs D=32 vs two-stage), then the selectors by throughput
(blocks per cycle) and area per unit of throughput.  `--regen` re-runs Yosys."""
from __future__ import annotations

import json

from .. import cli

SOURCE_NOTE = ("Yosys 0.23, synth -flatten -noabc -noshare; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX (Yosys's script, &fraig "
               "conflicts capped, rtl_models/synth.py); NanGate FreePDK45 X1 cell areas (rtl_models/gate_areas.py); "
               "pre-placement cell area")


def register(sub):
    p = sub.add_parser("area", help="area of the RTL blocks (MACs, selectors) from Yosys synthesis")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--regen", action="store_true",
                   help="re-run Yosys on every block and rewrite rtl_models/data/area.csv (minutes; "
                        "`python -m rtl_models.synth --selectors` redoes only the selector rows)")
    p.set_defaults(func=run)


def _rows(regen: bool) -> list:
    from rtl_models import synth
    if regen:
        return [{k: str(v) for k, v in r.items()} for r in synth.regenerate(log=lambda *_: None)]   # every row
    if not synth.AREA_CSV.exists():
        raise cli.CliError(f"{synth.AREA_CSV} is missing; run `sim area --regen` (needs yosys)")
    return synth.read_csv()


def relative(rows: list, ref: str) -> dict:
    """Area of each block relative to block `ref` in the same group."""
    by = {r["block"]: float(r["area_um2"]) for r in rows}
    group_of = {r["block"]: r["group"] for r in rows}
    if ref not in by:
        return {}
    return {b: round(a / by[ref], 3) for b, a in by.items() if group_of[b] == group_of[ref]}


SELECTOR_REF = "lut_selector_d16_b16"


def selector_comparison(rows: list) -> list:
    """Selectors side by side: area, NAND2 equivalents, throughput (blocks per cycle) and area per unit of
    throughput (um^2 per block/cycle), each also relative to the D=16 one-block-per-cycle LUT selector."""
    sel = [r for r in rows if r["group"] == "selector" and r.get("blocks_per_cycle")]
    out = [{"block": r["block"], "parameters": r["parameters"], "area_um2": float(r["area_um2"]),
            "nand2_eq": float(r["nand2_eq"]), "blocks_per_cycle": float(r["blocks_per_cycle"]),
            "area_per_throughput_um2": round(float(r["area_um2"]) / float(r["blocks_per_cycle"]), 3)} for r in sel]
    ref = next((o for o in out if o["block"] == SELECTOR_REF), None)
    for o in out:
        o["relative_area"] = round(o["area_um2"] / ref["area_um2"], 3) if ref else None
        o["relative_area_per_throughput"] = (round(o["area_per_throughput_um2"] / ref["area_per_throughput_um2"], 3)
                                             if ref else None)
    return out


def _print_selectors(sel: list):
    print()
    print(f"# selectors: throughput and area per unit of throughput (um2 per block/cycle); relative to {SELECTOR_REF}")
    header = (f"{'block':<26}{'parameters':<25}{'area um2':>11}{'NAND2 eq':>10}{'blocks/cyc':>11}"
              f"{'um2/(blk/cyc)':>15}{'rel area':>10}{'rel per blk/cyc':>17}")
    print(header)
    print("-" * len(header))
    for o in sel:
        ra, rt = o["relative_area"], o["relative_area_per_throughput"]
        print(f"{o['block']:<26}{o['parameters']:<25}{o['area_um2']:>11.1f}{o['nand2_eq']:>10.1f}"
              f"{o['blocks_per_cycle']:>11.3g}{o['area_per_throughput_um2']:>15.1f}"
              f"{('' if ra is None else f'{ra:.3f}'):>10}{('' if rt is None else f'{rt:.3f}'):>17}")


def run(args) -> int:
    rows = _rows(args.regen)
    rel = {**relative(rows, "mac_lane_int8"), **relative(rows, "block_dot_int8"), **relative(rows, SELECTOR_REF)}
    sel = selector_comparison(rows)
    if args.json:
        print(json.dumps({"source": SOURCE_NOTE, "blocks": [
            {"block": r["block"], "group": r["group"], "parameters": r["parameters"], "cells": int(r["cells"]),
             "flip_flops": int(r["flip_flops"]), "area_um2": float(r["area_um2"]), "nand2_eq": float(r["nand2_eq"]),
             "relative": rel.get(r["block"])} for r in rows], "selectors": sel}, indent=1))
        return 0
    print(f"# {SOURCE_NOTE}")
    print(f"# relative: to the INT8 MAC (MACs), to the INT8 block dot (block dots), to {SELECTOR_REF} (selectors)")
    if not sel:
        print("# selectors: not in the table (regenerate them with `python -m rtl_models.synth --selectors`)")
    header = f"{'block':<26}{'parameters':<25}{'cells':>7}{'FFs':>6}{'area um2':>11}{'NAND2 eq':>10}{'relative':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        rv = rel.get(r["block"])
        print(f"{r['block']:<26}{r['parameters']:<25}{int(r['cells']):>7}{int(r['flip_flops']):>6}"
              f"{float(r['area_um2']):>11.1f}{float(r['nand2_eq']):>10.1f}{('' if rv is None else f'{rv:.3f}'):>10}")
    if sel:
        _print_selectors(sel)
    return 0
