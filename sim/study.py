"""The quality study: every recipe on evaluation prompts, with and without outlier injection, over several
sampling seeds.  This module holds its configuration and the two kinds of task a worker runs; sim/study_run.py
drives them on the sweep executor and stores each finished cell (sim/study_cells.py); sim/study_stats.py and
sim/study_summary.py turn the tidy table into statistics and summary.md.

A cell is (checkpoint, outlier mode, recipe, seed), prompts batched inside it.  Its FP reference is the same model
(outliers injected or not) sampled in FP with the same prompts, seed, steps and guidance, computed once per
(outlier mode, seed) and handed to the cells; every recipe quantizes a fresh copy of the model and samples again,
both through sim.sampling (the same path as `sim run`'s quality stage).

The stress mode (outliers "on") is vdit.outliers.inject_outliers with sim.sampling.OUTLIER_SEED: function-
preserving, so its FP reference differs from the plain model's only by float32 rounding (recorded as
`fp_injection_psnr_db`).
"""
from __future__ import annotations

import hashlib
import time
import warnings
from dataclasses import asdict, dataclass, field

from . import defaults, sampling
from .sampling import OUTLIER_MODES, TASK_KEYS, VIDEO_KEYS, set_threads  # noqa: F401 (the study's names for them)

STUDY_RECIPES = ("fp", "w8a8", "w4a16", "int4_g32", "mxfp4", "nvfp4", "blockdialect", "semanticdialect",
                 "semanticdialect-no-decomp", "semanticdialect-no-seda", "semanticdialect-d16", "semanticdialect-b16",
                 "semanticdialect-fair", "semanticdialect-fullpath", "semanticdialect-attn8", "nvfp4-fullpath")
# the 4-bit baselines every recipe is compared with (paired bootstrap, win rate: sim/study_stats.py)
BASELINES = ("nvfp4", "mxfp4", "int4_g32", "blockdialect")
DEFAULT_SEEDS = (0, 1, 2)
# the W16A4 / W4A16 split ablations of every 4-bit recipe (quant/recipe_variants.py): run them with
# `sim study --recipes ...`; kept apart from STUDY_RECIPES so the default study's cost does not triple
SPLIT_RECIPES = tuple(f"{b}-{s}" for b in ("mxfp4", "nvfp4", "int4_g32", "blockdialect", "semanticdialect",
                                            "semanticdialect-fair") for s in ("w16a4", "w4a16"))
DEFAULT_CHECKPOINT = defaults.CHECKPOINT


@dataclass(frozen=True)
class StudyConfig:
    """What one study run samples.  prompts: prompt strings (evaluation prompts for the study, calibration
    prompts for tuning); steps: sampler steps; guidance: CFG scale; threads: CPU threads for torch and Numba in
    each worker; versus: the baselines of the paired comparisons (those not among `recipes` are skipped)."""
    prompts: tuple
    recipes: tuple = STUDY_RECIPES
    steps: int = 6
    seeds: tuple = DEFAULT_SEEDS
    outliers: tuple = OUTLIER_MODES
    backend: str = defaults.BACKEND
    guidance: float = 4.0
    checkpoint: str = DEFAULT_CHECKPOINT
    threads: int = 1
    versus: tuple = BASELINES

    def __post_init__(self):
        from quant.recipes import recipe
        for r in self.recipes + self.versus:
            recipe(r)                                 # unknown names raise, listing the valid ones
        bad = [m for m in self.outliers if m not in OUTLIER_MODES]
        if bad:
            raise ValueError(f"unknown outlier mode(s) {bad}; valid: {list(OUTLIER_MODES)}")
        if self.steps < 1 or not self.prompts or not self.seeds:
            raise ValueError("a study needs steps >= 1, at least one prompt and one seed")
        for what, items in (("recipes", self.recipes), ("seeds", self.seeds), ("outliers", self.outliers)):
            if len(set(items)) != len(items):
                raise ValueError(f"{what} {list(items)}: each may appear once")


@dataclass
class StudyResult:
    tidy: "object"          # pandas DataFrame: recipe, outliers, prompt, seed, metric, value
    costs: "object"         # pandas DataFrame: one row per (recipe, outliers)
    notes: list = field(default_factory=list)
    timing: dict = field(default_factory=dict)   # wall, FP-reference and cell seconds of this run, cell counts


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def binding(cfg: StudyConfig) -> dict:
    """The settings every stored cell of a study folder must share (sim/study_cells.BINDING_FIELDS)."""
    return {"checkpoint_sha256": file_sha256(cfg.checkpoint), "prompts": list(cfg.prompts), "steps": cfg.steps,
            "guidance": float(cfg.guidance), "backend": cfg.backend, "outlier_seed": sampling.OUTLIER_SEED}


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


# ---- the tasks a worker runs (module-level, so pool and Ray workers import them by name) ----

def fp_task(cfg: StudyConfig, mode: str, seed: int) -> tuple:
    """(SampleResult, record) of the FP reference of (mode, seed); the record is what the cell store keeps."""
    from vdit import tasks
    set_threads(cfg.threads)
    t0 = time.perf_counter()
    fp = sampling.sample(sampling.load_model(cfg.checkpoint, mode), cfg.prompts, seed, cfg.steps, cfg.guidance)
    hits = [tasks.task_accuracy(fp.frames[i:i + 1].numpy(), [p])["all"] for i, p in enumerate(cfg.prompts)]
    return fp, {"kind": "fp_reference", "outliers": mode, "seed": int(seed), "latents_sha256": sampling.digest(fp),
                "task_all": [float(h) for h in hits], "seconds": time.perf_counter() - t0}


def recipe_task(cfg: StudyConfig, mode: str, recipe: str, seed: int, recipe_sha: str, fp) -> dict:
    """One cell: quantize a fresh model with `recipe`, sample every prompt with `seed`, measure against `fp`."""
    set_threads(cfg.threads)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = sampling.quantized_model(cfg.checkpoint, mode, recipe, cfg.backend, quiet=False)
    rows, costs = measure(cfg, model, seed, fp)
    return {"kind": "recipe", "outliers": mode, "recipe": recipe, "seed": int(seed), "recipe_sha256": recipe_sha,
            "fp_latents_sha256": sampling.digest(fp), "per_prompt": rows, "costs": costs,
            "warnings": sorted({str(w.message) for w in caught if "formatbook" in str(w.message)}),
            "seconds": time.perf_counter() - t0}


def measure(cfg: StudyConfig, model, seed: int, fp) -> tuple:
    """([{"prompt", "metrics"}], costs) of a quantized model sampled with `seed` against FP reference `fp`."""
    t0 = time.perf_counter()
    q = sampling.sample(model, cfg.prompts, seed, cfg.steps, cfg.guidance)
    rows = [{"prompt": p, "metrics": m} for p, m in zip(cfg.prompts, sampling.prompt_metrics(fp, q, cfg.prompts))]
    return rows, {**recipe_costs(model), "sample_seconds": time.perf_counter() - t0}


# ---- in-process helpers of `sim tune` (a few knob variants on calibration prompts, no store) ----

def fp_reference(cfg: StudyConfig, mode: str) -> dict:
    """{seed: SampleResult} of the unquantized model in this outlier mode."""
    model = sampling.load_model(cfg.checkpoint, mode)
    return {s: sampling.sample(model, cfg.prompts, s, cfg.steps, cfg.guidance) for s in cfg.seeds}


def run_recipe(cfg: StudyConfig, recipe, mode: str, fp_runs: dict) -> tuple:
    """Every seed of `recipe` (a name or Recipe), each on a freshly quantized model as a study cell is (a
    QuantContext carries attention records from one sampling into the next); returns (tidy rows, costs)."""
    rows, per_seed = [], []
    for seed in cfg.seeds:
        model = sampling.quantized_model(cfg.checkpoint, mode, recipe, cfg.backend, quiet=False)
        name = model.quant_context.recipe.name
        cell, costs = measure(cfg, model, seed, fp_runs[seed])
        per_seed.append(costs)
        rows += [{"recipe": name, "outliers": mode, "prompt": c["prompt"], "seed": seed, "metric": k, "value": v}
                 for c in cell for k, v in c["metrics"].items()]
    return rows, {"recipe": name, "outliers": mode, **combine_costs(per_seed)}


def combine_costs(per_seed: list) -> dict:
    """Costs of one (recipe, outliers) over its seeds: sampling seconds summed, other numbers averaged (bits per
    element can move with the sampled data: fallbacks, salient rows), the formatbook name kept."""
    out = {}
    for k, v in per_seed[0].items():
        vals = [c[k] for c in per_seed]
        if isinstance(v, str):
            out[k] = v
        else:
            out[k] = float(sum(vals)) if k == "sample_seconds" else float(sum(vals) / len(vals))
    return out


def config_dict(cfg: StudyConfig) -> dict:
    d = asdict(cfg)
    d["checkpoint_sha256"] = file_sha256(cfg.checkpoint)
    d["outlier_seed"] = sampling.OUTLIER_SEED
    return d
