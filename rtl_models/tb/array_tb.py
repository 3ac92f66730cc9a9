"""Testbench for pe_array_gemm: for each GEMM shape, quantize X (lut_argmin) and W (exact_mse) with quant,
preload the buffers through the load port (driver), start, count clock edges until done, read the result memory
(monitor) and compare every float32 output with quant.qgemm as raw bits (scoreboard).  Records the cycle count per
shape for rtl_models/data/rtl_cycles.csv."""
from __future__ import annotations

import numpy as np

import quant

from .. import cocotb_compat as cc
from . import common
from .vectors import gemm_operands


def entries(qt) -> list:
    """Buffer words per (row, block): exponent (int8) << (128 + ID_BITS) | dialect << 128 | 32 packed codes."""
    rows, nb = qt.dialect.shape
    codes = qt.codes.reshape(rows, nb, 16)                     # 16 bytes = 32 nibbles per block, low nibble first
    out = []
    for r in range(rows):
        for b in range(nb):
            out.append((int(qt.exponent[r, b]) & 0xFF, int(qt.dialect[r, b]), int.from_bytes(codes[r, b].tobytes(), "little")))
    return out


async def load(dut, qt, which: int, max_nb: int, id_bits: int):
    nb = qt.dialect.shape[1]
    for i, (e, d, c) in enumerate(entries(qt)):
        r, b = divmod(i, nb)
        await cc.falling_edge(dut.clk)
        dut.ld_we.value = 1
        dut.ld_w.value = which
        cc.write(dut.ld_addr, r * max_nb + b)
        cc.write(dut.ld_data, (e << (128 + id_bits)) | (d << 128) | c)
    await cc.falling_edge(dut.clk)
    dut.ld_we.value = 0


async def run_gemm(dut, m: int, n: int, nb: int) -> int:
    """Pulse start; return the number of rising edges after the one that samples start, through the one that
    raises done."""
    await cc.falling_edge(dut.clk)
    cc.write(dut.cfg_m, m)
    cc.write(dut.cfg_n, n)
    cc.write(dut.cfg_nb, nb)
    dut.start.value = 1
    await cc.rising_edge(dut.clk)
    await cc.falling_edge(dut.clk)
    dut.start.value = 0
    cycles = 0
    while True:
        await cc.rising_edge(dut.clk)
        await cc.read_only()
        cycles += 1
        if dut.done.value == 1:
            return cycles
        if cycles > 100000:
            raise AssertionError("pe_array_gemm: done never rose")


async def read_results(dut, m: int, n: int, max_n: int) -> np.ndarray:
    y = np.zeros((m, n), dtype=np.uint32)
    for i in range(m):
        for j in range(n):
            await cc.falling_edge(dut.clk)
            cc.write(dut.rd_addr, i * max_n + j)
            await cc.settle()
            y[i, j] = cc.read_uint(dut.rd_data)
    return y


@cc.test()
async def gemm_matches_qgemm(dut):
    rows, cols = cc.parameter(dut, "ROWS"), cc.parameter(dut, "COLS")
    max_n, max_nb, id_bits = cc.parameter(dut, "MAX_N"), cc.parameter(dut, "MAX_NB"), cc.parameter(dut, "ID_BITS")
    cfg = common.config()
    dut.ld_we.value = 0
    dut.start.value = 0
    cc.start_clock(dut.clk)
    await common.reset(dut)
    measured = []
    for k_shape, (m, n, k) in enumerate(cfg["shapes"]):
        x, w = gemm_operands(m, n, k, seed=k_shape, extremes=cfg.get("extremes", True))
        qx = quant.quantize(x, "dialectfp4", tensor="x")
        qw = quant.quantize(w, "dialectfp4", selector="exact_mse", tensor="w")
        want = quant.qgemm(qx, qw).view(np.uint32)
        nb = qx.n_blocks
        await load(dut, qx, 0, max_nb, id_bits)
        await load(dut, qw, 1, max_nb, id_bits)
        cycles = await run_gemm(dut, m, n, nb)
        got = await read_results(dut, m, n, max_n)
        sb = common.Scoreboard(f"pe_array {rows}x{cols} GEMM {m}x{n}x{k}")
        for i in range(m):
            for j in range(n):
                sb.expect((want[i, j],), context=f"y[{i},{j}]")
                sb.observe((got[i, j],))
        sb.check()
        measured.append({"m": m, "n": n, "k": k, "rows": rows, "cols": cols, "cycles": cycles,
                         "n_inf": int(np.isinf(want.view(np.float32)).sum()), "n_zero": int((want == 0).sum())})
    common.write_result("gemm", {"shapes": measured})
