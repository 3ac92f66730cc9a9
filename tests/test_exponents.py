"""Shared block exponents (quant/exponents.py): the rule, its bit cost, the stored-exponent check, clear errors for
bad knob values, and raw-bit equality of quantize and GEMM on the reference, Numba and accelerator back ends
(Triton: tests/test_triton_exponents.py)."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import quant
from kernels import cases
from quant.decompose import decompose
from quant.errors import QuantError
from quant.exponents import ExponentSharing, exponent_sharing, shared_exponents

SHARINGS = [dict(exponent_span=32), dict(exponent_span=64, exponent_offset_bits=1),
            dict(exponent_span="tensor", exponent_offset_bits=4), dict(exponent_span="tensor", exponent_offset_bits=1),
            dict(exponent_span="tensor")]
CPU_BACKENDS = ("numba", "accel")


def inputs(seed=0, m=12, k=112, block=16):
    """Corner rows (zero, subnormal, huge, tie and alternating-zero blocks) and heavy-tailed / exact-grid rows;
    k = 112 leaves a short last span for spans of 32 and 64."""
    x = cases.mixed_inputs(np.random.default_rng(seed), m, k, block)
    x[-1, :40] *= 2.0 ** 20                      # a loud span next to quiet ones in the same row
    return x


def test_rule_on_a_hand_example():
    e_own = np.array([[3, -1, -127, 0, 7], [-127, -127, 2, 2, -5]])
    shared = lambda **kw: shared_exponents(e_own, exponent_sharing(1, **kw)).tolist()
    assert shared(exponent_span=2) == [[3, 3, 0, 0, 7], [-127, -127, 2, 2, -5]]
    assert shared(exponent_span=2, exponent_offset_bits=1) == [[3, 2, -1, 0, 7], [-127, -127, 2, 2, -5]]
    assert shared(exponent_span="tensor", exponent_offset_bits=2) == [[4, 4, 4, 4, 7], [4, 4, 4, 4, 4]]
    assert shared(exponent_span="tensor", exponent_offset_bits=4) == [[3, -1, -8, 0, 7], [-8, -8, 2, 2, -5]]
    assert shared() == e_own.tolist()


@pytest.mark.parametrize("book,block,knobs,bits", [
    ("dialectfp4", 16, dict(exponent_span=32), 4 + (8 + 2 * 4) / 32),
    ("dialectfp4", 16, dict(exponent_span="tensor", exponent_offset_bits=4), 4 + (4 + 4) / 16),
    ("dialectfp4-32", 16, dict(exponent_span="tensor", exponent_offset_bits=3), 4 + (5 + 3) / 16),
    ("dialectfp4", 16, dict(exponent_span=64, exponent_offset_bits=1), 4 + (4 + 1) / 16 + 8 / 64),
    ("dialectfp4", 32, dict(), 4 + (8 + 4) / 32),
    ("dialectfp4", 16, dict(exponent_span=16), 4 + (8 + 4) / 16),
])
def test_bit_cost(book, block, knobs, bits):
    fmt = quant.get_format(book)
    assert fmt.bits_per_element(block=block, **knobs) == bits
    qt = quant.quantize(inputs(), book, block=block, **knobs)
    assert qt.bits_per_element == bits                      # the tensor's own meta gives the same cost
    assert quant.QTensor.from_bytes(qt.to_bytes()).bits_per_element == bits


@pytest.mark.parametrize("knobs", SHARINGS)
def test_stored_exponents_follow_the_rule(knobs):
    x = inputs()
    own = quant.quantize(x, "dialectfp4", block=16)
    qt = quant.quantize(x, "dialectfp4", block=16, **knobs)
    sharing = exponent_sharing(16, **knobs)
    assert np.array_equal(qt.exponent, shared_exponents(own.exponent, sharing))
    assert (qt.exponent >= own.exponent).all()
    if sharing.span_blocks > 1 and sharing.offset_bits == 0:
        pairs = qt.exponent[:, :qt.n_blocks // 2 * 2].reshape(qt.rows, -1, 2)
        assert (pairs[..., 0] == pairs[..., 1]).all()
    # an untouched block (exponent unchanged) quantizes exactly as alone
    same = qt.exponent == own.exponent
    assert same.any() and np.array_equal(qt.dialect[same], own.dialect[same])


@pytest.mark.parametrize("knobs", SHARINGS)
@pytest.mark.parametrize("selector,book", [("lut_argmin", "dialectfp4"), ("lut_argmin", "dialectfp4-32"),
                                           ("exact_mse", "dialectfp4"), ("two_stage", "dialectfp4")])
def test_quantize_raw_bits_match_on_cpu_back_ends(knobs, selector, book):
    x = inputs()
    ref = quant.quantize(x, book, selector=selector, block=16, **knobs)
    for be in CPU_BACKENDS:
        if be == "accel" and selector == "two_stage":
            continue                                       # the edge design's LUT unit runs lut_argmin
        assert quant.quantize(x, book, selector=selector, block=16, backend=be, **knobs).equal_bits(ref), be


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), rows=st.integers(1, 5), k=st.integers(1, 90), block=st.sampled_from([8, 16]),
       span=st.sampled_from([2, 3, "tensor"]), offset_bits=st.integers(0, 5))
def test_numba_matches_reference_on_random_shapes(seed, rows, k, block, span, offset_bits):
    rng = np.random.default_rng(seed)
    x = (rng.standard_cauchy((rows, k)) * np.exp2(rng.integers(-30, 30, size=(rows, 1)))).astype(np.float32)
    x[:, : rng.integers(0, k + 1) // 2] = 0
    knobs = dict(exponent_span=span if span == "tensor" else span * block,
                 exponent_offset_bits=offset_bits if span == "tensor" or offset_bits < 3 else 0)
    ref = quant.quantize(x, "dialectfp4", block=block, **knobs)
    assert quant.quantize(x, "dialectfp4", block=block, backend="numba", **knobs).equal_bits(ref)


@pytest.mark.parametrize("knobs", SHARINGS[:3])
def test_gemm_and_decomposition_raw_bits_match_on_cpu_back_ends(knobs):
    """float32 outputs compared as int32 bit patterns; the residual rows take their own shared exponents."""
    x, w = inputs(1)[5:], cases.heavy_tailed(np.random.default_rng(2), (24, 112))   # no rows near FLT_MAX
    rows = np.array([0, 5, 13, 15])
    qw = quant.quantize(w, "dialectfp4", selector="exact_mse", block=16, **knobs)
    qx, qr = decompose(x, "dialectfp4", rows, block=16, **knobs)
    bias = np.linspace(-1, 1, 24).astype(np.float32)
    y = quant.qgemm(qx, qw, bias=bias, residual=qr, residual_rows=rows).view(np.int32)
    for be in CPU_BACKENDS:
        bx, br = decompose(x, "dialectfp4", rows, block=16, backend=be, **knobs)
        bw = quant.quantize(w, "dialectfp4", selector="exact_mse", block=16, backend=be, **knobs)
        assert bx.equal_bits(qx) and br.equal_bits(qr) and bw.equal_bits(qw), be
        yb = quant.qgemm(bx, bw, bias=bias, residual=br, residual_rows=rows, backend=be).view(np.int32)
        assert np.array_equal(y, yb), be


def test_decomposition_error_never_grows_with_shared_exponents():
    x = inputs(3)
    rows = np.arange(x.shape[0])
    qx, qr = decompose(x, "dialectfp4", rows, block=16, exponent_span="tensor", exponent_offset_bits=4)
    dq = qx.dequantize().astype(np.float64)
    both = dq + qr.dequantize()
    assert (np.abs(x - both) <= np.abs(x - dq)).all()


def test_bytes_round_trip_and_stored_exponents_are_checked():
    qt = quant.quantize(inputs(), "dialectfp4", block=16, exponent_span=32)
    back = quant.QTensor.from_bytes(qt.to_bytes())
    assert back.equal_bits(qt) and back.meta == qt.meta
    bad_e = qt.exponent.copy()
    bad_e[-1, 1] = bad_e[-1, 0] - 1                 # two blocks of one span with different exponents
    from dataclasses import replace
    with pytest.raises(QuantError, match="field 'exponent'.*exponent_offset_bits=0"):
        quant.QTensor.from_bytes(replace(qt, exponent=bad_e).to_bytes())
    with pytest.raises(QuantError, match="meta.*exponent_span"):
        quant.QTensor.from_bytes(replace(qt, meta={**qt.meta, "exponent_span": 24}).to_bytes())


@pytest.mark.parametrize("knobs,match", [
    (dict(exponent_span=24), "exponent_span must be 'tensor' or a positive multiple of the block"),
    (dict(exponent_span=8), "exponent_span must be"),
    (dict(exponent_span="row"), "exponent_span must be"),
    (dict(exponent_span=True), "exponent_span must be"),
    (dict(exponent_offset_bits=2), "needs exponent_span larger than the block"),
    (dict(exponent_span=32, exponent_offset_bits=9), "exponent_offset_bits must be an integer in 0..8"),
    (dict(exponent_span=32, exponent_offset_bits=1.5), "exponent_offset_bits must be"),
    (dict(exponent_spn=32), "unknown knob 'exponent_spn'"),
])
@pytest.mark.parametrize("backend", ["reference", "numba", "accel"])
def test_bad_knob_values_give_clear_errors(knobs, match, backend):
    with pytest.raises(QuantError, match=match):
        quant.quantize(inputs(), "dialectfp4", block=16, backend=backend, **knobs)


def test_formats_with_fixed_scales_refuse_the_knobs():
    with pytest.raises(QuantError, match="mxfp4 .*fixed"):
        quant.quantize(inputs(), "mxfp4", exponent_span=64)
    with pytest.raises(QuantError, match="unknown knob 'exponent_span' for format nvfp4"):
        quant.quantize(inputs(), "nvfp4", exponent_span=64)


def test_given_exponents_below_the_own_ones_are_refused_by_the_accelerator():
    from quant.blocks import as_blocks, block_exponent
    from sim.accel import functional
    xb = as_blocks(inputs(), 16)
    with pytest.raises(QuantError, match="below the block's own"):
        functional.select_encode("lut_argmin", xb, block_exponent(xb) - 1, quant.formatbook("dialectfp4"))


def test_sharing_object():
    s = ExponentSharing(2, 1)
    assert not s.trivial and s.window == 1 and s.metadata_bits(16) == 1 / 16 + 8 / 32
    assert ExponentSharing(0, 4).metadata_bits(16) == 4 / 16 and ExponentSharing().trivial


def _shared_recipe(seda: bool):
    from dataclasses import replace

    from quant.recipes import TensorSpec
    knobs = (("exponent_span", "tensor"), ("exponent_offset_bits", 4))
    base = quant.recipe("semanticdialect")
    return replace(base, name="shared", block=16, weight=TensorSpec("dialectfp4", "exact_mse", knobs),
                   activation=TensorSpec("dialectfp4", "lut_argmin", knobs), formatbook="dialectfp4",
                   formatbook_fallback=None, seda=replace(base.seda, enabled=seda))


def test_recipe_knobs_round_trip_and_hardware_bits():
    from sim.accel.recipes import derive
    r = _shared_recipe(seda=False)
    assert quant.Recipe.from_yaml(r.to_yaml()) == r and r.activation.knob_dict["exponent_span"] == "tensor"
    hw = derive(r)
    assert hw.act_bits == hw.weight_bits == hw.weight_only_bits == 4.5 and hw.block == 16


def test_seda_with_shared_exponents_is_refused_by_name():
    from test_quantize_model import ToyMMDiT
    from sim.accel.recipes import derive
    with pytest.raises(QuantError, match="SeDA chooses sub-books on each block's own exponent"):
        quant.quantize_model(ToyMMDiT(), _shared_recipe(seda=True))
    with pytest.raises(QuantError, match="SeDA with shared exponents"):
        derive(_shared_recipe(seda=True))


# ---- semanticdialect-fair: the shipped bit-fair variant ---------------------------------------------------------
def test_fair_recipe_is_the_searched_candidate_and_costs_its_bits():
    from dataclasses import replace

    from bench.bitfair_search import CANDIDATES
    from quant.recipe_variants import FAIR_BOOK, FAIR_EXPONENTS
    r = quant.recipe("semanticdialect-fair")
    searched = {c.name: c for c in CANDIDATES}["tensor-o3-d8-dec2.5"].recipe()
    assert replace(searched, name=r.name, notes=r.notes) == r
    for spec in (r.weight, r.activation):
        assert spec.knobs == FAIR_EXPONENTS and spec.fmt == FAIR_BOOK
        assert quant.get_format(spec.fmt).bits_per_element(block=r.block, **spec.knob_dict) == 4 + (3 + 3) / 16
    # with the residual of 2.5 % of the rows in the same format, activations stay within NVFP4's 4.5
    assert 4.375 * (1 + r.decomposition.salient_fraction) <= 4.5
    assert all(any(tag in n for n in r.notes) for tag in ("[ours]", "[paper]", "[BD]"))


@pytest.mark.parametrize("operand", ["weight", "activation"])
def test_fair_quantize_raw_bits_match_on_cpu_back_ends(operand):
    spec = getattr(quant.recipe("semanticdialect-fair"), operand)
    x = inputs(4)
    ref = quant.quantize(x, spec.fmt, selector=spec.selector, block=16, **spec.knob_dict)
    assert ref.bits_per_element == 4.375
    for be in CPU_BACKENDS:
        assert quant.quantize(x, spec.fmt, selector=spec.selector, block=16, backend=be,
                              **spec.knob_dict).equal_bits(ref), be


def test_fair_model_is_bit_identical_on_numba_and_reference():
    from test_quantize_model import inputs as toy_inputs, quantized, run_steps
    x = toy_inputs()
    ya = run_steps(quantized("semanticdialect-fair", "reference"), 2, x)
    model = quantized("semanticdialect-fair", "numba")
    yb = run_steps(model, 2, x)
    assert all(a.numpy().tobytes() == b.numpy().tobytes() for a, b in zip(ya, yb))
    s = model.quant_context.summary()
    assert s["act_bits_per_element"] == 4.375 and s["extra_mac_fraction"] > 0


# ---- the books learned for block 16 (quant/learned_books.py, bench/bitfair_books.py) ----------------------------
B16_BOOKS = {"dialect8-b16": (8, None), "dialect16-b16": (16, None), "dialectfp4-32-b16": (32, "dialectfp4"),
             "dialectfp4-64-b16": (64, "dialectfp4")}


def test_block16_books_are_registered_with_their_calibration():
    from quant.learned_books import DIALECT_B16_CALIBRATION
    from sim.defaults import CHECKPOINT
    from sim.study import file_sha256
    assert file_sha256(CHECKPOINT) == DIALECT_B16_CALIBRATION["checkpoint_sha256"], "re-learn the block-16 books"
    for name, (size, base) in B16_BOOKS.items():
        book = quant.formatbook(name)
        assert book.size == size and "[ours] learn_formatbook" in book.provenance and "blocks of 16" in book.provenance
        if base:                                          # extensions keep the base book's ids
            assert np.array_equal(book.magnitudes[:16], quant.formatbook(base).magnitudes)
    # greedy search is nested: the 16-dialect book starts with the 8-dialect one
    assert np.array_equal(quant.formatbook("dialect16-b16").magnitudes[:8], quant.formatbook("dialect8-b16").magnitudes)


@pytest.mark.slow
def test_block16_books_reproduce_from_their_calibration():
    from bench.bitfair_books import _settings, collect
    from quant.calibrate import learn_from_blocks
    from sim.defaults import CHECKPOINT
    blocks = collect(_settings(), CHECKPOINT)
    for name in ("dialect8-b16", "dialectfp4-32-b16"):
        size, base = B16_BOOKS[name]
        book = learn_from_blocks(blocks, name, size, base)
        assert np.array_equal(book.magnitudes, quant.formatbook(name).magnitudes), name
