"""Dialect selectors: pick one dialect of a formatbook per block and encode the block's elements.

Each selector maps float32 blocks (R, nb, B) and their exponents (R, nb) to (dialect ids (R, nb), unsigned
indices (R, nb, B)).  Signs are applied by the caller.  Registry: `SELECTORS`; adding one is one function.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np

from .blocks import intermediate_q, nearest_level, scaled_magnitude
from .errors import UnknownNameError
from .formatbooks import Formatbook


@dataclass(frozen=True)
class Selector:
    name: str
    fn: Callable
    online: bool          # True: works from the 5-bit intermediate q (hardware LUT unit); False: offline
    provenance: str
    knobs: tuple = ()     # keyword knobs the selector takes (its keyword parameters after `allowed`)


SELECTORS: dict = {}


def register_selector(name: str, online: bool, provenance: str):
    def deco(fn):
        SELECTORS[name] = Selector(name, fn, online, provenance, _knobs_of(fn))
        return fn
    return deco


def _knobs_of(fn) -> tuple:
    """Named keyword parameters of a selector function other than its inputs and `allowed` (the catch-all **_
    takes back-end extras and is not a knob)."""
    params = list(inspect.signature(fn).parameters.values())[3:]
    return tuple(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "allowed")


def get_selector(name: str) -> Selector:
    try:
        return SELECTORS[name]
    except KeyError:
        raise UnknownNameError("selector", name, sorted(SELECTORS)) from None


def _mask_costs(cost: np.ndarray, allowed) -> np.ndarray:
    if allowed is None:
        return cost
    allowed = np.broadcast_to(np.asarray(allowed, dtype=bool), cost.shape)
    if not allowed.any(axis=-1).all():
        raise ValueError("`allowed` leaves some block with no dialect to choose from")
    return np.where(allowed, cost, np.iinfo(np.int64).max if cost.dtype.kind == "i" else np.inf)


@register_selector("lut_argmin", online=True,
                   provenance="[paper] LUTs of errors and indices; [ours] table layout and tie rules")
def select_lut_argmin(xb, e, book: Formatbook, allowed=None, **_):
    """d* = argmin_d sum_i ERR[d][q_i] (ties to the lowest d); idx_i = IDX[d*][q_i].

    `allowed` (bool, broadcastable to (R, nb, D)) restricts the search (SeDA's sub-formatbooks).
    """
    idx_lut, err_lut = book.lut()
    q = intermediate_q(xb, e)                                # (R, nb, B)
    cost = np.zeros(q.shape[:2] + (book.size,), dtype=np.int64)
    for d in range(book.size):                               # one ERR bank + adder tree per dialect
        cost[..., d] = err_lut[d][q].sum(axis=-1)
    dialect = np.argmin(_mask_costs(cost, allowed), axis=-1)  # first minimum = lowest id
    return dialect, idx_lut[dialect[..., None], q]


@register_selector("exact_mse", online=False, provenance="[BD] offline weight selector: exact MSE per dialect")
def select_exact_mse(xb, e, book: Formatbook, allowed=None, **_):
    """Nearest magnitude of |x| * 2^-e per dialect (ties to the even index), d* = argmin of the summed squared
    error in float64 accumulated in ascending element order (ties to the lowest d)."""
    t = scaled_magnitude(xb, e, 1)                           # half-units, float64, exact
    n_blocks = t.shape[:2]
    cost = np.zeros(n_blocks + (book.size,), dtype=np.float64)
    idx_all = np.zeros(n_blocks + (book.size, t.shape[-1]), dtype=np.int64)
    for d in range(book.size):
        levels = book.magnitudes[d]
        idx = nearest_level(t, levels)
        diff = t - levels[idx]
        acc = np.zeros(n_blocks, dtype=np.float64)
        for i in range(t.shape[-1]):                         # fixed order: the Numba path sums the same way
            acc = acc + diff[..., i] * diff[..., i]
        cost[..., d] = acc
        idx_all[..., d, :] = idx
    dialect = np.argmin(_mask_costs(cost, allowed), axis=-1)
    return dialect, np.take_along_axis(idx_all, dialect[..., None, None], axis=-2)[..., 0, :]


@register_selector("two_stage", online=True,
                   provenance="[BD] BlockDialect two-stage online selector; [ours] threshold default 1")
def select_two_stage(xb, e, book: Formatbook, threshold: int = 1, allowed=None, **_):
    """Stage 1: the pair (d2p, d2p+1) whose shared maximum (15-p half-units) equals the block maximum rounded
    half-up to the half-unit grid, clamped to 8..15 half-units.  Stage 2: count elements in A's beneficial range
    [(A6+B6)/2, (A6+max)/2) (in quarter-units: A6+B6 <= q < A6+max); choose A (even id) when the count reaches
    `threshold`, else B.  Needs a book laid out in such pairs (DialectFP4)."""
    if allowed is not None:
        raise ValueError("two_stage does not support restricted (sub-formatbook) selection; use lut_argmin")
    mags = book.magnitudes
    if book.size % 2 or np.any(mags[0::2, 7] != mags[1::2, 7]):
        raise ValueError(f"two_stage needs a formatbook of dialect pairs sharing their maximum; {book.name} is not")
    idx_lut, _ = book.lut()
    q = intermediate_q(xb, e)
    pair_max = mags[0::2, 7]                                 # descending maxima, one per pair
    mh = np.clip((q.max(axis=-1) + 1) >> 1, pair_max.min(), pair_max.max())
    pair = np.argmin(np.abs(pair_max[None, None, :] - mh[..., None]), axis=-1)
    a6, b6, mx = mags[2 * pair, 6], mags[2 * pair + 1, 6], mags[2 * pair, 7]
    in_range = (q >= (a6 + b6)[..., None]) & (q < (a6 + mx)[..., None])
    dialect = 2 * pair + (in_range.sum(axis=-1) < threshold)
    return dialect, idx_lut[dialect[..., None], q]
