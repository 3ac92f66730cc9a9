"""Testbenches for the NVFP4 block scaler + float32 accumulator, compared as raw float32 bits:
- bs_nvfp4_add (one step): acc' = fl32(acc + fl32(fl32(float32(P) * sx) * sw)) against numpy float32 in the order of
  quant/gemm.py's float-scaled branch; every E4M3 code of one scale against a few of the other, corner accumulators
  (signed zeros, subnormals, FLT_MAX, inf, NaN), zero / 448 / subnormal / negative / NaN scales, rounding ties,
  exact cancellation, then random vectors;
- bs_nvfp4_acc (registered, one block per cycle): a small NVFP4 GEMM (blocks of 16) quantized by quant, its exact
  block partials streamed output by output; every step against the numpy step, every finished output against
  quant's own pre-tensor-scale accumulator (`pre_tensor_scale_acc`), and fl32(acc * post) against quant.qgemm."""
from __future__ import annotations

import dataclasses

import numpy as np

import quant
from quant.formats import FP8_E4M3
from quant.gemm import accumulate, block_partials

from .. import cocotb_compat as cc
from . import common

F32 = np.float32
P_MAX = 16 * 12 * 12              # |P| of a block of 16 E2M1 products in half-units
NAN_CODES = (0x7F, 0xFF)          # E4M3 S.1111.111


def scale_f32(codes) -> np.ndarray:
    """float32 value of E4M3 codes, as quant decodes them (NaN codes give NaN with the code's sign)."""
    return FP8_E4M3.decode(np.asarray(codes, dtype=np.int64)).astype(F32)


def reference_steps(acc_bits, p, sx, sw) -> np.ndarray:
    """fl32(acc + fl32(fl32(float32(P) * sx) * sw)) per vector (arrays), as raw bits: quant.gemm.accumulate's
    float-scaled step, operand order included (x86 returns the first NaN operand)."""
    acc = np.asarray(acc_bits, dtype=np.uint32).view(F32)
    with np.errstate(all="ignore"):
        s = (np.asarray(p, dtype=np.int64).astype(F32) * scale_f32(sx)).astype(F32)
        s = (s * scale_f32(sw)).astype(F32)
        return (acc + s).astype(F32).view(np.uint32)


def pre_tensor_scale_acc(qx, qw) -> np.ndarray:
    """quant's float32 accumulator before the tensor-scale multiply, from quant.gemm.accumulate itself: both
    operands get tensor scale t with fl32(fl32(t * t) * ux * uw) = 1.0 (t = 2 for E2M1's half-units), and
    fl32(acc * 1.0) = acc for every float32, so accumulate returns the bare accumulator."""
    unit = qx.format.unit * qw.format.unit
    t = float(np.sqrt(1.0 / unit))
    if F32(F32(F32(t) * F32(t)) * F32(unit)) != F32(1.0):
        raise ValueError(f"pre_tensor_scale_acc: no neutral tensor scale for element units {unit}")
    return accumulate(dataclasses.replace(qx, tensor_scale=t), dataclasses.replace(qw, tensor_scale=t))


def post_scale(qx, qw) -> F32:
    """The per-output multiplier quant applies after accumulation (quant/gemm.py step 4)."""
    return F32(F32(F32(qx.tensor_scale) * F32(qw.tensor_scale)) * F32(qx.format.unit * qw.format.unit))


def _bits(x: float) -> int:
    return int(np.array([x], dtype=F32).view(np.uint32)[0])


ACCS = [0x00000000, 0x80000000, 0x00000001, 0x807FFFFF, 0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000,
        0x7FC00000, 0x7F800001, 0xFFC00001, _bits(1.0), _bits(-1.0), _bits(2.0 ** 24), _bits(3.0), _bits(2.0 ** -18),
        _bits(-462422016.0), _bits(1.0e30), _bits(-3.0e-30)]
PS = [0, 1, -1, 3, -7, 2303, P_MAX, -P_MAX, 4095, -4096]
SCALES = [0x00, 0x80, 0x01, 0x07, 0x08, 0x38, 0x3F, 0x7E, 0xFE, 0x81, 0x7F, 0xFF]


def corner_vectors() -> list:
    v = []
    for i, sx in enumerate(range(256)):                 # every code of each scale against a few of the other
        for j, other in enumerate((0x01, 0x38, 0x7E, 0xFF)):
            a = ACCS[(i + j) % len(ACCS)]
            v += [(a, -P_MAX, sx, other), (a, 7, other, sx)]
    for a in ACCS:                                      # accumulators x partials x scale corners
        for k, p in enumerate(PS):
            for sx in SCALES[k % 3::3]:
                for sw in (0x38, 0x07, 0x7E, 0x80, 0xFF)[k % 2::2]:
                    v.append((a, p, sx, sw))
    for k in range(4):                                  # round-half-even ties, both signs
        for p, sx, sw, acc in ((1, 0x38, 0x38, 2.0 ** 24 + 2 * k), (3, 0x38, 0x38, 2.0 ** 24 + 2 * k),
                               (1, 0x08, 0x08, 2.0 ** 12 + k * 2.0 ** -11), (3, 0x50, 0x50, 2.0 ** 30 + 128 * k)):
            v += [(_bits(acc), p, sx, sw), (_bits(-acc), -p, sx, sw), (_bits(acc), -p, sx | 0x80, sw)]
    for p, sx, sw in ((1, 0x38, 0x38), (-2304, 0x7E, 0x7E), (5, 0x01, 0x01), (-1151, 0x05, 0x3A)):
        exact = float(scale_f32([sx])[0]) * float(scale_f32([sw])[0]) * p
        v += [(_bits(-exact), p, sx, sw), (_bits(-exact + 2.0 ** -40), p, sx, sw)]   # exact cancellation
    for p, sx, sw in ((-1, 0x00, 0x38), (0, 0x80, 0x38), (0, 0x00, 0x38), (5, 0x80, 0x80), (0, 0x80, 0x80)):
        v += [(0x80000000, p, sx, sw), (0x00000000, p, sx, sw)]                        # signed zeros
    return v


def random_vectors(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        sx, sw = (int(rng.integers(0, 0x7F)) | (0x80 if rng.random() < 0.1 else 0) for _ in range(2))
        p = int(rng.integers(-P_MAX, P_MAX + 1)) if rng.random() < 0.8 else int(rng.integers(-16, 17))
        mag = abs(float(p) * float(scale_f32([sx])[0]) * float(scale_f32([sw])[0])) or 1.0
        e = int(np.clip(np.floor(np.log2(mag)) + 127 + rng.integers(-26, 27), 0, 254))
        out.append(((int(rng.integers(0, 2)) << 31) | (e << 23) | int(rng.integers(0, 1 << 23)), p, sx, sw))
    return out


@cc.test()
async def nvfp4_add_matches_numpy(dut):
    cfg = common.config()
    vectors = corner_vectors() + random_vectors(cfg.get("n_random", 1000), cfg.get("seed", 0))
    a, p, sx, sw = (np.array(c) for c in zip(*vectors))
    want = reference_steps(a, p, sx, sw)
    nan_scale = np.isin(sx, NAN_CODES) | np.isin(sw, NAN_CODES)
    sb = common.Scoreboard("bs_nvfp4_add")
    for i, vec in enumerate(vectors):
        sb.expect((want[i], nan_scale[i]), context=f"acc=0x{vec[0]:08x} P={vec[1]} sx=0x{vec[2]:02x} sw=0x{vec[3]:02x}")
        for port, value in zip((dut.acc, dut.p, dut.sx, dut.sw), vec):
            cc.write(port, value)
        await cc.settle()
        sb.observe((cc.read_uint(dut.sum), cc.read_uint(dut.scale_nan)))
    common.write_result("nvfp4_add", {"vectors": len(vectors), "matched": sb.check(),
                                      "negative_zero_results": int((want == 0x80000000).sum()),
                                      "nan_results": int(np.isnan(want.view(F32)).sum())})


def gemm_operands(m: int, n: int, k: int, seed: int):
    """X (m, k), W (n, k) float32 with NVFP4 corners: W holds the tensor maximum (its block scale is E4M3's 448),
    X row 1 has an all-zero block and a block 10^-5 below the tensor maximum, both at the block-scale floor 2^-6
    (E4M3 code 0x08; quant, like torchao, makes no zero or subnormal scales; the step test covers those codes)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_t(4, size=(m, k)).astype(F32)
    w = (0.05 * rng.standard_normal((n, k))).astype(F32)
    w[0, 5] = 1.0
    x[1, 16:32] = 0.0
    x[1, 32:48] *= F32(1e-5 * np.abs(x).max() / max(np.abs(x[1, 32:48]).max(), 1e-30))
    return x, w


@cc.test()
async def nvfp4_gemm_accumulates_like_quant(dut):
    m, n, k = common.config().get("shape", (3, 4, 72))
    x, w = gemm_operands(m, n, k, seed=7)
    qx, qw = quant.quantize(x, "nvfp4", tensor="x"), quant.quantize(w, "nvfp4", tensor="w")
    part = block_partials(qx, qw)                                    # (nb, M, N) exact integers
    codes = [FP8_E4M3.encode(q.scale) for q in (qx, qw)]
    for c, q in zip(codes, (qx, qw)):
        if not np.array_equal(scale_f32(c).view(np.uint32), q.scale.view(np.uint32)):
            raise AssertionError("block scales are not E4M3 values")
    golden = pre_tensor_scale_acc(qx, qw).view(np.uint32)
    y = quant.qgemm(qx, qw).view(np.uint32)
    post = post_scale(qx, qw)
    nb = part.shape[0]
    stream = [(i, j, b) for i in range(m) for j in range(n) for b in range(nb)]
    dut.valid.value = 0
    dut.first.value = 0
    cc.start_clock(dut.clk)
    await common.reset(dut)
    steps, finals = common.Scoreboard("bs_nvfp4_acc steps"), common.Scoreboard("bs_nvfp4_acc vs quant")
    acc = 0
    for i, j, b in stream:
        await cc.falling_edge(dut.clk)
        sx, sw = int(codes[0][i, b]), int(codes[1][j, b])
        steps.expect((reference_steps([0 if b == 0 else acc], [part[b, i, j]], [sx], [sw])[0], 0),
                     context=f"y[{i},{j}] block {b}")
        dut.valid.value = 1
        dut.first.value = int(b == 0)
        for port, value in ((dut.p, part[b, i, j]), (dut.sx, sx), (dut.sw, sw)):
            cc.write(port, value)
        await cc.rising_edge(dut.clk)
        await cc.read_only()
        acc = cc.read_uint(dut.acc)
        steps.observe((acc, cc.read_uint(dut.scale_nan)))
        if b == nb - 1:
            y_rtl = (np.array([acc], np.uint32).view(F32) * post).astype(F32).view(np.uint32)[0]
            finals.expect((golden[i, j], y[i, j]), context=f"y[{i},{j}]")
            finals.observe((acc, y_rtl))
    await cc.falling_edge(dut.clk)
    dut.valid.value = 0
    common.write_result("nvfp4_gemm", {"outputs": finals.check(), "steps": steps.check(), "blocks": nb,
                                       "scale_codes": sorted({int(c) for cs in codes for c in cs.reshape(-1)})})
