"""Selectors and the block exponent against independent per-block brute force (Python floats and loops)."""
import math
from fractions import Fraction

import numpy as np
import pytest

import quant
from quant import DIALECTFP4
from quant.learn import learn_formatbook


# ---- independent reference pieces ------------------------------------------------------------------------
def f32_floor_log2(v: float) -> int:
    """floor(log2 |v|) of a float32 from its bit fields (subnormals: position of the top mantissa bit)."""
    bits = int(np.array([v], np.float32).view(np.uint32)[0]) & 0x7FFFFFFF
    field, man = bits >> 23, bits & 0x7FFFFF
    return field - 127 if field else man.bit_length() - 1 - 149


def ref_exponent(block) -> int:
    amax = max(abs(float(v)) for v in block)
    return -127 if amax == 0 else max(-127, f32_floor_log2(amax) - 2)


def ref_q(v: float, e: int) -> int:
    t = Fraction(abs(float(v))) * Fraction(2) ** (2 - e)       # exact rational
    return min(31, math.floor(t + Fraction(1, 2)))


def nearest_index(t, levels) -> int:
    """Index of the level (half-units) nearest to t (half-units); a tie picks the even index."""
    d = [abs(Fraction(t) - int(h)) for h in levels]
    best = [i for i in range(8) if d[i] == min(d)]
    return best[0] if len(best) == 1 else next(i for i in best if i % 2 == 0)


def ref_lut_argmin(block, book, allowed=None):
    e = ref_exponent(block)
    qs = [ref_q(v, e) for v in block]
    ids = [d for d in range(book.size) if allowed is None or allowed[d]]
    cost = {d: sum((q - 2 * int(book.magnitudes[d][nearest_index(Fraction(q, 2), book.magnitudes[d])])) ** 2
                   for q in qs) for d in ids}
    d = min(ids, key=lambda i: (cost[i], i))
    return d, e, [nearest_index(Fraction(q, 2), book.magnitudes[d]) for q in qs]


def ref_exact_mse(block, book, allowed=None):
    e = ref_exponent(block)
    ts = [abs(float(v)) * 2.0 ** (1 - e) for v in block]       # half-units, exact in float64
    ids = [d for d in range(book.size) if allowed is None or allowed[d]]
    cost, idx = {}, {}
    for d in ids:
        levels = book.magnitudes[d]
        idx[d] = [nearest_index(t, levels) for t in ts]
        acc = 0.0
        for t, i in zip(ts, idx[d]):                           # float64, ascending element order
            acc += (t - int(levels[i])) ** 2
        cost[d] = acc
    d = min(ids, key=lambda i: (cost[i], i))
    return d, e, idx[d]


def ref_two_stage(block, book, threshold=1):
    """Stage 1: the pair whose max (real units) equals the block max -- as the 5-bit intermediate q/4 --
    rounded half up to a multiple of 0.5, clamped to [4, 7.5]; stage 2: count q/4 in [(A6+B6)/4, (A6+max)/4)."""
    e = ref_exponent(block)
    qs = [ref_q(v, e) for v in block]
    rounded = Fraction(math.floor(Fraction(max(qs), 4) * 2 + Fraction(1, 2)), 2)
    rounded = min(max(rounded, Fraction(4)), Fraction(15, 2))
    a = next(p for p in range(0, book.size, 2) if Fraction(int(book.magnitudes[p][7]), 2) == rounded)
    a6, b6, mx = (int(book.magnitudes[a][6]), int(book.magnitudes[a + 1][6]), int(book.magnitudes[a][7]))
    count = sum(1 for q in qs if Fraction(a6 + b6, 4) <= Fraction(q, 4) < Fraction(a6 + mx, 4))
    d = a if count >= threshold else a + 1
    return d, e, [nearest_index(Fraction(q, 2), book.magnitudes[d]) for q in qs]


def signed_codes(block, idx, signed_zero=False):
    """sign << 3 | idx: the sign on a non-zero index only (canonical zero), or on every element (MXFP4)."""
    return [i | 8 if (np.signbit(v) and (i or signed_zero)) else i for v, i in zip(block, idx)]


def blocks_for_tests(seed=0, n=60):
    """Blocks of 32 from varied distributions, exponents and tie-heavy grids."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        kind = k % 5
        if kind == 0:
            b = rng.standard_normal(32)
        elif kind == 1:
            b = rng.standard_t(2, 32)
        elif kind == 2:
            b = rng.lognormal(0, 2, 32) * rng.choice([-1, 1], 32)
        elif kind == 3:                                         # on the quarter-unit grid: q ties, LUT ties
            b = rng.integers(-31, 32, 32) / 4.0
        else:                                                   # exactly half-way between quarter units
            b = (rng.integers(-31, 31, 32) + 0.5) / 4.0
        b = b * 2.0 ** rng.integers(-40, 40)
        out.append(b.astype(np.float32))
    return np.stack(out)                                        # (n, 32): one block per row


@pytest.fixture(scope="module")
def learned32():
    x = np.random.default_rng(11).standard_t(3, size=(64, 512)).astype(np.float32)
    return quant.register_formatbook(learn_formatbook(x, size=32, name="test-selectors-learned-32",
                                                      description="student-t(3) seed 11"))


def check_against(ref, x, fmt, selector, book, **kw):
    q = quant.quantize(x, fmt, selector=selector, **kw)
    codes = q.element_codes()
    for r, block in enumerate(x):
        d, e, idx = ref(block, book)
        assert (int(q.dialect[r, 0]), int(q.exponent[r, 0])) == (d, e), (r, block)
        assert codes[r].tolist() == signed_codes(block, idx), r


# ---- selectors ---------------------------------------------------------------------------------------------
def test_lut_argmin_vs_brute_force_dialectfp4():
    check_against(ref_lut_argmin, blocks_for_tests(0), "dialectfp4", "lut_argmin", DIALECTFP4)


def test_lut_argmin_vs_brute_force_learned_d32(learned32):
    check_against(ref_lut_argmin, blocks_for_tests(1, 30), learned32.name, "lut_argmin", learned32)


def test_exact_mse_vs_brute_force():
    check_against(ref_exact_mse, blocks_for_tests(2), "dialectfp4", "exact_mse", DIALECTFP4)


def test_mxfp4_is_exact_mse_over_e2m1():
    x = blocks_for_tests(3)
    q = quant.quantize(x, "mxfp4")
    for r, block in enumerate(x):
        _, e, idx = ref_exact_mse(block, quant.E2M1_BOOK)
        assert int(q.exponent[r, 0]) == e and q.element_codes()[r].tolist() == signed_codes(block, idx, True)


@pytest.mark.parametrize("threshold", [1, 0, 3])
def test_two_stage_vs_brute_force(threshold):
    x = blocks_for_tests(4 + threshold)
    q = quant.quantize(x, "dialectfp4", selector="two_stage", threshold=threshold)
    for r, block in enumerate(x):
        d, e, idx = ref_two_stage(block, DIALECTFP4, threshold)
        assert (int(q.dialect[r, 0]), int(q.exponent[r, 0])) == (d, e), r
        assert q.element_codes()[r].tolist() == signed_codes(block, idx), r


@pytest.mark.parametrize("selector,ref", [("lut_argmin", ref_lut_argmin), ("exact_mse", ref_exact_mse)])
def test_allowed_restriction(selector, ref):
    x = blocks_for_tests(8, 20)
    rng = np.random.default_rng(9)
    allowed = rng.random((20, 1, 16)) < 0.3
    allowed[np.arange(20), 0, rng.integers(0, 16, 20)] = True      # at least one dialect per block
    q = quant.quantize(x, "dialectfp4", selector=selector, allowed=allowed)
    for r, block in enumerate(x):
        d, _, idx = ref(block, DIALECTFP4, allowed[r, 0])
        assert allowed[r, 0, q.dialect[r, 0]] and int(q.dialect[r, 0]) == d
        assert q.element_codes()[r].tolist() == signed_codes(block, idx)
    with pytest.raises(ValueError, match="no dialect"):
        quant.quantize(x, "dialectfp4", selector=selector, allowed=np.zeros(16, bool))
    with pytest.raises(ValueError, match="two_stage"):
        quant.quantize(x, "dialectfp4", selector="two_stage", allowed=allowed)


def test_two_stage_refuses_books_without_pairs(learned32):
    with pytest.raises(ValueError, match="pairs"):
        quant.quantize(np.ones((1, 32), np.float32), learned32.name, selector="two_stage")


@pytest.mark.parametrize("fmt,selector", [("dialectfp4", "lut_argmin"), ("dialectfp4", "exact_mse"),
                                          ("dialectfp4", "two_stage"), ("mxfp4", None)])
def test_zero_blocks(fmt, selector):
    x = np.zeros((3, 70), np.float32)
    x[1] = -0.0
    x[2, 40] = 1.0                                              # block 1 of row 2 non-zero, block 0 and 2 zero
    q = quant.quantize(x, fmt, selector=selector)
    zero = np.ones((3, 3), bool)
    zero[2, 1] = False
    assert (q.dialect[zero] == 0).all() and (q.exponent[zero] == -127).all()
    codes = q.element_codes().reshape(3, 3, 32)
    neg_zero = 8 if fmt == "mxfp4" else 0                      # MXFP4 keeps E2M1's -0 (torchao); others canonical
    row1 = codes[1].reshape(-1)
    assert (codes[0] == 0).all() and (codes[2][zero[2]] == 0).all()
    assert (row1[:70] == neg_zero).all() and (row1[70:] == 0).all()   # K padding is +0
    assert q.exponent[2, 1] == -2


# ---- the block exponent: every exponent in range ------------------------------------------------------------
def test_exponent_every_power_of_two_and_neighbours():
    vals = []
    for k in range(-149, 128):
        p = np.float32(2.0 ** k)
        vals += [p, np.nextafter(p, np.float32(0)), np.nextafter(p, np.float32(np.inf))]
    vals = np.array([v for v in vals if np.isfinite(v) and v > 0], np.float32)
    x = np.zeros((len(vals), 32), np.float32)
    x[:, 5] = vals
    x[:, 6] = -vals / np.float32(3)                             # a smaller element never changes the exponent
    for fmt in ("dialectfp4", "mxfp4"):
        e = quant.quantize(x, fmt).exponent[:, 0].astype(int)
        want = [max(-127, f32_floor_log2(float(v)) - 2) for v in vals]
        assert e.tolist() == want
    e = quant.quantize(-x, "dialectfp4").exponent[:, 0].astype(int)
    assert e.tolist() == want                                   # amax uses |x|
    covered = set(want)
    assert covered == set(range(-127, 126)), sorted(set(range(-127, 126)) - covered)
