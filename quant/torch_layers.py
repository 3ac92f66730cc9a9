"""QuantLinear and quantize_model: the only quant module that imports torch (loaded lazily by quant.quantize_model).

A FULL QuantLinear quantizes its weight once (offline selector) and its input on every call (online selector)
on the chosen back end, then runs the quantized GEMM of the arithmetic contract (quant/gemm.py), bias included.
The input is taken as float32 (tokens, K) on the CPU (NumPy); the float32 result goes back to the input's device
and dtype.  A WEIGHT_ONLY QuantLinear (W4A16 style) multiplies FP activations by the dequantized weight in float32.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .api import qgemm, quantize
from .context import QuantContext
from .decompose import decompose, extra_macs
from .errors import QuantError
from .exponents import split_knobs
from .recipes import Action, Recipe, TensorSpec, recipe as get_recipe
from .registry import check_operand_pair, get_format


def _block_of(spec: TensorSpec, recipe: Recipe, k: int) -> int:
    fmt = get_format(spec.fmt)
    return recipe.block or fmt.default_block or k


def _quantize_weight(w: np.ndarray, spec: TensorSpec, recipe: Recipe, backend: str, name: str):
    return quantize(w, spec.fmt, selector=spec.selector, block=_block_of(spec, recipe, w.shape[1]),
                    backend=backend, tensor=f"{name}.weight", **spec.knob_dict)


class QuantLinear(nn.Module):
    """Drop-in replacement of an nn.Linear (same in/out features, same call signature)."""

    def __init__(self, linear: nn.Linear, name: str, action: Action, recipe: Recipe, backend: str,
                 context: QuantContext):
        super().__init__()
        self.name, self.action, self.recipe, self.backend, self.context = name, Action(action), recipe, backend, context
        self.in_features, self.out_features = linear.in_features, linear.out_features
        w = linear.weight.detach().float().cpu().numpy()
        b = None if linear.bias is None else linear.bias.detach().float().cpu()
        self.register_buffer("bias", b)
        stats = context.layer(name, self.action.value)
        qw = None
        if self.action is Action.WEIGHT_ONLY:
            qw = _quantize_weight(w, recipe.weight_only_spec, recipe, backend, name)
            self.register_buffer("weight_dq", torch.from_numpy(qw.dequantize().copy()))
        elif self.action is Action.FULL:
            qw = _quantize_weight(w, recipe.weight, recipe, backend, name)
            for arr in (qw.codes, qw.dialect, qw.exponent, qw.scale):
                if arr is not None:      # frozen weights: back ends may cache their decoded form
                    arr.setflags(write=False)
            self.qweight = qw
        elif self.action is Action.ACTIVATION_ONLY:
            self.register_buffer("weight_fp", torch.from_numpy(w.copy()))     # float32, as the model holds it
        else:
            raise QuantError(f"QuantLinear {name}: action {action!r} is not a quantized action")
        if self.action is not Action.WEIGHT_ONLY:
            self.act_block = _block_of(recipe.activation, recipe, self.in_features)
            self._partition = _partition_for(recipe) if recipe.seda.enabled else None
        if qw is not None:               # float weights keep the LayerStats default (32 bits per element)
            stats.weight_bits_per_element = qw.bits_per_element
            stats.weight_dialects.update(_histogram(qw.dialect))
        self._w_fp_t = w.astype(np.float64).T if context.track_sqnr else None   # for per-layer SQNR only

    def extra_repr(self) -> str:
        spec = self.recipe.weight_only_spec if self.action is Action.WEIGHT_ONLY else self.recipe.weight
        weight = "float32" if self.action is Action.ACTIVATION_ONLY else spec.fmt
        return (f"{self.name}: in={self.in_features} out={self.out_features} action={self.action.value} "
                f"weight={weight} backend={self.backend}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.in_features:
            raise QuantError(f"layer {self.name!r}: input has {x.shape[-1]} features, expected {self.in_features}")
        if self.action is Action.WEIGHT_ONLY:
            y = x.float() @ self.weight_dq.to(x.device).T
            y = y if self.bias is None else y + self.bias.to(x.device)
            return y.to(x.dtype)
        x2d = x.detach().float().cpu().numpy().reshape(-1, self.in_features)
        y2d = self._forward_full(x2d)
        out = torch.from_numpy(y2d).reshape(*x.shape[:-1], self.out_features)
        return out.to(device=x.device, dtype=x.dtype)

    def _forward_full(self, x2d: np.ndarray) -> np.ndarray:
        ctx, spec = self.context, self.recipe.activation
        occ = ctx.begin_call(self.name)
        rows, from_attn = ctx.salient_rows(self.name, x2d, occ)
        allowed, n_groups = self._seda_mask(x2d, occ)
        qx, qr = decompose(x2d, spec.fmt, rows, selector=spec.selector, block=self.act_block,
                           backend=self.backend, tensor=self.name, allowed=allowed, **spec.knob_dict)
        bias = None if self.bias is None else self.bias.numpy()
        if self.action is Action.ACTIVATION_ONLY:
            y = self._float_product(qx, qr, rows)
        else:
            y = qgemm(qx, self.qweight, bias=bias, backend=self.backend, residual=qr,
                      residual_rows=rows if qr is not None else None)
        self._record(x2d, y, qx, qr, rows, from_attn, n_groups)
        return y

    def _float_product(self, qx, qr, rows) -> np.ndarray:
        """ACTIVATION_ONLY: DQ(Q(X)) (+ DQ(Q(R)) on the salient rows, added in float32) times the float weights,
        float32 matmul and bias (torch)."""
        xq = qx.dequantize().reshape(-1, self.in_features)
        if qr is not None:
            xq = xq.copy()
            xq[rows] = (xq[rows] + qr.dequantize().reshape(len(rows), self.in_features)).astype(np.float32)
        y = torch.from_numpy(xq) @ self.weight_fp.cpu().T
        y = y if self.bias is None else y + self.bias.cpu()
        return y.numpy()

    def _seda_mask(self, x2d: np.ndarray, occ: int):
        if self._partition is None:
            return None, 0
        groups = self.context.seda_groups(self.name, x2d.shape[0], occ)
        if groups is None:
            return None, 0
        from .seda import restricted_mask
        book = get_format(self.recipe.activation.fmt).book
        mask, _ = restricted_mask(x2d, book, self.act_block, groups, self._partition, tensor=self.name,
                                  backend=self.backend)
        return mask, len(np.unique(groups))

    def _record(self, x2d, y, qx, qr, rows, from_attn: bool, n_groups: int):
        s, r = self.context.layer(self.name), self.recipe
        m, k, n = x2d.shape[0], self.in_features, self.out_features
        s.calls += 1
        s.rows += m
        s.macs += m * k * n
        s.extra_macs += extra_macs(len(rows), k, n)
        s.salient_rows += len(rows)
        dec = r.decomposition
        s.salient_fallback_calls += int(dec.enabled and dec.salient_fraction > 0 and dec.source == "attention"
                                        and not from_attn)
        if r.seda.enabled:
            s.seda_calls += int(n_groups > 0)
            s.seda_fallback_calls += int(n_groups == 0)
        bpe = qx.bits_per_element
        if n_groups:
            from .seda import seda_bits_per_element
            bpe = seda_bits_per_element(self._partition.book_size, self._partition.n_subbooks, qx.block, m,
                                        n_groups, qx.format.exponent_bits)
        s.act_bits += bpe * m * k
        s.act_elements += m * k
        if qr is not None:
            s.residual_bits += qr.bits_per_element * len(rows) * k
        s.act_dialects.update(_histogram(qx.dialect))
        if self._w_fp_t is not None:
            y_fp = x2d.astype(np.float64) @ self._w_fp_t
            if self.bias is not None:
                y_fp = y_fp + self.bias.numpy()
            s.signal_power += float((y_fp ** 2).sum())
            s.noise_power += float(((y.astype(np.float64) - y_fp) ** 2).sum())


def _histogram(dialect: np.ndarray) -> dict:
    """{dialect id: blocks} over the nonzero counts."""
    counts = np.bincount(dialect.reshape(-1).astype(np.int64))
    return {int(d): int(c) for d, c in enumerate(counts) if c}


def _partition_for(recipe: Recipe):
    from .seda import partition_book
    book = get_format(recipe.activation.fmt).book
    return partition_book(book, recipe.seda.n_subbooks, recipe.seda.partition)


def _check(recipe: Recipe):
    if recipe.full_path:
        from .attention import check_attention
        check_attention(recipe)
    w, a = recipe.weight, recipe.activation
    if a is not None and recipe.seda.enabled:
        fa = get_format(a.fmt)
        if getattr(fa, "book_name", None) is None or (a.selector or fa.default_selector) != "lut_argmin":
            raise QuantError(f"recipe {recipe.name}: SeDA needs a dialect (formatbook) activation format with the "
                             f"lut_argmin selector, got {a.fmt} / {a.selector or fa.default_selector}")
        if split_knobs(a.knob_dict)[1]:
            raise QuantError(f"recipe {recipe.name}: SeDA chooses sub-books on each block's own exponent; with "
                             f"shared exponents ({', '.join(sorted(split_knobs(a.knob_dict)[1]))}) it would choose "
                             f"on exponents the quantizer does not use: turn SeDA off or drop those knobs")
    if w is None or a is None:
        return
    check_operand_pair(f"recipe {recipe.name}", "weight", w.fmt, "activation", a.fmt, recipe.block, recipe.block,
                       hint="set the recipe's block")


def quantize_model(model: nn.Module, recipe, backend: str = "reference", context: QuantContext | None = None,
                   track_sqnr: bool = False) -> nn.Module:
    """Swap the model's nn.Linear modules for QuantLinear per the recipe's policy (first matching regex wins;
    unmatched linears stay FP).  Modifies and returns the SAME model object; its `quant_context` attribute holds
    the QuantContext (plan, per-layer stats).  When decomposition (attention source) or SeDA is on and the model
    has `set_attention_recorder`, the context is installed as its attention recorder.  Weights are quantized
    here, once; activations on every forward call.  track_sqnr: also accumulate per-layer output SQNR against
    the FP linear (costs one extra float GEMM per call).
    """
    r = get_recipe(recipe).resolved()
    _check(r)
    ctx = context or QuantContext(r, backend, track_sqnr=track_sqnr)
    for name, mod in list(model.named_modules()):
        if isinstance(mod, QuantLinear):
            raise QuantError(f"model is already quantized (layer {name!r} is a QuantLinear); quantize a fresh copy")
        if not isinstance(mod, nn.Linear) or name == "":
            continue
        action = r.action_for(name)
        ctx.plan[name] = "unmatched" if action is None else action.value
        if action in (None, Action.FP):
            continue
        q = QuantLinear(mod, name, action, r, backend, ctx)
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, q)
    model.quant_context = ctx
    uses_attention = ((r.decomposition.enabled and r.decomposition.source == "attention") or r.seda.enabled
                      or r.full_path)
    if uses_attention and hasattr(model, "set_attention_recorder"):
        model.set_attention_recorder(ctx)
    if r.full_path:
        if not hasattr(model, "set_attention_quantizer"):
            raise QuantError(f"recipe {r.name} quantizes the attention matmuls, but this model has no "
                             f"set_attention_quantizer hook (a vdit.MMDiTModel has)")
        model.set_attention_quantizer(ctx)
    return model
