"""`sim verify` coverage: call kinds on the default slice (SeDA and attention-guided decomposition really run),
calls picked by kind and routed to a slow back end, which parts a back end hands to the NumPy reference, and
robust reporting of mismatches (an injected non-deterministic back end, a deterministic one, a missing one)."""
import importlib
import json

import numpy as np
import pandas as pd
import pytest

import quant
from sim.pipeline import coverage, verify
from sim.pipeline.config import load_run_config
from sim.pipeline.run import RunResult

FLAKY = "flaky-test"
quant.register_backend(FLAKY, __name__)    # this module is the injected back end (functions below)
_flaky = {"mode": "off", "calls": 0, "flip_at": 3}


# ---- the injected back end: numba, with one low bit flipped on some GEMM outputs ----------------------------
def select_encode(selector, xb, e, book, allowed=None, **knobs):
    return quant.get_backend("numba").select_encode(selector, xb, e, book, allowed=allowed, **knobs)


def qgemm(qx, qw, bias=None, residual=None, residual_rows=None):
    y = quant.get_backend("numba").qgemm(qx, qw, bias=bias, residual=residual, residual_rows=residual_rows)
    _flaky["calls"] += 1
    if _flaky["mode"] == "raise":
        raise RuntimeError("injected back end failure")
    once = _flaky["mode"] == "once" and _flaky["calls"] == _flaky["flip_at"]      # first run only
    always = _flaky["mode"] == "always" and y.shape[1] == 512                        # every run, same call
    if once or always:
        y = y.copy()
        y.view(np.int32)[0, 0] ^= 1
    return y


@pytest.fixture(scope="module")
def default_slice():
    cfg = load_run_config(None)
    tap, latents = verify.tapped_slice(cfg, cfg.full_backend)
    return cfg, tap, latents


def _per_step(tap):
    out = {}
    for key in tap.order:
        step = out.setdefault(tap.steps[key], {})
        step[tap.kinds[key]] = step.get(tap.kinds[key], 0) + 1
    return out


def test_default_slice_exercises_seda_and_attention_guided_decomposition(default_slice):
    cfg, tap, _ = default_slice
    assert cfg.slice_steps >= 3 and cfg.recipe == "semanticdialect"
    # step 0: SeDA has no token groups yet (its first refresh records them) and salient rows use row norms
    per_step = _per_step(tap)
    assert per_step[0] == {"linear_decomposed": 40, "weight_only": 8}
    assert per_step[1] == per_step[2] == {"linear_seda": 40, "weight_only": 8}
    seda = {k for k in tap.order if tap.kinds[k] == "linear_seda"}
    assert tap.from_attention == seda and all(tap.steps[k] >= 1 for k in seda)


def test_kinds_follow_the_recipe_not_the_layer_name():
    cfg = load_run_config(None, recipe="mxfp4", slice_steps=2)
    tap, _ = verify.tapped_slice(cfg, "numba")
    assert set(tap.kinds.values()) == {"linear", "weight_only"} and not tap.from_attention


def test_pick_by_kind_spreads_over_steps_and_takes_cheap_calls(default_slice):
    _, tap, _ = default_slice
    picks = coverage.pick_by_kind(tap, 9)
    kinds = [tap.kinds[p] for p in picks]
    assert {k: kinds.count(k) for k in set(kinds)} == {"linear_decomposed": 3, "linear_seda": 3, "weight_only": 3}
    assert {tap.steps[p] for p in picks if tap.kinds[p] == "linear_seda"} == {1, 2}
    assert {tap.steps[p] for p in picks if tap.kinds[p] == "weight_only"} == {0, 1, 2}
    cheapest = min(tap.macs[k] for k in tap.order if tap.kinds[k] == "linear_seda")
    assert all(tap.macs[p] == cheapest for p in picks if tap.kinds[p] == "linear_seda")
    assert len({p[0] for p in picks}) == len(picks)                       # distinct layers
    one_each = coverage.pick_by_kind(tap, 1)                              # budget grows to one call per kind
    assert sorted(tap.kinds[p] for p in one_each) == ["linear_decomposed", "linear_seda", "weight_only"]


def test_router_runs_exactly_the_picked_calls_on_the_other_back_end(default_slice, monkeypatch):
    cfg, ref, latents = default_slice
    picks = coverage.pick_by_kind(ref, 4)
    ran = []
    real = quant.get_backend("reference").qgemm
    monkeypatch.setattr(importlib.import_module("quant.reference_backend"), "qgemm",
                        lambda qx, qw, **kw: ran.append(qx.rows) or real(qx, qw, **kw))
    tap, lat = verify.tapped_slice(cfg, "reference", picks=picks, full_backend=cfg.full_backend)
    assert len(ran) == sum(ref.kinds[p] != "weight_only" for p in picks) > 0
    assert [tap.digests[p] for p in picks] == [ref.digests[p] for p in picks]
    assert lat.tobytes() == latents.tobytes()


@pytest.mark.parametrize("backend, recipe_name", [(b, r) for b in ("numba", "accel", "triton")
                                                  for r in ("nvfp4", "int4_g32", "mxfp4", "semanticdialect")])
def test_runs_reference_for_matches_what_the_back_end_does(backend, recipe_name, monkeypatch):
    """Each claim (and each absence of one) is checked by spying on the reference paths while quantizing."""
    from quant.recipes import recipe
    from quant.registry import ScaledIntFormat
    calls = []
    ref_sel = importlib.import_module("quant.reference_backend").select_encode
    monkeypatch.setattr(importlib.import_module("quant.reference_backend"), "select_encode",
                        lambda *a, **k: calls.append("select") or ref_sel(*a, **k))
    real_q = ScaledIntFormat.quantize
    monkeypatch.setattr(ScaledIntFormat, "quantize",
                        lambda self, *a, **k: calls.append("scaled") or real_q(self, *a, **k))
    claims = coverage.runs_reference_for(recipe_name, backend)
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    r = recipe(recipe_name).resolved()
    for operand, spec in (("weights", r.weight), ("activations", r.activation)):
        calls.clear()
        quant.quantize(x, spec.fmt, selector=spec.selector, backend=backend)
        assert any(c.startswith(operand) for c in claims) == bool(calls), (operand, claims, calls)


@pytest.mark.parametrize("backend", ["numba", "accel", "triton"])
def test_attention_claims_match_what_the_back_end_does(backend, monkeypatch):
    """semanticdialect-attn8: INT8 Q, K and MX FP8 P, V; spy on both formats' reference quantizers."""
    from quant.recipes import recipe
    from quant.registry import MXFloatFormat, ScaledIntFormat
    calls = []
    for cls in (ScaledIntFormat, MXFloatFormat):
        real = cls.quantize
        monkeypatch.setattr(cls, "quantize", lambda self, *a, _real=real, **k: calls.append(self.name)
                            or _real(self, *a, **k))
    claims = coverage.runs_reference_for("semanticdialect-attn8", backend)
    att = recipe("semanticdialect-attn8").attention
    x = np.random.default_rng(0).standard_normal((4, 64)).astype(np.float32)
    for spec in (att.q, att.p):
        calls.clear()
        quant.quantize(x, spec.fmt, backend=backend)
        assert any(c.startswith("attention") and f"({spec.fmt})" in c for c in claims) == bool(calls), \
            (spec.fmt, claims, calls)


def test_non_deterministic_back_end_is_reported_not_crashed():
    cfg = load_run_config(None, recipe="mxfp4", slice_steps=1, check_backends=[FLAKY])
    ref, lat = verify.tapped_slice(cfg, cfg.full_backend)
    _flaky.update(mode="once", calls=0)
    check = verify.check_backend(cfg, FLAKY, ref, lat)
    m = check.mismatch
    assert check.status == "non-deterministic mismatch" and not check.identical and not m.reproduced
    assert m.digests[0] == ref.digests[(m.layer, m.call)] and m.digests[1] != m.digests[0]
    assert m.rerun_digests[0] == m.rerun_digests[1] == m.digests[0] and m.unstable == FLAKY
    text = check.describe()
    assert "NON-DETERMINISTIC" in text and m.digests[0][:12] in text and m.digests[1][:12] in text


def test_deterministic_mismatch_names_element_and_bits():
    cfg = load_run_config(None, recipe="mxfp4", slice_steps=1, check_backends=[FLAKY])
    ref, lat = verify.tapped_slice(cfg, cfg.full_backend)
    _flaky.update(mode="always", calls=0)
    check = verify.check_backend(cfg, FLAKY, ref, lat)
    m = check.mismatch
    assert check.status == "mismatch" and m.reproduced and m.element == (0, 0, 0) and m.layer.endswith("mlp.0")
    assert int(m.ref_bits, 16) ^ int(m.other_bits, 16) == 1 and m.kind == "linear"
    assert check.coverage["linear"].identical < check.coverage["linear"].checked


def test_verify_json_csv_and_report_share_the_coverage_table(tmp_path, capsys):
    from sim.pipeline.output import execute
    quant.register_backend("ghost-test", "no_such_module_for_this_test")
    cfg = load_run_config(None, recipe="mxfp4", slice_steps=2, check_backends=["reference", "ghost-test"])
    assert execute(cfg, tmp_path, quality=False, crosscheck=True, estimates=False, json_summary=True) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 2 and set(out["backends"]) == {"reference", "ghost-test"}
    ref = out["backends"]["reference"]
    model_kinds = {k: v for k, v in ref["coverage"].items() if k in ("linear", "weight_only")}
    assert ref["bit_identical"] is True and model_kinds == {"linear": {"checked": 80, "identical": 80},
                                                            "weight_only": {"checked": 16, "identical": 16}}
    synthetic = {k: v for k, v in ref["coverage"].items() if k not in model_kinds}   # the test-vector stages
    assert set(synthetic) == {"accumulation_order", "rounding_ties"}
    assert all(v["checked"] == v["identical"] > 0 for v in synthetic.values())
    ghost = out["backends"]["ghost-test"]
    assert ghost["bit_identical"] is False and "no_such_module_for_this_test" in ghost["skipped"]
    assert all(c["checked"] == 0 for c in ghost["coverage"].values()) and set(ghost["coverage"]) == {"linear",
                                                                                                    "weight_only"}
    cov = pd.read_csv(tmp_path / "crosscheck_coverage.csv")
    assert (cov[cov.backend == "ghost-test"]["note"].str.startswith("skipped")).all()
    assert json.loads((tmp_path / "crosscheck.json").read_text()) == out
    from reports.run_report import _coverage_lines
    text = "\n".join(_coverage_lines(cov))
    assert "80/80 of 80" in text and "ghost-test: skipped" in text


def test_synthetic_stage_counts_join_the_coverage(monkeypatch):
    monkeypatch.setattr(coverage, "SYNTHETIC_STAGES", {})
    coverage.register_synthetic_stage("accumulation_order", lambda be, ref: (5, 4 if be == "bad" else 5, "vec 3"))
    with pytest.raises(ValueError):
        coverage.register_synthetic_stage("linear", lambda be, ref: (0, 0, ""))
    counts, notes = coverage.run_synthetic_stages("bad", "numba")
    assert counts == {"accumulation_order": (5, 4)} and notes == ("accumulation_order: vec 3",)


def test_a_back_end_that_raises_is_reported_and_the_others_still_run():
    cfg = load_run_config(None, recipe="mxfp4", slice_steps=1, check_backends=[FLAKY, "reference"])
    res = RunResult(cfg, ())
    _flaky.update(mode="raise", calls=0)
    verify.run_crosscheck(cfg, res, lambda msg: None)
    bad, good = res.checks
    assert bad.status == "error" and "injected back end failure" in bad.describe() and not bad.identical
    assert good.backend == "reference" and good.identical
