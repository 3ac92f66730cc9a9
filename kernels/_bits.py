"""Exact float32 helpers shared by the kernels: powers of two built from bits, exponents read from bits, exact
power-of-two scaling, and roundings that compare exact fractions instead of adding 0.5.

Why bits: 2^k for k near -127 is not a normal float32 and 2^(2-e) overflows for e <= -126, so no `exp2` call or
single multiply can be trusted across the whole exponent range; integer manipulation is exact everywhere.
"""
from ._env import require_triton

require_triton()
import triton  # noqa: E402
import triton.language as tl  # noqa: E402


@triton.jit
def pow2(k):
    """float32 2^k for int32 k in [-126, 127] (a normal number: biased exponent field k + 127, mantissa 0)."""
    return ((k + 127) << 23).to(tl.float32, bitcast=True)


@triton.jit
def pow2_f64(k):
    """float64 2^k for int32 k in [-1022, 1023] (biased exponent field k + 1023, mantissa 0)."""
    return ((k.to(tl.int64) + 1023) << 52).to(tl.float64, bitcast=True)


@triton.jit
def biased_exponent(a):
    """The 8-bit exponent field of float32 `a` (0 for zero and subnormals)."""
    return (a.to(tl.int32, bitcast=True) >> 23) & 0xFF


@triton.jit
def block_exponent(amax):
    """Shared exponent e = floor(log2 amax) - 2, clamped to >= -127; zero and subnormal amax give -127
    (their floor(log2) - 2 is below -128).  Matches quant.blocks.block_exponent."""
    return tl.maximum(biased_exponent(amax) - 129, -127)


@triton.jit
def scale_pow2(a, k):
    """a * 2^k for int32 k in [-252, 254], in two multiplies so each factor is a normal float32.

    Exact whenever the result is a normal float32; a result below 2^-126 may lose low bits (in every caller such
    a value is far below the first rounding threshold, so the code it produces is unchanged)."""
    k1 = k >> 1
    return (a * pow2(k1)) * pow2(k - k1)


@triton.jit
def round_half_up(t):
    """floor(t + 0.5) as int32 for 0 <= t < 2^31, exactly: the fraction t - floor(t) is exact in float32."""
    f = t.to(tl.int32)
    return f + ((t - f.to(tl.float32)) >= 0.5).to(tl.int32)


@triton.jit
def round_half_even(t):
    """Round 0 <= t < 2^31 to the nearest integer, ties to even, as int32 (exact comparisons only)."""
    f = t.to(tl.int32)
    frac = t - f.to(tl.float32)
    up = (frac > 0.5) | ((frac == 0.5) & ((f & 1) == 1))
    return f + up.to(tl.int32)


@triton.jit
def round_small_float(s, MAN: tl.constexpr, EMIN: tl.constexpr, MAXV: tl.constexpr):
    """Round s >= 0 (float32) to a small float format with MAN mantissa bits, smallest normal exponent EMIN and
    largest finite MAXV: nearest, ties to the even code, saturating at MAXV (FP8 E4M3: 3, -6, 448; FP16: 10,
    -14, 65504).  Matches FloatElementFormat.round for non-negative finite input."""
    eu = tl.maximum(biased_exponent(s) - 127, EMIN) - MAN     # exponent of one unit in the last place
    t = scale_pow2(s, -eu)                                    # in [0, 2^(MAN+1)): exact
    r = round_half_even(t)
    v = scale_pow2(r.to(tl.float32), eu)                      # exact: r has at most MAN+2 bits
    return tl.where(s >= MAXV, MAXV, tl.minimum(v, MAXV))
