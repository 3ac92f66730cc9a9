"""The accel back end is built from a design: two designs that differ in array rows and columns, tiling
(dataflow and buffers), LUT-unit selector kind, book size, banks and edge-decoder ROM give the reference's bits;
designs the model cannot represent raise SpecError naming the field."""
import dataclasses

import numpy as np
import pytest

import quant
import sim.accel  # noqa: F401
from sim.accel import load_arch, specialize
from sim.accel.datapath_pe import schedule
from sim.accel.functional import AccelBackend, backend_for, default_backend
from sim.accel.schema import SpecError

F32 = np.float32
ALL_MODES = {"dialect4": {"macs_per_cycle": 8}, "e2m1": {"macs_per_cycle": 8}, "fp4_scaled": {"macs_per_cycle": 8},
             "int4": {"macs_per_cycle": 8}, "int8": {"macs_per_cycle": 4}}
# design B: a 3x5 weight-stationary array (a fold holds 24 elements of K: every block straddles two folds),
# small buffers (K is split into chunks), a two-stage unit of 16 dialects with 2 banks, a 16-row decoder ROM
SMALL = {"pe_array": {"rows": 3, "cols": 5, "dataflow": "ws", "mac_modes": ALL_MODES},
         "lut_unit": {"selector": "two_stage", "book_size": 16, "banks": 2, "units": 1, "sub_books": 1},
         "decode_lut": {"max_dialects": 16},
         "global_buffer": {"inputs": {"size_bytes": 1024}, "weights": {"size_bytes": 1024},
                           "outputs": {"size_bytes": 4096}}}


@pytest.fixture(scope="module")
def designs():
    return load_arch("edge"), load_arch("edge", overrides=SMALL)


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.view(np.uint32).tobytes() == b.view(np.uint32).tobytes()


def heavy(rng, shape):
    x = rng.standard_t(3, size=shape).astype(F32)
    x[..., rng.choice(shape[-1], 2, replace=False)] *= 50
    return x


def with_corners(x):
    x = x.copy()
    x[0, :32] = 0.0                                  # zero block
    x[1, :32] = -0.0
    x[2, :32] = 1e-45                                # subnormal block: every q is 0, not a zero block
    x[3, :32] = np.float32(3.4e38)                   # saturating
    x[4, :32] = np.arange(32) / 4 + 1 / 8            # quarter-unit rounding ties
    return x


def test_the_two_designs_differ_in_every_field_the_datapath_reads(designs):
    a, b = designs
    pa, pb, la, lb = a.pe_array, b.pe_array, a.lut_unit, b.lut_unit
    assert pa.rows != pb.rows and pa.cols != pb.cols and pa.dataflow != pb.dataflow
    assert a.global_buffer.inputs.size_bytes != b.global_buffer.inputs.size_bytes
    assert la.selector != lb.selector and la.book_size != lb.book_size and la.banks != lb.banks
    assert a.decode_lut.max_dialects != b.decode_lut.max_dialects
    ta, tb = schedule(a, 64, 40, 320, 8), schedule(b, 64, 40, 320, 8)
    assert all(len(t.segments) == 1 for t in ta)                 # edge: K whole in every tile
    assert len(tb) > len(ta) and len(tb[0].segments) > 1         # small: more tiles, K in folds


@pytest.mark.parametrize("fmt", ["dialectfp4", "mxfp4", "nvfp4", "int4_g32", "int4_g128", "int8"])
@pytest.mark.parametrize("shape", [(37, 100, 23), (16, 320, 16), (1, 300, 40)])
def test_qgemm_bits_on_both_designs(designs, fmt, shape):
    m, k, n = shape
    rng = np.random.default_rng(m * 1000 + k)
    qx = quant.quantize(with_corners(heavy(rng, (m, k))) if m > 4 else heavy(rng, (m, k)), fmt)
    qw = quant.quantize((0.02 * rng.standard_normal((n, k))).astype(F32), fmt)
    ref = quant.qgemm(qx, qw)
    for arch in designs:
        assert same_bits(quant.qgemm(qx, qw, backend=backend_for(arch)), ref), arch.name


def test_residual_rows_bias_flush_and_overflow_to_inf(designs):
    rng = np.random.default_rng(7)
    x = heavy(rng, (40, 96))
    x[6] *= F32(2.0 ** -70)                          # block scales below 2^-126 flush to +0
    qx = quant.quantize(x, "dialectfp4")
    w = rng.standard_normal((33, 96)).astype(F32)
    x2, w[3] = x.copy(), F32(7 * 2.0 ** 97)
    x2[9] = F32(-7 * 2.0 ** 30)                      # scale 2^(30 + 97 - 2), P = -6272: -inf
    qx2, qw = quant.quantize(x2, "dialectfp4"), quant.quantize(w, "dialectfp4")
    rows = np.array([3, 17, 39, 0])
    res = quant.quantize(x[rows] - qx.dequantize()[rows], "dialectfp4")
    bias = rng.standard_normal(33).astype(F32)
    for arch in designs:
        be = backend_for(arch)
        assert same_bits(be.qgemm(qx, qw, bias=bias, residual=res, residual_rows=rows),
                         quant.qgemm(qx, qw, bias=bias, residual=res, residual_rows=rows))
        got = be.qgemm(qx2, qw)
        assert np.isinf(got).any() and same_bits(got, quant.qgemm(qx2, qw))
    big = quant.quantize(np.full((2, 32), 2.0 ** 120, F32), "dialectfp4")
    with pytest.raises(quant.QuantError, match="overflows float32"):
        backend_for(designs[1]).qgemm(big, big)


def test_flush_edge_of_the_block_scale(designs):
    """Exponent sums of exactly -127 flush to +0, -126 do not (4 * 2^e blocks have exponent e)."""
    x = np.array([[4 * 2.0 ** -63] * 32, [-4 * 2.0 ** -64] * 32], dtype=F32)
    w = np.array([[4 * 2.0 ** -62] * 32, [4 * 2.0 ** -61] * 32], dtype=F32)
    qx, qw = quant.quantize(x, "dialectfp4"), quant.quantize(w, "dialectfp4")
    ref = quant.qgemm(qx, qw)
    assert ref[0, 0] == 0 and ref[0, 1] != 0 and ref[1, 0] == 0 and ref[1, 1] == 0 and np.signbit(ref[1, 0]) == 0
    for arch in designs:
        assert same_bits(backend_for(arch).qgemm(qx, qw), ref)


def test_float32_ascending_accumulation_is_what_the_array_does(designs):
    """Block exponents spread over 2^+-24: the float32 ascending sum differs from one rounding of the exact sum
    in many outputs, so a wider accumulator would be caught."""
    from quant.gemm import block_partials, scale_exponents
    rng = np.random.default_rng(9)
    x = rng.standard_normal((24, 16 * 32)) * 2.0 ** np.repeat(rng.integers(-24, 25, (24, 16)), 32, axis=1)
    qx = quant.quantize(x.astype(F32), "dialectfp4")
    qw = quant.quantize(rng.standard_normal((20, 16 * 32)).astype(F32), "dialectfp4")
    exact = (np.ldexp(block_partials(qx, qw).astype(np.float64), scale_exponents(qx, qw))).sum(axis=0).astype(F32)
    ref = quant.qgemm(qx, qw)
    assert (exact != ref).mean() > 0.2
    for arch in designs:
        assert same_bits(backend_for(arch).qgemm(qx, qw), ref)


def test_each_design_quantizes_with_its_own_selector(designs):
    rng = np.random.default_rng(11)
    x = with_corners(heavy(rng, (64, 256)))
    edge, small = (backend_for(d) for d in designs)
    assert quant.quantize(x, "dialectfp4-32", backend=edge.name).equal_bits(quant.quantize(x, "dialectfp4-32"))
    ref = quant.quantize(x, "dialectfp4", selector="two_stage", threshold=2)
    assert quant.quantize(x, "dialectfp4", selector="two_stage", threshold=2, backend=small).equal_bits(ref)
    with pytest.raises(SpecError, match="lut_unit.selector"):
        quant.quantize(x, "dialectfp4", selector="two_stage", backend=edge)
    with pytest.raises(SpecError, match="lut_unit.selector"):
        quant.quantize(x, "dialectfp4", selector="lut_argmin", backend=small)
    w = quant.quantize(x, "dialectfp4", selector="exact_mse", backend=small)   # offline: the host's selector
    assert w.equal_bits(quant.quantize(x, "dialectfp4", selector="exact_mse"))


def test_get_backend_binds_a_design_and_plain_accel_is_edge(designs):
    be = quant.get_backend("accel", arch=designs[1])
    assert isinstance(be, AccelBackend) and be.arch == designs[1] and quant.get_backend(be.name) is be
    assert quant.get_backend(be) is be and quant.get_backend("accel", arch="edge").arch.name == "edge"
    assert default_backend().arch == load_arch("edge")
    clash = dataclasses.replace(designs[0], clock_mhz=500.0)             # same name, another design
    assert backend_for(clash).name.startswith("accel:edge#") and backend_for(clash).arch == clash
    with pytest.raises(quant.QuantError, match="not built from a hardware design"):
        quant.get_backend("reference", arch="edge")
    with pytest.raises(quant.UnknownNameError):
        quant.get_backend(object())


def _lut(arch, **kw):
    return dataclasses.replace(arch, lut_unit=dataclasses.replace(arch.lut_unit, **kw))


@pytest.mark.parametrize("change, field", [
    (dict(selector="restricted_lut"), "lut_unit.selector"),
    (dict(selector="two_stage", book_size=15), "lut_unit.book_size"),
    (dict(selector="seda", sub_books=3), "lut_unit.sub_books"),
])
def test_unrepresentable_designs_name_the_field_at_construction(change, field):
    with pytest.raises(SpecError) as exc:
        backend_for(_lut(load_arch("edge"), **change))
    assert f"'{field}'" in str(exc.value) and "edge.yaml" in str(exc.value)


def test_unrepresentable_calls_name_the_field(designs):
    rng = np.random.default_rng(2)
    x = heavy(rng, (8, 64))
    small = backend_for(designs[1])
    cases = [
        (lambda: quant.quantize(x, "dialectfp4-32", selector="two_stage", backend=backend_for(
            _lut(designs[1], book_size=16))), "lut_unit.book_size"),
        (lambda: small.qgemm(*[quant.quantize(x, "dialectfp4-32")] * 2), "decode_lut.max_dialects"),
        (lambda: backend_for("rtl-pe-array").qgemm(*[quant.quantize(x, "nvfp4")] * 2), "pe_array.mac_modes"),
        (lambda: quant.quantize(x, "dialectfp4", backend=backend_for("int8-systolic")), "lut_unit.selector"),
        (lambda: backend_for("edge").check_recipe("blockdialect"), "lut_unit.selector"),
        (lambda: small.check_recipe("semanticdialect"), "lut_unit.selector"),
        (lambda: backend_for(_lut(designs[1], selector="lut_argmin")).check_recipe("semanticdialect"),
         "lut_unit.book_size"),
        (lambda: backend_for(_lut(designs[0], selector="seda", sub_books=8)).check_recipe("semanticdialect"),
         "lut_unit.sub_books"),
    ]
    for run, field in cases:
        with pytest.raises(SpecError) as exc:
            run()
        assert f"'{field}'" in str(exc.value), (field, str(exc.value))


def test_specialized_designs_run_their_recipes():
    edge = load_arch("edge")
    for recipe in ("semanticdialect", "blockdialect", "semanticdialect-d16", "mxfp4", "nvfp4", "int4_g32"):
        backend_for(specialize(edge, recipe)).check_recipe(recipe)
    backend_for("edge").check_recipe("semanticdialect")
