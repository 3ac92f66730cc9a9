"""Accumulation-order and rounding-tie vectors (quant/vectors.py) on every back end, raw float32 bits.

The vectors make a float64 accumulator (one rounding at the end) differ from the contract's float32 ascending-block
accumulation in most outputs, and put activations exactly on the rounding ties of each format, so a back end that
accumulates in float64 or rounds half down fails here even where the model slice cannot tell."""
import sys
import types
from fractions import Fraction

import numpy as np
import pytest

import kernels  # noqa: F401  (before triton: picks the interpreter on a machine without a GPU)
import quant
import sim.accel  # noqa: F401  (registers the "accel" back end)
from quant.backends import register_backend
from quant.blocks import block_exponent, as_blocks
from quant.gemm import qgemm_with
from quant.vectors import (accumulate_in, accumulation_order_operands, differing_share, rounding_tie_activations,
                           scaled_partials)
from sim.pipeline.accum_stage import (GEMM_BLOCKS, MIN_FLOAT64_SHARE, STAGE_FORMATS, golden_qtensor,
                                      own_rounding_skip, run_accumulation_stage, stage_passed)

CPU_BACKENDS = ["reference", "numba", "accel"]
M, N = 12, 10                                   # small: the Triton interpreter runs the same operands


def bits(y):
    return np.ascontiguousarray(y, dtype=np.float32).view(np.int32)


def operands(fmt, seed=1):
    block = quant.get_format(fmt).default_block
    return accumulation_order_operands(M, GEMM_BLOCKS * block, N, fmt, seed)


def ties(fmt, seed=2):
    return rounding_tie_activations(6, 4 * quant.get_format(fmt).default_block, fmt, seed)


# ---- the vectors themselves ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", STAGE_FORMATS)
def test_float64_accumulation_differs_in_most_outputs(fmt):
    qx, qw = operands(fmt)
    share = differing_share(accumulate_in(qx, qw, np.float32), accumulate_in(qx, qw, np.float64))
    assert share > MIN_FLOAT64_SHARE, f"{fmt}: only {share:.0%} of outputs tell float32 from float64"


@pytest.mark.parametrize("fmt", ["dialectfp4", "nvfp4", "int4_g32"])
def test_float64_sum_is_exact(fmt):
    """The spread keeps the float64 sum exact, so 'float64 accumulator' means 'exact sum, one rounding'."""
    qx, qw = operands(fmt)
    parts = scaled_partials(qx, qw).astype(np.float64)
    acc = np.zeros(parts.shape[1:])
    for p in parts:
        acc = acc + p
    exact = [[sum(map(Fraction, parts[:, m, n].tolist())) for n in range(N)] for m in range(M)]
    assert all(Fraction(float(acc[m, n])) == exact[m][n] for m in range(M) for n in range(N))


def test_operands_need_whole_blocks():
    with pytest.raises(quant.ShapeError, match="multiple of the block 32"):
        accumulation_order_operands(2, 100, 2, "dialectfp4", 0)
    with pytest.raises(quant.ShapeError, match="at least 3 blocks"):
        accumulation_order_operands(2, 64, 2, "dialectfp4", 0)
    with pytest.raises(quant.ShapeError, match="int8"):
        accumulation_order_operands(2, 64, 2, "int8", 0)      # one block per row: nothing to order


def test_dialect_ties_sit_on_q_ties():
    x = ties("dialectfp4")
    xb = as_blocks(x, 32)
    t = np.ldexp(np.abs(xb).astype(np.float64), (2 - block_exponent(xb))[..., None])
    on_tie = (t - np.floor(t)) == 0.5
    assert (on_tie.sum(axis=-1) >= 31).all()               # all but at most the anchor of each block


# ---- GEMM bits on every back end -----------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", STAGE_FORMATS)
@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_gemm_bits_follow_float32_ascending_accumulation(backend, fmt):
    qx, qw = operands(fmt)
    y = quant.qgemm(qx, qw, backend=backend)
    np.testing.assert_array_equal(bits(y), bits(accumulate_in(qx, qw, np.float32)))
    assert differing_share(y, accumulate_in(qx, qw, np.float64)) > MIN_FLOAT64_SHARE


@pytest.mark.triton
@pytest.mark.usefixtures("triton_kernel_mode")
@pytest.mark.parametrize("fmt", STAGE_FORMATS)
def test_triton_gemm_bits_follow_float32_ascending_accumulation(fmt):
    qx, qw = operands(fmt)
    y = quant.qgemm(qx, qw, backend="triton")
    np.testing.assert_array_equal(bits(y), bits(accumulate_in(qx, qw, np.float32)))


# ---- rounding ties -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", STAGE_FORMATS)
def test_reference_ties_match_independent_spec(fmt):
    x = ties(fmt)
    want = golden_qtensor(x, fmt)
    assert want is not None
    assert quant.quantize(x, fmt).equal_bits(want)


OWN = [(b, f) for b in ["numba", "accel"] for f in STAGE_FORMATS if own_rounding_skip(b, f) is None]


@pytest.mark.parametrize("backend,fmt", OWN)
def test_tie_quantization_matches_reference(backend, fmt):
    x = ties(fmt)
    assert quant.quantize(x, fmt, backend=backend).equal_bits(quant.quantize(x, fmt))


@pytest.mark.triton
@pytest.mark.usefixtures("triton_kernel_mode")
@pytest.mark.parametrize("fmt", STAGE_FORMATS)
def test_triton_tie_quantization_matches_reference(fmt):
    x = ties(fmt)
    assert quant.quantize(x, fmt, backend="triton").equal_bits(quant.quantize(x, fmt))


# ---- the synthetic verify stage ------------------------------------------------------------------------------
def test_stage_passes_on_cpu_backends_and_skips_borrowed_quantizers():
    rows = run_accumulation_stage(CPU_BACKENDS, formats=("dialectfp4", "nvfp4"))
    assert stage_passed(rows)
    assert len(rows) == 3 * 2 * 2
    borrowed = [r for r in rows if r["skipped"]]
    assert {(r["backend"], r["format"]) for r in borrowed} == {("numba", "nvfp4"), ("accel", "nvfp4")}
    assert all(r["checked"] == 0 and r["passed"] is None for r in borrowed)


@pytest.fixture
def float64_backend():
    """A back end that is the reference except for a float64 accumulator (what the stage must reject)."""
    mod = types.ModuleType("_float64_accumulator_backend")
    mod.qgemm = lambda qx, qw, **kw: qgemm_with(lambda a, b: accumulate_in(a, b, np.float64), qx, qw, **kw)
    mod.select_encode = quant.get_backend("reference").select_encode
    sys.modules[mod.__name__] = mod
    register_backend("float64-accumulator", mod.__name__)
    yield "float64-accumulator"
    quant.backends._BACKENDS.pop("float64-accumulator")
    del sys.modules[mod.__name__]


def test_stage_rejects_a_float64_accumulator(float64_backend):
    rows = run_accumulation_stage([float64_backend], formats=("mxfp4", "int4_g32"))
    acc = [r for r in rows if r["check"] == "accumulation"]
    assert all(r["passed"] is False and r["float64_share"] == 0.0 and r["identical"] < r["checked"] for r in acc)
    assert not stage_passed(rows)


def test_stage_skips_a_backend_that_cannot_load():
    register_backend("not-installed", "no_such_module_for_accumulation_stage")
    try:
        rows = run_accumulation_stage(["not-installed"], formats=("dialectfp4",))
    finally:
        quant.backends._BACKENDS.pop("not-installed")
    assert [r["check"] for r in rows] == ["accumulation", "rounding_ties"]
    assert all("unavailable" in r["skipped"] and r["checked"] == 0 for r in rows)
    assert not stage_passed(rows)
