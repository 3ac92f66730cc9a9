"""Testbench for bs_fp32_add: acc' = fl32(acc + P * 2^s) against the reference's accumulation step (quant/gemm.py
`accumulate`: S = ldexp(P, s) exact, flushed to +0.0 below 2^-126, then one float32 round-to-nearest-even add),
compared as raw float32 bits.  Random vectors around the accumulator's magnitude plus corner cases: signed zeros,
subnormals, exact cancellation, rounding ties, overflow to inf, flush edges, inf/NaN accumulators."""
from __future__ import annotations

import numpy as np

from quant.gemm import FLUSH_BELOW, OVERFLOW_ABOVE

from .. import cocotb_compat as cc
from . import common

F32 = np.float32
P_MAX = 7200          # |P| bound of a block of 32 DialectFP4 products


def reference_step(acc_bits: int, p: int, s: int) -> int:
    """One accumulation step exactly as quant.gemm.accumulate computes it (numpy float32), as raw bits."""
    acc = np.array([acc_bits], dtype=np.uint32).view(F32)
    sb = np.where(np.array([s]) < FLUSH_BELOW, 0.0, np.ldexp(np.array([float(p)]), np.array([s])))
    with np.errstate(over="ignore", invalid="ignore"):
        out = (acc + sb.astype(F32)).astype(F32)
    return int(out.view(np.uint32)[0])


def _bits(x: float) -> int:
    return int(np.array([x], dtype=F32).view(np.uint32)[0])


def corner_vectors() -> list:
    v = []
    accs = [0x00000000, 0x80000000, 0x00000001, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00800000, 0x80800000,
            0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7F800001, _bits(1.0), _bits(-1.0),
            _bits(1.0 + 2 ** -23), _bits(3.0), _bits(-2.0 ** -126 - 2.0 ** -149)]
    ps = [0, 1, -1, 3, -3, P_MAX, -P_MAX, 4096, -4096, 7199]
    ss = [-140, -127, -126, -125, -24, -23, 0, 100, 104, 114, 115, 127]
    for a in accs:
        for p in ps:
            for s in ss:
                v.append((a, p, s))
    # exact cancellation and cancellation into the subnormal range
    for p, s in [(1, 0), (-7200, -20), (5, -126), (3, -126), (7199, 90)]:
        v.append((_bits(-float(p) * 2.0 ** s), p, s))
        v.append((_bits(-float(p) * 2.0 ** s + 2.0 ** -149), p, s))
        v.append((_bits(-float(p) * 2.0 ** s - 2.0 ** -140), p, s))
    # round-half-even ties: acc = 1 + k ulp, S = half an ulp
    for k in range(4):
        v.append((_bits(1.0 + k * 2 ** -23), 1, -24))
        v.append((_bits(1.0 + k * 2 ** -23), -1, -24))
        v.append((_bits(1.0 + k * 2 ** -23), 3, -25))
    return v


def random_vectors(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        e = int(rng.integers(1, 255)) if rng.random() < 0.9 else 0
        a = (int(rng.integers(0, 2)) << 31) | (e << 23) | int(rng.integers(0, 1 << 23))
        p = int(rng.integers(-P_MAX, P_MAX + 1)) if rng.random() < 0.8 else int(rng.integers(-16, 17))
        s = int(np.clip(e - 127 - 12 + rng.integers(-30, 31), -135, 127))
        out.append((a, p, s))
    return out


@cc.test()
async def fp32_add_matches_numpy(dut):
    cfg = common.config()
    vectors = corner_vectors() + random_vectors(cfg.get("n_random", 1000), cfg.get("seed", 0))
    sb = common.Scoreboard("bs_fp32_add")
    overflow_flags = 0
    for a, p, s in vectors:
        sb.expect((reference_step(a, p, s), 0), context=f"acc=0x{a:08x} P={p} s={s}")
        cc.write(dut.acc, a)
        cc.write(dut.p, p)
        cc.write(dut.s, s)
        await cc.settle()
        sb.observe((cc.read_uint(dut.sum), cc.read_uint(dut.scale_ovf)))
    for s in (OVERFLOW_ABOVE + 1, 200, 511):            # the reference raises there; the RTL flags it
        cc.write(dut.s, s)
        await cc.settle()
        overflow_flags += cc.read_uint(dut.scale_ovf)
    if overflow_flags != 3:
        raise AssertionError(f"scale_ovf set for {overflow_flags} of 3 exponent sums above {OVERFLOW_ABOVE}")
    common.write_result("fp32_add", {"vectors": len(vectors), "matched": sb.check()})
