"""The quality study (issue 4, item 5): every recipe on evaluation prompts, with and without outlier injection.

For each outlier mode the FP reference is the same model (outliers injected or not) sampled in FP with the same
prompts, seeds, steps and guidance; every recipe quantizes a fresh copy of that model and samples again.  The
result is a tidy table (recipe x outliers x prompt x seed x metric) and a per-recipe cost table (bits per element,
extra MACs of decomposition, sampling seconds).  Summaries live in sim/study_summary.py.

The stress mode (outliers "on") is vdit.outliers.inject_outliers with its defaults: function-preserving, so its FP
reference differs from the plain model's only by float32 rounding (recorded as `fp_injection_psnr_db`).
"""
from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from . import defaults

STUDY_RECIPES = ("fp", "w8a8", "w4a16", "int4_g32", "mxfp4", "nvfp4", "blockdialect", "semanticdialect",
                 "semanticdialect-no-decomp", "semanticdialect-no-seda", "semanticdialect-d16", "semanticdialect-b16")
# the W16A4 / W4A16 split ablations of every 4-bit recipe (quant/recipe_variants.py): run them with
# `sim study --recipes ...`; kept apart from STUDY_RECIPES so the default study's cost does not triple
SPLIT_RECIPES = tuple(f"{b}-{s}" for b in ("mxfp4", "nvfp4", "int4_g32", "blockdialect", "semanticdialect",
                                            "semanticdialect-fair") for s in ("w16a4", "w4a16"))
OUTLIER_MODES = ("none", "on")
DEFAULT_CHECKPOINT = defaults.CHECKPOINT
# keys of vdit.metrics.compare kept per (recipe, prompt, seed); the rest (per-step lists, FP-only values) are not
VIDEO_KEYS = ("psnr_db", "psnr_worst_db", "ssim", "tdiff_psnr_db", "flicker_delta", "warp_error_delta",
              "latent_nmse", "latent_cosine", "velocity_nmse_mean", "velocity_cosine_mean")
TASK_KEYS = ("task_colour", "task_shape", "task_direction", "task_all")


@dataclass(frozen=True)
class StudyConfig:
    """What one study run samples.  prompts: prompt strings (evaluation prompts for the study, calibration
    prompts for tuning); steps: sampler steps; guidance: CFG scale; threads: CPU threads for torch and Numba."""
    prompts: tuple
    recipes: tuple = STUDY_RECIPES
    steps: int = 6
    seeds: tuple = (0,)
    outliers: tuple = OUTLIER_MODES
    backend: str = defaults.BACKEND
    guidance: float = 4.0
    checkpoint: str = DEFAULT_CHECKPOINT
    threads: int = 1

    def __post_init__(self):
        from quant.recipes import recipe
        for r in self.recipes:
            recipe(r)                                 # unknown names raise, listing the valid ones
        bad = [m for m in self.outliers if m not in OUTLIER_MODES]
        if bad:
            raise ValueError(f"unknown outlier mode(s) {bad}; valid: {list(OUTLIER_MODES)}")
        if self.steps < 1 or not self.prompts or not self.seeds:
            raise ValueError("a study needs steps >= 1, at least one prompt and one seed")


@dataclass
class StudyResult:
    tidy: "object"          # pandas DataFrame: recipe, outliers, prompt, seed, metric, value
    costs: "object"         # pandas DataFrame: one row per (recipe, outliers)
    notes: list = field(default_factory=list)


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def set_threads(n: int):
    """Pin torch and Numba to n threads: on a shared CPU, Numba's parallel kernels at more threads than the
    cores actually free spend most of their time waiting for each other."""
    import numba
    import torch
    torch.set_num_threads(n)
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))


def load_model(checkpoint: str, outliers: str):
    import vdit
    from vdit.outliers import inject_outliers
    model, _ = vdit.load_checkpoint(checkpoint)
    model.eval()
    if outliers == "on":
        inject_outliers(model)
    return model


def sample_model(model, prompts, seed: int, steps: int, guidance: float):
    """vdit.sample with velocities.  The quantized model's QuantContext is the attention recorder only when its
    recipe reads attention (decomposition by attention, SeDA): a recorder makes the model form attention
    probabilities explicitly, which differs from the fused FP path by float32 rounding, so recipes that do not
    need it keep the FP reference's exact attention arithmetic (and recipe `fp` reproduces FP bit for bit)."""
    import vdit
    ctx = getattr(model, "quant_context", None)
    return vdit.sample(model, prompts, seed=seed, steps=steps, guidance=guidance, return_velocities=True,
                       recorder=ctx if ctx is not None and reads_attention(ctx.recipe) else None)


def reads_attention(recipe) -> bool:
    """True when the recipe needs the model's attention: it reads attention (decomposition by attention, SeDA) or
    quantizes the attention matmuls (full path)."""
    dec = recipe.decomposition
    return (recipe.seda.enabled or recipe.full_path
            or (dec.enabled and dec.salient_fraction > 0 and dec.source == "attention"))


def per_prompt_metrics(fp, q, prompts) -> list:
    """[{metric: value}] for every prompt: vdit.metrics.compare on that prompt's video, latents and velocities,
    and the task detectors' hits (1.0 / 0.0) on the quantized video."""
    from vdit import metrics, tasks
    out = []
    for i, prompt in enumerate(prompts):
        m = metrics.compare(fp.frames[i:i + 1].numpy(), q.frames[i:i + 1].numpy(),
                            fp_latents=fp.latents[i:i + 1].numpy(), q_latents=q.latents[i:i + 1].numpy(),
                            fp_velocities=[v[i:i + 1].numpy() for v in fp.velocities],
                            q_velocities=[v[i:i + 1].numpy() for v in q.velocities])
        row = {k: float(m[k]) for k in VIDEO_KEYS}
        acc = tasks.task_accuracy(q.frames[i:i + 1].numpy(), [prompt])
        row.update({f"task_{k}": acc[k] for k in ("colour", "shape", "direction", "all")})
        out.append(row)
    return out


def recipe_costs(model) -> dict:
    """Bits per element and extra MACs of a sampled quantized model (weights: mean over quantized linears,
    weighted by weight elements; FP linears are not counted)."""
    from quant.torch_layers import QuantLinear
    ctx = model.quant_context
    s = ctx.summary()
    w_bits = w_elems = 0.0
    for name, mod in model.named_modules():
        if isinstance(mod, QuantLinear):
            n = mod.in_features * mod.out_features
            w_bits += ctx.layers[name].weight_bits_per_element * n
            w_elems += n
    return {"formatbook": ctx.recipe.formatbook or "", "act_bits_per_element": s["act_bits_per_element"],
            "act_bits_with_residual": s["act_bits_per_element_with_residual"],
            "weight_bits_per_element": w_bits / w_elems if w_elems else float("nan"),
            "extra_mac_fraction": s["extra_mac_fraction"], "layers_full": s["layers_full"],
            "layers_weight_only": s["layers_weight_only"], "salient_fallback_calls": s["salient_fallback_calls"],
            "seda_fallback_calls": s["seda_fallback_calls"]}


def run_recipe(cfg: StudyConfig, recipe, mode: str, fp_runs: dict) -> tuple:
    """Quantize a fresh model with `recipe` (a name or Recipe) and sample every seed; returns (rows, costs)."""
    import quant
    model = quant.quantize_model(load_model(cfg.checkpoint, mode), recipe, backend=cfg.backend)
    name = model.quant_context.recipe.name
    rows, t0 = [], time.perf_counter()
    for seed in cfg.seeds:
        q = sample_model(model, cfg.prompts, seed, cfg.steps, cfg.guidance)
        for prompt, vals in zip(cfg.prompts, per_prompt_metrics(fp_runs[seed], q, cfg.prompts)):
            rows += [{"recipe": name, "outliers": mode, "prompt": prompt, "seed": seed, "metric": k, "value": v}
                     for k, v in vals.items()]
    costs = {"recipe": name, "outliers": mode, **recipe_costs(model),
             "sample_seconds": time.perf_counter() - t0}
    return rows, costs


def fp_reference(cfg: StudyConfig, mode: str) -> dict:
    """{seed: SampleResult} of the unquantized model in this outlier mode."""
    model = load_model(cfg.checkpoint, mode)
    return {s: sample_model(model, cfg.prompts, s, cfg.steps, cfg.guidance) for s in cfg.seeds}


def run_study(cfg: StudyConfig, log=print) -> StudyResult:
    """Every (outlier mode, recipe) of `cfg`; recipes whose formatbook falls back are run and noted."""
    import pandas as pd
    from vdit.metrics import psnr_from_mse
    set_threads(cfg.threads)
    rows, costs, notes, fp_by_mode = [], [], [], {}
    for mode in cfg.outliers:
        fp_by_mode[mode] = fp_runs = fp_reference(cfg, mode)
        for rname in cfg.recipes:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                r_rows, r_costs = run_recipe(cfg, rname, mode, fp_runs)
            notes += sorted({str(w.message) for w in caught if "formatbook" in str(w.message)} - set(notes))
            rows += r_rows
            costs.append(r_costs)
            psnr = np.mean([r["value"] for r in r_rows if r["metric"] == "psnr_db"])
            log(f"[study] outliers={mode} {rname}: mean PSNR {psnr:.2f} dB, act bits "
                f"{r_costs['act_bits_with_residual']:.3f}, {r_costs['sample_seconds']:.0f} s")
    if set(OUTLIER_MODES) <= set(fp_by_mode):     # function preservation of the stress mode, measured
        a, b = fp_by_mode["none"][cfg.seeds[0]].frames, fp_by_mode["on"][cfg.seeds[0]].frames
        mse = float(((a - b).double() ** 2).mean())
        notes.append(f"fp_injection_psnr_db: FP with outliers injected vs plain FP, seed {cfg.seeds[0]}: "
                     f"{float(psnr_from_mse(mse)):.2f} dB")
    return StudyResult(pd.DataFrame(rows), pd.DataFrame(costs), notes)


def config_dict(cfg: StudyConfig) -> dict:
    d = asdict(cfg)
    d["checkpoint_sha256"] = file_sha256(cfg.checkpoint)
    return d
