"""Shared block exponents (quant/exponents.py) on the Triton kernels vs the NumPy reference, raw bits: quantize
(own-exponent kernel + exponent input of the dialect kernel), the select_encode protocol with given exponents,
decomposition (the composition path) and the GEMM's float32 outputs as int32."""
import numpy as np
import pytest

import kernels  # noqa: F401  (before triton: picks the interpreter on a machine without a GPU)

pytest.importorskip("triton", reason="triton not installed: pip install 'semdialect-suite[gpu]'")

import quant  # noqa: E402
from kernels import cases  # noqa: E402
from quant.blocks import as_blocks, block_exponent  # noqa: E402
from quant.decompose import decompose  # noqa: E402
from quant.errors import QuantError  # noqa: E402
from quant.exponents import exponent_sharing, shared_exponents  # noqa: E402

pytestmark = [pytest.mark.triton, pytest.mark.usefixtures("triton_kernel_mode")]
SHARINGS = [dict(exponent_span=32), dict(exponent_span=64, exponent_offset_bits=1),
            dict(exponent_span="tensor", exponent_offset_bits=4)]


def inputs(seed=0):
    x = cases.mixed_inputs(np.random.default_rng(seed), 10, 112, 16)
    x[-1, :40] *= 2.0 ** 20
    return x


@pytest.mark.parametrize("knobs", SHARINGS)
@pytest.mark.parametrize("selector,book", [("lut_argmin", "dialectfp4-32"), ("two_stage", "dialectfp4"),
                                           ("exact_mse", "dialectfp4")])
def test_quantize_matches_reference(knobs, selector, book):
    x = inputs()
    ref = quant.quantize(x, book, selector=selector, block=16, **knobs)
    assert quant.quantize(x, book, selector=selector, block=16, backend="triton", **knobs).equal_bits(ref)


def test_select_encode_takes_given_exponents_and_refuses_lower_ones():
    from kernels import backend
    xb = as_blocks(inputs(1), 16)
    book = quant.formatbook("dialectfp4")
    e = shared_exponents(block_exponent(xb), exponent_sharing(16, "tensor", 3))
    want = quant.get_backend("reference").select_encode("lut_argmin", xb, e, book)
    got = backend.select_encode("lut_argmin", xb, e, book)
    assert all(np.array_equal(a, b) for a, b in zip(want, got))
    with pytest.raises(QuantError, match="below the block's own"):
        backend.select_encode("lut_argmin", xb, block_exponent(xb) - 1, book)


@pytest.mark.parametrize("knobs", SHARINGS[::2])
def test_decomposition_and_gemm_match_reference(knobs):
    x, w = inputs(2)[5:], cases.heavy_tailed(np.random.default_rng(3), (20, 112))
    rows = np.array([1, 4, 12])
    qx, qr = decompose(x, "dialectfp4", rows, block=16, **knobs)
    tx, tr = decompose(x, "dialectfp4", rows, block=16, backend="triton", **knobs)
    assert tx.equal_bits(qx) and tr.equal_bits(qr)
    qw = quant.quantize(w, "dialectfp4", selector="exact_mse", block=16, **knobs)
    y = quant.qgemm(qx, qw, residual=qr, residual_rows=rows)
    yt = quant.qgemm(tx, qw, residual=tr, residual_rows=rows, backend="triton")
    assert np.array_equal(y.view(np.int32), yt.view(np.int32))


def test_bad_knob_values_give_the_reference_errors():
    with pytest.raises(QuantError, match="exponent_span must be"):
        quant.quantize(inputs(), "dialectfp4", block=16, backend="triton", exponent_span=24)


@pytest.mark.parametrize("operand", ["weight", "activation"])
def test_fair_recipe_operands_match_reference(operand):
    spec = getattr(quant.recipe("semanticdialect-fair"), operand)
    x = inputs(5)
    ref = quant.quantize(x, spec.fmt, selector=spec.selector, block=16, **spec.knob_dict)
    tri = quant.quantize(x, spec.fmt, selector=spec.selector, block=16, backend="triton", **spec.knob_dict)
    assert tri.equal_bits(ref)
