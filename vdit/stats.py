"""Activation statistics of every linear's input while sampling: kurtosis and channel / token max-to-median ratios.

    python -m vdit.stats [--checkpoint vdit/checkpoints/tiny.safetensors] [--outliers] [--steps 10] [--prompts 8]

kurtosis: E[(x - mean)^4] / var^2 over all input elements of one call (3 for a Gaussian);
channel ratio: max over input channels of that channel's max |x|, divided by the median over channels;
token ratio: the same over tokens (rows), leaving out all-zero rows (text padding and null prompts).  Each is averaged over calls (sampling steps), and the max is reported.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from . import data
from .checkpoint import load_checkpoint
from .naming import block_kind, within_block
from .outliers import inject_outliers
from .sampler import sample

DEFAULT_CHECKPOINT = "vdit/checkpoints/tiny.safetensors"


@dataclass(frozen=True)
class LinearStats:
    name: str
    kurtosis: float
    kurtosis_max: float
    channel_ratio: float
    token_ratio: float


def _one_call(x: torch.Tensor):
    x = x.detach().float().reshape(-1, x.shape[-1])
    xc = x - x.mean()
    kurt = float((xc ** 4).mean() / (xc ** 2).mean().clamp_min(1e-30) ** 2)
    ch, tok = x.abs().amax(dim=0), x.abs().amax(dim=1)
    tok = tok[tok > 0]
    tok_ratio = float(tok.max() / tok.median()) if len(tok) else float("nan")
    return kurt, float(ch.max() / ch.median().clamp_min(1e-30)), tok_ratio


def collect(model, prompts, steps: int = 10, seed: int = 0, guidance: float = 4.0) -> list:
    """Sample `prompts` and return LinearStats for every nn.Linear, in module order."""
    calls = defaultdict(list)
    hooks = [m.register_forward_pre_hook(lambda mod, inp, n=n: calls[n].append(_one_call(inp[0])))
             for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    try:
        sample(model, prompts, seed=seed, steps=steps, guidance=guidance)
    finally:
        for h in hooks:
            h.remove()
    out = []
    for n, rows in calls.items():
        a = np.array(rows)
        out.append(LinearStats(n, float(a[:, 0].mean()), float(a[:, 0].max()), float(a[:, 1].mean()),
                               float(a[:, 2].mean())))
    return out


def layer_kind(name: str) -> str:
    """double_blocks.1.img_attn.q_proj -> img_attn.q_proj; single_blocks.3.linear2 -> single.linear2."""
    kind = block_kind(name)
    return f"single.{within_block(name)}" if kind == "single" else within_block(name)


def summarize(stats: list) -> list:
    """Rows (kind, n, kurtosis mean, kurtosis max, channel ratio max, token ratio max) grouped by layer kind."""
    groups = defaultdict(list)
    for s in stats:
        groups[layer_kind(s.name)].append(s)
    return [(k, len(v), np.mean([s.kurtosis for s in v]), max(s.kurtosis_max for s in v),
             max(s.channel_ratio for s in v), max(s.token_ratio for s in v)) for k, v in groups.items()]


def format_table(rows, title: str) -> str:
    lines = [title, f"{'layer kind':30s} {'n':>3s} {'kurt(mean)':>10s} {'kurt(max)':>10s} {'ch max/med':>10s} "
             f"{'tok max/med':>11s}"]
    lines += [f"{k:30s} {n:3d} {km:10.2f} {kx:10.2f} {cr:10.2f} {tr:11.2f}" for k, n, km, kx, cr, tr in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="activation statistics of the tiny VDiT's linear inputs")
    p.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--prompts", type=int, default=8, help="first N calibration prompts")
    p.add_argument("--outliers", action="store_true", help="also run with the stress-mode outlier injection")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    prompts = data.CALIBRATION_PROMPTS[:a.prompts]
    model, _ = load_checkpoint(a.checkpoint)
    print(format_table(summarize(collect(model, prompts, a.steps)), "== trained tiny model, plain =="))
    if a.outliers:
        inject_outliers(model)
        print(format_table(summarize(collect(model, prompts, a.steps)),
                           "== STRESS MODE: function-preserving outlier injection (4 channels/site, s in 10..100) =="))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
