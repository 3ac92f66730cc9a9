"""Validation of a QTensor read from bytes (quant/qtensor.py `from_bytes`), after its checksum matched.

The checksum catches damaged bytes; these checks catch well-formed bytes that no quantizer of this library could
have written (hand-edited, or written for a differently registered format): every header field is compared with
what the registered format, the shape and the block size imply, and the per-block fields with their ranges, so a
bad value is refused here instead of failing later (an out-of-range dialect id in dequantize()) or decoding to a
different tensor.  Every refusal is a QuantError that names the field.
"""
from __future__ import annotations

import json
from numbers import Integral

import numpy as np

from .blocks import MAX_EXP, MIN_EXP
from .errors import QuantError

_KEYS = ("arrays", "block", "fmt", "meta", "shape", "tensor_scale")
_ARRAY_KEYS = ("dtype", "name", "nbytes", "shape")


def _bad(field: str, problem: str) -> QuantError:
    return QuantError(f"QTensor bytes: field {field!r}: {problem}")


def _unique_keys(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise _bad(k, "appears twice in the header")
        seen[k] = v
    return seen


def _refuse_constant(name):
    raise QuantError(f"QTensor bytes: the header holds the non-finite number {name}")


def _header(raw: bytes) -> dict:
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except QuantError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise QuantError(f"QTensor bytes: the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or sorted(header) != list(_KEYS):
        got = sorted(header) if isinstance(header, dict) else type(header).__name__
        raise _bad("header", f"expected an object with keys {list(_KEYS)}, got {got}")
    return header


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _shape(v) -> tuple:
    if not isinstance(v, list) or not v or not all(_is_int(s) and s >= 0 for s in v) or v[-1] == 0:
        raise _bad("shape", f"expected a non-empty list of non-negative integers ending in K >= 1, got {v!r}")
    return tuple(int(s) for s in v)


def _tensor_scale(v, fmt) -> float:
    try:
        ts = float.fromhex(v)
    except (TypeError, ValueError, OverflowError):
        raise _bad("tensor_scale", f"expected a float in hex notation, got {v!r}") from None
    if not (np.isfinite(ts) and ts > 0 and float(np.float32(ts)) == ts):
        raise _bad("tensor_scale", f"expected a positive finite float32, got {v!r}")
    if getattr(fmt, "tensor_scale_divisor", None) is None and ts != 1.0:
        raise _bad("tensor_scale", f"format {fmt.name} has no tensor scale (1.0), got {ts!r}")
    return ts


def expected_arrays(fmt, shape: tuple, block: int) -> list:
    """The array list a QTensor of this format, shape and block holds: [{name, dtype, shape, nbytes}]."""
    from .registry import EXPONENT_KINDS
    rows = int(np.prod(shape[:-1], dtype=np.int64))
    nb = -(-shape[-1] // block)
    width = nb * block // 2 if fmt.element_bits == 4 else nb * block
    per_block = ("exponent", "|i1", 1) if fmt.scale_kind in EXPONENT_KINDS else ("scale", np.dtype("<f4").str, 4)
    out = [("codes", "|u1", (rows, width), 1), ("dialect", "|u1", (rows, nb), 1),
           (per_block[0], per_block[1], (rows, nb), per_block[2])]
    return [{"name": n, "dtype": d, "shape": list(s), "nbytes": s[0] * s[1] * size} for n, d, s, size in out]


def _arrays(specs, fmt, shape, block, payload: bytes) -> dict:
    want = expected_arrays(fmt, shape, block)
    if not isinstance(specs, list) or len(specs) != len(want):
        raise _bad("arrays", f"format {fmt.name} stores {[w['name'] for w in want]}, got {specs!r}")
    arrays, off = {}, 0
    for spec, w in zip(specs, want):
        if spec != w:
            raise _bad(f"arrays.{w['name']}", f"format {fmt.name} with shape {list(shape)} and block {block} "
                                              f"needs {w}, got {spec}")
        arrays[w["name"]] = np.frombuffer(payload, np.dtype(w["dtype"]), w["nbytes"] // np.dtype(w["dtype"]).itemsize,
                                          off).reshape(w["shape"]).copy()
        off += w["nbytes"]
    if off != len(payload):
        raise _bad("arrays", f"the arrays hold {off} bytes, the payload has {len(payload)}")
    return arrays


def _check_values(fmt, arrays: dict, meta: dict, block: int):
    """Per-block fields within the ranges the format can produce."""
    if hasattr(fmt, "nan_codes") and np.isin(arrays["codes"], fmt.nan_codes).any():
        raise _bad("codes", f"holds a NaN code of {fmt.element.name}, which {fmt.name} never produces")
    dialect = arrays["dialect"]
    n_dialects = fmt.book.size if hasattr(fmt, "book") else 1
    if dialect.size and int(dialect.max()) >= n_dialects:
        raise _bad("dialect", f"id {int(dialect.max())} is out of range: format {fmt.name} has {n_dialects} "
                              f"dialect(s), ids 0..{n_dialects - 1}")
    if "exponent" in arrays:
        e = arrays["exponent"]
        if e.size and (int(e.min()) < MIN_EXP or int(e.max()) > MAX_EXP):
            raise _bad("exponent", f"values {int(e.min())}..{int(e.max())} leave the block-exponent range "
                                   f"[{MIN_EXP}, {MAX_EXP}]")
        if hasattr(fmt, "book") and meta.get("book", fmt.book.name) != fmt.book.name:
            raise _bad("meta.book", f"written with formatbook {meta.get('book')!r}, format {fmt.name} now uses "
                                    f"{fmt.book.name!r}")
        if hasattr(fmt, "book"):          # shared exponents: the stored ones must fit the claimed offset bits
            from .exponents import check_exponents, sharing_of
            sharing = sharing_of(block, meta, "QTensor bytes: field 'meta'")
            check_exponents(e, sharing, "QTensor bytes: field 'exponent'")
    if "scale" in arrays:
        s = arrays["scale"]
        if not (np.isfinite(s).all() and not np.signbit(s).any()):
            raise _bad("scale", "block scales must be finite and non-negative")
        if fmt.scale_format is not None and not np.array_equal(fmt.scale_format.round(s), s.astype(np.float64)):
            raise _bad("scale", f"a block scale is not a {fmt.scale_format.name} value")


def checked_fields(raw_header: bytes, payload: bytes) -> dict:
    """The QTensor constructor's keyword arguments from a header and payload, every field checked."""
    from .registry import check_block, get_format
    header = _header(raw_header)
    if not isinstance(header["fmt"], str):
        raise _bad("fmt", f"expected a format name, got {header['fmt']!r}")
    fmt = get_format(header["fmt"])                         # unknown name: UnknownNameError listing the valid ones
    shape = _shape(header["shape"])
    block = header["block"]
    if not _is_int(block):
        raise _bad("block", f"expected a positive integer, got {block!r}")
    block = check_block(fmt, block)
    if not isinstance(header["meta"], dict):
        raise _bad("meta", f"expected an object, got {type(header['meta']).__name__}")
    arrays = _arrays(header["arrays"], fmt, shape, block, payload)
    _check_values(fmt, arrays, header["meta"], block)
    return dict(fmt=header["fmt"], shape=shape, block=block, tensor_scale=_tensor_scale(header["tensor_scale"], fmt),
                meta=header["meta"], codes=arrays["codes"], dialect=arrays["dialect"],
                exponent=arrays.get("exponent"), scale=arrays.get("scale"))
