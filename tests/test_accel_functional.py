"""The accelerator back end returns the reference's float32 bits (raw-bit comparisons)."""
import numpy as np
import pytest

import quant
import sim.accel  # noqa: F401  (registers the "accel" back end)
from quant.blocks import block_exponent, intermediate_q as ref_q
from sim.accel import functional

FORMATS = ["dialectfp4", "mxfp4", "nvfp4", "int4_g32", "int4_g128", "int8"]


def same_bits(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.view(np.uint32).tobytes() == b.view(np.uint32).tobytes()


def heavy(rng, shape, outliers=True):
    x = rng.standard_t(3, size=shape).astype(np.float32)
    if outliers:
        x[..., rng.choice(shape[-1], 2, replace=False)] *= 50
    return x


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", [(37, 100, 23), (16, 64, 16), (1, 300, 40)])
def test_qgemm_bits_match_reference(fmt, shape):
    m, k, n = shape
    rng = np.random.default_rng(m * 1000 + k)
    qx = quant.quantize(heavy(rng, (m, k)), fmt)
    qw = quant.quantize((0.02 * rng.standard_normal((n, k))).astype(np.float32), fmt)
    assert same_bits(quant.qgemm(qx, qw, backend="accel"), quant.qgemm(qx, qw))


@pytest.mark.parametrize("fmt", ["dialectfp4", "nvfp4"])
def test_residual_rows_and_bias(fmt):
    rng = np.random.default_rng(7)
    x = heavy(rng, (40, 96))
    qx = quant.quantize(x, fmt)
    rows = np.array([3, 17, 39, 0])
    res = quant.quantize(x[rows] - qx.dequantize()[rows], fmt)
    qw = quant.quantize(rng.standard_normal((33, 96)).astype(np.float32), fmt)
    bias = rng.standard_normal(33).astype(np.float32)
    ref = quant.qgemm(qx, qw, bias=bias, residual=res, residual_rows=rows)
    got = quant.qgemm(qx, qw, bias=bias, residual=res, residual_rows=rows, backend="accel")
    assert same_bits(got, ref)


def test_extreme_exponents_flush_and_tiny_values():
    rng = np.random.default_rng(3)
    x = heavy(rng, (20, 64)) * np.float32(2.0 ** -60)
    w = heavy(rng, (18, 64)) * np.float32(2.0 ** -70)
    x[0] = 0.0
    qx, qw = quant.quantize(x, "dialectfp4"), quant.quantize(w, "dialectfp4")
    assert same_bits(quant.qgemm(qx, qw, backend="accel"), quant.qgemm(qx, qw))


def test_intermediate_q_from_float_bits_matches_reference():
    rng = np.random.default_rng(0)
    specials = np.array([0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38, 0.5, 0.75, 7.5, 7.49, 6.25],
                        dtype=np.float32)
    x = np.concatenate([specials, rng.standard_normal(4000).astype(np.float32) * np.float32(10) ** rng.integers(
        -40, 38, 4000).astype(np.float32)])
    x = x[np.isfinite(x)]
    xb = x[: len(x) // 32 * 32].reshape(-1, 1, 32)
    e = block_exponent(xb)
    assert (functional.intermediate_q(xb, e) == ref_q(xb, e)).all()
    # every q (0..31) at every exponent offset of a block with a fixed maximum
    grid = (np.arange(256, dtype=np.float32) / np.float32(32)).reshape(-1, 1, 32)
    ge = block_exponent(grid)
    assert (functional.intermediate_q(grid, ge) == ref_q(grid, ge)).all()


@pytest.mark.parametrize("selector", ["lut_argmin", "two_stage", "exact_mse"])
def test_lut_unit_encode_matches_reference(selector):
    rng = np.random.default_rng(11)
    x = heavy(rng, (64, 256))
    x[5, :32] = 0.0                                    # an all-zero block
    x[6, :32] = -0.0
    a = quant.quantize(x, "dialectfp4", selector=selector)
    b = quant.quantize(x, "dialectfp4", selector=selector, backend="accel")
    assert a.equal_bits(b)


@pytest.mark.parametrize("banks", [1, 3, 16])
def test_bank_passes_and_restricted_search_keep_lowest_id_ties(banks):
    rng = np.random.default_rng(5)
    x = heavy(rng, (32, 128))
    from quant.blocks import as_blocks
    xb = as_blocks(x, 32)
    e = block_exponent(xb)
    book = quant.formatbook("dialectfp4")
    allowed = np.zeros((16,), dtype=bool)
    allowed[[1, 4, 5, 9]] = True
    from quant.reference_backend import select_encode as ref
    for mask in (None, allowed):
        d_ref, c_ref = ref("lut_argmin", xb, e, book, allowed=mask)
        d, c = functional.select_encode("lut_argmin", xb, e, book, allowed=mask, banks=banks)
        assert np.array_equal(d, d_ref) and c.tobytes() == c_ref.astype(np.uint8).tobytes()
