"""The quality study command (sim study) and the calibrated D=32 formatbook (quant/calibrate.py,
quant/learned_books.py).  The smoke test runs the real pipeline on 1 prompt and 2 steps."""
import os

import numpy as np
import pandas as pd
import pytest

import quant
from quant import learned_books
from quant.calibrate import collect_blocks, learn_from_blocks, quantized_linears
from quant.formatbooks import formatbook, formatbook_names
from quant.learn import calibration_error
from sim.cli import main as sim_main
from sim.study import DEFAULT_CHECKPOINT, file_sha256
from sim.study_tune import BookCalibration, calibrate_book, tuning_variants

HAVE_CKPT = os.path.exists(DEFAULT_CHECKPOINT)
needs_ckpt = pytest.mark.skipif(not HAVE_CKPT, reason=f"{DEFAULT_CHECKPOINT} missing (train it: python -m vdit.train)")
TIDY_COLUMNS = ["recipe", "outliers", "prompt", "seed", "metric", "value"]


@needs_ckpt
def test_study_smoke(tmp_path, capsys):
    out = tmp_path / "study"
    rc = sim_main(["study", "--recipes", "fp,nvfp4", "--prompts", "1", "--steps", "2", "--outliers", "none",
                   "--seeds", "0", "--workers", "2", "--out", str(out)])
    assert rc == 0
    tidy = pd.read_csv(out / "study_tidy.csv")
    assert list(tidy.columns) == TIDY_COLUMNS
    assert set(tidy.recipe) == {"fp", "nvfp4"} and set(tidy.outliers) == {"none"}
    psnr = tidy[tidy.metric == "psnr_db"].set_index("recipe")["value"]
    assert np.isposinf(psnr["fp"])                      # recipe fp reproduces the FP reference bit for bit
    assert np.isfinite(psnr["nvfp4"]) and 0 < psnr["nvfp4"] < 100
    costs = pd.read_csv(out / "study_costs.csv").set_index("recipe")
    assert costs.loc["nvfp4", "act_bits_per_element"] == pytest.approx(4.5)
    assert costs.loc["nvfp4", "extra_mac_fraction"] == 0
    summary = pd.read_csv(out / "summary.csv")
    for col in ("psnr_db", "ssim", "tdiff_psnr_db", "act_bits_with_residual", "weight_bits_per_element",
                "extra_mac_fraction"):
        assert col in summary.columns
    md = (out / "summary.md").read_text()
    assert "nvfp4" in md and f"--out {out}`" in md and "--seeds 0 " in md     # the command that reproduces it
    assert len(list((out / "cells" / "recipes").rglob("*.json"))) == 2
    # a second partial run with another recipe, merged with the first: same tables as one run of both
    assert sim_main(["study", "--recipes", "w4a16", "--prompts", "1", "--steps", "2", "--outliers", "none",
                     "--seeds", "0", "--executor", "inline", "--out", str(tmp_path / "part")]) == 0
    assert sim_main(["study-merge", str(out), str(tmp_path / "part"), "--out", str(tmp_path / "merged")]) == 0
    merged = pd.read_csv(tmp_path / "merged" / "summary.csv")
    assert list(merged.recipe) == ["fp", "nvfp4", "w4a16"]
    assert merged.set_index("recipe").loc["nvfp4", "psnr_db"] == pytest.approx(psnr["nvfp4"])
    # the merged folder holds both runs' cells and resumes as one study: nothing is sampled again
    assert len(list((tmp_path / "merged" / "cells" / "recipes").rglob("*.json"))) == 3
    capsys.readouterr()
    assert sim_main(["study", "--recipes", "fp,nvfp4,w4a16", "--prompts", "1", "--steps", "2", "--outliers", "none",
                     "--seeds", "0", "--executor", "inline", "--no-progress", "--out", str(tmp_path / "merged")]) == 0
    captured = capsys.readouterr()
    assert "3 of 3 cells already stored" in captured.out + captured.err
    assert pd.read_csv(tmp_path / "merged" / "summary.csv").equals(merged)
    assert sim_main(["study", "--recipes", "w4a16", "--prompts", "1", "--steps", "3", "--outliers", "none",
                     "--seeds", "0", "--executor", "inline", "--out", str(tmp_path / "other")]) == 0
    # the old spelling still works (with a deprecation note) and refuses different settings (cells included)
    assert sim_main(["study", "--merge", f"{out},{tmp_path / 'other'}", "--out", str(tmp_path / "bad")]) == 2


def test_study_rejects_unknown_names(tmp_path, capsys):
    assert sim_main(["study", "--recipes", "fp,nope", "--prompts", "1", "--out", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
    assert sim_main(["study", "--outliers", "sometimes", "--prompts", "1", "--out", str(tmp_path)]) == 2


def test_registered_d32_book():
    assert "dialectfp4-32" in formatbook_names(), "dialectfp4-32 is not frozen into quant/learned_books.py"
    book, base = formatbook("dialectfp4-32"), formatbook("dialectfp4")
    mags = [tuple(int(h) for h in row) for row in book.magnitudes]
    assert book.size == 32 and len(set(mags)) == 32
    assert mags[:16] == [tuple(int(h) for h in row) for row in base.magnitudes]   # base ids kept
    settings = learned_books.DIALECTFP4_32_CALIBRATION
    assert settings["checkpoint_sha256"][:16] in book.provenance
    assert f"first {settings['prompts']} calibration prompts" in book.provenance
    # the semanticdialect recipes now resolve to the D=32 book, without a fallback
    assert quant.recipe("semanticdialect").resolved().activation.fmt == "dialectfp4-32"


@needs_ckpt
def test_calibration_hooks_and_learning_on_a_slice():
    import vdit
    model, _ = vdit.load_checkpoint(DEFAULT_CHECKPOINT)
    names = quantized_linears(model, "semanticdialect")
    assert names and all(quant.recipe("semanticdialect").action_for(n).value == "full" for n in names)
    drive = lambda m: vdit.sample(m, vdit.CALIBRATION_PROMPTS[:1], seed=0, steps=1)
    blocks = collect_blocks(model, "semanticdialect", drive, row_stride=256)
    assert blocks.calls == len(names) and blocks.blocks.shape[1] == 32 and blocks.n_blocks > 100
    assert all(not m._forward_pre_hooks for m in model.modules())             # hooks removed afterwards
    book = learn_from_blocks(blocks, "slice-book", size=20)
    assert book.size == 20
    assert calibration_error(blocks.blocks, book) < calibration_error(blocks.blocks, "dialectfp4")


def test_tuning_variants_change_one_knob():
    base = quant.recipe("semanticdialect")
    variants = tuning_variants(base)
    assert variants[0][2] is base
    names = [r.name for _, _, r in variants]
    assert len(set(names)) == len(names)
    for knob, value, r in variants[1:]:
        part, attr = knob.split(".")
        assert getattr(getattr(r, part), attr) == value
        assert r.weight == base.weight and r.activation == base.activation


@pytest.mark.slow
@needs_ckpt
def test_registered_book_is_reproduced_by_calibration():
    """Re-runs the recorded calibration (minutes) and compares every dialect of the frozen book."""
    settings = dict(learned_books.DIALECTFP4_32_CALIBRATION)
    sha = settings.pop("checkpoint_sha256")
    assert file_sha256(DEFAULT_CHECKPOINT) == sha, "the checkpoint changed: re-calibrate dialectfp4-32"
    settings["seeds"] = tuple(settings["seeds"])
    book, _ = calibrate_book(BookCalibration(**settings))
    assert np.array_equal(book.magnitudes, formatbook("dialectfp4-32").magnitudes)


def _synthetic_tidy():
    rows = []
    psnr = {"fp": [np.inf, np.inf], "nvfp4": [20.0, 22.0], "w8a8": [40.0, 40.0], "semanticdialect": [25.0, 21.0],
            "semanticdialect-d16": [24.0, 20.0]}
    for r, vals in psnr.items():
        for i, v in enumerate(vals):
            for metric, val in (("psnr_db", v), ("ssim", 0.5 + v / 100 if np.isfinite(v) else 1.0),
                                ("tdiff_psnr_db", v + 1), ("flicker_delta", -0.01), ("warp_error_delta", 0.0)):
                rows.append({"recipe": r, "outliers": "none", "prompt": f"p{i}", "seed": 0, "metric": metric,
                             "value": val})
    costs = pd.DataFrame([{"recipe": r, "outliers": "none", "formatbook": "", "act_bits_per_element": 4.0,
                           "act_bits_with_residual": 4.0 + (r == "semanticdialect") * 0.25,
                           "weight_bits_per_element": 4.0, "extra_mac_fraction": 0.0, "sample_seconds": 1.0}
                          for r in psnr])
    return pd.DataFrame(rows), costs


def test_summary_margins_gap_and_features():
    from sim import study_summary as ss
    tidy, costs = _synthetic_tidy()
    summary = ss.summary_table(tidy, costs)
    s = summary.set_index("recipe")
    assert s.loc["nvfp4", "psnr_db"] == 21.0 and s.loc["semanticdialect", "abs_flicker_delta"] == 0.01
    margins = ss.margins_table(tidy).set_index("baseline")
    assert "fp" not in margins.index
    assert margins.loc["nvfp4", "margin_psnr_db"] == pytest.approx(2.0)         # (5 + -1) / 2
    assert margins.loc["nvfp4", "win_rate_psnr_db"] == 0.5                      # wins p0, loses p1
    assert margins.loc["semanticdialect-d16", "win_rate_psnr_db"] == 1.0
    gap = ss.gap_closed(summary).iloc[0]
    assert gap["fraction_closed"] == pytest.approx((23.0 - 21.0) / (40.0 - 21.0))
    feat = ss.feature_table(summary).set_index("ablation")
    assert list(feat.index) == ["semanticdialect-d16"]                          # only ablations that ran
    assert feat.loc["semanticdialect-d16", "delta_psnr_db"] == pytest.approx(1.0)
    assert feat.loc["semanticdialect-d16", "delta_act_bits_with_residual"] == pytest.approx(0.25)
    assert "| semanticdialect |" in ss.markdown(summary, ss.margins_table(tidy), ss.gap_closed(summary), "# t")


def test_merge_stores_refuses_two_different_records_of_one_cell(tmp_path):
    import json
    from sim.study_cells import CellStoreError, merge_stores
    for name, psnr in (("a", 20.0), ("b", 21.0)):
        cells = tmp_path / name / "cells"
        (cells / "recipes" / "none" / "mxfp4").mkdir(parents=True)
        (cells / "study.json").write_text(json.dumps({"format": "sim-study-cells/1", "binding": {"steps": 2}}))
        (cells / "recipes" / "none" / "mxfp4" / "seed0.json").write_text(json.dumps({"psnr": psnr, "seconds": 1}))
    with pytest.raises(CellStoreError, match="another record"):
        merge_stores([tmp_path / "a" / "cells", tmp_path / "b" / "cells"], tmp_path / "m")
    # the same record with another run time merges
    (tmp_path / "b" / "cells" / "recipes" / "none" / "mxfp4" / "seed0.json").write_text(
        json.dumps({"psnr": 20.0, "seconds": 7}))
    assert merge_stores([tmp_path / "a" / "cells", tmp_path / "b" / "cells"], tmp_path / "m") == 2
