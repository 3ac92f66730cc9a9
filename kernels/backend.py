"""The "triton" back end of `quant` (quant/backends.py maps the name here): host wrappers around the kernels.

    quant.quantize(x, fmt, backend="triton")   -> quantize(x, fmt_object, ...)
    quant.qgemm(qx, qw, backend="triton")      -> qgemm(qx, qw, ...)

Inputs are NumPy arrays and QTensors; they are copied to torch tensors on the kernels' device ("cuda" when a GPU
is visible, otherwise CPU tensors run by Triton's interpreter) and results come back as NumPy, bit-identical to
the reference back end.

What runs where:
- dialect formats: `lut_argmin` (optionally restricted by `allowed`, SeDA's sub-formatbooks), `two_stage`, and
  `exact_mse` on a single-dialect book (that is MXFP4's nearest-E2M1 rounding) run in kernels;
- `exact_mse` on a multi-dialect book runs on the host (the NumPy reference): it is the *offline weight* selector,
  so weights are quantized once, and its float64 summed-squared-error order would need fp64 without FMA on the
  device to stay bit-exact;
- float-scaled formats (nvfp4, int4_g32, int4_g128, int8, int8_g32) run in kernels;
- MX float formats (fp8_e4m3_g32) run in their kernel (kernels/quantize_mx.py); their GEMM splits each 18-bit
  element integer into three int8 pieces so the exact int64 block partial comes from int8 `tl.dot`s;
- the non-finite check runs on the device before the kernel (an error names tensor, row and block);
- `decompose` (activation decomposition) is one fused kernel for dialect formats (kernels/decompose.py).
"""
from __future__ import annotations

import numpy as np
import torch

from quant.blocks import FLT_MAX, MIN_EXP, NONFINITE_MODES
from quant.errors import NonFiniteError, QuantError, ShapeError
from quant.exponents import sharing_of
from quant.gemm import OVERFLOW_ABOVE, bias_row, check_operands, exponent_offset, qgemm_with, residual_row_indices
from quant.qtensor import QTensor, unpack_nibbles
from quant.registry import EXPONENT_KINDS, DialectFormat, MXFloatFormat, ScaledIntFormat, get_format
from quant.selectors import get_selector

from ._env import DEVICE, require_triton

require_triton()
from .gemm import launch_qgemm  # noqa: E402
from .quantize import (LUT_ARGMIN, NEAREST, TWO_STAGE, launch_block_exponents, launch_dialect_quantize,  # noqa: E402
                       launch_scaled_quantize)
from .quantize_mx import launch_mx_quantize  # noqa: E402

_KERNEL_MODES = {"lut_argmin": LUT_ARGMIN, "two_stage": TWO_STAGE}
HOST_SELECTORS = ("exact_mse",)   # offline (weight) selectors that run on the host for multi-dialect books


def device() -> str:
    """Where the kernels run: "cuda", or "cpu" (Triton interpreter)."""
    return DEVICE


def decompose(x2d, fmt, salient_rows, **kw):
    """Fused activation decomposition (kernels.decompose.decompose): (qx, qr), as quant.decompose.decompose."""
    from .decompose import decompose as fused
    return fused(x2d, fmt, salient_rows, **kw)


# ---- inputs ---------------------------------------------------------------------------------------------------
def to_device_2d(x, block: int, tensor: str = "x", nonfinite: str = "raise", sanitize: bool = True) -> torch.Tensor:
    """(..., K) float array or torch tensor -> contiguous float32 (R, K) tensor on the kernels' device, after the
    same checks as quant.blocks.as_blocks (shape, dtype, block, non-finite values; 'saturate' clamps +-inf and
    zeroes NaN, unless sanitize=False: then the caller's kernel does it).  A torch tensor already on the device
    is not copied through the host."""
    shape, floating = (tuple(x.shape), x.is_floating_point()) if torch.is_tensor(x) else (
        np.shape(x), np.issubdtype(np.asarray(x).dtype, np.floating))
    if len(shape) < 1 or shape[-1] == 0:
        raise ShapeError(f"tensor {tensor!r}: need at least one element along the last (reduction) axis, "
                         f"got shape {shape}")
    if not floating:
        raise ShapeError(f"tensor {tensor!r}: need a floating-point array, got dtype {getattr(x, 'dtype', None)}")
    if block <= 0:
        raise ShapeError(f"block size must be positive, got {block}")
    if nonfinite not in NONFINITE_MODES:
        raise ShapeError(f"nonfinite must be one of {NONFINITE_MODES}, got {nonfinite!r}")
    k = shape[-1]
    if torch.is_tensor(x):
        xt = x.detach().to(device=DEVICE, dtype=torch.float32).reshape(-1, k).contiguous()
    else:
        xt = torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32).reshape(-1, k), device=DEVICE)
    bad = ~torch.isfinite(xt)
    if bool(bad.any()):
        if nonfinite == "saturate":
            if not sanitize:
                return xt
            return torch.where(torch.isnan(xt), 0.0, xt.clamp(-FLT_MAX, FLT_MAX)).contiguous()
        flat = int(torch.nonzero(bad.reshape(-1))[0, 0])        # row-major = the reference's (row, block, i) order
        r, c = divmod(flat, k)
        raise NonFiniteError(tensor, r, c // block, float(xt[r, c]))
    return xt


def _shape(x) -> tuple:
    return tuple(x.shape) if torch.is_tensor(x) else tuple(np.shape(x))


def _allowed_tensor(allowed, r: int, nb: int, d: int):
    """`allowed` (bool, broadcastable to (R, nb, D)) as a uint8 tensor expanded with zero strides (no copy)."""
    if allowed is None:
        return None
    a = np.asarray(allowed, dtype=bool)
    if a.ndim > 3:
        raise ShapeError(f"allowed must broadcast to (rows, blocks, D) = {(r, nb, d)}, got shape {a.shape}")
    a = a.reshape((1,) * (3 - a.ndim) + a.shape)
    try:
        np.broadcast_shapes(a.shape, (r, nb, d))
    except ValueError:
        raise ShapeError(f"allowed must broadcast to (rows, blocks, D) = {(r, nb, d)}, got shape {a.shape}") from None
    if not a.any(axis=-1).all():
        raise ValueError("`allowed` leaves some block with no dialect to choose from")
    return torch.as_tensor(a.astype(np.uint8), device=DEVICE).expand(r, nb, d)


# ---- quantize -------------------------------------------------------------------------------------------------
def quantize(x, fmt, selector=None, block=None, tensor="x", nonfinite="raise", allowed=None, **knobs) -> QTensor:
    """Block-quantize `x` with the kernels; same contract and result bits as the reference back end."""
    f = get_format(fmt)
    if isinstance(f, DialectFormat):
        return _quantize_dialect(x, f, selector, block, tensor, nonfinite, allowed, knobs)
    if isinstance(f, ScaledIntFormat):
        if selector not in (None, "nearest") or allowed is not None or knobs:
            raise QuantError(f"format {f.name} has fixed round-to-nearest-even encoding; it takes no selector "
                             f"or selector knobs (got selector={selector!r}, knobs={sorted(knobs)})")
        return _quantize_scaled(x, f, block, tensor, nonfinite)
    if isinstance(f, MXFloatFormat):
        if selector not in (None, "nearest") or allowed is not None or knobs:
            return f.quantize(x, selector=selector, block=block, tensor=tensor, allowed=allowed, **knobs)  # refuses
        return _quantize_mx(x, f, block, tensor, nonfinite)
    raise QuantError(f"triton back end: no kernel for format {getattr(f, 'name', f)!r} of type {type(f).__name__}; "
                     f"kernels cover DialectFormat, ScaledIntFormat and MXFloatFormat")


def _dialect_mode(f: DialectFormat, sel_name: str, allowed, knobs):
    """Kernel mode for (format, selector), or None when the selector runs on the host (documented above)."""
    book = f.book
    if sel_name == "exact_mse":
        return NEAREST if book.size == 1 else None
    if sel_name not in _KERNEL_MODES:
        raise QuantError(f"triton back end: no kernel for selector {sel_name!r}; kernel selectors: "
                         f"{sorted(_KERNEL_MODES)}, host-side: {list(HOST_SELECTORS)}")
    if sel_name == "two_stage":
        if allowed is not None:
            raise ValueError("two_stage does not support restricted (sub-formatbook) selection; use lut_argmin")
        mags = book.magnitudes
        if book.size % 2 or np.any(mags[0::2, 7] != mags[1::2, 7]):
            raise ValueError(f"two_stage needs a formatbook of dialect pairs sharing their maximum; "
                             f"{book.name} is not")
    return _KERNEL_MODES[sel_name]


def _quantize_dialect(x, f: DialectFormat, selector, block, tensor, nonfinite, allowed, knobs) -> QTensor:
    if f.fixed_selector and selector not in (None, f.default_selector):
        raise QuantError(f"format {f.name} fixes its rounding ({f.default_selector}); got selector {selector!r}")
    sel = get_selector(selector or f.default_selector)
    block = block or f.default_block
    mode = _dialect_mode(f, sel.name, allowed, knobs)
    if mode is None:   # offline weight selector on a multi-dialect book: the reference, on the host
        return f.quantize(x, selector=sel.name, block=block, backend="reference", tensor=tensor,
                          nonfinite=nonfinite, allowed=allowed, **knobs)
    if block % 2:
        raise ShapeError(f"triton back end: 4-bit codes pack two per byte within a block; block must be even, "
                         f"got {block}")
    shape = _shape(x)
    sharing = sharing_of(block, knobs, f"format {f.name}")
    xt = to_device_2d(x, block, tensor, nonfinite)
    nb = -(-xt.shape[1] // block)
    al = _allowed_tensor(allowed, xt.shape[0], nb, f.book.size)
    exps = None if sharing.trivial else shared_exponents_t(launch_block_exponents(xt, block)[0], sharing)
    codes, dial, exp, _ = launch_dialect_quantize(xt, f.book, block, mode, allowed=al if mode == LUT_ARGMIN else None,
                                               threshold=int(knobs.get("threshold", 1)), signed_zero=f.signed_zero,
                                               exponents=exps)
    return f.make_qtensor(shape, block, codes.cpu().numpy(), dial.cpu().numpy(), exp.cpu().numpy(), sel.name, knobs)


def shared_exponents_t(e_own: torch.Tensor, sharing) -> torch.Tensor:
    """quant.exponents.shared_exponents on the device: max(e_own, E - (2^b - 1)) with E the maximum of the own
    exponents over each block's span (or the whole tensor); int32 (R, nb), contiguous."""
    if sharing.trivial:
        return e_own
    rows, nb = e_own.shape
    if sharing.span_blocks == 0:
        top = e_own.max() if e_own.numel() else torch.tensor(MIN_EXP, dtype=e_own.dtype, device=e_own.device)
        ref = top.expand(rows, nb)
    else:
        g = sharing.span_blocks
        groups = -(-nb // g)
        padded = torch.full((rows, groups * g), MIN_EXP, dtype=e_own.dtype, device=e_own.device)
        padded[:, :nb] = e_own
        ref = padded.reshape(rows, groups, g).amax(dim=-1).repeat_interleave(g, dim=1)[:, :nb]
    return torch.maximum(e_own, ref - sharing.window).contiguous()


def _quantize_scaled(x, f: ScaledIntFormat, block, tensor, nonfinite) -> QTensor:
    shape = _shape(x)
    block = block or f.default_block or (shape[-1] if shape else 0)
    if f.element_bits == 4 and block % 2:
        raise ShapeError(f"triton back end: 4-bit codes pack two per byte within a block; block must be even, "
                         f"got {block}")
    xt = to_device_2d(x, block, tensor, nonfinite)
    f32 = np.float32
    g = f32(1.0)
    if f.tensor_scale_divisor is not None:   # the reference's float32 order: fl32(amax_tensor / divisor)
        amax = float(xt.abs().max()) if xt.numel() else 0.0     # torch's max() refuses an empty (0-row) input
        g = f32(f32(amax) / f32(f.tensor_scale_divisor))
        if g == 0:
            g = f32(1.0)
    codes, scale, _ = launch_scaled_quantize(xt, f, block, float(g))
    dial = np.zeros(scale.shape, dtype=np.uint8)
    return QTensor(f.name, shape, block, codes.cpu().numpy(), dial, scale=scale.cpu().numpy(), tensor_scale=float(g))


def _quantize_mx(x, f: MXFloatFormat, block, tensor, nonfinite) -> QTensor:
    block = block or f.default_block
    xt = to_device_2d(x, block, tensor, nonfinite)
    codes, exp, _ = launch_mx_quantize(xt, f, block)
    return f.make_qtensor(_shape(x), block, codes.cpu().numpy(), exp.cpu().numpy())


def select_encode(selector: str, xb, e, book, allowed=None, **knobs):
    """The select-and-encode step of quant's back-end protocol on blocks xb (R, nb, B) with exponents e (R, nb):
    returns (dialect (R, nb), unpacked codes (R, nb, B)).  Exponents other than the blocks' own (shared exponents,
    quant/exponents.py) are passed to the kernel; one below a block's own is an error (no kernel path makes it)."""
    from quant.registry import DialectFormat as _DF
    r, nb, blk = xb.shape
    f = _DF(book.name, book.name)
    sel = get_selector(selector or f.default_selector).name
    mode = _dialect_mode(f, sel, allowed, knobs)
    if mode is None:
        from quant.reference_backend import select_encode as host
        return host(sel, xb, e, book, allowed=allowed, **knobs)
    xt = to_device_2d(np.asarray(xb, np.float32).reshape(r, nb * blk), blk)
    own = launch_block_exponents(xt, blk)[0]
    e = torch.as_tensor(np.broadcast_to(np.asarray(e, np.int64), (r, nb)).astype(np.int32), device=DEVICE)
    if bool((e < own).any()):
        raise QuantError("triton select_encode: some given block exponent is below the block's own "
                         "(quant.blocks.block_exponent); shared exponents are never below it")
    al = _allowed_tensor(allowed, r, nb, book.size)
    codes, dial, _, _ = launch_dialect_quantize(xt, book, blk, mode, allowed=al if mode == LUT_ARGMIN else None,
                                                threshold=int(knobs.get("threshold", 1)),
                                                exponents=None if bool((e == own).all()) else e.contiguous())
    return dial.cpu().numpy().astype(np.int64), unpack_nibbles(codes.cpu().numpy()).reshape(r, nb, blk)


# ---- GEMM -----------------------------------------------------------------------------------------------------
def check_scale_overflow(qx: QTensor, qw: QTensor):
    """Raise like the reference when some block scale 2^(ex+ew+offset) exceeds 2^127 (first in (block, m, n)
    order; offset -2 for dialect formats, -18 for MX FP8), from per-block maxima instead of the reference's
    (nb, M, N) array."""
    ex, ew = qx.exponent.astype(np.int64), qw.exponent.astype(np.int64)
    off = exponent_offset(qx, qw)
    bad = ex.max(axis=0) + ew.max(axis=0) + off > OVERFLOW_ABOVE
    if not bad.any():
        return
    b = int(np.argmax(bad))
    m = int(np.argmax(ex[:, b] + ew[:, b].max() + off > OVERFLOW_ABOVE))
    n = int(np.argmax(ex[m, b] + ew[:, b] + off > OVERFLOW_ABOVE))
    s = int(ex[m, b] + ew[n, b] + off)
    raise QuantError(f"qgemm: block scale 2^{s} overflows float32 at row {m}, column {n}, "
                     f"block {b} (exponent sum above {OVERFLOW_ABOVE})")


def _post_scale(qa: QTensor, qw: QTensor) -> float:
    """Float-scaled formats: post = fl32(fl32(ga * gw) * (ua * uw)), the reference's order."""
    f32 = np.float32
    return float(f32(f32(f32(qa.tensor_scale) * f32(qw.tensor_scale)) * f32(qa.format.unit * qw.format.unit)))


def _checked(qa: QTensor, qw: QTensor) -> float:
    check_operands(qa, qw)
    if qa.format.scale_kind in EXPONENT_KINDS:
        check_scale_overflow(qa, qw)
        return 1.0
    return _post_scale(qa, qw)


def qgemm(qx: QTensor, qw: QTensor, bias=None, residual: QTensor | None = None, residual_rows=None,
          tile=None) -> np.ndarray:
    """Y = X W^T (+ residual rows) (+ bias), float32 (M, N), bit-identical to quant.gemm.qgemm_reference.
    tile: (BM, BN) output tile of one program (default 64x64 in the interpreter, 128x128 on a GPU)."""
    if qx.rows == 0 or qw.rows == 0:      # no program to launch: the shared epilogue gives the empty result
        return qgemm_with(None, qx, qw, bias, residual, residual_rows)
    post_x = _checked(qx, qw)
    res_map, post_r = None, 1.0
    if residual is not None:
        rows = residual_row_indices(residual, residual_rows, qx.rows)
        post_r = _checked(residual, qw)
        res_map = np.full(qx.rows, -1, dtype=np.int32)
        res_map[rows] = np.arange(len(rows), dtype=np.int32)
    b = bias_row(bias, qw.rows).reshape(-1) if bias is not None else None
    tile = tile or ((64, 64) if DEVICE == "cpu" else (128, 128))
    y, _ = launch_qgemm(qx, qw, DEVICE, post_x=post_x, residual=residual, res_map=res_map, post_r=post_r, bias=b,
                     tile=tile)
    return y.cpu().numpy()
