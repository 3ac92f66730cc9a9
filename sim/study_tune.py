"""Everything of the study that may look at CALIBRATION prompts only: learning the D=32 formatbook
(`calibrate_book`) and tuning SemanticDialect's knobs (`tune`).  The evaluation prompts are never touched here.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, replace

import numpy as np

from . import defaults
from .study import DEFAULT_CHECKPOINT, StudyConfig, file_sha256, fp_reference, run_recipe, set_threads


@dataclass(frozen=True)
class BookCalibration:
    """Settings of the dialectfp4-32 calibration: the first `prompts` calibration prompts sampled in FP with
    `seeds`, `steps`, `guidance`; inputs of the linears that `recipe` quantizes in FULL, every row_stride-th row."""
    prompts: int = 24
    steps: int = 10
    seeds: tuple = (0,)
    guidance: float = 4.0
    row_stride: int = 128
    recipe: str = defaults.RECIPE
    size: int = 32
    base: str = "dialectfp4"
    name: str = "dialectfp4-32"


def calibrate_book(settings: BookCalibration, checkpoint: str = DEFAULT_CHECKPOINT, threads: int = 1):
    """Learn the book on calibration activations; returns (Formatbook, info dict with the provenance fields)."""
    import vdit
    from quant.calibrate import collect_blocks, learn_from_blocks
    set_threads(threads)
    prompts = vdit.CALIBRATION_PROMPTS[:settings.prompts]
    model, _ = vdit.load_checkpoint(checkpoint)

    def drive(m):
        for s in settings.seeds:
            vdit.sample(m, prompts, seed=s, steps=settings.steps, guidance=settings.guidance)

    t0 = time.perf_counter()
    blocks = collect_blocks(model, settings.recipe, drive, settings.row_stride)
    t1 = time.perf_counter()
    sha = file_sha256(checkpoint)
    desc = (f"VDiT checkpoint {checkpoint} sha256 {sha[:16]}, FP sampling of the first {settings.prompts} "
            f"calibration prompts, seeds {list(settings.seeds)}, {settings.steps} steps, guidance "
            f"{settings.guidance}")
    book = learn_from_blocks(blocks, settings.name, settings.size, settings.base, description=desc)
    info = {**asdict(settings), "checkpoint": checkpoint, "checkpoint_sha256": sha, "blocks": blocks.n_blocks,
            "collect_seconds": t1 - t0, "learn_seconds": time.perf_counter() - t1}
    return book, info


def settings_source(settings: BookCalibration, info: dict) -> str:
    """Python source of the calibration settings (a dict literal for quant/learned_books.py): what the slow test
    feeds back into `calibrate_book` to reproduce the frozen book."""
    d = {**asdict(settings), "seeds": list(settings.seeds), "checkpoint_sha256": info["checkpoint_sha256"]}
    const = settings.name.upper().replace("-", "_")
    body = "".join(f"    {k!r}: {v!r},\n" for k, v in d.items())
    return (f"# {settings.name} calibration: {info['blocks']} blocks of 32 from {info['checkpoint']}; reproduce with\n"
            f"# `sim calibrate-book --out FILE` (tests/test_study.py, marked slow, checks it).\n"
            f"{const}_CALIBRATION = {{\n{body}}}\n")


# Knob grid of the tuning run: one knob changed at a time from the recipe's defaults (keeps the run small on a
# shared 2-core machine; n_anchors is left at its default).
TUNING_GRID = (
    ("decomposition.salient_fraction", (0.0, 0.05, 0.1, 0.2)),
    ("seda.n_subbooks", (2, 4, 8)),
    ("seda.partition", ("shape", "range")),
    ("seda.refresh_every", (1, 5)),
)


def with_knob(recipe, knob: str, value):
    """The recipe with one dotted knob ("decomposition.salient_fraction", "seda.n_subbooks", ...) changed."""
    part, attr = knob.split(".")
    new = replace(getattr(recipe, part), **{attr: value})
    return replace(recipe, **{part: new}, name=f"{recipe.name}[{knob}={value}]")


def tuning_variants(base, grid=TUNING_GRID) -> list:
    """[(knob, value, recipe)]: the base recipe once, then every grid value that differs from the default."""
    out = [("default", "", base)]
    for knob, values in grid:
        part, attr = knob.split(".")
        current = getattr(getattr(base, part), attr)
        out += [(knob, v, with_knob(base, knob, v)) for v in values if v != current]
    return out


def tune(cfg: StudyConfig, base: str = defaults.RECIPE, grid=TUNING_GRID, log=print):
    """Mean PSNR / SSIM / temporal PSNR vs FP of each knob variant on cfg.prompts (calibration prompts)."""
    import pandas as pd
    import quant
    import vdit
    bad = sorted(set(cfg.prompts) - set(vdit.CALIBRATION_PROMPTS))
    if bad:
        raise ValueError(f"tuning must use calibration prompts only; not calibration prompts: {bad}")
    set_threads(cfg.threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r0 = quant.recipe(base).resolved()
    rows = []
    for mode in cfg.outliers:
        fp_runs = fp_reference(cfg, mode)
        for knob, value, r in tuning_variants(r0, grid):
            recs, costs = run_recipe(cfg, r, mode, fp_runs)
            vals = {k: float(np.mean([x["value"] for x in recs if x["metric"] == k]))
                    for k in ("psnr_db", "ssim", "tdiff_psnr_db", "latent_nmse")}
            rows.append({"outliers": mode, "knob": knob, "value": value, "calibration_prompts": len(cfg.prompts),
                         "steps": cfg.steps, "seeds": " ".join(map(str, cfg.seeds)), "guidance": cfg.guidance,
                         **vals,
                         "act_bits_with_residual": costs["act_bits_with_residual"],
                         "extra_mac_fraction": costs["extra_mac_fraction"],
                         "sample_seconds": costs["sample_seconds"]})
            log(f"[tune] outliers={mode} {knob}={value}: PSNR {vals['psnr_db']:.3f} SSIM {vals['ssim']:.4f}")
    return pd.DataFrame(rows)
