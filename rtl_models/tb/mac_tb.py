"""Testbenches for the MAC datapaths, expected values from quant's element decoders and exact block partials
(`quant.gemm.block_partials` on QTensors):
- block_dot_dialect: every code pair (16 x 16) under every dialect pair, 32 pairs per block;
- block_dot_fp4 / _int4 / _int8 and the four MAC lanes: random and extreme codes;
- mac_lane_int5 (decode at the edge): operands are quant's decoded element integers of random dialect blocks."""
from __future__ import annotations

import numpy as np

from quant.gemm import block_partials
from quant.qtensor import QTensor, pack_nibbles

from .. import cocotb_compat as cc
from ..rom import book_for_size, ensure_registered
from . import common

FORMAT_OF = {"dialect": None, "fp4": "nvfp4", "int4": "int4_g32", "int8": "int8"}   # quant format per DUT kind
CODE_BITS = {"dialect": 4, "fp4": 4, "int4": 4, "int8": 8}


def one_row(fmt: str, codes: np.ndarray, dia=None) -> QTensor:
    """(n, 32) codes as a one-row QTensor of n blocks; `dia` (n,) dialect ids for a dialect format."""
    n = codes.shape[0]
    flat = codes.reshape(1, -1).astype(np.uint8)
    packed = pack_nibbles(flat) if fmt not in ("int8",) else flat
    dialect = np.zeros((1, n), np.uint8) if dia is None else dia.reshape(1, n).astype(np.uint8)
    if dia is not None:                                      # dialect format: power-of-two exponents
        return QTensor(fmt, (1, 32 * n), 32, packed, dialect, exponent=np.zeros((1, n), np.int8))
    return QTensor(fmt, (1, 32 * n), 32, packed, dialect, scale=np.ones((1, n), np.float32))


def partials(fmt: str, ca: np.ndarray, cb: np.ndarray, da=None, db=None) -> np.ndarray:
    """Exact block partial per row of (n, 32) code arrays: each operand is a one-row QTensor of n blocks."""
    return block_partials(one_row(fmt, ca, da), one_row(fmt, cb, db))[:, 0, 0]


def dialect_vectors(d: int):
    """8 blocks per dialect pair covering all 256 code pairs: codes (n, 32) x2 and dialect ids (n,) x2."""
    pairs = np.arange(256)
    ca, cb = (pairs >> 4).reshape(8, 32), (pairs & 15).reshape(8, 32)
    da, db = np.meshgrid(np.arange(d), np.arange(d), indexing="ij")
    return (np.tile(ca, (d * d, 1)), np.tile(cb, (d * d, 1)), np.repeat(da.reshape(-1), 8),
            np.repeat(db.reshape(-1), 8))


def random_codes(kind: str, n: int, seed: int):
    """n random blocks plus all-extreme blocks (largest magnitudes of both signs, zeros)."""
    rng = np.random.default_rng(seed)
    hi = 1 << CODE_BITS[kind]
    ca, cb = rng.integers(0, hi, (n, 32)), rng.integers(0, hi, (n, 32))
    ext = {"fp4": (7, 15), "int4": (7, 8), "int8": (127, 128), "dialect": (7, 15)}[kind]
    for i, (a, b) in enumerate([(ext[0], ext[0]), (ext[1], ext[1]), (ext[0], ext[1]), (0, ext[1])]):
        if i < n:
            ca[i], cb[i] = a, b
    return ca, cb


@cc.test()
async def block_dot_dialect_exhaustive(dut):
    d = cc.parameter(dut, "D")
    fmt = ensure_registered(book_for_size(d))
    ca, cb, da, db = dialect_vectors(d)
    want = partials(fmt, ca, cb, da, db)
    sb = common.Scoreboard(f"block_dot_dialect D={d}")
    for i in range(len(ca)):
        sb.expect((want[i],), context=f"dialects ({da[i]}, {db[i]}) block {i % 8}")
        cc.write(dut.a_dialect, da[i])
        cc.write(dut.b_dialect, db[i])
        cc.write(dut.a_codes, common.pack(ca[i], 4))
        cc.write(dut.b_codes, common.pack(cb[i], 4))
        await cc.settle()
        sb.observe((cc.read_sint(dut.sum),))
    common.write_result("block_dot_dialect", {"blocks": len(ca), "products": 32 * len(ca), "matched": sb.check()})


async def _block_dot_plain(dut, kind: str):
    ca, cb = random_codes(kind, common.config().get("n_random", 64), seed=1)
    want = partials(FORMAT_OF[kind], ca, cb)
    sb = common.Scoreboard(f"block_dot_{kind}")
    for i in range(len(ca)):
        sb.expect((want[i],), context=f"block {i}")
        cc.write(dut.a_codes, common.pack(ca[i], CODE_BITS[kind]))
        cc.write(dut.b_codes, common.pack(cb[i], CODE_BITS[kind]))
        await cc.settle()
        sb.observe((cc.read_sint(dut.sum),))
    common.write_result(f"block_dot_{kind}", {"blocks": len(ca), "matched": sb.check()})


@cc.test()
async def block_dot_fp4_random(dut):
    await _block_dot_plain(dut, "fp4")


@cc.test()
async def block_dot_int4_random(dut):
    await _block_dot_plain(dut, "int4")


@cc.test()
async def block_dot_int8_random(dut):
    await _block_dot_plain(dut, "int8")


async def _stream_lane(dut, name: str, a: np.ndarray, b: np.ndarray, want: np.ndarray, a_port, b_port,
                       per_block=None):
    """One product per cycle, `clear` on the first of each block of 32; acc checked after every block."""
    sb = common.Scoreboard(name)
    cc.start_clock(dut.clk)
    dut.en.value = 1
    for i in range(len(a)):
        sb.expect((want[i],), context=f"block {i}")
        if per_block is not None:
            per_block(i)
        for j in range(32):
            await cc.falling_edge(dut.clk)
            dut.clear.value = int(j == 0)
            cc.write(a_port, a[i, j])
            cc.write(b_port, b[i, j])
        await cc.falling_edge(dut.clk)
        sb.observe((cc.read_sint(dut.acc),))
    common.write_result(name, {"blocks": len(a), "matched": sb.check()})


@cc.test()
async def mac_lane_random(dut):
    kind = common.config()["kind"]
    n = common.config().get("n_random", 8)
    ca, cb = random_codes(kind, n, seed=2)
    per_block = None
    if kind == "dialect":
        d = cc.parameter(dut, "D")
        rng = np.random.default_rng(3)
        da, db = rng.integers(0, d, n), rng.integers(0, d, n)
        want = partials(ensure_registered(book_for_size(d)), ca, cb, da, db)

        def per_block(i):
            cc.write(dut.a_dialect, da[i])
            cc.write(dut.b_dialect, db[i])
    else:
        want = partials(FORMAT_OF[kind], ca, cb)
    await _stream_lane(dut, f"mac_lane_{kind}", ca, cb, want, dut.a_code, dut.b_code, per_block)


@cc.test()
async def mac_lane_int5_decoded(dut):
    """The lane fed what the edge decoders produce: quant's element integers of random DialectFP4 blocks (the
    first blocks under dialect 0, whose largest level is 15 half-units, so +-15 x +-15 extremes occur)."""
    n = common.config().get("n_random", 8)
    book = book_for_size(16)
    fmt = ensure_registered(book)
    ca, cb = random_codes("dialect", n, seed=4)
    rng = np.random.default_rng(5)
    da, db = rng.integers(0, book.size, n), rng.integers(0, book.size, n)
    da[:4] = db[:4] = 0
    va = one_row(fmt, ca, da).element_ints().reshape(n, 32)
    vb = one_row(fmt, cb, db).element_ints().reshape(n, 32)
    if max(np.abs(va).max(), np.abs(vb).max()) != 15:
        raise AssertionError("stimulus misses the +-15 extremes")
    await _stream_lane(dut, "mac_lane_int5", va, vb, partials(fmt, ca, cb, da, db), dut.a_value, dut.b_value)
