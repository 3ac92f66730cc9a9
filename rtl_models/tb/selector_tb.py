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
from .vectors import selector_blocks, zero_rule_blocks


def reference(book, selector: str, x: np.ndarray):
    """(q, sign bits, zero flags, dialect, codes) per block from quant (the NumPy spec)."""
    xb = as_blocks(x, 32)                                   # (n, 1, 32)
    e = block_exponent(xb)
    q = intermediate_q(xb, e)[:, 0, :]
    dialect, codes = select_encode(selector, xb, e, book)
    zero = ~np.any(xb[:, 0, :] != 0, axis=-1)               # the reference encoder's zero-block rule
    return q, np.signbit(x), zero, dialect[:, 0], codes[:, 0, :]


async def _monitor(dut, sb: common.Scoreboard, out_cycles: list):
    cycle = 0
    while True:
        await cc.rising_edge(dut.clk)
        await cc.read_only()
        cycle += 1
        if dut.out_valid.value == 1:
            sb.observe((cc.read_uint(dut.out_dialect), cc.read_uint(dut.out_codes)))
            out_cycles.append(cycle)


async def _drive(dut, q, sign, zero):
    """Stream the blocks, honouring in_ready where the selector has one; the zero flag goes to selectors that
    take it (two_stage_selector's in_zero; lut_selector needs none: every dialect has ERR[d][0] = 0, so an
    all-q-zero block costs 0 everywhere and the lowest id, 0, wins)."""
    has_ready, has_zero = hasattr(dut, "in_ready"), hasattr(dut, "in_zero")
    i = 0
    while i < len(q):
        await cc.falling_edge(dut.clk)
        if not has_ready or dut.in_ready.value == 1:
            cc.write(dut.in_q, common.pack(q[i], 5))
            cc.write(dut.in_sign, common.pack(sign[i], 1))
            if has_zero:
                dut.in_zero.value = int(zero[i])
            dut.in_valid.value = 1
            i += 1
        else:
            dut.in_valid.value = 0
    await cc.falling_edge(dut.clk)
    dut.in_valid.value = 0


async def _run_blocks(dut, x: np.ndarray, label: str):
    """Drive blocks `x` (n, 32) through the selector and check every (dialect, codes) against the reference;
    returns (reference dialects, q, zero flags, output cycles, matched)."""
    cfg = common.config()
    d = cc.parameter(dut, "D")
    book = book_for_size(d)
    q, sign, zero, dialect, codes = reference(book, cfg.get("selector", "lut_argmin"), x)
    sb = common.Scoreboard(f"{dut._name} D={d} ({label})")
    for i in range(len(x)):
        sb.expect((dialect[i], common.pack(codes[i], 4)), context=f"block {i} q={q[i].tolist()} zero={zero[i]}")
    dut.in_valid.value = 0
    cc.start_clock(dut.clk)
    await common.reset(dut)
    out_cycles = []
    cc.start_soon(_monitor(dut, sb, out_cycles))
    await _drive(dut, q, sign, zero)
    for _ in range(4 * d + 8):
        if not sb.pending:
            break
        await cc.rising_edge(dut.clk)
    return dialect, q, zero, out_cycles, sb.check()


@cc.test()
async def selector_matches_reference(dut):
    cfg = common.config()
    x = selector_blocks(book_for_size(cc.parameter(dut, "D")), cfg.get("n_random", 200), seed=cfg.get("seed", 0))
    dialect, _, _, out_cycles, matched = await _run_blocks(dut, x, "selector blocks")
    per_block = (out_cycles[-1] - out_cycles[0]) / (len(out_cycles) - 1)
    common.write_result("selector", {"blocks": len(x), "matched": matched, "cycles_per_block": per_block,
                                     "dialects_chosen": int(len(np.unique(dialect)))})


@cc.test()
async def zero_rule_matches_reference(dut):
    """Blocks of +-0 against nonzero blocks whose q are all 0 (every |x| < 2^-130, so e = -127): the reference
    gives the first dialect 0 and the second whatever the selector picks from q = 0, which the zero flag tells
    apart (two_stage: the smallest-maximum pair's B dialect)."""
    x = zero_rule_blocks()
    dialect, q, zero, _, matched = await _run_blocks(dut, x, "zero rule")
    q_zero = q.max(axis=-1) == 0
    common.write_result("zero_rule", {"blocks": len(x), "matched": matched,
                                      "zero_block_ids": sorted({int(v) for v in dialect[zero]}),
                                      "q_zero_nonzero_ids": sorted({int(v) for v in dialect[q_zero & ~zero]}),
                                      "q_zero_nonzero_blocks": int((q_zero & ~zero).sum())})
