"""The accelerator's functional back end: quantized GEMMs through the PE array's tiling and datapath, and online
activation quantization through the LUT unit, returning the same bits as the NumPy reference (quant/gemm.py).

PE datapath per output, per K block in ascending order: decode LUT (dialect id, 3-bit index) -> signed half-unit
integer; integer products; block adder tree (exact); block scaler (int -> float32, then exponent add for
power-of-two formats, or two float32 multiplies for float-scaled formats); float32 accumulator.  The array holds
one R x C output tile; all tiles are evaluated together per block step (outputs are independent, so the tile
order cannot change a bit), and K advances one block per step.

Registered as back end "accel" (sim/accel/__init__.py): quant.quantize(..., backend="accel"), quant.qgemm(...).
"""
from __future__ import annotations

import numpy as np

from quant.errors import QuantError
from quant.gemm import FLUSH_BELOW, OVERFLOW_ABOVE, check_operands, qgemm_with
from quant.qtensor import QTensor

ARRAY_ROWS, ARRAY_COLS = 16, 16     # the edge design's array (configs/arch/edge.yaml); results do not depend on it
F32 = np.float32


# ---- decode LUT ---------------------------------------------------------------------------------------------
def _nibbles(packed: np.ndarray) -> np.ndarray:
    lo, hi = packed & 0xF, packed >> 4
    return np.stack([lo, hi], axis=-1).reshape(packed.shape[0], -1)


def decode(qt: QTensor) -> np.ndarray:
    """Signed element integers (R, nb * block), int64: what the decode LUTs at the array edge emit."""
    fmt = qt.format
    if fmt.element_bits == 4:
        codes = _nibbles(qt.codes).astype(np.int64)
        if hasattr(fmt, "book"):                             # dialect formats: LUT[dialect][index]
            lut = fmt.book.magnitudes
            d = np.repeat(qt.dialect.astype(np.int64), qt.block, axis=1)
            mag = lut[d, codes & 7]
            return np.where(codes & 8, -mag, mag)
        if fmt.unit == 0.5:                                  # NVFP4: E2M1 code -> half-units (DialectFP4 d7)
            mag = np.array([0, 1, 2, 3, 4, 6, 8, 12], dtype=np.int64)[codes & 7]
            return np.where(codes & 8, -mag, mag)
        return np.where(codes >= 8, codes - 16, codes)       # INT4 two's complement
    codes = qt.codes.astype(np.int64)
    return np.where(codes >= 128, codes - 256, codes)        # INT8


def _tiles(v: np.ndarray, rows: int, block: int, tile: int) -> np.ndarray:
    """(R, nb*block) -> (tiles, tile, nb, block), zero rows padding the last tile."""
    pad = (-rows) % tile
    v = np.pad(v, ((0, pad), (0, 0))) if pad else v
    return v.reshape(-1, tile, v.shape[1] // block, block)


# ---- PE array ------------------------------------------------------------------------------------------------
def _accumulate(qx: QTensor, qw: QTensor) -> np.ndarray:
    check_operands(qx, qw)
    M, N, nb, B = qx.rows, qw.rows, qx.n_blocks, qx.block
    vx = _tiles(decode(qx), M, B, ARRAY_ROWS)                # (tm, R, nb, B)
    vw = _tiles(decode(qw), N, B, ARRAY_COLS)                # (tn, C, nb, B)
    if 225 * B >= 2 ** 53 or (qx.format.element_bits == 8 and 127 * 127 * B >= 2 ** 53):
        raise QuantError("accel: block too large for the exact adder-tree model")
    pow2 = qx.format.scale_kind == "pow2"
    acc = np.zeros((vx.shape[0], vw.shape[0], ARRAY_ROWS, ARRAY_COLS), dtype=F32)
    if pow2:
        ex = _tiles(qx.exponent.astype(np.int64), M, 1, ARRAY_ROWS)[..., 0]      # (tm, R, nb)
        ew = _tiles(qw.exponent.astype(np.int64), N, 1, ARRAY_COLS)[..., 0]
    else:
        sx = _tiles(qx.scale, M, 1, ARRAY_ROWS)[..., 0].astype(F32)
        sw = _tiles(qw.scale, N, 1, ARRAY_COLS)[..., 0].astype(F32)
    for b in range(nb):                                      # K one block per step, ascending
        # block adder tree: exact integer dot products (float64 holds them exactly, see the bound above)
        p = np.einsum("arj,ncj->anrc", vx[:, :, b].astype(np.float64), vw[:, :, b].astype(np.float64))
        pf = p.astype(F32)                                   # int -> float32 (exact below 2^24)
        if pow2:
            s = ex[:, None, :, None, b] + ew[None, :, None, :, b] - 2
            if (s > OVERFLOW_ABOVE).any():
                raise QuantError(f"qgemm: block scale 2^{int(s.max())} overflows float32 in block {b} "
                                 f"(exponent sum above {OVERFLOW_ABOVE})")
            part = np.where(s < FLUSH_BELOW, F32(0), np.ldexp(pf, np.maximum(s, FLUSH_BELOW).astype(np.int32)))
        else:
            part = (pf * sx[:, None, :, None, b]).astype(F32)
            part = (part * sw[None, :, None, :, b]).astype(F32)
        acc = (acc + part.astype(F32)).astype(F32)           # float32 accumulator, round to nearest even
    if not pow2:
        post = F32(F32(F32(qx.tensor_scale) * F32(qw.tensor_scale)) * F32(qx.format.unit * qw.format.unit))
        acc = (acc * post).astype(F32)
    y = acc.transpose(0, 2, 1, 3).reshape(acc.shape[0] * ARRAY_ROWS, acc.shape[1] * ARRAY_COLS)
    return np.ascontiguousarray(y[:M, :N])


def qgemm(qx: QTensor, qw: QTensor, bias=None, residual: QTensor | None = None, residual_rows=None) -> np.ndarray:
    """Y = X W^T (+ residual rows, own accumulator) (+ bias), float32 (M, N), bit-identical to the reference."""
    return qgemm_with(_accumulate, qx, qw, bias, residual, residual_rows)


# ---- LUT unit (online activation quantizer) ----------------------------------------------------------------
def intermediate_q(xb: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The 5-bit intermediate from float32 bits: significand shifted by (biased exponent - 148 - e), rounded
    half up with the shifter's round bit, saturated at 31.  int64 (R, nb, B)."""
    bits = np.ascontiguousarray(xb, dtype=F32).view(np.uint32).astype(np.int64)
    expo = (bits >> 23) & 0xFF
    sig = (bits & 0x7FFFFF) | np.where(expo > 0, 1 << 23, 0)
    sh = np.maximum(expo, 1) - 148 - e[..., None].astype(np.int64)       # |x| 2^(2-e) = sig * 2^sh
    left = np.minimum(np.maximum(sh, 0), 6)                               # sig >= 1 and sh >= 5 saturate anyway
    up = np.minimum(sig << left, 31)
    rs = np.minimum(np.maximum(-sh, 1), 62)
    down = np.where(-sh > 40, 0, (sig + (np.int64(1) << (rs - 1))) >> rs)
    return np.where(sh >= 0, up, np.minimum(down, 31))


def _argmin_banks(cost_of, n: int, banks: int, allowed) -> np.ndarray:
    """Comparator tree over dialect banks: `banks` dialects per pass, running minimum with strict '<' so ties
    keep the lowest dialect id."""
    best_cost, best = None, None
    for start in range(0, n, banks):
        for d in range(start, min(start + banks, n)):
            c = cost_of(d)
            if allowed is not None:
                c = np.where(allowed[..., d], c, np.iinfo(np.int64).max)
            if best is None:
                best_cost, best = c, np.zeros(c.shape, dtype=np.int64)
            else:
                better = c < best_cost
                best_cost, best = np.where(better, c, best_cost), np.where(better, d, best)
    return best


def select_encode(selector: str, xb, e, book, allowed=None, banks: int | None = None, **knobs):
    """(dialect ids (R, nb), codes (R, nb, B)) as the LUT unit computes them; bit-identical to the reference.
    lut_argmin and two_stage run on the modelled unit; exact_mse is an offline (host) weight selector, so it is
    delegated to the reference, as the accelerator receives such weights already encoded."""
    xb = np.asarray(xb, dtype=F32)
    e = np.asarray(e, dtype=np.int64)
    if selector == "exact_mse":
        from quant.reference_backend import select_encode as host
        return host(selector, xb, e, book, allowed=allowed, **knobs)
    idx_rom, err_rom = book.lut()
    q = intermediate_q(xb, e)
    if selector == "lut_argmin":
        if allowed is not None:
            allowed = np.broadcast_to(np.asarray(allowed, dtype=bool), q.shape[:2] + (book.size,))
            if not allowed.any(axis=-1).all():
                raise ValueError("`allowed` leaves some block with no dialect to choose from")
        dialect = _argmin_banks(lambda d: err_rom[d][q].sum(axis=-1), book.size, banks or book.size, allowed)
    elif selector == "two_stage":
        from quant.selectors import select_two_stage                  # stage logic is shared data-path rules
        dialect, _ = select_two_stage(xb, e, book, allowed=allowed, **knobs)
    else:
        from quant.selectors import get_selector
        get_selector(selector)                                        # unknown name: error listing the valid ones
        raise QuantError(f"accel back end: the LUT unit does not implement selector {selector!r}; "
                         f"use lut_argmin, two_stage or exact_mse")
    idx = idx_rom[dialect[..., None], q]
    nonzero = np.any(xb != 0, axis=-1)
    idx = np.where(nonzero[..., None], idx, 0)
    sign = (np.signbit(xb) & (idx != 0)).astype(np.int64)
    return np.where(nonzero, dialect, 0), ((sign << 3) | idx).astype(np.uint8)
