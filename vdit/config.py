"""Named MMDiT configurations (Open-Sora 2.0 shapes and the tiny trained stand-in).

A config is frozen data; `CONFIGS` is the catalog.  Sizes are in elements (channels, tokens), not bytes.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from quant.errors import UnknownNameError


@dataclass(frozen=True)
class MMDiTConfig:
    """Shape of an Open-Sora 2.0-style MMDiT.

    in_channels: channels per video token after patchify (latent channels x patch_size**2).
    patch_size: spatial patchify factor; `cond_in` takes in_channels + patch_size**2 (latent + mask per pixel).
    context_in_dim: width of the T5 stand-in token states; vec_in_dim: width of the pooled CLIP stand-in.
    axes_dim: RoPE dims per (t, h, w) axis, summing to the head dim.
    """
    name: str
    in_channels: int
    hidden_size: int
    num_heads: int
    depth: int               # double-stream blocks
    depth_single_blocks: int
    axes_dim: tuple
    context_in_dim: int
    vec_in_dim: int
    patch_size: int = 2
    mlp_ratio: float = 4.0
    theta: int = 10_000
    time_dim: int = 256      # sinusoidal timestep embedding width (Flux / Open-Sora use 256)

    def __post_init__(self):
        if self.hidden_size % self.num_heads:
            raise ValueError(f"{self.name}: hidden_size {self.hidden_size} not divisible by {self.num_heads} heads")
        if sum(self.axes_dim) != self.head_dim:
            raise ValueError(f"{self.name}: axes_dim {self.axes_dim} sums to {sum(self.axes_dim)}, "
                             f"head dim is {self.head_dim}")
        if any(d % 2 for d in self.axes_dim):
            raise ValueError(f"{self.name}: every RoPE axis dim must be even, got {self.axes_dim}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return int(self.hidden_size * self.mlp_ratio)

    @property
    def cond_channels(self) -> int:
        return self.in_channels + self.patch_size ** 2

    def with_(self, **changes) -> "MMDiTConfig":
        return replace(self, **changes)


# Open-Sora 2.0 256px/768px MMDiT (hpcaitech/Open-Sora configs/diffusion/train/*.py, model "MMDiTModel").
OPENSORA2 = MMDiTConfig(name="opensora2", in_channels=64, hidden_size=3072, num_heads=24, depth=19,
                        depth_single_blocks=38, axes_dim=(16, 56, 56), context_in_dim=4096, vec_in_dim=768)
# DC-AE variant: 128 latent channels, no spatial patchify (patch_size 1) -> cond_in 129.
OPENSORA2_DCAE = OPENSORA2.with_(name="opensora2-dcae", in_channels=128, patch_size=1)
# The tiny stand-in we train: RGB space-to-depth x2 (12 channels) then patchify 2x2 -> 48 channels per token.
# RoPE base 100 [ours]: with 8 positions per axis and 12 dims per spatial axis, Open-Sora's 10,000 leaves only two
# frequencies that vary across the grid, and the model trained with it kept near-uniform attention (vdit/checkpoints/
# tiny.md); the base is recorded in the checkpoint metadata.
TINY = MMDiTConfig(name="tiny", in_channels=48, hidden_size=128, num_heads=4, depth=2, depth_single_blocks=4,
                   axes_dim=(8, 12, 12), context_in_dim=64, vec_in_dim=32, theta=100)

# A second trained stand-in, twice tiny's width with Open-Sora 2.0's head dimension class [ours]: hidden 256, 4 heads
# of 64 (RoPE dims 16 + 24 + 24), the same depths, data and RoPE base as tiny.
SMALL = TINY.with_(name="small", hidden_size=256, axes_dim=(16, 24, 24))

CONFIGS = {c.name: c for c in (OPENSORA2, OPENSORA2_DCAE, TINY, SMALL)}


def get_config(name: str) -> MMDiTConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise UnknownNameError("VDiT config", name, sorted(CONFIGS)) from None
