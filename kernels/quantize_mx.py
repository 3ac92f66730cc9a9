"""Quantize kernel for MX float formats (`fp8_e4m3_g32`, quant/mx_float.py) and its launcher.

One program handles BR rows x one block.  Pass 1 takes the largest 8-bit exponent field of the block (for finite
floats the field of max |x|), so the E8M0 exponent is e = max(field - 127 - EMAX, -127) exactly (a zero or
subnormal maximum has field 0 and lands on the clamp, as floor(log2 amax) - EMAX < -127 does).  Pass 2 scales
|x| by 2^-e (scale_pow2: exact whenever the result is a normal float32; a smaller result is far below E4M3's
smallest subnormal 2^-9 and rounds to 0 either way), rounds it to E4M3 with round_small_float (nearest, ties to
even, saturating at 448) and turns the value into its code from the float32 bits: ((biased exponent - 120) << 3)
| top 3 mantissa bits for values >= 2^-6, value * 2^9 below.  Bit 7 is x's sign bit (zeros included).
"""
from __future__ import annotations

import torch

from ._env import require_triton

require_triton()
import triton  # noqa: E402
import triton.language as tl  # noqa: E402

from ._bits import biased_exponent, round_small_float, scale_pow2  # noqa: E402
from ._launch import KernelCall  # noqa: E402


@triton.jit
def _e4m3_code(x, e):
    """Code of x * 2^-e (x float32 (BR, CH), e int32 (BR, 1)): E4M3 nearest-even, saturating, sign bit kept."""
    v = round_small_float(scale_pow2(tl.abs(x), -e), 3, -6, 448.0)
    bits = v.to(tl.int32, bitcast=True)
    normal = ((((bits >> 23) & 0xFF) - 120) << 3) | ((bits >> 20) & 7)   # E4M3 bias 7: field - 127 + 7
    code = tl.where(v >= 0.015625, normal, scale_pow2(v, 9).to(tl.int32))  # 2^-6: smallest normal
    return code | (((x.to(tl.int32, bitcast=True) >> 31) & 1) << 7)


@triton.jit
def mx_quantize_kernel(X, stride_x, R, K, NB, CODES, EXP, BLOCK: tl.constexpr, CH: tl.constexpr,
                       BR: tl.constexpr, EMAX: tl.constexpr):
    b = tl.program_id(1)
    rows = tl.program_id(0) * BR + tl.arange(0, BR)
    rmask = rows < R
    r64 = rows.to(tl.int64)
    base = X + r64[:, None] * stride_x
    c = tl.arange(0, CH)
    top = tl.zeros((BR,), tl.int32)
    for c0 in range(0, BLOCK, CH):
        col = b * BLOCK + c0 + c
        m = rmask[:, None] & ((c0 + c < BLOCK) & (col < K))[None, :]
        x = tl.load(base + col[None, :], mask=m, other=0.0)
        top = tl.maximum(top, tl.max(biased_exponent(x), axis=1))
    e = tl.maximum(top - 127 - EMAX, -127)
    tl.store(EXP + r64 * NB + b, e.to(tl.int8), mask=rmask)
    for c0 in range(0, BLOCK, CH):
        col = b * BLOCK + c0 + c
        m = rmask[:, None] & (c0 + c < BLOCK)[None, :]
        x = tl.load(base + col[None, :], mask=m & (col < K)[None, :], other=0.0)
        code = _e4m3_code(x, e[:, None])
        tl.store(CODES + r64[:, None] * (NB * BLOCK) + col[None, :], code.to(tl.uint8), mask=m)


def launch_mx_quantize(xt, fmt, block: int, rows_per_program=32, run=True):
    """Run the kernel on a float32 (R, K) tensor: returns (codes uint8 (R, nb*block), exponent int8 (R, nb)) on
    xt's device, and the KernelCall.  Only E4M3 elements have a kernel."""
    if fmt.element.name != "fp8_e4m3":
        raise NotImplementedError(f"triton back end: no MX kernel for element format {fmt.element.name} of "
                                  f"{fmt.name}; kernels exist for fp8_e4m3")
    r, k = xt.shape
    nb = -(-k // block)
    codes = torch.empty((r, nb * block), dtype=torch.uint8, device=xt.device)
    exp = torch.empty((r, nb), dtype=torch.int8, device=xt.device)
    call = KernelCall(mx_quantize_kernel, (triton.cdiv(r, rows_per_program), nb),
                      (xt, xt.stride(0), r, k, nb, codes, exp),
                      dict(BLOCK=block, CH=min(triton.next_power_of_2(max(block, 2)), 64), BR=rows_per_program,
                           EMAX=fmt.elem_emax))
    if run:
        call.run()
    return codes, exp, call
