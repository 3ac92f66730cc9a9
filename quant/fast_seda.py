"""Numba kernels of the semanticdialect path's per-call work (SeDA's sub-book choice), bit-identical to the NumPy
spec in quant/seda.py.

`subbook_choice` fuses what quant.seda.dialect_costs + choose_subbooks do in NumPy: per block the exponent, the
5-bit intermediate q (both exactly as quant/blocks.py: frexp of the float32 block maximum, |x| * 2^(2-e) exact in
float64, rounding by comparing the exact fraction with one half), the LUT cost of every dialect (integer sums, so
the order does not matter), the minimum inside each sub-book, the per-group sums and the argmin over sub-books
(strict `<` in ascending id: ties go to the lowest sub-book, like np.argmin).  Padding positions of a partial
last block count as q = 0, as the zero padding of quant.blocks.as_blocks does.

The kernels run on one thread: one call is a few milliseconds of work (the tiny VDiT's linears), less than
what waking a thread pool costs on a loaded 2-core machine (measured: bench/README.md).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

from .fast_select import _Q_MAX, _block_exponent   # one block-exponent front end for every Numba kernel


@njit(cache=True)
def _block_costs(x, k0, k1, block, e, err_t, cost):
    """cost[d] = sum_i ERR[d][q_i] over the block's `block` positions (positions >= k1 are zero padding)."""
    scale = math.ldexp(1.0, 2 - e)
    cost[:] = 0
    for i in range(block):
        k = k0 + i
        q = 0
        if k < k1:
            t = abs(np.float64(x[k])) * scale
            whole = np.int64(t) if t < 64.0 else np.int64(64)
            q = min(_Q_MAX, whole + (1 if (t - whole) >= 0.5 else 0))
        row = err_t[q]
        for d in range(cost.shape[0]):
            cost[d] += row[d]


@njit(cache=True)
def subbook_best(x2d, block, err_t, member_of, best):
    """best[r, b, s] = min over the dialects d of sub-book s of block (r, b)'s LUT cost (int64).  Returns the
    number of non-finite inputs seen (the caller then takes the NumPy path, which raises naming the block)."""
    n_rows, k_valid = x2d.shape
    n_blocks, n_sub = best.shape[1], best.shape[2]
    bad = 0
    cost = np.zeros(err_t.shape[1], dtype=err_t.dtype)
    for r in range(n_rows):
        x = x2d[r]
        for k in range(k_valid):
            if not np.isfinite(x[k]):
                bad += 1
        for b in range(n_blocks):
            k0 = b * block
            k1 = min(k0 + block, k_valid)
            _block_costs(x, k0, k1, block, _block_exponent(x, k0, k1)[0], err_t, cost)
            for s in range(n_sub):
                best[r, b, s] = np.iinfo(np.int64).max
            for d in range(cost.shape[0]):
                s = member_of[d]
                if cost[d] < best[r, b, s]:
                    best[r, b, s] = cost[d]
    return bad


@njit(cache=True)
def group_choice(best, labels, n_groups):
    """(G, nb) argmin over sub-books of the per-group sums of best (ties: lowest sub-book)."""
    n_rows, n_blocks, n_sub = best.shape
    total = np.zeros((n_groups, n_blocks, n_sub), dtype=np.int64)
    for r in range(n_rows):
        g = labels[r]
        for b in range(n_blocks):
            for s in range(n_sub):
                total[g, b, s] += best[r, b, s]
    choice = np.zeros((n_groups, n_blocks), dtype=np.int64)
    for g in range(n_groups):
        for b in range(n_blocks):
            c = 0
            for s in range(1, n_sub):
                if total[g, b, s] < total[g, b, c]:
                    c = s
            choice[g, b] = c
    return choice


def subbook_choice(x2d, book, block: int, labels, n_groups: int, member_of):
    """(G, nb) sub-book choice of quant.seda.choose_subbooks(dialect_costs(x2d, ...)), or None when x2d has a
    non-finite element (the NumPy path then raises its NonFiniteError)."""
    x2d = np.ascontiguousarray(x2d, dtype=np.float32)
    _, err = book.lut()
    narrow = int(np.max(err)) * block < 2 ** 31          # int32 sums cannot wrap: twice the SIMD lanes
    err_t = np.ascontiguousarray(np.asarray(err).T, dtype=np.int32 if narrow else np.int64)
    n_sub = int(member_of.max()) + 1
    best = np.empty((x2d.shape[0], -(-x2d.shape[1] // block), n_sub), dtype=np.int64)
    if subbook_best(x2d, block, err_t, np.ascontiguousarray(member_of, dtype=np.int64), best):
        return None
    return group_choice(best, np.ascontiguousarray(labels, dtype=np.int64), n_groups)
