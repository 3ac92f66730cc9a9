"""Numba quantizer for MX float formats (`fp8_e4m3_g32`, quant/mx_float.py), bit-identical to the NumPy reference.

The reference rounds x * 2^-e onto the table of E4M3 values (float64 midpoints, searchsorted); this kernel works on
the float32 bit pattern alone, so the two are independent implementations of the same rounding:
- e = max(Emax - 127 - 8, -127), Emax the largest 8-bit exponent field of the block (a zero or subnormal maximum
  gives a field of 0 and so the clamp, as floor(log2 amax) - 8 < -127 does);
- x = sig * 2^p exactly (sig < 2^24); the scaled value y = sig * 2^(p - e) has floor(log2 y) = L + p - e (L the
  bit length of sig minus one); its E4M3 unit in the last place is 2^u with u = max(L + p - e, -6) - 3;
- n = sig * 2^(p - e - u) rounded to nearest, ties to even, with integer shifts (n in 0..16); the code is
  ((u + 10) << 3) + n - 8 (a carry to n = 16 moves into the next binade by itself; u = -9 is the subnormal range,
  where the code is n), saturated at 0x7E (448), with x's sign bit in bit 7 (zeros included).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .blocks import as_blocks
from .errors import QuantError

_MAX_CODE = 0x7E     # 448 = S.1111.110; 0x7F is NaN


@njit(cache=True, inline="always")
def _bit_length(v):
    n = 0
    while v:
        v >>= 1
        n += 1
    return n


@njit(cache=True, inline="always")
def _rne_shift(sig, sh):
    """sig * 2^-sh rounded to nearest, ties to even (sh may be <= 0: an exact left shift)."""
    if sh <= 0:
        return sig << -sh
    if sh > 40:
        return 0
    n = sig >> sh
    rem = sig & ((1 << sh) - 1)
    half = 1 << (sh - 1)
    if rem > half or (rem == half and (n & 1) == 1):
        n += 1
    return n


@njit(cache=True, inline="always")
def _encode(bits, e):
    """E4M3 code of float32 bit pattern `bits` (int64) scaled by 2^-e: nearest even, saturating, sign kept."""
    sign = (bits >> 31) & 1
    field = (bits >> 23) & 0xFF
    man = bits & 0x7FFFFF
    if field == 0 and man == 0:
        return sign << 7
    sig = man | (1 << 23) if field else man
    p = field - 150 if field else -149
    u = max(_bit_length(sig) - 1 + p - e, -6) - 3
    n = _rne_shift(sig, u - (p - e))
    code = min(((u + 10) << 3) + n - 8, _MAX_CODE) if n else 0
    return (sign << 7) | code


@njit(cache=True, parallel=True)
def mx_e4m3_rows(xi, block, emax_elem, e_out, codes):
    """xi: int32 view (R, nb*block) of the zero-padded float32 input; e_out (R, nb) int64; codes (R, nb*block)."""
    for r in prange(xi.shape[0]):
        for b in range(e_out.shape[1]):
            k0 = b * block
            top = 0
            for k in range(k0, k0 + block):
                top = max(top, (np.int64(xi[r, k]) >> 23) & 0xFF)
            e = max(top - 127 - emax_elem, -127)
            e_out[r, b] = e
            for k in range(k0, k0 + block):
                codes[r, k] = _encode(np.int64(xi[r, k]) & 0xFFFFFFFF, e)


def quantize_mx(x, f, selector=None, block=None, backend="numba", tensor="x", nonfinite="raise", allowed=None,
                **knobs):
    """`quant.quantize(x, <MX float format>, backend="numba")`: same checks and QTensor as the reference."""
    if selector not in (None, "nearest") or allowed is not None or knobs:
        return f.quantize(x, selector=selector, block=block, tensor=tensor, nonfinite=nonfinite, allowed=allowed,
                          **knobs)                        # the format's own refusal
    if f.element.name != "fp8_e4m3":
        raise QuantError(f"numba back end: no MX kernel for element format {f.element.name} of {f.name}")
    from .registry import check_block
    block = check_block(f, block)
    xb = as_blocks(x, block, tensor, nonfinite)           # shape, dtype and non-finite checks; zero padding
    rows, nb = xb.shape[:2]
    xi = np.ascontiguousarray(xb.reshape(rows, nb * block)).view(np.int32)
    e = np.empty((rows, nb), dtype=np.int64)
    codes = np.empty((rows, nb * block), dtype=np.uint8)
    mx_e4m3_rows(xi, block, f.elem_emax, e, codes)
    return f.make_qtensor(np.shape(x), block, codes, e)
