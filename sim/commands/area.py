"""`sim area`: silicon area of the RTL blocks from Yosys synthesis (rtl_models/data/area.csv), as a table of MAC
types (dialect vs FP4, INT4, INT8) and selectors (D=16 vs D=32 vs two-stage).  `--regen` re-runs Yosys."""
from __future__ import annotations

import json

from .. import cli

SOURCE_NOTE = ("Yosys 0.23, synth -flatten -noabc -noshare; abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX; NanGate FreePDK45 X1 "
               "cell areas (rtl_models/gate_areas.py); pre-placement cell area")


def register(sub):
    p = sub.add_parser("area", help="area of the RTL blocks (MACs, selectors) from Yosys synthesis")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--regen", action="store_true", help="re-run Yosys and rewrite rtl_models/data/area.csv")
    p.set_defaults(func=run)


def _rows(regen: bool) -> list:
    from rtl_models import synth
    if regen:
        return [{k: str(v) for k, v in r.items()} for r in synth.regenerate(log=lambda *_: None)]
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


def run(args) -> int:
    rows = _rows(args.regen)
    rel = {**relative(rows, "mac_lane_int8"), **relative(rows, "block_dot_int8"),
           **relative(rows, "lut_selector_d16_b16")}
    if args.json:
        print(json.dumps({"source": SOURCE_NOTE, "blocks": [
            {"block": r["block"], "group": r["group"], "parameters": r["parameters"], "cells": int(r["cells"]),
             "flip_flops": int(r["flip_flops"]), "area_um2": float(r["area_um2"]), "nand2_eq": float(r["nand2_eq"]),
             "relative": rel.get(r["block"])} for r in rows]}, indent=1))
        return 0
    print(f"# {SOURCE_NOTE}")
    print("# relative: to the INT8 MAC (MACs), to the INT8 block dot (block dots)")
    if not any(r["group"] == "selector" for r in rows):
        print("# selectors: not in the table yet (Yosys does not finish their ROM logic within the time limit; "
              "try `python -m rtl_models.synth --selectors`)")
    header = f"{'block':<26}{'parameters':<22}{'cells':>7}{'FFs':>6}{'area um2':>11}{'NAND2 eq':>10}{'relative':>10}"
    print(header)
    print("-" * len(header))
    for r in rows:
        rv = rel.get(r["block"])
        print(f"{r['block']:<26}{r['parameters']:<22}{int(r['cells']):>7}{int(r['flip_flops']):>6}"
              f"{float(r['area_um2']):>11.1f}{float(r['nand2_eq']):>10.1f}{('' if rv is None else f'{rv:.3f}'):>10}")
    return 0
