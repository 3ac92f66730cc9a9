"""`sim run` / `sim verify` / `sim report`: the pipeline end to end on a small slice, its cross-check machinery,
and bad input (one clear line, exit 2, nothing written)."""
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from sim.pipeline.config import RunConfigError, load_run_config, parse_run_config
from sim.pipeline.crosscheck import LayerTap, count_matching, describe_difference, first_mismatch


class _Picks:
    """A stand-in router: only its picks matter to the comparison."""
    def __init__(self, picks):
        self.picks = frozenset(picks)

    def enter(self, key, mod):
        pass

    def exit(self, key, mod):
        pass


def _tap(outputs, picks=None):
    tap = LayerTap(router=None if picks is None else _Picks(picks))
    mod = SimpleNamespace(tap_kind="linear")
    for name, arr in outputs:
        tap._pre_hook(name)(mod, ())
        tap._hook(name)(mod, None, __import__("torch").from_numpy(arr))
    return tap


def test_first_mismatch_names_layer_call_and_element():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    b = a.copy()
    b[2, 1] = np.nextafter(b[2, 1], np.float32(100))      # one ulp apart
    ref = _tap([("double_blocks.0.img_attn.q_proj", a), ("single_blocks.1.linear2", a)])
    other = _tap([("double_blocks.0.img_attn.q_proj", a), ("single_blocks.1.linear2", b)])
    key = first_mismatch(ref, other)
    assert key == ("single_blocks.1.linear2", 0)
    m = describe_difference("triton", key, a, b)
    assert m.element == (2, 1) and m.block == "single_blocks.1" and m.ref_bits != m.other_bits
    assert first_mismatch(ref, _tap([("double_blocks.0.img_attn.q_proj", a), ("single_blocks.1.linear2", a)])) is None


def test_picked_run_is_compared_on_its_picks_only():
    a, b = np.ones((2, 2), np.float32), np.zeros((2, 2), np.float32)
    ref = _tap([("l", a), ("l", a), ("l", a)])
    part = _tap([("l", a), ("l", b), ("l", a)], picks={("l", 0), ("l", 2)})
    assert first_mismatch(ref, part) is None and count_matching(ref, part) == 2
    assert first_mismatch(ref, _tap([("l", a), ("l", b), ("l", a)], picks={("l", 1)})) == ("l", 1)
    missing = _tap([("l", a)])
    assert first_mismatch(ref, missing) == ("l", 1)     # a run that lacks calls is a mismatch
    assert first_mismatch(ref, _tap([("l", a)], picks={("l", 2)})) == ("l", 2)   # so is a picked call not reached


@pytest.mark.parametrize("patch, field", [
    ({"steps": 0}, "steps"), ({"recipe": "bogus"}, "recipe"), ({"bogus": 1}, "bogus"),
    ({"check_backends": ["reference", "cuda"]}, "check_backends"), ({"arch": "nonexistent"}, "arch"),
    ({"workloads": ["opensora3"]}, "workloads"), ({"outliers": "yes"}, "outliers"),
])
def test_bad_run_config_names_file_and_field(patch, field):
    with pytest.raises(RunConfigError) as err:
        parse_run_config(patch, "configs/run/x.yaml")
    assert "configs/run/x.yaml" in str(err.value) and f"'{field}'" in str(err.value)


def test_cli_bad_config_exits_2_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nsteps: -3\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "sim", "run", str(bad), "--out", str(out)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "steps" in r.stderr and str(bad) in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()


def test_run_pipeline_small_slice_end_to_end(tmp_path):
    from sim.pipeline.output import execute
    cfg = load_run_config(None, prompts=1, steps=2, compare_recipes=["mxfp4"], check_backends=["reference"],
                          workloads=["tiny"])
    assert execute(cfg, tmp_path) == 0
    cc = pd.read_csv(tmp_path / "crosscheck.csv")
    assert cc["bit_identical"].tolist() == [True] and cc["layer_calls"].iloc[0] > 0
    q = pd.read_csv(tmp_path / "quality.csv")
    psnr = q[(q.metric == "psnr_db")].set_index("recipe")["value"]
    assert set(psnr.index) == {"semanticdialect", "mxfp4"} and np.isfinite(psnr).all()
    s = pd.read_csv(tmp_path / "summary.csv")
    assert (s["latency_s"] > 0).all() and (s["energy_j"] > 0).all()
    for name in ("report.pdf", "frames.png", "manifest.json", "latency_per_op.csv", "energy_breakdown.csv",
                 "dialect_usage.csv"):
        assert (tmp_path / name).stat().st_size > 0
    pdf = (tmp_path / "report.pdf").read_bytes()
    (tmp_path / "report.pdf").unlink()
    r = subprocess.run([sys.executable, "-m", "sim", "report", str(tmp_path)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and (tmp_path / "report.pdf").read_bytes()[:5] == pdf[:5] == b"%PDF-"


def test_crosscheck_beside_quality_gives_the_sequential_results():
    """workers=2 runs the cross-check slice in a spawned process beside the sampling; every number it reports must
    equal the one-process run's."""
    from sim.pipeline.run import run_pipeline
    runs = {}
    for w in (1, 2):
        cfg = load_run_config(None, prompts=1, steps=1, check_backends=["reference"], workloads=["tiny"], workers=w)
        runs[w] = run_pipeline(cfg, log=lambda *_: None, estimates=False)
    one, two = runs[1], runs[2]
    assert [c.__dict__ for c in one.checks] == [c.__dict__ for c in two.checks]
    assert one.checks and one.checks[0].matching_calls > 0 and one.checks[0].identical
    assert one.slice_kinds == two.slice_kinds and one.slice_from_attention == two.slice_from_attention
    for a, b in zip(one.recipe_runs, two.recipe_runs):
        assert a.metrics == b.metrics and a.frames.tobytes() == b.frames.tobytes()
