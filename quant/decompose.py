"""Activation decomposition (docs/features.md#decomposition): R = X - DQ(Q(X)); the salient rows' residual is quantized again
with its own block exponents and dialects, and the GEMM adds Q(R_salient) W^T in its own accumulator:
`Y = Q(X) W^T + Q(R_salient) W^T` (quant.qgemm(qx, qw, residual=qr, residual_rows=rows)).

Error never grows, element by element, for every format whose elements round to the nearest level of a grid that
contains 0 with ties going to 0 (all dialect selectors -- lut_argmin, exact_mse, two_stage -- and MXFP4): the
residual's element is rounded to a level no farther from it than 0, so |x - (dq + dr)| = |r - dr| <= |r| =
|x - dq|.  R is exact in float32 there (dq lies in [0, 2x], Sterbenz).  See tests/test_decompose.py for the
float-scaled formats (NVFP4, INT), where the bound holds only up to float32 rounding of the scales.

Salient-row choice helpers live here too: top-k by a score (attention received, or input row norms).
"""
from __future__ import annotations

from dataclasses import replace
from math import ceil

import numpy as np

from .api import quantize
from .errors import ShapeError
from .qtensor import QTensor


def take_rows(qt: QTensor, rows) -> QTensor:
    """The QTensor of the given rows (indices or a slice) of a QTensor (codes, dialects, exponents or scales of those rows; the
    tensor scale kept).  Every format dequantizes row by row, so its dequantization equals those rows of qt's."""
    rows = rows if isinstance(rows, slice) else np.asarray(rows, dtype=np.int64)   # a slice takes views
    pick = lambda a: None if a is None else a.reshape(qt.rows, -1)[rows]
    dialect = pick(qt.dialect)
    return replace(qt, shape=(dialect.shape[0], qt.k), codes=pick(qt.codes), dialect=dialect,
                   exponent=pick(qt.exponent), scale=pick(qt.scale))


def residual(x2d: np.ndarray, qx: QTensor, rows: np.ndarray) -> np.ndarray:
    """R[rows] = fl32(x - DQ(Q(x))) for the given rows, float32 (len(rows), K).  Only those rows are
    dequantized (a few percent of the tokens)."""
    dq = take_rows(qx, rows).dequantize().reshape(len(rows), qx.k)
    return (x2d.reshape(-1, qx.k)[rows] - dq).astype(np.float32)


def decompose(x2d, fmt: str, salient_rows, selector: str | None = None, block: int | None = None,
              backend: str = "reference", tensor: str = "x", allowed=None, nonfinite: str = "raise", **knobs):
    """Quantize activations X (M, K) and the residual of its salient rows.

    Returns (qx, qr): qx the QTensor of X (restricted by `allowed` when SeDA is on), qr the QTensor of
    R[salient_rows] (its own exponents and dialects, unrestricted: the residual is not a semantic token) or None
    when there are no salient rows -- then qx is exactly what quantize() alone returns (bit-for-bit no-op).
    """
    x2d = np.asarray(x2d)
    if x2d.ndim != 2:
        raise ShapeError(f"decompose({tensor!r}): need a 2-D (tokens, K) array, got shape {x2d.shape}")
    rows = np.asarray(salient_rows, dtype=np.int64).reshape(-1)
    if len(rows) and (rows.min() < 0 or rows.max() >= x2d.shape[0] or len(np.unique(rows)) != len(rows)):
        raise ShapeError(f"decompose({tensor!r}): salient rows must be distinct indices in [0, {x2d.shape[0]})")
    common = dict(selector=selector, block=block, backend=backend, nonfinite=nonfinite, **knobs)
    qx = quantize(x2d, fmt, tensor=tensor, allowed=allowed, **common)
    if len(rows) == 0:
        return qx, None
    r = residual(np.asarray(x2d, dtype=np.float32), qx, rows)
    qr = quantize(r, fmt, tensor=f"{tensor}.residual", **common)
    return qx, qr


def n_salient(n_rows: int, fraction: float) -> int:
    """ceil(fraction * n_rows) rows, at least 1 when fraction > 0, at most n_rows."""
    if fraction <= 0 or n_rows == 0:
        return 0
    return min(n_rows, max(1, ceil(fraction * n_rows)))


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest scores (ties: lower index first), sorted ascending. int64."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")[:k]
    return np.sort(order).astype(np.int64)


def row_norm_scores(x2d: np.ndarray) -> np.ndarray:
    """Squared L2 norm of each row in float64: the proxy for salience when no attention is available."""
    x = np.asarray(x2d, dtype=np.float64)
    return np.einsum("mk,mk->m", x, x)


def extra_macs(n_rows: int, k: int, n: int) -> int:
    """Multiply-accumulates the residual GEMM adds: salient rows x K x N."""
    return int(n_rows) * int(k) * int(n)
