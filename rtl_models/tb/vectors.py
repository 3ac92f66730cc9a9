"""Stimulus generators (float32 blocks of 32) for the selector and GEMM testbenches.  The expected outputs are
always computed by quant/ from these floats; nothing here decides a result."""
from __future__ import annotations

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
