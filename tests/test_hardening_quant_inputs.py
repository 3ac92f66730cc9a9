"""quantize() accepts and refuses the same calls on every back end: block sizes (one rule, checked before any back
end runs), keyword knobs (unknown names refused), and inputs with no rows (an empty QTensor of the right shape).
The triton back end runs in Triton's interpreter here (tests/conftest.py)."""
import numpy as np
import pytest

import quant
from quant import QTensor, QuantError, ShapeError
from quant.decompose import decompose

BACKENDS = ["reference", "numba", "triton", "accel"]
FORMATS = ["dialectfp4", "mxfp4", "nvfp4", "int4_g32", "int8"]


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _same(a: QTensor, b: QTensor):
    assert a.equal_bits(b) and a.meta == b.meta and tuple(a.shape) == tuple(b.shape)
    for n in ("codes", "dialect", "exponent", "scale"):
        x, y = getattr(a, n), getattr(b, n)
        assert (x is None) == (y is None) and (x is None or (x.dtype == y.dtype and x.shape == y.shape)), n


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("block,match", [
    (0, "must be positive, got 0"),                 # used to become the default 32 silently
    (-4, "must be positive, got -4"),
    (7, "must be even"),                            # used to work on three back ends and fail on triton only
    (2.0, "positive integer, got 2.0"),
    (True, "positive integer, got True"),
])
@pytest.mark.parametrize("fmt", ["dialectfp4", "nvfp4"])
def test_block_rule_is_the_same_on_every_backend(backend, block, match, fmt):
    with pytest.raises(ShapeError, match=match) as info:
        quant.quantize(_x((2, 64)), fmt, block=block, backend=backend)
    assert f"format {fmt}" in str(info.value)


@pytest.mark.parametrize("backend", BACKENDS[1:])
@pytest.mark.parametrize("fmt,block", [("dialectfp4", 6), ("nvfp4", 10), ("int8", 7)])
def test_supported_odd_sizes_give_the_same_bits_everywhere(backend, fmt, block):
    """Even blocks that are not powers of two, and odd blocks for the 8-bit format, work on every back end."""
    x = _x((3, 40), seed=1)
    _same(quant.quantize(x, fmt, block=block, backend=backend), quant.quantize(x, fmt, block=block))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fmt,kw,owner,valid", [
    # dialect formats also take the shared-exponent knobs (quant/exponents.py)
    ("dialectfp4", {"bogus": 3}, "selector lut_argmin", "exponent_span, exponent_offset_bits"),
    ("dialectfp4", {"selector": "two_stage", "thresh": 2}, "selector two_stage", "threshold"),
    ("dialectfp4", {"selector": "exact_mse", "threshold": 1}, "selector exact_mse", "exponent_span, exponent_offset_bits"),
    ("mxfp4", {"bogus": 3}, "format mxfp4", "none"),
    ("nvfp4", {"bogus": 3}, "format nvfp4", "none"),
])
def test_unknown_knobs_refused_naming_knob_and_valid_ones(backend, fmt, kw, owner, valid):
    knob = next(k for k in kw if k != "selector")
    with pytest.raises(QuantError) as info:
        quant.quantize(_x((2, 64)), fmt, backend=backend, **kw)
    msg = str(info.value)
    assert f"unknown knob {knob!r} for {owner}" in msg and f"valid knobs: {valid}" in msg


def test_known_knob_still_accepted_and_decompose_refuses_unknown():
    x = _x((2, 64))
    q = quant.quantize(x, "dialectfp4", selector="two_stage", threshold=2)
    assert q.meta["threshold"] == 2
    with pytest.raises(QuantError, match="unknown knob 'treshold'"):
        decompose(x, "dialectfp4", [0], selector="two_stage", treshold=2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("shape", [(0, 64), (2, 0, 40)])
def test_zero_rows_give_an_empty_tensor_on_every_backend(backend, fmt, shape):
    x = np.zeros(shape, np.float32)
    q = quant.quantize(x, fmt, backend=backend)
    f = quant.get_format(fmt)
    block = f.default_block or shape[-1]
    nb = -(-shape[-1] // block)
    assert q.rows == 0 and q.codes.shape == (0, nb * block // (2 if f.element_bits == 4 else 1))
    assert q.dialect.shape == (0, nb) and q.dequantize().shape == shape
    assert QTensor.from_bytes(q.to_bytes()).equal_bits(q)
    if backend != "reference":
        _same(q, quant.quantize(x, fmt))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fmt", ["dialectfp4", "nvfp4"])
def test_zero_rows_through_qgemm_on_every_backend(backend, fmt):
    """An empty activation (or weight) gives an empty product; before, triton and accel raised ValueError."""
    x, w = _x((5, 64), seed=3), _x((3, 64), seed=4)
    q0 = quant.quantize(np.zeros((0, 64), np.float32), fmt)
    qx, qw = quant.quantize(x, fmt), quant.quantize(w, fmt)
    bias = np.arange(3, dtype=np.float32)
    y = quant.qgemm(q0, qw, bias=bias, backend=backend)
    assert y.shape == (0, 3) and y.dtype == np.float32
    y = quant.qgemm(qx, q0, backend=backend)
    assert y.shape == (5, 0) and y.dtype == np.float32
    assert quant.qgemm(qx, qw, backend=backend).tobytes() == quant.qgemm(qx, qw).tobytes()
