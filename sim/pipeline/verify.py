"""The cross-check stage of `sim run` / `sim verify`: the slice (slice_steps denoising steps of slice_prompts
prompts) runs once on the full back end, tapped; every other back end runs it too and is compared call by call and
kind by kind (sim/pipeline/crosscheck.py).  A back end that runs in an interpreter (Triton without a GPU) checks
`interpreter_layer_calls` calls picked by kind, each with the reference run's exact input (coverage.Router)."""
from __future__ import annotations

import time

from .config import RunConfig
from . import accum_stage  # noqa: F401  (registers the accumulation-order and rounding-tie stages)
from .coverage import Router, pick_by_kind, picks_summary, run_synthetic_stages, runs_reference_for
from .crosscheck import (CheckResult, KindCoverage, LayerTap, compared_keys, count_matching, describe_difference,
                         first_mismatch, kind_coverage, latents_equal)
from .run import RunResult, _load, _quantized, _sample


def cfg_slice_prompts(cfg: RunConfig) -> tuple:
    import vdit
    return tuple(vdit.EVALUATION_SUBSET[:cfg.slice_prompts])


def tapped_slice(cfg: RunConfig, backend: str, keep=None, picks=None, full_backend=None):
    """(tap, latents) of the slice on one back end; with `picks`, the model is quantized on `full_backend` and only
    the picked calls run on `backend`."""
    if picks is None:
        model, router = _quantized(cfg, cfg.recipe, backend, False), None
    else:
        model = _quantized(cfg, cfg.recipe, full_backend, False)
        router = Router(picks, _load(cfg, False), cfg.recipe, backend)
    tap = LayerTap(keep=keep, router=router).attach(model)
    try:
        # the context is the recorder on every recipe here: the tap tags each call with the denoising step the
        # context learns as recorder (both sides of the comparison sample the same way)
        out = _sample(cfg, model, cfg_slice_prompts(cfg), max_steps=cfg.slice_steps, always_record=True)
    finally:
        tap.detach()
    return tap, out.latents.numpy()


def interpreter_limit(cfg: RunConfig, backend: str):
    """Call budget for a back end that runs in an interpreter (Triton without a GPU), else None."""
    if backend != "triton":
        return None
    import torch
    return None if torch.cuda.is_available() else cfg.interpreter_layer_calls


def backend_available(name: str):
    """None when usable, else the reason (e.g. the optional dependency that is missing)."""
    import quant
    try:
        quant.get_backend(name)
    except ModuleNotFoundError as exc:
        return str(exc)
    return None


def slice_scope(cfg: RunConfig) -> str:
    last = cfg.slice_steps - 1
    steps = "step 0" if last == 0 else f"steps 0-{last}"
    return (f"{cfg.slice_steps} of {cfg.steps} denoising steps ({steps}), {cfg.slice_prompts} prompt(s), "
            f"recipe {cfg.recipe}")


def check_backend(cfg: RunConfig, be: str, ref_tap: LayerTap, ref_lat) -> CheckResult:
    """Run the slice on `be` and compare it with the full back end's tapped run."""
    limit = interpreter_limit(cfg, be)
    picks = None if limit is None else pick_by_kind(ref_tap, limit)
    tap, lat = tapped_slice(cfg, be, picks=picks, full_backend=cfg.full_backend)
    key = first_mismatch(ref_tap, tap)
    mismatch = None
    if key is not None:    # rerun both sides keeping that one output: reproduced, or non-deterministic
        kept_ref, _ = tapped_slice(cfg, cfg.full_backend, keep=key)
        kept_be, _ = tapped_slice(cfg, be, keep=key, picks=picks, full_backend=cfg.full_backend)
        mismatch = describe_difference(be, key, kept_ref.kept, kept_be.kept,
                                       kind=ref_tap.kinds.get(key) or tap.kinds.get(key, ""),
                                       first_digests=(ref_tap.digests.get(key), tap.digests.get(key)))
    coverage, from_attn = kind_coverage(ref_tap, tap)
    synthetic, notes = run_synthetic_stages(be, cfg.full_backend)
    coverage.update({k: KindCoverage(c, i) for k, (c, i) in synthetic.items()})
    scope = slice_scope(cfg)
    if picks is not None:
        scope = (f"{len(picks)} calls picked by kind ({picks_summary(picks, ref_tap)}; each kind spread over "
                 f"its steps, fewest MACs first) ran on {be} (interpreter) with the {cfg.full_backend} run's inputs, "
                 f"the other calls on {cfg.full_backend}: {scope}")
    return CheckResult(be, cfg.full_backend, len(compared_keys(ref_tap, tap)),
                       count_matching(ref_tap, tap), latents_equal(ref_lat, lat), mismatch, scope, coverage,
                       from_attn, runs_reference_for(cfg.recipe, be), notes)


def run_crosscheck(cfg: RunConfig, result: RunResult, log, backends=None):
    t0 = time.perf_counter()
    ref_tap, ref_lat = tapped_slice(cfg, cfg.full_backend)
    result.slice_kinds, result.slice_from_attention = kind_coverage(ref_tap, ref_tap)
    result.seconds[f"slice {cfg.full_backend}"] = time.perf_counter() - t0
    for be in backends or cfg.check_backends:
        if be == cfg.full_backend:
            continue
        reason = backend_available(be)
        if reason:
            result.skipped_backends[be] = reason
            log(f"cross-check {be}: skipped ({reason})")
            continue
        t0 = time.perf_counter()
        try:
            check = check_backend(cfg, be, ref_tap, ref_lat)
        except Exception as exc:   # a back end that fails the slice is a finding to report, not a crash
            check = CheckResult(be, cfg.full_backend, 0, 0, None, None, slice_scope(cfg),
                                runs_reference_for=runs_reference_for(cfg.recipe, be),
                                error=f"{type(exc).__name__}: {exc}")
        result.checks.append(check)
        result.seconds[f"slice {be}"] = time.perf_counter() - t0
        kinds = ", ".join(f"{k} {c.identical}/{c.checked}" for k, c in check.coverage.items())
        log(f"cross-check {be} vs {cfg.full_backend}: {check.status}"
            + (f": {check.describe()}" if not check.identical else "") + f" ({kinds})")
