"""Full-path attention: the recipe knob, the quantized QK^T and PV on every back end (raw bits), the model hook,
and the hardware view."""
from dataclasses import replace

import numpy as np
import pytest
import torch

import quant
from quant.attention import attention_matmul, quantized_attention
from quant.context import QuantContext
from quant.errors import QuantError
from quant.recipes import AttentionQuant, Recipe, TensorSpec

FULL = ("semanticdialect-fullpath", "semanticdialect-attn8", "nvfp4-fullpath")


def _qkv(seed=0, b=1, h=2, length=40, d=32):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(b, h, length, d, generator=g) for _ in range(3))


def _run(recipe, backend, qkv, txt_len=8):
    ctx = QuantContext(quant.recipe(recipe).resolved(), backend)
    calls = []
    ctx.attention_observers.append(lambda name, y, k: calls.append((name, y.view(np.int32).copy())))
    out = quantized_attention(ctx, "double_blocks.0", *qkv, txt_len)
    return out.numpy().view(np.int32), calls


def test_recipe_knob_round_trips_and_names_its_operands():
    for name in FULL:
        r = quant.recipe(name)
        assert r.full_path and r.attention.qk and r.attention.pv
        assert Recipe.from_yaml(r.to_yaml()) == r
    assert quant.recipe("semanticdialect-attn8").attention.k_smoothing
    assert not quant.recipe("semanticdialect").full_path
    with pytest.raises(QuantError, match="attention"):
        Recipe.from_dict({**quant.recipe("mxfp4").to_dict(), "full_path": True})
    with pytest.raises(QuantError, match="bogus"):
        Recipe.from_dict({**quant.recipe("mxfp4").to_dict(), "attention": {"bogus": 1}})


def _accel_for(recipe) -> str:
    """The accel back end of the edge design, or of the edge design specialized for `recipe` where the edge lacks a
    lane kind the recipe needs (FP8 for semanticdialect-attn8: the shipped generic designs have no FP8 lanes)."""
    from sim.accel import load_arch, specialize
    from sim.accel.functional import backend_for
    from sim.accel.recipes import get_recipe
    edge = load_arch("edge")
    modes = {x.mac_mode for _, x, _ in get_recipe(recipe).attention}
    return "accel" if modes <= set(dict(edge.pe_array.mac_modes)) else backend_for(specialize(edge, recipe)).name


@pytest.mark.parametrize("recipe", FULL)
@pytest.mark.parametrize("backend", ["numba", "accel"])
def test_attention_calls_are_bit_identical_to_the_reference(recipe, backend):
    qkv = _qkv()
    ref_out, ref_calls = _run(recipe, "reference", qkv)
    out, calls = _run(recipe, _accel_for(recipe) if backend == "accel" else backend, qkv)
    assert [n for n, _ in calls] == [n for n, _ in ref_calls] == ["double_blocks.0.attn.qk"] * 2 + \
        ["double_blocks.0.attn.pv"] * 2
    for (_, a), (_, b) in zip(calls, ref_calls):
        assert np.array_equal(a, b)
    assert np.array_equal(out, ref_out)


@pytest.mark.triton
@pytest.mark.parametrize("recipe", ["semanticdialect-fullpath", "semanticdialect-attn8"])
def test_attention_calls_on_triton_are_bit_identical(recipe):
    qkv = _qkv(1, h=1, length=24)
    ref_out, ref_calls = _run(recipe, "reference", qkv)
    out, calls = _run(recipe, "triton", qkv)
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(calls, ref_calls)) and len(calls) == 2
    assert np.array_equal(out, ref_out)


def test_attn8_is_int8_qk_and_fp8_pv_and_the_edge_design_refuses_its_fp8_lanes():
    from sim.accel.schema import SpecError
    att = quant.recipe("semanticdialect-attn8").attention
    assert (att.q.fmt, att.k.fmt, att.p.fmt, att.v.fmt) == ("int8_g32", "int8_g32", "fp8_e4m3_g32", "fp8_e4m3_g32")
    assert any("SageAttention2" in n and "E8M0" in n for n in quant.recipe("semanticdialect-attn8").notes)
    with pytest.raises(SpecError, match="pe_array.mac_modes.*fp8_e4m3_g32 needs MAC mode 'fp8'"):
        _run("semanticdialect-attn8", "accel", _qkv(h=1, length=8))


def test_quantized_attention_changes_the_result_and_stays_close():
    qkv = _qkv(2)
    ctx = QuantContext(quant.recipe("semanticdialect-fullpath"), "numba")
    out = quantized_attention(ctx, "b", *qkv, 0).numpy()
    fp = torch.nn.functional.scaled_dot_product_attention(*qkv).transpose(1, 2).reshape(out.shape).numpy()
    err = np.linalg.norm(out - fp) / np.linalg.norm(fp)
    assert 0 < err < 0.3


def test_token_count_not_a_whole_number_of_blocks_is_zero_padded_exactly():
    """PV over 40 tokens (blocks of 32): the padded zeros of P and V^T add nothing."""
    rng = np.random.default_rng(3)
    p = rng.random((16, 40)).astype(np.float32)
    vt = rng.standard_normal((32, 40)).astype(np.float32)
    spec = TensorSpec("dialectfp4-32", "lut_argmin")
    y = attention_matmul(p, vt, spec, spec, "reference", "t")
    qp = quant.quantize(np.pad(p, ((0, 0), (0, 24))), "dialectfp4-32", selector="lut_argmin")
    qv = quant.quantize(np.pad(vt, ((0, 0), (0, 24))), "dialectfp4-32", selector="lut_argmin")
    assert np.array_equal(y.view(np.int32), quant.qgemm(qp, qv).view(np.int32))


def test_nan_scores_name_the_layer_and_the_call():
    q, k, v = _qkv()
    q[0, 1, 3, 5] = float("nan")
    ctx = QuantContext(quant.recipe("semanticdialect-fullpath"), "numba")
    with pytest.raises(QuantError, match="double_blocks.3.attn.qk"):
        quantized_attention(ctx, "double_blocks.3", q, k, v, 0)


def test_k_smoothing_is_exact_for_softmax_in_float64():
    """Subtracting K's token mean shifts every score of a row by the same q.mean(k): softmax cancels it."""
    q, k, _ = (t.double() for t in _qkv(4))
    s = torch.softmax(q @ k.transpose(-1, -2), -1)
    s2 = torch.softmax(q @ (k - k.mean(dim=2, keepdim=True)).transpose(-1, -2), -1)
    assert torch.allclose(s, s2, atol=1e-12)


def test_one_operand_ablation_quantizes_only_that_operand():
    r = quant.recipe("semanticdialect-attn-q")
    assert r.full_path and not r.attention.qk and not r.attention.pv
    qkv = _qkv(5)
    out, calls = _run("semanticdialect-attn-q", "reference", qkv)
    assert len(calls) == 4


def test_full_path_model_uses_its_quantizer_on_every_forward():
    import vdit
    model = vdit.build("tiny").init_weights(0)
    quant.quantize_model(model, "semanticdialect-fullpath", backend="numba")
    seen = []
    model.quant_context.attention_observers.append(lambda n, y, k: seen.append(n))
    vdit.sample(model, vdit.EVALUATION_SUBSET[:1], seed=0, steps=1, guidance=1.0)
    assert len(seen) == 2 * 6 * model.config.num_heads       # 6 blocks, 1 sample, QK and PV per head
    with pytest.raises(RuntimeError, match="quantizer"):
        vdit.sample(model, vdit.EVALUATION_SUBSET[:1], seed=0, steps=1, guidance=1.0, recorder=object())


def test_mixed_scale_families_in_one_matmul_are_refused():
    bad = replace(quant.recipe("semanticdialect"), name="bad",
                  attention=AttentionQuant(q=TensorSpec("nvfp4"), k=TensorSpec("dialectfp4-32")))
    from quant.torch_layers import _check
    with pytest.raises(QuantError, match="scale famil"):
        _check(bad)


def test_hardware_view_counts_the_attention_lanes_and_quantizers():
    from sim.accel import load_arch, specialize
    from sim.accel.estimate import estimate
    base = load_arch("edge")
    fp = estimate("opensora2-256px", base, "semanticdialect").summary()
    full = estimate("opensora2-256px", base, "semanticdialect-fullpath").summary()
    assert full["full_path"] and full["latency_s"] < 0.5 * fp["latency_s"]
    assert full["attention_share_of_latency"] < fp["attention_share_of_latency"]
    attn8 = specialize(base, "semanticdialect-attn8")
    modes = dict(attn8.pe_array.mac_modes)
    assert modes["int8"] == modes["fp8"] == 4 and [k for k, _, _ in attn8.act_quantizers] == ["int_scale", "e4m3_round"]
    assert attn8.lut_unit.selector == "lut_argmin"
    est = estimate("tiny", attn8, "semanticdialect-attn8", steps=1)
    ops = est.sim.per_op.set_index("op")
    assert ops.loc["double_blocks.0.attn.qk", "mac_mode"] == "int8"
    assert ops.loc["double_blocks.0.attn.pv", "mac_mode"] == "fp8"
    assert ops.loc["double_blocks.0.attn.k_quantize", "quantizer"] == "int_scale"
    assert ops.loc["double_blocks.0.attn.p_quantize", "quantizer"] == "e4m3_round"
    assert ops.loc["double_blocks.0.attn.pv", "x_bits"] == ops.loc["double_blocks.0.attn.pv", "w_bits"] == 8.25
    for what in ("mac.fp8", "block_scale.pow2_wide", "decode.e4m3", "scale_quant.e4m3_round"):
        assert est.counts.totals()[what] > 0, what
    without = replace(attn8, pe_array=replace(attn8.pe_array, mac_modes=tuple(
        (m, n) for m, n in attn8.pe_array.mac_modes if m != "fp8")))
    with pytest.raises(Exception, match="pe_array.mac_modes.*fp8"):
        estimate("tiny", without, "semanticdialect-attn8", steps=1)
    with pytest.raises(Exception, match="pe_array.mac_modes"):
        estimate("tiny", specialize(base, "semanticdialect"), "semanticdialect-attn8", steps=1)


def test_cross_check_taps_attention_calls_and_routes_picked_ones():
    import vdit
    from sim.pipeline.coverage import Router
    from sim.pipeline.crosscheck import LayerTap
    fp = vdit.build("tiny").init_weights(0)
    model = vdit.build("tiny").init_weights(0)
    quant.quantize_model(model, "semanticdialect-fullpath", backend="numba")
    tap = LayerTap().attach(model)
    vdit.sample(model, vdit.EVALUATION_SUBSET[:1], seed=0, steps=1, guidance=1.0,
                recorder=model.quant_context)
    tap.detach()
    att = [k for k in tap.order if tap.kinds[k] == "attention"]
    assert len(att) == 2 * 6 * model.config.num_heads and model.quant_context.attention_observers == []
    pick = att[5]
    routed = LayerTap(router=Router([pick], fp, "semanticdialect-fullpath", "reference")).attach(model)
    seen = []
    ctx = model.quant_context
    original = ctx.attention_backend
    ctx.attention_backend = lambda name: seen.append((name, original(name))) or seen[-1][1]
    vdit.sample(model, vdit.EVALUATION_SUBSET[:1], seed=0, steps=1, guidance=1.0, recorder=ctx)
    routed.detach()
    assert [b for _, b in seen].count("reference") == 1 and seen[att.index(pick)] == (pick[0], "reference")
    assert routed.digests[pick] == tap.digests[pick]        # numba and the reference agree on the routed call


def test_sim_verify_arch_that_cannot_run_the_recipe_is_refused_before_work(tmp_path, capsys):
    from sim.cli import main
    rc = main(["verify", "--arch", "rtl-pe-array", "--out", str(tmp_path / "v")])
    err = capsys.readouterr().err
    assert rc == 2 and "lut_unit.book_size" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "v").exists()


def test_run_notes_quote_the_committed_full_path_quality_cost():
    from sim.pipeline.output import _full_path_notes
    notes = _full_path_notes(("semanticdialect", "mxfp4"))
    assert len(notes) == 1 and "semanticdialect-fullpath" in notes[0] and "dB PSNR" in notes[0]
    assert _full_path_notes(("mxfp4",)) == []


def test_full_path_quality_table_pairs_each_run_recipe_with_the_study():
    """The report's quality-cost table: a recipe with its -fullpath variant, a recipe that quantizes attention
    itself with the recipe it extends, numbers as in the committed study; a recipe the study lacks has no row."""
    import pandas as pd
    from sim.pipeline.config import ROOT
    from sim.pipeline.tables import FULL_PATH_STUDY, full_path_quality_table
    q = full_path_quality_table(("semanticdialect", "semanticdialect-attn8", "mxfp4")).set_index("run_recipe")
    assert list(q.index) == ["semanticdialect", "semanticdialect-attn8"]
    assert tuple(q.loc["semanticdialect", ["recipe", "quantized_recipe"]]) == ("semanticdialect",
                                                                              "semanticdialect-fullpath")
    assert tuple(q.loc["semanticdialect-attn8", ["recipe", "quantized_recipe"]]) == ("semanticdialect",
                                                                                    "semanticdialect-attn8")
    s = pd.read_csv(ROOT / FULL_PATH_STUDY)
    s = s[s.outliers == "none"].set_index("recipe")
    assert q.loc["semanticdialect-attn8", "delta_psnr_db"] == (s.loc["semanticdialect-attn8", "psnr_db"]
                                                               - s.loc["semanticdialect", "psnr_db"])
