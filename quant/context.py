"""QuantContext: the per-model state of a quantized run.  It is the attention recorder a VDiT calls (protocol of
`vdit.layers.attention`: set_step, record, wants_maps, record_map), it serves salient rows and SeDA token groups to
the quantized linears, and it accumulates per-layer statistics.  NumPy only (torch tensors are converted).

Timing [paper: previous denoising step, same layer]: values recorded during step i are served during step i+1.
Within a step, the n-th call of a linear is matched with the n-th attention record of its block, so several
forward passes per step (CFG branches) each see their own previous-step attention.

First-step fallback [ours, knob `decomposition.first_step`]: the attention of the current step is computed after
the q/k/v projections of the same block need their salient rows, so "same step" is impossible for them.  When no
previous-step record exists (the first step, a model without a recorder, a linear outside the blocks), salient
rows come from the input row norms ("row_norm") or decomposition is skipped for that call ("none").  SeDA without
token groups (before the first refresh) selects over the whole formatbook.  Both fallbacks are counted per layer.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .decompose import n_salient, row_norm_scores, top_rows
from .errors import ShapeError
from .recipes import Recipe

ACTIVATION_ACTIONS = ("full", "activation_only")   # actions whose linears quantize their inputs (summed below)
_DOUBLE = re.compile(r"^(double_blocks\.\d+)\.(img|txt)_")
_SINGLE = re.compile(r"^(single_blocks\.\d+)\.")


def token_part(linear_name: str):
    """(block name, part) of a block linear -- part "img" / "txt" (double blocks) or "joint" (single) -- or None.

    The rows of the linear's input are the (B, L_part) tokens of that part, row-major (sample, token)."""
    m = _DOUBLE.match(linear_name)
    if m:
        return m.group(1), m.group(2)
    m = _SINGLE.match(linear_name)
    return (m.group(1), "joint") if m else None


def slice_part(arr: np.ndarray, part: str, txt_len: int) -> np.ndarray:
    """The tokens of `part` along axis 1 of (B, L_joint, ...) with text first: [txt; img]."""
    return {"img": arr[:, txt_len:], "txt": arr[:, :txt_len], "joint": arr}[part]


def top_rows_per_sample(scores: np.ndarray, k: int) -> np.ndarray:
    """decompose.top_rows of every sample's row of scores (B, L), offset to row-major (sample, token) rows and
    concatenated: int64 (B * k,) -- one stable argsort over all samples instead of one call per sample."""
    s = np.asarray(scores, dtype=np.float64)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    order = np.sort(np.argsort(-s, axis=1, kind="stable")[:, :k], axis=1)
    return (order + s.shape[1] * np.arange(s.shape[0])[:, None]).reshape(-1).astype(np.int64)


def _numpy(t) -> np.ndarray:
    if hasattr(t, "detach"):
        t = t.detach().float().cpu().numpy()
    return np.asarray(t, dtype=np.float32)


@dataclass
class LayerStats:
    """Running statistics of one quantized linear (all counts summed over calls)."""
    name: str
    action: str
    calls: int = 0
    rows: int = 0
    macs: int = 0
    extra_macs: int = 0
    salient_rows: int = 0
    salient_fallback_calls: int = 0
    seda_calls: int = 0
    seda_fallback_calls: int = 0
    act_bits: float = 0.0          # total stored bits of the main activation operand
    act_elements: int = 0
    residual_bits: float = 0.0
    weight_bits_per_element: float = 32.0
    act_dialects: Counter = field(default_factory=Counter)
    weight_dialects: Counter = field(default_factory=Counter)
    signal_power: float = 0.0      # sum y_fp^2 (when the context tracks SQNR)
    noise_power: float = 0.0       # sum (y_q - y_fp)^2

    def row(self) -> dict:
        """A tidy row (for CSV)."""
        sqnr = 10 * np.log10(self.signal_power / self.noise_power) if self.noise_power > 0 else float("nan")
        return {"layer": self.name, "action": self.action, "calls": self.calls, "rows": self.rows,
                "macs": self.macs, "extra_macs": self.extra_macs, "salient_rows": self.salient_rows,
                "salient_fallback_calls": self.salient_fallback_calls, "seda_calls": self.seda_calls,
                "seda_fallback_calls": self.seda_fallback_calls,
                "act_bits_per_element": self.act_bits / self.act_elements if self.act_elements else float("nan"),
                "residual_bits_per_element": self.residual_bits / self.act_elements if self.act_elements else 0.0,
                "weight_bits_per_element": self.weight_bits_per_element, "sqnr_db": float(sqnr),
                "act_dialects": dict(sorted(self.act_dialects.items())),
                "weight_dialects": dict(sorted(self.weight_dialects.items()))}


class QuantContext:
    """State shared by the quantized linears of one model (see the module docstring)."""

    def __init__(self, recipe: Recipe, backend: str = "reference", track_sqnr: bool = False):
        self.recipe, self.backend, self.track_sqnr = recipe, backend, track_sqnr
        self.step = None
        self.plan: dict = {}                 # linear name -> action value, or "unmatched"
        self.layers: dict = {}               # linear name -> LayerStats
        self._prev, self._cur = {}, {}       # (block, occurrence) -> (received (B, L), txt_len)
        self._records, self._calls = Counter(), Counter()
        self._groups, self._pending = {}, {}  # (block, occurrence) -> (groups (B, L), txt_len)
        self._last_refresh = None
        self.attention_observers: list = []  # callables (name, float32 output, K) told of every attention matmul
        self.attention_route = None          # callable name -> back end for the next call of that matmul, or None

    # ---- full-path attention (quant/attention.py) ----
    @property
    def quantizes_attention(self) -> bool:
        return self.recipe.attention.enabled

    def attention(self, block_name: str, q, k, v, txt_len: int):
        """The model's attention with quantized matmuls (called by vdit.layers.attention)."""
        from .attention import quantized_attention
        return quantized_attention(self, block_name, q, k, v, txt_len)

    def attention_backend(self, name: str) -> str:
        """The back end of the next call of attention matmul `name` (a cross-check may route single calls)."""
        routed = self.attention_route(name) if self.attention_route is not None else None
        return routed or self.backend

    def notify_attention(self, name: str, y, k: int):
        for observe in self.attention_observers:
            observe(name, y, k)

    # ---- the recorder protocol (called by the model and the sampler) ----
    def set_step(self, i: int):
        """Start denoising step i: this step's records become the 'previous step'."""
        if self.step is not None and i == self.step:
            return
        self._prev, self._cur = self._cur, {}
        if self._pending:
            self._groups.update(self._pending)
            self._pending = {}
        self._records.clear()
        self._calls.clear()
        self.step = i

    def record(self, block_name: str, received, txt_len: int):
        if self.step is None:                # no sampler steps: nothing would ever be served
            return
        occ = self._records[block_name]
        self._records[block_name] += 1
        self._cur[(block_name, occ)] = (_numpy(received), int(txt_len))

    @property
    def wants_maps(self) -> bool:
        """True when SeDA is on and its token groups are due for a refresh this step."""
        seda = self.recipe.seda
        if not seda.enabled or self.step is None:
            return False
        if self._last_refresh is None or self._last_refresh == self.step:
            return True
        return self.step - self._last_refresh >= seda.refresh_every

    def record_map(self, block_name: str, probs, txt_len: int):
        if not self.wants_maps:
            return
        from .seda import token_groups
        occ = self._records[block_name] - 1  # record() for this attention call came first
        self._pending[(block_name, occ)] = (token_groups(_numpy(probs), self.recipe.seda.n_anchors), int(txt_len))
        self._last_refresh = self.step

    # ---- serving the quantized linears ----
    def begin_call(self, name: str) -> int:
        """Occurrence index of this call of linear `name` within the current step."""
        occ = self._calls[name]
        self._calls[name] += 1
        return occ

    def salient_rows(self, name: str, x2d: np.ndarray, occ: int) -> tuple:
        """(rows int64 sorted, from_attention bool) for activation decomposition of one call."""
        dec = self.recipe.decomposition
        m = x2d.shape[0]
        if not dec.enabled or dec.salient_fraction <= 0:
            return np.zeros(0, dtype=np.int64), False
        scores = self._part_values(name, occ, self._prev, m) if dec.source == "attention" else None
        if scores is not None:   # per sample: the top ceil(f * L_part) tokens of each sample
            return top_rows_per_sample(scores, n_salient(scores.shape[1], dec.salient_fraction)), True
        if dec.source == "attention" and dec.first_step == "none":
            return np.zeros(0, dtype=np.int64), False
        return top_rows(row_norm_scores(x2d), n_salient(m, dec.salient_fraction)), False

    def seda_groups(self, name: str, n_rows: int, occ: int):
        """Group id per input row (sample-major: b * n_anchors + anchor group), or None before the first refresh."""
        g = self._part_values(name, occ, self._groups, n_rows)
        if g is None:
            return None
        return (g + self.recipe.seda.n_anchors * np.arange(g.shape[0])[:, None]).reshape(-1)

    def _part_values(self, name: str, occ: int, store: dict, n_rows: int):
        tp = token_part(name)
        if tp is None or (tp[0], occ) not in store:
            return None
        arr, txt_len = store[(tp[0], occ)]
        part = slice_part(arr, tp[1], txt_len)
        if part.size != n_rows:
            raise ShapeError(f"layer {name!r}: input has {n_rows} token rows but block {tp[0]}'s attention record "
                             f"(call {occ}) covers {part.size} {tp[1]} tokens (shape {part.shape}); the forward "
                             f"passes of a step must repeat in the same order and batch size")
        return part

    # ---- statistics ----
    def layer(self, name: str, action: str = "full") -> LayerStats:
        if name not in self.layers:
            self.layers[name] = LayerStats(name, action)
        return self.layers[name]

    def layer_rows(self) -> list:
        return [s.row() for s in self.layers.values()]

    def summary(self) -> dict:
        """Totals over the linears that quantize their inputs (FULL and ACTIVATION_ONLY): MACs, extra MACs of
        decomposition, mean activation bits per element."""
        full = [s for s in self.layers.values() if s.action in ACTIVATION_ACTIONS]
        macs = sum(s.macs for s in full)
        extra = sum(s.extra_macs for s in full)
        elems = sum(s.act_elements for s in full)
        return {"recipe": self.recipe.name, "backend": self.backend, "layers_full": sum(s.action == "full" for s in full),
                "layers_weight_only": sum(s.action == "weight_only" for s in self.layers.values()),
                "layers_activation_only": sum(s.action == "activation_only" for s in self.layers.values()),
                "unmatched_linears": sorted(n for n, a in self.plan.items() if a == "unmatched"),
                "macs": macs, "extra_macs": extra, "extra_mac_fraction": extra / macs if macs else 0.0,
                "act_bits_per_element": sum(s.act_bits for s in full) / elems if elems else float("nan"),
                "act_bits_per_element_with_residual":
                    sum(s.act_bits + s.residual_bits for s in full) / elems if elems else float("nan"),
                "salient_fallback_calls": sum(s.salient_fallback_calls for s in full),
                "seda_fallback_calls": sum(s.seda_fallback_calls for s in full)}
