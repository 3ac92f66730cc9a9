"""The format registry: every block format the library can quantize to, as objects built from frozen data.

Two families cover everything:
- `DialectFormat`: 4-bit sign + index into a per-block dialect of a formatbook, power-of-two block exponent
  (DialectFP4 of any size D, learned books, MXFP4 = the single-dialect E2M1 book with exact RNE selection).
- `ScaledIntFormat`: integer-valued elements with a float block scale (NVFP4: E2M1 elements in half-units with
  an E4M3 block scale and an FP32 tensor scale; INT4 per group with an FP16 scale; INT8 per row with FP32).
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from .blocks import as_blocks, block_exponent
from .errors import QuantError, ShapeError, UnknownNameError
from .formatbooks import E2M1_BOOK, Formatbook, formatbook
from .formats import E2M1, FP8_E4M3, FP16, INT4, INT8, FloatElementFormat
from .qtensor import QTensor, pack_nibbles, unpack_nibbles

POW2, FLOAT = "pow2", "float"   # scale kinds of the arithmetic contract (ALGORITHMS.md section 7)


def _pack(codes2d: np.ndarray, element_bits: int) -> np.ndarray:
    return pack_nibbles(codes2d) if element_bits == 4 else np.ascontiguousarray(codes2d, dtype=np.uint8)


@dataclass(frozen=True)
class DialectFormat:
    name: str
    book_name: str
    default_selector: str = "lut_argmin"
    default_block: int = 32
    exponent_bits: int = 8
    fixed_selector: bool = False      # MXFP4: the spec fixes the rounding, no selector choice
    provenance: str = ""
    element_bits = 4
    scale_kind = POW2
    unit = 0.5                        # element integers are half-units

    @property
    def book(self) -> Formatbook:
        return formatbook(self.book_name)

    def quantize(self, x, selector=None, block=None, backend="reference", tensor="x", nonfinite="raise",
                 allowed=None, **knobs) -> QTensor:
        from .selectors import get_selector
        if self.fixed_selector and selector not in (None, self.default_selector):
            raise QuantError(f"format {self.name} fixes its rounding ({self.default_selector}); got selector {selector!r}")
        sel = get_selector(selector or self.default_selector)
        check_knobs(self, sel.name, knobs)
        block = check_block(self, block)
        shape = tuple(np.shape(x))
        xb = as_blocks(x, block, tensor, nonfinite)
        e = block_exponent(xb)
        book = self.book
        from .backends import get_backend
        dialect, codes = get_backend(backend).select_encode(sel.name, xb, e, book, allowed=allowed, **knobs)
        packed = _pack(codes.reshape(xb.shape[0], xb.shape[1] * block), 4)    # explicit width: rows may be 0
        return self.make_qtensor(shape, block, packed, dialect, e, sel.name, knobs)

    def make_qtensor(self, shape, block, packed_codes, dialect, exponent, selector: str, knobs: dict) -> QTensor:
        """The QTensor of this format from packed codes and per-block dialect ids and exponents (shared by every
        back end, so metadata and dtypes cannot drift between them)."""
        return QTensor(self.name, tuple(shape), block, packed_codes, dialect.astype(np.uint8),
                       exponent=exponent.astype(np.int8),
                       meta={"book": self.book.name, "selector": selector, **knobs})

    def decode_ints(self, qt: QTensor) -> np.ndarray:
        codes = unpack_nibbles(qt.codes).astype(np.int64)
        r, kp = codes.shape
        d = np.repeat(qt.dialect.astype(np.int64), qt.block, axis=1)
        mag = self.book.magnitudes[d, codes & 7]
        return np.where(codes & 8, -mag, mag)

    def dequantize(self, qt: QTensor) -> np.ndarray:
        v = self.decode_ints(qt).astype(np.float64)
        e = np.repeat(qt.exponent.astype(np.int64), qt.block, axis=1)
        return _crop(np.ldexp(v, e - 1).astype(np.float32), qt.shape)

    def bits_per_element(self, qt: QTensor | None = None, block: int | None = None) -> float:
        """Storage bits per element of a tensor (its block), or of this format at `block` (default: its own)."""
        block = qt.block if qt is not None else (block or self.default_block)
        return self.book.bits_per_element(block, self.exponent_bits)


def encode_dialect_codes(xb, e, dialect, idx) -> np.ndarray:
    """code = sign<<3 | idx with a canonical zero (no sign bit when idx == 0); all-zero blocks encode as 0."""
    idx = np.where(np.any(xb != 0, axis=-1, keepdims=True), idx, 0)
    sign = np.signbit(xb) & (idx != 0)
    return ((sign.astype(np.int64) << 3) | idx).astype(np.uint8)


def _crop(x2d: np.ndarray, shape) -> np.ndarray:
    return x2d[:, : shape[-1]].reshape(shape)


@dataclass(frozen=True)
class ScaledIntFormat:
    """Elements are integers (E2M1 in half-units, or INT) times a float block scale times a tensor scale."""

    name: str
    element: object                  # FloatElementFormat (E2M1) or IntElementFormat
    scale_format: FloatElementFormat | None   # block-scale rounding (E4M3, FP16) or None for FP32
    default_block: int | None        # None: one block per row (per-token / per-channel)
    element_max: float               # largest element magnitude (6 for E2M1, qmax for INT)
    tensor_scale_divisor: float | None = None   # NVFP4: s_tensor = amax_tensor / (6 * 448)
    provenance: str = ""
    scale_kind = FLOAT

    @property
    def element_bits(self) -> int:
        return 4 if self.element.bits == 4 else 8

    @property
    def unit(self) -> float:
        return 0.5 if isinstance(self.element, FloatElementFormat) else 1.0

    def quantize(self, x, selector=None, block=None, backend="reference", tensor="x", nonfinite="raise",
                 allowed=None, **knobs) -> QTensor:
        if selector not in (None, "nearest") or allowed is not None or knobs:
            raise QuantError(f"format {self.name} has fixed round-to-nearest-even encoding; it takes no selector "
                             f"or selector knobs (got selector={selector!r}, knobs={sorted(knobs)})")
        shape = tuple(np.shape(x))
        block = check_block(self, block) or (shape[-1] if shape else 1)
        xb = as_blocks(x, block, tensor, nonfinite)
        f32 = np.float32
        amax = np.abs(xb).max(axis=-1)                                   # float32 (R, nb)
        g = f32(1.0)
        if self.tensor_scale_divisor is not None:
            g = f32(f32(amax.max(initial=0.0)) / f32(self.tensor_scale_divisor))
            if g == 0:
                g = f32(1.0)
        # block scale: amax / element_max / g, rounded to the scale format (saturating), computed in float32
        s = (amax / f32(self.element_max)).astype(f32)
        if self.tensor_scale_divisor is not None:
            s = (s / g).astype(f32)
        if self.scale_format is not None:
            s = self.scale_format.round(s).astype(f32)
        else:  # FP32 scale: step down one ulp where element_max * s would overflow (amax near FLT_MAX)
            with np.errstate(over="ignore"):
                s = np.where(np.isinf(s * f32(self.element_max)), np.nextafter(s, f32(0)), s).astype(f32)
        denom = (s * g).astype(f32)
        safe = np.where(denom > 0, denom, f32(1.0))
        scaled = (xb / safe[..., None]).astype(f32)                     # fl32 division, then element rounding
        if isinstance(self.element, FloatElementFormat):
            codes = self.element.encode(scaled)                          # sign<<3 | e2m1 code (RNE, saturate)
            codes = np.where(denom[..., None] > 0, codes, 0)
        else:
            ints = np.where(denom[..., None] > 0, self.element.encode(scaled), 0)
            codes = ints & ((1 << self.element.bits) - 1)
        r, nb = xb.shape[:2]
        return QTensor(self.name, shape, block, _pack(codes.reshape(r, nb * block), self.element_bits),
                       np.zeros(s.shape, dtype=np.uint8), scale=s.astype(f32), tensor_scale=float(g))

    def decode_ints(self, qt: QTensor) -> np.ndarray:
        codes = qt.element_codes().astype(np.int64)
        if isinstance(self.element, FloatElementFormat):
            mag = E2M1_BOOK.magnitudes[0][codes & 7]                      # half-units
            return np.where(codes & 8, -mag, mag)
        bits = self.element.bits
        return np.where(codes >= (1 << (bits - 1)), codes - (1 << bits), codes)

    def dequantize(self, qt: QTensor) -> np.ndarray:
        f32 = np.float32
        v = (self.decode_ints(qt).astype(f32) * f32(self.unit)).astype(f32)
        s = np.repeat(qt.scale, qt.block, axis=1)
        x = ((v * s).astype(f32) * f32(qt.tensor_scale)).astype(f32)
        return _crop(x, qt.shape)

    def bits_per_element(self, qt: QTensor | None = None, block: int | None = None) -> float:
        """Storage bits per element of a tensor (its block), or of this format at `block` (default: its own;
        0 = one scale per row, counted as no block metadata)."""
        block = qt.block if qt is not None else (block or self.default_block or 0)
        sbits = self.scale_format.bits if self.scale_format is not None else 32
        return self.element.bits + (sbits / block if block else 0.0)


def check_block(fmt, block):
    """The block size every back end uses for `fmt`: the format's default (None for one block per row) when `block`
    is None, else `block` itself, which must be a positive integer, and even for 4-bit formats: the Triton kernels
    and the Numba fused path pack two codes per byte within each block.  The one rule, checked before any back end
    runs (quant.quantize) so that all back ends accept and refuse the same sizes."""
    if block is None:
        return fmt.default_block
    if isinstance(block, bool) or not isinstance(block, Integral):
        raise ShapeError(f"format {fmt.name}: block size must be a positive integer, got {block!r}")
    if block <= 0:
        raise ShapeError(f"format {fmt.name}: block size must be positive, got {block}")
    if fmt.element_bits == 4 and block % 2:
        raise ShapeError(f"format {fmt.name}: block size must be even (4-bit codes pack two per byte within a "
                         f"block on every back end), got {block}")
    return int(block)


def check_knobs(fmt, selector, knobs):
    """Refuse keyword knobs that neither `fmt` nor its selector takes (a typo would otherwise be ignored)."""
    if not knobs:
        return
    if isinstance(fmt, DialectFormat):
        from .selectors import get_selector
        sel = get_selector(selector or fmt.default_selector)
        valid, owner = sel.knobs, f"selector {sel.name}"
    else:
        valid, owner = (), f"format {fmt.name}"
    unknown = sorted(set(knobs) - set(valid))
    if unknown:
        raise QuantError(f"unknown knob {unknown[0]!r} for {owner}; valid knobs: "
                         f"{', '.join(valid) if valid else 'none (it takes no knobs)'}")


_FORMATS: dict = {}


def register_format(fmt) -> object:
    _FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: str):
    if not isinstance(name, str):
        return name
    if name not in _FORMATS:
        _register_books_as_formats()
    try:
        return _FORMATS[name]
    except KeyError:
        raise UnknownNameError("format", name, format_names()) from None


def format_names() -> list:
    _register_books_as_formats()
    return sorted(_FORMATS)


def _register_books_as_formats():
    """Every registered formatbook is also a quantization format of the same name (dialect family)."""
    from .formatbooks import formatbook_names
    for n in formatbook_names():
        if n not in _FORMATS and n != "e2m1":
            register_format(DialectFormat(n, n, provenance=formatbook(n).provenance))


register_format(DialectFormat(
    "mxfp4", E2M1_BOOK.name, default_selector="exact_mse", fixed_selector=True,
    provenance="OCP MX v1.0: block 32, E2M1 elements RNE with saturation, E8M0 scale 2^(floor(log2 amax)-2)"))
register_format(ScaledIntFormat(
    "nvfp4", E2M1, FP8_E4M3, default_block=16, element_max=6.0, tensor_scale_divisor=6.0 * 448.0,
    provenance="NVIDIA NVFP4: block 16, E2M1 elements, E4M3 block scale of amax/6 after FP32 tensor scale "
               "amax_tensor/(6*448); [ours] division order documented in ALGORITHMS.md s.6/s.7"))
register_format(ScaledIntFormat("int4_g32", INT4, FP16, default_block=32, element_max=7.0,
                                provenance="symmetric INT4 per group of 32, FP16 scale amax/7, RNE"))
register_format(ScaledIntFormat("int4_g128", INT4, FP16, default_block=128, element_max=7.0,
                                provenance="symmetric INT4 per group of 128, FP16 scale amax/7, RNE"))
register_format(ScaledIntFormat("int8", INT8, None, default_block=None, element_max=127.0,
                                provenance="symmetric INT8 per row (token for activations, channel for weights), "
                                           "FP32 scale amax/127, RNE"))
# INT8 per block of 32 along K with an FP32 scale amax/127, RNE [ours]: the per-block INT8 operand format of
# full-path attention (SageAttention quantizes Q and K to INT8 per block of tokens; here blocks run along the
# reduction dimension, as every block format of this library does).  Block partials |P| <= 32 x 127^2 are exact
# in int32 and in float32.
register_format(ScaledIntFormat("int8_g32", INT8, None, default_block=32, element_max=127.0,
                                provenance="[ours] symmetric INT8 per group of 32 along K, FP32 scale amax/127, RNE"))
