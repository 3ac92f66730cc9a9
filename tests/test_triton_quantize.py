"""Triton quantize kernels vs the NumPy reference, raw bits (QTensor.equal_bits compares codes, dialect ids,
exponents and scale bit patterns).  Interpreter on CPU by default; the same cases on a GPU with -m gpu."""
import numpy as np
import pytest

import kernels  # noqa: E402,F401  (before triton: picks the interpreter on a machine without a GPU)

pytest.importorskip("triton", reason="triton not installed: pip install 'semdialect-suite[gpu]'")

import quant  # noqa: E402

from kernels import cases  # noqa: E402

pytestmark = [pytest.mark.triton, pytest.mark.usefixtures("triton_kernel_mode")]
D32 = cases.book_d32().name



def both(x, fmt, **kw):
    ref = quant.quantize(x, fmt, backend="reference", **kw)
    tri = quant.quantize(x, fmt, backend="triton", **kw)
    return ref, tri


def assert_same(x, fmt, **kw):
    ref, tri = both(x, fmt, **kw)
    assert tri.equal_bits(ref), f"{fmt} {kw}: triton differs from reference"
    return ref


@pytest.mark.parametrize("fmt", ["dialectfp4", D32])
@pytest.mark.parametrize("block,k", [(32, 100), (16, 47), (64, 64)])
def test_lut_argmin_matches_reference(fmt, block, k):
    x = cases.mixed_inputs(np.random.default_rng(block + k), 12, k, block)
    ref = assert_same(x, fmt, block=block)
    assert len(np.unique(ref.dialect)) > 3          # the case exercises the selection, not one dialect


def test_leading_dims_and_single_row():
    rng = np.random.default_rng(1)
    assert_same(cases.heavy_tailed(rng, (2, 3, 40)), "dialectfp4")
    assert_same(cases.heavy_tailed(rng, (1, 7)), "dialectfp4")
    assert_same(cases.heavy_tailed(rng, (5,)), "mxfp4")


def test_every_q_for_every_dialect():
    """Row d is forced (allowed) to dialect d; its block holds +-q/4 for every q in 0..31 (amax 7.75, e=0)."""
    book = quant.formatbook(D32)
    q = np.arange(32) / 4.0
    x = np.stack([np.where(np.arange(32) % 2 == d % 2, q, -q) for d in range(book.size)]).astype(np.float32)
    allowed = np.eye(book.size, dtype=bool)[:, None, :]
    ref = assert_same(x, D32, allowed=allowed)
    assert (ref.dialect[:, 0] == np.arange(book.size)).all() and (ref.exponent == 0).all()


@pytest.mark.parametrize("threshold", [1, 3])
def test_two_stage_matches_reference(threshold):
    x = cases.mixed_inputs(np.random.default_rng(threshold), 16, 96, 32)
    assert_same(x, "dialectfp4", selector="two_stage", threshold=threshold)


@pytest.mark.parametrize("shape", ["row", "block", "full", "subbook"])
def test_restricted_selection(shape):
    rng = np.random.default_rng(7)
    x = cases.mixed_inputs(rng, 10, 70, 32)
    r, nb, d = x.shape[0], 3, 32
    if shape == "row":
        allowed = rng.random((r, 1, d)) < 0.3
    elif shape == "block":
        allowed = rng.random((nb, d)) < 0.3
    elif shape == "full":
        allowed = rng.random((r, nb, d)) < 0.3
    else:   # SeDA: 4 sub-formatbooks of 8 dialects, one sub-book id per token
        members = np.zeros((4, d), dtype=bool)
        for s in range(4):
            members[s, s::4] = True
        allowed = members[rng.integers(0, 4, size=r)][:, None, :]
    allowed = allowed | (np.arange(d) == 5)        # never leave a block without a dialect
    ref = assert_same(x, D32, allowed=allowed)
    full = np.broadcast_to(allowed.reshape((1,) * (3 - allowed.ndim) + allowed.shape), (r, nb, d))
    assert np.take_along_axis(full, ref.dialect[..., None].astype(np.int64), -1).all() or (ref.exponent == -127).any()


def test_mxfp4_matches_reference():
    rng = np.random.default_rng(3)
    x = np.concatenate([cases.mixed_inputs(rng, 20, 96, 32), cases.quarter_grid(rng, (8, 96), (-130, 120))])
    assert_same(x, "mxfp4")


@pytest.mark.parametrize("fmt,k", [("nvfp4", 70), ("int4_g32", 100), ("int4_g128", 200), ("int8", 75)])
@pytest.mark.parametrize("kind", ["special", "heavy", "grid"])
def test_float_scaled_formats_match_reference(fmt, k, kind):
    rng = np.random.default_rng(k)
    x = {"special": lambda: cases.special_rows(16, k), "heavy": lambda: cases.heavy_tailed(rng, (9, k)),
         "grid": lambda: cases.quarter_grid(rng, (9, k), (-30, 20))}[kind]()
    assert_same(x, fmt)


def test_nvfp4_scale_underflow_and_ties():
    """Tensor max 2688 makes the tensor scale g = 1 exactly, so block scales amax/6 land on chosen E4M3 values:
    ties between normal codes, and scales below E4M3's smallest normal (rows 2-4, and the zero row 6) that are
    raised to the floor 2^-6 (torchao's clamp), where r = 64 keeps the element ties exact."""
    amaxes = [6.375, 7.125, 18 * 2.0 ** -10, 6 * 2.0 ** -10, 6 * 2.0 ** -11, 6.0 * 1.0625 * 64, 0.0, 2688.0]
    x = np.zeros((len(amaxes), 32), dtype=np.float32)
    ties = np.array([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -1.25], dtype=np.float32)
    for i, a in enumerate(amaxes):
        x[i, :8] = ties * np.float32(a / 6.0)
        x[i, 8] = a
        x[i, 16:] = np.float32(a) * np.linspace(-1, 1, 16, dtype=np.float32)
    ref = assert_same(x, "nvfp4")
    assert ref.tensor_scale == 1.0 and ref.scale[0, 0] == 1.0 and ref.scale[1, 0] == 1.25
    assert (ref.scale[[2, 3, 4, 6], 0] == 2.0 ** -6).all()


@pytest.mark.filterwarnings("ignore:overflow encountered")     # the interpreter's fl32(1/g) / s overflows on purpose
def test_nvfp4_signed_zeros_and_tiny_tensor_fallback():
    """E2M1's -0 kept for -0.0 and for negatives that round to zero; and a tensor so small that fl32(1/g) / s
    overflows in some blocks, where the kernel divides by fl32(s * g) as the reference does."""
    x = np.zeros((3, 32), dtype=np.float32)
    x[0, 0], x[0, 1:8] = 3.0, [-0.0, -1e-3, -0.01, 0.0, -0.3, 1e-3, -2.9]
    x[1] = -0.0
    x[2, 0], x[2, 16], x[2, 17] = 1e-35, 1e-40, -3e-41
    ref = assert_same(x, "nvfp4")
    assert (ref.element_codes()[1] == 8).all() and ref.element_codes()[0, 1:4].tolist() == [8, 8, 8]
    ref_tiny = assert_same(x[2:], "nvfp4")
    assert ref_tiny.element_codes()[0, 16:18].tolist() == [3, 9]


def test_exact_mse_weights_run_on_the_host():
    x = cases.heavy_tailed(np.random.default_rng(4), (6, 64))
    assert_same(x, "dialectfp4", selector="exact_mse")


def test_select_encode_protocol():
    fmt = quant.get_format("dialectfp4")
    x = cases.heavy_tailed(np.random.default_rng(5), (4, 64))
    assert fmt.quantize(x, backend="triton").equal_bits(fmt.quantize(x))


def test_nonfinite_raise_names_tensor_row_block():
    x = np.ones((4, 70), dtype=np.float32)
    x[2, 45] = np.inf
    x[3, 1] = np.nan
    messages = []
    for backend in ("reference", "triton"):
        with pytest.raises(quant.NonFiniteError) as info:
            quant.quantize(x, "dialectfp4", backend=backend, tensor="blocks.3.attn.q")
        messages.append(str(info.value))
        assert (info.value.row, info.value.block) == (2, 1)
    assert messages[0] == messages[1]


@pytest.mark.parametrize("fmt", ["dialectfp4", "nvfp4"])
def test_nonfinite_saturate(fmt):
    x = cases.heavy_tailed(np.random.default_rng(6), (3, 48))
    x[0, 3], x[1, 40], x[2, 0] = np.inf, -np.inf, np.nan
    assert_same(x, fmt, nonfinite="saturate")


def test_errors_are_clear():
    x = np.ones((2, 32), dtype=np.float32)
    with pytest.raises(quant.UnknownNameError, match="valid selectors"):
        quant.quantize(x, "dialectfp4", selector="nope", backend="triton")
    with pytest.raises(ValueError, match="two_stage does not support"):
        quant.quantize(x, "dialectfp4", selector="two_stage", allowed=np.ones(16, bool), backend="triton")
    with pytest.raises(quant.QuantError, match="fixes its rounding"):
        quant.quantize(x, "mxfp4", selector="lut_argmin", backend="triton")
    with pytest.raises(ValueError, match="no dialect to choose"):
        quant.quantize(x, "dialectfp4", allowed=np.zeros(16, bool), backend="triton")
    with pytest.raises(quant.QuantError, match="fixed round-to-nearest-even"):
        quant.quantize(x, "nvfp4", selector="lut_argmin", backend="triton")
