"""Shared block exponents: the `exponent_span` and `exponent_offset_bits` knobs of dialect formats [ours]
(docs/formats.md#shared-exponents).

By default every block stores its own 8-bit exponent e = floor(log2 amax) - 2 (quant/blocks.py).  Two knobs
trade that metadata for precision elsewhere (e.g. finer dialect selection at block 16 within NVFP4's 4.5 bits):

- exponent_span: the elements whose blocks share one reference exponent E = max of their own exponents: an
  integer multiple of the block along K (consecutive blocks of a row; the last span of a row may be short), or
  "tensor" (every block of the quantized tensor, like NVFP4's per-tensor scale).  Default: the block itself.
- exponent_offset_bits: b >= 0 bits per block of an offset below E: a block's exponent is
  e = max(e_own, E - (2^b - 1)); with b = 0 every block of the span uses E.  A block whose own exponent lies
  below the window is quantized on the coarser grid of the window's bottom (its small values round toward 0).

Storage per element: 4 + (dialect id bits + b) / block + 8 / span (span elements), or + 0 for span "tensor":
one 8-bit reference per tensor is not counted per element, as NVFP4's FP32 tensor scale is not.

QTensors keep their block layout (one int8 exponent per block, equal within a span when b = 0), so every GEMM
path is unchanged; only the exponents fed to selection change.  `check_exponents` verifies that stored
exponents are encodable with the claimed bits (QTensor.from_bytes calls it).
"""
from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np

from .blocks import MIN_EXP
from .errors import QuantError

EXPONENT_KNOBS = ("exponent_span", "exponent_offset_bits")
TENSOR_SPAN = "tensor"
MAX_OFFSET_BITS = 8        # an 8-bit offset covers the whole int8 exponent range already


@dataclass(frozen=True)
class ExponentSharing:
    """span_blocks: blocks per span (1 = no sharing), 0 for a tensor-wide reference; offset_bits: b."""
    span_blocks: int = 1
    offset_bits: int = 0

    @property
    def trivial(self) -> bool:
        return self.span_blocks == 1 and self.offset_bits == 0

    @property
    def window(self) -> int:
        """Largest offset below the reference: 2^b - 1."""
        return (1 << self.offset_bits) - 1

    def metadata_bits(self, block: int, exponent_bits: int = 8) -> float:
        """Exponent bits per element: offsets per block plus references per span (none counted for a tensor)."""
        shared = exponent_bits / (self.span_blocks * block) if self.span_blocks else 0.0
        return self.offset_bits / block + shared


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def exponent_sharing(block: int, exponent_span=None, exponent_offset_bits=0, where: str = "quantize") -> ExponentSharing:
    """The validated sharing of a format at `block`; every bad value is a QuantError naming the knob."""
    b = exponent_offset_bits
    if not _is_int(b) or not 0 <= b <= MAX_OFFSET_BITS:
        raise QuantError(f"{where}: knob exponent_offset_bits must be an integer in 0..{MAX_OFFSET_BITS}, got {b!r}")
    span = block if exponent_span is None else exponent_span
    if span == TENSOR_SPAN:
        return ExponentSharing(0, int(b))
    if not _is_int(span) or span < block or span % block:
        raise QuantError(f"{where}: knob exponent_span must be {TENSOR_SPAN!r} or a positive multiple of the block "
                         f"({block}), got {exponent_span!r}")
    if span == block and b:
        raise QuantError(f"{where}: knob exponent_offset_bits={b} needs exponent_span larger than the block "
                         f"({block}): a block's own exponent needs no offset")
    return ExponentSharing(int(span) // block, int(b))


def sharing_of(block: int, knobs: dict, where: str = "quantize") -> ExponentSharing:
    return exponent_sharing(block, knobs.get("exponent_span"), knobs.get("exponent_offset_bits", 0), where)


def split_knobs(knobs: dict) -> tuple:
    """(selector knobs, exponent knobs) of a knob dict."""
    sel = {k: v for k, v in knobs.items() if k not in EXPONENT_KNOBS}
    return sel, {k: v for k, v in knobs.items() if k in EXPONENT_KNOBS}


def reference_exponents(e_own: np.ndarray, sharing: ExponentSharing) -> np.ndarray:
    """E per block (R, nb): the maximum of the own exponents over each block's span."""
    e_own = np.asarray(e_own, dtype=np.int64)
    rows, nb = e_own.shape
    if sharing.span_blocks == 0:
        top = int(e_own.max()) if e_own.size else MIN_EXP
        return np.full(e_own.shape, top, dtype=np.int64)
    g = sharing.span_blocks
    groups = -(-nb // g)
    padded = np.full((rows, groups * g), MIN_EXP, dtype=np.int64)
    padded[:, :nb] = e_own
    top = padded.reshape(rows, groups, g).max(axis=-1)
    return np.repeat(top, g, axis=1)[:, :nb]


def shared_exponents(e_own: np.ndarray, sharing: ExponentSharing) -> np.ndarray:
    """The exponents every block is quantized with: max(e_own, E - (2^b - 1)), int64 (R, nb)."""
    e_own = np.asarray(e_own, dtype=np.int64)
    if sharing.trivial:
        return e_own
    return np.maximum(e_own, reference_exponents(e_own, sharing) - sharing.window)


def check_exponents(e: np.ndarray, sharing: ExponentSharing, where: str = "exponent"):
    """Raise unless every stored exponent is within its span's window below the span's maximum (so the claimed
    offset bits encode it) -- with b = 0: equal within each span."""
    if sharing.trivial or e.size == 0:
        return
    e = np.asarray(e, dtype=np.int64)
    low = reference_exponents(e, sharing) - sharing.window
    if (e < low).any():
        r, b = np.argwhere(e < low)[0]
        raise QuantError(f"{where}: block ({r}, {b}) has exponent {int(e[r, b])}, more than {sharing.window} below "
                         f"its span's {int(low[r, b] + sharing.window)}: not encodable with exponent_offset_bits="
                         f"{sharing.offset_bits}")
