"""Fused decomposition kernel (kernels.decompose) vs the reference composition quant.decompose.decompose:
raw bits of both QTensors (X and the salient rows' residual), then the GEMM with the residual accumulator."""
import numpy as np
import pytest

import kernels  # noqa: F401  (before triton: picks the interpreter on a machine without a GPU)

pytest.importorskip("triton", reason="triton not installed: pip install 'semdialect-suite[gpu]'")

import quant  # noqa: E402
from quant.decompose import decompose as reference  # noqa: E402
from kernels import cases  # noqa: E402
from kernels.decompose import decompose as fused  # noqa: E402

pytestmark = [pytest.mark.triton, pytest.mark.usefixtures("triton_kernel_mode")]
D32 = cases.book_d32().name



def assert_same(x, fmt, rows, **kw):
    qx, qr = reference(x, fmt, rows, **kw)
    fx, fr = fused(x, fmt, rows, **kw)
    assert fx.equal_bits(qx), "main QTensor differs"
    assert (qr is None and fr is None) or fr.equal_bits(qr), "residual QTensor differs"
    return qx, qr


@pytest.mark.parametrize("fmt,kw", [("dialectfp4", {}), ("dialectfp4", {"selector": "two_stage"}),
                                    (D32, {}), ("mxfp4", {}), ("dialectfp4", {"block": 16})])
def test_fused_matches_reference_composition(fmt, kw):
    rng = np.random.default_rng(len(fmt))
    x = cases.mixed_inputs(rng, 60, 100, kw.get("block", 32))
    rows = np.array([64, 3, 0, 17, 68, 40])               # unordered, spread over two row tiles
    qx, qr = assert_same(x, fmt, rows, **kw)
    assert (qr.exponent != -127).any()                    # the residual is not trivially zero


def test_fused_with_seda_restriction_on_x_only():
    rng = np.random.default_rng(2)
    x = cases.heavy_tailed(rng, (30, 64))
    members = np.zeros((4, 32), dtype=bool)
    for s in range(4):
        members[s, 8 * s:8 * s + 8] = True
    allowed = members[rng.integers(0, 4, size=30)][:, None, :]
    assert_same(x, D32, [1, 29, 7], allowed=allowed)


def test_saturate_nonfinite_in_salient_rows():
    x = cases.heavy_tailed(np.random.default_rng(3), (8, 64))
    x[2, 5], x[2, 40], x[6, 0] = np.inf, np.nan, -np.inf
    assert_same(x, "dialectfp4", [2, 6], nonfinite="saturate")


def test_no_salient_rows_and_fallbacks():
    x = cases.heavy_tailed(np.random.default_rng(4), (8, 64))
    assert_same(x, "dialectfp4", [])
    assert_same(x, "nvfp4", [1, 4])                         # float-scaled: kernel composition on the host
    assert_same(x, "dialectfp4", [1, 4], selector="exact_mse")


def test_bad_rows_raise():
    x = np.ones((4, 32), dtype=np.float32)
    with pytest.raises(quant.ShapeError, match="distinct indices"):
        fused(x, "dialectfp4", [1, 1])


def test_gemm_with_fused_residual_matches_reference():
    rng = np.random.default_rng(5)
    x = cases.heavy_tailed(rng, (33, 96))
    rows = [32, 4, 9]
    qx, qr = fused(x, "dialectfp4", rows)
    qw = quant.quantize(cases.heavy_tailed(rng, (17, 96)), "dialectfp4", selector="exact_mse")
    ref = quant.qgemm(qx, qw, residual=qr, residual_rows=rows)
    tri = quant.qgemm(qx, qw, residual=qr, residual_rows=rows, backend="triton")
    np.testing.assert_array_equal(tri.view(np.int32), ref.view(np.int32))


def test_mxfp4_signed_zero_in_salient_rows():
    """MXFP4 keeps E2M1's -0: a -0.0 element dequantizes to -0.0, so its residual -0.0 - (-0.0) is +0.0 (code 0),
    while a negative element that rounds to -0 is its own residual; the fused kernel's in-register dequantize
    must give the same signed zeros as the reference composition."""
    x = cases.mixed_inputs(np.random.default_rng(6), 6, 64, 32)
    x[10, ::3] = -0.0
    rows = [1, 2, 10]                                       # all -0.0; subnormals rounding to -0; mixed
    qx, qr = assert_same(x, "mxfp4", rows)
    assert (qx.element_codes()[1] == 8).all() and (qr.element_codes()[0] == 0).all()
    assert (qx.element_codes()[2] == 8).any() and (qr.element_codes()[1] & 8).any()
