"""Test vectors that only a faithful back end passes: accumulation-order GEMM operands and rounding-tie activations.

The quantized GEMM's contract (quant/gemm.py) adds the scaled block partials S_b into a float32 accumulator in
ascending block order, rounding after every addition.  On ordinary data (e.g. the tiny model's layers) the partials
add up exactly in float32, so a back end that accumulates in float64 and rounds once returns the same bits.  The
operands here make that difference visible in most outputs:

- every row of X and W gets one block exponent per block, spread over a wide range: block 0 is "loud" (exponent
  LOUD_EXP), the middle blocks are quiet (exponents in [-QUIET_SPAN, 0]), and the last block repeats block 0 with
  W's sign flipped, so S_last = -S_0 exactly.  float32 accumulation rounds every quiet partial to the loud
  partial's ulp and the final cancellation exposes those roundings; a float64 accumulator keeps the quiet partials
  exactly (the span LOUD_EXP + QUIET_SPAN is chosen so the float64 sum is exact) and rounds once.
- `accumulate_in(qx, qw, dtype)` is the contract's accumulation with a chosen accumulator type: float32 is the
  contract, float64 is what a float64 accumulator gives (the mutation the vectors must expose).

`rounding_tie_activations` returns float32 activations whose elements lie exactly on the rounding ties of a
format's element rounding: the 5-bit intermediate q (round half up) for online dialect selectors, the level
midpoints (round half to even) for MXFP4's nearest rounding, the element midpoints (RNE) for NVFP4, INT and MX FP8.  A
back end that rounds half down (or half up where the contract says half to even) encodes them differently.
"""
from __future__ import annotations

import numpy as np

from .errors import QuantError, ShapeError
from .formats import FloatElementFormat
from .gemm import FLUSH_BELOW, block_partials, check_operands, scale_exponents
from .qtensor import QTensor
from .registry import EXPONENT_KINDS, POW2, POW2_WIDE, DialectFormat, MXFloatFormat, ScaledIntFormat, get_format

LOUD_EXP = 8         # exponent offset of the first and last block [ours]: 2^16 between loud and quiet products
QUIET_SPAN = 4       # quiet blocks' exponents lie in [-QUIET_SPAN, 0] [ours]
MIN_BLOCKS = 3       # loud, at least one quiet, cancelling loud
ONLINE_SELECTORS = ("lut_argmin", "two_stage")   # selectors that round |x| to the 5-bit intermediate q first


# ---- accumulation order --------------------------------------------------------------------------------------
def _spread_rows(rng, rows: int, nb: int, block: int) -> np.ndarray:
    """(rows, nb, block) float64: normal values times 2^e per block, loud first block, quiet middle blocks."""
    e = rng.integers(-QUIET_SPAN, 1, size=(rows, nb, 1))
    e[:, 0] = LOUD_EXP
    return np.ldexp(rng.standard_normal((rows, nb, block)), e)


def accumulation_order_operands(m: int, k: int, n: int, fmt: str, seed: int, block: int | None = None):
    """(qx, qw): X (m, k) and W (n, k) quantized to `fmt` by the reference, with block exponents spread so that
    float32 ascending-block accumulation and a float64 accumulator disagree in most outputs (see module doc).

    k must be a multiple of the block (default: the format's) with at least MIN_BLOCKS blocks, so the last block
    is whole and cancels the first exactly."""
    f = get_format(fmt)
    block = block or f.default_block or k
    if k % block or k // block < MIN_BLOCKS:
        raise ShapeError(f"accumulation_order_operands: k={k} must be a multiple of the block {block} with at least "
                         f"{MIN_BLOCKS} blocks (format {fmt})")
    nb = k // block
    rng = np.random.default_rng(seed)
    x, w = _spread_rows(rng, m, nb, block), _spread_rows(rng, n, nb, block)
    x[:, -1] = x[:, 0]                       # identical codes and scales in the last block ...
    w[:, -1] = -w[:, 0]                      # ... and negated W codes: S_last = -S_0 for every output
    qx = f.quantize(x.reshape(m, k).astype(np.float32), block=block, tensor="accumulation-order X")
    qw = f.quantize(w.reshape(n, k).astype(np.float32), block=block, tensor="accumulation-order W")
    return qx, qw


def scaled_partials(qx: QTensor, qw: QTensor) -> np.ndarray:
    """S[b, m, n], the contract's scaled block partials (step 3 of quant/gemm.py), as float32 (nb, M, N)."""
    check_operands(qx, qw)
    f32 = np.float32
    p = block_partials(qx, qw)
    if qx.format.scale_kind == POW2:
        s = scale_exponents(qx, qw)
        return np.where(s < FLUSH_BELOW, 0.0, np.ldexp(p.astype(np.float64), s)).astype(f32)
    if qx.format.scale_kind == POW2_WIDE:
        with np.errstate(over="ignore"):
            return np.ldexp(p.astype(np.float64), scale_exponents(qx, qw)).astype(f32)
    sx, sw = qx.scale.T[:, :, None], qw.scale.T[:, None, :]
    return ((p.astype(f32) * sx).astype(f32) * sw).astype(f32)


def accumulate_in(qx: QTensor, qw: QTensor, dtype=np.float32) -> np.ndarray:
    """Y = X W^T with the contract's partials added in ascending block order in an accumulator of `dtype`, then
    rounded to float32 (and, for float-scaled formats, multiplied by the contract's post scale).  float32 gives
    the contract's bits; float64 gives what a back end with a float64 accumulator returns.  No bias, no residual."""
    f32 = np.float32
    parts = scaled_partials(qx, qw)
    acc = np.zeros(parts.shape[1:], dtype=dtype)
    for part in parts:                                   # ascending block order
        acc = (acc + part.astype(dtype)).astype(dtype)
    y = acc.astype(f32)
    if qx.format.scale_kind in EXPONENT_KINDS:
        return y
    post = f32(f32(f32(qx.tensor_scale) * f32(qw.tensor_scale)) * f32(qx.format.unit * qw.format.unit))
    return (y * post).astype(f32)


def differing_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of outputs whose float32 bit patterns differ (0.0 .. 1.0)."""
    a, b = np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32)
    if a.shape != b.shape:
        raise ShapeError(f"differing_share: shapes {a.shape} and {b.shape} differ")
    return float(np.mean(a.view(np.int32) != b.view(np.int32))) if a.size else 0.0


# ---- rounding ties -------------------------------------------------------------------------------------------
def _signed(rng, v: np.ndarray) -> np.ndarray:
    return np.where(rng.random(v.shape) < 0.5, -v, v)


def _block_of_ties(rng, rows, nb, block, ties, anchors) -> np.ndarray:
    """(rows, nb, block) tie values in the block's own unit, one random anchor (fixing the block's scale) per block."""
    v = rng.choice(ties, size=(rows, nb, block))
    pos = rng.integers(0, block, size=(rows, nb))
    np.put_along_axis(v, pos[..., None], rng.choice(anchors, size=(rows, nb, 1)), axis=-1)
    return _signed(rng, v)


def _dialect_ties(rng, f: DialectFormat, rows, nb, block, selector) -> np.ndarray:
    """Values t * 2^(e + u) with the block's amax in [4, 8) * 2^e (so e is the block exponent) and t on a tie:
    online selectors: |x| 2^(2-e) = j + 1/2 (q's round-half-up ties), u = -2 (quarter-units);
    offline nearest (exact_mse): |x| 2^(1-e) = a level midpoint of the book's dialects, u = -1 (half-units)."""
    if selector in ONLINE_SELECTORS:
        ties, unit = np.arange(31) + 0.5, -2
        anchors = ties[ties >= 16]                           # q in [16, 31): amax * 2^-e in [4, 8)
    else:
        mags = f.book.magnitudes.astype(np.float64)
        ties, unit = np.unique((mags[:, :-1] + mags[:, 1:]) / 2), -1
        anchors = ties[(ties >= 8) & (ties < 16)]            # half-units: amax * 2^-e in [4, 8)
    e = rng.integers(-8, 9, size=(rows, nb, 1))
    return np.ldexp(_block_of_ties(rng, rows, nb, block, ties, anchors), e + unit)


def _scaled_ties(rng, f: ScaledIntFormat, rows, nb, block) -> np.ndarray:
    """Block scales s = (1 + j/8) 2^k (exact in E4M3, FP16 and FP32), elements on the element format's midpoints
    times s (and the tensor scale g), one element per block at element_max * s so that the quantizer recovers s
    exactly.  NVFP4's tensor scale g = 2^-4 comes from one block whose scale is the scale format's maximum."""
    el = f.element
    if isinstance(el, FloatElementFormat):
        vals = el.values[np.isfinite(el.values)]
        ties = (vals[:-1] + vals[1:]) / 2
    else:
        ties = np.arange(el.qmax) + 0.5
    s = np.ldexp(1 + rng.integers(0, 8, size=(rows, nb, 1)) / 8, rng.integers(-6, 8, size=(rows, nb, 1)))
    g = 1.0
    if f.tensor_scale_divisor is not None:
        g = 2.0 ** -4
        s[0, 0] = f.scale_format.max_value                    # amax_tensor / divisor = g exactly
    return _block_of_ties(rng, rows, nb, block, ties, [f.element_max]) * s * g


def _mx_ties(rng, f: MXFloatFormat, rows, nb, block) -> np.ndarray:
    """Midpoints of neighbouring element values (E4M3: subnormal, normal and the 448/480 saturation boundary) times
    2^e, one element per block at 2^elem_emax * 2^e (E4M3: 256) so that e is the block's exponent."""
    vals = f.element.values[np.isfinite(f.element.values)]
    ties = np.append((vals[:-1] + vals[1:]) / 2, f.element.max_value + (vals[-1] - vals[-2]) / 2)
    e = rng.integers(-20, 21, size=(rows, nb, 1))
    return np.ldexp(_block_of_ties(rng, rows, nb, block, ties, [2.0 ** f.elem_emax]), e)


def rounding_tie_activations(rows: int, k: int, fmt: str, seed: int, selector: str | None = None,
                             block: int | None = None) -> np.ndarray:
    """float32 (rows, k), k a multiple of the block: every element but one per block lies exactly on a rounding tie
    of `fmt`'s element rounding under `selector` (default: the format's), and the remaining one fixes the block's
    scale (see _dialect_ties / _scaled_ties)."""
    f = get_format(fmt)
    block = block or f.default_block or k
    if k % block:
        raise ShapeError(f"rounding_tie_activations: k={k} must be a multiple of the block {block} (format {fmt})")
    rng = np.random.default_rng(seed)
    nb = k // block
    if isinstance(f, DialectFormat):
        x = _dialect_ties(rng, f, rows, nb, block, selector or f.default_selector)
    elif isinstance(f, ScaledIntFormat):
        x = _scaled_ties(rng, f, rows, nb, block)
    elif isinstance(f, MXFloatFormat):
        x = _mx_ties(rng, f, rows, nb, block)
    else:
        raise QuantError(f"rounding_tie_activations: no tie construction for format {fmt!r} "
                         f"({type(f).__name__})")
    out = x.reshape(rows, k).astype(np.float32)
    if not np.array_equal(out.astype(np.float64), x.reshape(rows, k)):
        raise QuantError(f"rounding_tie_activations: a tie value of {fmt} is not exact in float32")
    return out
