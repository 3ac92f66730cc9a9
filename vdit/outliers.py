"""Function-preserving outlier injection: a labelled STRESS MODE that gives the tiny model the channel outliers of
10 B-scale DiTs without changing what it computes.

Why it is exact.  Every modulated op is  y = W ((1 + scale) * LN(x) + shift) + b  with LN a LayerNorm without
affine, and (shift, scale) rows of a modulation linear applied to SiLU(vec).  Pick a channel c and s > 0 and set
    shift'_c = s * shift_c              (row c of the shift chunk: weight and bias times s)
    1 + scale'_c = s * (1 + scale_c)    (row c of the scale chunk: weight times s, bias s * b + (s - 1))
so the modulated activation u'_c = s * u_c, and divide column c of every linear that reads u by s: W'[:, c] =
W[:, c] / s.  Then W' u' = W u exactly in real arithmetic; in float32 only rounding differs.  The gate chunk is left
alone.  The rewired rows and readers per site:
  double_blocks.i.{img,txt}: mod.lin chunks (shift1, scale1) = rows [0, H), [H, 2H) -> attn.{q,k,v}_proj columns;
                             chunks (shift2, scale2) = rows [3H, 4H), [4H, 5H) -> mlp.0 columns
  single_blocks.j:           modulation.lin rows [0, H), [H, 2H) -> q_proj, k_proj, v_mlp columns
The final layer is left alone (it is kept in FP by the default policy).  The result: a few input channels of the
quantized linears carry values s times larger, as in real checkpoints, while the FP output is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

S_MIN, S_MAX = 10.0, 100.0


@dataclass(frozen=True)
class Injection:
    site: str            # modulation linear whose rows were scaled
    chunk: int           # first of the (shift, scale) chunks, in units of H rows
    readers: tuple       # linears whose input columns were divided
    channels: tuple
    scales: tuple


def _sites(model):
    for i, blk in enumerate(model.double_blocks):
        for s in ("img", "txt"):
            p = f"double_blocks.{i}.{s}"
            yield f"{p}_mod.lin", 0, (f"{p}_attn.q_proj", f"{p}_attn.k_proj", f"{p}_attn.v_proj")
            yield f"{p}_mod.lin", 3, (f"{p}_mlp.0",)
    for j, _ in enumerate(model.single_blocks):
        p = f"single_blocks.{j}"
        yield f"{p}.modulation.lin", 0, (f"{p}.q_proj", f"{p}.k_proj", f"{p}.v_mlp")


@torch.no_grad()
def _rescale(model, site, chunk, readers, channels, scales):
    h = model.config.hidden_size
    mod = model.get_submodule(site)
    for c, s in zip(channels, scales):
        shift_row, scale_row = chunk * h + c, (chunk + 1) * h + c
        mod.weight[shift_row] *= s
        mod.bias[shift_row] *= s
        mod.weight[scale_row] *= s
        mod.bias[scale_row] = s * mod.bias[scale_row] + (s - 1)
        for r in readers:
            model.get_submodule(r).weight[:, c] /= s


def inject_outliers(model, channels_per_site: int = 4, seed: int = 0, s_min: float = S_MIN,
                    s_max: float = S_MAX) -> list:
    """Rescale `channels_per_site` random channels at every modulated site by s log-uniform in [s_min, s_max],
    in place.  Returns the list of Injection records (the stress mode must be reported as such)."""
    if not 1 <= s_min <= s_max:
        raise ValueError(f"need 1 <= s_min <= s_max, got {s_min}, {s_max}")
    rng = np.random.default_rng(seed)
    done = []
    for site, chunk, readers in _sites(model):
        ch = tuple(int(c) for c in rng.choice(model.config.hidden_size, channels_per_site, replace=False))
        sc = tuple(float(x) for x in np.exp(rng.uniform(np.log(s_min), np.log(s_max), channels_per_site)))
        _rescale(model, site, chunk, readers, ch, sc)
        done.append(Injection(site, chunk, readers, ch, sc))
    return done
