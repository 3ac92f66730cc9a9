"""Activation decomposition: no-op at fraction 0, the element-wise error bound, salient-row choice and timing."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import quant
from quant.context import QuantContext, slice_part, token_part
from quant.decompose import decompose, n_salient, residual, row_norm_scores, top_rows
from quant.errors import ShapeError
from quant.recipes import Decomposition, Recipe, TensorSpec, default_policy

# every format here rounds each element to the nearest level of a grid containing 0, ties to 0
DIALECT_CASES = [("dialectfp4", "lut_argmin", {}), ("dialectfp4", "exact_mse", {}),
                 ("dialectfp4", "two_stage", {"threshold": 1}), ("mxfp4", None, {})]
# float-scaled formats: INT8 dequantization overflows float32 near FLT_MAX (scale amax/127 rounded up times 127),
# so their inputs stay within 2^120
SCALED_CASES = [("nvfp4", None, {}), ("int4_g32", None, {}), ("int4_g128", None, {}), ("int8", None, {})]


def _matrix(bound):
    el = st.floats(width=32, allow_nan=False, allow_infinity=False, min_value=-bound, max_value=bound)
    return arrays(np.float32, st.tuples(st.integers(1, 3), st.sampled_from([16, 32, 40, 128])), elements=el)


def _check_never_worse(x, fmt, sel, knobs, residual_exact=True):
    rows = np.arange(x.shape[0])
    qx, qr = decompose(x, fmt, rows, selector=sel, **knobs)
    x64, dq = x.astype(np.float64), qx.dequantize().astype(np.float64)
    dr = qr.dequantize().astype(np.float64)
    before, after = np.abs(x64 - dq), np.abs(x64 - dq - dr)
    assert (after <= before).all(), (x[after > before], dq[after > before], dr[after > before])
    if residual_exact:
        # pow2 formats: R = fl32(x - DQ(Q(x))) is exact (DQ lies in [x/2, 2x] or is 0): nothing lost before Q(R)
        assert (residual(x, qx, rows).astype(np.float64) == x64 - dq).all()


@pytest.mark.parametrize("fmt,sel,knobs", DIALECT_CASES)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(x=_matrix(float(np.finfo(np.float32).max)))
def test_error_never_grows_dialect_formats(fmt, sel, knobs, x):
    _check_never_worse(x, fmt, sel, knobs)


@pytest.mark.parametrize("fmt,sel,knobs", SCALED_CASES)
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(x=_matrix(2.0 ** 120))
def test_error_never_grows_scaled_formats(fmt, sel, knobs, x):
    # R is not always exact here: an FP16 group scale saturates at 65504 (|x| > 7 * 65504 for INT4), DQ << x
    _check_never_worse(x, fmt, sel, knobs, residual_exact=False)


def test_error_never_grows_at_lut_rounding_ties():
    """Values exactly at quarter-unit ties of the 5-bit intermediate (q = k + 1/2) and at half-unit midpoints:
    the half-up q and the tie-to-even-index LUT still never pick a level farther than 0."""
    e_scale = 2.0 ** -2           # block max 4.0 -> e = 0; q = |x| * 4
    ties = np.arange(0, 32) / 4 + 1 / 8
    mids = np.arange(0, 16) / 2 + 1 / 4
    x = np.concatenate([ties, mids]).astype(np.float32)    # two blocks (K = 48, zero-padded to 64)
    x[0] = 4.0
    for sel in ("lut_argmin", "exact_mse", "two_stage"):
        _check_never_worse(np.stack([x, -x]) * np.float32(1 / e_scale), "dialectfp4", sel, {})


def test_fraction_zero_is_a_bit_for_bit_no_op():
    x = np.random.default_rng(0).standard_t(3, size=(12, 64)).astype(np.float32)
    w = quant.quantize(np.random.default_rng(1).standard_normal((8, 64)).astype(np.float32), "dialectfp4",
                       selector="exact_mse")
    qx, qr = decompose(x, "dialectfp4", [])
    plain = quant.quantize(x, "dialectfp4")
    assert qr is None and qx.equal_bits(plain)
    y0 = quant.qgemm(plain, w, bias=np.ones(8, np.float32))
    y1 = quant.qgemm(qx, w, bias=np.ones(8, np.float32), residual=qr)
    assert y0.tobytes() == y1.tobytes()
    assert n_salient(1000, 0.0) == 0


def test_decomposed_gemm_is_closer_to_fp_on_salient_rows():
    rng = np.random.default_rng(2)
    x = rng.standard_t(3, size=(20, 128)).astype(np.float32)
    wf = (rng.standard_normal((16, 128)) * 0.02).astype(np.float32)
    qw = quant.quantize(wf, "dialectfp4", selector="exact_mse")
    rows = np.array([1, 5, 7])
    qx, qr = decompose(x, "dialectfp4", rows)
    y_main = quant.qgemm(qx, qw)
    y_dec = quant.qgemm(qx, qw, residual=qr, residual_rows=rows)
    y_ref = x.astype(np.float64) @ qw.dequantize().astype(np.float64).T   # same weights: isolates activations
    err = lambda y: ((y - y_ref) ** 2).sum(axis=1)
    assert (err(y_dec)[rows] < err(y_main)[rows]).all()
    others = np.setdiff1d(np.arange(20), rows)
    assert y_dec[others].tobytes() == y_main[others].tobytes()


def test_salient_counts_and_ties():
    assert [n_salient(m, 0.05) for m in (1, 19, 20, 21, 100)] == [1, 1, 1, 2, 5]
    assert n_salient(10, 1.0) == 10
    assert top_rows(np.array([3.0, 5.0, 5.0, 1.0, 5.0]), 2).tolist() == [1, 2]   # ties: lower index first
    assert top_rows(np.array([1.0, 2.0]), 0).size == 0
    x = np.array([[1, 0], [0, 3], [2, 2]], np.float32)
    assert row_norm_scores(x).tolist() == [1.0, 9.0, 8.0]
    with pytest.raises(ShapeError):
        decompose(x, "dialectfp4", [0, 0])


def test_linear_names_map_to_blocks_and_token_parts():
    assert token_part("double_blocks.3.img_mlp.0") == ("double_blocks.3", "img")
    assert token_part("double_blocks.3.txt_attn.q_proj") == ("double_blocks.3", "txt")
    assert token_part("single_blocks.12.linear2") == ("single_blocks.12", "joint")
    assert token_part("final_layer.linear") is None
    a = np.arange(10).reshape(1, 10)
    assert slice_part(a, "txt", 3).tolist() == [[0, 1, 2]]
    assert slice_part(a, "img", 3).tolist() == [[3, 4, 5, 6, 7, 8, 9]]


def _ctx(**dec):
    spec = TensorSpec("dialectfp4")
    r = Recipe("t", weight=spec, activation=spec, policy=default_policy(),
               decomposition=Decomposition(enabled=True, **dec))
    return QuantContext(r)


def test_previous_step_attention_picks_salient_rows_per_sample():
    ctx = _ctx(salient_fraction=0.25)
    x = np.zeros((2 * 8, 4), np.float32)
    x[0] = 100.0                                    # the row-norm proxy would pick row 0
    ctx.set_step(0)
    rows, from_attn = ctx.salient_rows("double_blocks.0.img_attn.q_proj", x, ctx.begin_call("double_blocks.0.img_attn.q_proj"))
    assert not from_attn and 0 in rows.tolist()     # first step: fallback to row norms
    received = np.zeros((2, 3 + 8), np.float32)     # 3 text tokens, then 8 image tokens
    received[0, 3 + 5], received[0, 3 + 6] = 9, 8   # sample 0: image tokens 5, 6
    received[1, 3 + 1], received[1, 3 + 2] = 9, 8   # sample 1: image tokens 1, 2
    received[:, 0] = 50                             # a text token: must not leak into the image part
    ctx.record("double_blocks.0", received, 3)
    rows_same_step, _ = ctx.salient_rows("double_blocks.0.img_attn.k_proj", x, 0)
    assert not _ and 0 in rows_same_step.tolist()   # same step: still the fallback (served from step i-1 only)
    ctx.set_step(1)
    rows, from_attn = ctx.salient_rows("double_blocks.0.img_mlp.0", x, ctx.begin_call("double_blocks.0.img_mlp.0"))
    assert from_attn and rows.tolist() == [5, 6, 8 + 1, 8 + 2]
    txt_rows, _ = ctx.salient_rows("double_blocks.0.txt_mlp.0", np.zeros((6, 4), np.float32), 0)
    assert txt_rows.tolist() == [0, 3]              # ceil(0.25 * 3) = 1 per sample
    with pytest.raises(ShapeError, match="double_blocks.0.img_mlp.2"):
        ctx.salient_rows("double_blocks.0.img_mlp.2", np.zeros((5, 4), np.float32), 0)


def test_each_forward_pass_of_a_step_sees_its_own_previous_record():
    ctx = _ctx(salient_fraction=0.1)
    ctx.set_step(0)
    for hot in (2, 7):                              # two forward passes in step 0 (e.g. CFG branches)
        rec = np.zeros((1, 10), np.float32)
        rec[0, hot] = 1
        ctx.record("single_blocks.0", rec, 0)
    ctx.set_step(1)
    x = np.zeros((10, 4), np.float32)
    name = "single_blocks.0.linear2"
    assert ctx.salient_rows(name, x, ctx.begin_call(name))[0].tolist() == [2]
    assert ctx.salient_rows(name, x, ctx.begin_call(name))[0].tolist() == [7]
    rows, from_attn = ctx.salient_rows(name, x, ctx.begin_call(name))   # no third record: fallback
    assert not from_attn and len(rows) == 1


def test_first_step_none_fallback_and_row_norm_source():
    ctx = _ctx(first_step="none")
    ctx.set_step(0)
    assert ctx.salient_rows("single_blocks.0.q_proj", np.ones((40, 4), np.float32), 0)[0].size == 0
    ctx2 = _ctx(source="row_norm", salient_fraction=0.1)
    x = np.zeros((20, 4), np.float32)
    x[[3, 11]] = 5
    assert ctx2.salient_rows("anything", x, 0)[0].tolist() == [3, 11]
