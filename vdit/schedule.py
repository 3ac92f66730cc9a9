"""Open-Sora 2.0 / Flux rectified-flow conventions shared by training and sampling.

Convention (Flux / Open-Sora 2.0, t = 1 is pure noise): x_t = (1 - t) * x0 + t * noise; the model predicts the
velocity v = noise - x0 = dx_t/dt; sampling integrates from t = 1 down to 0 with x <- x + (t_next - t_cur) * v.
Resolution-dependent shift: mu grows linearly with the number of video tokens from 0.5 at 256 to 1.15 at 4096,
alpha = exp(mu), and t -> alpha t / (1 + (alpha - 1) t) (more time near the noisy end for bigger videos).  Training
draws t from a logit-normal (sigmoid of N(0, 1)) and applies the same shift.
"""
from __future__ import annotations

import math

import torch

BASE_TOKENS, BASE_SHIFT, MAX_TOKENS, MAX_SHIFT = 256, 0.5, 4096, 1.15


def shift_alpha(num_tokens: int) -> float:
    """exp(mu) for a video of num_tokens tokens (dimensionless)."""
    slope = (MAX_SHIFT - BASE_SHIFT) / (MAX_TOKENS - BASE_TOKENS)
    return math.exp(BASE_SHIFT + slope * (num_tokens - BASE_TOKENS))


def time_shift(alpha: float, t: torch.Tensor) -> torch.Tensor:
    return alpha * t / (1 + (alpha - 1) * t)


def sample_train_timesteps(batch: int, num_tokens: int, generator: torch.Generator) -> torch.Tensor:
    """Shifted logit-normal t in (0, 1), shape (batch,)."""
    return time_shift(shift_alpha(num_tokens), torch.sigmoid(torch.randn(batch, generator=generator)))


def sampling_schedule(steps: int, num_tokens: int) -> torch.Tensor:
    """steps + 1 times from 1 to 0, shifted for the token count."""
    return time_shift(shift_alpha(num_tokens), torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)).float()


def interpolate(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor):
    """(x_t, target velocity) for clean latents x0 and noise at times t (B,)."""
    tt = t.view(-1, *([1] * (x0.dim() - 1)))
    return (1 - tt) * x0 + tt * noise, noise - x0
