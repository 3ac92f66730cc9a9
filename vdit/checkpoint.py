"""Safetensors checkpoints: our own header parser and per-tensor memory maps (BF16 without torch), streaming loads.

File layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
"__metadata__": {str: str}}, then the data; offsets are relative to the first byte after the header.  A model is
filled one tensor at a time from `np.memmap` views, so an 11 B-parameter file is never read into memory whole.
"""
from __future__ import annotations

import json
import math
import os
from numbers import Integral
import struct
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from safetensors.torch import save_file

from .config import CONFIGS, MMDiTConfig

# safetensors dtype -> (numpy storage dtype, bytes per element); BF16 is stored as raw u16 and widened on read
DTYPES = {"F64": (np.float64, 8), "F32": (np.float32, 4), "F16": (np.float16, 2), "BF16": (np.uint16, 2),
          "I64": (np.int64, 8), "I32": (np.int32, 4), "I16": (np.int16, 2), "I8": (np.int8, 1),
          "U8": (np.uint8, 1), "BOOL": (np.bool_, 1)}
MAX_HEADER_BYTES = 100 * 2 ** 20
_ENTRY_FIELDS = {"dtype", "shape", "data_offsets"}


def _is_count(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool) and v >= 0


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used as is: the message names the file and the tensor."""


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str
    shape: tuple
    begin: int   # absolute byte offset in the file
    end: int


class SafetensorsFile:
    """Parsed header of a .safetensors file; `array(name)` memory-maps one tensor and returns it as float32.

    The header is checked in full before any tensor is read: a JSON object of tensors plus optional string-to-string
    `__metadata__`; each tensor exactly {dtype, shape, data_offsets} with a known dtype, non-negative integer dims,
    and offsets [begin, end] inside the file whose length is the shape's bytes; sorted by offset, the tensors tile
    the data region exactly (no overlap, no hole, nothing after the last one; the safetensors format rule).  Any
    failure is a CheckpointError naming the file and the key."""

    def __init__(self, path):
        self.path = os.fspath(path)
        size = os.path.getsize(self.path)
        with open(self.path, "rb") as fh:
            raw = fh.read(8)
            if len(raw) < 8:
                raise CheckpointError(f"{self.path}: truncated: {size} bytes, no 8-byte header length")
            (n,) = struct.unpack("<Q", raw)
            if n > MAX_HEADER_BYTES or 8 + n > size:
                raise CheckpointError(f"{self.path}: truncated or not safetensors: header claims {n} bytes, "
                                      f"file has {size}")
            header = self._json(fh.read(n))
        if not isinstance(header, dict):
            raise CheckpointError(f"{self.path}: header is a JSON {type(header).__name__}, expected an object "
                                  f"of tensors")
        self.metadata = self._metadata(header.pop("__metadata__", None))
        self.entries = {k: self._entry(k, v, 8 + n, size) for k, v in header.items()}
        self._check_tiling(8 + n, size)

    def _json(self, raw: bytes):
        def unique(pairs):
            out = {}
            for k, v in pairs:
                if k in out:
                    raise CheckpointError(f"{self.path}: key {k!r} appears twice in the header")
                out[k] = v
            return out
        try:
            return json.loads(raw, object_pairs_hook=unique)
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise CheckpointError(f"{self.path}: header is not valid JSON ({exc})") from None

    def _metadata(self, meta) -> dict:
        if meta is None:
            return {}
        if not isinstance(meta, dict):
            raise CheckpointError(f"{self.path}: key '__metadata__' is a {type(meta).__name__}, expected an object "
                                  f"of strings")
        for k, v in meta.items():
            if not isinstance(v, str):
                raise CheckpointError(f"{self.path}: key '__metadata__.{k}' is a {type(v).__name__}, metadata "
                                      f"values must be strings")
        return meta

    def _entry(self, name, info, start, size) -> TensorEntry:
        where = f"{self.path}: tensor {name!r}"
        if not isinstance(info, dict) or set(info) != _ENTRY_FIELDS:
            got = sorted(info) if isinstance(info, dict) else type(info).__name__
            raise CheckpointError(f"{where}: expected fields {sorted(_ENTRY_FIELDS)}, got {got}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise CheckpointError(f"{where} has dtype {dtype!r}; supported: {sorted(DTYPES)}")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise CheckpointError(f"{where}: shape {shape!r} is not a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_count(x) for x in offsets)
                and offsets[0] <= offsets[1]):
            raise CheckpointError(f"{where}: data_offsets {offsets!r} is not [begin, end] with 0 <= begin <= end")
        b, e = offsets
        if e - b != math.prod(shape) * DTYPES[dtype][1]:
            raise CheckpointError(f"{where}: data_offsets {b}..{e} do not hold {dtype} {list(shape)}")
        if start + e > size:
            raise CheckpointError(f"{self.path}: truncated: tensor {name!r} ends at byte {start + e}, "
                                  f"file has {size} bytes")
        return TensorEntry(name, dtype, tuple(shape), start + b, start + e)

    def _check_tiling(self, start: int, size: int):
        """Sorted by offset, every tensor starts where the previous one ended and the last ends the file."""
        pos, prev = start, None
        for e in sorted(self.entries.values(), key=lambda t: (t.begin, t.end)):
            if e.begin < pos:
                raise CheckpointError(f"{self.path}: tensor {e.name!r} (data bytes {e.begin - start}..{e.end - start})"
                                      f" overlaps tensor {prev.name!r} (..{prev.end - start})")
            if e.begin > pos:
                raise CheckpointError(f"{self.path}: data bytes {pos - start}..{e.begin - start} before tensor "
                                      f"{e.name!r} belong to no tensor")
            pos, prev = e.end, e
        if pos != size:
            raise CheckpointError(f"{self.path}: {size - pos} byte(s) after the last tensor belong to no tensor")

    def shape(self, name) -> tuple:
        return self.entries[name].shape

    def raw(self, name) -> np.ndarray:
        """The tensor as stored (BF16 as uint16), a read-only memory map: nothing is read until used."""
        e = self.entries[name]
        dtype, _ = DTYPES[e.dtype]
        if e.end == e.begin:
            return np.zeros(e.shape, dtype)
        return np.memmap(self.path, dtype=dtype, mode="r", offset=e.begin, shape=e.shape)

    def array(self, name) -> np.ndarray:
        """The tensor as float32 (BF16 widened exactly: bits << 16)."""
        raw = self.raw(name)
        if self.entries[name].dtype == "BF16":
            return (raw.astype(np.uint32) << 16).view(np.float32)
        return np.asarray(raw, dtype=np.float32)


def _count(entries, prefix: str) -> int:
    n = 0
    while f"{prefix}.{n}." + ("img_mod.lin.weight" if "double" in prefix else "modulation.lin.weight") in entries:
        n += 1
    return n


def _axes_dim(head_dim: int) -> tuple:
    """RoPE split is not stored in the weights: take a named config's split for its head dim, else t gets a
    quarter (rounded to even) and h, w share the rest."""
    for c in CONFIGS.values():
        if c.head_dim == head_dim:
            return c.axes_dim
    t = max(2, 2 * round(head_dim / 8))
    hw = (head_dim - t) // 2 // 2 * 2
    return (head_dim - 2 * hw, hw, hw)


def derive_config(st: SafetensorsFile, name: str = "from-checkpoint") -> MMDiTConfig:
    """Hidden size, depths, heads, channels and text widths from the keys and shapes (metadata `vdit_config`,
    written by `save_checkpoint`, supplies the RoPE split and base when present; Open-Sora's base 10,000 otherwise)."""
    need = ["img_in.weight", "cond_in.weight", "txt_in.weight", "vector_in.in_layer.weight",
            "time_in.in_layer.weight", "double_blocks.0.img_attn.norm.query_norm.scale",
            "double_blocks.0.img_mlp.0.weight"]
    for k in need:
        if k not in st.entries:
            raise CheckpointError(f"{st.path}: missing key {k!r}: cannot derive the model config")
    hidden, in_ch = _dims(st, "img_in.weight", 2)
    (head_dim,) = _dims(st, "double_blocks.0.img_attn.norm.query_norm.scale", 1)
    cond_ch = _dims(st, "cond_in.weight", 2)[1]
    patch = int(round(max(cond_ch - in_ch, 0) ** 0.5))
    if patch < 1 or patch * patch != cond_ch - in_ch:
        raise CheckpointError(f"{st.path}: key 'cond_in.weight' has {cond_ch} input channels; expected img_in's "
                              f"{in_ch} plus a square patch area")
    meta = _vdit_meta(st)
    axes = tuple(meta.get("axes_dim", _axes_dim(head_dim)))
    try:
        return MMDiTConfig(name=meta.get("name", name), in_channels=in_ch, hidden_size=hidden,
                           num_heads=hidden // head_dim, depth=_count(st.entries, "double_blocks"),
                           depth_single_blocks=_count(st.entries, "single_blocks"), axes_dim=axes,
                           context_in_dim=_dims(st, "txt_in.weight", 2)[1],
                           vec_in_dim=_dims(st, "vector_in.in_layer.weight", 2)[1], patch_size=patch,
                           mlp_ratio=_dims(st, "double_blocks.0.img_mlp.0.weight", 2)[0] / hidden,
                           time_dim=_dims(st, "time_in.in_layer.weight", 2)[1], theta=meta.get("theta", 10_000))
    except CheckpointError:
        raise
    except (ValueError, ZeroDivisionError) as exc:   # MMDiTConfig's own checks (heads = hidden // head_dim may be 0)
        raise CheckpointError(f"{st.path}: the shapes and metadata give no consistent config: {exc}") from None


def _dims(st: SafetensorsFile, key: str, ndim: int) -> tuple:
    shape = st.shape(key)
    if len(shape) != ndim or 0 in shape:
        raise CheckpointError(f"{st.path}: key {key!r} has shape {list(shape)}; expected {ndim} non-zero dim(s)")
    return shape


_META_FIELDS = {"name": "a string", "axes_dim": "a list of 3 positive integers", "theta": "a positive integer"}


def _vdit_meta(st: SafetensorsFile) -> dict:
    """The `vdit_config` metadata written by save_checkpoint (JSON: name, axes_dim, theta), checked field by field."""
    where = f"{st.path}: metadata 'vdit_config'"
    try:
        meta = json.loads(st.metadata.get("vdit_config", "{}"))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CheckpointError(f"{where} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{where} is a JSON {type(meta).__name__}, expected an object")
    ok = {"name": lambda v: isinstance(v, str),
          "axes_dim": lambda v: isinstance(v, list) and len(v) == 3 and all(_is_count(d) and d > 0 for d in v),
          "theta": lambda v: _is_count(v) and v > 0}
    for k, v in meta.items():
        if k not in ok:
            raise CheckpointError(f"{where}: unknown field {k!r}; fields: {', '.join(_META_FIELDS)}")
        if not ok[k](v):
            raise CheckpointError(f"{where}: field {k!r} is {v!r}; expected {_META_FIELDS[k]}")
    return meta


def load_checkpoint(path, device="cpu", dtype=torch.float32):
    """-> (model, config).  Missing keys or wrong shapes raise CheckpointError naming the key; extra keys warn.
    Tensors are copied into the model one at a time from memory maps."""
    from .model import MMDiTModel
    st = SafetensorsFile(path)
    config = derive_config(st)
    with torch.device("meta"):
        model = MMDiTModel(config)
    expected = model.state_dict()
    for k, t in expected.items():
        if k not in st.entries:
            raise CheckpointError(f"{st.path}: missing key {k!r} (config {config.name}: "
                                  f"{config.depth} double + {config.depth_single_blocks} single blocks)")
        if st.shape(k) != tuple(t.shape):
            raise CheckpointError(f"{st.path}: key {k!r} has shape {list(st.shape(k))}, "
                                  f"the derived config needs {list(t.shape)}")
    extra = sorted(set(st.entries) - set(expected))
    if extra:
        warnings.warn(f"{st.path}: ignoring {len(extra)} extra key(s): {extra[:5]}{' ...' if len(extra) > 5 else ''}",
                      stacklevel=2)
    model = model.to_empty(device=device).to(dtype)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")  # we only read it
        for k, t in model.state_dict().items():
            t.copy_(torch.from_numpy(st.array(k)))
    return model, config


def save_checkpoint(model, path, dtype=torch.float32, metadata: dict | None = None) -> None:
    """Write the state dict as safetensors (dtype float32 or bfloat16) with the config in the metadata."""
    c = model.config
    meta = {"vdit_config": json.dumps({"name": c.name, "axes_dim": list(c.axes_dim), "theta": c.theta}),
            "format": "pt"}
    meta.update({k: str(v) for k, v in (metadata or {}).items()})
    tensors = {k: v.detach().to(dtype).contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, os.fspath(path), metadata=meta)
