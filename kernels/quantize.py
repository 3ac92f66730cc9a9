"""Quantize kernels: dialect formats (LUT argmin, two-stage, single-dialect nearest = MXFP4) and float-scaled
integer formats (NVFP4, INT4 per group, INT8 per row), each beside its launcher.

Every kernel program handles BR rows x one block of one 2-D float32 tensor (R, K); lanes beyond K read 0, which
is exactly the reference's zero padding.  4-bit codes are produced as even/odd element pairs so that one byte
holds element 2j in its low nibble and 2j+1 in its high nibble (docs/formats.md#qtensor).
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from ._env import require_triton

require_triton()
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

from ._launch import KernelCall  # noqa: E402
from ._bits import block_exponent, round_half_even, round_half_up, round_small_float, scale_pow2  # noqa: E402

# selection modes of the dialect kernel (internal ids; public selector names live in quant.selectors)
LUT_ARGMIN, TWO_STAGE, NEAREST = 0, 1, 2
# the same ids as constexpr globals: the only globals a compiled kernel may read
_K_LUT_ARGMIN, _K_NEAREST = tl.constexpr(LUT_ARGMIN), tl.constexpr(NEAREST)
_INT32_MAX = tl.constexpr(2147483647)
_E4M3, _FP16 = 1, 2   # block-scale roundings of the float-scaled kernel (0: keep float32)


# ---- dialect formats ----------------------------------------------------------------------------------------
@triton.jit
def _lut_argmin(qe, qo, rows, rmask, b, ERR, D, ALLOWED, s_ar, s_ab, s_ad, HAS_ALLOWED: tl.constexpr):
    """d* = argmin_d sum ERR[d][q] over the block (strict <: ties to the lowest d); disallowed d cost INT32_MAX."""
    best = tl.full(rows.shape, _INT32_MAX, tl.int32)
    best_d = tl.zeros(rows.shape, tl.int32)
    for d in range(D):
        cost = tl.sum(tl.load(ERR + d * 32 + qe), axis=1) + tl.sum(tl.load(ERR + d * 32 + qo), axis=1)
        if HAS_ALLOWED:
            ok = tl.load(ALLOWED + rows.to(tl.int64) * s_ar + b * s_ab + d * s_ad, mask=rmask, other=1)
            cost = tl.where(ok != 0, cost, _INT32_MAX)
        better = cost < best
        best = tl.where(better, cost, best)
        best_d = tl.where(better, d, best_d)
    return best_d


@triton.jit
def _two_stage(qe, qo, MAGS, D, pair_min, pair_max, threshold):
    """BlockDialect's two-stage choice (quant.selectors.select_two_stage) on dialect pairs (2p, 2p+1)."""
    qmax = tl.maximum(tl.max(qe, axis=1), tl.max(qo, axis=1))
    mh = tl.minimum(tl.maximum((qmax + 1) >> 1, pair_min), pair_max)   # block max on the half-unit grid
    best = tl.full(mh.shape, _INT32_MAX, tl.int32)
    pair = tl.zeros(mh.shape, tl.int32)
    for p in range(D // 2):
        dist = tl.abs(tl.load(MAGS + 2 * p * 8 + 7) - mh)
        better = dist < best
        best = tl.where(better, dist, best)
        pair = tl.where(better, p, pair)
    a6 = tl.load(MAGS + 2 * pair * 8 + 6)
    lo = (a6 + tl.load(MAGS + (2 * pair + 1) * 8 + 6))[:, None]      # beneficial range in quarter-units
    hi = (a6 + tl.load(MAGS + 2 * pair * 8 + 7))[:, None]
    count = tl.sum(((qe >= lo) & (qe < hi)).to(tl.int32), axis=1) + tl.sum(((qo >= lo) & (qo < hi)).to(tl.int32),
                                                                           axis=1)
    return 2 * pair + (count < threshold).to(tl.int32)


@triton.jit
def _nearest_index(t, MAGS):
    """Index of the level of dialect 0 nearest to t (half-units, float32), ties to the even index: count the
    midpoints below t (2t against the integer sum of neighbours, exact).  Saturates at index 7."""
    t2 = 2.0 * t
    idx = tl.zeros(t.shape, tl.int32)
    for j in tl.static_range(7):
        mid2 = (tl.load(MAGS + j) + tl.load(MAGS + j + 1)).to(tl.float32)
        if j % 2 == 1:
            idx += (t2 >= mid2).to(tl.int32)     # a tie moves up to the even index j + 1
        else:
            idx += (t2 > mid2).to(tl.int32)
    return idx


@triton.jit
def sign_code(x, idx, SIGNED_ZERO: tl.constexpr):
    """The sign bit (8 or 0) of an element with unsigned index idx: x's sign bit (-0.0 included) when
    SIGNED_ZERO (MXFP4), else only on a non-zero index (canonical zero)."""
    if SIGNED_ZERO:
        neg = x.to(tl.int32, bitcast=True) < 0
    else:
        neg = (x < 0) & (idx != 0)
    return neg.to(tl.int32) << 3


@triton.jit
def select_encode_block(xe, xo, rows, rmask, b, IDX, ERR, MAGS, D, ALLOWED, s_ar, s_ab, s_ad, pair_min, pair_max,
                        threshold, e_in, MODE: tl.constexpr, HAS_ALLOWED: tl.constexpr, SIGNED_ZERO: tl.constexpr,
                        HAS_EXP: tl.constexpr):
    """One block per row from its even and odd elements (BR, HALF): returns (dialect, exponent, packed bytes,
    unsigned indices even/odd).  All-zero blocks give dialect 0, exponent -127 (or e_in's), codes 0 (-0 codes for
    -0.0 elements when SIGNED_ZERO).  HAS_EXP: quantize with the exponents e_in (BR,), shared exponents that are
    never below the block's own (quant/exponents.py), instead of the block's own."""
    ae = tl.abs(xe)
    ao = tl.abs(xo)
    amax = tl.maximum(tl.max(ae, axis=1), tl.max(ao, axis=1))
    if HAS_EXP:
        e = e_in
    else:
        e = block_exponent(amax)
    if MODE == _K_NEAREST:
        ie = _nearest_index(scale_pow2(ae, 1 - e[:, None]), MAGS)
        io = _nearest_index(scale_pow2(ao, 1 - e[:, None]), MAGS)
        dial = tl.zeros(e.shape, tl.int32)
    else:
        qe = tl.minimum(round_half_up(scale_pow2(ae, 2 - e[:, None])), 31)   # the 5-bit intermediate
        qo = tl.minimum(round_half_up(scale_pow2(ao, 2 - e[:, None])), 31)
        if MODE == _K_LUT_ARGMIN:
            dial = _lut_argmin(qe, qo, rows, rmask, b, ERR, D, ALLOWED, s_ar, s_ab, s_ad, HAS_ALLOWED)
        else:
            dial = _two_stage(qe, qo, MAGS, D, pair_min, pair_max, threshold)
        ie = tl.load(IDX + dial[:, None] * 32 + qe)
        io = tl.load(IDX + dial[:, None] * 32 + qo)
    dial = tl.where(amax > 0, dial, 0)
    ce = sign_code(xe, ie, SIGNED_ZERO) | ie
    co = sign_code(xo, io, SIGNED_ZERO) | io
    return dial, e, ce | (co << 4), ie, io


@triton.jit
def dialect_quantize_kernel(X, stride_x, R, K, NB, CODES, DIAL, EXP, IDX, ERR, MAGS, D, ALLOWED, s_ar, s_ab, s_ad,
                            pair_min, pair_max, threshold, EXP_IN, BLOCK: tl.constexpr, HALF: tl.constexpr,
                            BR: tl.constexpr, MODE: tl.constexpr, HAS_ALLOWED: tl.constexpr,
                            SIGNED_ZERO: tl.constexpr, HAS_EXP: tl.constexpr):
    b = tl.program_id(1)
    rows = tl.program_id(0) * BR + tl.arange(0, BR)
    rmask = rows < R
    r64 = rows.to(tl.int64)
    j = tl.arange(0, HALF)
    lane = j < BLOCK // 2
    col = b * BLOCK + 2 * j
    base = X + r64[:, None] * stride_x
    m = rmask[:, None] & lane[None, :]
    xe = tl.load(base + col[None, :], mask=m & (col < K)[None, :], other=0.0)
    xo = tl.load(base + col[None, :] + 1, mask=m & (col + 1 < K)[None, :], other=0.0)
    e_in = tl.load(EXP_IN + r64 * NB + b, mask=rmask & HAS_EXP, other=0)
    dial, e, byte, _ie, _io = select_encode_block(xe, xo, rows, rmask, b, IDX, ERR, MAGS, D, ALLOWED, s_ar, s_ab,
                                                  s_ad, pair_min, pair_max, threshold, e_in, MODE, HAS_ALLOWED,
                                                  SIGNED_ZERO, HAS_EXP)
    tl.store(CODES + r64[:, None] * (NB * (BLOCK // 2)) + (b * (BLOCK // 2) + j)[None, :], byte.to(tl.uint8),
             mask=m)
    tl.store(DIAL + r64 * NB + b, dial.to(tl.uint8), mask=rmask)
    tl.store(EXP + r64 * NB + b, e.to(tl.int8), mask=rmask)


@functools.lru_cache(maxsize=32)
def book_tables(book, device: str):
    """(IDX, ERR, MAGS) of a formatbook as flat int32 tensors on `device`: the LUT unit's ROMs."""
    idx, err = book.lut()
    as_t = lambda a: torch.tensor(np.ascontiguousarray(a, dtype=np.int32).reshape(-1), device=device)
    return as_t(idx), as_t(err), as_t(book.magnitudes)


def half_lanes(block: int) -> int:
    return triton.next_power_of_2(max(block // 2, 1))


@triton.jit
def block_exponent_kernel(X, stride_x, R, K, NB, EXP, BLOCK: tl.constexpr, HALF: tl.constexpr, BR: tl.constexpr):
    """Own exponent of every block (the first pass of shared exponents, quant/exponents.py), int32 (R, nb)."""
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
    amax = tl.maximum(tl.max(tl.abs(xe), axis=1), tl.max(tl.abs(xo), axis=1))
    tl.store(EXP + r64 * NB + b, block_exponent(amax), mask=rmask)


def launch_block_exponents(xt, block: int, rows_per_program=64, run=True):
    """Own block exponents of a 2-D float32 tensor: (int32 (R, nb) on xt's device, the KernelCall)."""
    r, k = xt.shape
    nb = -(-k // block)
    exp = torch.empty((r, nb), dtype=torch.int32, device=xt.device)
    call = KernelCall(block_exponent_kernel, (triton.cdiv(r, rows_per_program), nb), (xt, xt.stride(0), r, k, nb, exp),
                      dict(BLOCK=block, HALF=half_lanes(block), BR=rows_per_program))
    if run and r:
        call.run()
    return exp, call


def launch_dialect_quantize(xt, book, block: int, mode: int, allowed=None, threshold: int = 1, rows_per_program=64,
                            run=True, signed_zero: bool = False, exponents=None):
    """Run the dialect kernel on a 2-D float32 tensor: returns (codes uint8 (R, nb*block/2), dialect uint8 (R, nb),
    exponent int8 (R, nb)) on xt's device, and the KernelCall.  `allowed`: uint8 tensor expanded (strides may be
    0) to (R, nb, D).  signed_zero: the format's (MXFP4 keeps the sign bit on zero magnitudes).  exponents: int32
    (R, nb) contiguous on the device, the exponents to quantize with (shared exponents, never below each block's
    own) instead of the blocks' own.  run=False only plans the launch (ahead-of-time compilation)."""
    r, k = xt.shape
    nb = -(-k // block)
    dev = xt.device
    codes = torch.empty((r, nb * block // 2), dtype=torch.uint8, device=dev)
    dial = torch.empty((r, nb), dtype=torch.uint8, device=dev)
    exp = torch.empty((r, nb), dtype=torch.int8, device=dev)
    idx, err, mags = book_tables(book, str(dev))
    mx = book.magnitudes[0::2, 7] if book.size >= 2 else np.array([0])
    al = allowed if allowed is not None else dial                    # any valid pointer when unused
    strides = allowed.stride() if allowed is not None else (0, 0, 0)
    e_in = exponents if exponents is not None else exp                # any valid pointer when unused
    call = KernelCall(dialect_quantize_kernel, (triton.cdiv(r, rows_per_program), nb),
                      (xt, xt.stride(0), r, k, nb, codes, dial, exp, idx, err, mags, book.size, al, *strides,
                       int(mx.min()), int(mx.max()), int(threshold), e_in),
                      dict(BLOCK=block, HALF=half_lanes(block), BR=rows_per_program, MODE=mode,
                           HAS_ALLOWED=allowed is not None, SIGNED_ZERO=bool(signed_zero),
                           HAS_EXP=exponents is not None))
    if run:
        call.run()
    return codes, dial, exp, call


# ---- float-scaled integer formats (NVFP4, INT4 per group, INT8 per row) --------------------------------------
@triton.jit
def _encode_scaled(x, safe, recip, use_recip, valid, ELEM_INT: tl.constexpr, QMAX: tl.constexpr, BITS: tl.constexpr,
                   SIGNED_ZERO: tl.constexpr):
    """Element codes of y = x * recip where use_recip, else x / safe (IEEE division): E2M1 nearest with ties to
    the even code and saturation at 6 (the sign bit kept on zero when SIGNED_ZERO), or a symmetric integer
    rounded half to even and clipped to +-QMAX, as BITS-bit two's complement."""
    y = tl.where(use_recip, x * recip, tl.math.div_rn(x, safe))
    a = tl.abs(y)
    if ELEM_INT:
        v = tl.minimum(round_half_even(tl.minimum(a, QMAX + 1.0)), QMAX)
        code = tl.where(y < 0, -v, v) & ((1 << BITS) - 1)
    else:
        a4 = 4.0 * a              # quarter-units against sums of neighbouring half-unit levels 0,1,2,3,4,6,8,12
        code = ((a4 > 1.0).to(tl.int32) + (a4 >= 3.0).to(tl.int32) + (a4 > 5.0).to(tl.int32)
                + (a4 >= 7.0).to(tl.int32) + (a4 > 10.0).to(tl.int32) + (a4 >= 14.0).to(tl.int32)
                + (a4 > 20.0).to(tl.int32))
        code = code | sign_code(y, code, SIGNED_ZERO)
        # a block whose scale product underflows encodes zeros: signed ones (x's sign bit) when SIGNED_ZERO
        return tl.where(valid, code, sign_code(x, 0, SIGNED_ZERO))
    return tl.where(valid, code, 0)


@triton.jit
def scaled_quantize_kernel(X, stride_x, R, K, NB, CODES, SCALE, g, inv_g, BLOCK: tl.constexpr, CH: tl.constexpr,
                           BR: tl.constexpr, ELEM_MAX: tl.constexpr, ELEM_INT: tl.constexpr, QMAX: tl.constexpr,
                           BITS: tl.constexpr, SCALE_FMT: tl.constexpr, HAS_G: tl.constexpr,
                           SCALE_FLOOR: tl.constexpr, RECIP: tl.constexpr, SIGNED_ZERO: tl.constexpr):
    """Pass 1 over the block's chunks finds amax; the block scale is computed in quant's float32 order
    (ScaledIntFormat.block_scales, floor SCALE_FLOOR when > 0); pass 2 encodes, with RECIP by the factor
    fl32(inv_g / s) where it is finite (ScaledIntFormat.scaled_elements; inv_g = fl32(1 / g) from the host).
    Codes: 4-bit packed pairs (BITS=4) or one byte per element (BITS=8)."""
    b = tl.program_id(1)
    rows = tl.program_id(0) * BR + tl.arange(0, BR)
    rmask = rows < R
    r64 = rows.to(tl.int64)
    base = X + r64[:, None] * stride_x
    c = tl.arange(0, CH)
    amax = tl.zeros((BR,), tl.float32)
    for c0 in range(0, BLOCK, CH):
        col = b * BLOCK + c0 + c
        m = rmask[:, None] & ((c0 + c < BLOCK) & (col < K))[None, :]
        amax = tl.maximum(amax, tl.max(tl.abs(tl.load(base + col[None, :], mask=m, other=0.0)), axis=1))
    s = tl.math.div_rn(amax, ELEM_MAX)
    if HAS_G:
        s = tl.math.div_rn(s, g)
    if SCALE_FLOOR > 0:
        s = tl.maximum(s, SCALE_FLOOR)
    if SCALE_FMT == 1:
        s = round_small_float(s, 3, -6, 448.0)
    elif SCALE_FMT == 2:
        s = round_small_float(s, 10, -14, 65504.0)
    else:  # FP32 scale: one ulp down where ELEM_MAX * s overflows (as the reference)
        s = tl.where(s * ELEM_MAX == float("inf"), (s.to(tl.int32, bitcast=True) - 1).to(tl.float32, bitcast=True), s)
    denom = s * g
    valid = denom > 0
    safe = tl.where(denom > 0, denom, 1.0)[:, None]
    use_recip = tl.zeros((BR,), tl.int1)
    recip = tl.zeros((BR,), tl.float32)
    if RECIP:
        r = tl.math.div_rn(tl.zeros((BR,), tl.float32) + inv_g, s)
        use_recip = r < float("inf")                          # finite (r > 0 here)
        recip = tl.where(use_recip, r, 0.0)
        valid = valid | use_recip
    tl.store(SCALE + r64 * NB + b, s, mask=rmask)
    _encode_pass(base, CODES, r64, rmask, b, K, NB, safe, recip[:, None], use_recip[:, None], valid[:, None], BLOCK,
                 CH, ELEM_INT, QMAX, BITS, SIGNED_ZERO)


@triton.jit
def _encode_pass(base, CODES, r64, rmask, b, K, NB, safe, recip, use_recip, valid, BLOCK: tl.constexpr,
                 CH: tl.constexpr, ELEM_INT: tl.constexpr, QMAX: tl.constexpr, BITS: tl.constexpr,
                 SIGNED_ZERO: tl.constexpr):
    """Encode one block chunk by chunk: 4-bit codes as packed even/odd pairs, 8-bit codes one byte each."""
    if BITS == 4:
        j = tl.arange(0, CH // 2)
        for c0 in range(0, BLOCK, CH):
            col = b * BLOCK + c0 + 2 * j
            m = rmask[:, None] & ((c0 + 2 * j) < BLOCK)[None, :]
            xe = tl.load(base + col[None, :], mask=m & (col < K)[None, :], other=0.0)
            xo = tl.load(base + col[None, :] + 1, mask=m & (col + 1 < K)[None, :], other=0.0)
            byte = (_encode_scaled(xe, safe, recip, use_recip, valid, ELEM_INT, QMAX, 4, SIGNED_ZERO)
                    | (_encode_scaled(xo, safe, recip, use_recip, valid, ELEM_INT, QMAX, 4, SIGNED_ZERO) << 4))
            tl.store(CODES + r64[:, None] * (NB * (BLOCK // 2)) + ((b * BLOCK + c0) // 2 + j)[None, :],
                     byte.to(tl.uint8), mask=m)
    else:
        c = tl.arange(0, CH)
        for c0 in range(0, BLOCK, CH):
            col = b * BLOCK + c0 + c
            m = rmask[:, None] & (c0 + c < BLOCK)[None, :]
            x = tl.load(base + col[None, :], mask=m & (col < K)[None, :], other=0.0)
            code = _encode_scaled(x, safe, recip, use_recip, valid, ELEM_INT, QMAX, 8, SIGNED_ZERO)
            tl.store(CODES + r64[:, None] * (NB * BLOCK) + col[None, :], code.to(tl.uint8), mask=m)


def _scale_rounding(fmt) -> int:
    if fmt.scale_format is None:
        return 0
    known = {"fp8_e4m3": _E4M3, "fp16": _FP16}
    if fmt.scale_format.name not in known:
        raise NotImplementedError(f"triton back end: no kernel rounding for block-scale format "
                                  f"{fmt.scale_format.name!r} of {fmt.name}; kernels exist for {sorted(known)}")
    return known[fmt.scale_format.name]


def launch_scaled_quantize(xt, fmt, block: int, g: float, rows_per_program=32, run=True):
    """Run the float-scaled kernel: returns (codes uint8, scale float32 (R, nb)) on xt's device, and the
    KernelCall.  `g` is the tensor scale (a float32 value; 1.0 for formats without one); its float32 reciprocal
    is computed here, once, as the reference computes it."""
    from quant.formats import IntElementFormat
    r, k = xt.shape
    nb = -(-k // block)
    bits = fmt.element_bits
    dev = xt.device
    codes = torch.empty((r, nb * block * bits // 8), dtype=torch.uint8, device=dev)
    scale = torch.empty((r, nb), dtype=torch.float32, device=dev)
    is_int = isinstance(fmt.element, IntElementFormat)
    with np.errstate(divide="ignore", over="ignore"):
        inv_g = float(np.float32(1.0) / np.float32(g))              # fl32(1 / g); inf when it overflows
    call = KernelCall(scaled_quantize_kernel, (triton.cdiv(r, rows_per_program), nb),
                      (xt, xt.stride(0), r, k, nb, codes, scale, float(g), inv_g),
                      dict(BLOCK=block, CH=min(triton.next_power_of_2(max(block, 2)), 64), BR=rows_per_program,
                           ELEM_MAX=float(fmt.element_max), ELEM_INT=is_int,
                           QMAX=int(fmt.element.qmax) if is_int else 0, BITS=bits, SCALE_FMT=_scale_rounding(fmt),
                           HAS_G=fmt.tensor_scale_divisor is not None, SCALE_FLOOR=float(fmt.scale_floor or 0.0),
                           RECIP=bool(fmt.reciprocal_scale), SIGNED_ZERO=bool(fmt.signed_zero)))
    if run:
        call.run()
    return codes, scale, call
