"""Golden vectors for MXFP4, NVFP4 and DialectFP4 (lut_argmin): the cases, a pure-Python spec, and the files.

    python -m quant.golden            # compare the committed tests/golden/*.json with what the spec gives now
    python -m quant.golden --regen    # rewrite them, printing the diff versus the committed files

The spec here is written from docs/formats.md (block exponent, LUT formatbook, baselines) with plain Python floats and the `math` and
`struct` modules only (no NumPy, nothing from quant/), so the files are independent of the library that
tests/test_quant_golden.py checks against them.  float32 rounding is `struct` packing: a float32 +, *, / done in
float64 and rounded once to float32 is correctly rounded (float64 has more than 2*24+2 bits).

MXFP4 and NVFP4 cases also carry codes and scales computed by hand (in the comments below); generating a file
fails if the spec disagrees with the hand computation.  Vectors taken from torchao itself (the reference
implementation of MXFP4/NVFP4) are written by quant/golden_torchao.py.
"""
from __future__ import annotations

import argparse
import difflib
import json
import math
import struct
import sys
from pathlib import Path

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "tests" / "golden"
E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)   # unsigned codes 0..7
DIALECTFP4 = (                                             # docs/formats.md#dialectfp4, half-units
    (0, 1, 2, 3, 4, 6, 11, 15), (0, 1, 2, 3, 4, 6, 9, 15), (0, 1, 2, 3, 4, 6, 11, 14), (0, 1, 2, 3, 4, 6, 9, 14),
    (0, 1, 2, 3, 4, 6, 10, 13), (0, 1, 2, 3, 4, 6, 8, 13), (0, 1, 2, 3, 4, 6, 10, 12), (0, 1, 2, 3, 4, 6, 8, 12),
    (0, 1, 2, 3, 4, 6, 9, 11), (0, 1, 2, 3, 4, 6, 7, 11), (0, 1, 2, 3, 4, 6, 9, 10), (0, 1, 2, 3, 4, 6, 7, 10),
    (0, 1, 2, 3, 4, 6, 8, 9), (0, 1, 2, 3, 4, 6, 7, 9), (0, 1, 2, 3, 4, 6, 7, 8), (0, 1, 2, 3, 4, 5, 6, 8),
)


def fl32(v: float) -> float:
    """Round a Python float to the nearest float32 (ties to even); beyond the float32 range, +-inf."""
    try:
        return struct.unpack("<f", struct.pack("<f", v))[0]
    except OverflowError:                 # struct refuses exactly the values whose rounding overflows
        return math.copysign(math.inf, v)


def _e4m3_values() -> list:
    """Finite E4M3 magnitudes by unsigned code 0..126 (0x7F is NaN): subnormals m*2^-9, normals (1+m/8)*2^(e-7)."""
    return [(c & 7) * 2.0 ** -9 if c >> 3 == 0 else (1 + (c & 7) / 8) * 2.0 ** ((c >> 3) - 7) for c in range(127)]


E4M3_VALUES = _e4m3_values()


def nearest_code(v: float, values) -> int:
    """Code of the value nearest to |v|; at a tie the even code wins; beyond the largest value, the largest."""
    return min(range(len(values)), key=lambda c: (abs(abs(v) - values[c]), c % 2))


def _floor_log2(a: float) -> int:
    return math.frexp(a)[1] - 1          # a = m * 2^E with m in [0.5, 1)


def _signed(x: float, code: int, signed_zero: bool = False) -> int:
    """code with x's sign bit: on a non-zero code only (canonical zero), or always when signed_zero (E2M1's -0:
    -0.0 and negatives that round to 0 get code 8)."""
    return code | 8 if math.copysign(1.0, x) < 0 and (code != 0 or signed_zero) else code


def _e2m1_value(code: int) -> float:
    return -E2M1_VALUES[code & 7] if code & 8 else E2M1_VALUES[code & 7]      # code 8 gives -0.0


def _e2m1_code(v: float) -> int:
    """Signed E2M1 code of a scaled value: nearest, ties to even, saturating at 6, sign bit kept on zero."""
    return _signed(v, nearest_code(min(abs(v), E2M1_VALUES[-1]), E2M1_VALUES), signed_zero=True)


def mxfp4_block(xs: list) -> tuple:
    """(exponent, codes, dequantized) of one MXFP4 block: E8M0 2^(floor(log2 amax) - 2), E2M1 RNE, saturate,
    every element keeping its sign bit (-0 code for -0.0 and for negatives that round to 0)."""
    amax = max(abs(x) for x in xs)
    e = max(-127, _floor_log2(amax) - 2) if amax else -127
    codes = [_e2m1_code(math.ldexp(x, -e)) for x in xs]        # exact: a power-of-two scaling of a float32
    return e, codes, [_e2m1_value(c) * 2.0 ** e for c in codes]


def mxfp8_block(xs: list) -> tuple:
    """(exponent, codes) of one MXFP8 (E4M3) block, OCP MX v1.0: E8M0 2^(floor(log2 amax) - 8), E4M3 nearest with
    ties to the even code, saturating at 448 (the NaN code 0x7F is never chosen), x's sign bit on every code."""
    amax = max(abs(x) for x in xs)
    e = max(-127, _floor_log2(amax) - 8) if amax else -127
    codes = [nearest_code(min(abs(math.ldexp(x, -e)), E4M3_VALUES[-1]), E4M3_VALUES)
             | (0x80 if math.copysign(1.0, x) < 0 else 0) for x in xs]
    return e, codes


E4M3_MIN_NORMAL = 2.0 ** -6            # the block-scale floor (torchao clamps to float8_e4m3fn's tiny)


def nvfp4_tensor(xs: list, block: int = 16) -> tuple:
    """(tensor_scale, block scales, codes, dequantized) of one NVFP4 row, in torchao mx_formats' float32 order
    (nvfp4_quantize with per_tensor_scale = amax_tensor / (448 * 6)):
    g = fl32(amax_tensor / 2688) (1 if that is 0); s = E4M3(max(fl32(fl32(amax_b / 6) / g), 2^-6));
    r = fl32(fl32(1 / g) / s); code = E2M1(fl32(x * r)) with the sign bit kept on zero (where r overflows, a
    tensor with amax below about 5e-34: E2M1(fl32(x / fl32(s * g)))); dequantized = fl32(value * fl32(g * s))."""
    g = fl32(max(abs(x) for x in xs) / 2688.0) or 1.0
    inv_g = fl32(1.0 / g)
    scales, codes, deq = [], [], []
    for b in range(0, len(xs), block):
        blk = xs[b:b + block]
        s = E4M3_VALUES[nearest_code(max(fl32(fl32(max(abs(x) for x in blk) / 6.0) / g), E4M3_MIN_NORMAL),
                                     E4M3_VALUES)]
        r, denom = fl32(inv_g / s), fl32(s * g)
        if math.isfinite(r):
            cs = [_e2m1_code(fl32(x * r)) for x in blk]
        else:
            cs = [_e2m1_code(fl32(x / denom)) if denom > 0 else 0 for x in blk]
        scales.append(s)
        codes += cs
        deq += [fl32(_e2m1_value(c) * fl32(g * s)) for c in cs]
    return g, scales, codes, deq


def lut_argmin_block(xs: list, book=DIALECTFP4) -> tuple:
    """(dialect, exponent, codes) of one block under lut_argmin (docs/formats.md#block-exponent)."""
    amax = max(abs(x) for x in xs)
    if amax == 0:
        return 0, -127, [0] * len(xs)
    e = max(-127, _floor_log2(amax) - 2)
    qs = [min(31, math.floor(math.ldexp(abs(x), 2 - e) + 0.5)) for x in xs]   # exact: fewer than 30 bits

    def index(q, levels):                # nearest |q - 2h|, ties to the even index
        return min(range(8), key=lambda i: (abs(q - 2 * levels[i]), i % 2))

    costs = [sum((q - 2 * lv[index(q, lv)]) ** 2 for q in qs) for lv in book]
    d = costs.index(min(costs))          # first minimum: lowest dialect id
    return d, e, [_signed(x, index(q, book[d])) for x, q in zip(xs, qs)]


def int_fp16_block(xs: list, qmax: int = 7) -> tuple:
    """(scale, codes) of one symmetric INT group with an FP16 scale (INT4: qmax 7): s = FP16(fl32(amax / qmax)),
    saturating at 65504; code = clamp(round-half-even(fl32(x / s)), +-qmax) as two's complement in 4 bits.
    FP16 rounding is `struct`'s 'e' packing (IEEE binary16, nearest, ties to even)."""
    amax = max(abs(x) for x in xs)
    s = struct.unpack("<e", struct.pack("<e", min(fl32(amax / qmax), 65504.0)))[0]
    if s == 0:
        return 0.0, [0] * len(xs)
    return s, [max(-qmax, min(qmax, round(fl32(x / s)))) & 0xF for x in xs]   # round(): ties to even


def _pad(xs: list, block: int) -> list:
    return list(xs) + [0.0] * (-len(xs) % block)


def _sparse(n: int, entries: dict) -> list:
    """A block of n zeros with a few values set (readable cases)."""
    return [float(entries.get(i, 0.0)) for i in range(n)]


# --- MXFP4, block 32; hand computation in the comments (scaled value -> E2M1 code) ---------------------------
MXFP4_CASES = [
    dict(name="ties_to_even", x=_sparse(32, {0: 6.0, 1: 0.25, 2: 0.75, 3: 1.25, 4: 1.75, 5: 2.5, 6: 3.5, 7: 5.0,
                                             8: -0.75, 9: -5.0, 10: 0.3}),
         # amax 6 -> floor(log2 6) = 2 -> e = 0 (scale 1).  6 -> c7; 0.25 tie 0|0.5 -> c0; 0.75 tie 0.5|1 -> c2;
         # 1.25 tie 1|1.5 -> c2; 1.75 tie 1.5|2 -> c4; 2.5 tie 2|3 -> c4; 3.5 tie 3|4 -> c6; 5 tie 4|6 -> c6;
         # -0.75 -> 8|2 = 10; -5 -> 8|6 = 14; 0.3 (float32 0.30000001) nearer 0.5 -> c1
         exponent=[0], codes=[7, 0, 2, 2, 4, 4, 6, 6, 10, 14, 1] + [0] * 21),
    dict(name="saturation_at_6", x=_sparse(32, {0: 7.5, 1: -7.0, 2: 6.5, 3: 5.5, 4: -6.25}),
         # amax 7.5 -> e = 0.  7.5, 6.5 -> saturate to 6 (c7); -7 -> 8|7 = 15; 5.5 nearer 6 -> c7; -6.25 -> 15
         exponent=[0], codes=[7, 15, 7, 7, 15] + [0] * 27),
    dict(name="small_scale", x=_sparse(32, {0: 0.1, 1: 0.05, 2: -0.02, 3: 2.0 ** -7, 4: 2.0 ** -8}),
         # amax 0.1: log2 = -3.32 -> floor -4 -> e = -6 (scale 1/64).  0.1*64 = 6.4 -> sat c7; 0.05*64 = 3.2 -> c5;
         # -0.02*64 = -1.28 nearer 1.5 -> 8|3 = 11; 2^-7*64 = 0.5 -> c1; 2^-8*64 = 0.25 tie 0|0.5 -> c0
         exponent=[-6], codes=[7, 5, 11, 1, 0] + [0] * 27),
    dict(name="large_scale_and_zero_block", x=_sparse(32, {0: 1000.0, 1: 300.0, 2: -64.0}) + [0.0] * 32,
         # block 0: amax 1000 -> floor(log2) = 9 -> e = 7 (scale 128).  1000/128 = 7.8125 -> sat c7;
         # 300/128 = 2.34 -> c4 (2.0); -64/128 = -0.5 -> 8|1 = 9.  block 1: all zero -> e = -127, codes 0
         exponent=[7, -127], codes=[7, 4, 9] + [0] * 61),
    dict(name="k_not_multiple_of_32", x=[0.0] * 32 + [1.0, 0.375, -0.125, 0.0, 0.0, 0.0, 0.0, 0.0],
         # K = 40 -> 2 blocks, the second zero-padded.  block 0 zero -> e = -127.  block 1: amax 1 -> e = -2
         # (scale 1/4): 1*4 = 4 -> c6; 0.375*4 = 1.5 -> c3; -0.125*4 = -0.5 -> 8|1 = 9
         exponent=[-127, -2], codes=[0] * 32 + [6, 3, 9] + [0] * 29),
    dict(name="subnormal_inputs_clamped_exponent", x=_sparse(32, {0: 2.0 ** -125, 1: 3 * 2.0 ** -128})
         + _sparse(32, {0: 2.0 ** -130, 1: -(2.0 ** -129)}),
         # block 0: amax 2^-125 -> e = -127 (the smallest E8M0 scale): 2^-125 * 2^127 = 4 -> c6; 3*2^-128 -> 1.5 -> c3.
         # block 1: floor(log2 2^-130) - 2 = -132 is clamped to -127: 2^-130 -> 0.125 -> c0; -2^-129 -> -0.25, a tie
         # 0|0.5 -> 0 with its sign bit, 8: a non-zero block that quantizes to all zeros
         exponent=[-127, -127], codes=[6, 3] + [0] * 30 + [0, 8] + [0] * 30),
    dict(name="signed_zero", x=_sparse(32, {0: 4.0, 1: -0.0, 2: -0.1, 3: -0.25, 4: 0.0, 5: -0.3}) + [-0.0] * 32,
         # block 0: amax 4 -> e = 0.  4 -> c6; -0.0 -> 8 (E2M1's negative zero); -0.1 -> 0 with sign -> 8;
         # -0.25 tie 0|0.5 -> 8; +0.0 -> c0; -0.3 nearer 0.5 -> 8|1 = 9.  block 1: all -0.0 -> e = -127, every code 8
         exponent=[0, -127], codes=[6, 8, 8, 8, 0, 9] + [0] * 26 + [8] * 32),
]

# --- NVFP4, block 16; g = tensor scale, s = E4M3 block scale --------------------------------------------------
NVFP4_CASES = [
    dict(name="unit_tensor_scale", x=_sparse(16, {0: 2688.0, 1: 448.0, 2: 1120.0, 3: -672.0, 4: 100.0, 5: 112.0})
         + _sparse(16, {0: 10.0, 1: 5.0, 2: -2.4375, 3: 4.0625, 4: 0.8125}),
         # amax_tensor 2688 -> g = 2688/2688 = 1.  block 0: s = 2688/6 = 448 (E4M3 max, exact).  2688/448 = 6 -> c7;
         # 448/448 = 1 -> c2; 1120/448 = 2.5 tie 2|3 -> c4; -672/448 = -1.5 -> 8|3 = 11; 100/448 = 0.223 -> c0;
         # 112/448 = 0.25 tie 0|0.5 -> c0.  block 1: 10/6 = 1.6667 -> E4M3 grid 1.625|1.75 -> 1.625;
         # 10/1.625 = 6.15 -> sat c7; 5/1.625 = 3.08 -> c5; -2.4375/1.625 = -1.5 -> 11; 4.0625/1.625 = 2.5 tie -> c4;
         # 0.8125/1.625 = 0.5 -> c1
         tensor_scale=1.0, scales=[448.0, 1.625], codes=[7, 2, 4, 11, 0, 0] + [0] * 10 + [7, 5, 11, 4, 1] + [0] * 11),
    dict(name="inexact_tensor_scale", x=_sparse(16, {0: 1.0, 1: -0.5, 2: 0.25}),
         # amax_tensor 1 -> g = fl32(1/2688) = 0x1.861862p-12 (inexact).  s = fl32(fl32(1/6)/g) = 448.0 exactly
         # after rounding, E4M3 448.  fl32(448*g) = fl32(1/6), so 1/that = 6.0 -> c7; -0.5 -> -3 -> 8|5 = 13;
         # 0.25 -> 1.5 -> c3
         tensor_scale=float.fromhex("0x1.861862p-12"), scales=[448.0], codes=[7, 13, 3] + [0] * 13),
    dict(name="e4m3_scale_rounding", x=_sparse(16, {0: 2688.0}) + _sparse(16, {0: 6.375, 1: 3.0})
         + _sparse(16, {0: 7.125, 1: 3.75, 2: -0.625}),
         # g = 1.  block 1: 6.375/6 = 1.0625, a tie between E4M3 1.0 (mantissa 000) and 1.125 (001) -> 1.0;
         # 6.375/1 -> sat c7; 3/1 = 3 -> c5.  block 2: 7.125/6 = 1.1875, tie 1.125 (001) | 1.25 (010) -> 1.25;
         # 7.125/1.25 = 5.7 -> c7; 3.75/1.25 = 3 -> c5; -0.625/1.25 = -0.5 -> 8|1 = 9
         tensor_scale=1.0, scales=[448.0, 1.0, 1.25], codes=[7] + [0] * 15 + [7, 5] + [0] * 14 + [7, 5, 9] + [0] * 13),
    dict(name="scale_floor", x=_sparse(16, {0: 2688.0}) + _sparse(16, {0: 0.01, 1: -0.005}) + _sparse(16, {0: 0.001})
         + [0.0] * 16,
         # g = 1.  block 1: 0.01/6 = 0.0016667 is below E4M3's smallest normal 2^-6 -> s = 2^-6 (no subnormal
         # scales); r = 1/2^-6 = 64: 0.01*64 = 0.64 nearer 0.5 -> c1; -0.005*64 = -0.32 nearer 0.5 -> 8|1 = 9.
         # block 2: 0.001*64 = 0.064 -> c0.  block 3: all zero, amax 0 -> s = 2^-6, codes 0
         tensor_scale=1.0, scales=[448.0, 2.0 ** -6, 2.0 ** -6, 2.0 ** -6],
         codes=[7] + [0] * 15 + [1, 9] + [0] * 14 + [0] * 32),
    dict(name="signed_zero", x=_sparse(16, {0: 6.0, 1: -0.0, 2: -0.001, 3: -0.3}) + [-0.0] * 16,
         # g = fl32(6/2688) (inexact); s = E4M3(fl32(1/g)) = 448; r = fl32(fl32(1/g)/448) = 1 within an ulp:
         # 6 -> c7; -0.0 -> 8; -0.001 -> 0 with sign -> 8; -0.3 -> 8|1 = 9.  block 1: all -0.0, s = 2^-6, codes 8
         tensor_scale=float.fromhex("0x1.24924ap-9"), scales=[448.0, 2.0 ** -6],
         codes=[7, 8, 8, 9] + [0] * 12 + [8] * 16),
    dict(name="tiny_tensor_division_fallback", x=_sparse(16, {0: 1e-35}) + _sparse(16, {0: 1e-40, 1: 3e-41}),
         # g = fl32(1e-35/2688) = 3.72e-39 (subnormal).  block 0: s = 448, r = fl32(fl32(1/g)/448) = 6.0e35 is
         # finite: 1e-35 * r = 6 -> c7.  block 1: s floored to 2^-6 and fl32(1/g) * 64 overflows, so elements are
         # divided by fl32(2^-6 * g) = 5.8e-41: 1e-40 -> 1.72 nearer 1.5 -> c3; 3e-41 -> 0.52 nearer 0.5 -> c1
         scales=[448.0, 2.0 ** -6], codes=[7] + [0] * 15 + [3, 1] + [0] * 14),
]

# --- DialectFP4 lut_argmin, block 32 -------------------------------------------------------------------------
def _lcg_values(seed: int, n: int) -> list:
    """Deterministic float32 test values, independent of any RNG library: a 31-bit LCG mapped to +-[0, 8)
    times a per-block power of two, so blocks span many exponents."""
    out, s = [], seed
    for i in range(n):
        s = (1103515245 * s + 12345) % 2 ** 31
        scale = 2.0 ** ((seed * 7 + i // 32 * 5) % 40 - 20)
        out.append(fl32(((s >> 8) / 2 ** 23 * 16 - 8) * scale))
    return out


LUT_CASES = [
    dict(name="exact_d1_grid", x=_sparse(32, {0: 7.5, 1: 4.5, 2: -3.0, 3: 2.0, 4: 1.5, 5: -1.0, 6: 0.5}),
         # amax 7.5 -> e = 0, q = 4|x|: 30, 18, 12, 8, 6, 4, 2.  Every value is on d1 (0 .5 1 1.5 2 3 4.5 7.5), so
         # d1 costs 0; d0 has 5.5 not 4.5 (q 18 -> 22 or 12: cost 16) -> d1.  idx: 7, 6, 8|5, 4, 3, 8|2, 1
         dialect=[1], exponent=[0], codes=[7, 6, 13, 4, 3, 10, 1] + [0] * 25),
    dict(name="e2m1_grid_is_d7", x=_sparse(32, {0: 6.0, 1: 4.0, 2: 3.0, 3: -2.0, 4: 1.5, 5: 1.0, 6: 0.5}),
         # amax 6 -> e = 0; all values are E2M1 = d7 (cost 0).  d0..d6 lack 4.0 or 6.0 together -> d7.
         dialect=[7], exponent=[0], codes=[7, 6, 5, 12, 3, 2, 1] + [0] * 25),
    dict(name="tiny_zero_and_random", x=[0.0] * 32 + _lcg_values(1, 32 * 6) + [2.0 ** -140] * 32),
]


def _check_hand(case: dict, got: dict):
    for key in ("exponent", "codes", "scales", "tensor_scale", "dialect"):
        if key in case and case[key] != got[key]:
            raise AssertionError(f"golden case {case['name']!r}: hand-computed {key} {case[key]} != spec {got[key]}")


def mxfp4_file() -> dict:
    cases = []
    for c in MXFP4_CASES:
        x = [fl32(v) for v in c["x"]]
        blocks = [mxfp4_block(_pad(x, 32)[b:b + 32]) for b in range(0, len(_pad(x, 32)), 32)]
        got = {"exponent": [b[0] for b in blocks], "codes": sum((b[1] for b in blocks), [])}
        _check_hand(c, got)
        cases.append({"name": c["name"], "x": x, **got,
                      "dequantized": sum((b[2] for b in blocks), [])[:len(x)]})
    return {"format": "mxfp4", "block": 32, "spec": "OCP MX v1.0, signed zero as torchao (docs/formats.md#mxfp4)",
            "cases": cases}


def nvfp4_file() -> dict:
    cases = []
    for c in NVFP4_CASES:
        x = [fl32(v) for v in c["x"]]
        g, scales, codes, deq = nvfp4_tensor(_pad(x, 16))
        got = {"tensor_scale": g, "scales": scales, "codes": codes}
        _check_hand(c, got)
        cases.append({"name": c["name"], "x": x, **got, "dequantized": deq[:len(x)]})
    return {"format": "nvfp4", "block": 16, "spec": "NVFP4, float32 order of torchao mx_formats (docs/formats.md#nvfp4)",
            "cases": cases}


def lut_file() -> dict:
    cases = []
    for c in LUT_CASES:
        x = [fl32(v) for v in c["x"]]
        blocks = [lut_argmin_block(_pad(x, 32)[b:b + 32]) for b in range(0, len(_pad(x, 32)), 32)]
        got = {"dialect": [b[0] for b in blocks], "exponent": [b[1] for b in blocks],
               "codes": sum((b[2] for b in blocks), [])}
        _check_hand(c, got)
        cases.append({"name": c["name"], "x": x, **got})
    return {"format": "dialectfp4", "selector": "lut_argmin", "block": 32, "spec": "docs/formats.md#block-exponent",
            "cases": cases}


GOLDEN_FILES = {"mxfp4.json": mxfp4_file, "nvfp4.json": nvfp4_file, "dialectfp4_lut_argmin.json": lut_file}


def render(data: dict) -> str:
    """One case per block of lines, one list per line: small diffs stay readable."""
    lines = ["{"] + [f'  {json.dumps(k)}: {json.dumps(v)},' for k, v in data.items() if k != "cases"]
    lines.append('  "cases": [')
    for i, case in enumerate(data["cases"]):
        body = ",\n".join(f"      {json.dumps(k)}: {json.dumps(v)}" for k, v in case.items())
        lines.append("    {\n" + body + "\n    }" + ("," if i < len(data["cases"]) - 1 else ""))
    return "\n".join(lines + ["  ]", "}", ""])


def diff_all(directory: Path = GOLDEN_DIR, write: bool = False) -> str:
    """Unified diff between the committed files and the spec's; writes the spec's files when `write`."""
    out = []
    for fname, make in GOLDEN_FILES.items():
        path = directory / fname
        new = render(make())
        old = path.read_text() if path.exists() else ""
        out += difflib.unified_diff(old.splitlines(True), new.splitlines(True), f"committed/{fname}", f"spec/{fname}")
        if write and new != old:
            directory.mkdir(parents=True, exist_ok=True)
            path.write_text(new)
    return "".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m quant.golden", description=__doc__.splitlines()[0])
    ap.add_argument("--regen", action="store_true", help="rewrite tests/golden/*.json from the spec")
    args = ap.parse_args(argv)
    diff = diff_all(write=args.regen)
    print(diff if diff else f"golden files in {GOLDEN_DIR} match the spec")
    return 0 if args.regen or not diff else 1


if __name__ == "__main__":
    sys.exit(main())
