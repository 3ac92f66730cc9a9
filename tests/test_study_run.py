"""The study's cells (sim/study_run.py, sim/study_cells.py) and the one sampling pipeline (sim/sampling.py) that
`sim run` and `sim study` share; the tiny model, 1 prompt and 1-2 steps keep each test to seconds."""
import json
import os

import numpy as np
import pandas as pd
import pytest

from sim import study_run
from sim.cli import main as sim_main
from sim.study import DEFAULT_CHECKPOINT, StudyConfig
from sim.study_cells import CellStore, CellStoreError

needs_ckpt = pytest.mark.skipif(not os.path.exists(DEFAULT_CHECKPOINT), reason=f"{DEFAULT_CHECKPOINT} missing")


def _cfg(**kw):
    import vdit
    base = dict(prompts=tuple(vdit.EVALUATION_SUBSET[:1]), recipes=("fp", "mxfp4"), steps=1, seeds=(0, 1),
                outliers=("none",), guidance=6.0)
    return StudyConfig(**{**base, **kw})


def _quiet(*_a, **_k):
    pass


@needs_ckpt
def test_run_quality_stage_and_a_one_cell_study_give_identical_numbers(tmp_path):
    from sim.pipeline.config import load_run_config
    from sim.pipeline.run import RunResult, run_quality
    import vdit
    # seed 1: the stress model must still be injected with OUTLIER_SEED (0), not with the sampling seed
    run_cfg = load_run_config(None, recipe="mxfp4", compare_recipes=["fp"], prompts=1, steps=1, outliers=True,
                              seed=1)
    result = RunResult(run_cfg, tuple(vdit.EVALUATION_SUBSET[:1]))
    run_quality(run_cfg, result, _quiet)
    cfg = _cfg(recipes=("mxfp4", "fp"), steps=run_cfg.steps, seeds=(run_cfg.seed,), outliers=("none", "on"),
               guidance=run_cfg.guidance)
    res = study_run.run_study(cfg, tmp_path, executor="inline", progress=False, log=_quiet)
    for rr in result.recipe_runs:
        mode = "on" if rr.outliers else "none"
        got = res.tidy[(res.tidy.recipe == rr.recipe) & (res.tidy.outliers == mode)]
        assert dict(zip(got.metric, got.value)) == rr.per_prompt[0], (rr.recipe, mode)
        assert rr.metrics["psnr_db"] == pytest.approx(rr.per_prompt[0]["psnr_db"], rel=1e-12)   # 1 prompt: batch
    fp_runs = [rr for rr in result.recipe_runs if rr.recipe == "fp"]
    assert len(fp_runs) == 2 and all(np.isposinf(rr.per_prompt[0]["psnr_db"]) for rr in fp_runs)


def _tables(res):
    return res.tidy.reset_index(drop=True), res.costs.drop(columns="sample_seconds").reset_index(drop=True)


@needs_ckpt
def test_interrupted_study_resumes_without_redoing_cells(tmp_path, monkeypatch):
    cfg = _cfg()
    whole = study_run.run_study(cfg, tmp_path / "whole", executor="inline", progress=False, log=_quiet)
    calls, real = [], study_run.recipe_task

    def interrupted_after_two(*args):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(args[1:4])
        return real(*args)

    monkeypatch.setattr(study_run, "recipe_task", interrupted_after_two)
    with pytest.raises(KeyboardInterrupt):
        study_run.run_study(cfg, tmp_path / "part", executor="inline", progress=False, log=_quiet)
    cells = tmp_path / "part" / "cells" / "recipes"
    stored = {p: p.read_bytes() for p in cells.rglob("*.json")}
    assert len(stored) == 2
    first = list(calls)
    calls.clear()
    monkeypatch.setattr(study_run, "recipe_task", lambda *a: calls.append(a[1:4]) or real(*a))
    again = study_run.run_study(cfg, tmp_path / "part", executor="inline", progress=False, log=_quiet)
    assert len(calls) == 2 and not set(calls) & set(first)               # only the two missing cells ran
    assert again.timing["cells_stored_before"] == 2 and again.timing["cells"] == 2
    assert all(p.read_bytes() == b for p, b in stored.items())          # finished cells untouched
    for a, b in zip(_tables(whole), _tables(again)):
        pd.testing.assert_frame_equal(a, b)
    calls.clear()
    study_run.run_study(cfg, tmp_path / "part", executor="inline", progress=False, log=_quiet)
    assert calls == []                                                  # a finished study recomputes nothing


@needs_ckpt
def test_stale_recipe_cell_is_recomputed_and_a_changed_fp_reference_refused(tmp_path, monkeypatch):
    cfg = _cfg(recipes=("mxfp4",), seeds=(0,))
    study_run.run_study(cfg, tmp_path, executor="inline", progress=False, log=_quiet)
    cell = tmp_path / "cells" / "recipes" / "none" / "mxfp4" / "seed0.json"
    d = json.loads(cell.read_text())
    cell.write_text(json.dumps(dict(d, recipe_sha256="0" * 64)))      # as if mxfp4's definition had changed
    res = study_run.run_study(cfg, tmp_path, executor="inline", progress=False, log=_quiet)
    assert res.timing["cells"] == 1 and json.loads(cell.read_text())["recipe_sha256"] == d["recipe_sha256"]
    fp = tmp_path / "cells" / "fp_reference" / "none" / "seed0.json"
    fp.write_text(json.dumps(dict(json.loads(fp.read_text()), latents_sha256="f" * 64)))
    cell.unlink()
    with pytest.raises(CellStoreError, match="latents_sha256"):
        study_run.run_study(cfg, tmp_path, executor="inline", progress=False, log=_quiet)


def test_store_refuses_another_config_naming_the_field(tmp_path):
    bind = {"checkpoint_sha256": "ab", "prompts": ["p"], "steps": 2, "guidance": 6.0, "backend": "numba",
            "outlier_seed": 0}
    CellStore(tmp_path, bind)
    CellStore(tmp_path, dict(bind, prompts=("p",)))                 # the same config, resumed
    for field, value in (("steps", 3), ("prompts", ["p", "q"]), ("backend", "reference"), ("guidance", 4.0),
                         ("checkpoint_sha256", "cd")):
        with pytest.raises(CellStoreError, match=f"field '{field}'"):
            CellStore(tmp_path, dict(bind, **{field: value}))
    store = CellStore(tmp_path, bind)
    bad = store.cell_path("none", "mxfp4", 0)
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    with pytest.raises(CellStoreError, match=str(bad)):
        store.cell("none", "mxfp4", 0)
    with pytest.raises(CellStoreError, match="file name"):
        store.cell_path("none", "../up", 0)


@needs_ckpt
def test_cli_refuses_a_folder_of_another_study(tmp_path, capsys):
    CellStore(tmp_path / "cells", {"checkpoint_sha256": "x", "prompts": [], "steps": 1, "guidance": 1.0,
                                    "backend": "numba", "outlier_seed": 0})
    rc = sim_main(["study", "--recipes", "fp", "--prompts", "1", "--steps", "1", "--seeds", "0", "--outliers", "none",
                   "--no-progress", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "checkpoint_sha256" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
@needs_ckpt
def test_local_pool_and_ray_give_the_inline_tables(tmp_path):
    cfg = _cfg(outliers=("none", "on"))
    ref = _tables(study_run.run_study(cfg, tmp_path / "inline", executor="inline", progress=False, log=_quiet))
    for executor in ("local", "ray"):
        if executor == "ray":
            pytest.importorskip("ray")
        got = study_run.run_study(cfg, tmp_path / executor, executor=executor, workers=2, progress=False,
                                  log=_quiet)
        for a, b in zip(ref, _tables(got)):
            pd.testing.assert_frame_equal(a, b)
