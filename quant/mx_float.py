"""MX float formats: 8-bit float elements with one shared power-of-two (E8M0) scale per block, the OCP way.

`fp8_e4m3_g32` is OCP Microscaling Formats (MX) v1.0's MXFP8 with E4M3 elements (section 6.3, "Conversion from
vector of FP32 to MX format"): per block of 32 values along K, the shared scale is X = 2^(floor(log2 amax) - 8)
(8 = emax of E4M3, whose largest power of two is 256), stored as an E8M0 exponent (clamped to -127; an all-zero
block gets -127); each x / X is rounded to the nearest E4M3 value, ties to even, saturating at +-448 (the NaN code
S.1111.111 is never produced).  The element keeps x's sign bit on zero (-0 code), as torchao's E4M3 cast does.
All of it is exact: the exponent comes from amax's exponent bits, x * 2^-e is exact in float64, and the rounding
compares against exact grid midpoints (FloatElementFormat.encode).

GEMM operands (docs/arithmetic-contract.md#pow2-wide): an element is the signed integer v = value * 2^9 (E4M3
values are multiples of 2^-9; |v| <= 448 * 512 = 229376 < 2^18) times 2^e, so an element decodes to v * 2^(e-9).
Block partials of 32 products reach 32 * 229376^2 < 2^41: they need int64 where 4-bit formats use int16, and
float32(P) is no longer exact, so these formats form their own scale family (`POW2_WIDE`): the scaled partial is
the exact P * 2^(ex + ew - 18) rounded once to float32.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .blocks import as_blocks, block_exponent
from .errors import QuantError
from .formats import FP8_E4M3, FloatElementFormat
from .qtensor import QTensor

POW2_WIDE = "pow2_wide"   # scale kind: power-of-two block scales, int64 partials rounded once (module docstring)


@dataclass(frozen=True)
class MXFloatFormat:
    """OCP MX format of 8-bit float elements (one byte per code) and an E8M0 block exponent."""

    name: str
    element: FloatElementFormat
    default_block: int = 32
    provenance: str = ""
    element_bits = 8
    scale_kind = POW2_WIDE
    signed_zero = True
    int_table: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        el = self.element
        if el.bits != 8:
            raise ValueError(f"{self.name}: MX float elements here are 8-bit codes, {el.name} has {el.bits} bits")
        ints = np.where(np.isfinite(el.values), el.values, 0.0) / self.unit         # exact: multiples of the unit
        if not np.array_equal(ints, np.rint(ints)):
            raise ValueError(f"{self.name}: {el.name} values are not integer multiples of 2^{self.unit_exponent}")
        mag = np.rint(ints).astype(np.int64)
        codes = np.arange(256)
        object.__setattr__(self, "int_table", np.where(codes & 0x80, -mag[codes & 0x7F], mag[codes & 0x7F]))

    @property
    def elem_emax(self) -> int:
        """Exponent of the element format's largest power of two (8 for E4M3: 256 <= 448 < 512)."""
        return int(np.floor(np.log2(self.element.max_value)))

    @property
    def unit_exponent(self) -> int:
        """log2 of the element integer's unit: the smallest subnormal, 2^(1 - bias - mantissa bits) (-9 for E4M3)."""
        return 1 - self.element.bias - self.element.man_bits

    @property
    def unit(self) -> float:
        return 2.0 ** self.unit_exponent

    @property
    def nan_codes(self) -> tuple:
        return tuple(c | s for c in self.element.has_inf_nan_codes for s in (0, 0x80))

    def quantize(self, x, selector=None, block=None, backend="reference", tensor="x", nonfinite="raise",
                 allowed=None, **knobs) -> QTensor:
        from .registry import check_block
        if selector not in (None, "nearest") or allowed is not None or knobs:
            raise QuantError(f"format {self.name} has fixed round-to-nearest-even encoding; it takes no selector "
                             f"or selector knobs (got selector={selector!r}, knobs={sorted(knobs)})")
        block = check_block(self, block)
        shape = tuple(np.shape(x))
        xb = as_blocks(x, block, tensor, nonfinite)
        e = block_exponent(xb, self.elem_emax)                   # floor(log2 amax) - 8, >= -127; zero block -127
        codes = self.element.encode(np.ldexp(xb.astype(np.float64), -e[..., None]), signed_zero=True)
        return self.make_qtensor(shape, block, codes.reshape(xb.shape[0], xb.shape[1] * block), e)   # rows may be 0

    def make_qtensor(self, shape, block, codes2d, exponent) -> QTensor:
        """The QTensor of this format from unpacked codes (R, nb*block) and block exponents (R, nb), shared by
        every back end so dtypes cannot drift between them."""
        exponent = np.asarray(exponent)
        return QTensor(self.name, tuple(shape), block, np.ascontiguousarray(codes2d, dtype=np.uint8),
                       np.zeros(exponent.shape, dtype=np.uint8), exponent=exponent.astype(np.int8))

    def check_codes(self, qt: QTensor, what: str = "operand"):
        """Refuse a tensor holding a NaN code (no quantizer writes one; a hand-made or corrupted tensor may)."""
        bad = np.isin(qt.codes, self.nan_codes)
        if bad.any():
            r, k = np.argwhere(bad)[0]
            raise QuantError(f"{what} in {self.name}: code {int(qt.codes[r, k]):#04x} at row {r}, element {k} is "
                             f"the {self.element.name} NaN encoding, which {self.name} never produces")

    def decode_ints(self, qt: QTensor) -> np.ndarray:
        """(R, nb*block) int64 element integers v = value * 2^9 (the -0 code gives 0)."""
        self.check_codes(qt)
        return self.int_table[qt.codes]

    def dequantize(self, qt: QTensor) -> np.ndarray:
        """value * 2^e, exact in float32 (E4M3 values have 4 significant bits, 2^e >= 2^-127); -0 stays -0.0."""
        self.check_codes(qt)
        e = np.repeat(qt.exponent.astype(np.int64), qt.block, axis=1)
        v = np.ldexp(self.element.decode(qt.codes), e).astype(np.float32)
        return v[:, : qt.shape[-1]].reshape(qt.shape)

    def bits_per_element(self, qt: QTensor | None = None, block: int | None = None) -> float:
        """8-bit element plus an 8-bit E8M0 exponent per block: 8 + 8 / block (8.25 at block 32)."""
        block = qt.block if qt is not None else (block or self.default_block)
        return self.element.bits + 8 / block


FP8_E4M3_G32 = MXFloatFormat(
    "fp8_e4m3_g32", FP8_E4M3, default_block=32,
    provenance="OCP Microscaling Formats (MX) v1.0 MXFP8 (E4M3): block 32, E8M0 scale 2^(floor(log2 amax) - 8), "
               "elements RNE with saturation to +-448; signed zero as torchao mx_formats (docs/formats.md#mxfp8)")
