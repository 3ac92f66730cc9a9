"""Full-path attention: the attention matmuls S = Q K^T and O = P V as quantized GEMMs on the chosen back end.

Everything around the two matmuls stays as in the FP model (float32 torch code, identical input on every back
end): RoPE before, the 1/sqrt(d) scaling, softmax and the head merge after.  Per sample and head:
- S = qgemm(Q(q), Q(k)): Q (L, d) is the X operand, K (L, d) the W operand, both quantized online along the head
  dimension d with the recipe's attention.q / attention.k specs (k_smoothing first subtracts K's per-head mean
  over the tokens);
- O = qgemm(Q(P), Q(V^T)): P (L, L) is X, V^T (d, L) is W, both blocked along the L tokens (zero padding of a
  partial last block is exact).
The operands of all (sample, head) pairs are quantized in one call where the format is row-local (each pair
takes its own rows, bit for bit what quantizing the pair alone gives); the GEMMs stay one per pair.
Each matmul follows the arithmetic contract of every other quantized GEMM, so its float32 bits are the same on
every back end.  An operand spec given for only one side of a matmul is a quality ablation: that operand is
quantized and dequantized, then multiplied in float32 (no hardware meaning).
Calls are reported to the context's observers as `<block>.attn.qk` / `<block>.attn.pv` (kind "attention").
"""
from __future__ import annotations

import math

import numpy as np

from .errors import QuantError

F32 = np.float32


def _quantized(x: np.ndarray, spec, backend: str, tensor: str):
    from .api import quantize
    return quantize(x, spec.fmt, selector=spec.selector, backend=backend, tensor=tensor, **spec.knob_dict)


def attention_matmul(x: np.ndarray, w: np.ndarray, sx, sw, backend: str, name: str) -> np.ndarray:
    """Y = X W^T (float32) with X quantized by spec `sx` and W by `sw` (None = not quantized)."""
    if sx is not None and sw is not None:
        from .api import qgemm
        return qgemm(_quantized(x, sx, backend, f"{name}.x"), _quantized(w, sw, backend, f"{name}.w"),
                     backend=backend)
    if sx is not None:
        x = _quantized(x, sx, backend, f"{name}.x").dequantize()
    if sw is not None:
        w = _quantized(w, sw, backend, f"{name}.w").dequantize()
    return np.ascontiguousarray(x, dtype=F32) @ np.ascontiguousarray(w, dtype=F32).T


def _row_local(spec) -> bool:
    """True when a format quantizes every row on its own (no per-tensor statistic such as NVFP4's tensor scale),
    so quantizing the stacked operands of all (sample, head) pairs gives each pair's own rows bit for bit."""
    from .registry import DialectFormat, MXFloatFormat, ScaledIntFormat, get_format
    f = get_format(spec.fmt)
    return isinstance(f, (DialectFormat, MXFloatFormat)) or (isinstance(f, ScaledIntFormat)
                                                             and f.tensor_scale_divisor is None)


class _Operand:
    """One operand of an attention matmul for every (sample, head): float32 (B, H, R, K) and its spec.

    `of(b, h, backend)` gives pair (b, h)'s operand: the float array when the spec is None, else its QTensor.  On
    the context's own back end a row-local format is quantized once for all pairs (one call on (B*H*R, K)) and
    each pair takes its rows; a call routed elsewhere (a cross-check) quantizes its own pair on that back end."""

    def __init__(self, arr4: np.ndarray, spec, backend: str, tensor: str):
        self.arr4, self.spec, self.backend, self.tensor = arr4, spec, backend, tensor
        self.stack = spec is not None and _row_local(spec) and bool(np.isfinite(arr4).all())
        self._stacked = None

    def of(self, b: int, h: int, backend: str):
        if self.spec is None:
            return self.arr4[b, h]
        if not (self.stack and backend == self.backend):
            return _quantized(self.arr4[b, h], self.spec, backend, self.tensor)
        n_b, n_h, rows, k = self.arr4.shape
        if self._stacked is None:
            self._stacked = _quantized(self.arr4.reshape(n_b * n_h * rows, k), self.spec, backend, self.tensor)
        i = (b * n_h + h) * rows
        from .decompose import take_rows
        return take_rows(self._stacked, slice(i, i + rows))


def _matmul(x, w, backend: str) -> np.ndarray:
    """X W^T of two operands of _Operand.of: the quantized GEMM when both are quantized, else float32 on the
    dequantized side(s) (attention_matmul's rules)."""
    from .qtensor import QTensor
    if isinstance(x, QTensor) and isinstance(w, QTensor):
        from .api import qgemm
        return qgemm(x, w, backend=backend)
    x, w = (a.dequantize() if isinstance(a, QTensor) else a for a in (x, w))
    return np.ascontiguousarray(x, dtype=F32) @ np.ascontiguousarray(w, dtype=F32).T


def _finite(y: np.ndarray, name: str, b: int, h: int) -> np.ndarray:
    if not np.isfinite(y).all():
        bad = np.argwhere(~np.isfinite(y))[0]
        raise QuantError(f"{name}: non-finite attention value at sample {b}, head {h}, row {bad[0]}, column "
                         f"{bad[1]} (call of the quantized attention matmul)")
    return y


def _per_head(ctx, name: str, x: _Operand, w: _Operand, out: np.ndarray, k: int) -> np.ndarray:
    """out[b, h] = X_bh W_bh^T for every (sample, head) in order; each call asks the context for its back end and
    is reported to the observers (one call per pair: the cross-check's contract)."""
    for b in range(out.shape[0]):
        for h in range(out.shape[1]):
            backend = ctx.attention_backend(name)
            out[b, h] = _finite(_matmul(x.of(b, h, backend), w.of(b, h, backend), backend), name, b, h)
            ctx.notify_attention(name, out[b, h], k)
    return out


def quantized_attention(ctx, block_name: str, q, k, v, txt_len: int):
    """Joint attention of (B, H, L, d) torch tensors (after RoPE) with quantized matmuls; returns (B, L, H*d).
    `ctx` (a QuantContext) gives the recipe, the back end and the attention recorder protocol."""
    import torch
    att = ctx.recipe.attention
    b_, h_, length, d = q.shape
    qn, kn, vn = (t.detach().float().cpu().numpy() for t in (q, k, v))
    if att.k_smoothing:
        kn = (kn - kn.mean(axis=2, keepdims=True, dtype=F32)).astype(F32)
    qk, pv = f"{block_name}.attn.qk", f"{block_name}.attn.pv"
    scores = _per_head(ctx, qk, _Operand(qn, att.q, ctx.backend, f"{qk}.x"),
                       _Operand(kn, att.k, ctx.backend, f"{qk}.w"), np.empty((b_, h_, length, length), F32), d)
    probs = torch.softmax(torch.from_numpy(scores) / math.sqrt(d), dim=-1)
    mean_probs = probs.mean(dim=1)
    ctx.record(block_name, mean_probs.sum(dim=1), txt_len)
    if ctx.wants_maps:
        ctx.record_map(block_name, mean_probs, txt_len)
    vt = np.ascontiguousarray(vn.transpose(0, 1, 3, 2))
    out = _per_head(ctx, pv, _Operand(probs.numpy(), att.p, ctx.backend, f"{pv}.x"),
                    _Operand(vt, att.v, ctx.backend, f"{pv}.w"), np.empty((b_, h_, length, d), F32), length)
    merged = torch.from_numpy(out).transpose(1, 2).reshape(b_, length, h_ * d)
    return merged.to(device=v.device, dtype=v.dtype)


def check_attention(recipe) -> None:
    """The attention specs name registered formats; the two operands of each quantized matmul share a scale
    family and a block size."""
    from .registry import check_operand_pair
    att = recipe.attention
    for a, b in (("q", "k"), ("p", "v")):
        sa, sb = getattr(att, a), getattr(att, b)
        if sa is not None and sb is not None:
            check_operand_pair(f"recipe {recipe.name}", f"attention.{a}", sa.fmt, f"attention.{b}", sb.fmt)
