"""Bit-level cross-check of back ends: every tapped call's output (each quantized linear, on every call) is
fingerprinted (sha1 of its float32 bytes) and classified by kind; two runs agree when every compared fingerprint
and the final latents agree.  On a mismatch the first differing call is re-run on both back ends with a tap that
keeps that one output: a mismatch that reproduces names the layer, call, kind, transformer block and the first
differing element with both bit patterns; one that does not is reported as non-deterministic with the digests
of both runs (it never raises).

Call kinds (one per tapped call, decided from what the call actually did, not from the layer's name):
- `linear`: a FULL quantized linear, plain quantize + GEMM;
- `linear_decomposed`: salient rows re-quantized (activation decomposition's residual GEMM), no SeDA;
- `linear_seda`: selection restricted to SeDA sub-formatbooks (with or without decomposition);
- `weight_only`: FP activations times the dequantized weight (no back end GEMM);
- `attention`: full-path attention's quantized matmuls (`<block>.attn.qk` / `.attn.pv`, one call per sample and
  head), observed through the model's QuantContext (quant/attention.py), not a module hook; a module with a
  `tap_kind` attribute is also tapped with that kind.
Orthogonal to the kind, a decomposed call is counted as `salient_from_attention` when its salient rows came from
the previous step's attention (not the first-step row-norm fallback).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np

from vdit.naming import block_of

KINDS = ("linear", "linear_decomposed", "linear_seda", "weight_only", "attention")


def _layer_counts(mod):
    """(salient rows, SeDA calls, salient fallbacks) so far: the kind of a call is the difference across it.
    None for a module that declares its kind (`tap_kind`)."""
    if getattr(mod, "tap_kind", None) or not hasattr(mod, "context"):
        return None
    s = mod.context.layer(mod.name)
    return s.salient_rows, s.seda_calls, s.salient_fallback_calls


def call_kind(mod, before: tuple | None, after: tuple | None) -> tuple:
    """(kind, salient rows from attention?) of one call of a tapped module."""
    if getattr(mod, "tap_kind", None):
        return mod.tap_kind, False
    if getattr(getattr(mod, "action", None), "value", None) == "weight_only":
        return "weight_only", False
    rows, seda, fallback = (a - b for a, b in zip(after, before))
    dec = mod.recipe.decomposition
    from_attention = rows > 0 and fallback == 0 and dec.source == "attention"
    return ("linear_seda" if seda else "linear_decomposed" if rows else "linear"), from_attention


def tapped_modules(model):
    """(name, module) of every call site the cross-check fingerprints: the QuantLinear modules, and any module
    declaring a `tap_kind` (the place where full-path attention joins the check)."""
    from quant.torch_layers import QuantLinear
    for name, mod in model.named_modules():
        if isinstance(mod, QuantLinear) or getattr(mod, "tap_kind", None):
            yield name, mod


@dataclass
class LayerTap:
    """Forward hooks on the tapped modules.  `digests[(layer, call)]` = sha1 of the output bytes, `kinds[key]` its
    call kind, `steps[key]` its denoising step, `macs[key]` its multiply-accumulates, `from_attention` the keys
    whose salient rows came from attention; `keep` = (layer, call) whose output array is also kept in `kept`; `router` (optional) runs chosen calls on
    another back end (sim.pipeline.coverage.Router) and then `picks` are the only compared calls."""
    keep: tuple | None = None
    router: object = None
    digests: dict = field(default_factory=dict)
    order: list = field(default_factory=list)
    kinds: dict = field(default_factory=dict)
    steps: dict = field(default_factory=dict)
    macs: dict = field(default_factory=dict)
    from_attention: set = field(default_factory=set)
    kept: np.ndarray | None = None
    _calls: dict = field(default_factory=dict)
    _before: dict = field(default_factory=dict)
    _handles: list = field(default_factory=list)
    _ctx: object = None

    @property
    def picks(self):
        """The calls this run is compared on: None = all of them; else the router's picks."""
        return None if self.router is None else self.router.picks

    def attach(self, model):
        for name, mod in tapped_modules(model):
            self._handles.append(mod.register_forward_pre_hook(self._pre_hook(name)))
            self._handles.append(mod.register_forward_hook(self._hook(name)))
        ctx = getattr(model, "quant_context", None)
        if ctx is not None and ctx.quantizes_attention:
            self._ctx = ctx
            ctx.attention_observers.append(self._observe_attention)
            if self.router is not None:
                ctx.attention_route = lambda name: self.router.attention_backend((name, self._calls.get(name, 0)))
        return self

    def detach(self):
        for h in self._handles:
            h.remove()
        self._handles.clear()
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            ctx.attention_observers.remove(self._observe_attention)
            ctx.attention_route = None

    def _observe_attention(self, name: str, y: np.ndarray, k: int):
        """One full-path attention matmul call (one sample and head, reduction length k) on the QuantContext."""
        key = (name, self._calls.get(name, 0))
        self.macs[key] = int(y.size) * int(k)
        self._record(key, "attention", self._ctx.step, y)

    def _record(self, key, kind: str, step, arr: np.ndarray):
        self._calls[key[0]] = key[1] + 1
        self.kinds[key] = kind
        self.steps[key] = step
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        self.digests[key] = hashlib.sha1(arr.tobytes()).hexdigest()
        self.order.append(key)
        if self.keep == key:
            self.kept = arr.copy()

    def _pre_hook(self, name):
        def pre(mod, inp):
            key = (name, self._calls.get(name, 0))
            x = inp[0] if inp else None
            self.macs[key] = int(x.numel()) * int(getattr(mod, "out_features", 1)) if hasattr(x, "numel") else 0
            self._before[name] = _layer_counts(mod)
            if self.router is not None:
                self.router.enter(key, mod)
        return pre

    def _hook(self, name):
        def hook(mod, _inp, out):
            key = (name, self._calls.get(name, 0))
            if self.router is not None:
                self.router.exit(key, mod)
            kind, attn = call_kind(mod, self._before.pop(name, None), _layer_counts(mod))
            if attn:
                self.from_attention.add(key)
            self._record(key, kind, getattr(getattr(mod, "context", None), "step", None),
                         out.detach().cpu().numpy())
        return hook


def compared_keys(ref: LayerTap, other: LayerTap) -> list:
    """The reference's calls, in execution order, that the other run is compared on."""
    picks = other.picks
    return [k for k in ref.order if picks is None or k in picks]


def first_mismatch(ref: LayerTap, other: LayerTap):
    """The first compared (layer, call) whose fingerprint differs or that the other run lacks, else the first call
    the other run made that the reference did not (a different call structure), else None."""
    for key in compared_keys(ref, other):
        if other.digests.get(key) != ref.digests[key]:
            return key
    picks = other.picks
    for key in other.order:
        if key not in ref.digests and (picks is None or key in picks):
            return key
    return None


def count_matching(ref: LayerTap, other: LayerTap) -> int:
    return sum(ref.digests[k] == other.digests.get(k) for k in compared_keys(ref, other))


@dataclass(frozen=True)
class KindCoverage:
    checked: int = 0
    identical: int = 0
    steps: tuple = ()        # denoising steps the checked calls came from


def kind_coverage(ref: LayerTap, other: LayerTap) -> tuple:
    """({kind: KindCoverage} over the compared calls, KindCoverage of those with attention-chosen salient rows)."""
    acc, attn = {}, [0, 0, set()]
    for key in compared_keys(ref, other):
        same = ref.digests[key] == other.digests.get(key)
        c = acc.setdefault(ref.kinds[key], [0, 0, set()])
        for tally in (c, attn) if key in ref.from_attention else (c,):
            tally[0] += 1
            tally[1] += int(same)
            tally[2].add(ref.steps.get(key))
    done = lambda t: KindCoverage(t[0], t[1], tuple(sorted(s for s in t[2] if s is not None)))
    return {k: done(acc[k]) for k in KINDS if k in acc}, done(attn)


@dataclass(frozen=True)
class Mismatch:
    backend: str
    layer: str
    call: int
    block: str
    element: tuple = ()      # index of the first differing element of the layer output (when reproduced)
    ref_bits: str = ""       # float32 bit patterns as hex, or "shape (..)" / "missing"
    other_bits: str = ""
    kind: str = ""
    reproduced: bool = True
    digests: tuple = ()      # (reference, other) sha1 on the first run
    rerun_digests: tuple = ()  # (reference, other) sha1 on the rerun (None: the rerun did not reach the call)

    @property
    def unstable(self) -> str:
        """Which side changed its output between the two runs ("" when neither did)."""
        if not self.rerun_digests:
            return ""
        sides = [name for name, a, b in zip(("reference", self.backend), self.digests, self.rerun_digests) if a != b]
        return " and ".join(sides)

    def describe(self, ref_name: str) -> str:
        where = f"layer {self.layer} (call {self.call}, {self.kind or 'call'}, {self.block})"
        if not self.reproduced:
            first, again = (" vs ".join(_short(d) for d in ds) for ds in (self.digests, self.rerun_digests))
            side = self.unstable.replace("reference", ref_name) or "neither side's digest"
            return (f"NON-DETERMINISTIC mismatch: {self.backend} != {ref_name} at {where} on the first run (sha1 "
                    f"{first}) but not on the rerun (sha1 {again}); {side} changed between runs")
        what = (f"first differing element {self.element}" if self.element else "output")
        return f"{self.backend} != {ref_name} at {where}, {what}: {self.ref_bits} vs {self.other_bits}"


def _short(digest) -> str:
    return "missing" if digest is None else str(digest)[:12]


def _digest(arr):
    return None if arr is None else hashlib.sha1(np.ascontiguousarray(arr, dtype=np.float32).tobytes()).hexdigest()


def describe_difference(backend: str, key, ref_arr, other_arr, kind: str = "", first_digests: tuple = ()):
    """The Mismatch of one call from the rerun's kept outputs (None: the rerun did not produce it).  Never raises:
    equal outputs on the rerun make a non-reproduced (non-deterministic) mismatch with both runs' digests."""
    base = dict(backend=backend, layer=key[0], call=key[1], block=block_of(key[0]), kind=kind,
                digests=tuple(first_digests), rerun_digests=(_digest(ref_arr), _digest(other_arr)))
    if ref_arr is None or other_arr is None:
        if ref_arr is None and other_arr is None:
            return Mismatch(**base, reproduced=False)
        return Mismatch(**base, ref_bits="missing" if ref_arr is None else "present",
                        other_bits="missing" if other_arr is None else "present")
    if ref_arr.shape != other_arr.shape:
        return Mismatch(**base, ref_bits=f"shape {ref_arr.shape}", other_bits=f"shape {other_arr.shape}")
    a, b = ref_arr.view(np.int32), other_arr.view(np.int32)
    diff = np.argwhere(a != b)
    if len(diff) == 0:
        return Mismatch(**base, reproduced=False)
    idx = tuple(int(i) for i in diff[0])
    return Mismatch(**base, element=idx, ref_bits=f"0x{int(a[idx]) & 0xFFFFFFFF:08x}",
                    other_bits=f"0x{int(b[idx]) & 0xFFFFFFFF:08x}")


@dataclass(frozen=True)
class CheckResult:
    backend: str
    reference: str
    layer_calls: int
    matching_calls: int
    latents_identical: bool | None   # None: no latents to compare
    mismatch: Mismatch | None
    scope: str                       # what was compared, e.g. "3 of 10 denoising steps, ..."
    coverage: dict = field(default_factory=dict)      # kind -> KindCoverage
    salient_from_attention: KindCoverage = KindCoverage()
    runs_reference_for: tuple = ()   # parts of the recipe this back end runs through the NumPy reference
    notes: tuple = ()                # e.g. details of synthetic stages
    error: str = ""                  # the back end raised while running the slice: what it said

    @property
    def identical(self) -> bool:
        return (not self.error and self.mismatch is None and self.latents_identical is not False
                and self.layer_calls > 0
                and self.layer_calls == self.matching_calls
                and all(c.checked == c.identical for c in self.coverage.values()))

    @property
    def status(self) -> str:
        if self.identical:
            return "bit-identical"
        if self.error:
            return "error"
        if self.mismatch is not None:
            return "mismatch" if self.mismatch.reproduced else "non-deterministic mismatch"
        if self.layer_calls == 0:
            return "nothing checked"
        return "latents differ" if self.latents_identical is False else "mismatch"

    def describe(self) -> str:
        if self.error:
            return self.error
        if self.mismatch is not None:
            return self.mismatch.describe(self.reference)
        bad = [f"{k} {c.identical}/{c.checked}" for k, c in self.coverage.items() if c.checked != c.identical]
        return "; ".join(bad + list(self.notes)) if bad else ("latents differ" if self.status == "latents differ"
                                                              else "")


def latents_equal(a, b) -> bool:
    x = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    y = np.ascontiguousarray(np.asarray(b, dtype=np.float32))
    return x.shape == y.shape and x.tobytes() == y.tobytes()
