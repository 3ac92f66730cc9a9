"""Run the pipeline and write its output folder (tables, manifest, frames, PDF) with a terminal summary."""
from __future__ import annotations

import json
import sys
import time

from .config import RunConfig
from .run import run_pipeline
from .tables import all_tables, verify_summary

MAX_STRIP_VIDEOS = 2


def execute(cfg: RunConfig, out_dir, quality=True, crosscheck=True, estimates=True, json_summary=False) -> int:
    """Returns 0 when every cross-checked back end is bit-identical, 1 otherwise.  json_summary: print the
    cross-check object (tables.verify_summary) on stdout instead of the text summary.  The output folder is
    locked for the whole run (a folder another run is writing is refused here, before any work) and replaced
    whole at the end (reports.io.staged_folder)."""
    from reports.io import check_replaceable, run_lock
    with run_lock(out_dir):
        check_replaceable(out_dir)
        return _execute(cfg, out_dir, quality, crosscheck, estimates, json_summary)


def _execute(cfg, out_dir, quality, crosscheck, estimates, json_summary) -> int:
    from reports import build_manifest
    from reports.run_report import write_run

    t0 = time.perf_counter()

    def log(msg):
        print(f"[{time.perf_counter() - t0:7.1f} s] {msg}", file=sys.stderr, flush=True)

    res = run_pipeline(cfg, log, quality=quality, crosscheck=crosscheck, estimates=estimates)
    tables = all_tables(res)
    notes = _notes(res)
    manifest = build_manifest(cfg.to_dict(), seeds={"sample": cfg.seed},
                              extra={"prompts": list(res.prompts), "seconds": res.seconds,
                                     "checkpoint": str(cfg.checkpoint_path())})
    meta = {"codesign_meta": res.comparison.meta} if res.comparison is not None else {}
    verdict = verify_summary(tables["crosscheck"], tables["crosscheck_coverage"], cfg.slice_steps)
    if crosscheck:
        meta["crosscheck"] = verdict
    paths = write_run(out_dir, tables, manifest, _strips(res), notes, json_files=meta)
    if json_summary:
        print(json.dumps(verdict, indent=1))
    else:
        _print_summary(tables, paths, time.perf_counter() - t0)
    return 0 if all(c.identical for c in res.checks) else 1


def _strips(res) -> dict:
    strips = {}
    for i, prompt in enumerate(res.prompts[:MAX_STRIP_VIDEOS]):
        if False in res.fp_frames:
            strips[f"FP\n{prompt}"] = res.fp_frames[False][i]
        for rr in res.recipe_runs:
            if not rr.outliers:
                strips[f"{rr.recipe}\n{prompt}"] = rr.frames[i]
    return strips


def _full_path_notes(recipes) -> list:
    """The quality cost of quantizing the attention matmuls, from the committed full-path study (tiny model)."""
    from .tables import FULL_PATH_STUDY, full_path_quality_table
    q = full_path_quality_table(recipes)
    q = q[q.run_recipe == q.recipe]          # the --full-path what-if of a recipe the run ran
    costs = [f"{r.quantized_recipe} {r.delta_psnr_db:+.2f} dB PSNR, task accuracy {r.task_all:.2f} -> "
             f"{r.quantized_task_all:.2f}" for r in q.itertuples()]
    return [f"full_path_* columns: the same recipe with QK^T and PV quantized too (sim estimate --full-path). The "
            f"quality cost of that on the tiny model ({FULL_PATH_STUDY}, mean over its prompts and seeds): "
            + "; ".join(costs) + "."
            ] if costs else []


def _notes(res) -> list:
    cfg = res.config
    notes = [f"Full sampling ran on the {cfg.full_backend} back end; the other back ends were cross-checked bit for "
             f"bit on a slice: {cfg.slice_steps} of {cfg.steps} denoising steps, {cfg.slice_prompts} prompt(s), "
             f"every call kind present checked on each (crosscheck_coverage.csv).",
             "Latency/energy/area come from the cycle-approximate accelerator model (shapes only); the tiny workload "
             f"is scaled to this run ({cfg.steps} steps, 2 CFG rows per step), opensora2-256px to 50 steps x 3 "
             "CFG branches."]
    notes += _full_path_notes(cfg.recipes) if res.full_path_estimates else []
    for b, why in res.skipped_backends.items():
        notes.append(f"Back end {b} was not run: {why}")
    try:
        import torch
        if "triton" in cfg.check_backends and not torch.cuda.is_available():
            notes.append("No GPU: the Triton back end ran in the interpreter (TRITON_INTERPRET=1); its bits are "
                         "checked, its speed is not meaningful.")
    except ImportError:
        pass
    return notes


def _print_summary(tables, paths, seconds):
    s = tables["summary"]
    if not s.empty:
        cols = [c for c in ("workload", "recipe", "latency_s", "energy_j", "area_mm2", "psnr_db", "ssim",
                            "act_bits_per_element") if c in s.columns]
        print(s[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    c, cov = tables["crosscheck"], tables["crosscheck_coverage"]
    for _, r in c.iterrows():
        status = r["status"] + ("" if r["bit_identical"] else f": {r['first_mismatch']}")
        kinds = cov[(cov["backend"] == r["backend"]) & (cov["group"] != "feature")]
        tally = ", ".join(f"{k.kind} {k.identical}/{k.checked}" for k in kinds.itertuples())
        print(f"cross-check {r['backend']} vs {r['reference']}: {status}" + (f" ({tally})" if tally else ""))
    print(f"wrote {paths['pdf'].parent}/ (report.pdf, {len(tables)} CSVs, manifest.json) in {seconds:.0f} s")
