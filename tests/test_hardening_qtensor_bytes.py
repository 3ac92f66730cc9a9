"""QTensor bytes carry a version and a CRC-32 over the prefix, header and payload, and every field is checked on
read: a corrupted or inconsistent byte string raises QuantError, never another exception, never a silently
different tensor."""
import json
import struct
import zlib

import numpy as np
import pytest

import quant
from quant import QTensor, QuantError

FORMATS = ["dialectfp4", "mxfp4", "nvfp4", "int4_g32", "int8"]


def _q(fmt="dialectfp4", shape=(2, 40), seed=0):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    return quant.quantize(x, fmt)


def _read(data: bytes, original: QTensor):
    """QuantError, or a tensor identical to `original`; anything else fails the test."""
    try:
        got = QTensor.from_bytes(data)
    except QuantError:
        return "refused"
    assert got.equal_bits(original) and got.meta == original.meta, "a changed byte string decoded silently"
    return "identical"


@pytest.mark.parametrize("fmt", ["dialectfp4", "nvfp4"])
def test_every_single_bit_flip_and_truncation_is_refused(fmt):
    q = _q(fmt)
    data = q.to_bytes()
    outcomes = {"refused": 0, "identical": 0}
    for i in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[i // 8] ^= 1 << (i % 8)
        outcomes[_read(bytes(flipped), q)] += 1
    for cut in range(len(data)):
        outcomes[_read(data[:cut], q)] += 1
    assert outcomes == {"refused": len(data) * 9, "identical": 0}     # CRC-32 detects every single-bit error


def _forge(header: dict, payload: bytes, version: int = 2) -> bytes:
    """A byte string with a valid checksum around an arbitrary header: only the field checks can refuse it."""
    h = json.dumps(header, sort_keys=True).encode()
    lengths = struct.pack("<HIQ", version, len(h), len(payload))
    return b"QTNS" + lengths + struct.pack("<I", zlib.crc32(payload, zlib.crc32(h, zlib.crc32(lengths)))) + h + payload


def _parts(q: QTensor):
    data = q.to_bytes()
    _, hlen, _ = struct.unpack("<HIQ", data[4:18])
    return json.loads(data[22:22 + hlen]), data[22 + hlen:]


def test_forged_header_bit_flips_raise_only_quant_error():
    """Flip every bit of the header text and re-sign it: the field checks refuse it with QuantError (before: assorted
    TypeError, KeyError, IndexError, ...), or it passes them, and then it is the same tensor up to provenance
    metadata, or the same arrays with K moved inside the zero padding of the last block (a consistent tensor)."""
    q = _q("dialectfp4")
    header, payload = _parts(q)
    raw = json.dumps(header, sort_keys=True).encode()
    refused = 0
    for i in range(len(raw) * 8):
        b = bytearray(raw)
        b[i // 8] ^= 1 << (i % 8)
        lengths = struct.pack("<HIQ", 2, len(b), len(payload))
        crc = zlib.crc32(payload, zlib.crc32(bytes(b), zlib.crc32(lengths)))
        try:
            got = QTensor.from_bytes(b"QTNS" + lengths + struct.pack("<I", crc) + bytes(b) + payload)
        except QuantError:
            refused += 1
            continue
        padded = QTensor(q.fmt, got.shape, q.block, q.codes, q.dialect, q.exponent)
        assert got.equal_bits(q) or (got.equal_bits(padded) and q.k < got.k <= q.n_blocks * q.block), bytes(b)
        got.dequantize()
    assert refused > 0

def _with(q: QTensor, **fields) -> bytes:
    kw = dict(fmt=q.fmt, shape=q.shape, block=q.block, codes=q.codes, dialect=q.dialect, exponent=q.exponent,
              scale=q.scale, tensor_scale=q.tensor_scale, meta=q.meta)
    kw.update(fields)
    return QTensor(**kw).to_bytes()


@pytest.mark.parametrize("change,match", [
    (lambda q: {"dialect": np.full_like(q.dialect, 31)}, "'dialect': id 31 is out of range.*16 dialect"),
    (lambda q: {"exponent": np.full_like(q.exponent, 127)}, r"'exponent'.*\[-127, 125\]"),
    (lambda q: {"exponent": np.full_like(q.exponent, -128)}, r"'exponent'.*\[-127, 125\]"),
    (lambda q: {"shape": (2, 100)}, "'arrays.codes'"),                  # shape no longer matches the payload
    (lambda q: {"shape": (3, 40)}, "'arrays.codes'"),
    (lambda q: {"block": 16}, "'arrays.codes'"),
    (lambda q: {"block": 7}, "block size must be even"),
    (lambda q: {"fmt": "fp5"}, "unknown format 'fp5'"),
    (lambda q: {"fmt": "nvfp4"}, "'arrays.scale'"),                      # format name vs stored fields
    (lambda q: {"exponent": q.exponent.astype(np.int16)}, "'arrays.exponent'"),
    (lambda q: {"tensor_scale": 2.0}, "'tensor_scale': format dialectfp4 has no tensor scale"),
    (lambda q: {"meta": {**q.meta, "book": "dialectfp4-32"}}, "'meta.book'"),
])
def test_field_checks_on_read(change, match):
    q = _q("dialectfp4")
    data = _with(q, **change(q))
    with pytest.raises(QuantError, match=match):
        QTensor.from_bytes(data)


@pytest.mark.parametrize("change,match", [
    (lambda q: {"scale": np.full_like(q.scale, np.nan)}, "'scale': block scales must be finite"),
    (lambda q: {"scale": -q.scale}, "'scale': block scales must be finite and non-negative"),
    (lambda q: {"scale": q.scale + np.float32(1e-3)}, "'scale': a block scale is not a fp8_e4m3 value"),
    (lambda q: {"dialect": np.ones_like(q.dialect)}, "'dialect': id 1 is out of range"),
    (lambda q: {"tensor_scale": float("inf")}, "'tensor_scale': expected a positive finite float32"),
])
def test_field_checks_on_read_float_scaled(change, match):
    q = _q("nvfp4")
    with pytest.raises(QuantError, match=match):
        QTensor.from_bytes(_with(q, **change(q)))


@pytest.mark.parametrize("header_change,match", [
    (lambda h: [h], "'header': expected an object"),
    (lambda h: {k: v for k, v in h.items() if k != "shape"}, "'header': expected an object with keys"),
    (lambda h: {**h, "shape": "2x40"}, "'shape'"),
    (lambda h: {**h, "shape": [2, True]}, "'shape'"),
    (lambda h: {**h, "block": "32"}, "'block'"),
    (lambda h: {**h, "fmt": 3}, "'fmt'"),
    (lambda h: {**h, "meta": []}, "'meta'"),
    (lambda h: {**h, "tensor_scale": 1.0}, "'tensor_scale': expected a float in hex"),
    (lambda h: {**h, "arrays": {}}, "'arrays'"),
    (lambda h: {**h, "arrays": h["arrays"][:2]}, "'arrays'"),
])
def test_forged_headers_refused_with_quant_error(header_change, match):
    header, payload = _parts(_q("dialectfp4"))
    with pytest.raises(QuantError, match=match):
        QTensor.from_bytes(_forge(header_change(header), payload))


def test_duplicate_and_nonfinite_header_values_refused():
    q = _q("dialectfp4")
    header, payload = _parts(q)
    raw = json.dumps(header, sort_keys=True).replace('"block": 32', '"block": 32, "block": 32').encode()
    lengths = struct.pack("<HIQ", 2, len(raw), len(payload))
    crc = zlib.crc32(payload, zlib.crc32(raw, zlib.crc32(lengths)))
    with pytest.raises(QuantError, match="'block': appears twice"):
        QTensor.from_bytes(b"QTNS" + lengths + struct.pack("<I", crc) + raw + payload)
    with pytest.raises(QuantError, match="non-finite number NaN"):
        QTensor.from_bytes(_forge({**header, "meta": {"x": float("nan")}}, payload))


def test_previous_byte_version_refused_with_a_clear_message():
    header, payload = _parts(_q("dialectfp4"))
    h = json.dumps(header).encode()
    v1 = b"QTNS" + struct.pack("<HI", 1, len(h)) + h + payload
    with pytest.raises(QuantError, match="byte version 1 .no checksum. is no longer read"):
        QTensor.from_bytes(v1)
    with pytest.raises(QuantError, match="needs bytes, got str"):
        QTensor.from_bytes("QTNS")


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_keeps_every_bit(fmt):
    q = _q(fmt, shape=(3, 70), seed=2)
    assert QTensor.from_bytes(q.to_bytes()).equal_bits(q)
    assert QTensor.from_bytes(bytearray(q.to_bytes())).equal_bits(q)
