"""Element and scale formats as frozen data.

Every format here is a table of representable values (or a closed-form integer range) plus its rounding rule;
nothing in the code branches on a format's name.  Values of the 4-bit dialect formats are integers in
*half-units* (magnitude = h / 2), which is what makes the quantized GEMM exact in integer arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class FloatElementFormat:
    """A small IEEE-like float format (sign + exponent + mantissa), e.g. E2M1, FP8 E4M3, FP8 E5M2.

    `values` are all non-negative finite magnitudes, indexed by the format's unsigned code (sign bit excluded),
    so `values[code & ~sign_mask]` decodes a code.  Encoding rounds to nearest, ties to the even code, and
    saturates to `max_value` (the OCP MX / FP8 "satfinite" convention).
    """

    name: str
    exp_bits: int
    man_bits: int
    bias: int
    max_value: float
    has_inf_nan_codes: tuple = ()  # unsigned codes that are not finite numbers (excluded from rounding targets)
    provenance: str = ""
    values: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        # every unsigned code at once (FP16 has 32,768: a Python loop here cost 0.3 s of every import)
        code = np.arange(1 << (self.exp_bits + self.man_bits))
        e, m = code >> self.man_bits, code & ((1 << self.man_bits) - 1)
        arr = np.where(e == 0, np.ldexp(m.astype(np.float64), 1 - self.bias - self.man_bits),          # subnormal
                       np.ldexp(1 + m / (1 << self.man_bits), e - self.bias))
        arr[list(self.has_inf_nan_codes)] = np.nan
        finite = arr[np.isfinite(arr)]
        if finite.max() != self.max_value:
            raise ValueError(f"{self.name}: derived max {finite.max()} != declared max_value {self.max_value}")
        object.__setattr__(self, "values", arr)

    @property
    def bits(self) -> int:
        return 1 + self.exp_bits + self.man_bits

    def encode(self, x: np.ndarray, signed_zero: bool = False) -> np.ndarray:
        """Round float values to this format: RNE on the code grid, saturate to +-max_value. Returns codes.

        A value that rounds to zero gets the +0 code unless `signed_zero`, which keeps x's sign bit (an IEEE
        cast does: -0.0 and small negatives give the -0 code, as torchao's E2M1 cast does for MXFP4/NVFP4)."""
        x = np.asarray(x, dtype=np.float64)
        mag = np.minimum(np.abs(x), self.max_value)
        grid = np.where(np.isfinite(self.values), self.values, np.inf)
        idx = np.searchsorted(grid, mag, side="left")  # first grid value >= mag
        idx = np.clip(idx, 0, len(grid) - 1)
        lo = np.maximum(idx - 1, 0)
        d_hi = grid[idx] - mag
        d_lo = mag - grid[lo]
        take_lo = (d_lo < d_hi) | ((d_lo == d_hi) & (lo % 2 == 0) & (lo != idx))
        code = np.where(take_lo, lo, idx).astype(np.int64)
        sign = (np.signbit(x) & ((code != 0) | signed_zero)).astype(np.int64)
        return (sign << (self.exp_bits + self.man_bits)) | code

    def decode(self, codes: np.ndarray) -> np.ndarray:
        codes = np.asarray(codes, dtype=np.int64)
        sign_bit = 1 << (self.exp_bits + self.man_bits)
        mag = self.values[codes & (sign_bit - 1)]
        return np.where(codes & sign_bit, -mag, mag)

    def round(self, x: np.ndarray) -> np.ndarray:
        """Nearest representable value (float64), the composition decode(encode(x))."""
        return self.decode(self.encode(x))


@dataclass(frozen=True)
class IntElementFormat:
    """Symmetric signed integer format: values -qmax..qmax, round half to even, saturate."""

    name: str
    bits: int
    qmax: int
    provenance: str = ""

    def __post_init__(self):
        if self.qmax > (1 << (self.bits - 1)) - 1:
            raise ValueError(f"{self.name}: qmax {self.qmax} does not fit {self.bits} signed bits")

    def encode(self, x: np.ndarray) -> np.ndarray:
        """Integer values (two's-complement codes are `value & (2**bits - 1)`)."""
        return np.clip(np.rint(np.asarray(x, dtype=np.float64)), -self.qmax, self.qmax).astype(np.int64)


@dataclass(frozen=True)
class PowerOfTwoScaleFormat:
    """E8M0: an 8-bit biased exponent, value 2^(code - bias); code 255 is NaN (OCP MX v1.0)."""

    name: str
    bits: int
    bias: int
    min_exp: int
    max_exp: int
    provenance: str = ""

    def encode(self, exponent: np.ndarray) -> np.ndarray:
        e = np.asarray(exponent, dtype=np.int64)
        if np.any((e < self.min_exp) | (e > self.max_exp)):
            raise ValueError(f"{self.name}: exponent outside [{self.min_exp}, {self.max_exp}]")
        return e + self.bias

    def decode(self, codes: np.ndarray) -> np.ndarray:
        return np.ldexp(1.0, np.asarray(codes, dtype=np.int64) - self.bias)


# --- the catalog -------------------------------------------------------------------------------------------
E2M1 = FloatElementFormat(
    "e2m1", exp_bits=2, man_bits=1, bias=1, max_value=6.0,
    provenance="OCP Microscaling Formats (MX) v1.0, FP4 E2M1: no inf/nan, max normal 6.0",
)
FP8_E4M3 = FloatElementFormat(
    "fp8_e4m3", exp_bits=4, man_bits=3, bias=7, max_value=448.0, has_inf_nan_codes=(0x7F,),
    provenance="OCP 8-bit Floating Point Specification (OFP8) rev 1.0, E4M3: S.1111.111 is NaN, no inf, max 448",
)
FP8_E5M2 = FloatElementFormat(
    "fp8_e5m2", exp_bits=5, man_bits=2, bias=15, max_value=57344.0,
    has_inf_nan_codes=(0x7C, 0x7D, 0x7E, 0x7F),
    provenance="OCP OFP8 rev 1.0, E5M2: IEEE-like, exponent 31 is inf/nan, max 57344",
)
FP16 = FloatElementFormat(
    "fp16", exp_bits=5, man_bits=10, bias=15, max_value=65504.0,
    has_inf_nan_codes=tuple(range(0x7C00, 0x8000)),
    provenance="IEEE 754 binary16 (used for INT4 group scales)",
)
INT4 = IntElementFormat("int4", bits=4, qmax=7, provenance="symmetric INT4, -8 unused")
INT8 = IntElementFormat("int8", bits=8, qmax=127, provenance="symmetric INT8, -128 unused")
E8M0 = PowerOfTwoScaleFormat(
    "e8m0", bits=8, bias=127, min_exp=-127, max_exp=127,
    provenance="OCP MX v1.0 shared scale: 2^(code-127), code 255 = NaN",
)

ELEMENT_FORMATS = {f.name: f for f in (E2M1, FP8_E4M3, FP8_E5M2, FP16, INT4, INT8)}
SCALE_FORMATS = {f.name: f for f in (E8M0, FP8_E4M3, FP16)}
