"""Bit-level cross-check of back ends: every quantized linear's output on every call is fingerprinted (sha1 of
its float32 bytes); two runs agree when every fingerprint and the final latents agree.  On a mismatch the
first differing call is re-run on both back ends with a tap that keeps that one output, so the report names the
layer, the call, the transformer block and the first differing element with both bit patterns."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np


class SliceDone(Exception):
    """Raised by a LayerTap that has seen its `max_calls` layer calls (stops the forward pass early)."""


@dataclass
class LayerTap:
    """Forward hooks on the model's QuantLinear modules.  `digests[(layer, call)]` = sha1 of the output bytes;
    `keep` = (layer, call) whose output array is also kept in `kept`; after `max_calls` calls the tap raises
    SliceDone (a slice for very slow back ends such as the Triton interpreter)."""
    keep: tuple | None = None
    max_calls: int | None = None
    digests: dict = field(default_factory=dict)
    order: list = field(default_factory=list)
    kept: np.ndarray | None = None
    _calls: dict = field(default_factory=dict)
    _handles: list = field(default_factory=list)

    def attach(self, model):
        from quant.torch_layers import QuantLinear
        for name, mod in model.named_modules():
            if isinstance(mod, QuantLinear):
                self._handles.append(mod.register_forward_hook(self._hook(name)))
        return self

    def detach(self):
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, name):
        def hook(_mod, _inp, out):
            call = self._calls.get(name, 0)
            self._calls[name] = call + 1
            arr = np.ascontiguousarray(out.detach().cpu().numpy(), dtype=np.float32)
            key = (name, call)
            self.digests[key] = hashlib.sha1(arr.tobytes()).hexdigest()
            self.order.append(key)
            if self.keep == key:
                self.kept = arr.copy()
            if self.max_calls is not None and len(self.order) >= self.max_calls:
                raise SliceDone()
        return hook


@dataclass(frozen=True)
class Mismatch:
    backend: str
    layer: str
    call: int
    block: str
    element: tuple          # index of the first differing element of the layer output
    ref_bits: str           # float32 bit patterns as hex
    other_bits: str

    def describe(self, ref_name: str) -> str:
        return (f"{self.backend} != {ref_name} at layer {self.layer} (call {self.call}, {self.block}), first differing "
                f"element {self.element}: {self.ref_bits} vs {self.other_bits}")


@dataclass(frozen=True)
class CheckResult:
    backend: str
    reference: str
    layer_calls: int
    matching_calls: int
    latents_identical: bool | None   # None: the slice stopped inside the forward pass, no latents to compare
    mismatch: Mismatch | None
    scope: str              # what was compared, e.g. "1 of 10 denoising steps"

    @property
    def identical(self) -> bool:
        return (self.mismatch is None and self.latents_identical is not False and self.layer_calls > 0
                and self.layer_calls == self.matching_calls)


def first_mismatch(ref: LayerTap, other: LayerTap):
    """The first (layer, call) of the other run, in execution order, whose fingerprint differs from the
    reference's, or the first reference call the other run lacks (when it was not stopped early)."""
    for key in other.order:
        if ref.digests.get(key) != other.digests[key]:
            return key
    if other.max_calls is None:
        for key in ref.order:
            if key not in other.digests:
                return key
    return None


def count_matching(ref: LayerTap, other: LayerTap) -> int:
    return sum(ref.digests.get(k) == d for k, d in other.digests.items())


def block_of(layer: str) -> str:
    parts = layer.split(".")
    return ".".join(parts[:2]) if parts[0] in ("double_blocks", "single_blocks") else parts[0]


def describe_difference(backend: str, key, ref_arr: np.ndarray, other_arr: np.ndarray) -> Mismatch:
    a, b = ref_arr.view(np.int32), other_arr.view(np.int32)
    if a.shape != b.shape:
        return Mismatch(backend, key[0], key[1], block_of(key[0]), (), f"shape {a.shape}", f"shape {b.shape}")
    idx = tuple(int(i) for i in np.argwhere(a != b)[0])
    return Mismatch(backend, key[0], key[1], block_of(key[0]), idx, f"0x{int(a[idx]) & 0xFFFFFFFF:08x}",
                    f"0x{int(b[idx]) & 0xFFFFFFFF:08x}")


def latents_equal(a, b) -> bool:
    x = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    y = np.ascontiguousarray(np.asarray(b, dtype=np.float32))
    return x.shape == y.shape and x.tobytes() == y.tobytes()
