"""The numba back end's grid encoder (quant/fast_scaled.py) against the spec, FloatElementFormat.encode: codes equal
on exact grid points, midpoints (ties to the even code), saturation, zeros of both signs, NaN; and whole NVFP4 /
MXFP4 tensors equal byte for byte through quant.quantize."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import quant
from quant import formats
from quant.fast_scaled import encode

GRIDS = [formats.E2M1, formats.FP8_E4M3, formats.FP8_E5M2]


def _edge_values(fmt):
    v = fmt.values[np.isfinite(fmt.values)]
    mids = (v[1:] + v[:-1]) / 2
    near = np.concatenate([np.nextafter(mids, 0), np.nextafter(mids, np.inf)])
    big = [fmt.max_value * 1.01, fmt.max_value * 1e6, np.finfo(np.float32).max]
    x = np.concatenate([v, mids, near, big, [0.0, 1e-30, 5e-324]])
    return np.concatenate([x, -x, [np.nan, -np.nan]])


@pytest.mark.parametrize("fmt", GRIDS, ids=lambda f: f.name)
@pytest.mark.parametrize("signed_zero", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])   # float32 takes the midpoint kernel
def test_edge_values_match_spec(fmt, signed_zero, dtype):
    x = _edge_values(fmt).astype(dtype)
    np.testing.assert_array_equal(encode(fmt, x, signed_zero), fmt.encode(x, signed_zero=signed_zero))


@pytest.mark.parametrize("fmt", GRIDS, ids=lambda f: f.name)
@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=1, max_size=64))
def test_random_float32_match_spec(fmt, xs):
    x = np.array(xs, dtype=np.float32)
    np.testing.assert_array_equal(encode(fmt, x, True), fmt.encode(x, signed_zero=True))


@pytest.mark.parametrize("name", ["nvfp4", "mxfp4", "int4_g32"])
def test_scaled_quantize_bytes_equal(name):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((64, 96)) * rng.lognormal(0, 3, (64, 1))).astype(np.float32)
    x[3] = -0.0
    x[5, :16] = 1e-42                            # a block whose scale product underflows: signed zeros
    x[9, 7] = 6.0 * 448                          # the tensor amax on a grid point
    a = quant.quantize(x, name, backend="reference")
    b = quant.quantize(x, name, backend="numba")
    assert a.to_bytes() == b.to_bytes()
