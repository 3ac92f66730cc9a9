"""Full-path attention: the attention matmuls S = Q K^T and O = P V as quantized GEMMs on the chosen back end.

Everything around the two matmuls stays as in the FP model (float32 torch code, identical input on every back
end): RoPE before, the 1/sqrt(d) scaling, softmax and the head merge after.  Per sample and head:
- S = qgemm(Q(q), Q(k)): Q (L, d) is the X operand, K (L, d) the W operand, both quantized online along the head
  dimension d with the recipe's attention.q / attention.k specs (k_smoothing first subtracts K's per-head mean
  over the tokens);
- O = qgemm(Q(P), Q(V^T)): P (L, L) is X, V^T (d, L) is W, both blocked along the L tokens (zero padding of a
  partial last block is exact).
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


def _finite(y: np.ndarray, name: str, b: int, h: int) -> np.ndarray:
    if not np.isfinite(y).all():
        bad = np.argwhere(~np.isfinite(y))[0]
        raise QuantError(f"{name}: non-finite attention value at sample {b}, head {h}, row {bad[0]}, column "
                         f"{bad[1]} (call of the quantized attention matmul)")
    return y


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
    scores = np.empty((b_, h_, length, length), F32)
    for b in range(b_):
        for h in range(h_):
            scores[b, h] = _finite(attention_matmul(qn[b, h], kn[b, h], att.q, att.k, ctx.attention_backend(qk), qk),
                                   qk, b, h)
            ctx.notify_attention(qk, scores[b, h], d)
    probs = torch.softmax(torch.from_numpy(scores) / math.sqrt(d), dim=-1)
    mean_probs = probs.mean(dim=1)
    ctx.record(block_name, mean_probs.sum(dim=1), txt_len)
    if ctx.wants_maps:
        ctx.record_map(block_name, mean_probs, txt_len)
    pn = probs.numpy()
    out = np.empty((b_, h_, length, d), F32)
    for b in range(b_):
        for h in range(h_):
            vt = np.ascontiguousarray(vn[b, h].T)
            out[b, h] = _finite(attention_matmul(pn[b, h], vt, att.p, att.v, ctx.attention_backend(pv), pv), pv, b, h)
            ctx.notify_attention(pv, out[b, h], length)
    merged = torch.from_numpy(out).transpose(1, 2).reshape(b_, length, h_ * d)
    return merged.to(device=v.device, dtype=v.dtype)


def check_attention(recipe) -> None:
    """The attention specs name registered formats; the two operands of each quantized matmul share a scale
    family and a block size."""
    from .registry import get_format
    att = recipe.attention
    for a, b in (("q", "k"), ("p", "v")):
        sa, sb = getattr(att, a), getattr(att, b)
        fa = get_format(sa.fmt) if sa is not None else None
        fb = get_format(sb.fmt) if sb is not None else None
        if fa is None or fb is None:
            continue
        if fa.scale_kind != fb.scale_kind:
            raise QuantError(f"recipe {recipe.name}: attention.{a} ({sa.fmt}) and attention.{b} ({sb.fmt}) are of "
                             f"different scale families; one matmul needs one family")
        if fa.default_block != fb.default_block:
            raise QuantError(f"recipe {recipe.name}: attention.{a} ({sa.fmt}, block {fa.default_block}) and "
                             f"attention.{b} ({sb.fmt}, block {fb.default_block}) need the same block size")
