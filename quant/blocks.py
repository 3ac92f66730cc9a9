"""Blocking along K, the shared block exponent and the 5-bit intermediate (docs/formats.md#block-exponent).

All arithmetic that decides a code is exact: exponents come from `frexp` (the float's exponent bits, subnormals
included), scaling by 2^k happens in float64 (exact for every float32 input), and rounding compares against
exact half-integers instead of adding 0.5.
"""
from __future__ import annotations

import numpy as np

from .errors import NonFiniteError, ShapeError

ZERO_BLOCK_EXP = -127   # exponent stored for an all-zero block
MIN_EXP = -127          # exponents are clamped here (int8 storage; E8M0's smallest scale)
MAX_EXP = 125           # the largest block exponent: floor(log2(FLT_MAX)) - 2 = 127 - 2 (block_exponent below)
FLT_MAX = float(np.finfo(np.float32).max)
NONFINITE_MODES = ("raise", "saturate")


def as_blocks(x, block: int, tensor: str = "x", nonfinite: str = "raise"):
    """(..., K) float array -> float32 (R, nb, block), zero-padded along K to a multiple of `block`.

    Non-finite values raise `NonFiniteError` naming the tensor, row and block, unless nonfinite='saturate'
    (then +-inf become +-FLT_MAX and NaN becomes 0).
    """
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] == 0:
        raise ShapeError(f"tensor {tensor!r}: need at least one element along the last (reduction) axis, "
                         f"got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ShapeError(f"tensor {tensor!r}: need a floating-point array, got dtype {x.dtype}")
    if block <= 0:
        raise ShapeError(f"block size must be positive, got {block}")
    k = x.shape[-1]
    rows = int(np.prod(x.shape[:-1], dtype=np.int64))    # not -1: a 0-row input has no -1 to infer
    x = np.ascontiguousarray(x, dtype=np.float32).reshape(rows, k)
    nb = -(-k // block)
    if nb * block != k:
        x = np.pad(x, ((0, 0), (0, nb * block - k)))
    xb = x.reshape(x.shape[0], nb, block)
    bad = ~np.isfinite(xb)
    if bad.any():
        if nonfinite == "saturate":
            xb = np.where(np.isnan(xb), np.float32(0), np.clip(xb, -FLT_MAX, FLT_MAX)).astype(np.float32)
        elif nonfinite == "raise":
            r, b, i = np.argwhere(bad)[0]
            raise NonFiniteError(tensor, int(r), int(b), float(xb[r, b, i]))
        else:
            raise ShapeError(f"nonfinite must be one of {NONFINITE_MODES}, got {nonfinite!r}")
    return xb


def floor_log2(a: np.ndarray) -> np.ndarray:
    """Exact floor(log2(a)) for positive finite floats (frexp: a = m * 2^E, m in [0.5, 1))."""
    _, e = np.frexp(a)
    return e.astype(np.int64) - 1


def block_exponent(xb: np.ndarray, elem_emax: int = 2) -> np.ndarray:
    """Shared exponent per block: floor(log2(amax)) - elem_emax, so amax * 2^-e lies in [2^emax, 2^(emax+1)).

    All-zero blocks get ZERO_BLOCK_EXP; exponents are clamped to >= MIN_EXP.  Returns int64 (R, nb).
    """
    amax = np.abs(xb).max(axis=-1)
    e = np.where(amax > 0, floor_log2(np.where(amax > 0, amax, 1.0)) - elem_emax, ZERO_BLOCK_EXP)
    return np.maximum(e, MIN_EXP)


def scaled_magnitude(xb: np.ndarray, e: np.ndarray, shift: int) -> np.ndarray:
    """|x| * 2^(shift - e) in float64: exact for float32 x (the result keeps x's 24-bit significand)."""
    return np.ldexp(np.abs(xb).astype(np.float64), (shift - e)[..., None])


def round_half_up(t: np.ndarray) -> np.ndarray:
    """floor(t + 0.5) for t >= 0, computed exactly (no float addition)."""
    f = np.floor(t)
    return f.astype(np.int64) + (t - f >= 0.5)


def intermediate_q(xb: np.ndarray, e: np.ndarray) -> np.ndarray:
    """The 5-bit intermediate in quarter-units: q = min(31, floor(|x| * 2^(2-e) + 0.5)). int64 (R, nb, block)."""
    return np.minimum(31, round_half_up(scaled_magnitude(xb, e, 2)))


def nearest_level(t: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Index of the level nearest to t (ascending integer `levels` broadcast against t's trailing axis),
    ties to the even index.  Uses only exact comparisons of t with the half-integer midpoints."""
    lo, hi = levels[..., :-1], levels[..., 1:]
    mid2 = lo + hi                         # twice the midpoint, integer
    t2 = 2.0 * t[..., None]                # exact
    j = np.arange(levels.shape[-1] - 1)
    above = (t2 > mid2) | ((t2 == mid2) & (j % 2 == 1))  # at a tie, move up only if the upper index is even
    return above.sum(axis=-1)
