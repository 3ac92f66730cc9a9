"""Conformance vectors from torchao's `mx_formats` (the reference implementation users compare MXFP4 and NVFP4
against), so that tests/test_torchao_conformance.py can check the library bit for bit without torchao installed.

    python -m quant.golden_torchao            # compare tests/golden/torchao_mx_formats.json with torchao now
    python -m quant.golden_torchao --regen    # rewrite it from the installed torchao (needs torch and torchao)

What torchao computes, per case (torchao.prototype.mx_formats, version recorded in the file):
- MXFP4: `MXTensor.to_mx(x, torch.float4_e2m1fn_x2, 32)` with its default ScaleCalculationMode.FLOOR; the file
  holds the E8M0 scale bytes, the packed E2M1 bytes (element 2j in the low nibble) and `dequantize(float32)`;
- NVFP4: `NVFP4Tensor.to_nvfp4(x, 16, per_tensor_scale=per_tensor_amax_to_scale(max |x|))` (two-level scaling,
  as quant's `nvfp4`); the file holds the per-tensor scale, the E4M3 block-scale bytes, the packed bytes and
  `dequantize(float32)`;
- MXFP8 (quant's `fp8_e4m3_g32`): `MXTensor.to_mx(x, torch.float8_e4m3fn, 32)` (FLOOR); the file holds the E8M0
  scale bytes, the E4M3 bytes (one per element) and `dequantize(float32)`.
Cases marked `known_difference` are where the library deliberately differs (docs/formats.md#torchao).
Inputs are float32 values stored as JSON floats (exact, -0.0 included); dequantized values likewise.
"""
from __future__ import annotations

import argparse
import difflib
import os
import sys
from pathlib import Path

import numpy as np

from .golden import GOLDEN_DIR, render

FILE = "torchao_mx_formats.json"
SMALLEST_SCALE = "smallest_scale"   # MX blocks with E8M0 code 0 (MXFP4 amax < 2^-124, MXFP8 < 2^-118): docs/formats.md#torchao


def _rows(rng, shape, spread: int, block: int) -> np.ndarray:
    """Normal values times a random power of two per block (2^-spread..2^spread), with +-0.0 sprinkled in."""
    r, k = shape
    scale = np.exp2(rng.integers(-spread, spread + 1, (r, k // block, 1))).repeat(block, axis=-1).reshape(r, k)
    x = (rng.standard_normal(shape) * scale).astype(np.float32)
    x[rng.random(shape) < 0.08] = 0.0
    x[rng.random(shape) < 0.08] = -0.0
    return x


def _mx_ties() -> np.ndarray:
    """Every E2M1 level and midpoint (quarter steps 0..7.75), both signs, times 2^-3: the block exponent is -3, so
    the scaled values are exactly these quarter steps (ties to even, saturation above 6)."""
    q = np.arange(32, dtype=np.float32) / 4
    return (np.concatenate([q, -q]) * np.float32(0.125))[None].astype(np.float32)


def _nv_ties() -> np.ndarray:
    """g = 1 (amax 2688); blocks with amax 6 * 2^k get s = 2^k and r = 2^-k exactly, so quarter steps stay exact
    ties; the last block saturates (7.75 -> s = 1.25, r = fl32(0.8))."""
    q = np.arange(1, 16, dtype=np.float32) / 4                           # 0.25 .. 3.75
    blocks = [[2688.0] + [0.0] * 15, [6.0] + list(q), [-0.75] + list(-q / 8),
              [7.75, -7.75, 7.0, 6.5, 6.25, 5.5, -5.0, 5.0, 3.5, -2.5] + [0.0] * 6]
    return np.array([sum(blocks, [])], np.float32)


def _nv_near_ties() -> np.ndarray:
    """An inexact tensor scale g (amax 812.7) and blocks whose elements sit on E2M1 midpoints of s * g (rounded
    to float32): there x * fl32(fl32(1/g) / s) and x / fl32(s * g) often round to different codes, so the order
    of the float32 operations shows in the codes."""
    g = float(np.float32(np.float32(812.7) / np.float32(2688.0)))
    mids = np.array([6.0, 0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, -0.25, -0.75, -1.25, -1.75, -2.5, -3.5, -5.0, -6.0])
    blocks = [[812.7] + [0.0] * 15] + [list(mids * s * g) for s in (0.0625, 0.8125, 1.75, 13.0, 96.0, 288.0, 3.25)]
    return np.array(blocks, np.float64).reshape(2, 64).astype(np.float32)


def _signed_zeros(k: int) -> np.ndarray:
    x = np.full((2, k), -0.0, np.float32)
    x[0, :6] = [4.0, -0.1, -0.25, 0.0, -0.3, -1e-30]
    return x


def mxfp4_inputs(rng) -> list:
    tiny = np.zeros((1, 64), np.float32)
    tiny[0, :4] = [2.0 ** -125, 3 * 2.0 ** -128, -(2.0 ** -126), 2.0 ** -130]   # E8M0 code 0: torchao's 2^-126
    tiny[0, 32:34] = [1.0, -0.25]
    return [("random_wide_range", _rows(rng, (2, 64), 30, 32), None),
            ("ties_and_saturation", _mx_ties(), None),
            ("heavy_tailed", (rng.standard_t(1.5, (2, 64)) * 1e3).astype(np.float32), None),
            ("signed_zeros", _signed_zeros(64), None),
            ("smallest_scale_blocks", tiny, SMALLEST_SCALE)]


def nvfp4_inputs(rng) -> list:
    floor = _rows(rng, (2, 64), 2, 16)
    floor[0, 16:32] *= np.float32(1e-6)                     # block scale below E4M3's 2^-6: the floor
    return [("random_wide_range", _rows(rng, (2, 64), 12, 16), None),
            ("ties_and_saturation", _nv_ties(), None),
            ("near_ties_inexact_scale", _nv_near_ties(), None),
            ("scale_floor", floor, None),
            ("heavy_tailed", (rng.standard_t(1.5, (2, 64)) * 1e-3).astype(np.float32), None),
            ("signed_zeros", _signed_zeros(32), None)]


def _mx8_ties() -> np.ndarray:
    """Every E4M3 value and midpoint (and the 448/480 saturation boundary), both signs, in blocks whose amax is
    256 * 2^-4 (block exponent -4), so the scaled values are exactly these ties."""
    from .formats import FP8_E4M3
    v = FP8_E4M3.values[np.isfinite(FP8_E4M3.values)]
    t = np.concatenate([v, (v[:-1] + v[1:]) / 2, [464.0, 470.0, 480.0, 500.0]])
    t = np.concatenate([t, -t])
    t = np.concatenate([t, np.zeros(-len(t) % 31)]).reshape(-1, 31)
    return (np.concatenate([np.full((len(t), 1), 256.0), t], axis=1) * 2.0 ** -4).reshape(1, -1).astype(np.float32)


def mxfp8_inputs(rng) -> list:
    tiny = np.zeros((1, 64), np.float32)
    tiny[0, :4] = [2.0 ** -119, 3 * 2.0 ** -128, -(2.0 ** -126), 2.0 ** -140]   # E8M0 code 0: torchao's 2^-126
    tiny[0, 32:34] = [1.0, -0.25]
    return [("random_wide_range", _rows(rng, (2, 64), 30, 32), None),
            ("ties_and_saturation", _mx8_ties(), None),
            ("heavy_tailed", (rng.standard_t(1.5, (2, 64)) * 1e3).astype(np.float32), None),
            ("signed_zeros", _signed_zeros(64), None),
            ("smallest_scale_blocks", tiny, SMALLEST_SCALE)]


def _floats(a) -> list:
    return [float(v) for v in np.asarray(a, np.float32).reshape(-1)]


def torchao_mxfp4(x: np.ndarray) -> dict:
    import torch
    from torchao.prototype.mx_formats.mx_tensor import MXTensor
    t = MXTensor.to_mx(torch.from_numpy(x), torch.float4_e2m1fn_x2, 32)
    return {"scale_e8m0": t.scale.view(torch.uint8).reshape(-1).tolist(),
            "qdata": t.qdata.view(torch.uint8).numpy().tobytes().hex(),
            "dequantized": _floats(t.dequantize(torch.float32).numpy())}


def torchao_mxfp8(x: np.ndarray) -> dict:
    import torch
    from torchao.prototype.mx_formats.mx_tensor import MXTensor
    t = MXTensor.to_mx(torch.from_numpy(x), torch.float8_e4m3fn, 32)
    return {"scale_e8m0": t.scale.view(torch.uint8).reshape(-1).tolist(),
            "qdata": t.qdata.view(torch.uint8).numpy().tobytes().hex(),
            "dequantized": _floats(t.dequantize(torch.float32).numpy())}


def torchao_nvfp4(x: np.ndarray) -> dict:
    import torch
    from torchao.prototype.mx_formats.nvfp4_tensor import NVFP4Tensor, per_tensor_amax_to_scale
    xt = torch.from_numpy(x)
    g = per_tensor_amax_to_scale(torch.max(torch.abs(xt)))
    t = NVFP4Tensor.to_nvfp4(xt, 16, per_tensor_scale=g)
    return {"tensor_scale": float(g), "scale_e4m3": t.scale.view(torch.uint8).reshape(-1).tolist(),
            "qdata": t.qdata.view(torch.uint8).numpy().tobytes().hex(),
            "dequantized": _floats(t.dequantize(torch.float32).numpy())}


def torchao_file() -> dict:
    import torch
    import torchao
    rng = np.random.default_rng(2024)
    cases = []
    for fmt, inputs, run in (("mxfp4", mxfp4_inputs(rng), torchao_mxfp4), ("nvfp4", nvfp4_inputs(rng), torchao_nvfp4),
                             ("fp8_e4m3_g32", mxfp8_inputs(rng), torchao_mxfp8)):
        for name, x, known in inputs:
            case = {"name": f"{fmt}_{name}", "format": fmt, "shape": list(x.shape), "x": _floats(x), **run(x)}
            cases.append({**case, "known_difference": known} if known else case)
    return {"source": "torchao.prototype.mx_formats: MXTensor.to_mx (FLOOR scale mode; float4_e2m1fn_x2 for mxfp4, "
                      "float8_e4m3fn for fp8_e4m3_g32), NVFP4Tensor.to_nvfp4 with "
                      "per_tensor_scale = per_tensor_amax_to_scale(max |x|); dequantize(torch.float32)",
            "torchao": torchao.__version__, "torch": torch.__version__, "cases": cases}


def diff(directory: Path = GOLDEN_DIR, write: bool = False) -> str:
    """Unified diff between the committed file and what the installed torchao gives (written when `write`).
    The version lines are left out of the comparison: other versions may agree on every bit."""
    new = torchao_file()
    path = directory / FILE
    old = path.read_text() if path.exists() else ""
    strip = lambda text: [ln for ln in text.splitlines(True) if not ln.lstrip().startswith(('"torchao"', '"torch"'))]
    out = "".join(difflib.unified_diff(strip(old), strip(render(new)), f"committed/{FILE}", f"torchao/{FILE}"))
    if write and render(new) != old:          # quant sits below reports/, so no reports.io: temp file + rename
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(render(new))
        os.replace(tmp, path)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m quant.golden_torchao", description=__doc__.splitlines()[0])
    ap.add_argument("--regen", action="store_true", help=f"rewrite tests/golden/{FILE} from the installed torchao")
    args = ap.parse_args(argv)
    out = diff(write=args.regen)
    print(out if out else f"{GOLDEN_DIR / FILE} matches the installed torchao")
    return 0 if args.regen or not out else 1


if __name__ == "__main__":
    sys.exit(main())
