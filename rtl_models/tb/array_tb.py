"""Testbench for pe_array_gemm: for each GEMM shape, quantize X (lut_argmin) and W (exact_mse) with quant,
preload the buffers through the load port (driver), start, count clock edges until done while a monitor records
the cycle in which each output is written, read the result memory and compare every float32 output with
quant.qgemm as raw bits (scoreboard; a mismatch prints that cycle, the operand rows and both bit patterns).
Records the cycle count per shape for rtl_models/data/rtl_cycles.csv.

Config: "shapes" [[M, N, K], ...] with the default stimulus (heavy tails, overflow and flush rows), optionally
"order_shapes" with the accumulation-order stimulus (vectors.order_operands), "extremes" (bool), and
"flip_expected" [i, j] (first GEMM only: flips bit 0 of the expected y[i, j], so a test can see the scoreboard's
failure report; never set when measuring)."""
from __future__ import annotations

import numpy as np

import quant

from .. import cocotb_compat as cc
from . import common
from .vectors import accumulation_stats, gemm_operands, order_operands

DRAIN = 2                                   # pe_array_gemm's controller state that writes results


def entries(qt) -> list:
    """Buffer words per (row, block): exponent (int8) << (128 + ID_BITS) | dialect << 128 | 32 packed codes."""
    rows, nb = qt.dialect.shape
    codes = qt.codes.reshape(rows, nb, 16)                     # 16 bytes = 32 nibbles per block, low nibble first
    out = []
    for r in range(rows):
        for b in range(nb):
            out.append((int(qt.exponent[r, b]) & 0xFF, int(qt.dialect[r, b]), int.from_bytes(codes[r, b].tobytes(), "little")))
    return out


def describe_row(qt, row: int) -> str:
    """One operand row as the buffer holds it: per block exponent, dialect and the 32 codes (element 0 last)."""
    nb = qt.dialect.shape[1]
    words = entries(qt)[row * nb:(row + 1) * nb]
    return " ".join(f"b{b}[e={e - 256 if e > 127 else e} d={d} codes=0x{c:032x}]" for b, (e, d, c) in enumerate(words))


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


async def run_gemm(dut, m: int, n: int, k: int, cols: int):
    """Pulse start; return (cycles, written): the number of rising edges after the one that samples start, through
    the one that raises done, and for each output (i, j) the edge that wrote it into the result memory."""
    await cc.falling_edge(dut.clk)
    cc.write(dut.cfg_m, m)
    cc.write(dut.cfg_n, n)
    cc.write(dut.cfg_k, k)
    dut.start.value = 1
    await cc.rising_edge(dut.clk)
    await cc.falling_edge(dut.clk)
    dut.start.value = 0
    cycles, written = 0, {}
    while True:
        await cc.rising_edge(dut.clk)
        await cc.read_only()
        cycles += 1
        if dut.done.value == 1:
            return cycles, written
        if cc.read_uint(dut.state) == DRAIN:            # this drain cycle's writes land on the next edge
            i = cc.read_uint(dut.m0) + cc.read_uint(dut.dr)
            for j in range(cc.read_uint(dut.n0), cc.read_uint(dut.n0) + cols):
                if i < m and j < n:
                    written.setdefault((i, j), cycles + 1)
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


def check_outputs(name: str, want, got, written, qx, qw, cycles: int):
    sb = common.Scoreboard(name, widths=(32,), render=common.float32_bits)
    m, n = want.shape
    for i in range(m):
        for j in range(n):
            sb.expect((want[i, j],), context=f"y[{i},{j}]",
                      inputs=lambda i=i, j=j: f"X row {i}: {describe_row(qx, i)}; W row {j}: {describe_row(qw, j)}")
            sb.observe((got[i, j],), cycle=written.get((i, j)))
    sb.check()
    assert len(written) == m * n and max(written.values()) <= cycles, \
        f"{name}: {len(written)} of {m * n} outputs written, last at cycle {max(written.values())} of {cycles}"


async def one_gemm(dut, shape, seed: int, kind: str, cfg: dict, params: dict) -> dict:
    m, n, k = shape
    if kind == "order":
        x, w = order_operands(m, n, k, seed=seed)
    else:
        x, w = gemm_operands(m, n, k, seed=seed, extremes=cfg.get("extremes", True))
    qx = quant.quantize(x, "dialectfp4", tensor="x")
    qw = quant.quantize(w, "dialectfp4", selector="exact_mse", tensor="w")
    want = quant.qgemm(qx, qw).view(np.uint32)
    if cfg.get("flip_expected") and seed == 0 and kind == "default":
        want = want.copy()
        want[tuple(cfg["flip_expected"])] ^= 1
    await load(dut, qx, 0, params["MAX_NB"], params["ID_BITS"])
    await load(dut, qw, 1, params["MAX_NB"], params["ID_BITS"])
    cycles, written = await run_gemm(dut, m, n, k, params["COLS"])
    got = await read_results(dut, m, n, params["MAX_N"])
    name = (f"pe_array {params['ROWS']}x{params['COLS']} LANES={params['LANES']} PIPELINE={params['PIPELINE']} "
            f"GEMM {m}x{n}x{k} ({kind} vectors)")
    check_outputs(name, want, got, written, qx, qw, cycles)
    row = {"m": m, "n": n, "k": k, "rows": params["ROWS"], "cols": params["COLS"], "lanes": params["LANES"],
           "pipeline": params["PIPELINE"], "cycles": cycles, "vectors": kind,
           "n_inf": int(np.isinf(want.view(np.float32)).sum()), "n_zero": int((want == 0).sum())}
    if kind == "order":
        row.update(accumulation_stats(qx, qw))
    return row


@cc.test()
async def gemm_matches_qgemm(dut):
    params = {p: cc.parameter(dut, p) for p in ("ROWS", "COLS", "LANES", "PIPELINE", "MAX_N", "MAX_NB", "ID_BITS")}
    cfg = common.config()
    dut.ld_we.value = 0
    dut.start.value = 0
    cc.start_clock(dut.clk)
    await common.reset(dut)
    measured = []
    for seed, shape in enumerate(cfg.get("shapes", [])):
        measured.append(await one_gemm(dut, shape, seed, "default", cfg, params))
    for seed, shape in enumerate(cfg.get("order_shapes", [])):
        measured.append(await one_gemm(dut, shape, seed, "order", cfg, params))
    common.write_result("gemm", {"shapes": measured})
