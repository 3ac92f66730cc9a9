"""Fused activation decomposition (docs/features.md#decomposition): one pass over X quantizes every row and, for the
salient rows, computes the residual R = X - DQ(Q(X)) from the codes still in registers and quantizes R with its
own exponents and dialects.  Same results, bit for bit, as quant.decompose.decompose (the reference
composition quantize -> dequantize -> subtract -> quantize), which the tests compare against.

The fused kernel covers dialect formats with kernel selectors (lut_argmin, two_stage, and MXFP4's nearest
rounding) on blocks with their own exponents.  Other cases (float-scaled formats, whose NVFP4 tensor scale needs
the whole residual first; shared exponents, quant/exponents.py, which need the residual's span or tensor maximum
first; the host-side exact_mse on multi-dialect books) run the same composition as quant.decompose with the
triton back end.
"""
from __future__ import annotations

import numpy as np
import torch

from quant.blocks import FLT_MAX
from quant.errors import ShapeError
from quant.exponents import split_knobs
from quant.registry import DialectFormat, get_format
from quant.selectors import get_selector

from ._env import require_triton

require_triton()
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

from ._bits import scale_pow2  # noqa: E402
from ._launch import KernelCall  # noqa: E402
from .quantize import LUT_ARGMIN, book_tables, half_lanes, select_encode_block, sign_code  # noqa: E402

_FLT_MAX = tl.constexpr(FLT_MAX)


@triton.jit
def _sanitize(x, SATURATE: tl.constexpr):
    """nonfinite='saturate': +-inf -> +-FLT_MAX, NaN -> 0 (quant.blocks.as_blocks); otherwise unchanged."""
    if SATURATE:
        x = tl.where(x != x, 0.0, tl.minimum(tl.maximum(x, -_FLT_MAX), _FLT_MAX))
    return x


@triton.jit
def _dequantize(x, idx, dial, e, MAGS, SIGNED_ZERO: tl.constexpr):
    """DQ = +-h * 2^(e-1) in float32 (exact: h has 4 bits and e - 1 >= -128), sign from x as the encoder set it
    (a -0 code, SIGNED_ZERO, gives -0.0 as the reference's dequantize does)."""
    h = tl.load(MAGS + dial[:, None] * 8 + idx).to(tl.float32)
    v = scale_pow2(h, e[:, None] - 1)
    return tl.where(sign_code(x, idx, SIGNED_ZERO) != 0, -v, v)


@triton.jit
def _store_block(CODES, DIAL, EXP, r64, m, rmask, b, j, NB, byte, dial, e, BLOCK: tl.constexpr):
    tl.store(CODES + r64[:, None] * (NB * (BLOCK // 2)) + (b * (BLOCK // 2) + j)[None, :], byte.to(tl.uint8), mask=m)
    tl.store(DIAL + r64 * NB + b, dial.to(tl.uint8), mask=rmask)
    tl.store(EXP + r64 * NB + b, e.to(tl.int8), mask=rmask)


@triton.jit
def decompose_kernel(X, stride_x, R, K, NB, RMAP, CODES, DIAL, EXP, RCODES, RDIAL, REXP, IDX, ERR, MAGS, D,
                     ALLOWED, s_ar, s_ab, s_ad, pair_min, pair_max, threshold, BLOCK: tl.constexpr,
                     HALF: tl.constexpr, BR: tl.constexpr, MODE: tl.constexpr, HAS_ALLOWED: tl.constexpr,
                     SATURATE: tl.constexpr, SIGNED_ZERO: tl.constexpr):
    b = tl.program_id(1)
    rows = tl.program_id(0) * BR + tl.arange(0, BR)
    rmask = rows < R
    r64 = rows.to(tl.int64)
    j = tl.arange(0, HALF)
    col = b * BLOCK + 2 * j
    m = rmask[:, None] & (j < BLOCK // 2)[None, :]
    base = X + r64[:, None] * stride_x
    xe = tl.load(base + col[None, :], mask=m & (col < K)[None, :], other=0.0)
    xo = tl.load(base + col[None, :] + 1, mask=m & (col + 1 < K)[None, :], other=0.0)
    se = _sanitize(xe, SATURATE)
    so = _sanitize(xo, SATURATE)
    dial, e, byte, ie, io = select_encode_block(se, so, rows, rmask, b, IDX, ERR, MAGS, D, ALLOWED, s_ar, s_ab,
                                                s_ad, pair_min, pair_max, threshold, rows, MODE, HAS_ALLOWED,
                                                SIGNED_ZERO, False)
    _store_block(CODES, DIAL, EXP, r64, m, rmask, b, j, NB, byte, dial, e, BLOCK)
    rmap = tl.load(RMAP + rows, mask=rmask, other=-1)          # residual row of each row, -1 if not salient
    if tl.max(rmap, axis=0) >= 0:
        has = rmap >= 0
        # residual from the unsanitized input, as the reference composition computes it, then sanitized
        re = _sanitize(xe - _dequantize(se, ie, dial, e, MAGS, SIGNED_ZERO), SATURATE)
        ro = _sanitize(xo - _dequantize(so, io, dial, e, MAGS, SIGNED_ZERO), SATURATE)
        re = tl.where(has[:, None], re, 0.0)
        ro = tl.where(has[:, None], ro, 0.0)
        rdial, rexp, rbyte, _ie, _io = select_encode_block(re, ro, rows, has, b, IDX, ERR, MAGS, D, ALLOWED, s_ar,
                                                           s_ab, s_ad, pair_min, pair_max, threshold, rows, MODE,
                                                           False, SIGNED_ZERO, False)
        rr = tl.maximum(rmap, 0).to(tl.int64)
        _store_block(RCODES, RDIAL, REXP, rr, m & has[:, None], has, b, j, NB, rbyte, rdial, rexp, BLOCK)


def _fused_mode(f, selector, allowed, knobs):
    """Kernel mode for a fused decomposition, or None when the composition must be used instead."""
    from .backend import _dialect_mode
    if not isinstance(f, DialectFormat):
        return None
    if f.fixed_selector and selector not in (None, f.default_selector):
        return None     # the composition raises the reference's error
    if split_knobs(knobs)[1]:
        return None     # shared exponents (quant/exponents.py): the composition of the quantize kernels
    return _dialect_mode(f, get_selector(selector or f.default_selector).name, allowed, knobs)


def decompose(x2d, fmt, salient_rows, selector=None, block=None, tensor="x", allowed=None, nonfinite="raise",
              **knobs):
    """(qx, qr) like quant.decompose.decompose(..., backend="triton"): qx quantizes X (M, K) (restricted by
    `allowed`), qr the residual of the salient rows (unrestricted; None when there are none).  Fused in one kernel
    for dialect formats with kernel selectors; otherwise the quantize kernels composed on the host."""
    from quant.decompose import decompose as composition

    from .backend import DEVICE, _allowed_tensor, to_device_2d
    f = get_format(fmt)
    x2d = np.asarray(x2d)
    rows = np.asarray(salient_rows, dtype=np.int64).reshape(-1)
    mode = _fused_mode(f, selector, allowed, knobs)
    if mode is None or x2d.ndim != 2 or len(rows) == 0:
        return composition(x2d, fmt, salient_rows, selector=selector, block=block, backend="triton", tensor=tensor,
                           allowed=allowed, nonfinite=nonfinite, **knobs)
    m, k = x2d.shape
    if rows.min() < 0 or rows.max() >= m or len(np.unique(rows)) != len(rows):
        raise ShapeError(f"decompose({tensor!r}): salient rows must be distinct indices in [0, {m})")
    block = block or f.default_block
    if block % 2:
        raise ShapeError(f"triton back end: 4-bit codes pack two per byte within a block; block must be even, "
                         f"got {block}")
    xt = to_device_2d(x2d, block, tensor, nonfinite, sanitize=False)
    rmap = np.full(m, -1, dtype=np.int32)
    rmap[rows] = np.arange(len(rows), dtype=np.int32)
    sel = get_selector(selector or f.default_selector).name
    al = _allowed_tensor(allowed, m, -(-k // block), f.book.size)      # validated for every mode
    out = _launch(xt, f.book, block, mode, torch.as_tensor(rmap, device=DEVICE), len(rows),
                  al if mode == LUT_ARGMIN else None, int(knobs.get("threshold", 1)), nonfinite == "saturate",
                  signed_zero=f.signed_zero)
    as_q = lambda shape, c, d, e: f.make_qtensor(shape, block, c.cpu().numpy(), d.cpu().numpy(), e.cpu().numpy(),
                                                 sel, knobs)
    return as_q((m, k), *out[:3]), as_q((len(rows), k), *out[3:6])


def _launch(xt, book, block, mode, rmap, n_res, allowed, threshold, saturate, rows_per_program=64, run=True,
            signed_zero=False):
    """Returns (codes, dialect, exponent) of X and of the residual rows, and the KernelCall."""
    r, k = xt.shape
    nb = -(-k // block)
    dev = xt.device
    new = lambda rr, cols, dt: torch.empty((rr, cols), dtype=dt, device=dev)
    codes, dial, exp = new(r, nb * block // 2, torch.uint8), new(r, nb, torch.uint8), new(r, nb, torch.int8)
    rc, rd, re = new(n_res, nb * block // 2, torch.uint8), new(n_res, nb, torch.uint8), new(n_res, nb, torch.int8)
    idx, err, mags = book_tables(book, str(dev))
    mx = book.magnitudes[0::2, 7] if book.size >= 2 else np.array([0])
    al = allowed if allowed is not None else dial
    strides = allowed.stride() if allowed is not None else (0, 0, 0)
    call = KernelCall(decompose_kernel, (triton.cdiv(r, rows_per_program), nb),
                      (xt, xt.stride(0), r, k, nb, rmap, codes, dial, exp, rc, rd, re, idx, err, mags, book.size, al,
                       *strides, int(mx.min()), int(mx.max()), threshold),
                      dict(BLOCK=block, HALF=half_lanes(block), BR=rows_per_program, MODE=mode,
                           HAS_ALLOWED=allowed is not None, SATURATE=saturate, SIGNED_ZERO=bool(signed_zero)))
    if run:
        call.run()
    return codes, dial, exp, rc, rd, re, call
