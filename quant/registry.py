"""The format registry: every block format the library can quantize to, as objects built from frozen data.

Two families cover everything:
- `DialectFormat`: 4-bit sign + index into a per-block dialect of a formatbook, power-of-two block exponent
  (DialectFP4 of any size D, learned books, MXFP4 = the single-dialect E2M1 book with exact RNE selection).
- `ScaledIntFormat`: integer-valued elements with a float block scale (NVFP4: E2M1 elements in half-units with
  an E4M3 block scale and an FP32 tensor scale; INT4 per group with an FP16 scale; INT8 per row with FP32).
A third, `MXFloatFormat` (quant/mx_float.py), holds OCP MX 8-bit float elements with an E8M0 block exponent
(`fp8_e4m3_g32`); it is registered at the end of this module.
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from .blocks import as_blocks, block_exponent
from .errors import QuantError, ShapeError, UnknownNameError
from .exponents import EXPONENT_KNOBS, shared_exponents, sharing_of, split_knobs
from .formatbooks import E2M1_BOOK, Formatbook, formatbook
from .formats import E2M1, FP8_E4M3, FP16, INT4, INT8, FloatElementFormat
from .qtensor import QTensor, pack_nibbles, unpack_nibbles

POW2, FLOAT = "pow2", "float"   # scale kinds of the arithmetic contract (docs/arithmetic-contract.md#operands)
# the third kind, POW2_WIDE (quant/mx_float.py), is imported at the end of this module


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
    signed_zero: bool = False         # MXFP4: a zero magnitude keeps x's sign bit (E2M1 has -0, as torchao)
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
        sel_knobs, _ = split_knobs(knobs)
        sharing = sharing_of(block, knobs, f"format {self.name}")
        shape = tuple(np.shape(x))
        xb = as_blocks(x, block, tensor, nonfinite)
        e = shared_exponents(block_exponent(xb), sharing)
        book = self.book
        from .backends import get_backend
        dialect, codes = get_backend(backend).select_encode(sel.name, xb, e, book, allowed=allowed, **sel_knobs)
        if self.signed_zero:
            codes = keep_zero_signs(xb, codes)
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
        """v * 2^(e-1) with v = +-h; the sign is applied to the float, so a -0 code (signed_zero) gives -0.0."""
        codes = unpack_nibbles(qt.codes).astype(np.int64)
        d = np.repeat(qt.dialect.astype(np.int64), qt.block, axis=1)
        e = np.repeat(qt.exponent.astype(np.int64), qt.block, axis=1)
        v = np.ldexp(self.book.magnitudes[d, codes & 7].astype(np.float64), e - 1)
        return _crop(np.where(codes & 8, -v, v).astype(np.float32), qt.shape)

    def bits_per_element(self, qt: QTensor | None = None, block: int | None = None, **exponent_knobs) -> float:
        """Storage bits per element of a tensor (its block and the exponent knobs in its meta), or of this format
        at `block` (default: its own) with `exponent_knobs` (quant/exponents.py: exponent_span,
        exponent_offset_bits): 4 + (id bits + offset bits) / block + 8 / span."""
        block = qt.block if qt is not None else (block or self.default_block)
        sharing = sharing_of(block, qt.meta if qt is not None else exponent_knobs, f"format {self.name}")
        if sharing.trivial:
            return self.book.bits_per_element(block, self.exponent_bits)
        return 4 + self.book.id_bits / block + sharing.metadata_bits(block, self.exponent_bits)


def encode_dialect_codes(xb, e, dialect, idx) -> np.ndarray:
    """code = sign<<3 | idx with a canonical zero (no sign bit when idx == 0); all-zero blocks encode as 0."""
    idx = np.where(np.any(xb != 0, axis=-1, keepdims=True), idx, 0)
    sign = np.signbit(xb) & (idx != 0)
    return ((sign.astype(np.int64) << 3) | idx).astype(np.uint8)


def keep_zero_signs(xb, codes) -> np.ndarray:
    """Codes with x's sign bit on every element, zero magnitudes included (signed-zero formats: MXFP4).  Non-zero
    codes already carry it, so only zero codes change: -0.0 and negatives that round to 0 get the -0 code (8)."""
    return (codes | (np.signbit(xb).astype(np.uint8) << 3)).astype(np.uint8)


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
    signed_zero: bool = False        # NVFP4: a zero element keeps x's sign bit (E2M1 has -0, as torchao)
    scale_floor: float | None = None  # NVFP4: block scales below it are raised to it before rounding (torchao)
    reciprocal_scale: bool = False   # NVFP4: x * fl32(fl32(1/g) / s) instead of x / fl32(s * g) (torchao)
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
        amax = np.abs(xb).max(axis=-1)                                   # float32 (R, nb)
        g = self.tensor_scale_of(amax.max(initial=0.0))
        s = self.block_scales(amax, g)
        scaled, valid = self.scaled_elements(xb, s, g)
        if isinstance(self.element, FloatElementFormat):
            codes = _float_encoder(backend)(self.element, scaled, self.signed_zero)  # sign<<3 | code (RNE, sat.)
        else:
            codes = self.element.encode(scaled) & ((1 << self.element.bits) - 1)
        # a block whose scale product underflows encodes zeros: signed ones (x's sign bit) for signed-zero formats,
        # so that quantize(-x) flips every sign bit there too
        zero = (np.signbit(xb).astype(np.int64) << (self.element.bits - 1)) if self.signed_zero else 0
        codes = np.where(valid[..., None], codes, zero)
        r, nb = xb.shape[:2]
        return QTensor(self.name, shape, block, _pack(codes.reshape(r, nb * block), self.element_bits),
                       np.zeros(s.shape, dtype=np.uint8), scale=s, tensor_scale=float(g))

    def tensor_scale_of(self, amax_tensor) -> np.float32:
        """g = fl32(amax_tensor / divisor); 1.0 for formats without a tensor scale and where g is 0."""
        f32 = np.float32
        if self.tensor_scale_divisor is None:
            return f32(1.0)
        g = f32(f32(amax_tensor) / f32(self.tensor_scale_divisor))
        return g if g != 0 else f32(1.0)

    def block_scales(self, amax, g) -> np.ndarray:
        """float32 (R, nb): fl32(amax / element_max), then fl32(s / g) with a tensor scale, raised to scale_floor,
        then rounded to the scale format (nearest-even, saturating)."""
        f32 = np.float32
        s = (amax / f32(self.element_max)).astype(f32)
        if self.tensor_scale_divisor is not None:
            s = (s / g).astype(f32)
        if self.scale_floor is not None:
            s = np.maximum(s, f32(self.scale_floor))
        if self.scale_format is not None:
            return self.scale_format.round(s).astype(f32)
        with np.errstate(over="ignore"):   # FP32 scale: one ulp down where element_max * s would overflow
            return np.where(np.isinf(s * f32(self.element_max)), np.nextafter(s, f32(0)), s).astype(f32)

    def scaled_elements(self, xb, s, g) -> tuple:
        """(x in element units, float32; per-block validity).  fl32(x / fl32(s * g)); with reciprocal_scale
        fl32(x * fl32(fl32(1 / g) / s)) wherever that factor is finite (it overflows only for tensors with
        amax below about 5e-34, which fall back to the division).  A block with s * g = 0 encodes zeros."""
        f32 = np.float32
        ok = np.zeros(s.shape, dtype=bool)
        if self.reciprocal_scale:
            with np.errstate(divide="ignore", over="ignore"):
                r = ((f32(1.0) / g) / s).astype(f32)
            ok = np.isfinite(r)
            if ok.all():                                   # the usual case: no division at all
                return (xb * r[..., None]).astype(f32), ok
        denom = (s * g).astype(f32)
        valid = denom > 0
        scaled = (xb / np.where(valid, denom, f32(1.0))[..., None]).astype(f32)
        if ok.any():
            scaled = np.where(ok[..., None], (xb * np.where(ok, r, f32(0))[..., None]).astype(f32), scaled)
        return scaled, valid | ok

    def decode_ints(self, qt: QTensor) -> np.ndarray:
        codes = qt.element_codes().astype(np.int64)
        if isinstance(self.element, FloatElementFormat):
            mag = E2M1_BOOK.magnitudes[0][codes & 7]                      # half-units
            return np.where(codes & 8, -mag, mag)
        bits = self.element.bits
        return np.where(codes >= (1 << (bits - 1)), codes - (1 << bits), codes)

    def dequantize(self, qt: QTensor) -> np.ndarray:
        """fl32(v * fl32(tensor_scale * s)) (torchao's NVFP4 order; for formats without a tensor scale it is
        v * s).  E2M1 values carry their sign as floats, so the -0 code gives -0.0."""
        f32 = np.float32
        if isinstance(self.element, FloatElementFormat):
            v = self.element.decode(qt.element_codes()).astype(f32)
        else:
            v = self.decode_ints(qt).astype(f32)
        s = (f32(qt.tensor_scale) * np.repeat(qt.scale, qt.block, axis=1)).astype(f32)
        return _crop((v * s).astype(f32), qt.shape)

    def bits_per_element(self, qt: QTensor | None = None, block: int | None = None) -> float:
        """Storage bits per element of a tensor (its block), or of this format at `block` (default: its own;
        0 = one scale per row, counted as no block metadata)."""
        block = qt.block if qt is not None else (block or self.default_block or 0)
        sbits = self.scale_format.bits if self.scale_format is not None else 32
        return self.element.bits + (sbits / block if block else 0.0)


def _float_encoder(backend: str):
    """FloatElementFormat.encode as (fmt, x, signed_zero) -> codes: the spec itself, or its Numba twin on the numba
    back end (quant/fast_scaled.py; same comparisons, same codes)."""
    if backend == "numba":
        from .fast_scaled import encode
        return encode
    return lambda fmt, x, signed_zero: fmt.encode(x, signed_zero=signed_zero)


def check_operand_pair(where: str, a: str, a_fmt: str, b: str, b_fmt: str, block_a=None, block_b=None,
                       hint: str = "") -> None:
    """The two operands of one quantized GEMM (a linear's weight and activation, an attention matmul's pair) must
    share a scale family and a block size (the GEMM contract, quant/gemm.py); `where` names the recipe."""
    fa, fb = get_format(a_fmt), get_format(b_fmt)
    if fa.scale_kind != fb.scale_kind:
        raise QuantError(f"{where}: {a} ({a_fmt}) and {b} ({b_fmt}) are of different scale families "
                         f"({fa.scale_kind} vs {fb.scale_kind}); one GEMM needs one family")
    ba, bb = block_a or fa.default_block, block_b or fb.default_block
    if ba != bb:
        raise QuantError(f"{where}: {a} block {ba} ({a_fmt}) != {b} block {bb} ({b_fmt}); "
                         f"{hint or 'one GEMM needs one block size'}")


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
        # the exponent-sharing knobs belong to the format (not for MXFP4, whose E8M0 scale per block is the spec)
        shared = () if fmt.fixed_selector else EXPONENT_KNOBS
        valid, owner = sel.knobs + shared, (f"selector {sel.name} and format {fmt.name}" if shared else
                                            f"format {fmt.name} (its rounding and E8M0 scale per block are fixed)")
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
    "mxfp4", E2M1_BOOK.name, default_selector="exact_mse", fixed_selector=True, signed_zero=True,
    provenance="OCP MX v1.0: block 32, E2M1 elements RNE with saturation, E8M0 scale 2^(floor(log2 amax)-2); "
               "signed zero as torchao mx_formats (docs/formats.md#mxfp4)"))
register_format(ScaledIntFormat(
    "nvfp4", E2M1, FP8_E4M3, default_block=16, element_max=6.0, tensor_scale_divisor=6.0 * 448.0,
    signed_zero=True, scale_floor=2.0 ** (1 - FP8_E4M3.bias), reciprocal_scale=True,
    provenance="NVIDIA NVFP4: block 16, E2M1 elements, E4M3 block scale of amax/6 after FP32 tensor scale "
               "amax_tensor/(6*448); float32 order, scale floor and signed zero of torchao mx_formats "
               "nvfp4_quantize (docs/formats.md#nvfp4)"))
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

# OCP MX v1.0 MXFP8 with E4M3 elements (quant/mx_float.py): the FP8 operand format of full-path attention's PV
# (SageAttention2 quantizes P and V to FP8 E4M3; here with a per-32 E8M0 block scale along K).
from .mx_float import FP8_E4M3_G32, POW2_WIDE, MXFloatFormat  # noqa: E402  (mx_float imports this module lazily)

register_format(FP8_E4M3_G32)
EXPONENT_KINDS = (POW2, POW2_WIDE)   # scale kinds that store a per-block exponent (QTensor.exponent), not a scale
