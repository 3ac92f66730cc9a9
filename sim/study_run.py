"""Run a quality study on the sweep executor (sim/sweep/executor.py): FP references first, one task per
(outlier mode, seed); as each arrives, the recipe cells of that (mode, seed) are submitted with it.  The driver
stores every finished cell (sim/study_cells.py) and skips cells already stored, so an interrupted study resumes
where it stopped; the tables are assembled from the stored cells only, in the config's order, so a resumed run
gives the same tables as an uninterrupted one.

FP references are recomputed on a resume (when a cell still needs them) rather than stored as arrays: they are
a few MB of velocities per (mode, seed) that would otherwise land in the committed results folder, and their
cost is one FP sampling per (mode, seed), a small share of a study (see `timing`).  The stored record keeps the
sha256 of their latents, and a recomputed reference must match it.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .study import StudyConfig, StudyResult, binding, combine_costs, fp_task, recipe_task
from .study_cells import CellStore, recipe_sha256
from .sweep.executor import open_pool


def run_study(cfg: StudyConfig, out, executor: str = "local", workers: int = 1, address: str | None = None,
              progress: bool = True, log=print) -> StudyResult:
    """Compute the cells of `cfg` not yet stored under `out`/cells and return the study's tables."""
    t0 = time.perf_counter()
    store = CellStore(Path(out) / "cells", binding(cfg))
    shas = {r: recipe_sha256(r) for r in cfg.recipes}
    todo = [(m, r, s) for m in cfg.outliers for r in cfg.recipes for s in cfg.seeds
            if store.cell(m, r, s, shas[r]) is None]
    refs = list(dict.fromkeys((m, s) for m, _, s in todo))
    inject = _injection_refs(cfg, store)
    refs += [ref for ref in inject if ref not in refs]
    n_cells = len(cfg.outliers) * len(cfg.recipes) * len(cfg.seeds)
    log(f"[study] {n_cells - len(todo)} of {n_cells} cells already stored; computing {len(refs)} FP references "
        f"and {len(todo)} cells ({executor}, {workers} worker(s))")
    timing = {"fp_references": len(refs), "cells": len(todo), "cells_stored_before": n_cells - len(todo),
              "fp_seconds": 0.0, "cell_seconds": 0.0}
    _execute(cfg, store, refs, todo, shas, inject, timing, (executor, workers, address), progress, log)
    timing["wall_seconds"] = time.perf_counter() - t0
    res = assemble(cfg, store)
    res.timing = timing
    return res


def _injection_refs(cfg, store) -> list:
    """The FP references the fp_injection note needs, when both modes are studied and it is not stored yet."""
    if set(cfg.outliers) != {"none", "on"} or store.injection(cfg.seeds[0]) is not None:
        return []
    return [("none", cfg.seeds[0]), ("on", cfg.seeds[0])]


def _execute(cfg, store, refs, todo, shas, inject, timing, where, progress, log):
    from tqdm import tqdm
    executor, workers, address = where
    kept = {}                                       # the FP frames the injection note compares
    from quant.recipes import recipe
    from .sampling import work_rank
    rank = {r: work_rank(recipe(r)) for r in {t[1] for t in todo}}   # longest cells first (stable otherwise)
    bar = tqdm(total=len(refs) + len(todo), desc="study", unit="cell", disable=not progress, file=sys.stderr,
               mininterval=0.5)
    try:
        # forkserver: a driver that sampled before (tests, a notebook) runs OpenMP threads, which a fork would copy
        with open_pool(executor, workers, address, cpus_per_task=cfg.threads, start_method="forkserver") as pool:
            for mode, seed in refs:
                pool.submit(("fp", mode, seed), fp_task, cfg, mode, seed)
            for key, res in pool.completed():
                if key[0] == "fp":
                    fp, record = res
                    store.put_fp(record)
                    timing["fp_seconds"] += record["seconds"]
                    if key[1:] in inject:
                        kept[key[1]] = fp.frames
                        _note_injection(store, cfg.seeds[0], kept)
                    shared = pool.share(fp)
                    for m, r, s in sorted((t for t in todo if (t[0], t[2]) == key[1:]), key=lambda t: -rank[t[1]]):
                        pool.submit(("cell", m, r, s), recipe_task, cfg, m, r, s, shas[r], shared)
                else:
                    store.put_cell(res)
                    timing["cell_seconds"] += res["seconds"]
                    psnr = [p["metrics"]["psnr_db"] for p in res["per_prompt"]]
                    bar.write(f"[study] outliers={res['outliers']} {res['recipe']} seed {res['seed']}: mean PSNR "
                              f"{sum(psnr) / len(psnr):.2f} dB, {res['seconds']:.1f} s", file=sys.stderr)
                bar.update(1)
    finally:
        bar.close()


def _note_injection(store, seed, kept):
    if {"none", "on"} <= set(kept):
        from vdit.metrics import psnr_from_mse
        mse = float(((kept["none"] - kept["on"]).double() ** 2).mean())
        store.put_injection(seed, float(psnr_from_mse(mse)))


def assemble(cfg: StudyConfig, store: CellStore) -> StudyResult:
    """The tidy and cost tables of `cfg` from the stored cells (every cell must be stored), in config order."""
    import pandas as pd
    rows, costs, notes = [], [], []
    for mode in cfg.outliers:
        for rname in cfg.recipes:
            per_seed = []
            for seed in cfg.seeds:
                cell = store.cell(mode, rname, seed)
                if cell is None:
                    raise RuntimeError(f"{store.cell_path(mode, rname, seed)}: cell missing after the run")
                per_seed.append(cell["costs"])
                notes += [w for w in cell["warnings"] if w not in notes]
                rows += [{"recipe": rname, "outliers": mode, "prompt": p["prompt"], "seed": seed, "metric": k,
                          "value": v} for p in cell["per_prompt"] for k, v in p["metrics"].items()]
            costs.append({"recipe": rname, "outliers": mode, **combine_costs(per_seed)})
    inj = store.injection(cfg.seeds[0]) if set(cfg.outliers) == {"none", "on"} else None
    if inj is not None:            # function preservation of the stress mode, measured
        notes.append(f"fp_injection_psnr_db: FP with outliers injected vs plain FP, seed {cfg.seeds[0]}: "
                     f"{inj['psnr_db']:.2f} dB")
    return StudyResult(pd.DataFrame(rows), pd.DataFrame(costs), notes)
