"""Errors say what was wrong, where, and what the valid choices are."""
import numpy as np
import pytest

import quant
from quant import NonFiniteError, QuantError, ShapeError, UnknownNameError

FORMATS = ["dialectfp4", "mxfp4", "nvfp4", "int4_g32", "int4_g128", "int8"]
F32_MAX = np.finfo(np.float32).max


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_names_tensor_row_and_block(fmt, bad):
    x = np.ones((3, 130), np.float32)
    x[2, 70] = bad
    with pytest.raises(NonFiniteError) as info:
        quant.quantize(x, fmt, tensor="blocks.3.attn.qkv", block=None)
    err = info.value
    block = 70 // (quant.get_format(fmt).default_block or 130)
    assert (err.tensor, err.row, err.block) == ("blocks.3.attn.qkv", 2, block)
    msg = str(err)
    assert "blocks.3.attn.qkv" in msg and "row 2" in msg and f"block {block}" in msg and "saturate" in msg


def test_nonfinite_reports_first_bad_value_of_a_3d_tensor():
    x = np.ones((2, 3, 64), np.float32)
    x[1, 2, 40] = np.nan
    x[1, 2, 50] = np.inf
    with pytest.raises(NonFiniteError, match=r"row 5, block 1"):
        quant.quantize(x, "dialectfp4", tensor="h")


@pytest.mark.parametrize("fmt", FORMATS)
def test_nonfinite_saturate(fmt):
    x = np.ones((1, 64), np.float32)
    x[0, 3], x[0, 4], x[0, 5] = np.inf, -np.inf, np.nan
    q = quant.quantize(x, fmt, nonfinite="saturate")
    ref = x.copy()
    ref[0, 3], ref[0, 4], ref[0, 5] = F32_MAX, -F32_MAX, 0.0
    assert q.equal_bits(quant.quantize(ref, fmt))
    xh = q.dequantize()
    assert np.isfinite(xh).all() and xh[0, 3] > 0 > xh[0, 4] and xh[0, 5] == 0
    with pytest.raises(ShapeError, match=r"nonfinite must be one of \('raise', 'saturate'\)"):
        quant.quantize(x, fmt, nonfinite="clip")


@pytest.mark.parametrize("call,kind,valid", [
    (lambda: quant.quantize(np.ones((1, 32), np.float32), "fp5"), "format", "mxfp4"),
    (lambda: quant.quantize(np.ones((1, 32), np.float32), "dialectfp4", selector="greedy"), "selector", "lut_argmin"),
    (lambda: quant.quantize(np.ones((1, 32), np.float32), "dialectfp4", backend="cuda"), "backend", "reference"),
    (lambda: quant.formatbook("dialectfp5"), "formatbook", "dialectfp4"),
    (lambda: quant.qgemm(*[quant.quantize(np.ones((1, 32), np.float32))] * 2, backend="fpga"), "backend", "numba"),
])
def test_unknown_names_list_valid_choices(call, kind, valid):
    with pytest.raises(UnknownNameError) as info:
        call()
    msg = str(info.value)
    assert msg.startswith(f"unknown {kind} ") and f"valid {kind}s:" in msg and valid in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, QuantError)


def test_fixed_rounding_formats_refuse_selectors():
    x = np.ones((1, 32), np.float32)
    with pytest.raises(QuantError, match="mxfp4 fixes its rounding"):
        quant.quantize(x, "mxfp4", selector="lut_argmin")
    with pytest.raises(QuantError, match="nvfp4 has fixed round-to-nearest-even"):
        quant.quantize(x, "nvfp4", selector="two_stage")
    with pytest.raises(QuantError, match="threshold"):
        quant.quantize(x, "int8", threshold=2)


@pytest.mark.parametrize("x,match", [
    (np.ones((2, 0), np.float32), "at least one element"),
    (np.float32(1.0), "at least one element"),
    (np.ones((1, 32), np.int32), "floating-point"),
])
def test_bad_inputs(x, match):
    with pytest.raises(ShapeError, match=match):
        quant.quantize(x, "dialectfp4", tensor="t")


def test_bad_block_size():
    with pytest.raises(ShapeError, match="block size must be positive"):
        quant.quantize(np.ones((1, 32), np.float32), "dialectfp4", block=-4)


def test_qgemm_shape_errors():
    qx = quant.quantize(np.ones((2, 64), np.float32))
    with pytest.raises(ShapeError, match=r"K mismatch.*K=64.*K=32"):
        quant.qgemm(qx, quant.quantize(np.ones((3, 32), np.float32)))
    with pytest.raises(ShapeError, match="block size mismatch: X block 32, W block 64"):
        quant.qgemm(qx, quant.quantize(np.ones((3, 64), np.float32), block=64))
    with pytest.raises(ShapeError, match=r"W must be 2-D \(N, K\)"):
        quant.qgemm(qx, quant.quantize(np.ones((2, 3, 64), np.float32)))
