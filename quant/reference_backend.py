"""The NumPy reference as a back end (the living spec)."""
from __future__ import annotations

from .gemm import qgemm_reference as qgemm  # noqa: F401
from .registry import encode_dialect_codes
from .selectors import get_selector

import numpy as np


def select_encode(selector: str, xb, e, book, allowed=None, **knobs):
    dialect, idx = get_selector(selector).fn(xb, e, book, allowed=allowed, **knobs)
    zero = ~np.any(xb != 0, axis=-1)
    return np.where(zero, 0, dialect), encode_dialect_codes(xb, e, dialect, idx)
