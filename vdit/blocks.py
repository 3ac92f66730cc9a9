"""Double-stream, single-stream and final blocks of the Open-Sora 2.0 MMDiT, with Open-Sora's module names."""
from __future__ import annotations

import torch
from torch import nn

from .layers import Modulation, QKNorm, SelfAttention, attention, split_heads


def _gelu():
    return nn.GELU(approximate="tanh")


def _norm(dim):
    return nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)


class DoubleStreamBlock(nn.Module):
    """Separate weights for text and video tokens, one joint attention over [txt; img]."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, name: str = ""):
        super().__init__()
        self.block_name = name
        for s in ("img", "txt"):
            setattr(self, f"{s}_mod", Modulation(dim, double=True))
            setattr(self, f"{s}_norm1", _norm(dim))
            setattr(self, f"{s}_attn", SelfAttention(dim, num_heads))
            setattr(self, f"{s}_norm2", _norm(dim))
            setattr(self, f"{s}_mlp", nn.Sequential(nn.Linear(dim, mlp_hidden), _gelu(), nn.Linear(mlp_hidden, dim)))

    def forward(self, img, txt, vec, pe, recorder=None):
        img_m1, img_m2 = self.img_mod(vec)
        txt_m1, txt_m2 = self.txt_mod(vec)
        img_q, img_k, img_v = self.img_attn.qkv((1 + img_m1.scale) * self.img_norm1(img) + img_m1.shift)
        txt_q, txt_k, txt_v = self.txt_attn.qkv((1 + txt_m1.scale) * self.txt_norm1(txt) + txt_m1.shift)
        q, k, v = (torch.cat(p, dim=2) for p in ((txt_q, img_q), (txt_k, img_k), (txt_v, img_v)))
        n_txt = txt.shape[1]
        attn = attention(q, k, v, pe, recorder, self.block_name, n_txt)
        txt_a, img_a = attn[:, :n_txt], attn[:, n_txt:]
        img = img + img_m1.gate * self.img_attn.proj(img_a)
        img = img + img_m2.gate * self.img_mlp((1 + img_m2.scale) * self.img_norm2(img) + img_m2.shift)
        txt = txt + txt_m1.gate * self.txt_attn.proj(txt_a)
        txt = txt + txt_m2.gate * self.txt_mlp((1 + txt_m2.scale) * self.txt_norm2(txt) + txt_m2.shift)
        return img, txt


class SingleStreamBlock(nn.Module):
    """Shared weights over [txt; img]; `v_mlp` fuses [v | mlp_in], `linear2` takes [attn_out | GELU(mlp)]."""

    def __init__(self, dim: int, num_heads: int, mlp_hidden: int, name: str = ""):
        super().__init__()
        self.block_name = name
        self.num_heads, self.hidden, self.mlp_hidden = num_heads, dim, mlp_hidden
        self.q_proj = nn.Linear(dim, dim)
        self.k_proj = nn.Linear(dim, dim)
        self.v_mlp = nn.Linear(dim, dim + mlp_hidden)
        self.linear2 = nn.Linear(dim + mlp_hidden, dim)
        self.norm = QKNorm(dim // num_heads)
        self.pre_norm = _norm(dim)
        self.mlp_act = _gelu()
        self.modulation = Modulation(dim, double=False)

    def forward(self, x, vec, pe, txt_len: int, recorder=None):
        mod, _ = self.modulation(vec)
        x_mod = (1 + mod.scale) * self.pre_norm(x) + mod.shift
        v, mlp = torch.split(self.v_mlp(x_mod), [self.hidden, self.mlp_hidden], dim=-1)
        q, k, v = (split_heads(t, self.num_heads) for t in (self.q_proj(x_mod), self.k_proj(x_mod), v))
        q, k = self.norm(q, k, v)
        attn = attention(q, k, v, pe, recorder, self.block_name, txt_len)
        return x + mod.gate * self.linear2(torch.cat([attn, self.mlp_act(mlp)], dim=-1))


class LastLayer(nn.Module):
    """LayerNorm -> (1 + scale) x + shift from `adaLN_modulation` (chunks: shift, scale) -> `linear`."""

    def __init__(self, dim: int, out_channels: int):
        super().__init__()
        self.norm_final = _norm(dim)
        self.linear = nn.Linear(dim, out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x, vec):
        shift, scale = self.adaLN_modulation(vec).chunk(2, dim=1)
        return self.linear((1 + scale[:, None]) * self.norm_final(x) + shift[:, None])
