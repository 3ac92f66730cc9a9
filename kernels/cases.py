"""Adversarial inputs for the bit-exactness checks of the kernels (tests and the GPU benchmark's self-check).

Each generator returns float32 arrays that hit one corner of the arithmetic contract: exact quarter-unit grids
(rounding ties of q and of the LUT), saturation, all-zero blocks, subnormal blocks, extreme exponents, and a
32-dialect formatbook (DialectFP4 plus 16 further valid grids) for the D=32 paths.
"""
from __future__ import annotations

import numpy as np

from quant.formatbooks import DIALECTFP4, Dialect, Formatbook, register_formatbook

# 16 further 8-level half-unit grids (ascending, from 0, at most 15) that are not DialectFP4 dialects
_EXTRA_GRIDS = (
    (0, 1, 2, 3, 5, 7, 10, 15), (0, 1, 2, 4, 6, 8, 11, 15), (0, 1, 3, 5, 7, 9, 12, 15), (0, 2, 4, 6, 8, 10, 12, 14),
    (0, 1, 2, 3, 4, 5, 6, 7), (0, 1, 2, 3, 4, 5, 7, 9), (0, 1, 2, 4, 5, 7, 9, 13), (0, 1, 3, 4, 6, 8, 10, 13),
    (0, 1, 2, 3, 5, 6, 8, 11), (0, 2, 3, 4, 6, 8, 10, 12), (0, 1, 2, 3, 4, 6, 8, 10), (0, 1, 2, 3, 5, 8, 11, 14),
    (0, 1, 2, 4, 6, 9, 12, 15), (0, 1, 3, 5, 6, 8, 10, 11), (0, 1, 2, 3, 4, 5, 8, 12), (0, 3, 5, 7, 9, 11, 13, 15),
)


def book_d32() -> Formatbook:
    """A registered 32-dialect formatbook ("kernels-test-d32"): test data, not a calibrated book."""
    dialects = DIALECTFP4.dialects + tuple(Dialect(f"x{i}", h) for i, h in enumerate(_EXTRA_GRIDS))
    book = Formatbook("kernels-test-d32", dialects, provenance="kernels/cases.py: test grids, not calibrated")
    return register_formatbook(book)


def heavy_tailed(rng, shape) -> np.ndarray:
    """Normal values with a log-normal spread of scales per row (outlier rows, many exponents)."""
    scale = np.exp(rng.normal(0.0, 2.0, size=shape[:-1] + (1,)))
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def quarter_grid(rng, shape, e_range=(-10, 10)) -> np.ndarray:
    """Values exactly q/4 * 2^e (q in 0..31, random sign, one e per row): every q rounding tie and LUT tie."""
    q = rng.integers(0, 32, size=shape)
    e = rng.integers(e_range[0], e_range[1] + 1, size=shape[:-1] + (1,))
    v = np.ldexp(q / 4.0 + rng.choice([0.0, 0.125], size=shape), e)   # +1/8: halfway between quarter-units
    return np.where(rng.random(shape) < 0.5, -v, v).astype(np.float32)


def special_rows(block: int, k: int) -> np.ndarray:
    """Rows of corner cases, each (k,) float32: zero blocks, subnormals, tiny normals, huge values, saturation
    (amax just below the next power of two), exact ties, signed zeros, a single non-zero element."""
    f32 = np.float32
    tiny = np.finfo(f32).tiny
    rows = [
        np.zeros(k),
        np.full(k, -0.0),
        np.where(np.arange(k) % 3 == 0, f32(1e-40), f32(-3e-42)),          # subnormal blocks
        np.linspace(-4 * tiny, 5 * tiny, k),                                # around the smallest normal
        np.linspace(-3.0e38, 3.4e38, k),                          # largest exponents
        np.where(np.arange(k) % 2 == 0, f32(7.99), f32(-0.3)),              # saturation: q = 31
        np.tile(np.array([4.0, 0.125, 0.375, 0.625, 5.0, 3.0, -2.5, 1.5]), -(-k // 8))[:k],   # ties
        np.where(np.arange(k) == k // 2, f32(1.0), f32(0.0)),               # one non-zero element
        np.where(np.arange(k) // block % 2 == 0, f32(0.0), f32(-1.75)),     # alternating zero blocks
    ]
    return np.stack([np.asarray(r, dtype=f32) for r in rows])


def mixed_inputs(rng, m: int, k: int, block: int) -> np.ndarray:
    """(m + 9, k): special rows, then heavy-tailed and exact-grid rows."""
    half = m // 2
    return np.concatenate([special_rows(block, k), heavy_tailed(rng, (half, k)),
                           quarter_grid(rng, (m - half, k))]).astype(np.float32)
