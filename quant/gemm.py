"""The quantized GEMM Y = X W^T per the arithmetic contract (docs/arithmetic-contract.md): the readable reference.

For X (M x K) and W (N x K), both block-quantized along K with the same block size:
1. element integers v (half-units for dialect formats, integers for INT, half-units of E2M1 for NVFP4);
2. block partial P[m, n, b] = sum_i vx * vw, exact (int64);
3. scaled partial S:
   - power-of-two formats: S = float32(P) * 2^(ex + ew - 2), exact; s = ex + ew - 2 < -126 gives S = +0.0 (flush),
     s > 127 raises (overflow);
   - wide power-of-two formats (MX FP8, quant/mx_float.py: elements v = value * 2^9, |P| < 2^41 in int64):
     S = fl32(P * 2^s) with s = ex + ew - 18, the exact product rounded once to float32 (nearest even;
     subnormal results kept, no flush; inf beyond float32); s > 127 raises as above;
   - float-scaled formats: S = fl32(fl32(float32(P) * sx[m, b]) * sw[n, b]);
4. acc = +0.0; for b ascending: acc = fl32(acc + S_b)  (IEEE round-to-nearest-even);
   float-scaled formats then apply y = fl32(acc * post), post = fl32(fl32(gx * gw) * ux * uw) (tensor scales
   and element units; ux * uw is a power of two so the second product is exact);
5. decomposition: for the rows that have a residual, y = fl32(y_main + y_res) with y_res from its own
   accumulator over the residual QTensor; then bias: y = fl32(y + bias[n]).
"""
from __future__ import annotations

import numpy as np

from .errors import QuantError, ShapeError
from .qtensor import QTensor
from .registry import POW2, POW2_WIDE

FLUSH_BELOW = -126
OVERFLOW_ABOVE = 127


def check_operands(qx: QTensor, qw: QTensor):
    fx, fw = qx.format, qw.format
    for q, side in ((qx, "X"), (qw, "W")):
        if hasattr(q.format, "check_codes"):             # MX FP8: refuse the NaN code no quantizer writes
            q.format.check_codes(q, f"qgemm: {side} operand")
    if fx.scale_kind != fw.scale_kind:
        raise QuantError(f"qgemm: X format {qx.fmt} ({fx.scale_kind} scales) cannot multiply W format {qw.fmt} "
                         f"({fw.scale_kind} scales); use formats of one family")
    if qx.k != qw.k:
        raise ShapeError(f"qgemm: K mismatch: X has K={qx.k} (shape {qx.shape}), W has K={qw.k} (shape {qw.shape})")
    if qx.block != qw.block:
        raise ShapeError(f"qgemm: block size mismatch: X block {qx.block}, W block {qw.block}")
    if len(qw.shape) != 2:
        raise ShapeError(f"qgemm: W must be 2-D (N, K), got shape {qw.shape}")


def block_partials(qx: QTensor, qw: QTensor) -> np.ndarray:
    """P[b, m, n] = exact integer block dot products, int64 (nb, M, N)."""
    vx = qx.element_ints().reshape(qx.rows, qx.n_blocks, qx.block)
    vw = qw.element_ints().reshape(qw.rows, qw.n_blocks, qw.block)
    return np.einsum("mbi,nbi->bmn", vx, vw)        # integer einsum: exact


def unit_exponent(fmt) -> int:
    """log2 of a power-of-two format's element unit: -1 for half-units (dialect formats), -9 for E4M3's 2^-9."""
    return int(np.frexp(fmt.unit)[1]) - 1


def exponent_offset(qx: QTensor, qw: QTensor) -> int:
    """The constant of the scale exponent s = ex + ew + offset: -2 for dialect formats, -18 for MX FP8."""
    return unit_exponent(qx.format) + unit_exponent(qw.format)


def scale_exponents(qx: QTensor, qw: QTensor) -> np.ndarray:
    """s[b, m, n] = ex[m, b] + ew[n, b] + offset (-2 for dialect formats, -18 for MX FP8); raises on overflow."""
    s = (qx.exponent.astype(np.int64).T[:, :, None] + qw.exponent.astype(np.int64).T[:, None, :]
         + exponent_offset(qx, qw))
    if (s > OVERFLOW_ABOVE).any():
        b, m, n = np.argwhere(s > OVERFLOW_ABOVE)[0]
        raise QuantError(f"qgemm: block scale 2^{int(s[b, m, n])} overflows float32 at row {m}, column {n}, "
                         f"block {b} (exponent sum above {OVERFLOW_ABOVE})")
    return s


def accumulate(qx: QTensor, qw: QTensor) -> np.ndarray:
    """Steps 1-4 of the contract: float32 (M, N)."""
    f32 = np.float32
    p = block_partials(qx, qw)
    acc = np.zeros((qx.rows, qw.rows), dtype=f32)
    if qx.format.scale_kind == POW2:
        s = scale_exponents(qx, qw)
        for b in range(p.shape[0]):                          # ascending block order
            sb = np.where(s[b] < FLUSH_BELOW, 0.0, np.ldexp(p[b].astype(np.float64), s[b]))
            acc = (acc + sb.astype(f32)).astype(f32)         # S_b is exact in float64, then one rounding
        return acc
    if qx.format.scale_kind == POW2_WIDE:
        s = scale_exponents(qx, qw)
        for b in range(p.shape[0]):                          # ascending block order
            with np.errstate(over="ignore"):                 # beyond float32: inf, as IEEE rounding gives
                sb = np.ldexp(p[b].astype(np.float64), s[b]).astype(f32)   # exact in float64, one rounding
            acc = (acc + sb).astype(f32)
        return acc
    sx, sw = qx.scale, qw.scale
    for b in range(p.shape[0]):
        sb = (p[b].astype(f32) * sx[:, b][:, None]).astype(f32)
        sb = (sb * sw[:, b][None, :]).astype(f32)
        acc = (acc + sb).astype(f32)
    post = f32(f32(f32(qx.tensor_scale) * f32(qw.tensor_scale)) * f32(qx.format.unit * qw.format.unit))
    return (acc * post).astype(f32)


def qgemm_with(accumulate_fn, qx: QTensor, qw: QTensor, bias=None, residual: QTensor | None = None,
               residual_rows=None) -> np.ndarray:
    """Steps 5 of the contract around any back end's steps 1-4 (`accumulate_fn(qx, qw) -> float32 (M, N)`):
    operand checks, the residual rows' own accumulator added before the bias, then the bias.  Every back end's
    qgemm is this function with its own accumulate, so the epilogue cannot drift between them."""
    check_operands(qx, qw)
    y = _empty_or(accumulate_fn, qx, qw)
    if residual is not None:
        rows = residual_row_indices(residual, residual_rows, qx.rows)
        check_operands(residual, qw)
        y_res = _empty_or(accumulate_fn, residual, qw)
        y[rows] = (y[rows] + y_res).astype(np.float32)
    if bias is not None:
        y = (y + bias_row(bias, qw.rows)).astype(np.float32)
    return y


def _empty_or(accumulate_fn, qx: QTensor, qw: QTensor) -> np.ndarray:
    """An operand with no rows gives an empty (M, N) result on every back end (tiled back ends cannot take one)."""
    if qx.rows == 0 or qw.rows == 0:
        return np.zeros((qx.rows, qw.rows), dtype=np.float32)
    return accumulate_fn(qx, qw)


def qgemm_reference(qx: QTensor, qw: QTensor, bias=None, residual: QTensor | None = None,
                    residual_rows=None) -> np.ndarray:
    """Y = X W^T (+ residual rows) (+ bias), float32 (M, N); see the module docstring for the exact order."""
    return qgemm_with(accumulate, qx, qw, bias, residual, residual_rows)


def residual_row_indices(residual: QTensor, residual_rows, m: int) -> np.ndarray:
    """The output rows (int64) that `residual`'s rows add to (all M rows when `residual_rows` is None), checked:
    one distinct index in [0, m) per residual row.  Shared by every back end's decomposition epilogue."""
    rows = np.arange(m) if residual_rows is None else np.asarray(residual_rows, dtype=np.int64).reshape(-1)
    if len(rows) != residual.rows:
        raise ShapeError(f"qgemm: residual has {residual.rows} rows but residual_rows names {len(rows)}")
    if len(rows) and (rows.min() < 0 or rows.max() >= m or len(np.unique(rows)) != len(rows)):
        raise ShapeError(f"qgemm: residual_rows must be distinct row indices in [0, {m})")
    return rows


def bias_row(bias, n: int) -> np.ndarray:
    """`bias` as a float32 (1, N) row to add to Y, checked against W's N rows.  Shared by every back end."""
    b = np.asarray(bias, dtype=np.float32).reshape(-1)
    if b.shape[0] != n:
        raise ShapeError(f"qgemm: bias has {b.shape[0]} entries, W has N={n} rows")
    return b[None, :]
