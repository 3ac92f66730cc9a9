"""Pareto fronts of sweep results."""
from __future__ import annotations

import numpy as np


def pareto_mask(values: np.ndarray, senses) -> np.ndarray:
    """Boolean mask of non-dominated rows.  values: (P, M); senses: M entries of 'min' or 'max'.

    Row i is dominated when some row j is no worse in every objective and strictly better in one.
    O(P^2 M) in blocks of rows, fine for the tens of thousands of points a sweep produces.
    """
    v = np.asarray(values, dtype=np.float64)
    sign = np.array([1.0 if s == "min" else -1.0 for s in senses])
    v = v * sign
    ok = np.all(np.isfinite(v), axis=1)
    mask = np.zeros(len(v), dtype=bool)
    idx = np.flatnonzero(ok)
    w = v[idx]
    keep = np.ones(len(idx), dtype=bool)
    for start in range(0, len(idx), 512):
        blk = w[start:start + 512]
        no_worse = np.all(w[None, :, :] <= blk[:, None, :], axis=2)
        better = np.any(w[None, :, :] < blk[:, None, :], axis=2)
        keep[start:start + 512] = ~np.any(no_worse & better, axis=1)
    mask[idx] = keep
    return mask
