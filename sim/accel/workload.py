"""Model shapes (no weights): the Open-Sora 2.0 MMDiT at 256px and 768px, and the tiny trained model.

Token counts: video tokens = latent frames x (latent height / patch) x (latent width / patch).  Open-Sora 2.0 at
129 frames has 33 latent frames (4x temporal compression); the latent grids below are the ones whose token counts
match docs/model.md#workloads (8,316 and 76,032 video tokens; 8x spatial VAE compression, 16:9).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from quant.errors import UnknownNameError


@dataclass(frozen=True)
class ModelShape:
    """Shapes of a Flux-style MMDiT sampling run.  Dimensions are element counts; tokens per sample."""

    name: str
    hidden: int
    depth_double: int
    depth_single: int
    heads: int
    head_dim: int
    mlp_ratio: float
    in_channels: int          # patchified latent channels entering img_in (and leaving final_layer.linear)
    cond_channels: int        # channels entering cond_in (image-to-video condition); 0 = no cond_in
    text_tokens: int
    context_dim: int          # text-encoder state width entering txt_in (T5-XXL: 4096)
    vec_dim: int              # pooled text vector entering vector_in (CLIP: 768)
    latent_frames: int
    latent_height: int
    latent_width: int
    patch: int = 2
    time_freq_dim: int = 256  # sinusoidal timestep embedding width entering time_in.in_layer
    steps: int = 50
    cfg_branches: int = 3

    def __post_init__(self):
        if self.heads * self.head_dim != self.hidden:
            raise ValueError(f"model {self.name}: heads x head_dim = {self.heads * self.head_dim} != hidden "
                             f"{self.hidden}")
        if self.latent_height % self.patch or self.latent_width % self.patch:
            raise ValueError(f"model {self.name}: latent {self.latent_height}x{self.latent_width} is not a "
                             f"multiple of patch {self.patch}")

    @property
    def video_tokens(self) -> int:
        return self.latent_frames * (self.latent_height // self.patch) * (self.latent_width // self.patch)

    @property
    def tokens(self) -> int:
        return self.video_tokens + self.text_tokens

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden * self.mlp_ratio)


def _tiny() -> ModelShape:
    """The tiny trained model, derived from vdit's own config and data geometry (never retyped): 8 frames of
    32x32 RGB -> space-to-depth 16x16x12 -> patchify 2 -> 48 channels per token, 8 text tokens, 2 CFG branches."""
    from vdit import geometry as g
    from vdit.config import TINY as c
    latent = g.SIZE // g.S2D
    return ModelShape("tiny", hidden=c.hidden_size, depth_double=c.depth, depth_single=c.depth_single_blocks,
                      heads=c.num_heads, head_dim=c.head_dim, mlp_ratio=c.mlp_ratio, in_channels=c.in_channels,
                      cond_channels=c.cond_channels, text_tokens=g.TEXT_TOKENS, context_dim=c.context_in_dim,
                      vec_dim=c.vec_in_dim, latent_frames=g.FRAMES, latent_height=latent, latent_width=latent,
                      patch=c.patch_size, time_freq_dim=c.time_dim, steps=50, cfg_branches=g.CFG_BRANCHES)


_OPENSORA2 = dict(hidden=3072, depth_double=19, depth_single=38, heads=24, head_dim=128, mlp_ratio=4.0,
                  in_channels=64, cond_channels=68, text_tokens=512, context_dim=4096, vec_dim=768,
                  latent_frames=33, steps=50, cfg_branches=3)
PRESETS = {m.name: m for m in (
    ModelShape("opensora2-256px", latent_height=24, latent_width=42, **_OPENSORA2),    # 33 x 12 x 21 = 8,316
    ModelShape("opensora2-768px", latent_height=72, latent_width=128, **_OPENSORA2),   # 33 x 36 x 64 = 76,032
    _tiny(),
)}


def model_shape(name, **overrides) -> ModelShape:
    """A preset by name (or a ModelShape passed through), optionally with fields replaced (e.g. steps=10)."""
    if isinstance(name, ModelShape):
        shape = name
    elif name in PRESETS:
        shape = PRESETS[name]
    else:
        raise UnknownNameError("workload", name, sorted(PRESETS))
    return replace(shape, **overrides) if overrides else shape


def workload_names() -> list:
    return sorted(PRESETS)
