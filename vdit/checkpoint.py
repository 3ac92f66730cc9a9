"""Safetensors checkpoints: our own header parser and per-tensor memory maps (BF16 without torch), streaming loads.

File layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]},
"__metadata__": {str: str}}, then the data; offsets are relative to the first byte after the header.  A model is
filled one tensor at a time from `np.memmap` views, so an 11 B-parameter file is never read into memory whole.
"""
from __future__ import annotations

import json
import os
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
    """Parsed header of a .safetensors file; `array(name)` memory-maps one tensor and returns it as float32."""

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
            try:
                header = json.loads(fh.read(n))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CheckpointError(f"{self.path}: header is not valid JSON ({exc})") from None
        self.metadata = header.pop("__metadata__", None) or {}
        self.entries = {k: self._entry(k, v, 8 + n, size) for k, v in header.items()}

    def _entry(self, name, info, start, size) -> TensorEntry:
        if info.get("dtype") not in DTYPES:
            raise CheckpointError(f"{self.path}: tensor {name!r} has dtype {info.get('dtype')!r}; "
                                  f"supported: {sorted(DTYPES)}")
        shape = tuple(int(s) for s in info["shape"])
        b, e = (int(x) for x in info["data_offsets"])
        if e - b != int(np.prod(shape, dtype=np.int64)) * DTYPES[info["dtype"]][1]:
            raise CheckpointError(f"{self.path}: tensor {name!r}: data_offsets {b}..{e} do not hold "
                                  f"{info['dtype']} {list(shape)}")
        if start + e > size:
            raise CheckpointError(f"{self.path}: truncated: tensor {name!r} ends at byte {start + e}, "
                                  f"file has {size} bytes")
        return TensorEntry(name, info["dtype"], shape, start + b, start + e)

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
    hidden, in_ch = st.shape("img_in.weight")
    head_dim = st.shape("double_blocks.0.img_attn.norm.query_norm.scale")[0]
    patch = int(round((st.shape("cond_in.weight")[1] - in_ch) ** 0.5))
    meta = json.loads(st.metadata.get("vdit_config", "{}"))
    axes = tuple(meta.get("axes_dim", _axes_dim(head_dim)))
    return MMDiTConfig(name=meta.get("name", name), in_channels=in_ch, hidden_size=hidden,
                       num_heads=hidden // head_dim, depth=_count(st.entries, "double_blocks"),
                       depth_single_blocks=_count(st.entries, "single_blocks"), axes_dim=axes,
                       context_in_dim=st.shape("txt_in.weight")[1], vec_in_dim=st.shape("vector_in.in_layer.weight")[1],
                       patch_size=patch, mlp_ratio=st.shape("double_blocks.0.img_mlp.0.weight")[0] / hidden,
                       time_dim=st.shape("time_in.in_layer.weight")[1], theta=int(meta.get("theta", 10_000)))


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
