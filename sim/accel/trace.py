"""Workload traces: every op of a sampling run from shapes alone, one row per distinct op with a repeat count.

A row is a quantized or FP GEMM (M x K x N, `batch` independent copies, e.g. attention heads), an online quantize
op (the LUT unit) or a vector op (norms, softmax, RoPE, GELU, modulation, residual adds).  Rows are per block index
(names as in docs/model.md#layer-names, e.g. `double_blocks.3.img_attn.q_proj`); `repeat` multiplies them by steps x CFG branches.
A full Open-Sora 2.0 run is about two thousand rows, never millions of objects.

A trace holds its rows as NumPy columns (`columns`); `ops` is the same table as a DataFrame, built on first use, so
that an estimate never imports pandas.  Traces are cached per (shape, recipe, full path, steps, branches) and
shared: treat `columns` and `ops` as read-only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from math import ceil

import numpy as np

from vdit.naming import IMG, TXT, attention_scope, double_block, single_block

from .recipes import DECODER_KIND, FP16_BITS, HwRecipe, get_recipe
from .workload import ModelShape, model_shape

# Vector-unit operations per element [ours: counted from the math, one lane-op per add/mul/compare/exp]
VECTOR_OPS = {
    "layernorm": 5,      # mean (add), variance (sub, mul, add), normalize (sub, mul); no affine
    "rmsnorm": 4,        # square, add, mul by rsqrt, mul by scale
    "modulate": 2,       # x * (1 + scale) + shift
    "gate_residual": 2,  # x + gate * y
    "rope": 3,           # x * cos + rotate_half(x) * sin
    "gelu_tanh": 8,      # x^3, two muls, add, tanh (~2), add, mul
    "softmax": 5,        # max, sub, exp, sum, divide
    "silu": 4,           # neg, exp, add, divide
    "add": 1,
    "residual": 2,       # R = X - DQ(Q(X)) for decomposition: dequantize (mul) and subtract
    "colsum": 1,         # attention received (column sums of softmax) for salient tokens / SeDA anchors
    "k_smooth": 2,       # K smoothing: the per-channel sum over tokens (add) and K - mean (sub); the divide is per channel
    "cfg_euler": 6,      # 3-branch guidance combination (4) and the Euler update x += dt * v (2)
}
COLUMNS = ("op", "kind", "group", "block", "m", "k", "n", "batch", "repeat", "mac_mode", "x_bits", "w_bits",
           "y_bits", "x_onchip", "w_onchip", "y_onchip", "decoder", "block_k", "elems", "vec_op", "ops_per_elem",
           "quantizer", "dialects_scanned", "consumer", "attention_tile")
# attention's share of a run: the score and output matmuls with what runs between them (softmax, attention-received
# column sums) and their online quantizers; RoPE and the QK norms are counted with the projections
ATTENTION_OPS = r"\.attn\.(?:qk|pv|softmax|colsum|k_smooth|[qkpv]_quantize)$"


@dataclass(frozen=True)
class Trace:
    model: ModelShape
    recipe: HwRecipe
    full_path: bool
    rows: tuple = field(repr=False)     # one dict of COLUMNS per distinct op

    @cached_property
    def columns(self) -> dict:
        """COLUMNS -> read-only NumPy array, one entry per op (strings as unicode arrays)."""
        out = {}
        for c in COLUMNS:
            a = np.array([r[c] for r in self.rows])
            a.setflags(write=False)
            out[c] = a
        return out

    @cached_property
    def ops(self):
        """The rows as a pandas DataFrame (COLUMNS, one row per distinct op)."""
        import pandas as pd
        return pd.DataFrame(list(self.rows), columns=list(COLUMNS))

    def __len__(self) -> int:
        return len(self.rows)

    def gemms(self):
        return self.ops[self.ops.kind == "gemm"]

    @cached_property
    def _attention(self) -> np.ndarray:
        pat = re.compile(ATTENTION_OPS)
        mask = np.array([pat.search(r["op"]) is not None for r in self.rows], dtype=bool)
        mask.setflags(write=False)
        return mask

    def attention_mask(self):
        return self._attention.copy()


class _Rows:
    """Collects rows; `repeat` is steps x branches for per-forward ops."""

    def __init__(self, recipe: HwRecipe, repeat: int):
        self.rows, self.recipe, self.repeat = [], recipe, repeat
        # SeDA: each block searches one sub-formatbook of D / S dialects
        self.dialects = -(-recipe.book_size // recipe.sub_books) if recipe.dialect_online else 0
        self._pending_quant = []
        self._last_ms = 0      # salient rows of the last quantized input (shared by q/k/v-style siblings)
        self._blank = dict(op="", kind="", group="", block=-1, m=0, k=0, n=0, batch=1, repeat=self.repeat,
                           mac_mode="", x_bits=0.0, w_bits=0.0, y_bits=FP16_BITS, x_onchip=False, w_onchip=False,
                           y_onchip=False, decoder="", block_k=0, elems=0, vec_op="", ops_per_elem=0, quantizer="",
                           dialects_scanned=0, consumer=-1, attention_tile=-1)

    def _add(self, **kw) -> int:
        row = self._blank.copy()
        row.update(kw)
        self.rows.append(row)
        return len(self.rows) - 1

    def vector(self, op, vec_op, elems, group, block=-1, onchip=False, repeat=None) -> int:
        return self._add(op=op, kind="vector", group=group, block=block, elems=int(elems), vec_op=vec_op,
                  ops_per_elem=VECTOR_OPS[vec_op], x_onchip=onchip, y_onchip=onchip,
                  repeat=self.repeat if repeat is None else repeat)

    def gemm(self, op, m, k, n, group, block=-1, batch=1, policy=None, operands=None, **flags):
        """policy: 'fp' (FP16), 'mod' (weight-only: recipe weights, FP16 activations), 'quant' (recipe formats);
        None = the recipe's own policy for the layer named `op`.  operands: (X, W) OperandHw of an activation x
        activation matmul (full-path attention) instead of the recipe's linear formats."""
        r = self.recipe
        policy = r.layer_policy(op) if policy is None else policy
        decoder, block_k = "", 0
        if operands is not None:
            x, w = operands
            mode, xb, wb = x.mac_mode, x.bits, w.bits
            decoder, block_k = DECODER_KIND.get(mode, ""), x.block or k
        elif policy == "quant" and r.quantizes_activations:
            mode, xb, wb = r.mac_mode, r.act_bits, r.weight_bits
            decoder, block_k = DECODER_KIND.get(mode, ""), r.block or k
        elif policy == "mod" and r.weight_only_format != "fp16":
            mode, xb, wb = "w4a16", FP16_BITS, r.weight_only_bits
            decoder = DECODER_KIND.get(_weight_lane(r.weight_only_format), "")
        else:
            mode, xb, wb = "fp16", FP16_BITS, FP16_BITS
        idx = self._add(op=op, kind="gemm", group=group, block=block, m=m, k=k, n=n, batch=batch, mac_mode=mode,
                        x_bits=xb, w_bits=wb, decoder=decoder, block_k=block_k, **flags)
        if mode not in ("fp16", "w4a16"):
            for q in self._pending_quant:
                self.rows[q]["consumer"] = idx
        self._pending_quant = []
        return idx

    def quantize_operand(self, op, m, k, operand, group, block=-1):
        """Online quantization of one operand of an activation x activation matmul (no decomposition)."""
        self._pending_quant.append(self._add(
            op=op, kind="quantize", group=group, block=block, m=m, k=k, elems=m * k, x_bits=operand.bits,
            quantizer=operand.online, dialects_scanned=operand.dialects, block_k=operand.block or k))

    def quantize(self, op, m, k, group, block=-1, extra_rows=True):
        """Online activation quantization of an (m, k) input (LUT unit); with decomposition, also the residual
        of the salient rows (vector op + second quantize) and, for each consuming GEMM, extra rows."""
        if not self.recipe.quantizes_activations:
            return 0
        kw = dict(quantizer=self.recipe.online, dialects_scanned=self.dialects, block_k=self.recipe.block or k,
                  x_bits=self.recipe.act_bits)
        self._pending_quant = [self._add(op=op, kind="quantize", group=group, block=block, m=m, k=k, elems=m * k,
                                         **kw)]
        ms = ceil(self.recipe.decomp_fraction * m) if extra_rows else 0
        if ms:
            self.vector(f"{op}.residual", "residual", ms * k, group, block, onchip=True)
            self._add(op=f"{op}.residual_quantize", kind="quantize", group=group, block=block, m=ms, k=k,
                      elems=ms * k, **kw)
        return ms

    def decomp_gemm(self, op, ms, k, n, group, block):
        """Residual rows of a decomposed GEMM: same weight tiles (already on chip), their own accumulators."""
        if ms:
            self.gemm(f"{op}.decomp", ms, k, n, group, block, policy="quant", w_onchip=True)


def build_trace(model="opensora2-256px", recipe="semanticdialect", full_path: bool = False,
                decomp_fraction: float | None = None, steps: int | None = None,
                branches: int | None = None) -> Trace:
    """Every op of a sampling run.  full_path quantizes the attention matmuls too (as does a recipe that asks).
    Cached per (shape, hardware recipe, full path, steps, branches): a sweep traces each workload and recipe once."""
    shape = model_shape(model)
    rec = get_recipe(recipe)
    if decomp_fraction is not None:
        from dataclasses import replace
        rec = replace(rec, decomp_fraction=float(decomp_fraction))
    full_path = bool(full_path or rec.attention)
    steps = shape.steps if steps is None else steps
    branches = shape.cfg_branches if branches is None else branches
    try:
        return _cached_trace(shape, rec, full_path, steps, branches)
    except TypeError:                   # an unhashable recipe object: trace it afresh
        return _trace(shape, rec, full_path, steps, branches)


@lru_cache(maxsize=32)
def _cached_trace(shape: ModelShape, rec: HwRecipe, full_path: bool, steps: int, branches: int) -> Trace:
    return _trace(shape, rec, full_path, steps, branches)


def _trace(shape: ModelShape, rec: HwRecipe, full_path: bool, steps: int, branches: int) -> Trace:
    rows = _Rows(rec, steps * branches)
    _embedders(rows, shape)
    for i in range(shape.depth_double):
        _double_block(rows, shape, i, full_path)
    for j in range(shape.depth_single):
        _single_block(rows, shape, j, full_path)
    _final(rows, shape)
    rows.vector("sampler.cfg_euler", "cfg_euler", shape.video_tokens * shape.in_channels, "sampler", repeat=steps)
    return Trace(shape, rec, full_path, tuple(rows.rows))


def _embedders(rows: _Rows, s: ModelShape):
    h, lv = s.hidden, s.video_tokens
    rows.gemm("img_in", lv, s.in_channels, h, "embed")
    if s.cond_channels:
        rows.gemm("cond_in", lv, s.cond_channels, h, "embed")
        rows.vector("img_in.add_cond", "add", lv * h, "embed")
    rows.gemm("txt_in", s.text_tokens, s.context_dim, h, "embed")
    rows.gemm("time_in.in_layer", 1, s.time_freq_dim, h, "embed")
    rows.vector("time_in.silu", "silu", h, "embed", onchip=True)
    rows.gemm("time_in.out_layer", 1, h, h, "embed")
    rows.gemm("vector_in.in_layer", 1, s.vec_dim, h, "embed")
    rows.vector("vector_in.silu", "silu", h, "embed", onchip=True)
    rows.gemm("vector_in.out_layer", 1, h, h, "embed")
    rows.vector("vec.add", "add", h, "embed", onchip=True)


def _modulation(rows, name, s, chunks, group, block):
    rows.vector(f"{name}.silu", "silu", s.hidden, group, block, onchip=True)
    rows.gemm(f"{name}.lin", 1, s.hidden, chunks * s.hidden, group, block)


def _attention(rows: _Rows, prefix: str, s: ModelShape, group, block, full_path: bool):
    """Joint attention over all tokens, fused (flash-style): scores and probabilities stay on chip.  With a
    quantized matmul, both its operands are quantized online (Q, K along the head dim; P, V along the tokens).
    The QK^T, softmax, column-sum and PV rows carry `attention_tile` = the QK^T row's index: they run as one tile
    pipeline where the design overlaps the vector unit with the array (sim/accel/attention.py)."""
    L, hd, heads = s.tokens, s.head_dim, s.heads
    ops = rows.recipe.attention_operands(what_if=full_path)
    rows.vector(f"{prefix}.rope", "rope", 2 * L * s.hidden, group, block)
    if "qk" in ops:
        if rows.recipe.k_smoothing:
            rows.vector(f"{prefix}.k_smooth", "k_smooth", L * s.hidden, group, block)
        rows.quantize_operand(f"{prefix}.q_quantize", L, s.hidden, ops["qk"][0], group, block)
        rows.quantize_operand(f"{prefix}.k_quantize", L, s.hidden, ops["qk"][1], group, block)
    qk = rows.gemm(f"{prefix}.qk", L, hd, L, group, block, batch=heads, policy="fp", operands=ops.get("qk"),
                   y_onchip=True)
    stages = [qk, rows.vector(f"{prefix}.softmax", "softmax", heads * L * L, group, block, onchip=True)]
    if rows.recipe.decomp_fraction > 0 or rows.recipe.seda:
        stages.append(rows.vector(f"{prefix}.colsum", "colsum", heads * L * L, group, block, onchip=True))
    if "pv" in ops:
        rows.quantize_operand(f"{prefix}.p_quantize", heads * L, L, ops["pv"][0], group, block)
        rows.quantize_operand(f"{prefix}.v_quantize", L, s.hidden, ops["pv"][1], group, block)
    stages.append(rows.gemm(f"{prefix}.pv", L, L, hd, group, block, batch=heads, policy="fp",
                            operands=ops.get("pv"), x_onchip=True))
    for i in stages:
        rows.rows[i]["attention_tile"] = qk


def _linear(rows, name, m, k, n, group, block, quant_input=True):
    """A linear under the recipe's policy; q/k/v-style siblings share their input's online quantization."""
    if rows.recipe.layer_policy(name) != "quant":
        rows.gemm(name, m, k, n, group, block)
        return
    ms = rows.quantize(f"{name}.quantize", m, k, group, block) if quant_input else rows._last_ms
    rows._last_ms = ms
    rows.gemm(name, m, k, n, group, block)
    rows.decomp_gemm(name, ms, k, n, group, block)


def _double_block(rows: _Rows, s: ModelShape, i: int, full_path: bool):
    g, h, f = "double", s.hidden, s.mlp_hidden
    p = double_block(i)
    lens = {IMG: s.video_tokens, TXT: s.text_tokens}
    for st, ls in lens.items():
        _modulation(rows, f"{p}.{st}_mod", s, 6, g, i)
        rows.vector(f"{p}.{st}_norm1", "layernorm", ls * h, g, i)
        rows.vector(f"{p}.{st}_modulate1", "modulate", ls * h, g, i)
        for j, proj in enumerate(("q_proj", "k_proj", "v_proj")):
            _linear(rows, f"{p}.{st}_attn.{proj}", ls, h, h, g, i, quant_input=(j == 0))
        rows.vector(f"{p}.{st}_attn.norm", "rmsnorm", 2 * ls * h, g, i)
    _attention(rows, attention_scope(p), s, g, i, full_path)
    for st, ls in lens.items():
        _linear(rows, f"{p}.{st}_attn.proj", ls, h, h, g, i)
        rows.vector(f"{p}.{st}_gate_residual1", "gate_residual", ls * h, g, i)
        rows.vector(f"{p}.{st}_norm2", "layernorm", ls * h, g, i)
        rows.vector(f"{p}.{st}_modulate2", "modulate", ls * h, g, i)
        _linear(rows, f"{p}.{st}_mlp.0", ls, h, f, g, i)
        rows.vector(f"{p}.{st}_mlp.gelu", "gelu_tanh", ls * f, g, i)
        _linear(rows, f"{p}.{st}_mlp.2", ls, f, h, g, i)
        rows.vector(f"{p}.{st}_gate_residual2", "gate_residual", ls * h, g, i)


def _single_block(rows: _Rows, s: ModelShape, j: int, full_path: bool):
    g, h, f, L = "single", s.hidden, s.mlp_hidden, s.tokens
    p = single_block(j)
    _modulation(rows, f"{p}.modulation", s, 3, g, j)
    rows.vector(f"{p}.pre_norm", "layernorm", L * h, g, j)
    rows.vector(f"{p}.modulate", "modulate", L * h, g, j)
    _linear(rows, f"{p}.q_proj", L, h, h, g, j)
    _linear(rows, f"{p}.k_proj", L, h, h, g, j, quant_input=False)
    _linear(rows, f"{p}.v_mlp", L, h, h + f, g, j, quant_input=False)
    rows.vector(f"{p}.norm", "rmsnorm", 2 * L * h, g, j)
    _attention(rows, attention_scope(p), s, g, j, full_path)
    rows.vector(f"{p}.mlp.gelu", "gelu_tanh", L * f, g, j)
    _linear(rows, f"{p}.linear2", L, h + f, h, g, j)
    rows.vector(f"{p}.gate_residual", "gate_residual", L * h, g, j)


def _final(rows: _Rows, s: ModelShape):
    h, lv = s.hidden, s.video_tokens
    rows.vector("final_layer.silu", "silu", h, "final", onchip=True)
    rows.gemm("final_layer.adaLN_modulation.1", 1, h, 2 * h, "final")
    rows.vector("final_layer.norm", "layernorm", lv * h, "final")
    rows.vector("final_layer.modulate", "modulate", lv * h, "final")
    rows.gemm("final_layer.linear", lv, h, s.in_channels, "final")


def format_recipe(fmt: str) -> HwRecipe:
    """The hardware view of `fmt` on both operands of a plain GEMM (no decomposition, no SeDA); fp16 for FP."""
    from quant.recipes import Action, PolicyRule, Recipe, TensorSpec, recipe
    from quant.registry import format_names
    if fmt == "fp16":
        return get_recipe(recipe("fp"))
    if fmt not in format_names():
        from quant.errors import UnknownNameError
        raise UnknownNameError("format", fmt, ["fp16"] + format_names())
    spec = TensorSpec(fmt)
    return get_recipe(Recipe(f"gemm-{fmt}", weight=spec, activation=spec, policy=(PolicyRule(".*", Action.FULL),)))


def _weight_lane(fmt: str) -> str:
    from quant.registry import get_format
    from .recipes import mac_mode_of
    return mac_mode_of(get_format(fmt))


def gemm_trace(m: int, k: int, n: int, fmt: str = "dialectfp4-32", quantize_input: bool = True) -> Trace:
    """A one-GEMM trace (Y = X W^T, X m x k, W n x k) in format `fmt`, with its online input quantization."""
    for name, v in (("m", m), ("k", k), ("n", n)):
        if int(v) < 1:
            from quant.errors import ShapeError
            raise ShapeError(f"GEMM dimension {name} must be a positive integer, got {v}")
    rec = format_recipe(fmt)
    rows = _Rows(rec, 1)
    if quantize_input:
        rows.quantize("gemm.quantize", m, k, "gemm")
    rows.gemm("gemm", m, k, n, "gemm", policy="quant" if rec.quantizes_activations else "fp")
    return Trace(None, rec, False, tuple(rows.rows))
