"""Stimulus generators (float32 blocks of 32) for the selector and GEMM testbenches.  The expected outputs are
always computed by quant/ from these floats; nothing here decides a result."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

BLOCK = 32


def _realizable(q: np.ndarray, rng) -> np.ndarray:
    """Make a q vector reachable from real data: the block maximum has q >= 16 (amax * 2^(2-e) is in [16, 32))."""
    q = q.copy()
    if q.max() < 16:
        q[rng.integers(BLOCK)] = rng.integers(16, 32)
    return q


def _to_floats(q: np.ndarray, rng) -> np.ndarray:
    """Floats with e = 0 whose intermediate is exactly q (x = +-q/4); q = 0 entries get tiny values of random sign
    (they round to q = 0 but carry a sign bit the encoder must drop)."""
    sign = np.where(rng.random(q.shape) < 0.5, -1.0, 1.0)
    x = sign * q / 4.0
    tiny = sign * rng.choice([0.0, 0.03, 0.06], size=q.shape)
    return np.where(q == 0, tiny, x).astype(np.float32)


def selector_blocks(book, n_random: int, seed: int = 0) -> np.ndarray:
    """(n, 32) float32 blocks: an all-zero block; for every q a constant block (every q seen by every bank);
    every q at every position (a rotating ramp); per dialect, blocks drawn from its own levels (so each dialect
    wins somewhere, with many ties between dialects sharing levels); then `n_random` random blocks of mixed
    distributions."""
    rng = np.random.default_rng(seed)
    qs = [np.zeros(BLOCK, dtype=np.int64)]
    qs += [_realizable(np.full(BLOCK, q), rng) for q in range(32)]
    qs += [np.roll(np.arange(32), r) for r in range(0, 32, 4)]
    for d in range(book.size):
        levels = 2 * book.magnitudes[d]
        for _ in range(3):
            q = np.clip(rng.choice(levels, BLOCK) + rng.integers(-1, 2, BLOCK), 0, 31)
            qs.append(_realizable(q, rng))
    for i in range(n_random):
        kind = i % 3
        if kind == 0:
            q = rng.integers(0, 32, BLOCK)
        elif kind == 1:
            q = np.minimum(31, np.round(np.abs(rng.standard_normal(BLOCK)) * rng.uniform(3, 12))).astype(np.int64)
        else:
            q = np.minimum(31, np.round(np.abs(rng.standard_t(3, BLOCK)) * 4)).astype(np.int64)
        qs.append(_realizable(q, rng))
    x = np.stack([_to_floats(q, rng) for q in qs])
    x[0] = 0.0
    return x


def zero_rule_blocks() -> np.ndarray:
    """(n, 32) float32 blocks around the reference's zero-block rule: all +0, all -0 and mixed +-0 (zero blocks:
    dialect 0) against nonzero blocks whose q are all 0 (every |x| < 2^-130 gives e = -127 and q = 0: a lone
    smallest subnormal, a lone -2^-131, full blocks of tiny subnormals of both signs, all-equal tiny values,
    just below 2^-130), and the boundary 2^-130 itself (q = 1: a nonzero q)."""
    rng = np.random.default_rng(13)
    f32 = np.float32
    below = float(np.nextafter(f32(2.0 ** -130), f32(0)))
    blocks = [np.zeros(BLOCK), -np.zeros(BLOCK), np.where(np.arange(BLOCK) % 3 == 0, -0.0, 0.0)]
    for values in ([2.0 ** -149], [0.0] * 31 + [-(2.0 ** -131)], [below, -below, -0.0], [2.0 ** -130],
                   [-(2.0 ** -130), 2.0 ** -149]):
        v = np.zeros(BLOCK)
        v[: len(values)] = values
        blocks.append(v)
    for _ in range(3):
        mags = rng.integers(1, 1 << 19, BLOCK) * 2.0 ** -149           # subnormals below 2^-130
        blocks.append(np.where(rng.random(BLOCK) < 0.5, -mags, mags))
    blocks.append(np.full(BLOCK, 3 * 2.0 ** -140))
    return np.stack(blocks).astype(f32)


ADVERSARIAL = ("zeros", "signed_zeros", "all_equal", "outlier", "rounding_ties", "dialect_ties", "below_q",
               "neg_equal")


def adversarial_block(kind: str, rng, magnitudes: np.ndarray) -> np.ndarray:
    """One float32 block of 32 of an adversarial kind (ADVERSARIAL): all +0; +-0 mixed; all equal; small noise
    with a single outlier; every element exactly halfway between two q (q rounds up); q drawn from one dialect's
    own levels (`magnitudes`, half-units; dialects sharing those levels tie on the LUT cost); nonzero but below
    2^-130 (q all 0, e = -127); all equal and negative with a -0.  Scaled by a random power of two."""
    scale = 2.0 ** int(rng.integers(-6, 7))
    sign = np.where(rng.random(BLOCK) < 0.5, -1.0, 1.0)
    if kind == "zeros":
        v = np.zeros(BLOCK)
    elif kind == "signed_zeros":
        v = np.where(sign < 0, -0.0, 0.0)
    elif kind == "all_equal":
        v = np.full(BLOCK, rng.uniform(0.1, 3.0) * scale)
    elif kind == "outlier":
        v = 0.01 * rng.standard_normal(BLOCK) * scale
        v[rng.integers(BLOCK)] = 300.0 * scale * sign[0]
    elif kind == "rounding_ties":
        v = sign * (rng.integers(0, 31, BLOCK) + 0.5) / 4 * scale
        v[rng.integers(BLOCK)] = 7.875 * scale                     # amax fixes e = log2(scale): t = k + 0.5
    elif kind == "dialect_ties":
        levels = magnitudes[rng.integers(len(magnitudes))]
        v = sign * rng.choice(levels, BLOCK) / 2 * scale
        v[rng.integers(BLOCK)] = levels[-1] / 2 * scale            # the dialect's maximum sets e
    elif kind == "below_q":
        v = sign * rng.integers(1, 1 << 19, BLOCK) * 2.0 ** -149
    elif kind == "neg_equal":
        v = np.full(BLOCK, -rng.uniform(0.1, 3.0) * scale)
        v[rng.integers(BLOCK)] = -0.0
    else:
        raise ValueError(f"adversarial_block: unknown kind {kind!r}; known: {', '.join(ADVERSARIAL)}")
    return v.astype(np.float32)


def attention_operands(kind: str, m: int, n: int, k: int, seed: int, magnitudes: np.ndarray, share: float = 0.5):
    """A (m, k) and B (n, k) float32 for a GEMM A B^T of two activations: "qk" (Q and K rows, heavy-tailed with
    outlier channels), "pv" (softmax probability rows P against V^T rows), "extremes" (gemm_operands with rows
    overflowing to inf and rows flushing).  About `share` of the blocks of each operand (whole blocks of 32
    along k; a partial last block keeps its tail zero) are then replaced by adversarial blocks, cycling through
    ADVERSARIAL (not for "extremes").  Returns (a, b, the adversarial kinds placed, one per replaced block)."""
    rng = np.random.default_rng(seed)
    if kind == "qk":
        a = rng.standard_t(4, (m, k)) * np.where(rng.random(k) < 0.1, 8.0, 1.0)
        b = rng.standard_t(4, (n, k)) * np.where(rng.random(k) < 0.1, 8.0, 1.0)
    elif kind == "pv":
        logits = rng.standard_normal((m, k)) * rng.uniform(1, 6, (m, 1))
        a = np.exp(logits - logits.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        b = rng.standard_normal((n, k))
    elif kind == "extremes":
        a, b = gemm_operands(m, n, k, seed=seed, extremes=True)
    else:
        raise ValueError(f"attention_operands: unknown kind {kind!r}; known: qk, pv, extremes")
    a, b = a.astype(np.float32), b.astype(np.float32)
    j, placed = int(rng.integers(len(ADVERSARIAL))), []
    for x in (a, b):
        for r in range(x.shape[0]):
            for blk in range(-(-k // BLOCK)):
                if kind != "extremes" and rng.random() < share:
                    width = min(BLOCK, k - blk * BLOCK)
                    placed.append(ADVERSARIAL[j % len(ADVERSARIAL)])
                    x[r, blk * BLOCK:blk * BLOCK + width] = adversarial_block(placed[-1], rng, magnitudes)[:width]
                    j += 1
    return a, b, placed


def gemm_operands(m: int, n: int, k: int, seed: int = 0, extremes: bool = True):
    """X (m, k) and W (n, k) float32 with heavy tails; with `extremes`, row 0 of X by 2^62 and of W by 2^68 (their
    products overflow float32 to inf) and the last row of each by 2^-70 (exponent sums below -126 flush)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_t(4, size=(m, k)).astype(np.float32)
    w = (0.05 * rng.standard_normal((n, k))).astype(np.float32)
    if k > 40:
        x[:, 3] = 0.0                                   # a zero column and, for wider K, an all-zero block
        x[0, 32:64] = 0.0
    if extremes and m > 2 and n > 2:
        x[0] *= np.float32(2.0 ** 62)
        w[0] *= np.float32(2.0 ** 68)
        x[-1] *= np.float32(2.0 ** -70)
        w[-1] *= np.float32(2.0 ** -70)
    return x, w


def order_operands(m: int, n: int, k: int, seed: int = 0):
    """Accumulation-order vectors: X (m, k) and W (n, k) float32 whose block exponents spread widely.  Block 0 of
    every row dominates; each later block of each operand is scaled by 2^-8 or 2^-9, so an output's later scaled
    partials are 2^-16..2^-18 of its first one and fall around and below the last bit of the float32
    accumulator (|P| < 2^13): ascending float32 accumulation rounds on most adds, hits exact round-half-even ties,
    and ends up different from a float64 sum in about half of the outputs.  All elements of a row share the
    row's sign, so the roundings of one output do not cancel on average.  The test measures the share
    (accumulation_stats); nothing here assumes it."""
    if k <= BLOCK:
        raise ValueError(f"order_operands: k must span at least two blocks of {BLOCK}, got {k}")
    rng = np.random.default_rng(seed)
    x = np.abs(rng.standard_normal((m, k))) * np.where(rng.random((m, 1)) < 0.5, -1.0, 1.0)
    w = np.abs(rng.standard_normal((n, k)))
    for a in (x, w):
        for b in range(1, -(-k // BLOCK)):
            a[:, b * BLOCK:(b + 1) * BLOCK] *= 2.0 ** -rng.integers(8, 10, size=(a.shape[0], 1))
    return x.astype(np.float32), w.astype(np.float32)


def _exact_ties(acc: np.ndarray, s: np.ndarray) -> int:
    """How many of the float32 adds acc + s (s exact in float64) are exact halfway cases between two float32s."""
    ties = 0
    for a, b in zip(acc.reshape(-1).tolist(), s.reshape(-1).tolist()):
        exact = Fraction(a) + Fraction(b)
        near = np.float32(float(exact))
        if exact == 0 or not np.isfinite(near):
            continue
        lo, hi = (np.nextafter(near, np.float32(-np.inf)), near) if Fraction(float(near)) > exact else \
                 (near, np.nextafter(near, np.float32(np.inf)))
        ties += Fraction(float(hi)) - exact == exact - Fraction(float(lo))
    return ties


def accumulation_stats(qx, qw) -> dict:
    """For quantized operands: how many outputs of quant's float32 ascending-block accumulation differ from the
    float64 sum of the same scaled partials (rounded once), and how many of the float32 adds were exact ties."""
    from quant.gemm import FLUSH_BELOW, block_partials, scale_exponents
    p, s = block_partials(qx, qw), scale_exponents(qx, qw)
    scaled = np.where(s < FLUSH_BELOW, 0.0, np.ldexp(p.astype(np.float64), s))
    acc = np.zeros(p.shape[1:], dtype=np.float32)
    ties = 0
    for b in range(p.shape[0]):
        ties += _exact_ties(acc, scaled[b])
        acc = (acc + scaled[b].astype(np.float32)).astype(np.float32)
    f64 = scaled.sum(axis=0).astype(np.float32)
    return {"outputs": int(acc.size), "f64_differs": int((acc.view(np.uint32) != f64.view(np.uint32)).sum()),
            "ties": int(ties)}
