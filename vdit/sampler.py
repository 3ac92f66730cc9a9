"""Rectified-flow Euler sampler with Open-Sora's resolution-dependent time shift and classifier-free guidance."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from . import data, schedule


@dataclass(frozen=True)
class SampleResult:
    """latents (B, L, C) at t = 0; frames (B, T, H, W, 3) float32 in [0, 1]; timesteps (steps + 1,) from 1 to 0;
    velocities (steps, B, L, C) guided velocities when requested, else None."""
    prompts: tuple
    latents: torch.Tensor
    frames: torch.Tensor
    timesteps: torch.Tensor
    velocities: torch.Tensor | None = None


def initial_noise(n: int, seed: int, tokens: int, channels: int) -> torch.Tensor:
    """Noise for prompt i depends only on (seed, i), so a prompt's video does not depend on the batch it is in."""
    rows = [torch.randn(tokens, channels, generator=torch.Generator().manual_seed(seed * 100_003 + i))
            for i in range(n)]
    return torch.stack(rows)


@torch.no_grad()
def sample(model, prompts, seed: int = 0, steps: int = 30, guidance: float = 4.0, return_velocities: bool = False,
           recorder=None, frames: int = data.FRAMES, grid: int = data.GRID,
           max_steps: int | None = None) -> SampleResult:
    """Text-to-video sampling from t = 1 (noise) to 0: x <- x + (t_next - t_cur) * v, v = v_u + g (v_c - v_u).

    Each step runs one forward on 2B rows: rows [0, B) conditional, [B, 2B) with the null prompt.  A recorder is
    installed on the model for the call (see `vdit.layers.attention`), told the step via `rec.set_step(i)` when it
    has that method, and removed afterwards.  guidance = 1 disables CFG (the unconditional half is then skipped).
    """
    prompts = tuple(prompts)
    b = len(prompts)
    n_tok = frames * grid * grid
    channels = model.config.in_channels
    x = initial_noise(b, seed, n_tok, channels)
    use_cfg = guidance != 1.0
    txt, vec = data.embed_prompts(prompts + ((data.NULL_PROMPT,) * b if use_cfg else ()))
    rows = txt.shape[0]
    img_ids, txt_ids = data.token_ids(rows, frames, grid)
    ts = schedule.sampling_schedule(steps, n_tok)
    vels = []
    previous = model._recorder
    model.set_attention_recorder(recorder)
    try:
        for i in range(steps if max_steps is None else min(steps, max_steps)):
            if recorder is not None and hasattr(recorder, "set_step"):
                recorder.set_step(i)
            xin = torch.cat([x, x]) if use_cfg else x
            v = model(xin, img_ids, txt, txt_ids, ts[i].expand(rows), vec).float()
            if use_cfg:
                v = v[b:] + guidance * (v[:b] - v[b:])
            x = x + (ts[i + 1] - ts[i]) * v
            if return_velocities:
                vels.append(v)
    finally:
        model.set_attention_recorder(previous)
    return SampleResult(prompts, x, data.decode(x, frames), ts, torch.stack(vels) if return_velocities else None)
