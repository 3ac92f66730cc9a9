"""The quantized GEMM reference against a loop-by-loop re-implementation of the arithmetic contract
(docs/arithmetic-contract.md#pow2), compared by raw float32 bits; plus a float64 sanity tier and the edge rules."""
import math

import numpy as np
import pytest

import quant
from quant import QuantError, ShapeError

F32 = np.float32


def element_ints(q):
    """Element integers decoded straight from the QTensor fields (not through the library's decoders)."""
    raw = q.codes.astype(np.int64)
    fmt = q.format
    if fmt.element_bits == 4:
        codes = np.stack([raw & 0xF, raw >> 4], axis=-1).reshape(raw.shape[0], -1)
    else:
        codes = raw
    out = np.zeros(codes.shape, np.int64)
    for r in range(codes.shape[0]):
        for i in range(codes.shape[1]):
            c = int(codes[r, i])
            if fmt.scale_kind == "pow2":
                mags = fmt.book.magnitudes[int(q.dialect[r, i // q.block])]
                out[r, i] = -int(mags[c & 7]) if c & 8 else int(mags[c & 7])
            elif fmt.name == "nvfp4":                            # E2M1 in half-units
                h = (0, 1, 2, 3, 4, 6, 8, 12)[c & 7]
                out[r, i] = -h if c & 8 else h
            else:                                                # two's complement
                bits = fmt.element.bits
                out[r, i] = c - (1 << bits) if c >= 1 << (bits - 1) else c
    return out


def loop_accumulate(qx, qw):
    vx, vw = element_ints(qx), element_ints(qw)
    m_rows, n_rows, nb, blk = vx.shape[0], vw.shape[0], qx.n_blocks, qx.block
    y = np.zeros((m_rows, n_rows), F32)
    for m in range(m_rows):
        for n in range(n_rows):
            acc = F32(0.0)
            for b in range(nb):
                p = sum(int(vx[m, b * blk + i]) * int(vw[n, b * blk + i]) for i in range(blk))
                if qx.format.scale_kind == "pow2":
                    s = int(qx.exponent[m, b]) + int(qw.exponent[n, b]) - 2
                    if s > 127:
                        raise OverflowError(s)
                    term = F32(0.0) if s < -126 else F32(math.ldexp(p, s))
                else:
                    term = F32(F32(F32(p) * qx.scale[m, b]) * qw.scale[n, b])
                acc = F32(acc + term)
            if qx.format.scale_kind != "pow2":
                post = F32(F32(F32(qx.tensor_scale) * F32(qw.tensor_scale)) * F32(qx.format.unit * qw.format.unit))
                acc = F32(acc * post)
            y[m, n] = acc
    return y


def loop_qgemm(qx, qw, bias=None, residual=None, residual_rows=None):
    y = loop_accumulate(qx, qw)
    if residual is not None:
        yr = loop_accumulate(residual, qw)
        for j, r in enumerate(residual_rows):
            for n in range(y.shape[1]):
                y[r, n] = F32(y[r, n] + yr[j, n])
    if bias is not None:
        for m in range(y.shape[0]):
            for n in range(y.shape[1]):
                y[m, n] = F32(y[m, n] + F32(bias[n]))
    return y


def same_bits(a, b):
    return a.shape == b.shape and a.view(np.int32).tobytes() == b.view(np.int32).tobytes()


def operands(fmt_x, fmt_w, m, n, k, seed=0, sel=None):
    rng = np.random.default_rng(seed)
    x = (rng.standard_t(3, (m, k)) * 10.0 ** rng.uniform(-2, 2)).astype(F32)
    w = (rng.standard_normal((n, k)) * 0.05).astype(F32)
    return quant.quantize(x, fmt_x, selector=sel), quant.quantize(w, fmt_w, selector="exact_mse" if fmt_w == "dialectfp4" else None)


CASES = [("dialectfp4", "dialectfp4", "lut_argmin"), ("dialectfp4", "dialectfp4", "two_stage"),
         ("mxfp4", "mxfp4", None), ("dialectfp4", "mxfp4", None), ("nvfp4", "nvfp4", None),
         ("int4_g32", "int4_g32", None), ("int4_g128", "int4_g128", None)]
SHAPES = [(3, 5, 64), (1, 4, 40), (4, 1, 96), (1, 1, 7), (2, 3, 130)]


@pytest.mark.parametrize("fx,fw,sel", CASES)
@pytest.mark.parametrize("m,n,k", SHAPES)
def test_reference_matches_loops_bitwise(fx, fw, sel, m, n, k):
    qx, qw = operands(fx, fw, m, n, k, seed=m * 100 + n + k, sel=sel)
    y = quant.qgemm(qx, qw)
    assert y.dtype == F32 and same_bits(y, loop_qgemm(qx, qw))
    # sanity tier: close to the float64 product of the dequantized operands
    ref = qx.dequantize().astype(np.float64).reshape(m, k) @ qw.dequantize().astype(np.float64).T
    scale = np.abs(qx.dequantize()).astype(np.float64).reshape(m, k) @ np.abs(qw.dequantize()).astype(np.float64).T
    assert (np.abs(y - ref) <= 1e-5 * scale + 1e-30).all()


def test_int8_per_row_and_3d_activation():
    rng = np.random.default_rng(1)
    qx = quant.quantize(rng.standard_normal((2, 3, 50)).astype(F32), "int8")
    qw = quant.quantize(rng.standard_normal((4, 50)).astype(F32), "int8")
    y = quant.qgemm(qx, qw)
    assert y.shape == (6, 4) and same_bits(y, loop_qgemm(qx, qw))


@pytest.mark.parametrize("fmt", ["dialectfp4", "nvfp4"])
def test_bias_and_residual_rows(fmt):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 70)).astype(F32)
    qx = quant.quantize(x, fmt)
    qw = quant.quantize(rng.standard_normal((3, 70)).astype(F32), fmt)
    rows = [3, 0]
    res = quant.quantize((x[rows] - qx.dequantize()[rows]).astype(F32), fmt)
    bias = rng.standard_normal(3).astype(F32)
    y = quant.qgemm(qx, qw, bias=bias, residual=res, residual_rows=rows)
    assert same_bits(y, loop_qgemm(qx, qw, bias=bias, residual=res, residual_rows=rows))
    assert not same_bits(y, loop_qgemm(qx, qw, bias=bias))        # the residual did change rows 3 and 0
    with pytest.raises(ShapeError, match="residual"):
        quant.qgemm(qx, qw, residual=res, residual_rows=[1, 1])
    with pytest.raises(ShapeError, match="residual"):
        quant.qgemm(qx, qw, residual=res, residual_rows=[1])
    with pytest.raises(ShapeError, match="bias"):
        quant.qgemm(qx, qw, bias=bias[:2])


def test_flush_rule_and_smallest_normal_scale():
    """Block 0: ex + ew - 2 = -136 < -126 -> contributes +0.0; block 1 at exactly -126 contributes P * 2^-126."""
    x = np.zeros((1, 64), F32)
    w = np.zeros((1, 64), F32)
    x[0, 0], w[0, 0] = 2.0 ** -60, 2.0 ** -70              # ex = -62, ew = -72 -> s = -136
    x[0, 32], w[0, 32] = 2.0 ** -60, 2.0 ** -60            # ex = ew = -62 -> s = -126
    qx, qw = quant.quantize(x, "dialectfp4"), quant.quantize(w, "dialectfp4")
    y = quant.qgemm(qx, qw)
    assert same_bits(y, loop_qgemm(qx, qw))
    assert y[0, 0] == F32(8 * 8 * 2.0 ** -126)             # 2^-60 is 4 * 2^-62: 8 half-units each
    only_flushed = quant.qgemm(quant.quantize(x[:, :32], "dialectfp4"), quant.quantize(w[:, :32], "dialectfp4"))
    assert only_flushed.view(np.int32).tolist() == [[0]]   # +0.0, not -0.0 and not a subnormal


def test_overflow_is_an_error():
    x = np.full((1, 32), 2.0 ** 100, F32)
    qx = quant.quantize(x, "dialectfp4")                   # e = 98; 98 + 98 - 2 = 194 > 127
    with pytest.raises(QuantError, match="overflow"):
        quant.qgemm(qx, qx)
    with pytest.raises(OverflowError):
        loop_qgemm(qx, qx)


def test_k_and_block_mismatch_explain_themselves():
    qx = quant.quantize(np.ones((2, 64), F32), "dialectfp4")
    with pytest.raises(ShapeError, match=r"K mismatch: X has K=64.*W has K=48"):
        quant.qgemm(qx, quant.quantize(np.ones((3, 48), F32), "dialectfp4"))
    with pytest.raises(ShapeError, match=r"block size mismatch: X block 32, W block 16"):
        quant.qgemm(qx, quant.quantize(np.ones((3, 64), F32), "dialectfp4", block=16))
    with pytest.raises(QuantError, match="one family"):
        quant.qgemm(qx, quant.quantize(np.ones((3, 64), F32), "int4_g32"))


@pytest.mark.parametrize("s", range(-131, -121))
def test_flush_boundary_walk(s):
    """Scale 2^s with s = ex + ew - 2 from -131 to -122: +0.0 exactly when s < -126, else P * 2^s."""
    ex = -62
    ew = s + 2 - ex
    x = np.zeros((1, 32), F32)
    w = np.zeros((1, 32), F32)
    x[0, 0], w[0, 0] = 2.0 ** (ex + 2), 2.0 ** (ew + 2)    # amax 2^(e+2): 8 half-units each, P = 64
    qx, qw = quant.quantize(x, "dialectfp4"), quant.quantize(w, "dialectfp4")
    assert (int(qx.exponent[0, 0]), int(qw.exponent[0, 0])) == (ex, ew)
    y = quant.qgemm(qx, qw)
    want = F32(0.0) if s < -126 else F32(math.ldexp(64, s))
    assert y.view(np.int32)[0, 0] == np.array([want], F32).view(np.int32)[0]
