"""Triton GEMM kernel vs quant.gemm.qgemm_reference, raw float32 bits (.view(np.int32)).  Interpreter on CPU by
default; the same cases on a GPU with -m gpu (where the result must still match bit for bit)."""
import numpy as np
import pytest

import kernels  # noqa: F401  (before triton: picks the interpreter on a machine without a GPU)

pytest.importorskip("triton", reason="triton not installed: pip install 'semdialect-suite[gpu]'")

import quant  # noqa: E402
from quant.decompose import decompose  # noqa: E402
from kernels import backend, cases  # noqa: E402

pytestmark = [pytest.mark.triton, pytest.mark.usefixtures("triton_kernel_mode")]
D32 = cases.book_d32().name



def bits(y):
    return np.ascontiguousarray(y, dtype=np.float32).view(np.int32)


def assert_gemm_same(qx, qw, **kw):
    ref = quant.qgemm(qx, qw, backend="reference", **kw)
    tri = quant.qgemm(qx, qw, backend="triton", **kw)
    assert tri.shape == ref.shape and tri.dtype == np.float32
    np.testing.assert_array_equal(bits(tri), bits(ref))
    return ref


def operands(m, n, k, fx, fw, seed=0, block=None, wsel=None):
    rng = np.random.default_rng(seed)
    x = cases.mixed_inputs(rng, m, k, block or 32)[-m:] if m > 1 else cases.heavy_tailed(rng, (m, k))
    w = cases.heavy_tailed(rng, (n, k))
    return quant.quantize(x, fx, block=block), quant.quantize(w, fw, block=block, selector=wsel)


@pytest.mark.parametrize("m,n,k", [(1, 5, 33), (7, 1, 64), (33, 20, 100), (70, 65, 96), (1, 1, 1)])
def test_dialect_gemm_ragged_shapes(m, n, k):
    qx, qw = operands(m, n, k, "dialectfp4", "dialectfp4", seed=k)
    assert_gemm_same(qx, qw)


@pytest.mark.parametrize("fx,fw,wsel", [(D32, "dialectfp4", None), ("dialectfp4", D32, "exact_mse"),
                                        ("mxfp4", "mxfp4", None), ("dialectfp4", "mxfp4", None)])
def test_mixed_pow2_formats(fx, fw, wsel):
    qx, qw = operands(24, 18, 80, fx, fw, seed=3, wsel=wsel)
    assert_gemm_same(qx, qw)


@pytest.mark.parametrize("block,k", [(16, 40), (64, 130)])
def test_other_block_sizes(block, k):
    qx, qw = operands(9, 11, k, "dialectfp4", "dialectfp4", seed=block, block=block)
    assert_gemm_same(qx, qw)


@pytest.mark.parametrize("fmt,k", [("nvfp4", 70), ("int4_g32", 100), ("int4_g128", 150), ("int8", 75)])
def test_float_scaled_gemm(fmt, k):
    qx, qw = operands(13, 10, k, fmt, fmt, seed=k)
    assert_gemm_same(qx, qw)


def test_residual_rows_and_bias():
    rng = np.random.default_rng(11)
    x = cases.heavy_tailed(rng, (40, 96))
    rows = np.array([37, 2, 19, 0, 5])                  # unordered subset, two tiles
    qx, qr = decompose(x, "dialectfp4", rows)
    qw = quant.quantize(cases.heavy_tailed(rng, (21, 96)), "dialectfp4", selector="exact_mse")
    bias = rng.standard_normal(21).astype(np.float32)
    assert_gemm_same(qx, qw, residual=qr, residual_rows=rows, bias=bias)
    y = backend.qgemm(qx, qw, residual=qr, residual_rows=rows, bias=bias, tile=(16, 16))   # many tiles
    np.testing.assert_array_equal(bits(y), bits(quant.qgemm(qx, qw, residual=qr, residual_rows=rows, bias=bias)))


def test_float_scaled_residual():
    rng = np.random.default_rng(12)
    x = cases.heavy_tailed(rng, (20, 64))
    qx, qr = decompose(x, "nvfp4", [3, 11])
    qw = quant.quantize(cases.heavy_tailed(rng, (9, 64)), "nvfp4")
    assert_gemm_same(qx, qw, residual=qr, residual_rows=[3, 11], bias=np.ones(9, np.float32))


def test_exponent_flush_to_zero():
    """Blocks whose scale 2^(ex+ew-2) is below 2^-126 contribute +0.0; others in the same sum do not."""
    rng = np.random.default_rng(13)
    x = cases.heavy_tailed(rng, (6, 96)) * np.float32(2.0 ** -70)
    x[:, 64:] *= np.float32(2.0 ** 60)                 # the last block stays representable
    w = (cases.heavy_tailed(rng, (5, 96)) * np.float32(2.0 ** -60)).astype(np.float32)
    qx, qw = quant.quantize(x, "dialectfp4"), quant.quantize(w, "dialectfp4")
    s = qx.exponent.astype(int)[:, None, :] + qw.exponent.astype(int)[None, :, :] - 2
    assert (s < -126).any() and (s >= -126).any()
    ref = assert_gemm_same(qx, qw)
    assert (ref != 0).any()


def test_flush_boundary_exactly():
    """Row i has ex = -58 - i and W has ew = -64, so s = -124 ... -129: rows down to s = -126 are kept and
    rows from s = -127 flushed, with nothing larger in the sum to hide a wrong contribution."""
    rng = np.random.default_rng(15)
    x = rng.uniform(1.0, 4.0, size=(6, 64)).astype(np.float32)
    x[:, ::32] = 4.0                                    # amax = 4 * 2^(-58-i) in every block
    x = x * np.ldexp(np.float32(1.0), -58 - np.arange(6))[:, None].astype(np.float32)
    w = rng.uniform(1.0, 4.0, size=(3, 64)).astype(np.float32)
    w[:, ::32] = 4.0
    w = w * np.float32(2.0 ** -64)
    qx, qw = quant.quantize(x, "dialectfp4"), quant.quantize(w, "dialectfp4")
    assert (qx.exponent == (-58 - np.arange(6))[:, None]).all() and (qw.exponent == -64).all()
    ref = assert_gemm_same(qx, qw)
    assert (ref[:3] != 0).all() and (ref[3:] == 0).all()


def test_subnormal_and_huge_operands():
    x = cases.special_rows(32, 64)
    qx = quant.quantize(x, "dialectfp4")
    qw = quant.quantize(np.abs(cases.heavy_tailed(np.random.default_rng(14), (4, 64))) * np.float32(1e-3), "mxfp4")
    assert_gemm_same(qx, qw)


def test_scale_overflow_raises_like_reference():
    x = np.full((3, 32), 2.0 ** 100, dtype=np.float32)
    w = np.full((2, 32), 2.0 ** 40, dtype=np.float32)
    qx, qw = quant.quantize(x, "dialectfp4"), quant.quantize(w, "dialectfp4")
    msgs = []
    for be in ("reference", "triton"):
        with pytest.raises(quant.QuantError, match="overflows float32") as info:
            quant.qgemm(qx, qw, backend=be)
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]


def test_operand_checks():
    qx, qw = operands(4, 4, 64, "dialectfp4", "nvfp4")
    with pytest.raises(quant.QuantError, match="cannot multiply"):
        quant.qgemm(qx, qw, backend="triton")
    with pytest.raises(quant.ShapeError, match="bias has"):
        quant.qgemm(qx, quant.quantize(np.ones((4, 64), np.float32), "dialectfp4"), bias=np.ones(3), backend="triton")
