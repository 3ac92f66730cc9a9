"""Testbench for q_frontend: shared block exponent e, 32 intermediates q and 32 signs from one float32 block,
against quant.blocks `block_exponent` / `intermediate_q` (called on a (1, 1, 32) float32 array), compared as raw
bits.  Corner blocks (zeros incl. -0.0, a single nonzero, powers of two, exact ties, saturation at 31.5,
subnormals down to 2^-149, FLT_MAX, mixed signs) plus random blocks across the whole float32 exponent range."""
from __future__ import annotations

import numpy as np

from quant.blocks import block_exponent, intermediate_q

from .. import cocotb_compat as cc
from . import common

F32 = np.float32
N = 32


def reference(bits: np.ndarray) -> tuple:
    """(e as 8-bit two's complement, packed q, packed signs, zero flag) for one block of 32 raw float32 bit
    patterns; the zero flag is the reference encoder's zero-block rule (no element != 0)."""
    xb = bits.astype(np.uint32).view(F32).reshape(1, 1, N)
    e = block_exponent(xb)
    q = intermediate_q(xb, e)[0, 0]
    return int(e[0, 0]) & 0xFF, common.pack(q, 5), common.pack(bits >> 31, 1), int(not np.any(xb != 0))


def _block(values, fill: float = 0.0) -> np.ndarray:
    v = np.full(N, fill, dtype=np.float64)
    v[: len(values)] = values
    return v.astype(F32).view(np.uint32)


def _from_bits(words) -> np.ndarray:
    v = np.zeros(N, dtype=np.uint32)
    v[: len(words)] = words
    return v


def corner_blocks() -> list:
    tiny = 2.0 ** -149
    below = lambda x: float(np.nextafter(F32(x), F32(0)))        # noqa: E731  one float32 ulp toward zero
    ties = [(k + 0.5) / 4 for k in range(31)]                   # amax 7.875 -> e = 0, t = k + 0.5 exactly
    blocks = [
        _block([]), _from_bits([0x80000000] * N), _block([0.0, -0.0, 0.0]),   # all zero, -0.0
        _block([1.0]), _block([-3.5]), _block([0.0] * 31 + [5.0]),           # single nonzero
        _block([4.0, 1.0, 0.5, 0.25, 0.125, 2.0 ** -3, 3.0]),                # amax a power of two
        _block([8.0, 2.0 ** -20, 2.0 ** 3 - 2.0 ** -20]),
        _block(ties + [7.875]), _block([-t for t in ties] + [-7.875]),        # ties round up, saturation
        _block([below(t) for t in ties] + [below(7.875)]),                  # just below the ties / 31.5
        _block([7.99, 7.875, below(7.875), 7.75, 7.625]),
        _block([tiny]), _block([-tiny, tiny, 2 * tiny, 3 * tiny]),          # subnormal-only: e clamps to -127
        _from_bits([0x007FFFFF, 0x00400000, 0x00000001, 0x80200000, 0x00000003]),
        _from_bits([0x80000000] * 31 + [0x80000001]), _from_bits([0] * 17 + [0x00000100]),   # q all 0, not zero
        _block([2.0 ** -126, tiny, 2.0 ** -127]), _block([2.0 ** -125, 2.0 ** -126, tiny, 2.0 ** -127 * 3]),
        _block([2.0 ** -124, 2.0 ** -126 * 1.5, 2.0 ** -127 * 1.75, tiny * 7]),
        _from_bits([0x7F7FFFFF]), _from_bits([0xFF7FFFFF, 0x7F000000, 0x7E800000, 0x00000001, 0x3F800000]),
        _block([float(np.finfo(F32).max) * s for s in (1, -0.5, 0.25, 2 ** -24, 2 ** -25)]),
        _block([(-1) ** i * (i + 0.5) for i in range(N)]),                  # mixed signs
        _block([(-1) ** i * 2.0 ** (i - 20) for i in range(N)]),
    ]
    return blocks


def random_blocks(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for j in range(n):
        if j % 2 == 0:                                          # x = normal * 2^k across the float range
            k = int(rng.integers(-160, 121))
            v = rng.standard_normal(N) * 2.0 ** k
            v[rng.random(N) < 0.1] = 0.0
            out.append(np.clip(v, -3.0e38, 3.0e38).astype(F32).view(np.uint32))
        else:                                                   # raw bits: exponents within a spread of the max
            top = int(rng.integers(0, 255))
            ex = np.clip(top - rng.integers(0, int(rng.choice([3, 8, 30])), N), 0, 254)
            words = (rng.integers(0, 2, N) << 31) | (ex << 23) | rng.integers(0, 1 << 23, N)
            out.append(words.astype(np.uint32))
    return out


@cc.test()
async def frontend_matches_reference(dut):
    cfg = common.config()
    blocks = corner_blocks() + random_blocks(cfg.get("n_random", 300), cfg.get("seed", 0))
    sb = common.Scoreboard("q_frontend")
    exps, zeros = set(), 0
    for b in blocks:
        want = reference(b)
        exps.add(want[0])
        zeros += want[3]
        sb.expect(want, context=f"block {[hex(int(w)) for w in b]}")
        cc.write(dut.in_x, common.pack(b, 32))
        await cc.settle()
        sb.observe((cc.read_uint(dut.out_exp), cc.read_uint(dut.out_q), cc.read_uint(dut.out_sign),
                    cc.read_uint(dut.out_zero)))
    common.write_result("frontend", {"blocks": len(blocks), "matched": sb.check(), "distinct_exponents": len(exps),
                                     "zero_blocks": zeros})
