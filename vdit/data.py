"""Procedural text-conditioned videos, the prompt-embedding stand-ins for T5 / CLIP, and the VAE stand-in.

Videos: FRAMES x SIZE x SIZE RGB in [0, 1], one coloured shape on black moving in a straight line.
Latent ("VAE"): pixels mapped to [-1, 1], space-to-depth x2 (3 -> 12 channels at 16x16), then Open-Sora's patchify
`b c t (h 2) (w 2) -> b (t h w) (c 2 2)`: 8 x 8 x 8 = 512 tokens of 48 channels.  `decode` is its exact inverse.
Text: each word of a prompt maps to a fixed random vector (seeded table, stand-in for T5 states), padded with zeros
to TEXT_TOKENS; the pooled vector (stand-in for CLIP) is a normalised sum of a second fixed table's rows.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch

from .geometry import (CONTEXT_DIM, FRAMES, GRID, LATENT_CHANNELS, PATCH, S2D, SIZE, TEXT_TOKENS,  # noqa: F401
                       TOKEN_CHANNELS, VEC_DIM)
EMBED_SEED = 1234
NULL_PROMPT = ""

COLOURS = {"red": (0.92, 0.12, 0.10), "green": (0.10, 0.80, 0.20), "blue": (0.15, 0.30, 1.00),
           "yellow": (0.95, 0.85, 0.10)}
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = {"left": (0.0, -1.0), "right": (0.0, 1.0), "up": (-1.0, 0.0), "down": (1.0, 0.0)}  # (dy, dx)
VOCAB = ("a", *COLOURS, *SHAPES, "moving", *DIRECTIONS)


@dataclass(frozen=True)
class VideoSpec:
    colour: str
    shape: str
    direction: str

    @property
    def prompt(self) -> str:
        return f"a {self.colour} {self.shape} moving {self.direction}"


def parse_prompt(prompt: str) -> VideoSpec:
    words = prompt.split()
    if len(words) != 5 or words[1] not in COLOURS or words[2] not in SHAPES or words[4] not in DIRECTIONS:
        raise ValueError(f"prompt {prompt!r} is not 'a <colour> <shape> moving <direction>' with colour in "
                         f"{list(COLOURS)}, shape in {list(SHAPES)}, direction in {list(DIRECTIONS)}")
    return VideoSpec(words[1], words[2], words[4])


ALL_SPECS = tuple(VideoSpec(c, s, d) for c, s, d in itertools.product(COLOURS, SHAPES, DIRECTIONS))


def _split_prompts():
    """48 combinations split in two disjoint halves, each covering every colour, shape and direction."""
    calib, evalp = [], []
    for i, spec in enumerate(ALL_SPECS):
        ci, si, di = list(COLOURS).index(spec.colour), SHAPES.index(spec.shape), list(DIRECTIONS).index(spec.direction)
        (calib if (ci + si + di) % 2 == 0 else evalp).append(spec.prompt)
    return tuple(calib), tuple(evalp)


CALIBRATION_PROMPTS, EVALUATION_PROMPTS = _split_prompts()
# 12 of the evaluation prompts with every colour 3x, shape 4x and direction 3x (for quick checks, e.g. in tests)
EVALUATION_SUBSET = tuple(EVALUATION_PROMPTS[i] for i in (0, 7, 14, 21, 4, 11, 18, 1, 8, 15, 22, 17))


# ---- rendering -------------------------------------------------------------------------------------------
def _signed_distance(shape: str, yy, xx, cy, cx, r):
    """Signed distance in pixels to the shape's edge (negative inside)."""
    dy, dx = yy - cy, xx - cx
    if shape == "circle":
        return np.sqrt(dy * dy + dx * dx) - r
    if shape == "square":
        return np.maximum(np.abs(dy), np.abs(dx)) - 0.85 * r
    # upward isosceles triangle: base at cy + 0.8r, apex at cy - 1.1r, half-width 1.1r at the base
    h, half = 1.9 * r, 1.1 * r
    base = dy - 0.8 * r
    side = (np.abs(dx) * h + (dy + 1.1 * r) * (-half)) / np.hypot(h, half)
    return np.maximum(base, side)


def render(spec: VideoSpec, rng: np.random.Generator) -> np.ndarray:
    """One video (FRAMES, SIZE, SIZE, 3) float32 in [0, 1]: radius 5-6.5 px, speed 1.4-2.0 px/frame, the object
    fully inside the frame throughout."""
    r = rng.uniform(5.0, 6.5)
    speed = rng.uniform(1.4, 2.0)
    dy, dx = DIRECTIONS[spec.direction]
    travel = speed * (FRAMES - 1)
    margin = r + 0.5
    start = []
    for d in (dy, dx):
        lo, hi = margin, SIZE - 1 - margin
        if d > 0:
            hi -= travel
        elif d < 0:
            lo += travel
        start.append(rng.uniform(lo, hi))
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    colour = np.asarray(COLOURS[spec.colour], np.float32)
    video = np.empty((FRAMES, SIZE, SIZE, 3), np.float32)
    for f in range(FRAMES):
        cy, cx = start[0] + dy * speed * f, start[1] + dx * speed * f
        alpha = np.clip(0.5 - _signed_distance(spec.shape, yy, xx, cy, cx, r), 0.0, 1.0)
        video[f] = alpha[..., None] * colour
    return video


# ---- VAE stand-in ----------------------------------------------------------------------------------------
def encode(frames: torch.Tensor) -> torch.Tensor:
    """(B, T, H, W, 3) in [0, 1] -> latent tokens (B, T*GRID*GRID, 48)."""
    b, t, h, w, _ = frames.shape
    x = frames.permute(0, 4, 1, 2, 3) * 2 - 1                     # b c t h w
    x = x.reshape(b, 3, t, h // S2D, S2D, w // S2D, S2D)          # space-to-depth
    x = x.permute(0, 1, 4, 6, 2, 3, 5).reshape(b, LATENT_CHANNELS, t, h // S2D, w // S2D)
    g = h // (S2D * PATCH)
    x = x.reshape(b, LATENT_CHANNELS, t, g, PATCH, g, PATCH)      # b c t (h 2) (w 2)
    return x.permute(0, 2, 3, 5, 1, 4, 6).reshape(b, t * g * g, TOKEN_CHANNELS)


def decode(tokens: torch.Tensor, frames: int = FRAMES) -> torch.Tensor:
    """Exact inverse of `encode` (before clamping): (B, L, 48) -> (B, T, H, W, 3), clamped to [0, 1]."""
    b, l, _ = tokens.shape
    g = int(round((l // frames) ** 0.5))
    x = tokens.reshape(b, frames, g, g, LATENT_CHANNELS, PATCH, PATCH).permute(0, 4, 1, 2, 5, 3, 6)
    x = x.reshape(b, 3, S2D, S2D, frames, g * PATCH, g * PATCH)   # b c s1 s2 t h' w'
    x = x.permute(0, 1, 4, 5, 2, 6, 3).reshape(b, 3, frames, g * PATCH * S2D, g * PATCH * S2D)
    return ((x.permute(0, 2, 3, 4, 1) + 1) / 2).clamp(0, 1)


def token_ids(batch: int, frames: int = FRAMES, grid: int = GRID):
    """(t, h, w) positions of video tokens (B, L, 3) and of text tokens (all zero) (B, TEXT_TOKENS, 3)."""
    t, h, w = torch.meshgrid(torch.arange(frames), torch.arange(grid), torch.arange(grid), indexing="ij")
    img_ids = torch.stack([t, h, w], dim=-1).reshape(1, -1, 3).float().expand(batch, -1, -1)
    return img_ids, torch.zeros(batch, TEXT_TOKENS, 3)


# ---- text stand-ins --------------------------------------------------------------------------------------
def _tables():
    g = torch.Generator().manual_seed(EMBED_SEED)
    return torch.randn(len(VOCAB), CONTEXT_DIM, generator=g), torch.randn(len(VOCAB), VEC_DIM, generator=g)


_TOKEN_TABLE, _POOLED_TABLE = _tables()


def embed_prompts(prompts) -> tuple:
    """Prompts -> (txt (B, TEXT_TOKENS, CONTEXT_DIM), y_vec (B, VEC_DIM)); "" is the null prompt (all zeros)."""
    txt = torch.zeros(len(prompts), TEXT_TOKENS, CONTEXT_DIM)
    vec = torch.zeros(len(prompts), VEC_DIM)
    for i, p in enumerate(prompts):
        words = p.split()
        bad = [w for w in words if w not in VOCAB]
        if bad or len(words) > TEXT_TOKENS:
            raise ValueError(f"prompt {p!r}: unknown words {bad} (vocabulary {list(VOCAB)}) or over "
                             f"{TEXT_TOKENS} words")
        idx = torch.tensor([VOCAB.index(w) for w in words], dtype=torch.long)
        if len(idx):
            txt[i, :len(idx)] = _TOKEN_TABLE[idx]
            vec[i] = _POOLED_TABLE[idx].sum(0) / len(idx) ** 0.5
    return txt, vec


@dataclass(frozen=True)
class Batch:
    latents: torch.Tensor   # (B, 512, 48)
    txt: torch.Tensor       # (B, TEXT_TOKENS, CONTEXT_DIM)
    y_vec: torch.Tensor     # (B, VEC_DIM)
    prompts: tuple          # with "" where the prompt was dropped


def make_batch(rng: np.random.Generator, batch: int, null_prob: float = 0.1) -> Batch:
    """Random training videos over all 48 combinations; each prompt dropped to "" with probability null_prob."""
    specs = [ALL_SPECS[i] for i in rng.integers(0, len(ALL_SPECS), size=batch)]
    frames = torch.from_numpy(np.stack([render(s, rng) for s in specs]))
    prompts = tuple(NULL_PROMPT if rng.random() < null_prob else s.prompt for s in specs)
    txt, vec = embed_prompts(prompts)
    return Batch(encode(frames), txt, vec, prompts)
