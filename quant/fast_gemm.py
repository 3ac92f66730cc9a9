"""Numba kernels for the quantized GEMM of the arithmetic contract (quant/gemm.py's docstring is the spec).

Layout: X's element integers vx (M, Kp) and W's transposed, wt (Kp, N), both int16 (int32 for MX FP8, whose
element integers reach 2^18), decoded once per call (W's straight into the transposed layout).  The output is computed in tiles
of TILE_M rows x TILE_N columns, row tiles fastest so a W panel is reused from cache.  For each block b
(ascending) the tile's integer partials P are built in passes of MICRO_M rows: the column loop (vectorized by
LLVM: int16 multiplies and adds in 512-bit lanes where the CPU has them) loads four W rows' elements once and
updates four rows of P with them.  Each block's P is then scaled once and added to a float32 tile accumulator.

Exactness: P is an integer accumulator whose width is chosen from the operands' largest element magnitudes so
that no partial sum can wrap (int16 for 4-bit formats and blocks up to ~145 elements, int32 or int64 for INT8
rows); float32(P) rounds to nearest even like NumPy's int64 -> float32 cast.  pow2 scales: P * 2^ex * 2^(ew-2)
in float64 is exact, then one rounding to float32 (inf on overflow, as in the reference); exponent sums below
-126 give +0.0.  Wide pow2 scales (MX FP8, int64 P < 2^41): P * 2^ex * 2^(ew-18) in float64 is exact, then one
rounding to float32, no flush.  Float scales: fl32(fl32(float32(P) * sx) * sw).  No fast-math, so nothing is
contracted to FMA.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

MICRO_M = 4       # rows per partials pass: one loaded W vector serves 4 rows (4 x 4 products per element)
TILE_M = 16       # rows per tile: a block's W rows are reused by TILE_M / MICRO_M passes while cached
NARROW_N = 512    # callers swap the operands when W has fewer rows than this (measured: N=384 gains, N=512 loses)
TILE_N = 1024     # columns per tile: long column loops amortize each pass's set-up (measured: 512 is ~20 % slower)


@njit(cache=True)
def _decode_row(codes, dialect, table, block, packed, r, out_row):
    """out_row[k] = table[dialect[r, k // block], code(r, k)]: one table row per block (no division per
    element); packed nibbles two at a time when blocks are even."""
    for b in range(out_row.shape[0] // block):
        t, k0 = table[dialect[r, b]], b * block
        if packed and block % 2 == 0:
            for i in range(0, block, 2):
                byte = np.int64(codes[r, (k0 + i) >> 1])
                out_row[k0 + i] = t[byte & 15]                              # low nibble first
                out_row[k0 + i + 1] = t[byte >> 4]
        else:
            for k in range(k0, k0 + block):
                c = (np.int64(codes[r, k >> 1]) >> (4 * (k & 1))) & 15 if packed else np.int64(codes[r, k])
                out_row[k] = t[c]


@njit(cache=True, parallel=True)
def decode_rows(codes, dialect, table, block, packed, out):
    """Element integers (int16): out[r, k] = table[dialect[r, k // block], code(r, k)]."""
    for r in prange(out.shape[0]):
        _decode_row(codes, dialect, table, block, packed, r, out[r])


DECODE_T_ROWS = 32   # rows decoded per chunk before the chunk is transposed into place


@njit(cache=True)
def decode_rows_t(codes, dialect, table, block, packed, out):
    """The transpose of decode_rows's result, out[k, r] (int16, shape (Kp, R)): chunks of rows are decoded into a
    buffer whose row stride is padded off a power of two (so its rows do not share cache sets), then each output
    row receives the chunk's contiguous run."""
    kp, n_rows = out.shape
    buf = np.empty((DECODE_T_ROWS, kp + 32), dtype=out.dtype)
    for r0 in range(0, n_rows, DECODE_T_ROWS):
        rows = min(DECODE_T_ROWS, n_rows - r0)
        for i in range(rows):
            _decode_row(codes, dialect, table, block, packed, r0 + i, buf[i, :kp])
        for k in range(kp):
            for i in range(rows):
                out[k, r0 + i] = buf[i, k]


@njit(cache=True)
def _partials(vx, wt, m0, rows, n0, cols, k0, block, pt):
    """pt[r, j] = sum_{i < block} vx[m0+r, k0+i] * wt[k0+i, n0+j] for the MICRO_M rows of a pass, in p's
    integer type.  Rows past the matrix's last repeat it (their results are discarded by the caller).

    The column loop holds four W vectors and updates four rows with them: 32 products per loaded vector and
    one load/store of p per four K steps.  Integer arithmetic wraps modulo 2^bits, so the result is exact
    whenever the final |P| fits pt's type (the caller picks the type from a bound on |P|)."""
    x0, x1 = vx[m0], vx[m0 + min(1, rows - 1)]
    x2, x3 = vx[m0 + min(2, rows - 1)], vx[m0 + min(3, rows - 1)]
    p0, p1, p2, p3 = pt[0, :cols], pt[1, :cols], pt[2, :cols], pt[3, :cols]
    pt[:, :cols] = 0
    quad = block - block % 4
    for i in range(0, quad, 4):
        k = k0 + i
        a0, a1, a2, a3 = x0[k], x0[k + 1], x0[k + 2], x0[k + 3]
        b0, b1, b2, b3 = x1[k], x1[k + 1], x1[k + 2], x1[k + 3]
        c0, c1, c2, c3 = x2[k], x2[k + 1], x2[k + 2], x2[k + 3]
        d0, d1, d2, d3 = x3[k], x3[k + 1], x3[k + 2], x3[k + 3]
        w0, w1 = wt[k, n0:n0 + cols], wt[k + 1, n0:n0 + cols]
        w2, w3 = wt[k + 2, n0:n0 + cols], wt[k + 3, n0:n0 + cols]
        for j in range(cols):
            v0, v1, v2, v3 = w0[j], w1[j], w2[j], w3[j]
            p0[j] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
            p1[j] += b0 * v0 + b1 * v1 + b2 * v2 + b3 * v3
            p2[j] += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3
            p3[j] += d0 * v0 + d1 * v1 + d2 * v2 + d3 * v3
    for k in range(k0 + quad, k0 + block):
        a0, b0, c0, d0 = x0[k], x1[k], x2[k], x3[k]
        w0 = wt[k, n0:n0 + cols]
        for j in range(cols):
            v0 = w0[j]
            p0[j] += a0 * v0
            p1[j] += b0 * v0
            p2[j] += c0 * v0
            p3[j] += d0 * v0


@njit(cache=True)
def _store_tile(acc, out, m0, n0, rows, cols, transposed):
    """The tile's results into out, or into out's transpose (out[n, m]) when the caller swapped the operands:
    each output row then receives the tile's rows as one contiguous run (no separate transpose pass)."""
    if transposed:
        for j in range(cols):
            for r in range(rows):
                out[n0 + j, m0 + r] = acc[r, j]
    else:
        for r in range(rows):
            out[m0 + r, n0:n0 + cols] = acc[r, :cols]


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
def gemm_pow2(vx, wt, block, ex, ew, ex_hi, p_like, out, transposed):
    """out (M, N) float32 (its transpose (N, M) when transposed) for power-of-two scaled operands; ex (M, nb),
    ew (nb, N) int64 block exponents.

    ex_hi: largest e_x for which |fl32(P)| * 2^e_x stays finite (127 - bit length of the bound on |P|).
    Callers have already rejected exponent sums above 127 (quant.gemm.scale_exponents raises)."""
    m_all, n_all = ex.shape[0], ew.shape[1]
    n_blocks = ex.shape[1]
    tiles_m = (m_all + TILE_M - 1) // TILE_M
    tiles = tiles_m * ((n_all + TILE_N - 1) // TILE_N)
    pw_w = np.empty((n_blocks, n_all), dtype=np.float64)       # 2^(ew - 2), exact in float64
    fw = np.empty((n_blocks, n_all), dtype=np.float32)         # the same in float32 where it is normal
    for b in range(n_blocks):
        for n in range(n_all):
            pw_w[b, n] = math.ldexp(1.0, ew[b, n] - 2)
            fw[b, n] = np.float32(pw_w[b, n]) if ew[b, n] - 2 >= -126 else np.float32(0.0)
    for tile in prange(tiles):
        m0, n0 = (tile % tiles_m) * TILE_M, (tile // tiles_m) * TILE_N   # m fastest: the W panel is reused
        rows, cols = min(TILE_M, m_all - m0), min(TILE_N, n_all - n0)
        p = np.zeros((TILE_M + MICRO_M, TILE_N), dtype=p_like.dtype)   # + a pass past the last row
        acc = np.zeros((TILE_M, TILE_N), dtype=np.float32)
        for b in range(n_blocks):
            for mi in range(0, rows, MICRO_M):
                _partials(vx, wt, m0 + mi, min(MICRO_M, rows - mi), n0, cols, b * block, block, p[mi:mi + MICRO_M])
            ew_b = ew[b, n0:n0 + cols]
            ew_min = ew_b.min()
            for r in range(rows):
                _add_scaled_pow2(p, acc, r, cols, ex[m0 + r, b], ew_b, pw_w[b, n0:n0 + cols],
                                 fw[b, n0:n0 + cols], ew_min, ex_hi)
        _store_tile(acc, out, m0, n0, rows, cols, transposed)


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

    row_first: the rows are X (sx multiplies first); False when the caller swapped the operands (W on the rows),
    and then out is (cols, rows): Y itself, stored transposed."""
    m_all, n_all = sx.shape[0], sw.shape[1]
    n_blocks = sx.shape[1]
    tiles_m = (m_all + TILE_M - 1) // TILE_M
    tiles = tiles_m * ((n_all + TILE_N - 1) // TILE_N)
    for tile in prange(tiles):
        m0, n0 = (tile % tiles_m) * TILE_M, (tile // tiles_m) * TILE_N   # m fastest: the W panel is reused
        rows, cols = min(TILE_M, m_all - m0), min(TILE_N, n_all - n0)
        p = np.zeros((TILE_M + MICRO_M, TILE_N), dtype=p_like.dtype)   # + a pass past the last row
        acc = np.zeros((TILE_M, TILE_N), dtype=np.float32)
        for b in range(n_blocks):
            for mi in range(0, rows, MICRO_M):
                _partials(vx, wt, m0 + mi, min(MICRO_M, rows - mi), n0, cols, b * block, block, p[mi:mi + MICRO_M])
            for r in range(rows):
                _add_scaled_float(p, acc, r, cols, sx[m0 + r, b], sw[b, n0:n0 + cols], row_first)
        for r in range(rows):
            for j in range(cols):
                acc[r, j] = np.float32(acc[r, j] * post)
        _store_tile(acc, out, m0, n0, rows, cols, not row_first)


@njit(cache=True)
def _add_scaled_wide(p, acc, r, cols, e_x, pw_w):
    """acc[r, :cols] += fl32(P * 2^e_x * 2^(ew + offset)): both float64 products are exact (|P| < 2^53, scales
    within float64's normal range), so the float32 conversion is the contract's one rounding."""
    sx = math.ldexp(1.0, e_x)
    for j in range(cols):
        acc[r, j] = acc[r, j] + np.float32(np.float64(p[r, j]) * sx * pw_w[j])


@njit(cache=True, parallel=True)
def gemm_pow2_wide(vx, wt, block, ex, ew, offset, p_like, out, transposed):
    """out (M, N) float32 (its transpose when transposed) for wide power-of-two operands (MX FP8): ex (M, nb),
    ew (nb, N) int64 block exponents, offset the contract's constant (-18); p_like int64.  Callers have already
    rejected exponent sums above 127."""
    m_all, n_all = ex.shape[0], ew.shape[1]
    n_blocks = ex.shape[1]
    tiles_m = (m_all + TILE_M - 1) // TILE_M
    tiles = tiles_m * ((n_all + TILE_N - 1) // TILE_N)
    pw_w = np.empty((n_blocks, n_all), dtype=np.float64)       # 2^(ew + offset), exact in float64
    for b in range(n_blocks):
        for n in range(n_all):
            pw_w[b, n] = math.ldexp(1.0, ew[b, n] + offset)
    for tile in prange(tiles):
        m0, n0 = (tile % tiles_m) * TILE_M, (tile // tiles_m) * TILE_N
        rows, cols = min(TILE_M, m_all - m0), min(TILE_N, n_all - n0)
        p = np.zeros((TILE_M + MICRO_M, TILE_N), dtype=p_like.dtype)
        acc = np.zeros((TILE_M, TILE_N), dtype=np.float32)
        for b in range(n_blocks):
            for mi in range(0, rows, MICRO_M):
                _partials(vx, wt, m0 + mi, min(MICRO_M, rows - mi), n0, cols, b * block, block, p[mi:mi + MICRO_M])
            for r in range(rows):
                _add_scaled_wide(p, acc, r, cols, ex[m0 + r, b], pw_w[b, n0:n0 + cols])
        _store_tile(acc, out, m0, n0, rows, cols, transposed)
