"""QTensor: one container for every block-quantized tensor, and its exact byte serialization.

Layout (docs/formats.md#qtensor): codes two 4-bit codes per byte, low nibble first, row-major along K (8-bit
formats: one byte per element); per block a dialect id and either an int8 exponent (power-of-two scaled formats)
or a float32 scale (formats with arbitrary-mantissa scales: NVFP4's E4M3, INT4's FP16, INT8's FP32).

Bytes (`to_bytes` / `from_bytes`, byte version 2): b"QTNS", u16 version, u32 header length, u64 payload length,
u32 CRC-32 (zlib) of the three length fields, the header and the payload, then the JSON header (fmt, shape, block,
tensor_scale as float hex, meta, array list) and the arrays' raw bytes.  Reading checks the checksum, then every
field against the registered format (quant/qtensor_check.py); any failure is a QuantError.
"""
from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field

import numpy as np

from .errors import QuantError

_MAGIC = b"QTNS"
_VERSION = 2                          # 2 added the payload length and the CRC-32; 1 is refused (no checksum)
_VERSION_ONLY = struct.Struct("<H")
_LENGTHS = struct.Struct("<HIQ")      # version, header length, payload length
_CRC = struct.Struct("<I")
_PREFIX = len(_MAGIC) + _LENGTHS.size + _CRC.size


def _version_message(version: int) -> str:
    if version == 1:
        return ("QTensor byte version 1 (no checksum) is no longer read; quantize again and save with this library "
                f"(byte version {_VERSION})")
    return f"QTensor format version {version} is not supported (this library reads {_VERSION})"


def pack_nibbles(codes: np.ndarray) -> np.ndarray:
    """(R, K) 4-bit codes (K even) -> (R, K/2) uint8, element 2j in the low nibble of byte j."""
    c = np.asarray(codes, dtype=np.uint8)
    return (c[:, 0::2] & 0xF) | ((c[:, 1::2] & 0xF) << 4)


def unpack_nibbles(packed: np.ndarray) -> np.ndarray:
    p = np.asarray(packed, dtype=np.uint8)
    out = np.empty((p.shape[0], p.shape[1] * 2), dtype=np.uint8)
    out[:, 0::2] = p & 0xF
    out[:, 1::2] = p >> 4
    return out


@dataclass(frozen=True, eq=False)
class QTensor:
    """A block-quantized tensor.

    fmt:          registered format name (see `quant.format_names()`), e.g. "dialectfp4", "mxfp4", "nvfp4"
    shape:        original shape (..., K); rows R = prod(shape[:-1]); blocks along K, K zero-padded to nb*block
    block:        elements per block
    codes:        uint8 (R, nb*block/2) packed 4-bit codes, or (R, nb*block) bytes for 8-bit formats
    dialect:      uint8 (R, nb) dialect id per block (0 for single-dialect formats)
    exponent:     int8 (R, nb) block exponent e (power-of-two formats; element value = v * 2^(e-1)), else None
    scale:        float32 (R, nb) block scale (float-scaled formats; value = v * unit * scale * tensor_scale)
    tensor_scale: float32 per-tensor scale (NVFP4), 1.0 otherwise
    meta:         small JSON-able dict (selector, book name, knobs) kept for provenance
    """

    fmt: str
    shape: tuple
    block: int
    codes: np.ndarray
    dialect: np.ndarray
    exponent: np.ndarray | None = None
    scale: np.ndarray | None = None
    tensor_scale: float = 1.0
    meta: dict = field(default_factory=dict)

    # ---- derived views ----
    @property
    def format(self):
        from .registry import get_format
        return get_format(self.fmt)

    @property
    def rows(self) -> int:
        return int(np.prod(self.shape[:-1], dtype=np.int64))

    @property
    def k(self) -> int:
        return int(self.shape[-1])

    @property
    def n_blocks(self) -> int:
        return int(self.dialect.shape[1])

    def element_codes(self) -> np.ndarray:
        """(R, nb*block) unpacked codes."""
        return unpack_nibbles(self.codes) if self.format.element_bits == 4 else self.codes

    def element_ints(self) -> np.ndarray:
        """(R, nb*block) int64 element integers (half-units for dialect formats) -- the GEMM's operands."""
        return self.format.decode_ints(self)

    def dequantize(self) -> np.ndarray:
        return self.format.dequantize(self)

    @property
    def bits_per_element(self) -> float:
        return self.format.bits_per_element(self)

    # ---- bytes ----
    def to_bytes(self) -> bytes:
        """The byte string of the module docstring's layout (version 2, checksummed)."""
        header = {
            "fmt": self.fmt, "shape": list(self.shape), "block": self.block,
            "tensor_scale": float(np.float32(self.tensor_scale)).hex(), "meta": self.meta,
            "arrays": [],
        }
        blobs = []
        for name in ("codes", "dialect", "exponent", "scale"):
            a = getattr(self, name)
            if a is None:
                continue
            a = np.ascontiguousarray(a)
            header["arrays"].append({"name": name, "dtype": a.dtype.str, "shape": list(a.shape), "nbytes": a.nbytes})
            blobs.append(a.tobytes())
        try:
            h = json.dumps(header, sort_keys=True, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:      # meta must be plain finite JSON to be read back
            raise QuantError(f"QTensor meta cannot be serialized: {exc}") from None
        payload = b"".join(blobs)
        lengths = _LENGTHS.pack(_VERSION, len(h), len(payload))
        crc = zlib.crc32(payload, zlib.crc32(h, zlib.crc32(lengths)))
        return _MAGIC + lengths + _CRC.pack(crc) + h + payload

    @classmethod
    def from_bytes(cls, data) -> "QTensor":
        """Parse `to_bytes` output.  Any corruption or inconsistency raises QuantError: the checksum catches
        damaged bytes, and every header field is then checked against the registered format."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise QuantError(f"QTensor.from_bytes needs bytes, got {type(data).__name__}")
        data = bytes(data)
        if data[:4] != _MAGIC:
            raise QuantError("not a QTensor byte string (bad magic)")
        if len(data) >= 6 and _VERSION_ONLY.unpack(data[4:6])[0] != _VERSION:
            raise QuantError(_version_message(_VERSION_ONLY.unpack(data[4:6])[0]))
        if len(data) < _PREFIX:
            raise QuantError(f"truncated QTensor: {len(data)} bytes, the fixed prefix alone has {_PREFIX}")
        _, hlen, plen = _LENGTHS.unpack(data[4:4 + _LENGTHS.size])
        want = _PREFIX + hlen + plen
        if len(data) < want:
            raise QuantError(f"truncated QTensor: {len(data)} bytes, its prefix announces {want}")
        if len(data) > want:
            raise QuantError(f"QTensor byte string has {len(data) - want} trailing bytes")
        (crc,) = _CRC.unpack(data[_PREFIX - _CRC.size:_PREFIX])
        got = zlib.crc32(data[_PREFIX:], zlib.crc32(data[4:4 + _LENGTHS.size]))
        if got != crc:
            raise QuantError(f"QTensor checksum mismatch (stored CRC-32 {crc:#010x}, bytes give {got:#010x}): "
                             f"the bytes are corrupted")
        from .qtensor_check import checked_fields
        return cls(**checked_fields(data[_PREFIX:_PREFIX + hlen], data[_PREFIX + hlen:]))

    def equal_bits(self, other: "QTensor") -> bool:
        """Raw-bit equality of every field (codes, dialect ids, exponents, scale bit patterns)."""
        def same(a, b):
            if a is None or b is None:
                return a is None and b is None
            return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        return (self.fmt == other.fmt and tuple(self.shape) == tuple(other.shape) and self.block == other.block
                and np.float32(self.tensor_scale).tobytes() == np.float32(other.tensor_scale).tobytes()
                and all(same(getattr(self, n), getattr(other, n)) for n in ("codes", "dialect", "exponent", "scale")))

    def select_rows(self, rows) -> "QTensor":
        """A QTensor of the given rows (2-D view (R, K) of the original)."""
        rows = np.asarray(rows, dtype=np.int64)
        sel = lambda a: None if a is None else a[rows]
        return QTensor(self.fmt, (len(rows), self.k), self.block, self.codes[rows], self.dialect[rows],
                       sel(self.exponent), sel(self.scale), self.tensor_scale, dict(self.meta))
