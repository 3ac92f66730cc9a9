"""The one sampling pipeline of `sim run`'s quality stage and of `sim study`: load the model (with or without the
outlier stress mode), quantize it, sample it, and measure it against its FP reference, per prompt.  Both commands
call these functions, so the same recipe, prompt, seed, steps and guidance give the same numbers in either.

Two rules live here and nowhere else:

- Attention recorder: the quantized model's QuantContext is installed as the attention recorder only when the
  recipe reads attention (`reads_attention`).  A recorder makes the model form attention probabilities
  explicitly, which differs from the fused FP attention by float32 rounding; recipes that do not need it keep
  the FP reference's exact attention arithmetic, so recipe `fp` reproduces its FP reference bit for bit.
- Outlier seed: the stress mode (`outliers="on"`) is vdit.outliers.inject_outliers with OUTLIER_SEED, whatever the
  sampling seed.  The injected channels and scales are part of the model under test, so every sampling seed
  (and every command) measures the same stressed model, and a seed only changes the sampling noise.
"""
from __future__ import annotations

import hashlib
import warnings

OUTLIER_MODES = ("none", "on")
OUTLIER_SEED = 0          # vdit.outliers.inject_outliers' own default: the stress model the committed study used
# keys of vdit.metrics.compare kept per prompt; the rest (per-step lists, FP-only values) are not
VIDEO_KEYS = ("psnr_db", "psnr_worst_db", "ssim", "tdiff_psnr_db", "flicker_delta", "warp_error_delta",
              "latent_nmse", "latent_cosine", "velocity_nmse_mean", "velocity_cosine_mean")
TASK_KEYS = ("task_colour", "task_shape", "task_direction", "task_all")


def outlier_mode(mode) -> str:
    """"none" / "on" from a mode name or a bool (`sim run`'s `outliers` flag)."""
    if isinstance(mode, bool):
        return "on" if mode else "none"
    if mode not in OUTLIER_MODES:
        raise ValueError(f"unknown outlier mode {mode!r}; valid: {list(OUTLIER_MODES)}")
    return mode


def load_model(checkpoint: str, outliers="none"):
    """The checkpoint's VDiT in eval mode; outliers "on" (or True): the stress mode with OUTLIER_SEED."""
    import vdit
    from vdit.outliers import inject_outliers
    model, _ = vdit.load_checkpoint(str(checkpoint))
    model.eval()
    if outlier_mode(outliers) == "on":
        inject_outliers(model, seed=OUTLIER_SEED)
    return model


def quantized_model(checkpoint: str, outliers, recipe, backend: str, quiet: bool = True):
    """A fresh model (load_model) quantized with `recipe` (a name or Recipe) on `backend`.  quiet: silence the
    book-fallback warning (the caller records the fallback from the recipe instead)."""
    import quant
    model = load_model(checkpoint, outliers)
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        quant.quantize_model(model, recipe, backend=backend)
    return model


def reads_attention(recipe) -> bool:
    """True when the recipe needs the model's attention: it reads attention (decomposition by attention, SeDA) or
    quantizes the attention matmuls (full path)."""
    dec = recipe.decomposition
    return (recipe.seda.enabled or recipe.full_path
            or (dec.enabled and dec.salient_fraction > 0 and dec.source == "attention"))


def work_rank(recipe) -> int:
    """A coarse order of a recipe's sampling cost, for scheduling the longest cells first on a pool (fewer idle
    workers at the end): quantized attention matmuls (online quantization of Q, K, P, V per head) > reading
    attention (SeDA, attention-chosen salient rows) > quantized activations > weights only or FP."""
    if recipe.attention.enabled:
        return 3
    if reads_attention(recipe):
        return 2
    return 1 if recipe.activation is not None else 0


def recorder_for(model, always: bool = False):
    """The attention recorder a sampling installs: the model's QuantContext when its recipe reads attention (or
    `always`, for a cross-check whose layer tap tags calls with the step the context learns), else None."""
    ctx = getattr(model, "quant_context", None)
    if ctx is None:
        return None
    return ctx if always or reads_attention(ctx.recipe) else None


def sample(model, prompts, seed: int, steps: int, guidance: float, max_steps: int | None = None,
           always_record: bool = False):
    """vdit.sample with velocities, batched over `prompts`, under the recorder rule above."""
    import vdit
    return vdit.sample(model, tuple(prompts), seed=seed, steps=steps, guidance=guidance, return_velocities=True,
                       recorder=recorder_for(model, always_record), max_steps=max_steps)


def prompt_metrics(fp, q, prompts) -> list:
    """[{metric: value}] per prompt: vdit.metrics.compare on that prompt's video, latents and velocities (VIDEO_KEYS),
    and the task detectors' hits (1.0 / 0.0) on the quantized video (TASK_KEYS).  fp, q: SampleResults."""
    from vdit import metrics, tasks
    out = []
    for i, prompt in enumerate(prompts):
        m = metrics.compare(fp.frames[i:i + 1].numpy(), q.frames[i:i + 1].numpy(),
                            fp_latents=fp.latents[i:i + 1].numpy(), q_latents=q.latents[i:i + 1].numpy(),
                            fp_velocities=[v[i:i + 1].numpy() for v in fp.velocities],
                            q_velocities=[v[i:i + 1].numpy() for v in q.velocities])
        row = {k: float(m[k]) for k in VIDEO_KEYS}
        acc = tasks.task_accuracy(q.frames[i:i + 1].numpy(), [prompt])
        row.update({f"task_{k}": float(acc[k]) for k in ("colour", "shape", "direction", "all")})
        out.append(row)
    return out


def batch_metrics(fp, q) -> dict:
    """vdit.metrics.compare on the whole batch (`sim run`'s report keeps its per-step lists and pooled PSNR).  Its
    mean-type keys equal the means of prompt_metrics over the prompts (each prompt has the same frame count)."""
    from vdit import metrics
    return metrics.compare(fp.frames.numpy(), q.frames.numpy(), fp_latents=fp.latents.numpy(),
                           q_latents=q.latents.numpy(), fp_velocities=fp.velocities.numpy(),
                           q_velocities=q.velocities.numpy())


def digest(result) -> str:
    """sha256 of a SampleResult's final latents' raw bytes: proves a recomputed FP reference is the stored one."""
    return hashlib.sha256(result.latents.numpy().tobytes()).hexdigest()


def set_threads(n: int):
    """Pin torch and Numba to n threads: on a shared CPU, Numba's parallel kernels at more threads than the
    cores actually free spend most of their time waiting for each other."""
    import numba
    import torch
    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
