"""Raw-bit equality of the Numba back end (quant/fast.py) and the NumPy reference, for quantize and GEMM."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import quant
from quant.learn import seeded_extension
from quant import fast, reference_backend
from quant.blocks import as_blocks, block_exponent
from quant.errors import QuantError
from quant.gemm import qgemm_reference
from quant.registry import DialectFormat

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GEMM_FORMATS = ["dialectfp4", "mxfp4", "nvfp4", "int4_g32", "int4_g128", "int8"]


def book32() -> quant.Formatbook:
    """DialectFP4 plus 16 other valid dialects (a seeded pick of 8-level half-unit grids containing 0)."""
    return seeded_extension("dialectfp4", 16, seed=32, name="parity32", prefix="p")


BOOKS = {"dialectfp4": quant.formatbook("dialectfp4"), "d32": book32(), "e2m1": quant.formatbook("e2m1")}


def sample(rng, rows, k, kind):
    """Test inputs: plain normal, heavy-tailed, per-row tiny/huge magnitudes, zero runs (zero blocks), and values
    on rounding midpoints (ties of q's round-half-up and of the nearest-level choice)."""
    if kind == "ties":                                         # many values on rounding midpoints
        return (rng.integers(-64, 65, size=(rows, k)) / 8 * np.exp2(rng.integers(-20, 20, size=(rows, 1)))).astype(
            np.float32)
    if kind == "heavy":
        x = rng.standard_cauchy((rows, k))
    else:
        x = rng.standard_normal((rows, k))
    if kind == "range":
        x = x * np.exp2(rng.integers(-140, 120, size=(rows, 1)))
    x = x.astype(np.float32)
    if kind == "zeros":
        x[:, : rng.integers(0, k + 1)] = 0
        x[rng.random(rows) < 0.3] = -0.0
    return x


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ---- select_encode ---------------------------------------------------------------------------------------------
@SETTINGS
@given(seed=st.integers(0, 2**31), rows=st.integers(1, 6), k=st.integers(1, 100), block=st.sampled_from([16, 32]),
       selector=st.sampled_from(["lut_argmin", "exact_mse", "two_stage"]), book=st.sampled_from(sorted(BOOKS)),
       kind=st.sampled_from(["normal", "heavy", "range", "zeros", "ties"]))
def test_select_encode_matches_reference(seed, rows, k, block, selector, book, kind):
    rng = np.random.default_rng(seed)
    xb = as_blocks(sample(rng, rows, k, kind), block)
    e = block_exponent(xb)
    b = BOOKS[book]
    if selector == "two_stage" and book != "dialectfp4":
        with pytest.raises(ValueError, match="pairs"):
            fast.select_encode(selector, xb, e, b)
        return
    knobs = {"threshold": int(rng.integers(1, 4))} if selector == "two_stage" else {}
    d0, c0 = reference_backend.select_encode(selector, xb, e, b, **knobs)
    d1, c1 = fast.select_encode(selector, xb, e, b, **knobs)
    assert same(d0, d1) and same(c0, c1)


@SETTINGS
@given(seed=st.integers(0, 2**31), selector=st.sampled_from(["lut_argmin", "exact_mse"]),
       book=st.sampled_from(["dialectfp4", "d32"]), shape=st.sampled_from(["full", "per_dialect", "per_block"]))
def test_allowed_mask_matches_reference(seed, selector, book, shape):
    rng = np.random.default_rng(seed)
    b = BOOKS[book]
    xb = as_blocks(sample(rng, 5, 70, "range"), 32)
    e = block_exponent(xb)
    full = rng.random((5, xb.shape[1], b.size)) < 0.3
    full[..., rng.integers(0, b.size)] = True                  # every block keeps at least one dialect
    allowed = {"full": full, "per_dialect": full[0, 0], "per_block": full[:, :, None, 0].repeat(b.size, -1) | full}[shape]
    d0, c0 = reference_backend.select_encode(selector, xb, e, b, allowed=allowed)
    d1, c1 = fast.select_encode(selector, xb, e, b, allowed=allowed)
    assert same(d0, d1) and same(c0, c1)


@pytest.mark.parametrize("selector", ["lut_argmin", "exact_mse", "two_stage"])
@pytest.mark.parametrize("kind", ["ties", "range", "zeros", "heavy"])
def test_select_encode_fixed_cases(selector, kind):
    """Deterministic companions of the property test (ties of the rounding rules are certain to occur here)."""
    rng = np.random.default_rng(17)
    for name, b in BOOKS.items():
        if selector == "two_stage" and name != "dialectfp4":
            continue
        xb = as_blocks(sample(rng, 16, 96, kind), 32)
        e = block_exponent(xb)
        d0, c0 = reference_backend.select_encode(selector, xb, e, b)
        d1, c1 = fast.select_encode(selector, xb, e, b)
        assert same(d0, d1) and same(c0, c1)


def test_allowed_mask_errors_match():
    xb = as_blocks(np.ones((2, 32), np.float32), 32)
    e = block_exponent(xb)
    none = np.zeros(16, dtype=bool)
    for be in (reference_backend, fast):
        with pytest.raises(ValueError, match="no dialect"):
            be.select_encode("lut_argmin", xb, e, BOOKS["dialectfp4"], allowed=none)
        with pytest.raises(ValueError, match="two_stage does not support"):
            be.select_encode("two_stage", xb, e, BOOKS["dialectfp4"], allowed=~none)


# ---- quantize (fused path and format paths) ----------------------------------------------------------------------
@SETTINGS
@given(seed=st.integers(0, 2**31), shape=st.sampled_from([(1, 1), (3, 33), (2, 4, 64), (7, 100), (1, 257)]),
       fmt=st.sampled_from(GEMM_FORMATS + ["d32"]), kind=st.sampled_from(["normal", "heavy", "range", "zeros"]),
       block=st.sampled_from([None, 16, 64]), kind2=st.sampled_from(["ties", None]))
def test_quantize_matches_reference(seed, shape, fmt, kind, block, kind2):
    kind = kind2 or kind
    if fmt == "d32":                                           # an unregistered D=32 dialect format
        fmt = DialectFormat("parity32", BOOKS["d32"])
    rng = np.random.default_rng(seed)
    x = sample(rng, int(np.prod(shape[:-1])), shape[-1], kind).reshape(shape)
    fixed = isinstance(fmt, str) and fmt != "dialectfp4"
    blk = None if fixed else block
    q0 = quant.quantize(x, fmt, block=blk)
    q1 = quant.quantize(x, fmt, block=blk, backend="numba")
    assert q0.equal_bits(q1) and q0.meta == q1.meta


def test_quantize_fused_raw_outputs():
    rng = np.random.default_rng(5)
    x = sample(rng, 9, 96, "range")
    for name, book in BOOKS.items():
        e, d, codes = fast.quantize_dialect(x, 32, book, "exact_mse" if name == "e2m1" else "lut_argmin")
        xb = as_blocks(x, 32)
        d0, c0 = reference_backend.select_encode("exact_mse" if name == "e2m1" else "lut_argmin", xb,
                                                 block_exponent(xb), book)
        assert same(e, block_exponent(xb)) and same(d, d0) and same(codes, quant.pack_nibbles(c0.reshape(9, -1)))


@pytest.mark.parametrize("size,block", [(40, 32), (16, 256), (32, 8)])
@pytest.mark.parametrize("kind", ["range", "ties", "zeros"])
def test_lane_path_groups_and_lane_widths(size, block, kind):
    """The lut_argmin lane path beyond the default shapes: two lane groups (D=40), int32 lanes (a block whose
    largest ERR sum passes int16), a short block; with and without an allowed mask (SeDA)."""
    book = BOOKS["dialectfp4"] if size == 16 else seeded_extension("dialectfp4", size - 16, seed=size,
                                                                    name=f"lanes{size}", prefix="l")
    assert fast._lane_table(book, block).dtype == (np.int32 if block == 256 else np.int16)
    rng = np.random.default_rng(size + block)
    x = sample(rng, 5, 2 * block + 8, kind)
    xb = as_blocks(x, block)
    allowed = rng.random((5, xb.shape[1], book.size)) < 0.4
    allowed[..., -1] = True
    for mask in (None, allowed):
        e, d, codes = fast.quantize_dialect(x, block, book, "lut_argmin", allowed=mask)
        d0, c0 = reference_backend.select_encode("lut_argmin", xb, block_exponent(xb), book, allowed=mask)
        assert same(e, block_exponent(xb)) and same(d, d0) and same(codes, quant.pack_nibbles(c0.reshape(5, -1)))


@pytest.mark.parametrize("fmt", ["dialectfp4", "mxfp4", "nvfp4"])
def test_nonfinite_handling_matches(fmt):
    x = np.ones((3, 64), np.float32)
    x[2, 40] = np.inf
    x[1, 3] = np.nan
    msgs = []
    for be in ("reference", "numba"):
        with pytest.raises(quant.NonFiniteError) as info:
            quant.quantize(x, fmt, backend=be, tensor="layer.x")
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1] and "row 1" in msgs[0]
    q0 = quant.quantize(x, fmt, nonfinite="saturate")
    assert q0.equal_bits(quant.quantize(x, fmt, nonfinite="saturate", backend="numba"))


# ---- GEMM ------------------------------------------------------------------------------------------------------
def assert_gemm_same(qx, qw, **kw):
    y0 = qgemm_reference(qx, qw, **kw)
    y1 = fast.qgemm(qx, qw, **kw)
    assert y0.dtype == y1.dtype == np.float32 and y0.shape == y1.shape
    assert np.array_equal(y0.view(np.int32), y1.view(np.int32))


@SETTINGS
@given(seed=st.integers(0, 2**31), m=st.integers(1, 20), n=st.integers(1, 20), k=st.integers(1, 150),
       fmt=st.sampled_from(GEMM_FORMATS), kind=st.sampled_from(["normal", "heavy", "range", "zeros"]),
       extras=st.booleans())
def test_qgemm_matches_reference(seed, m, n, k, fmt, kind, extras):
    rng = np.random.default_rng(seed)
    qx = quant.quantize(sample(rng, m, k, kind), fmt)
    qw = quant.quantize(sample(rng, n, k, "normal" if kind == "range" else kind), fmt)
    kw = {}
    if extras:
        rows = np.sort(rng.choice(m, size=int(rng.integers(1, m + 1)), replace=False))
        kw = dict(bias=rng.standard_normal(n).astype(np.float32),
                  residual=quant.quantize(sample(rng, len(rows), k, kind), fmt), residual_rows=rows)
    try:
        y0 = qgemm_reference(qx, qw, **kw)
    except QuantError as exc:                                  # exponent overflow: both must refuse alike
        with pytest.raises(QuantError) as info:
            fast.qgemm(qx, qw, **kw)
        assert str(info.value) == str(exc)
        return
    assert np.array_equal(y0.view(np.int32), fast.qgemm(qx, qw, **kw).view(np.int32))


@SETTINGS
@given(seed=st.integers(0, 2**31), m=st.integers(1, 12), n=st.integers(1, 12), nb=st.integers(1, 5),
       block=st.sampled_from([16, 32, 64]), centre=st.integers(-122, 0), spread=st.integers(0, 3),
       mode=st.sampled_from(["boundary", "uniform", "skew"]))
def test_qgemm_pow2_flush_and_overflow_to_inf(seed, m, n, nb, block, centre, spread, mode):
    """Random dialect QTensors with exponent sums s = ex + ew - 2 that straddle the flush boundary -126
    ("boundary"), span [-256, 126] so that products also overflow to inf ("uniform"), or pair huge X exponents
    with tiny W exponents ("skew": fl32(P) * 2^ex alone would overflow); this mixes the kernel's fast and exact
    per-column paths."""
    rng = np.random.default_rng(seed)

    def exps(rows, mid, side):
        if mode == "uniform":
            return rng.integers(-127, 65, size=(rows, nb))
        if mode == "skew":
            return rng.integers(100, 128, size=(rows, nb)) if side == "x" else rng.integers(-127, -99, size=(rows, nb))
        return np.clip(mid + rng.integers(-spread, spread + 1, size=(rows, nb)), -127, 127)

    def random_qt(rows, mid, side):
        codes = rng.integers(0, 16, size=(rows, nb * block), dtype=np.uint8)
        return quant.QTensor("dialectfp4", (rows, nb * block), block, quant.pack_nibbles(codes),
                             rng.integers(0, 16, size=(rows, nb), dtype=np.uint8),
                             exponent=exps(rows, mid, side).astype(np.int8))
    qx, qw = random_qt(m, centre, "x"), random_qt(n, -124 - centre, "w")
    assert_gemm_same(qx, qw)                                   # no bias: it would swamp values near 2^-126


def test_qgemm_overflow_error_matches():
    qx = quant.quantize(np.full((2, 32), 2.0 ** 70, np.float32), "dialectfp4")
    msgs = []
    for fn in (qgemm_reference, fast.qgemm):
        with pytest.raises(QuantError, match="overflows") as info:
            fn(qx, qx)
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]


def test_qgemm_int8_long_rows_round_partials():
    """INT8 per-row blocks with |P| above 2^24: float32(P) must round exactly as NumPy's int64 -> float32."""
    rng = np.random.default_rng(3)
    x = np.abs(rng.standard_normal((5, 3000))).astype(np.float32) + 4
    w = np.abs(rng.standard_normal((4, 3000))).astype(np.float32) + 4
    qx, qw = quant.quantize(x, "int8"), quant.quantize(w, "int8")
    assert np.abs(qx.element_ints() @ qw.element_ints().T).max() > 2 ** 24
    assert_gemm_same(qx, qw)


@pytest.mark.parametrize("fmt", GEMM_FORMATS)
def test_qgemm_tile_edges(fmt):
    """Shapes across the kernel's tiling: more columns than one tile (two column tiles, the last partial),
    swapped operands with rows off the 4-row pass and the 16-row tile (Y stored transposed), and blocks whose
    length is not a multiple of the 4-step partials loop (18; 15 where the format allows odd blocks)."""
    from quant import fast_gemm
    rng = np.random.default_rng(5)
    for m, n, k, block in [(5, fast_gemm.TILE_N + 6, 40, None), (70, 33, 64, None), (33, 70, 54, 18),
                           (21, 6, 45, 15)]:
        if block == 15 and quant.get_format(fmt).element_bits == 4:
            continue
        assert_gemm_same(quant.quantize(sample(rng, m, k, "normal"), fmt, block=block),
                         quant.quantize(sample(rng, n, k, "normal"), fmt, block=block))


@pytest.mark.parametrize("fmt", GEMM_FORMATS)
def test_element_ints16_match(fmt):
    rng = np.random.default_rng(11)
    q = quant.quantize(sample(rng, 6, 200, "heavy"), fmt)
    assert np.array_equal(fast.element_ints16(q).astype(np.int64), q.element_ints())


def test_qgemm_edge_shapes_and_errors():
    rng = np.random.default_rng(2)
    for fmt in GEMM_FORMATS:
        for m, n, k in [(1, 1, 1), (1, 37, 33), (37, 1, 65), (130, 520, 31)]:
            assert_gemm_same(quant.quantize(sample(rng, m, k, "normal"), fmt),
                             quant.quantize(sample(rng, n, k, "normal"), fmt))
    qx = quant.quantize(np.ones((2, 32), np.float32), "dialectfp4")
    qw = quant.quantize(np.ones((3, 64), np.float32), "dialectfp4")
    with pytest.raises(quant.ShapeError, match="K mismatch"):
        fast.qgemm(qx, qw)
    with pytest.raises(QuantError, match="one family"):
        fast.qgemm(qx, quant.quantize(np.ones((3, 32), np.float32), "nvfp4"))
