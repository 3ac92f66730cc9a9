"""The quantized GEMM kernel Y = X W^T per the arithmetic contract (quant/gemm.py docstring), and its launcher.

Per output tile and per block b in ascending order: decode both operands' codes through their decode tables
(dialect LUT: signed half-units; E2M1 half-units; INT4 two's complement; INT8 bytes as int8), take the exact
integer block partial P with `tl.dot` on int8 (accumulating in int32), scale it exactly (power-of-two formats:
float32(P) * 2^(ex+ew-2), built from bits, +0.0 below 2^-126; float-scaled formats: fl32(fl32(P*sx)*sw)), and add
it to a float32 accumulator.  MX FP8 operands (WIDE: element integers v = E4M3 value * 2^9, up to 18 bits) split
each v into three signed 7-bit pieces, v = h * 2^14 + m * 2^7 + l, so the exact int64 partial is the sum of the
nine int8 `tl.dot`s (int32 each) shifted by 7 * (i + j); it is scaled as fl32(float64(P) * 2^(ex+ew-18)), exact in
float64 and rounded once to float32.  An optional second accumulator handles decomposition's residual rows; the bias
comes last.  Every float operation is a separate IEEE round-to-nearest step (kernels launch with
enable_fp_fusion=False), which is why the result equals quant.gemm.qgemm_reference bit for bit.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from ._env import require_triton

require_triton()
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

from ._bits import pow2, pow2_f64  # noqa: E402
from ._launch import KernelCall  # noqa: E402

MIN_DOT_K = 32    # elements per tl.dot: NVIDIA's int8 MMA needs K >= 32 (the interpreter would take less)


@triton.jit
def _operand(C, row_off, rmask, dial, DEC, b, c0, BLOCK: tl.constexpr, CK: tl.constexpr, PACKED: tl.constexpr,
             ROWS: tl.constexpr):
    """Element integers (ROWS, CK) int8 of elements [c0, c0+CK) of block b; lanes past the block read code 0,
    which decodes to 0 in every table."""
    if PACKED:
        cb = tl.arange(0, CK // 2)
        m = rmask[:, None] & ((c0 // 2 + cb) < BLOCK // 2)[None, :]
        raw = tl.load(C + row_off[:, None] + (b * (BLOCK // 2) + c0 // 2 + cb)[None, :], mask=m, other=0)
        raw = raw.to(tl.int32)
        table = DEC + dial[:, None] * 16
        lo = tl.load(table + (raw & 15))
        hi = tl.load(table + (raw >> 4))
        vals = tl.reshape(tl.join(lo, hi), (ROWS, CK))       # element 2j, 2j+1 side by side: original order
    else:
        cb = tl.arange(0, CK)
        m = rmask[:, None] & ((c0 + cb) < BLOCK)[None, :]
        vals = tl.load(C + row_off[:, None] + (b * BLOCK + c0 + cb)[None, :], mask=m, other=0)
    return vals


@triton.jit
def _accumulate(XC, x_cs, XD, XE, XS, DECX, xrows, xmask, WC, w_cs, WD, WE, WS, DECW, wrows, wmask, NB,
                BLOCK: tl.constexpr, CK: tl.constexpr, PACKED_X: tl.constexpr, PACKED_W: tl.constexpr,
                POW2: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr):
    """Steps 1-4 of the contract for one (BM, BN) tile: float32 accumulator over blocks in ascending order."""
    xr = xrows.to(tl.int64)
    wr = wrows.to(tl.int64)
    acc = tl.zeros((BM, BN), tl.float32)
    for b in range(NB):
        dx = tl.load(XD + xr * NB + b, mask=xmask, other=0).to(tl.int32)
        dw = tl.load(WD + wr * NB + b, mask=wmask, other=0).to(tl.int32)
        p = tl.zeros((BM, BN), tl.int32)
        for c0 in range(0, BLOCK, CK):
            vx = _operand(XC, xr * x_cs, xmask, dx, DECX, b, c0, BLOCK, CK, PACKED_X, BM)
            vw = _operand(WC, wr * w_cs, wmask, dw, DECW, b, c0, BLOCK, CK, PACKED_W, BN)
            p += tl.dot(vx, tl.trans(vw))                      # exact: int8 x int8 summed in int32
        pf = p.to(tl.float32)                                 # exact for |P| < 2^24; otherwise RNE like numpy
        if POW2:
            ex = tl.load(XE + xr * NB + b, mask=xmask, other=0).to(tl.int32)
            ew = tl.load(WE + wr * NB + b, mask=wmask, other=0).to(tl.int32)
            s = ex[:, None] + ew[None, :] - 2
            sc = tl.where(s < -126, 0.0, pf * pow2(tl.maximum(s, -126)))
        else:
            sx = tl.load(XS + xr * NB + b, mask=xmask, other=0.0)
            sw = tl.load(WS + wr * NB + b, mask=wmask, other=0.0)
            sc = (pf * sx[:, None]) * sw[None, :]
        acc = acc + sc
    return acc


@triton.jit
def _wide_pieces(C, row_off, rmask, DEC, b, c0, BLOCK: tl.constexpr, CK: tl.constexpr):
    """Element integers of elements [c0, c0+CK) of block b (one byte code each, decoded by the int32 table DEC),
    as three int8 pieces (low, middle, high 7 bits of |v|, each carrying v's sign); lanes past the block give 0."""
    cb = tl.arange(0, CK)
    m = rmask[:, None] & ((c0 + cb) < BLOCK)[None, :]
    raw = tl.load(C + row_off[:, None] + (b * BLOCK + c0 + cb)[None, :], mask=m, other=0).to(tl.int32) & 255
    v = tl.load(DEC + raw)
    a = tl.abs(v)
    neg = v < 0
    lo = tl.where(neg, -(a & 127), a & 127).to(tl.int8)
    mid = tl.where(neg, -((a >> 7) & 127), (a >> 7) & 127).to(tl.int8)
    hi = tl.where(neg, -(a >> 14), a >> 14).to(tl.int8)
    return lo, mid, hi


@triton.jit
def _accumulate_wide(XC, x_cs, XE, DECX, xrows, xmask, WC, w_cs, WE, DECW, wrows, wmask, NB, OFFSET,
                     BLOCK: tl.constexpr, CK: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr):
    """Steps 1-4 of the contract for MX FP8 operands (one (BM, BN) tile): the exact int64 block partial from nine
    int8 dots grouped by shift (t_s sums the dots of pieces i + j = s, |t_s| <= 3 * CK * 127^2 per chunk), then
    S = fl32(float64(P) * 2^(ex + ew + OFFSET)) added in ascending block order."""
    xr = xrows.to(tl.int64)
    wr = wrows.to(tl.int64)
    acc = tl.zeros((BM, BN), tl.float32)
    for b in range(NB):
        t0 = tl.zeros((BM, BN), tl.int32)
        t1 = tl.zeros((BM, BN), tl.int32)
        t2 = tl.zeros((BM, BN), tl.int32)
        t3 = tl.zeros((BM, BN), tl.int32)
        t4 = tl.zeros((BM, BN), tl.int32)
        for c0 in range(0, BLOCK, CK):
            xl, xm, xh = _wide_pieces(XC, xr * x_cs, xmask, DECX, b, c0, BLOCK, CK)
            wl, wm, wh = _wide_pieces(WC, wr * w_cs, wmask, DECW, b, c0, BLOCK, CK)
            wl, wm, wh = tl.trans(wl), tl.trans(wm), tl.trans(wh)
            t0 += tl.dot(xl, wl)
            t1 += tl.dot(xl, wm) + tl.dot(xm, wl)
            t2 += tl.dot(xl, wh) + tl.dot(xm, wm) + tl.dot(xh, wl)
            t3 += tl.dot(xm, wh) + tl.dot(xh, wm)
            t4 += tl.dot(xh, wh)
        p = (t0.to(tl.int64) + (t1.to(tl.int64) << 7) + (t2.to(tl.int64) << 14) + (t3.to(tl.int64) << 21)
             + (t4.to(tl.int64) << 28))                     # exact: |P| < 2^41
        ex = tl.load(XE + xr * NB + b, mask=xmask, other=0).to(tl.int32)
        ew = tl.load(WE + wr * NB + b, mask=wmask, other=0).to(tl.int32)
        s = ex[:, None] + ew[None, :] + OFFSET               # >= -272: 2^s is a normal float64
        acc = acc + (p.to(tl.float64) * pow2_f64(s)).to(tl.float32)
    return acc


@triton.jit
def _accumulate_any(XC, x_cs, XD, XE, XS, DECX, xrows, xmask, WC, w_cs, WD, WE, WS, DECW, wrows, wmask, NB,
                    OFFSET, BLOCK: tl.constexpr, CK: tl.constexpr, PACKED_X: tl.constexpr, PACKED_W: tl.constexpr,
                    POW2: tl.constexpr, WIDE: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr):
    if WIDE:
        acc = _accumulate_wide(XC, x_cs, XE, DECX, xrows, xmask, WC, w_cs, WE, DECW, wrows, wmask, NB, OFFSET,
                               BLOCK, CK, BM, BN)
    else:
        acc = _accumulate(XC, x_cs, XD, XE, XS, DECX, xrows, xmask, WC, w_cs, WD, WE, WS, DECW, wrows, wmask, NB,
                          BLOCK, CK, PACKED_X, PACKED_W, POW2, BM, BN)
    return acc


@triton.jit
def qgemm_kernel(XC, x_cs, XD, XE, XS, DECX, M, WC, w_cs, WD, WE, WS, DECW, N, RC, r_cs, RD, RE, RS, DECR, RMAP,
                 BIAS, Y, NB, post_x, post_r, OFFSET, BLOCK: tl.constexpr, CK: tl.constexpr,
                 PACKED_X: tl.constexpr, PACKED_W: tl.constexpr, PACKED_R: tl.constexpr, POW2: tl.constexpr,
                 WIDE: tl.constexpr, HAS_RES: tl.constexpr,
                 HAS_BIAS: tl.constexpr, BM: tl.constexpr, BN: tl.constexpr, GROUP_M: tl.constexpr):
    # grouped tile order: GROUP_M row tiles share each column tile while it is hot in L2
    pid = tl.program_id(0)
    tiles_m = tl.cdiv(M, BM)
    tiles_n = tl.cdiv(N, BN)
    group = pid // (GROUP_M * tiles_n)
    first_m = group * GROUP_M
    size_m = tl.minimum(tiles_m - first_m, GROUP_M)
    pid_m = first_m + (pid % (GROUP_M * tiles_n)) % size_m
    pid_n = (pid % (GROUP_M * tiles_n)) // size_m
    rows = pid_m * BM + tl.arange(0, BM)
    cols = pid_n * BN + tl.arange(0, BN)
    rmask = rows < M
    cmask = cols < N
    acc = _accumulate_any(XC, x_cs, XD, XE, XS, DECX, rows, rmask, WC, w_cs, WD, WE, WS, DECW, cols, cmask, NB,
                          OFFSET, BLOCK, CK, PACKED_X, PACKED_W, POW2, WIDE, BM, BN)
    if not (POW2 or WIDE):
        acc = acc * post_x                                    # tensor scales and element units
    if HAS_RES:
        rmap = tl.load(RMAP + rows, mask=rmask, other=-1)     # residual row of each output row, -1 if none
        if tl.max(rmap, axis=0) >= 0:
            has = rmap >= 0
            acc_r = _accumulate_any(RC, r_cs, RD, RE, RS, DECR, tl.maximum(rmap, 0), has, WC, w_cs, WD, WE, WS,
                                    DECW, cols, cmask, NB, OFFSET, BLOCK, CK, PACKED_R, PACKED_W, POW2, WIDE, BM, BN)
            if not (POW2 or WIDE):
                acc_r = acc_r * post_r
            acc = tl.where(has[:, None], acc + acc_r, acc)
    if HAS_BIAS:
        acc = acc + tl.load(BIAS + cols, mask=cmask, other=0.0)[None, :]
    tl.store(Y + rows.to(tl.int64)[:, None] * N + cols[None, :], acc, mask=rmask[:, None] & cmask[None, :])


@functools.lru_cache(maxsize=32)
def _decode_table(fmt, device: str):
    """Signed element integers of every (dialect, 4-bit code) as a flat int8 tensor (D*16): the decode ROM."""
    from quant.formatbooks import E2M1_BOOK
    from quant.registry import POW2, POW2_WIDE
    codes = np.arange(16)
    if fmt.scale_kind == POW2_WIDE:                                  # MX FP8: 256 int32 entries, value * 2^9
        return torch.tensor(fmt.int_table.astype(np.int32), device=device)
    if fmt.scale_kind == POW2:
        mags = fmt.book.magnitudes                                    # (D, 8) half-units
    elif fmt.element_bits == 4 and hasattr(fmt.element, "values"):
        mags = E2M1_BOOK.magnitudes                                  # NVFP4: E2M1 in half-units, as the reference
    elif fmt.element_bits == 4:
        return torch.tensor(np.where(codes >= 8, codes - 16, codes).astype(np.int8), device=device)
    else:
        return torch.zeros(16, dtype=torch.int8, device=device)      # 8-bit codes are their own integers
    m = mags[:, codes & 7]
    return torch.tensor(np.where(codes & 8, -m, m).astype(np.int8).reshape(-1), device=device)


class _Operand:
    """A QTensor's arrays on the device, in the kernel's argument order (codes, row stride, dialect, exponent,
    scale, decode table) plus its packing flag."""

    def __init__(self, qt, device):
        # np.require(..., 'W') copies read-only arrays (frozen weights): torch needs writable memory
        t = lambda a, dt: torch.as_tensor(np.require(a, requirements=['C', 'W']), device=device).to(dt)
        self.packed = qt.format.element_bits == 4
        codes = t(qt.codes, torch.uint8)
        self.codes = codes if self.packed else codes.view(torch.int8)   # WIDE masks the byte back to 0..255
        self.dialect = t(qt.dialect, torch.uint8)
        self.exponent = t(qt.exponent, torch.int8) if qt.exponent is not None else self.dialect
        self.scale = t(qt.scale, torch.float32) if qt.scale is not None else self.dialect
        self.table = _decode_table(qt.format, str(device))

    def args(self):
        return (self.codes, self.codes.stride(0), self.dialect, self.exponent, self.scale, self.table)


def chunk_elements(block: int) -> int:
    return max(MIN_DOT_K, min(triton.next_power_of_2(block), 128))


def launch_qgemm(qx, qw, device, post_x=1.0, residual=None, res_map=None, post_r=1.0, bias=None, tile=(64, 64),
                 group_m=8, run=True):
    """Run the GEMM kernel on validated QTensors; returns (float32 torch (M, N) on `device`, KernelCall).

    res_map: int32 (M,) residual row per output row (-1: none); bias: float32 (N,) or None."""
    from quant.gemm import exponent_offset
    from quant.registry import EXPONENT_KINDS, POW2, POW2_WIDE
    ox, ow = _Operand(qx, device), _Operand(qw, device)
    orr = _Operand(residual, device) if residual is not None else ox
    m, n, nb = qx.rows, qw.rows, qx.n_blocks
    y = torch.empty((m, n), dtype=torch.float32, device=device)
    rmap = torch.as_tensor(res_map, device=device) if res_map is not None else y
    b = torch.as_tensor(np.asarray(bias, np.float32), device=device) if bias is not None else y
    bm, bn = tile
    call = KernelCall(qgemm_kernel, (triton.cdiv(m, bm) * triton.cdiv(n, bn),),
                      (*ox.args(), m, *ow.args(), n, *orr.args(), rmap, b, y, nb, float(post_x), float(post_r),
                       exponent_offset(qx, qw) if qx.format.scale_kind in EXPONENT_KINDS else 0),
                      dict(BLOCK=qx.block, CK=chunk_elements(qx.block), PACKED_X=ox.packed, PACKED_W=ow.packed,
                           PACKED_R=orr.packed, POW2=qx.format.scale_kind == POW2,
                           WIDE=qx.format.scale_kind == POW2_WIDE, HAS_RES=residual is not None,
                           HAS_BIAS=bias is not None, BM=bm, BN=bn, GROUP_M=group_m),
                      dict(num_warps=8 if bm * bn >= 128 * 128 else 4))
    if run:
        call.run()
    return y, call
