"""Element formats, E8M0, and formatbook LUT contents, checked exhaustively against independent brute force.

The brute-force references here enumerate every representable value and pick the nearest with an explicit
tie rule; they share no code with quant/formats.py (which uses searchsorted) or quant/formatbooks.py.
"""
import functools
import math

import numpy as np
import pytest
import torch

import quant
from quant import DIALECTFP4, E2M1, E2M1_BOOK, E8M0, FP8_E4M3, FP8_E5M2, FP16, INT4, INT8
from quant.formats import FloatElementFormat
from quant.learn import learn_formatbook

E2M1_TABLE = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0]   # OCP MX v1.0 table, by code
FLOAT_FORMATS = [E2M1, FP8_E4M3, FP8_E5M2, FP16]


def ieee_value(code: int, exp_bits: int, man_bits: int, bias: int) -> float:
    """Unsigned code -> magnitude from the IEEE-style definition (integer significand times a power of two)."""
    e, m = code >> man_bits, code % (1 << man_bits)
    significand = m if e == 0 else m + (1 << man_bits)
    return math.ldexp(significand, max(e, 1) - bias - man_bits)


@functools.lru_cache(maxsize=None)
def finite_grid(fmt):
    """(codes, values) of every finite non-negative value of `fmt`, listed in code order (int64, float64)."""
    codes = [c for c in range(1 << (fmt.exp_bits + fmt.man_bits)) if c not in fmt.has_inf_nan_codes]
    return np.array(codes), np.array([ieee_value(c, fmt.exp_bits, fmt.man_bits, fmt.bias) for c in codes])


def brute_encode(fmt, x: float) -> int:
    """Nearest finite value by exhaustive search; a tie goes to the candidate whose code is even; anything
    beyond the largest finite value saturates to it; the sign bit is set only on a non-zero code."""
    codes, values = finite_grid(fmt)
    if abs(x) >= values.max():                             # saturation (also keeps huge |x| out of the search)
        code = int(codes[values.argmax()])
        return code | (1 << (fmt.exp_bits + fmt.man_bits)) if x < 0 else code
    dists = np.abs(abs(x) - values)
    nearest = codes[dists == dists.min()]                  # one code, or two neighbours at a tie
    even = nearest[nearest % 2 == 0]
    code = int(even[0] if len(nearest) > 1 else nearest[0])
    return code | (1 << (fmt.exp_bits + fmt.man_bits)) if (x < 0 and code) else code


def probe_values(fmt) -> np.ndarray:
    """Every grid value, every midpoint, midpoints +- 1 float64 ulp, values past the maximum, random values."""
    _, v = finite_grid(fmt)
    v = np.array(sorted(v))
    if len(v) > 512:                                       # FP16: every 64th value keeps the test fast
        v = v[::64]
    mids = (v[:-1] + v[1:]) / 2
    rng = np.random.default_rng(7)
    extra = [fmt.max_value * 1.01, fmt.max_value * 4, fmt.max_value + (v[-1] - v[-2]) / 2, 1e30]
    pts = np.concatenate([v, mids, np.nextafter(mids, 0), np.nextafter(mids, np.inf), extra,
                          rng.uniform(0, fmt.max_value, 300)])
    return np.concatenate([pts, -pts])


# ---- DialectFP4 d7 is E2M1 ---------------------------------------------------------------------------------
def test_d7_is_e2m1_exactly():
    assert [h / 2 for h in DIALECTFP4.magnitudes[7]] == E2M1_TABLE
    assert E2M1.values.tolist() == E2M1_TABLE
    assert E2M1_BOOK.magnitudes.tolist() == [DIALECTFP4.magnitudes[7].tolist()]
    # the E2M1 element format encodes each d7 magnitude to its d7 index and decodes it back
    for idx, h in enumerate(DIALECTFP4.magnitudes[7]):
        assert int(E2M1.encode(h / 2)) == idx and float(E2M1.decode(idx)) == h / 2
        assert int(E2M1.encode(-h / 2)) == (idx | 8 if idx else 0)


def test_e2m1_lut_reproduces_rne():
    """d7's IDX over all 32 quarter-unit q values equals E2M1 round-half-to-even of q/4 (q < 28; beyond: 6)."""
    idx, _ = DIALECTFP4.lut()
    for q in range(32):
        assert idx[7, q] == brute_encode(E2M1, q / 4), q


def test_dialectfp4_catalog_shape():
    mags = DIALECTFP4.magnitudes
    assert mags.shape == (16, 8) and DIALECTFP4.size == 16
    assert (mags[0::2, 7] == mags[1::2, 7]).all() and mags[0::2, 7].tolist() == list(range(15, 7, -1))
    assert quant.formatbook("dialectfp4-16") is DIALECTFP4


# ---- every code decodes and re-encodes ----------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FLOAT_FORMATS, ids=lambda f: f.name)
def test_every_float_code_decodes_and_reencodes(fmt):
    sign = 1 << (fmt.exp_bits + fmt.man_bits)
    codes = np.arange(2 * sign)
    unsigned = codes % sign
    special = np.isin(unsigned, fmt.has_inf_nan_codes)
    expect = np.array([ieee_value(int(u), fmt.exp_bits, fmt.man_bits, fmt.bias) for u in unsigned])
    expect = np.where(codes & sign, -expect, expect)           # keeps -0.0 for the negative zero code
    got = fmt.decode(codes)
    assert np.isnan(got[special]).all()
    assert got[~special].tobytes() == expect[~special].tobytes()    # raw bits: -0.0 must decode to -0.0
    # every finite value re-encodes to its own code, except -0 -> the canonical +0 code (no sign bit on zero)
    again = fmt.encode(got[~special])
    assert again.tolist() == np.where(unsigned[~special] == 0, 0, codes[~special]).tolist()


@pytest.mark.parametrize("fmt,tdtype", [(FP8_E4M3, torch.float8_e4m3fn), (FP8_E5M2, torch.float8_e5m2)],
                         ids=["e4m3", "e5m2"])
def test_fp8_decode_matches_torch(fmt, tdtype):
    """Third opinion: torch's float8 dtypes decode all 256 bit patterns the same way (NaN codes included)."""
    t = torch.arange(256, dtype=torch.uint8).view(tdtype).to(torch.float64).numpy()
    ours = fmt.decode(np.arange(256))
    finite = np.isfinite(t)
    assert (np.isnan(ours) == ~finite).all()
    assert ours[finite].tobytes() == t[finite].tobytes()


def test_fp_declared_maxima():
    assert (E2M1.max_value, FP8_E4M3.max_value, FP8_E5M2.max_value) == (6.0, 448.0, 57344.0)
    assert FP8_E4M3.has_inf_nan_codes == (0x7F,)
    with pytest.raises(ValueError, match="max"):
        FloatElementFormat("bad", exp_bits=2, man_bits=1, bias=1, max_value=7.0)


@pytest.mark.parametrize("fmt", FLOAT_FORMATS, ids=lambda f: f.name)
def test_float_encode_rne_and_saturation_vs_brute_force(fmt):
    xs = probe_values(fmt)
    got = fmt.encode(xs)
    want = np.array([brute_encode(fmt, float(x)) for x in xs])
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, f"{fmt.name}: x={xs[bad[:5]]} got {got[bad[:5]]} want {want[bad[:5]]}"


def test_fp16_encode_matches_numpy_half():
    """numpy's float16 cast is IEEE RNE; within range the FP16 scale format must agree with it bit for bit
    (after mapping numpy's -0 to the library's canonical +0; beyond 65504 numpy gives inf, the library saturates)."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.standard_normal(2000) * 10.0 ** rng.uniform(-9, 4.8, 2000), [2.0 ** -25, 3 * 2.0 ** -26]])
    x = x[np.abs(x) <= 65504]
    ours = FP16.round(x)
    ref = x.astype(np.float16).astype(np.float64) + 0.0
    assert ours.tobytes() == ref.tobytes()


@pytest.mark.parametrize("fmt", [INT4, INT8], ids=lambda f: f.name)
def test_int_every_value_and_ties(fmt):
    vals = np.arange(-fmt.qmax, fmt.qmax + 1)
    assert fmt.encode(vals.astype(np.float64)).tolist() == vals.tolist()
    halves = np.arange(-fmt.qmax, fmt.qmax) + 0.5          # every tie: goes to the even neighbour
    want = [int(math.floor(h)) if math.floor(h) % 2 == 0 else int(math.ceil(h)) for h in halves]
    assert fmt.encode(halves).tolist() == want
    big = np.array([fmt.qmax + 0.5, fmt.qmax + 0.6, 1e9, -(fmt.qmax + 0.5), -1e9])
    assert fmt.encode(big).tolist() == [fmt.qmax, fmt.qmax, fmt.qmax, -fmt.qmax, -fmt.qmax]


def test_e8m0_range():
    exps = np.arange(-127, 128)
    codes = E8M0.encode(exps)
    assert codes.tolist() == list(range(255))                # code 255 (NaN) is never produced
    assert all(float(v) == math.ldexp(1.0, int(e)) for v, e in zip(E8M0.decode(codes), exps))
    for bad in (-128, 128):
        with pytest.raises(ValueError, match="exponent outside"):
            E8M0.encode(bad)


# ---- formatbook LUTs ----------------------------------------------------------------------------------------
def brute_lut_entry(levels, q: int) -> tuple:
    """(index, error) of the level nearest to q quarter-units; two equally near levels -> the even index."""
    dists = [abs(q - 2 * int(h)) for h in levels]
    nearest = [i for i, d in enumerate(dists) if d == min(dists)]
    i = nearest[0] if len(nearest) == 1 else [j for j in nearest if j % 2 == 0][0]
    return i, (q - 2 * int(levels[i])) ** 2


@pytest.fixture(scope="module")
def learned32():
    x = np.random.default_rng(11).standard_t(3, size=(64, 512)).astype(np.float32)
    return learn_formatbook(x, size=32, name="test-formats-learned-32", description="student-t(3) seed 11")


@pytest.mark.parametrize("which", ["dialectfp4", "learned32"])
def test_lut_exhaustive(which, request):
    book = DIALECTFP4 if which == "dialectfp4" else request.getfixturevalue("learned32")
    idx, err = book.lut()
    assert idx.shape == err.shape == (book.size, 32)
    for d in range(book.size):
        for q in range(32):
            assert (idx[d, q], err[d, q]) == brute_lut_entry(book.magnitudes[d], q), (d, q)
    if which == "dialectfp4":
        assert err.max() < 256                              # docs/formats.md#lut-formatbook: ERR fits 8 bits


@pytest.mark.parametrize("which", ["dialectfp4", "learned32"])
def test_every_code_decodes_to_its_magnitude(which, request):
    book = DIALECTFP4 if which == "dialectfp4" else request.getfixturevalue("learned32")
    name = quant.register_formatbook(book).name
    codes = np.tile(np.arange(16, dtype=np.uint8), 2)       # one block of 32: every code twice
    for d in range(book.size):
        qt = quant.QTensor(name, (1, 32), 32, quant.pack_nibbles(codes[None]), np.array([[d]], np.uint8),
                           exponent=np.array([[0]], np.int8))
        mags = [int(book.magnitudes[d][c & 7]) * (-1 if c & 8 else 1) for c in codes]
        assert qt.element_ints()[0].tolist() == mags
        assert qt.dequantize()[0].tolist() == [m / 2 for m in mags]     # e = 0: value = half-units / 2


@pytest.mark.parametrize("which", ["dialectfp4", "learned32"])
def test_rtl_params_match_lut(which, request):
    book = DIALECTFP4 if which == "dialectfp4" else request.getfixturevalue("learned32")
    idx, err = book.lut()
    p = book.rtl_params()
    assert p["D"] == book.size and p["ID_BITS"] == max(1, math.ceil(math.log2(book.size)))
    assert p["idx_rom"] == idx.tolist() and p["err_rom"] == err.tolist()
    assert p["decode_rom"] == book.magnitudes.tolist()
    assert 2 ** (p["ERR_BITS"] - 1) <= err.max() < 2 ** p["ERR_BITS"]


# ---- learned formatbooks ------------------------------------------------------------------------------------
from quant.learn import all_grids, calibration_error, freeze_source  # noqa: E402


def brute_total_error(xb_q, grids) -> int:
    """sum over blocks of min over grids of summed ERR, with the brute-force LUT (q values given per block)."""
    total = 0
    for qs in xb_q:
        total += min(sum(brute_lut_entry(g, int(q))[1] for q in qs) for g in grids)
    return total


def test_all_grids_is_the_search_space():
    g = all_grids()
    assert g.shape == (math.comb(15, 7), 8) == (6435, 8)
    assert (g[:, 0] == 0).all() and (np.diff(g, axis=1) > 0).all() and g.max() == 15
    assert len({tuple(r) for r in g}) == 6435
    assert any((g == DIALECTFP4.magnitudes[7]).all(axis=1))


def test_learned_book_matches_plain_greedy_on_small_candidate_set():
    """The vectorized lazy search equals a plain greedy loop written with Python sums (small problem)."""
    from quant.blocks import as_blocks, block_exponent, intermediate_q
    rng = np.random.default_rng(5)
    x = (rng.lognormal(0, 1.2, size=(6, 96)) * rng.choice([-1, 1], size=(6, 96))).astype(np.float32)
    cands = all_grids()[rng.choice(6435, 40, replace=False)]
    book = learn_formatbook(x, size=6, base=None, candidates=cands, name="tiny")
    xb = as_blocks(x, 32)
    qs = intermediate_q(xb, block_exponent(xb)).reshape(-1, 32)
    chosen = []
    for _ in range(6):
        totals = [brute_total_error(qs, chosen + [tuple(c)]) if tuple(c) not in chosen else math.inf for c in cands]
        chosen.append(tuple(cands[int(np.argmin(totals))]))
    assert [tuple(r) for r in book.magnitudes] == chosen
    assert calibration_error(x, book) == brute_total_error(qs, chosen)


def test_learned_book_extends_base_and_lowers_error(learned32):
    assert learned32.size == 32 and learned32.magnitudes[:16].tolist() == DIALECTFP4.magnitudes.tolist()
    x = np.random.default_rng(11).standard_t(3, size=(64, 512)).astype(np.float32)
    assert calibration_error(x, learned32) < calibration_error(x, DIALECTFP4)
    assert "student-t(3) seed 11" in learned32.provenance and "6435" in learned32.provenance
    assert learned32.bits_per_element(32) == 4 + (5 + 8) / 32


def test_freeze_source_round_trips(learned32):
    src = freeze_source(learned32)
    ns = {"Dialect": quant.Dialect, "Formatbook": quant.Formatbook, "register_formatbook": lambda b: b}
    exec(compile(src, "<freeze_source>", "exec"), ns)      # the printed block is meant to be pasted verbatim
    books = [v for v in ns.values() if isinstance(v, quant.Formatbook)]
    assert books == [learned32] and books[0].magnitudes.tolist() == learned32.magnitudes.tolist()


def test_learn_rejects_bad_requests():
    x = np.ones((1, 32), np.float32)
    with pytest.raises(ValueError, match="smaller than base"):
        learn_formatbook(x, size=8)
    with pytest.raises(ValueError, match="too few"):
        learn_formatbook(x, size=3, base=None, candidates=all_grids()[:2])
    with pytest.raises(ValueError, match="dialect"):
        learn_formatbook(x, size=1, base=None, candidates=[[0, 1, 2, 3, 4, 5, 6, 16]])
