"""fp8_e4m3_g32 (OCP MX v1.0 MXFP8, E4M3 elements, E8M0 scale per 32): codes and exponents against an independent
pure-Python spec (quant/golden.py) and across back ends, GEMM float32 bits across back ends (raw bits, never
allclose), refusals, and the accelerator model's fp8 lanes."""
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import kernels  # noqa: F401  (before triton: picks the interpreter on a machine without a GPU)
import quant
from quant.errors import NonFiniteError, QuantError, ShapeError
from quant.formats import FP8_E4M3
from quant.vectors import accumulate_in, accumulation_order_operands, differing_share, rounding_tie_activations
from sim.pipeline.accum_stage import golden_qtensor

FMT = "fp8_e4m3_g32"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
F32 = np.float32


def bits(y):
    return np.ascontiguousarray(y, dtype=F32).view(np.int32)


def accel():
    """The accel back end of the edge design specialized for semanticdialect-attn8 (the edge has no fp8 lanes)."""
    from sim.accel import load_arch, specialize
    from sim.accel.functional import backend_for
    return backend_for(specialize(load_arch("edge"), "semanticdialect-attn8")).name


def edge_rows(k=64) -> np.ndarray:
    """Zeros, negative zeros, float32 subnormals, the smallest normals, huge values, saturation (scaled values in
    (448, 512)), ties at both ends of the E4M3 range, one non-zero element, and a block below 2^-118 (E8M0 code 0)."""
    i = np.arange(k)
    rows = [np.zeros(k), np.full(k, -0.0), np.where(i % 3 == 0, 1e-40, -3e-42),
            np.linspace(-4, 5, k) * np.finfo(F32).tiny, np.linspace(-3.0e38, 3.4e38, k),
            np.where(i % 2 == 0, 511.0, -470.0), np.where(i % 2 == 0, 256.0, 464.0),       # 464: tie 448 / 480
            np.where(i % 4 == 0, 256.0, np.where(i % 4 == 1, 2.0 ** -9 * 1.5, -(2.0 ** -10))),  # subnormal ties
            np.where(i == k // 2, 1.0, 0.0), np.where(i % 5 == 0, 2.0 ** -125, -(2.0 ** -130))]
    return np.stack([np.asarray(r, dtype=F32) for r in rows])


# ---- the format --------------------------------------------------------------------------------------------
def test_format_is_mxfp8_e4m3_with_e8m0_per_32():
    f = quant.get_format(FMT)
    assert f.default_block == 32 and f.bits_per_element() == 8.25 and f.elem_emax == 8 and f.unit == 2.0 ** -9
    assert "OCP Microscaling Formats (MX) v1.0" in f.provenance
    codes = np.arange(256)
    finite = (codes & 0x7F) != 0x7F
    assert np.array_equal(f.int_table[finite] * 2.0 ** -9, np.abs(FP8_E4M3.decode(codes[finite])) *
                          np.where(codes[finite] & 0x80, -1, 1))
    assert np.abs(f.int_table).max() == 448 * 512 < 2 ** 18


def test_every_code_round_trips_and_each_tie_goes_to_the_even_code():
    """Exhaustive: every finite E4M3 value (and every midpoint) times 2^e in a block whose amax fixes e."""
    v = FP8_E4M3.values[:127]
    mids = (v[:-1] + v[1:]) / 2
    vals = np.concatenate([v, -v, mids, -mids])                   # 506 values, 31 per block after an anchor
    vals = np.concatenate([vals, np.zeros(-len(vals) % 31)]).reshape(-1, 31)
    for e in (-127, -20, 0, 7, 119):
        x = np.concatenate([np.full((len(vals), 1), 256.0), vals], axis=1)   # amax in [256, 512): exponent e
        q = quant.quantize(np.ldexp(x, e).astype(F32).reshape(1, -1), FMT)
        assert (q.exponent == e).all()
        c = q.codes.reshape(-1, 32)[:, 1:].reshape(-1)
        assert np.array_equal(c[:127], np.arange(127)) and np.array_equal(c[127:254], np.arange(127) | 0x80)
        tie = c[254:380]
        assert (tie % 2 == 0).all() and np.array_equal(tie, np.arange(126) + np.arange(126) % 2)
        assert np.array_equal(c[380:506], tie | 0x80)


def test_saturation_negative_zero_and_scale_rule():
    x = np.array([[500.0, -470.0, 464.0, 449.0, -0.0, -1e-30, 0.0, 2.0 ** -10, 1.5 * 2.0 ** -9] + [0.0] * 23],
                 F32)
    q = quant.quantize(x, FMT)
    assert q.exponent[0, 0] == 0                                  # floor(log2 500) - 8
    assert list(q.codes[0, :9]) == [0x7E, 0xFE, 0x7E, 0x7E, 0x80, 0x80, 0x00, 0x00, 0x02]
    assert quant.quantize(np.zeros((1, 32), F32), FMT).exponent[0, 0] == -127
    assert quant.quantize(np.full((1, 32), 3.0e38, F32), FMT).exponent[0, 0] == 119


def test_reference_matches_the_independent_spec():
    rng = np.random.default_rng(0)
    x = np.concatenate([edge_rows(), rounding_tie_activations(6, 64, FMT, 3),
                        (rng.standard_t(1.5, (4, 64)) * 1e3).astype(F32)])
    assert quant.quantize(x, FMT).equal_bits(golden_qtensor(x, FMT))


@pytest.mark.parametrize("backend", ["numba", "accel", pytest.param("triton", marks=pytest.mark.triton)])
def test_quantize_is_bit_identical_on_every_back_end(backend):
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 2 ** 32, (8, 96), dtype=np.uint64).astype(np.uint32).view(F32)
    x = np.concatenate([edge_rows(96), np.where(np.isfinite(raw), raw, F32(1.0)),
                        rounding_tie_activations(4, 96, FMT, 4)]).astype(F32)
    ref = quant.quantize(x, FMT)
    assert quant.quantize(x, FMT, backend=backend).equal_bits(ref)
    odd = x[:, :77]                                               # K not a whole number of blocks; odd block size
    assert quant.quantize(odd, FMT, backend=backend).equal_bits(quant.quantize(odd, FMT))
    assert quant.quantize(odd, FMT, block=5, backend=backend).equal_bits(quant.quantize(odd, FMT, block=5))
    for shaped in (x[:0], x[:12].reshape(2, 6, 96)):              # no rows; leading dims flattened
        assert quant.quantize(shaped, FMT, backend=backend).equal_bits(quant.quantize(shaped, FMT))


@st.composite
def tensors(draw):
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 80)))
    base = draw(hnp.arrays(np.float32, shape, elements=st.floats(-600, 600, width=32)))
    return np.ldexp(base.astype(np.float64), draw(st.integers(-150, 110))).astype(F32)


@SETTINGS
@given(tensors())
@example(np.array([[-0.0, 0.0, 1e-45, -1e-45]], F32))
@example(np.array([[464.0, -480.0, 1.0, 2.0 ** -10]], F32))
def test_numba_matches_reference_and_properties_hold(x):
    q = quant.quantize(x, FMT)
    assert quant.quantize(x, FMT, backend="numba").equal_bits(q)
    k = x.shape[1]                                                                         # padding stays +0
    assert np.array_equal(quant.quantize(-x, FMT).codes[:, :k], q.codes[:, :k] ^ 0x80)      # sign symmetry
    assert quant.quantize(q.dequantize(), FMT).equal_bits(q)                               # idempotence
    d = q.dequantize().astype(np.float64)
    e = np.repeat(q.exponent.astype(np.float64), 32, axis=1)[:, :x.shape[1]]
    s = np.abs(x.astype(np.float64)) * np.exp2(-e)                                         # exact scaled value
    ulp = np.exp2(np.maximum(np.floor(np.log2(np.maximum(s, 2.0 ** -10))), -6) - 3)
    err = np.abs(np.abs(d) * np.exp2(-e) - np.minimum(s, 448.0))
    assert (err <= ulp / 2).all() and (np.signbit(d) == np.signbit(x)).all()


# ---- GEMM ----------------------------------------------------------------------------------------------------
def _operands(seed, m=20, k=150, n=24, spread=40):
    rng = np.random.default_rng(seed)
    mk = lambda r: (rng.standard_normal((r, k)) * np.exp2(rng.integers(-spread, spread + 1, (r, 1)))).astype(F32)
    return quant.quantize(mk(m), FMT), quant.quantize(mk(n), FMT)


def _extreme_operands():
    """Products in float32's subnormal range (exponent sums near -150) and beyond its maximum (inf; the huge rows
    have one non-zero block, so no inf - inf makes a NaN, whose bits are not part of the contract)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 64)) * np.array([2.0 ** -70, 2.0 ** -75, 2.0 ** -80, 1.0, 2.0 ** 64, 2.0 ** 60])[:, None]
    w = rng.standard_normal((5, 64)) * np.array([2.0 ** -70, 2.0 ** -72, 1.0, 2.0 ** 66, 2.0 ** 70])[:, None]
    x[4:, 32:] = 0.0
    w[3:, 32:] = 0.0
    return quant.quantize(x.astype(F32), FMT), quant.quantize(w.astype(F32), FMT)


CASES = {"random": lambda: _operands(0), "order": lambda: accumulation_order_operands(12, 256, 10, FMT, 1),
         "extremes": _extreme_operands, "narrow_w": lambda: _operands(2, m=40, n=3)}


def test_gemm_reference_is_the_contract():
    qx, qw = CASES["order"]()
    y = quant.qgemm(qx, qw)
    assert np.array_equal(bits(y), bits(accumulate_in(qx, qw, F32)))
    assert differing_share(y, accumulate_in(qx, qw, np.float64)) > 0.3        # the order shows in the bits
    qx, qw = _extreme_operands()
    y = quant.qgemm(qx, qw)
    assert np.isinf(y).any() and ((y != 0) & (np.abs(y) < np.finfo(F32).tiny)).any() and not np.isnan(y).any()
    p = (qx.element_ints()[:, None, :] * qw.element_ints()[None, :, :]).reshape(6, 5, 2, 32).sum(-1)
    s = qx.exponent.astype(np.int64)[:, None, :] + qw.exponent.astype(np.int64)[None, :, :] - 18
    with np.errstate(over="ignore"):
        want = np.ldexp(p[..., 0].astype(np.float64), s[..., 0]).astype(F32)
        want = (want + np.ldexp(p[..., 1].astype(np.float64), s[..., 1]).astype(F32)).astype(F32)
    assert np.array_equal(bits(y), bits(want))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("backend", ["numba", "accel", pytest.param("triton", marks=pytest.mark.triton)])
def test_gemm_is_bit_identical_on_every_back_end(backend, case):
    qx, qw = CASES[case]()
    be = accel() if backend == "accel" else backend
    assert np.array_equal(bits(quant.qgemm(qx, qw, backend=be)), bits(quant.qgemm(qx, qw)))


@pytest.mark.parametrize("backend", ["numba", "accel", pytest.param("triton", marks=pytest.mark.triton)])
def test_gemm_residual_rows_and_bias_are_bit_identical(backend):
    qx, qw = _operands(3, m=9, k=64, n=7)
    qr = quant.quantize(np.random.default_rng(4).standard_normal((3, 64)).astype(F32), FMT)
    kw = dict(bias=np.linspace(-1, 1, 7).astype(F32), residual=qr, residual_rows=[0, 4, 8])
    be = accel() if backend == "accel" else backend
    assert np.array_equal(bits(quant.qgemm(qx, qw, backend=be, **kw)), bits(quant.qgemm(qx, qw, **kw)))


# ---- refusals ------------------------------------------------------------------------------------------------
def test_unsupported_pairs_and_bad_inputs_are_refused():
    x = np.ones((2, 64), F32)
    q8, i8, d4 = quant.quantize(x, FMT), quant.quantize(x, "int8_g32"), quant.quantize(x, "dialectfp4")
    for a, b in ((q8, i8), (i8, q8), (q8, d4), (d4, q8)):
        for backend in ("reference", "numba", accel()):
            with pytest.raises(QuantError, match=f"X format {a.fmt} .* W format {b.fmt}"):
                quant.qgemm(a, b, backend=backend)
    with pytest.raises(ShapeError, match="block size mismatch"):
        quant.qgemm(q8, quant.quantize(x, FMT, block=16))
    with pytest.raises(QuantError, match="takes no selector"):
        quant.quantize(x, FMT, selector="lut_argmin")
    with pytest.raises(QuantError, match="unknown knob"):
        quant.quantize(x, FMT, threshold=1)
    bad = np.array(x)
    bad[1, 40] = np.inf
    for backend in ("reference", "numba"):
        with pytest.raises(NonFiniteError, match="'attn.p' at row 1, block 1"):
            quant.quantize(bad, FMT, tensor="attn.p", backend=backend)
    big = quant.quantize(np.full((1, 32), 3.0e38, F32), FMT)          # exponent 119 + 119 - 18 > 127
    for backend in ("reference", "numba", accel()):
        with pytest.raises(QuantError, match="overflows float32 at row 0, column 0, block 0"):
            quant.qgemm(big, big, backend=backend)


def test_nan_codes_are_refused_in_gemm_and_from_bytes():
    q = quant.quantize(np.ones((2, 32), F32), FMT)
    codes = q.codes.copy()
    codes[1, 3] = 0xFF
    nan = quant.QTensor(q.fmt, q.shape, q.block, codes, q.dialect, exponent=q.exponent)
    for backend in ("reference", "numba", accel()):
        with pytest.raises(QuantError, match="code 0xff at row 1, element 3 is the fp8_e4m3 NaN encoding"):
            quant.qgemm(nan, q, backend=backend)
    with pytest.raises(QuantError, match="field 'codes'"):
        quant.QTensor.from_bytes(nan.to_bytes())
    assert quant.QTensor.from_bytes(q.to_bytes()).equal_bits(q)


# ---- the accelerator model's fp8 lanes -----------------------------------------------------------------------
def test_fp8_lane_kind_is_costed_and_required():
    from sim.accel import load_arch, specialize
    from sim.accel.area import instance_counts, per_instance_areas
    from sim.accel.energy import load_energy_table
    from sim.accel.recipes import mac_mode_of, operand_hw
    from sim.accel.schema import SpecError
    assert mac_mode_of(quant.get_format(FMT)) == "fp8"
    op = operand_hw(quant.recipes.TensorSpec(FMT))
    assert (op.mac_mode, op.bits, op.online, op.block) == ("fp8", 8.25, "e4m3_round", 32)
    spec = specialize(load_arch("edge"), "semanticdialect-attn8")
    counts = instance_counts(spec)
    pes = spec.pe_array.rows * spec.pe_array.cols
    assert counts["pe_array"]["pe.fp8_lane"] == pes * 4 and counts["pe_array"]["pe.scaler_pow2_wide"] == pes
    assert counts["decoders"]["decoder.e4m3"] == (spec.pe_array.rows + spec.pe_array.cols) * 4
    table = load_energy_table("horowitz45")
    areas, sources = per_instance_areas(table, None)
    assert areas["pe.fp8_lane"] == pytest.approx(1.5 * areas["pe.int8_lane"]) and "[vB23]" in sources["pe.fp8_lane"]
    assert table.action_pj["mac.fp8"] == pytest.approx(1.5 * table.action_pj["mac.int8"])
    q = quant.quantize(np.ones((1, 32), F32), FMT)
    with pytest.raises(SpecError, match="pe_array.mac_modes.*operand X in fp8_e4m3_g32 needs MAC mode 'fp8'"):
        quant.qgemm(q, q, backend="accel")                        # the shipped edge design has no fp8 lanes
