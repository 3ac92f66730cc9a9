"""Testbench for lut_selector and two_stage_selector: a driver streams blocks of (q, sign) honouring in_ready, a
monitor collects (dialect, codes) on out_valid, the reference is quant's own select_encode on the float blocks,
and a scoreboard compares raw bits.  Also measures cycles per block (throughput)."""
from __future__ import annotations

import numpy as np

from quant.blocks import as_blocks, block_exponent, intermediate_q
from quant.reference_backend import select_encode

from .. import cocotb_compat as cc
from ..rom import book_for_size
from . import common
from .vectors import selector_blocks


def reference(book, selector: str, x: np.ndarray):
    """(q, sign bits, dialect, codes) per block from quant (the NumPy spec)."""
    xb = as_blocks(x, 32)                                   # (n, 1, 32)
    e = block_exponent(xb)
    q = intermediate_q(xb, e)[:, 0, :]
    dialect, codes = select_encode(selector, xb, e, book)
    return q, np.signbit(x), dialect[:, 0], codes[:, 0, :]


async def _monitor(dut, sb: common.Scoreboard, out_cycles: list):
    cycle = 0
    while True:
        await cc.rising_edge(dut.clk)
        await cc.read_only()
        cycle += 1
        if dut.out_valid.value == 1:
            sb.observe((cc.read_uint(dut.out_dialect), cc.read_uint(dut.out_codes)))
            out_cycles.append(cycle)


async def _drive(dut, q, sign, has_ready: bool):
    i = 0
    while i < len(q):
        await cc.falling_edge(dut.clk)
        if not has_ready or dut.in_ready.value == 1:
            cc.write(dut.in_q, common.pack(q[i], 5))
            cc.write(dut.in_sign, common.pack(sign[i], 1))
            dut.in_valid.value = 1
            i += 1
        else:
            dut.in_valid.value = 0
    await cc.falling_edge(dut.clk)
    dut.in_valid.value = 0


@cc.test()
async def selector_matches_reference(dut):
    cfg = common.config()
    d = cc.parameter(dut, "D")
    book = book_for_size(d)
    selector = cfg.get("selector", "lut_argmin")
    x = selector_blocks(book, cfg.get("n_random", 200), seed=cfg.get("seed", 0))
    q, sign, dialect, codes = reference(book, selector, x)
    sb = common.Scoreboard(f"{dut._name} D={d}")
    for i in range(len(x)):
        sb.expect((dialect[i], common.pack(codes[i], 4)), context=f"block {i} q={q[i].tolist()}")
    dut.in_valid.value = 0
    cc.start_clock(dut.clk)
    await common.reset(dut)
    out_cycles = []
    cc.start_soon(_monitor(dut, sb, out_cycles))
    has_ready = hasattr(dut, "in_ready")
    await _drive(dut, q, sign, has_ready)
    for _ in range(4 * d + 8):
        if not sb.pending:
            break
        await cc.rising_edge(dut.clk)
    sb.check()
    per_block = (out_cycles[-1] - out_cycles[0]) / (len(out_cycles) - 1)
    common.write_result("selector", {"blocks": len(x), "matched": sb.matched, "cycles_per_block": per_block,
                                     "dialects_chosen": int(len(np.unique(dialect)))})
