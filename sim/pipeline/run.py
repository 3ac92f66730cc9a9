"""The `sim run` pipeline: one quantized VDiT on every back end, cross-checked, measured and estimated.

model (vdit checkpoint) -> quantize (quant recipe) -> back ends (full run on one, bit-level cross-check of the
others on a slice) -> quality vs FP (vdit.metrics, task accuracy) -> latency/energy/area (sim.accel, shapes of
the tiny model as sampled and of full-size Open-Sora 2.0) -> RunResult, which sim.pipeline.tables turns into
tidy tables for reports/.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .config import RunConfig


@dataclass
class RecipeRun:
    recipe: str
    outliers: bool
    metrics: dict
    task_accuracy: dict
    context_summary: dict
    layer_rows: list
    frames: np.ndarray
    per_prompt: list = field(default_factory=list)   # sim.sampling.prompt_metrics: [{metric: value}] per prompt


@dataclass
class RunResult:
    config: RunConfig
    prompts: tuple
    fp_frames: dict = field(default_factory=dict)       # outliers flag -> frames
    fp_task_accuracy: dict = field(default_factory=dict)
    recipe_runs: list = field(default_factory=list)
    checks: list = field(default_factory=list)
    skipped_backends: dict = field(default_factory=dict)  # back end -> reason
    slice_kinds: dict = field(default_factory=dict)      # call kind -> KindCoverage of the full back end's slice
    slice_from_attention: object = None                  # KindCoverage: its calls with attention-chosen salient rows
    estimates: dict = field(default_factory=dict)        # (workload, recipe) -> sim.accel Estimate
    comparison: object = None                            # sim.accel.compare.Comparison of specialized designs
    full_path_estimates: dict = field(default_factory=dict)   # (workload, recipe) -> Estimate with quantized attention
    seconds: dict = field(default_factory=dict)          # stage -> wall seconds


def _load(cfg: RunConfig, outliers: bool):
    from sim import sampling
    return sampling.load_model(cfg.checkpoint_path(), outliers)


def _quantized(cfg: RunConfig, recipe: str, backend: str, outliers: bool):
    """The run's model quantized on `backend`; "accel" is the functional datapath of the run's design
    (sim.pipeline.config.accel_backend).  The recipe's book fallback is recorded in its notes, not warned."""
    from sim import sampling
    if backend == "accel":
        from .config import accel_backend
        backend = accel_backend(cfg, recipe).name
    return sampling.quantized_model(cfg.checkpoint_path(), outliers, recipe, backend)


def _sample(cfg: RunConfig, model, prompts, steps=None, max_steps=None, always_record=False):
    """sim.sampling.sample with the run's seed and guidance (the recorder rule and outlier seed live there)."""
    from sim import sampling
    return sampling.sample(model, prompts, cfg.seed, steps or cfg.steps, cfg.guidance, max_steps=max_steps,
                           always_record=always_record)


def run_quality(cfg: RunConfig, result: RunResult, log):
    """FP reference and every recipe through sim.sampling, as `sim study` samples them: per-prompt metrics
    (RecipeRun.per_prompt) plus the batch comparison the run's report shows."""
    from sim import sampling
    from vdit import tasks
    for outliers in (False, True) if cfg.outliers else (False,):
        t0 = time.perf_counter()
        fp = _sample(cfg, _load(cfg, outliers), result.prompts)
        result.fp_frames[outliers] = fp.frames.numpy()
        result.fp_task_accuracy[outliers] = tasks.task_accuracy(fp.frames.numpy(), result.prompts)
        result.seconds[f"sample fp{' +outliers' if outliers else ''}"] = time.perf_counter() - t0
        for recipe in cfg.recipes:
            t0 = time.perf_counter()
            model = _quantized(cfg, recipe, cfg.full_backend, outliers)
            q = _sample(cfg, model, result.prompts)
            m = sampling.batch_metrics(fp, q)
            ctx = model.quant_context
            result.recipe_runs.append(RecipeRun(recipe, outliers, m, tasks.task_accuracy(q.frames.numpy(), result.prompts),
                                                ctx.summary(), ctx.layer_rows(), q.frames.numpy(),
                                                sampling.prompt_metrics(fp, q, result.prompts)))
            result.seconds[f"sample {recipe}{' +outliers' if outliers else ''} ({cfg.full_backend})"] = \
                time.perf_counter() - t0
            log(f"{recipe}{' +outliers' if outliers else ''}: PSNR {m['psnr_db']:.2f} dB, SSIM {m['ssim']:.4f}")


def run_estimates(cfg: RunConfig, result: RunResult, log):
    from sim.accel.estimate import estimate
    t0 = time.perf_counter()
    for workload in cfg.workloads:
        knobs = {"steps": cfg.steps} if workload == "tiny" else {}
        for recipe in cfg.recipes:
            est = estimate(workload, cfg.arch, recipe, **knobs)
            result.estimates[(workload, recipe)] = est
            log(f"estimate {workload} / {recipe} on {cfg.arch}: {est.latency_s:.4g} s, {est.energy_j:.4g} J, "
                f"{sum(est.area_mm2.values()):.3g} mm^2")
            if workload != "tiny" and not est.sim.trace.full_path:   # attention's share with it quantized too
                result.full_path_estimates[(workload, recipe)] = estimate(workload, cfg.arch, recipe,
                                                                          full_path=True)
    from sim.accel.compare import STUDY_DIR, compare
    result.comparison = compare(cfg.codesign_workload, cfg.arch, cfg.codesign_all, cfg.codesign_normalize,
                                study=STUDY_DIR)
    for line in result.comparison.rows.verdict:
        log(f"co-design ({cfg.codesign_workload}, equal {cfg.codesign_normalize}): {line}")
    result.seconds["estimates"] = time.perf_counter() - t0


def run_pipeline(cfg: RunConfig, log=print, quality: bool = True, crosscheck: bool = True,
                 estimates: bool = True) -> RunResult:
    import vdit
    result = RunResult(cfg, tuple(vdit.EVALUATION_SUBSET[:cfg.prompts]))
    if quality and crosscheck and cfg.workers > 1:
        _quality_beside_crosscheck(cfg, result, log)
    else:
        if quality:
            run_quality(cfg, result, log)
        if crosscheck:
            from .verify import run_crosscheck
            run_crosscheck(cfg, result, log)
    if estimates:
        run_estimates(cfg, result, log)
    return result


CROSSCHECK_FIELDS = ("checks", "skipped_backends", "slice_kinds", "slice_from_attention")


def _crosscheck_job(cfg: RunConfig) -> tuple:
    """The cross-check stage in a worker process: (its RunResult fields, stage seconds, log lines)."""
    from sim.sampling import set_threads
    from .verify import run_crosscheck
    set_threads(1)
    part, lines = RunResult(cfg, ()), []
    run_crosscheck(cfg, part, lines.append)
    return {k: getattr(part, k) for k in CROSSCHECK_FIELDS}, part.seconds, lines


def _quality_beside_crosscheck(cfg: RunConfig, result: RunResult, log):
    """Quality sampling here and the cross-check slice in a spawned process, both on one thread: the two stages
    share nothing but the read-only checkpoint, so a 2-core machine runs them side by side."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from sim.sampling import set_threads
    set_threads(1)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        job = pool.submit(_crosscheck_job, cfg)
        run_quality(cfg, result, log)
        fields_, seconds, lines = job.result()
    for k, v in fields_.items():
        setattr(result, k, v)
    result.seconds.update(seconds)
    for line in lines:
        log(line)
