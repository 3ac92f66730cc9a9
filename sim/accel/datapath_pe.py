"""The PE array as a datapath model, built from a design's `pe_array` (rows, columns, dataflow, MAC modes),
`decode_lut` and buffers (the tiling): a quantized GEMM's float32 result bits.

Decode location: the array edge (sim/accel/area.py, rtl_models/README.md "What decodes where").  Each operand is
decoded once when it leaves its buffer, by the edge decoder of its lane kind: a dialect ROM of
`decode_lut.max_dialects` rows (dialect4), the E2M1 table (e2m1 / fp4_scaled), or none (INT lanes take two's
complement codes).  The PEs multiply signed integers and never see a dialect id.

Schedule: the GEMM is tiled as the timing model tiles it (mapping.choose_tiling on the design's buffers and
dataflow); tiles run in the chosen loop order, and within a tile, K advances in segments.  Output-stationary:
one segment per K chunk of the tile.  Weight-stationary: K lies along the array rows, so a segment is one fold of
rows x macs_per_cycle elements.  The outputs of a tile's spatial folds (rows x cols each) are independent and are
evaluated together.  Per output and block of K, in ascending order: exact integer block partial P (adder tree)
-> block scaler -> float32 accumulator (round to nearest even).  Between segments the accumulator goes to the
output buffer as float32 (PSUM_BYTES) and comes back unchanged; a block that straddles a segment boundary (a
weight-stationary fold or K chunk that ends inside a block, e.g. INT8's one block per row) carries its integer
partial through the buffer instead, which must fit PSUM_BYTES.
Block scalers: pow2 (dialect / MXFP4): S = P * 2^(ex + ew - 2), exact, +0 below 2^-126, an error above 2^127;
pow2_wide (MX FP8 lanes: 4x4-bit significand products shifted into a 41-bit block adder tree): S = P * 2^(ex + ew
- 18) rounded once to float32 (a normalizer with round to nearest even; no flush), the same overflow error;
e4m3 / float (NVFP4 / INT): S = fl32(fl32(fl32(P) * sx) * sw), then once per output fl32(acc * post).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from quant.errors import QuantError
from quant.gemm import FLUSH_BELOW, OVERFLOW_ABOVE, exponent_offset
from quant.qtensor import QTensor

from .mapping import GemmProblems, choose_tiling
from .recipes import BLOCK_SCALE_KIND, DECODER_KIND, mac_mode_of
from .schema import SpecError
from .spec import PSUM_BYTES, ArchSpec

F32 = np.float32
E2M1_HALF_UNITS = np.array([0, 1, 2, 3, 4, 6, 8, 12], dtype=np.int64)   # the E2M1 edge decoder (rtl decode_e2m1)
EXACT_F64 = 2 ** 53                  # float64 dot products of integers are exact below this bound
PSUM_INT_LIMIT = 2 ** (8 * PSUM_BYTES - 1)


@dataclass(frozen=True)
class Tile:
    m0: int
    m1: int
    n0: int
    n1: int
    segments: tuple        # ((k0, k1), ...) ascending element ranges of K


# ---- edge decoders -------------------------------------------------------------------------------------------
def lane_mode(arch: ArchSpec, qt: QTensor, operand: str) -> str:
    mode = mac_mode_of(qt.format)
    if mode not in dict(arch.pe_array.mac_modes):
        raise SpecError(arch.source_file, "pe_array.mac_modes",
                        f"operand {operand} in {qt.fmt} needs MAC mode {mode!r}; design {arch.name} has "
                        f"{', '.join(m for m, _ in arch.pe_array.mac_modes)}")
    return mode


def edge_decode(arch: ArchSpec, qt: QTensor, mode: str) -> np.ndarray:
    """Signed element integers (R, nb * block) int64, as the edge decoder of the operand's lane kind emits them."""
    codes = qt.element_codes().astype(np.int64)
    kind = DECODER_KIND.get(mode)
    if kind == "dialect":
        book = qt.format.book
        rom_rows = arch.decode_lut.max_dialects
        if book.size > rom_rows:
            raise SpecError(arch.source_file, "decode_lut.max_dialects",
                            f"operand {qt.fmt} uses formatbook {book.name} with D={book.size} dialects; the edge "
                            f"decoder ROM holds {rom_rows}; valid: max_dialects >= {book.size}")
        rom = np.zeros((rom_rows, 8), dtype=np.int64)
        rom[:book.size] = book.magnitudes
        d = np.repeat(qt.dialect.astype(np.int64), qt.block, axis=1)
        mag = rom[d, codes & 7]
    elif kind == "e2m1":
        mag = E2M1_HALF_UNITS[codes & 7]
    elif kind == "e4m3":
        return _decode_e4m3(codes)
    else:                                                    # INT lanes: two's complement, no decoder
        bits = qt.format.element.bits
        return np.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes)
    return np.where(codes & 8, -mag, mag)


def _decode_e4m3(codes: np.ndarray) -> np.ndarray:
    """The E4M3 edge decoder: code S.EEEE.MMM -> signed sig * 2^shift with sig = 1.MMM (E > 0) or 0.MMM (E = 0) as
    a 4-bit integer and shift = max(E, 1) - 1, i.e. the value times 2^9 (rtl-free model; the NaN code never reaches
    it: qgemm refuses it first)."""
    e, m = (codes >> 3) & 15, codes & 7
    mag = (m + np.where(e > 0, 8, 0)) << (np.maximum(e, 1) - 1)
    return np.where(codes & 0x80, -mag, mag)


# ---- schedule ------------------------------------------------------------------------------------------------
@lru_cache(maxsize=256)
def _tiling(arch: ArchSpec, m: int, n: int, kp: int, macs: int, x_bytes: float, w_bytes: float) -> tuple:
    one = lambda v, t=np.int64: np.array([v], dtype=t)
    p = GemmProblems(m=one(m), k=one(kp), n=one(n), x_bytes=one(x_bytes, float), w_bytes=one(w_bytes, float),
                     y_bytes=one(PSUM_BYTES, float), macs_per_cycle=one(macs), x_onchip=one(False, bool),
                     w_onchip=one(False, bool), y_onchip=one(False, bool))
    t = choose_tiling(p, arch, arch.pe_array.dataflow)
    return int(t["mt"][0]), int(t["nt"][0]), int(t["kt"][0]), int(t["order"][0])


def schedule(arch: ArchSpec, m: int, n: int, kp: int, macs: int, x_bytes: float = 0.5,
             w_bytes: float = 0.5) -> list:
    """The tiles of an (m x kp) x (n x kp)^T GEMM in execution order, each with its K segments."""
    mt, nt, kt, order = _tiling(arch, m, n, kp, macs, x_bytes, w_bytes)
    chunks = [(k0, min(k0 + kt, kp)) for k0 in range(0, kp, kt)]
    if arch.pe_array.dataflow in ("ws", "is"):               # K along the rows: one fold holds rows x macs
        fold = arch.pe_array.rows * macs
        chunks = [(a, min(a + fold, k1)) for k0, k1 in chunks for a in range(k0, k1, fold)]
    ms = [(a, min(a + mt, m)) for a in range(0, m, mt)]
    ns = [(a, min(a + nt, n)) for a in range(0, n, nt)]
    pairs = [(i, j) for i in ms for j in ns] if order == 0 else [(i, j) for j in ns for i in ms]
    return [Tile(i[0], i[1], j[0], j[1], tuple(chunks)) for i, j in pairs]


# ---- block scalers -------------------------------------------------------------------------------------------
def _pow2_scaled(p, ex, ew, b: int, m0: int, n0: int):
    s = ex[:, None] + ew[None, :] - 2
    if (s > OVERFLOW_ABOVE).any():
        i, j = np.argwhere(s > OVERFLOW_ABOVE)[0]
        raise QuantError(f"qgemm: block scale 2^{int(s[i, j])} overflows float32 at row {m0 + i}, column {n0 + j}, "
                         f"block {b} (exponent sum above {OVERFLOW_ABOVE})")
    with np.errstate(over="ignore"):                          # P * 2^s beyond float32 is inf, as in the reference
        scaled = np.ldexp(p.astype(F32), np.maximum(s, FLUSH_BELOW).astype(np.int32))
    return np.where(s < FLUSH_BELOW, F32(0), scaled).astype(F32)


def _pow2_wide_scaled(p, ex, ew, offset: int, b: int, m0: int, n0: int):
    s = ex[:, None] + ew[None, :] + offset
    if (s > OVERFLOW_ABOVE).any():
        i, j = np.argwhere(s > OVERFLOW_ABOVE)[0]
        raise QuantError(f"qgemm: block scale 2^{int(s[i, j])} overflows float32 at row {m0 + i}, column {n0 + j}, "
                         f"block {b} (exponent sum above {OVERFLOW_ABOVE})")
    with np.errstate(over="ignore"):                          # the normalizer rounds once: exact value -> float32
        return np.ldexp(p.astype(np.float64), s).astype(F32)


def _float_scaled(p, sx, sw):
    part = (p.astype(F32) * sx[:, None]).astype(F32)
    return (part * sw[None, :]).astype(F32)


# ---- the array -----------------------------------------------------------------------------------------------
def accumulate(arch: ArchSpec, qx: QTensor, qw: QTensor) -> np.ndarray:
    """Steps 1-4 of quant's arithmetic contract (quant/gemm.py) on the design's datapath: float32 (M, N)."""
    mx, mw = lane_mode(arch, qx, "X"), lane_mode(arch, qw, "W")
    vx, vw = edge_decode(arch, qx, mx), edge_decode(arch, qw, mw)
    B, kp = qx.block, vx.shape[1]
    bound = int(np.abs(vx).max(initial=0)) * int(np.abs(vw).max(initial=0)) * B
    if bound >= EXACT_F64:
        raise QuantError(f"accel: block partials up to {bound} exceed the exact adder-tree model (2^53)")
    scaler = BLOCK_SCALE_KIND[mx]
    offset = exponent_offset(qx, qw)
    macs = dict(arch.pe_array.mac_modes)[mx]
    tiles = schedule(arch, qx.rows, qw.rows, kp, macs, qx.bits_per_element / 8, qw.bits_per_element / 8)
    psum = np.zeros((qx.rows, qw.rows), dtype=F32)            # output buffer: float32 partial sums
    carry = np.zeros((qx.rows, qw.rows), dtype=np.int64)      # ... or the integer partial of an open block
    xf, wf = vx.astype(np.float64), vw.astype(np.float64)
    for t in tiles:
        out = (slice(t.m0, t.m1), slice(t.n0, t.n1))
        for k0, k1 in t.segments:
            acc, p = psum[out], carry[out]                    # read back from the output buffer
            for b in range(k0 // B, -(-k1 // B)):
                lo, hi = max(k0, b * B), min(k1, (b + 1) * B)
                p = p + (xf[t.m0:t.m1, lo:hi] @ wf[t.n0:t.n1, lo:hi].T).astype(np.int64)   # exact adder tree
                if hi < (b + 1) * B:                          # the block continues in the next segment
                    break
                if scaler == "pow2":
                    part = _pow2_scaled(p, qx.exponent[t.m0:t.m1, b].astype(np.int64),
                                        qw.exponent[t.n0:t.n1, b].astype(np.int64), b, t.m0, t.n0)
                elif scaler == "pow2_wide":
                    part = _pow2_wide_scaled(p, qx.exponent[t.m0:t.m1, b].astype(np.int64),
                                             qw.exponent[t.n0:t.n1, b].astype(np.int64), offset, b, t.m0, t.n0)
                else:
                    part = _float_scaled(p, qx.scale[t.m0:t.m1, b].astype(F32), qw.scale[t.n0:t.n1, b].astype(F32))
                acc = (acc + part).astype(F32)                # float32 accumulator, round to nearest even
                p = np.zeros_like(p)
            if np.abs(p).max(initial=0) >= PSUM_INT_LIMIT:
                raise SpecError(arch.source_file, "global_buffer.outputs",
                                f"an open block's integer partial exceeds the {8 * PSUM_BYTES}-bit partial-sum word")
            psum[out], carry[out] = acc, p
    if scaler not in ("pow2", "pow2_wide"):
        post = F32(F32(F32(qx.tensor_scale) * F32(qw.tensor_scale)) * F32(qx.format.unit * qw.format.unit))
        psum = (psum * post).astype(F32)
    return psum
