"""Numba kernels for the quantized GEMM of the arithmetic contract (quant/gemm.py's docstring is the spec).

Layout: X's element integers vx (M, Kp) and W's transposed, wt (Kp, N), both int16 (every format's element
integers fit), decoded once per call.  The output is computed in tiles of TILE_M rows x TILE_N columns; for each
block b (ascending) a tile of integer partials P is built with the W row segment reused across the tile's rows
(LLVM vectorizes the column loop), then scaled and added to a float32 tile accumulator.

Exactness: P is an integer accumulator whose width is chosen from the operands' largest element magnitudes so
that no partial sum can wrap (int16 for 4-bit formats and blocks up to ~145 elements, int32 or int64 for INT8
rows); float32(P) rounds to nearest even like NumPy's int64 -> float32 cast.  pow2 scales: P * 2^ex * 2^(ew-2)
in float64 is exact, then one rounding to float32 (inf on overflow, as in the reference); exponent sums below
-126 give +0.0.  Float scales: fl32(fl32(float32(P) * sx) * sw).  No fast-math, so nothing is contracted to FMA.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

TILE_M = 8
TILE_N = 512


@njit(cache=True, parallel=True)
def decode_rows(codes, dialect, table, block, packed, out):
    """Element integers: out[r, k] = table[dialect[r, k // block], code(r, k)] (int16)."""
    n_rows, kp = out.shape
    for r in prange(n_rows):
        for k in range(kp):
            if packed:
                c = (np.int64(codes[r, k >> 1]) >> (4 * (k & 1))) & 15   # low nibble first
            else:
                c = np.int64(codes[r, k])
            out[r, k] = table[dialect[r, k // block], c]


@njit(cache=True)
def _partials(vx, wt, m0, n0, rows, cols, k0, block, p):
    """p[r, j] = sum_{i < block} vx[m0+r, k0+i] * wt[k0+i, n0+j] in p's integer type.

    Four elements per pass halve the loads and stores of p.  Integer arithmetic wraps modulo 2^bits, so the
    result is exact whenever the final |P| fits p's type (the caller picks the type from a bound on |P|)."""
    quad = block - block % 4
    for r in range(rows):
        pr = p[r]
        pr[:cols] = 0
        xr = vx[m0 + r]
        for i in range(0, quad, 4):
            k = k0 + i
            x0, x1, x2, x3 = xr[k], xr[k + 1], xr[k + 2], xr[k + 3]
            w0, w1 = wt[k, n0:n0 + cols], wt[k + 1, n0:n0 + cols]
            w2, w3 = wt[k + 2, n0:n0 + cols], wt[k + 3, n0:n0 + cols]
            for j in range(cols):
                pr[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]
        for i in range(quad, block):
            k = k0 + i
            xv, w0 = xr[k], wt[k, n0:n0 + cols]
            for j in range(cols):
                pr[j] += xv * w0[j]


@njit(cache=True)
def _add_scaled_pow2(p, acc, r, cols, e_x, ew_b, pw_w, fw_b, ew_min, ex_hi):
    """acc[r, :cols] += S = P * 2^(e_x + ew - 2) for one row of a tile and one block (ascending-block order).

    Fast path, when every column of the tile keeps its scale (no flush) and no intermediate leaves float32's
    normal range: fl32(fl32(P) * 2^e_x) * 2^(ew-2), each step exact, so it equals the exact value rounded once.
    Otherwise the exact float64 product, rounded once, with the flush rule applied per column."""
    if -126 <= e_x <= ex_hi and e_x + ew_min - 2 >= -126 and ew_min - 2 >= -126:
        fx = np.float32(math.ldexp(1.0, e_x))
        for j in range(cols):
            acc[r, j] = acc[r, j] + (np.float32(p[r, j]) * fx) * fw_b[j]
        return
    sx = math.ldexp(1.0, e_x)
    keep_from = -124 - e_x                                      # ex + ew - 2 >= -126  <=>  ew >= -124 - ex
    for j in range(cols):
        s = np.float32(np.float64(p[r, j]) * sx * pw_w[j])
        if ew_b[j] < keep_from:
            s = np.float32(0.0)                                 # flush: the contract's +0.0
        acc[r, j] = acc[r, j] + s


@njit(cache=True, parallel=True)
def gemm_pow2(vx, wt, block, ex, ew, ex_hi, p_like, out):
    """out (M, N) float32 for power-of-two scaled operands; ex (M, nb), ew (nb, N) int64 block exponents.

    ex_hi: largest e_x for which |fl32(P)| * 2^e_x stays finite (127 - bit length of the bound on |P|).
    Callers have already rejected exponent sums above 127 (quant.gemm.scale_exponents raises)."""
    m_all, n_all = out.shape
    n_blocks = ex.shape[1]
    tiles_n = (n_all + TILE_N - 1) // TILE_N
    tiles = ((m_all + TILE_M - 1) // TILE_M) * tiles_n
    pw_w = np.empty((n_blocks, n_all), dtype=np.float64)       # 2^(ew - 2), exact in float64
    fw = np.empty((n_blocks, n_all), dtype=np.float32)         # the same in float32 where it is normal
    for b in range(n_blocks):
        for n in range(n_all):
            pw_w[b, n] = math.ldexp(1.0, ew[b, n] - 2)
            fw[b, n] = np.float32(pw_w[b, n]) if ew[b, n] - 2 >= -126 else np.float32(0.0)
    for tile in prange(tiles):
        m0, n0 = (tile // tiles_n) * TILE_M, (tile % tiles_n) * TILE_N
        rows, cols = min(TILE_M, m_all - m0), min(TILE_N, n_all - n0)
        p = np.zeros((TILE_M, TILE_N), dtype=p_like.dtype)
        acc = np.zeros((TILE_M, TILE_N), dtype=np.float32)
        for b in range(n_blocks):
            _partials(vx, wt, m0, n0, rows, cols, b * block, block, p)
            ew_b = ew[b, n0:n0 + cols]
            ew_min = ew_b.min()
            for r in range(rows):
                _add_scaled_pow2(p, acc, r, cols, ex[m0 + r, b], ew_b, pw_w[b, n0:n0 + cols],
                                 fw[b, n0:n0 + cols], ew_min, ex_hi)
        out[m0:m0 + rows, n0:n0 + cols] = acc[:rows, :cols]


@njit(cache=True)
def _add_scaled_float(p, acc, r, cols, s_row, s_col, row_first):
    """acc[r, :cols] += fl32(fl32(fl32(P) * s_x) * s_w) where s_x is the row scale when row_first (X on the rows)
    and the column scale otherwise (the caller computed Y^T): the contract's multiplication order either way."""
    if row_first:
        for j in range(cols):
            acc[r, j] = acc[r, j] + np.float32(np.float32(np.float32(p[r, j]) * s_row) * s_col[j])
    else:
        for j in range(cols):
            acc[r, j] = acc[r, j] + np.float32(np.float32(np.float32(p[r, j]) * s_col[j]) * s_row)


@njit(cache=True, parallel=True)
def gemm_float(vx, wt, block, sx, sw, post, row_first, p_like, out):
    """out (rows, cols) float32 for float-scaled operands: sx (rows, nb), sw (nb, cols) float32, post float32.

    row_first: the rows are X (sx multiplies first); False when the caller computes Y^T with W on the rows."""
    m_all, n_all = out.shape
    n_blocks = sx.shape[1]
    tiles_n = (n_all + TILE_N - 1) // TILE_N
    tiles = ((m_all + TILE_M - 1) // TILE_M) * tiles_n
    for tile in prange(tiles):
        m0, n0 = (tile // tiles_n) * TILE_M, (tile % tiles_n) * TILE_N
        rows, cols = min(TILE_M, m_all - m0), min(TILE_N, n_all - n0)
        p = np.zeros((TILE_M, TILE_N), dtype=p_like.dtype)
        acc = np.zeros((TILE_M, TILE_N), dtype=np.float32)
        for b in range(n_blocks):
            _partials(vx, wt, m0, n0, rows, cols, b * block, block, p)
            for r in range(rows):
                _add_scaled_float(p, acc, r, cols, sx[m0 + r, b], sw[b, n0:n0 + cols], row_first)
        for r in range(rows):
            for j in range(cols):
                out[m0 + r, n0 + j] = np.float32(acc[r, j] * post)
