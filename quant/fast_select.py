"""Numba kernels for dialect selection and encoding: one pass per block (amax -> exponent -> q -> select -> encode).

Every step mirrors the NumPy spec (quant/blocks.py, quant/selectors.py, quant/registry.py) bit for bit:
- exponent: frexp of the float32 block maximum, minus 2, clamped to MIN_EXP; all-zero blocks get ZERO_BLOCK_EXP;
- q = min(31, floor(|x| * 2^(2-e) + 0.5)): the product is exact in float64 and the rounding compares the exact
  fraction with 0.5 (no float addition);
- exact_mse sums squared errors in float64 in ascending element order with separate multiply and add (Numba
  does not enable fast-math, so LLVM may not contract them into an FMA);
- every argmin scans dialects in ascending id with a strict `<`, so ties go to the lowest id.

lut_argmin on whole blocks takes the lane path: the exponent from the integer maximum of |x|'s bit patterns, q
from the bits (integer shifts, no float), and the D dialect costs summed together, one vector add of an ERR^T row
per element (quant/fast_lanes.py); partial blocks, exact_mse and two_stage take the per-element path below.

Kernels run one block at a time per row; rows are spread over threads with `prange`.  Selector ids are internal
to this module (the public names live in quant.selectors.SELECTORS).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .blocks import MIN_EXP, ZERO_BLOCK_EXP
from .fast_lanes import LANES, lane_min_key, lane_sums

LUT_ARGMIN, EXACT_MSE, TWO_STAGE = 0, 1, 2
KERNEL_SELECTORS = {"lut_argmin": LUT_ARGMIN, "exact_mse": EXACT_MSE, "two_stage": TWO_STAGE}
_Q_MAX = 31
_NO_KEY = np.int64(2**62)   # above every argmin key (cost < 2^31, id < 2^16)


@njit(cache=True)
def _block_exponent(x, k0, k1):
    """Shared exponent of x[k0:k1] (docs/formats.md#block-exponent), and whether the block has a non-zero element."""
    amax = np.float32(0.0)
    for k in range(k0, k1):
        a = abs(x[k])
        if a > amax:
            amax = a
    if amax == 0:
        return ZERO_BLOCK_EXP, False
    _, ex = math.frexp(np.float64(amax))
    return max(ex - 1 - 2, MIN_EXP), True


@njit(cache=True, inline="always")
def _block_exponent_bits(x, xi, k0, k1):
    """Same as _block_exponent: for finite x, |x| orders as its bit pattern without the sign, so the maximum is an
    integer max (which vectorizes) and frexp's exponent is the biased exponent - 126.  Blocks whose maximum is
    subnormal, infinite or NaN take _block_exponent itself."""
    top = 0
    for k in range(k0, k1):
        top = max(top, xi[k] & 0x7FFFFFFF)
    if top == 0:
        return ZERO_BLOCK_EXP, False
    biased = top >> 23
    if biased == 0 or biased == 255:
        return _block_exponent(x, k0, k1)
    return max(biased - 126 - 1 - 2, MIN_EXP), True


@njit(cache=True, parallel=True)
def block_exponents(x2d, k_valid, block, e_out):
    """Own exponent of every block of x2d (R, >= k_valid) float32 into e_out (R, nb) (the front end of the fused
    kernel, for shared exponents computed before selection)."""
    for r in prange(e_out.shape[0]):
        x = x2d[r]
        xi = x.view(np.int32)
        for b in range(e_out.shape[1]):
            k0 = b * block
            e_out[r, b] = _block_exponent_bits(x, xi, k0, min(k0 + block, k_valid))[0]


@njit(cache=True, inline="always")
def _bits_q(xi, k0, e, q, sign):
    """_scaled_q for a whole block, from the bits: |x| = m * 2^(b-150) (b the biased exponent, at least 1; m with
    its hidden bit), so t = |x| * 2^(2-e) = m * 2^-s with s = 148 + e - b and round-half-up(t) = (m + 2^(s-1)) >> s.
    s <= 0 means t >= 2^23, and b = 255 (inf, NaN) gives 31 like the float path; s is capped at 31, where the
    result is already 0 (m < 2^24)."""
    for i in range(q.shape[0]):
        bits = xi[k0 + i]
        biased = (bits >> 23) & 0xFF
        m = (bits & 0x7FFFFF) | (0x800000 if biased > 0 else 0)
        s = 148 + e - max(biased, 1)
        sc = min(max(s, 1), 31)
        r = min(_Q_MAX, (m + (1 << (sc - 1))) >> sc)
        q[i] = _Q_MAX if (s <= 0 or biased == 255) else r
        sign[i] = (bits >> 28) & 8                               # the sign bit, moved to bit 3


@njit(cache=True, inline="always")
def _lane_argmin(q, lane_err, n_dialects, allowed_row, masked, sums):
    """argmin_d sum_i ERR[d][q_i] (ties to the lowest id) with all dialects summed together (fast_lanes); with a
    mask, only allowed dialects compete.  The argmin is one min over keys cost * 2^16 + d (D < 2^16, so the
    lower id wins a tie), reduced in vector registers instead of branching on every dialect."""
    for g in range(lane_err.shape[1]):
        lane_sums(q, lane_err, g, sums)
    best = _NO_KEY
    if masked:
        for d in range(n_dialects):
            best = min(best, ((np.int64(sums[d]) << 16) | d) if allowed_row[d] else _NO_KEY)
    else:
        for g in range(lane_err.shape[1]):
            best = min(best, lane_min_key(sums, g, n_dialects))
    return best & 0xFFFF


@njit(cache=True)
def _any_nonzero(x, k0, k1):
    for k in range(k0, k1):
        if x[k] != 0:
            return True
    return False


@njit(cache=True)
def _sign8(v):
    """8 when float v has its sign bit set (-0.0 included), else 0."""
    return 8 if math.copysign(1.0, v) < 0 else 0


@njit(cache=True)
def _fill_signs(x, k0, k1, sign):
    for i in range(sign.shape[0]):
        sign[i] = _sign8(x[k0 + i]) if k0 + i < k1 else 0


@njit(cache=True)
def _scaled_q(x, k0, k1, e, q, sign):
    """q[i] for x[k0+i] and sign[i] = 8 for x with its sign bit set (-0.0 included); positions at or beyond k1
    (K padding) are +0.  |x| * 2^(2-e) is exact in float64."""
    scale = math.ldexp(1.0, 2 - e)
    for i in range(q.shape[0]):
        k = k0 + i
        v = x[k] if k < k1 else np.float32(0.0)
        sign[i] = _sign8(v)
        t = abs(np.float64(v)) * scale
        whole = np.int64(t) if t < 64.0 else np.int64(64)      # t >= 0: truncation is floor
        up = 1 if (t - whole) >= 0.5 else 0                     # exact fraction compared with one half
        q[i] = min(_Q_MAX, whole + up)


@njit(cache=True)
def _argmin_lut(q, err_t, allowed_row, scratch):
    """d* = argmin_d sum_i ERR[d][q_i], ties to the lowest id; err_t is ERR transposed, (32, D) int32.

    Integer sums do not depend on order; each element adds its ERR column (one vector add over the dialects)."""
    n_dialects = err_t.shape[1]
    cost = scratch[err_t.shape[0]:]
    cost[:] = 0
    for i in range(q.shape[0]):
        row = err_t[q[i]]
        for d in range(n_dialects):
            cost[d] += row[d]
    best, best_cost = -1, np.int32(0)
    for d in range(n_dialects):
        if allowed_row[d] and (best < 0 or cost[d] < best_cost):
            best, best_cost = d, cost[d]
    return best


@njit(cache=True)
def _nearest_index(t2, mid2_row):
    """Index of the level nearest to t (t2 = 2t): count midpoints below, a tie moves up only to an even index."""
    idx = 0
    for j in range(mid2_row.shape[0]):
        if t2 > mid2_row[j] or (t2 == mid2_row[j] and j % 2 == 1):
            idx += 1
    return idx


@njit(cache=True)
def _argmin_mse(x, k0, k1, e, levels, mid2, allowed_row, t):
    """exact_mse: t = |x| * 2^(1-e) in half-units; float64 squared error summed in ascending element order."""
    scale = math.ldexp(1.0, 1 - e)
    for i in range(t.shape[0]):
        k = k0 + i
        t[i] = abs(np.float64(x[k])) * scale if k < k1 else 0.0
    best, best_cost = -1, 0.0
    for d in range(levels.shape[0]):
        if not allowed_row[d]:
            continue
        acc = 0.0
        for i in range(t.shape[0]):
            diff = t[i] - levels[d, _nearest_index(2.0 * t[i], mid2[d])]
            sq = diff * diff
            acc = acc + sq
        if best < 0 or acc < best_cost:
            best, best_cost = d, acc
    return best


@njit(cache=True)
def _two_stage(q, pair_max, a6, b6, threshold):
    """BlockDialect's two-stage choice (see quant.selectors.select_two_stage for the rule)."""
    qmax = 0
    for i in range(q.shape[0]):
        qmax = max(qmax, q[i])
    mh = min(max((qmax + 1) >> 1, pair_max.min()), pair_max.max())
    pair, best = 0, abs(pair_max[0] - mh)
    for p in range(1, pair_max.shape[0]):
        if abs(pair_max[p] - mh) < best:
            pair, best = p, abs(pair_max[p] - mh)
    lo, hi = a6[pair] + b6[pair], a6[pair] + pair_max[pair]
    count = 0
    for i in range(q.shape[0]):
        if q[i] >= lo and q[i] < hi:
            count += 1
    return 2 * pair + (1 if count < threshold else 0)


@njit(cache=True)
def _emit_codes(q, sign, idx_row, codes, r, c0, packed, signed_zero):
    """code = sign<<3 | IDX[d*][q] with the sign only on a non-zero index (canonical zero) unless signed_zero
    (MXFP4), written unpacked or two per byte (low nibble first).  sign[i] is 8 for negative elements, else 0."""
    n = q.shape[0]
    if not packed:
        for i in range(n):
            idx = idx_row[q[i]]
            codes[r, c0 + i] = idx | (sign[i] if idx != 0 or signed_zero else 0)
    elif c0 % 2 == 0 and n % 2 == 0:                           # whole bytes: no read-modify-write
        for i in range(0, n, 2):
            lo, hi = idx_row[q[i]], idx_row[q[i + 1]]
            lo |= sign[i] if lo != 0 or signed_zero else 0
            hi |= sign[i + 1] if hi != 0 or signed_zero else 0
            codes[r, (c0 + i) >> 1] = lo | (hi << 4)
    else:
        for i in range(n):
            pos = c0 + i
            idx = idx_row[q[i]]
            code = idx | (sign[i] if idx != 0 or signed_zero else 0)
            codes[r, pos >> 1] = (codes[r, pos >> 1] | (code << 4)) if pos % 2 else code


@njit(cache=True, inline="always")
def _emit_packed(q, sign, idx_row, codes_row, c0, signed_zero):
    """_emit_codes for a whole block at an even column, packed: the same codes, computed without branches (whether
    an index is zero is data, and a branch on it mispredicts about as often as it is taken)."""
    keep_zero = 1 if signed_zero else 0
    for i in range(0, q.shape[0], 2):
        lo, hi = idx_row[q[i]], idx_row[q[i + 1]]
        lo |= sign[i] * ((lo != 0) | keep_zero)
        hi |= sign[i + 1] * ((hi != 0) | keep_zero)
        codes_row[(c0 + i) >> 1] = lo | (hi << 4)


@njit(cache=True)
def _select_block(sel, x, k0, k1, e, tabs, allowed_row, threshold, q, sign, t, scratch):
    """Dialect id of one non-zero block; fills q (needed to encode)."""
    idx_lut, err_t, levels, mid2, pair_max, a6, b6 = tabs
    if sel == EXACT_MSE:
        return _argmin_mse(x, k0, k1, e, levels, mid2, allowed_row, t)   # leaves t = |x| * 2^(1-e)
    _scaled_q(x, k0, k1, e, q, sign)
    if sel == TWO_STAGE:
        return _two_stage(q, pair_max, a6, b6, threshold)
    return _argmin_lut(q, err_t, allowed_row, scratch)


@njit(cache=True, parallel=True)
def select_rows(sel, x2d, k_valid, block, e_in, have_e, tabs, allowed, masked, lane_err, threshold,
                e_out, dialect_out, codes_out, packed, signed_zero):
    """Select and encode every block of x2d (R, >=k_valid) float32.

    e_in (R, nb) is used when have_e, else the exponent is computed here (fused path) and written to e_out.
    allowed (R, nb, D) bool (may be a broadcast view); masked: whether it can exclude any dialect.  lane_err:
    lane_table(...) for lut_argmin's lane path, or an empty table to keep every block on the per-element path.
    codes_out: (R, nb*block) unpacked or (R, nb*block/2) packed.  Exact-MSE encodes with its own nearest index;
    other selectors with IDX[d*][q].  signed_zero keeps the sign bit on zero magnitudes (MXFP4), as
    registry.keep_zero_signs does.
    """
    for r in prange(dialect_out.shape[0]):
        _select_row(sel, x2d[r], r, k_valid, block, e_in, have_e, tabs, allowed[r], masked, lane_err, threshold,
                    e_out, dialect_out, codes_out, packed, signed_zero)


@njit(cache=True)
def _select_row(sel, x, r, k_valid, block, e_in, have_e, tabs, allowed, masked, lane_err, threshold,
                e_out, dialect_out, codes_out, packed, signed_zero):
    q = np.zeros(block, dtype=np.int32)
    sign = np.zeros(block, dtype=np.int32)
    t = np.zeros(block, dtype=np.float64)
    scratch = np.zeros(tabs[1].shape[0] + tabs[1].shape[1], dtype=np.int32)   # LUT costs (per-element path)
    sums = np.zeros(lane_err.shape[1] * LANES, dtype=lane_err.dtype)           # LUT costs (lane path)
    xi = x.view(np.int32)
    lanes = sel == LUT_ARGMIN and lane_err.shape[0] > 0
    for b in range(dialect_out.shape[1]):
        k0 = b * block
        k1 = min(k0 + block, k_valid)
        if have_e:
            e, nonzero = e_in[r, b], _any_nonzero(x, k0, k1)
        else:
            e, nonzero = _block_exponent_bits(x, xi, k0, k1)
        e_out[r, b] = e
        if not nonzero:                                      # all-zero block: dialect 0, codes 0 (or -0)
            dialect_out[r, b] = 0
            q[:] = 0
            _fill_signs(x, k0, k1, sign)
            _emit_codes(q, sign, tabs[0][0], codes_out, r, k0, packed, signed_zero)
        elif lanes and k1 - k0 == block:
            _bits_q(xi, k0, e, q, sign)
            d = _lane_argmin(q, lane_err, tabs[1].shape[1], allowed[b], masked, sums)
            dialect_out[r, b] = d
            if packed and k0 % 2 == 0 and block % 2 == 0:
                _emit_packed(q, sign, tabs[0][d], codes_out[r], k0, signed_zero)
            else:
                _emit_codes(q, sign, tabs[0][d], codes_out, r, k0, packed, signed_zero)
        else:
            d = _select_block(sel, x, k0, k1, e, tabs, allowed[b], threshold, q, sign, t, scratch)
            dialect_out[r, b] = d
            _encode_block(sel, d, x, k0, k1, tabs, q, sign, t, codes_out, r, packed, signed_zero)


@njit(cache=True)
def _encode_block(sel, d, x, k0, k1, tabs, q, sign, t, codes_out, r, packed, signed_zero):
    if sel == EXACT_MSE:                                      # q holds the nearest index itself here
        mid2 = tabs[3]
        for i in range(q.shape[0]):
            q[i] = _nearest_index(2.0 * t[i], mid2[d])
        _fill_signs(x, k0, k1, sign)
        _emit_codes(q, sign, _IDENTITY8, codes_out, r, k0, packed, signed_zero)
    else:
        _emit_codes(q, sign, tabs[0][d], codes_out, r, k0, packed, signed_zero)


_IDENTITY8 = np.arange(8, dtype=np.int64)


def book_tables(book):
    """Per-book tables for the kernels: (IDX (D,32), ERR^T (32,D) int32, levels (D,8) float64, twice the
    midpoints (D,7) float64, pair maxima/6th levels for two_stage (empty when the book is not in pairs))."""
    idx, err = book.lut()
    mags = book.magnitudes
    levels = mags.astype(np.float64)
    mid2 = (mags[:, :-1] + mags[:, 1:]).astype(np.float64)
    paired = book.size % 2 == 0 and bool(np.all(mags[0::2, 7] == mags[1::2, 7]))
    if paired:
        pair_max, a6, b6 = mags[0::2, 7].copy(), mags[0::2, 6].copy(), mags[1::2, 6].copy()
    else:
        pair_max = a6 = b6 = np.zeros(1, dtype=np.int64)
    return (np.ascontiguousarray(idx, dtype=np.int64), np.ascontiguousarray(err.T, dtype=np.int32), levels, mid2,
            pair_max.astype(np.int64), a6.astype(np.int64), b6.astype(np.int64))


def lane_table(book, block: int) -> np.ndarray:
    """ERR^T for the lane path: (32, G, LANES) with G = ceil(D / LANES), padded lanes zero, in the narrowest of
    int16/int32 that holds a whole block's sum (block * max ERR).  An empty table when not even int32 does."""
    _, err = book.lut()
    bound = int(err.max()) * block
    dtype = np.int16 if bound <= np.iinfo(np.int16).max else np.int32
    if bound > np.iinfo(np.int32).max or book.size >= 1 << 16:
        return np.zeros((0, 1, LANES), dtype=np.int32)
    groups = -(-book.size // LANES)
    table = np.zeros((err.shape[1], groups * LANES), dtype=dtype)
    table[:, :book.size] = err.T
    return table.reshape(err.shape[1], groups, LANES)

