"""The "numba" back end: the CPU fast path, bit-identical to the NumPy reference (quant/reference_backend.py).

Entry points (the back-end protocol of quant/backends.py, plus two extras):
- `select_encode(selector, xb, e, book, allowed=None, **knobs)`: dialect ids and unpacked codes per block;
- `qgemm(qx, qw, bias=None, residual=None, residual_rows=None)`: Y = X W^T per the arithmetic contract;
- `quantize(x, fmt, ...)`: used by `quant.quantize(..., backend="numba")`; for dialect formats it fuses block
  exponent, selection, encoding and packing in one pass over x (other formats, non-finite input and odd sizes
  take the format's own path with this back end's `select_encode`);
- `quantize_dialect(x2d, block, book, selector, ...)`: the fused kernel's raw outputs (used by the benchmarks).

A selector registered later without a Numba kernel runs its reference implementation (identical by definition).
Kernels live in quant/fast_select.py and quant/fast_gemm.py; they compile on first use and are cached on disk.
"""
from __future__ import annotations

from functools import lru_cache

import weakref

import numpy as np
from numba import njit, prange

from . import fast_gemm, fast_select
from . import reference_backend
from .exponents import shared_exponents, sharing_of, split_knobs
from .formatbooks import Formatbook
from .gemm import OVERFLOW_ABOVE, exponent_offset, qgemm_with, scale_exponents
from .qtensor import QTensor, pack_nibbles
from .registry import EXPONENT_KINDS, POW2_WIDE, DialectFormat, MXFloatFormat
from .selectors import get_selector


# ---- quantize: selection and encoding ------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _tables(book: Formatbook):
    return fast_select.book_tables(book)


@lru_cache(maxsize=64)
def _lane_table(book: Formatbook, block: int):
    return fast_select.lane_table(book, block)


def _allowed_view(allowed, rows: int, n_blocks: int, size: int) -> np.ndarray:
    """`allowed` broadcast to (R, nb, D) bool (a view, no copy); all True when None."""
    if allowed is None:
        return np.broadcast_to(np.ones(1, dtype=bool), (rows, n_blocks, size))
    view = np.broadcast_to(np.asarray(allowed, dtype=bool), (rows, n_blocks, size))
    if not view.any(axis=-1).all():
        raise ValueError("`allowed` leaves some block with no dialect to choose from")
    return view


def _check_two_stage(book: Formatbook, allowed):
    if allowed is not None:
        raise ValueError("two_stage does not support restricted (sub-formatbook) selection; use lut_argmin")
    mags = book.magnitudes
    if book.size % 2 or np.any(mags[0::2, 7] != mags[1::2, 7]):
        raise ValueError(f"two_stage needs a formatbook of dialect pairs sharing their maximum; {book.name} is not")


def _run_select(name, x2d, k_valid, block, n_blocks, e_in, book, allowed, threshold, packed, signed_zero=False):
    """Validate like the reference selector, then run the kernel.  Returns (e, dialect, codes)."""
    rows = x2d.shape[0]
    if name == "two_stage":
        _check_two_stage(book, allowed)
    view = _allowed_view(allowed, rows, n_blocks, book.size)
    e_out = np.empty((rows, n_blocks), dtype=np.int64)
    dialect = np.empty((rows, n_blocks), dtype=np.int64)
    width = n_blocks * block // 2 if packed else n_blocks * block
    codes = np.zeros((rows, width), dtype=np.uint8)
    have_e = e_in is not None
    e_arg = e_in if have_e else np.zeros((1, 1), dtype=np.int64)
    fast_select.select_rows(fast_select.KERNEL_SELECTORS[name], x2d, k_valid, block, e_arg, have_e, _tables(book),
                            view, allowed is not None, _lane_table(book, block), float(threshold), e_out, dialect,
                            codes, packed, signed_zero)
    return e_out, dialect, codes


def select_encode(selector: str, xb, e, book, allowed=None, **knobs):
    """Same contract as quant.reference_backend.select_encode: (dialect int64 (R, nb), codes uint8 (R, nb, B))."""
    name = get_selector(selector).name
    if name not in fast_select.KERNEL_SELECTORS:
        return reference_backend.select_encode(selector, xb, e, book, allowed=allowed, **knobs)
    xb = np.ascontiguousarray(xb, dtype=np.float32)
    rows, n_blocks, block = xb.shape
    e = np.ascontiguousarray(np.broadcast_to(e, (rows, n_blocks)), dtype=np.int64)
    _, dialect, codes = _run_select(name, xb.reshape(rows, n_blocks * block), n_blocks * block, block, n_blocks,
                                    e, book, allowed, knobs.get("threshold", 1), packed=False)
    return dialect, codes.reshape(rows, n_blocks, block)


def quantize_dialect(x2d, block: int, book: Formatbook, selector: str = "lut_argmin", allowed=None,
                     signed_zero: bool = False, exponents=None, **knobs):
    """Fused path for finite float32 (R, K) input: returns (exponent int64 (R, nb), dialect int64 (R, nb),
    packed codes uint8 (R, nb*block/2)).  nb*block must be even (two codes per byte).  signed_zero: zero
    magnitudes keep x's sign bit (the format's `signed_zero`, MXFP4).  exponents: int64 (R, nb) block exponents
    to quantize with (shared exponents, quant/exponents.py) instead of each block's own."""
    x2d = np.ascontiguousarray(x2d, dtype=np.float32)
    rows, k = x2d.shape
    n_blocks = -(-k // block)
    if (n_blocks * block) % 2:
        raise ValueError(f"quantize_dialect packs two codes per byte: nb*block = {n_blocks * block} must be even")
    name = get_selector(selector).name
    e_in = None if exponents is None else np.ascontiguousarray(exponents, dtype=np.int64)
    return _run_select(name, x2d, k, block, n_blocks, e_in, book, allowed, knobs.get("threshold", 1), packed=True,
                       signed_zero=signed_zero)


@njit(cache=True, parallel=True)
def _all_finite(x2d):
    bad = 0
    for r in prange(x2d.shape[0]):
        for k in range(x2d.shape[1]):
            if not np.isfinite(x2d[r, k]):
                bad += 1
    return bad == 0


def quantize(x, f, selector=None, block=None, tensor="x", nonfinite="raise", allowed=None, **knobs) -> QTensor:
    """`quant.quantize(..., backend="numba")`: the fused kernel where it applies, else the format's own path."""
    plain = dict(selector=selector, block=block, backend="numba", tensor=tensor, nonfinite=nonfinite,
                 allowed=allowed, **knobs)
    if isinstance(f, MXFloatFormat):
        from .fast_mx import quantize_mx
        return quantize_mx(x, f, **plain)
    if not isinstance(f, DialectFormat) or (f.fixed_selector and selector not in (None, f.default_selector)):
        return f.quantize(x, **plain)                     # the format's path (and its error messages)
    sel = get_selector(selector or f.default_selector)
    block = block or f.default_block
    x = np.asarray(x)
    if (sel.name not in fast_select.KERNEL_SELECTORS or x.ndim < 1 or x.shape[-1] == 0 or block <= 0
            or not np.issubdtype(x.dtype, np.floating) or (-(-x.shape[-1] // block) * block) % 2):
        return f.quantize(x, **plain)
    x2d = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, x.shape[-1])
    if not _all_finite(x2d):
        return f.quantize(x, **plain)                     # raises naming the block, or saturates
    sel_knobs, _ = split_knobs(knobs)
    sharing = sharing_of(block, knobs, f"format {f.name}")
    e_in = None if sharing.trivial else shared_exponents(block_exponents(x2d, block), sharing)
    e, dialect, codes = quantize_dialect(x2d, block, f.book, sel.name, allowed=allowed, signed_zero=f.signed_zero,
                                         exponents=e_in, **sel_knobs)
    return f.make_qtensor(x.shape, block, codes, dialect, e, sel.name, knobs)


def block_exponents(x2d, block: int) -> np.ndarray:
    """Own exponent of every block of finite float32 (R, K), int64 (R, nb): the fused kernel's front end."""
    rows, k = x2d.shape
    e = np.empty((rows, -(-k // block)), dtype=np.int64)
    fast_select.block_exponents(x2d, k, block, e)
    return e


# ---- GEMM ------------------------------------------------------------------------------------------------------
@lru_cache(maxsize=64)
def _decode_table_cached(fmt: str, book_key: bytes) -> np.ndarray:
    """(D, 2^bits) int16 (int32 where the integers need it, MX FP8): the element integer of every (dialect, code),
    from the format's own decode_ints (MX FP8: its int_table, whose NaN codes qgemm refuses beforehand)."""
    from .registry import get_format
    f = get_format(fmt)
    if isinstance(f, MXFloatFormat):
        return f.int_table[None, :].astype(np.int32)
    n_codes = 1 << f.element_bits
    size = f.book.size if isinstance(f, DialectFormat) else 1
    codes = np.tile(np.arange(n_codes, dtype=np.uint8), (size, 1))
    probe = QTensor(fmt, (size, n_codes), n_codes, pack_nibbles(codes) if n_codes == 16 else codes,
                    np.arange(size, dtype=np.uint8)[:, None],
                    exponent=np.zeros((size, 1), np.int8) if f.scale_kind in EXPONENT_KINDS else None,
                    scale=None if f.scale_kind in EXPONENT_KINDS else np.ones((size, 1), np.float32))
    table = f.decode_ints(probe)
    if np.abs(table).max() > np.iinfo(np.int16).max:
        raise ValueError(f"format {fmt}: element integers exceed int16; the numba GEMM cannot hold them")
    return table.astype(np.int16)


def decode_table(qt: QTensor) -> np.ndarray:
    f = qt.format
    key = f.book.magnitudes.tobytes() if isinstance(f, DialectFormat) else b""
    return _decode_table_cached(qt.fmt, key)


_DECODED = weakref.WeakKeyDictionary()   # frozen QTensor -> {"ints": ..., "ints_t": ...}


def _frozen(qt: QTensor) -> bool:
    """True when every array of qt is read-only (e.g. quantized weights), so its decoded form can be cached."""
    return all(a is None or not a.flags.writeable for a in (qt.codes, qt.dialect, qt.exponent, qt.scale))


def _decoded(qt: QTensor, key: str, make):
    if not _frozen(qt):
        return make()
    entry = _DECODED.setdefault(qt, {})
    if key not in entry:
        entry[key] = make()
        entry[key].setflags(write=False)
    return entry[key]


def element_ints16(qt: QTensor) -> np.ndarray:
    """(R, nb*block) int16 element integers (int32 for MX FP8), equal to qt.element_ints() (decoded by a Numba
    kernel).  Cached for read-only QTensors (the weights of a quantized model), which cannot change under it."""
    def make():
        out = np.empty((qt.rows, qt.n_blocks * qt.block), dtype=decode_table(qt).dtype)
        fast_gemm.decode_rows(qt.codes, qt.dialect, decode_table(qt), qt.block, qt.format.element_bits == 4, out)
        return out
    return _decoded(qt, "ints", make)


def element_ints16_t(qt: QTensor) -> np.ndarray:
    """The transpose of element_ints16(qt), (nb*block, R) contiguous, decoded straight into that layout (cached
    like it)."""
    def make():
        out = np.empty((qt.n_blocks * qt.block, qt.rows), dtype=decode_table(qt).dtype)
        fast_gemm.decode_rows_t(qt.codes, qt.dialect, decode_table(qt), qt.block, qt.format.element_bits == 4, out)
        return out
    return _decoded(qt, "ints_t", make)


def partial_bound(qx: QTensor, qw: QTensor) -> int:
    """Upper bound on any block partial |P| (largest element magnitudes times the block size)."""
    return int(np.abs(decode_table(qx)).max()) * int(np.abs(decode_table(qw)).max()) * qx.block


def partial_dtype(qx: QTensor, qw: QTensor):
    """Narrowest integer type whose range holds every final block partial (so wrapping sums stay exact)."""
    bound = partial_bound(qx, qw)
    for dt in (np.int16, np.int32):
        if bound <= np.iinfo(dt).max:
            return dt
    return np.int64


def accumulate(qx: QTensor, qw: QTensor) -> np.ndarray:
    """Steps 1-4 of the contract (same as quant.gemm.accumulate): float32 (M, N).

    The kernel vectorizes along its output columns, so when W has few rows (N below fast_gemm.NARROW_N) and X has
    more, it computes Y^T = W X^T instead (stored straight into Y's layout); every step of the contract is
    symmetric in X and W except the order of the two float-scale multiplications, which the kernel keeps
    (row_first)."""
    swap = qw.rows < fast_gemm.NARROW_N and qx.rows > qw.rows
    a, c = (qw, qx) if swap else (qx, qw)
    va = element_ints16(a)
    ct = element_ints16_t(c)
    p_like = np.zeros(0, dtype=partial_dtype(qx, qw))
    out = np.empty((qx.rows, qw.rows), dtype=np.float32)   # the kernels store Y^T's tiles transposed
    if qx.format.scale_kind in EXPONENT_KINDS:
        ex, ew = qx.exponent.astype(np.int64), qw.exponent.astype(np.int64)
        off = exponent_offset(qx, qw)
        if len(ex) and len(ew) and (ex.max(axis=0) + ew.max(axis=0) + off > OVERFLOW_ABOVE).any():
            scale_exponents(qx, qw)                       # raises the reference's error (names row, column, block)
        ea, ec = (ew, ex) if swap else (ex, ew)
        if qx.format.scale_kind == POW2_WIDE:
            fast_gemm.gemm_pow2_wide(va, ct, qx.block, ea, np.ascontiguousarray(ec.T), off, p_like, out, swap)
            return out
        ex_hi = 127 - partial_bound(qx, qw).bit_length()   # |fl32(P)| * 2^e_row stays finite up to here
        fast_gemm.gemm_pow2(va, ct, qx.block, ea, np.ascontiguousarray(ec.T), ex_hi, p_like, out, swap)
    else:
        f32 = np.float32
        post = f32(f32(f32(qx.tensor_scale) * f32(qw.tensor_scale)) * f32(qx.format.unit * qw.format.unit))
        fast_gemm.gemm_float(va, ct, qx.block, np.ascontiguousarray(a.scale, dtype=f32),
                             np.ascontiguousarray(c.scale.T, dtype=f32), post, not swap, p_like, out)
    return out


def qgemm(qx: QTensor, qw: QTensor, bias=None, residual: QTensor | None = None, residual_rows=None) -> np.ndarray:
    """Y = X W^T (+ residual rows) (+ bias), float32 (M, N), bit-identical to quant.gemm.qgemm_reference."""
    return qgemm_with(accumulate, qx, qw, bias, residual, residual_rows)
