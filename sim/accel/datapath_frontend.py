"""The LUT unit's front end as a datapath model (the same circuit as rtl_models/hdl/q_frontend.v): float32 bit
patterns in, the shared block exponent, the 5-bit intermediates q, the signs and a zero-block flag out.

Arithmetic, per block of B finite float32 values x_i with exponent fields E_i and 24-bit significands M_i:
- Emax = max_i E_i (a max tree over 8-bit fields: for finite floats the field of max|x| is the largest field);
  e = Emax - 129, except Emax < 2 (every |x| < 2^-125, subnormals and zeros included) clamps e to -127;
- with Ea = max(Emax, 2), Ei = max(E_i, 1) and d = Ea - Ei >= 0, |x_i| * 2^(2-e) = M_i * 2^-(19+d), so
  q_i = min(31, ((M_i[23:18] >> d) + 1) >> 1) (round half up by the shifter's last bit; d >= 6 gives 0):
  only the top six significand bits ever decide q;
- the zero flag is an OR over the magnitude bits of the block.  It is not `max q == 0`: a block of tiny
  subnormals (e.g. 1e-45) has every q = 0 but is not zero, and the two-stage rule gives it dialect 2p+1 of the
  lowest pair (the reference's result), not the zero block's dialect 0.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXP_BIAS_PLUS_2 = 129       # e = Emax - 127 - 2 (the element format's emax is 2: amax * 2^-e in [4, 8))
MIN_EXP = -127              # e clamps here (the E8M0 range); also the exponent of an all-zero block
SIG_TOP_SHIFT = 18          # M_i[23:18]: the six significand bits that reach q
Q_MAX = 31                  # 5-bit intermediate


@dataclass(frozen=True)
class FrontEnd:
    """e (R, nb) int64; q (R, nb, B) int64; sign (R, nb, B) bool; nonzero (R, nb) bool."""
    e: np.ndarray
    q: np.ndarray
    sign: np.ndarray
    nonzero: np.ndarray


def front_end(xb: np.ndarray, sharing=None, exponents=None) -> FrontEnd:
    """Blocks (R, nb, B) of finite float32 values -> the front end's outputs, from the raw bits only.

    sharing (quant.exponents.ExponentSharing): the exponent unit replaces each block's exponent by the shared one;
    exponents: given exponents (R, nb) instead (never below a block's own).  Either way the shifter aligns every
    element to its block's exponent e through Ea = e + 129 (Ea = 2 for e = -127), d = Ea - Ei >= 0."""
    bits = np.ascontiguousarray(xb, dtype=np.float32).view(np.uint32).astype(np.int64)
    field = (bits >> 23) & 0xFF
    emax = field.max(axis=-1)
    clamp = emax < 2
    e = np.where(clamp, MIN_EXP, emax - EXP_BIAS_PLUS_2)
    if sharing is not None or exponents is not None:
        own = e
        e = exponent_unit(own, sharing) if exponents is None else np.broadcast_to(exponents, own.shape).astype(np.int64)
        if (e < own).any():
            raise ValueError("front end: a given block exponent is below the block's own (shared exponents never are)")
        clamp = e == MIN_EXP                 # only where the block's own exponent is clamped too
    ea = np.where(clamp, 2, e + EXP_BIAS_PLUS_2)
    normal = field != 0
    d = ea[..., None] - np.maximum(field, 1)
    top = (normal.astype(np.int64) << 5) | ((bits >> SIG_TOP_SHIFT) & 0x1F)
    r = np.where(d < 6, top >> np.minimum(d, 5), 0)
    q = np.minimum((r + 1) >> 1, Q_MAX)
    return FrontEnd(e=e, q=q, sign=(bits >> 31).astype(bool), nonzero=((bits & 0x7FFFFFFF) != 0).any(axis=-1))


def exponent_unit(e_own: np.ndarray, sharing) -> np.ndarray:
    """The shared-exponent unit (quant/exponents.py): a max tree over the own exponents of each span's blocks
    (span_blocks of them along K; a tensor-wide maximum, a first pass over the tensor like NVFP4's amax, for
    span_blocks 0), then per block max(e_own, E - window): a subtractor and a comparator."""
    if sharing.trivial:
        return e_own
    rows, nb = e_own.shape
    if sharing.span_blocks == 0:
        ref = np.full(e_own.shape, e_own.max() if e_own.size else MIN_EXP, dtype=np.int64)
    else:
        ref = np.empty_like(e_own)
        for start in range(0, nb, sharing.span_blocks):      # one max tree per span
            cols = slice(start, min(start + sharing.span_blocks, nb))
            ref[:, cols] = e_own[:, cols].max(axis=1, keepdims=True)
    return np.maximum(e_own, ref - sharing.window)
