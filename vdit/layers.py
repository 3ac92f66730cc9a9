"""Building blocks of the Open-Sora 2.0 MMDiT (Flux lineage): embedders, modulation, QK-RMSNorm, 3-D RoPE and
joint attention with an optional recorder.

Every weight-bearing op is a plain `nn.Linear` reached by its Open-Sora name, so a quantizer can swap modules by name.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0, time_factor: float = 1000.0):
    """Sinusoidal embedding of t in [0, 1] (scaled by 1000 as in Flux / Open-Sora): [cos | sin], shape (B, dim)."""
    t = time_factor * t.float()
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class MLPEmbedder(nn.Module):
    """in_layer -> SiLU -> out_layer (used for `time_in` and `vector_in`)."""

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.in_layer = nn.Linear(in_dim, hidden)
        self.silu = nn.SiLU()
        self.out_layer = nn.Linear(hidden, hidden)

    def forward(self, x):
        return self.out_layer(self.silu(self.in_layer(x)))


@dataclass(frozen=True)
class ModulationOut:
    shift: torch.Tensor
    scale: torch.Tensor
    gate: torch.Tensor


class Modulation(nn.Module):
    """`lin(SiLU(vec))` chunked as (shift, scale, gate) x {1 or 2}: rows [0:H) shift, [H:2H) scale, [2H:3H) gate,
    then the same for the second set in double blocks."""

    def __init__(self, dim: int, double: bool):
        super().__init__()
        self.multiplier = 6 if double else 3
        self.lin = nn.Linear(dim, self.multiplier * dim)

    def forward(self, vec):
        out = self.lin(F.silu(vec))[:, None, :].chunk(self.multiplier, dim=-1)
        first = ModulationOut(*out[:3])
        return first, (ModulationOut(*out[3:]) if self.multiplier == 6 else None)


class RMSNorm(nn.Module):
    """RMS normalisation computed in float32, then multiplied by a learned per-dim `scale`."""

    def __init__(self, dim: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        dtype = x.dtype
        xf = x.float()
        rrms = torch.rsqrt(torch.mean(xf * xf, dim=-1, keepdim=True) + 1e-6)
        return (xf * rrms).to(dtype) * self.scale


class QKNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.query_norm = RMSNorm(dim)
        self.key_norm = RMSNorm(dim)

    def forward(self, q, k, v):
        return self.query_norm(q).to(v.dtype), self.key_norm(k).to(v.dtype)


class SelfAttention(nn.Module):
    """Container for one stream's projections in a double block (separate q/k/v as in Open-Sora 2.0)."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.norm = QKNorm(dim // num_heads)
        self.proj = nn.Linear(dim, dim)

    def qkv(self, x):
        """(B, L, dim) -> q, k, v as (B, heads, L, head_dim), q/k RMS-normalised."""
        q, k, v = (split_heads(p(x), self.num_heads) for p in (self.q_proj, self.k_proj, self.v_proj))
        q, k = self.norm(q, k, v)
        return q, k, v


def split_heads(x, heads: int):
    b, l, d = x.shape
    return x.view(b, l, heads, d // heads).transpose(1, 2)


def merge_heads(x):
    b, h, l, d = x.shape
    return x.transpose(1, 2).reshape(b, l, h * d)


def rope_angles(ids: torch.Tensor, axes_dim, theta: float):
    """Rotary angles for positions ids (B, L, n_axes): returns (cos, sin), each (B, 1, L, head_dim // 2).

    Axis a contributes axes_dim[a] // 2 frequencies theta**(-2i/axes_dim[a]); text tokens carry position 0."""
    parts = []
    for a, d in enumerate(axes_dim):
        omega = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float64, device=ids.device) / d)
        parts.append(ids[..., a].double()[..., None] * omega)
    ang = torch.cat(parts, dim=-1).float()
    return torch.cos(ang)[:, None], torch.sin(ang)[:, None]


def apply_rope(x, pe):
    """Rotate-half RoPE: x = [x1 | x2] (halves of the head dim) -> [x1 cos - x2 sin | x2 cos + x1 sin]."""
    cos, sin = pe
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1).to(x.dtype)


def attention(q, k, v, pe, recorder=None, block_name: str = "", txt_len: int = 0):
    """Joint attention over [txt; img] tokens; returns (B, L, heads*head_dim).

    A recorder whose `quantizes_attention` is true computes the whole attention itself (quantized matmuls) and
    records as below.  With another recorder, the probabilities are formed explicitly so the recorder can see them:
    `rec.record(block_name, received (B, L) float32, txt_len)` where received[b, j] = sum_i P[b, h, i, j] averaged
    over heads h (attention a key token receives), and `rec.record_map(name, P.mean(heads) (B, L, L), txt_len)`
    when `rec.wants_maps` is true."""
    q, k = apply_rope(q, pe), apply_rope(k, pe)
    if recorder is None:
        return merge_heads(F.scaled_dot_product_attention(q, k, v))
    if getattr(recorder, "quantizes_attention", False):     # full path: quantized QK^T and PV (quant/attention.py)
        return recorder.attention(block_name, q, k, v, txt_len)
    scores = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
    probs = torch.softmax(scores, dim=-1)
    mean_probs = probs.mean(dim=1)
    recorder.record(block_name, mean_probs.sum(dim=1).detach(), txt_len)
    if getattr(recorder, "wants_maps", False):
        recorder.record_map(block_name, mean_probs.detach(), txt_len)
    return merge_heads((probs @ v.float()).to(v.dtype))
