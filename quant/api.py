"""The public entry points: quantize, qgemm, formatbook lookup."""
from __future__ import annotations

import numpy as np

from .backends import get_backend
from .qtensor import QTensor
from .exponents import sharing_of
from .registry import check_block, check_knobs, get_format


def quantize(x, fmt: str = "dialectfp4", selector: str | None = None, block: int | None = None,
             backend: str = "reference", tensor: str = "x", nonfinite: str = "raise", allowed=None,
             **knobs) -> QTensor:
    """Block-quantize `x` (float array, blocks of `block` along the last axis) to format `fmt`.

    selector: for dialect formats, one of `quant.SELECTORS` (default lut_argmin; MXFP4 fixes exact RNE).
    backend:  "reference" (NumPy spec), "numba", or "triton"; all return bit-identical QTensors.
    tensor:   a name used in error messages (e.g. the layer name).
    nonfinite: "raise" (error naming tensor, row and block) or "saturate".
    allowed:  bool mask broadcastable to (rows, blocks, D) restricting dialect choice (SeDA).
    knobs:    selector knobs, e.g. threshold=1 for two_stage, and for dialect formats the exponent-sharing knobs
              exponent_span / exponent_offset_bits (quant/exponents.py); any other name is refused.

    `block` (a positive integer, even for 4-bit formats) and the knobs are checked here, before any back end runs,
    so every back end accepts and refuses the same calls.  Inputs with no rows give an empty QTensor.
    """
    f = get_format(fmt)
    check_knobs(f, selector, knobs)
    block = check_block(f, block)
    if knobs:
        sharing_of(block, knobs, f"format {f.name}")     # exponent knobs' values, checked for every back end
    be = get_backend(backend)
    if hasattr(be, "quantize"):
        return be.quantize(x, f, selector=selector, block=block, tensor=tensor, nonfinite=nonfinite,
                           allowed=allowed, **knobs)
    return f.quantize(x, selector=selector, block=block, backend=backend, tensor=tensor, nonfinite=nonfinite,
                      allowed=allowed, **knobs)


def qgemm(qx: QTensor, qw: QTensor, bias=None, backend: str = "reference", residual: QTensor | None = None,
          residual_rows=None) -> np.ndarray:
    """Y = X W^T per the arithmetic contract, float32 (M, N) with M = rows of qx (its leading dims flattened).

    residual / residual_rows: activation decomposition's second operand for the given rows of X (its own
    accumulator, added before the bias).
    """
    return get_backend(backend).qgemm(qx, qw, bias=bias, residual=residual, residual_rows=residual_rows)
