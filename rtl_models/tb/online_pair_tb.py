"""Testbench for online_pair_gemm: a GEMM A B^T of two activations, both quantized online by the RTL's LUT selector
path, as in full-path attention.  For each GEMM the driver streams the raw float32 blocks of A and B (interleaved
by row) and raises start with the last one; a monitor checks every quantized word written into the operand
buffers (exponent, dialect id, 32 codes) against quant's quantization of the same operand, records the edge that
wrote each output, and counts cycles; then every float32 output is compared, as raw bits, with quant's GEMM.

Reference: the operand specs of the full-path recipe (RECIPE's attention.q/k for "qk" GEMMs and attention.p/v for
"pv"; "extremes" uses q/k), quantized with quant.quantize, multiplied with quant.qgemm (the reference back end).
Config: "gemms" [[kind, M, N, K], ...] with kind in qk, pv, extremes (tb/vectors.attention_operands)."""
from __future__ import annotations

import numpy as np

import quant
from quant.blocks import as_blocks, block_exponent, intermediate_q
from quant.recipes import recipe
from quant.registry import get_format

from .. import cocotb_compat as cc
from ..rom import book_for_size
from . import common
from .array_tb import check_outputs, entries, read_results
from .vectors import BLOCK, attention_operands

RECIPE = "semanticdialect-fullpath"
DRAIN = 2                                   # pe_array_gemm's controller state that writes results


def operand_specs(kind: str):
    att = recipe(RECIPE).attention
    return (att.p, att.v) if kind == "pv" else (att.q, att.k)


def quantized(x: np.ndarray, spec, name: str):
    return quant.quantize(x, spec.fmt, selector=spec.selector, tensor=name, **spec.knob_dict)


def tie_counts(x: np.ndarray, book) -> tuple:
    """(nonzero blocks whose LUT cost minimum is shared by two or more dialects, elements exactly halfway between
    two q), so the result shows that the selector's tie rules were exercised."""
    xb = as_blocks(x, BLOCK)
    e = block_exponent(xb)
    q = intermediate_q(xb, e)
    _, err = book.lut()
    cost = np.stack([err[d][q].sum(axis=-1) for d in range(book.size)], axis=-1)
    shared = (cost == cost.min(axis=-1, keepdims=True)).sum(axis=-1) >= 2
    t = np.abs(xb.astype(np.float64)) * np.exp2(2.0 - e[..., None])
    return int((shared & np.any(xb != 0, axis=-1)).sum()), int((t - np.floor(t) == 0.5).sum())


def blocks_in_order(a: np.ndarray, b: np.ndarray, max_nb: int, reverse: bool) -> list:
    """(operand, buffer address, row, block, 32 float32 bit patterns) in drive order: A row 0, B row 0, A row 1...,
    or that order reversed (then the last block driven, A row 0 block 0, is the first the array reads: start must
    wait for its buffer write)."""
    nb = -(-a.shape[1] // BLOCK)
    out = []
    for r in range(max(a.shape[0], b.shape[0])):
        for which, x in ((0, a), (1, b)):
            if r < x.shape[0]:
                padded = np.zeros(nb * BLOCK, dtype=np.float32)
                padded[: x.shape[1]] = x[r]
                for blk in range(nb):
                    out.append((which, r * max_nb + blk, r, blk, padded[blk * BLOCK:(blk + 1) * BLOCK].view(np.uint32)))
    return out[::-1] if reverse else out


class Tracker:
    """Per-cycle observation of the wrapper: quantized words, output writes, start and done edges."""

    def __init__(self, dut, sb_words: common.Scoreboard, m: int, n: int, cols: int):
        self.dut, self.sb, self.m, self.n, self.cols = dut, sb_words, m, n, cols
        self.edge, self.first_accept, self.array_start, self.done_edge = 0, None, None, None
        self.seen_pending, self.written = False, {}

    def sample(self):
        d, arr = self.dut, self.dut.arr
        self.edge += 1
        if d.q_valid.value == 1:
            word = cc.read_uint(d.q_word)
            self.sb.observe((cc.read_uint(d.q_b), cc.read_uint(d.q_addr), word >> 128, word & ((1 << 128) - 1)),
                            cycle=self.edge)
        pending = d.pending.value == 1
        if self.seen_pending and not pending and self.array_start is None:
            self.array_start = self.edge                  # this edge sampled the array's start
        self.seen_pending |= pending
        if cc.read_uint(arr.state) == DRAIN:              # this drain cycle's writes land on the next edge
            i = cc.read_uint(arr.m0) + cc.read_uint(arr.dr)
            for j in range(cc.read_uint(arr.n0), cc.read_uint(arr.n0) + self.cols):
                if i < self.m and j < self.n:
                    self.written.setdefault((i, j), self.edge + 1)
        if self.array_start is not None and d.done.value == 1:
            self.done_edge = self.edge


async def stream_and_run(dut, blocks: list, tr: Tracker, m: int, n: int, k: int):
    """Offer a block every cycle (honouring in_ready), raise start with the last one, run until done."""
    i = 0
    while tr.done_edge is None:
        await cc.falling_edge(dut.clk)
        offer = i < len(blocks)
        if offer:
            which, addr, _, _, bits = blocks[i]
            dut.in_b.value = which
            cc.write(dut.in_addr, addr)
            cc.write(dut.in_x, common.pack(bits, 32))
        dut.in_valid.value = int(offer)
        taken = offer and dut.in_ready.value == 1       # in_ready depends on registers only: accepted at the edge
        last = taken and i == len(blocks) - 1           # start goes with the last block, in the cycle it is taken
        dut.start.value = int(last)
        if last:
            cc.write(dut.cfg_m, m)
            cc.write(dut.cfg_n, n)
            cc.write(dut.cfg_k, k)
        if taken:
            i += 1
            if tr.first_accept is None:
                tr.first_accept = tr.edge + 1
        await cc.rising_edge(dut.clk)
        await cc.read_only()
        tr.sample()
        if tr.edge > 100000:
            raise AssertionError("online_pair_gemm: done never rose")
    await cc.falling_edge(dut.clk)
    dut.in_valid.value = 0
    dut.start.value = 0


def expect_words(sb: common.Scoreboard, blocks: list, qa, qb, id_bits: int):
    nb = qa.dialect.shape[1]
    words = (entries(qa), entries(qb))
    for which, addr, r, blk, bits in blocks:
        e, d, codes = words[which][r * nb + blk]
        sb.expect((which, addr, (e << id_bits) | d, codes), context=f"{'AB'[which]} row {r} block {blk}",
                  inputs=lambda bits=bits: "x = " + " ".join(f"{int(w):08x}" for w in bits))


async def one_gemm(dut, kind: str, shape, seed: int, params: dict) -> dict:
    m, n, k = shape
    book = book_for_size(params["D"])
    spec_a, spec_b = operand_specs(kind)
    for spec in (spec_a, spec_b):                       # the RTL's ROMs must be the recipe's formatbook
        assert get_format(spec.fmt).book.name == book.name, (spec.fmt, book.name)
        assert (spec.selector or get_format(spec.fmt).default_selector) == "lut_argmin", spec
    a, b, placed = attention_operands(kind, m, n, k, seed, book.magnitudes)
    qa, qb = quantized(a, spec_a, f"{kind}.a"), quantized(b, spec_b, f"{kind}.b")
    want = quant.qgemm(qa, qb).view(np.uint32)
    blocks = blocks_in_order(a, b, params["MAX_NB"], reverse=seed % 2 == 1)
    name = f"online_pair_gemm {kind} {m}x{n}x{k}"
    sb_words = common.Scoreboard(f"{name} quantized words", widths=(1, 16, 8 + params["ID_BITS"], 128))
    expect_words(sb_words, blocks, qa, qb, params["ID_BITS"])
    tr = Tracker(dut, sb_words, m, n, params["COLS"])
    await stream_and_run(dut, blocks, tr, m, n, k)
    cycles = tr.done_edge - tr.first_accept
    got = await read_results(dut, m, n, params["MAX_N"])
    words = sb_words.check()
    written = {ij: e - tr.first_accept for ij, e in tr.written.items()}    # counted as `cycles` is
    check_outputs(name, want, got, written, qa, qb, cycles)
    ids = np.concatenate([qa.dialect.ravel(), qb.dialect.ravel()])
    ties = np.add(tie_counts(a, book), tie_counts(b, book))
    return {"kind": kind, "m": m, "n": n, "k": k, "blocks": len(blocks), "words_matched": words,
            "outputs_matched": m * n, "cycles": cycles, "array_cycles": tr.done_edge - tr.array_start,
            "distinct_ids": int(len(np.unique(ids))),
            "min_exponent_blocks": int((np.concatenate([qa.exponent.ravel(), qb.exponent.ravel()]) == -127).sum()),
            "n_inf": int(np.isinf(want.view(np.float32)).sum()), "adversarial": sorted(set(placed)),
            "lut_cost_ties": int(ties[0]), "q_half_ties": int(ties[1])}


@cc.test()
async def online_pair_matches_quant(dut):
    params = {p: cc.parameter(dut, p) for p in ("ROWS", "COLS", "LANES", "PIPELINE", "D", "ID_BITS", "BANKS",
                                                "MAX_N", "MAX_NB")}
    dut.in_valid.value = 0
    dut.start.value = 0
    cc.start_clock(dut.clk)
    await common.reset(dut)
    measured = [await one_gemm(dut, kind, (m, n, k), seed, params)
                for seed, (kind, m, n, k) in enumerate(common.config().get("gemms", []))]
    common.write_result("online_pair", {"gemms": measured, "params": params})
