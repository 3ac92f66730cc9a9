"""The Open-Sora 2.0 MMDiT ("MMDiTModel") at any width: state-dict keys match `Open_Sora_v2.safetensors`."""
from __future__ import annotations

import torch
from torch import nn

from .blocks import DoubleStreamBlock, LastLayer, SingleStreamBlock
from .config import MMDiTConfig, get_config
from .layers import MLPEmbedder, rope_angles, timestep_embedding
from .naming import double_block, single_block


class MMDiTModel(nn.Module):
    """forward(img, img_ids, txt, txt_ids, timesteps, y_vec, cond=None) -> velocity (B, L_img, in_channels).

    img: patchified latent tokens (B, L_img, in_channels); img_ids / txt_ids: (t, h, w) positions (B, L, 3), text
    at 0; txt: T5 stand-in states (B, L_txt, context_in_dim); timesteps in [0, 1] (1 = pure noise); y_vec: pooled
    text vector (B, vec_in_dim); cond: image-conditioning tokens (B, L_img, in_channels + patch**2), zeros for
    text-to-video.
    """

    def __init__(self, config: MMDiTConfig):
        super().__init__()
        c = self.config = config
        h = c.hidden_size
        self.img_in = nn.Linear(c.in_channels, h)
        self.time_in = MLPEmbedder(c.time_dim, h)
        self.vector_in = MLPEmbedder(c.vec_in_dim, h)
        self.cond_in = nn.Linear(c.cond_channels, h)
        self.txt_in = nn.Linear(c.context_in_dim, h)
        self.double_blocks = nn.ModuleList(
            DoubleStreamBlock(h, c.num_heads, c.mlp_hidden, double_block(i)) for i in range(c.depth))
        self.single_blocks = nn.ModuleList(
            SingleStreamBlock(h, c.num_heads, c.mlp_hidden, single_block(j))
            for j in range(c.depth_single_blocks))
        self.final_layer = LastLayer(h, c.in_channels)
        self._recorder = None
        self._attention_quantizer = None

    def set_attention_recorder(self, recorder) -> None:
        """Install (or with None remove) a duck-typed recorder; see `vdit.layers.attention`."""
        self._recorder = recorder

    def set_attention_quantizer(self, quantizer) -> None:
        """Install (or with None remove) the object that computes attention with quantized matmuls (a quant
        QuantContext of a full-path recipe).  It serves every forward pass, with or without a recorder, so a
        full-path model never falls back to float attention silently."""
        self._attention_quantizer = quantizer

    def init_weights(self, seed: int = 0, std: float = 0.02, qk_norm_init: float = 1.0) -> "MMDiTModel":
        """N(0, std) weights and zero biases (like a real checkpoint's statistics); `cond_in` zero so an untrained
        image-conditioning path is a no-op; QK-RMSNorm scales start at `qk_norm_init` (Flux / Open-Sora: 1.0)."""
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, mod in self.named_modules():
                if isinstance(mod, nn.Linear):
                    mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) * std)
                    mod.bias.zero_()
            self.cond_in.weight.zero_()
            for name, p in self.named_parameters():
                if name.endswith(("query_norm.scale", "key_norm.scale")):
                    p.fill_(qk_norm_init)
        return self

    def forward(self, img, img_ids, txt, txt_ids, timesteps, y_vec, cond=None):
        rec = self._recorder
        if self._attention_quantizer is not None and rec is not self._attention_quantizer:
            if rec is not None:
                raise RuntimeError("a full-path quantized model records attention through its own quantizer; "
                                   "pass recorder=model.quant_context (or none) to the sampler")
            rec = self._attention_quantizer
        x = self.img_in(img)
        if cond is not None:
            x = x + self.cond_in(cond)
        vec = self.time_in(timestep_embedding(timesteps, self.config.time_dim)) + self.vector_in(y_vec)
        t = self.txt_in(txt)
        pe = rope_angles(torch.cat([txt_ids, img_ids], dim=1), self.config.axes_dim, self.config.theta)
        for block in self.double_blocks:
            x, t = block(x, t, vec, pe, recorder=rec)
        n_txt = t.shape[1]
        x = torch.cat([t, x], dim=1)
        for block in self.single_blocks:
            x = block(x, vec, pe, n_txt, recorder=rec)
        return self.final_layer(x[:, n_txt:], vec)


def build(name_or_config="tiny", device="cpu", seed: int = 0, dtype=torch.float32,
          qk_norm_init: float = 1.0) -> MMDiTModel:
    """A model for a named config (see `vdit.CONFIGS`) or an MMDiTConfig.  device="meta" allocates nothing
    (use it to count the 11.89 B parameters of `opensora2`); otherwise weights are N(0, 0.02), seeded."""
    config = get_config(name_or_config) if isinstance(name_or_config, str) else name_or_config
    with torch.device(device):
        model = MMDiTModel(config)
    if str(device) != "meta":
        model.init_weights(seed, qk_norm_init=qk_norm_init)
    return model.to(dtype)


def linear_names(model: nn.Module) -> list:
    """Names of every nn.Linear, in module order (quantizers swap these by name)."""
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
