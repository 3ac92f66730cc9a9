"""Ahead-of-time compilation of every kernel specialization for an NVIDIA GPU target, without a GPU.

The interpreter cannot catch what only the GPU compiler checks (constexpr-only globals, int8 MMA shapes with
K >= 32, layouts of join/reshape) nor show what the generated code does with floats.  This module plans the
same launches the back end makes (KernelCall with run=False, on CPU tensors), compiles each to PTX/cubin for the
target, and reports per kernel whether it compiled and whether its PTX contains instructions that would break the
arithmetic contract: fused multiply-adds (fma.rn.f32), flush-to-zero float ops (.ftz.f32) and approximate
division (div.approx / div.full).

    KERNELS_AOT_CHECK=1 python -m kernels.aot --arch 90      # or: python -m kernels.aot (re-executes itself)

Compiling is not running: GPU numerics are still untested until the gpu-marked tests run on a GPU.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

import numpy as np

BAD_PTX = {"fma_f32": r"\bfma\.rn(\.sat)?\.f32\b", "ftz_f32": r"\.ftz\.f32\b",
           "approx_div": r"\bdiv\.(approx|full)\.f32\b"}


def _plans(names=None) -> dict:
    """name -> KernelCall for representative launches of every kernel (planned on CPU tensors)."""
    import torch

    import quant
    from quant.formatbooks import DIALECTFP4, E2M1_BOOK

    from . import cases
    from .decompose import _launch as plan_decompose
    from .gemm import launch_qgemm
    from .quantize import (LUT_ARGMIN, NEAREST, TWO_STAGE, launch_block_exponents, launch_dialect_quantize,
                           launch_scaled_quantize)
    from .quantize_mx import launch_mx_quantize
    rng = np.random.default_rng(0)
    x = torch.as_tensor(cases.heavy_tailed(rng, (64, 256)))
    d32 = quant.formatbook(cases.book_d32().name)
    allowed = torch.ones((1, 1, 32), dtype=torch.uint8).expand(64, 8, 32)
    rmap = torch.full((64,), -1, dtype=torch.int32)
    q = lambda fmt, rows=64, **kw: quant.quantize(cases.heavy_tailed(rng, (rows, 256)), fmt, **kw)
    gem = lambda qx, qw, **kw: lambda: launch_qgemm(qx, qw, "cpu", run=False, **kw)[-1]
    builders = {
        "quantize_lut_d32_allowed": lambda: launch_dialect_quantize(x, d32, 32, LUT_ARGMIN, allowed, run=False)[-1],
        "quantize_lut_b16": lambda: launch_dialect_quantize(x, DIALECTFP4, 16, LUT_ARGMIN, run=False)[-1],
        "quantize_lut_b16_shared_exp": lambda: launch_dialect_quantize(
            x, DIALECTFP4, 16, LUT_ARGMIN, run=False, exponents=torch.zeros((64, 16), dtype=torch.int32))[-1],
        "block_exponents": lambda: launch_block_exponents(x, 16, run=False)[-1],
        "quantize_two_stage": lambda: launch_dialect_quantize(x, DIALECTFP4, 32, TWO_STAGE, run=False)[-1],
        "quantize_mxfp4": lambda: launch_dialect_quantize(x, E2M1_BOOK, 32, NEAREST, run=False,
                                                          signed_zero=True)[-1],
        "quantize_nvfp4": lambda: launch_scaled_quantize(x, quant.get_format("nvfp4"), 16, 0.5, run=False)[-1],
        "quantize_int4_g128": lambda: launch_scaled_quantize(x, quant.get_format("int4_g128"), 128, 1.0,
                                                             run=False)[-1],
        "quantize_int8": lambda: launch_scaled_quantize(x, quant.get_format("int8"), 256, 1.0, run=False)[-1],
        "quantize_fp8_e4m3_g32": lambda: launch_mx_quantize(x, quant.get_format("fp8_e4m3_g32"), 32,
                                                            run=False)[-1],
        "gemm_dialect_residual_bias": gem(q("dialectfp4"), q("dialectfp4", 32), residual=q("dialectfp4", 4),
                                          res_map=np.full(64, -1, np.int32), bias=np.ones(32, np.float32)),
        "gemm_dialect_b16": gem(q("dialectfp4", block=16), q("dialectfp4", 32, block=16)),
        "gemm_mxfp4_tile128": gem(q("mxfp4"), q("mxfp4", 32), tile=(128, 128)),
        "gemm_nvfp4_residual": gem(q("nvfp4"), q("nvfp4", 32), residual=q("nvfp4", 4), post_x=0.5, post_r=0.25,
                                   res_map=np.full(64, -1, np.int32)),
        "gemm_int4_g32": gem(q("int4_g32"), q("int4_g32", 32)),
        "gemm_int8": gem(q("int8"), q("int8", 32)),
        "gemm_fp8_e4m3_g32": gem(q("fp8_e4m3_g32"), q("fp8_e4m3_g32", 32)),
        "decompose_lut_saturate": lambda: plan_decompose(x, d32, 32, LUT_ARGMIN, rmap, 4, allowed, 1, True,
                                                         run=False)[-1],
        "decompose_two_stage": lambda: plan_decompose(x, DIALECTFP4, 32, TWO_STAGE, rmap, 4, None, 1, False,
                                                      run=False)[-1],
        "decompose_mxfp4": lambda: plan_decompose(x, E2M1_BOOK, 32, NEAREST, rmap, 4, None, 1, False,
                                                  run=False, signed_zero=True)[-1],
    }
    return {n: b() for n, b in builders.items() if names is None or n in names}


def compile_all(arch: int = 90, names=None) -> dict:
    """name -> {"ok", "error", counts of BAD_PTX patterns}.  Needs KERNELS_AOT_CHECK=1 in this process."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from ._env import AOT_CHECK
    if not AOT_CHECK:
        raise RuntimeError("compile_all needs KERNELS_AOT_CHECK=1 set before kernels is imported; use "
                           "compile_in_subprocess() or run `python -m kernels.aot`")
    out = {}
    for name, call in _plans(names).items():
        src = ASTSource(fn=call.kernel, signature=call.signature(), constexprs=dict(call.constexprs))
        try:
            ptx = triton.compile(src, target=GPUTarget("cuda", arch, 32), options=call.compile_options()).asm["ptx"]
        except Exception as exc:      # report every kernel, not only the first failure
            out[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
            continue
        out[name] = {"ok": True, **{k: len(re.findall(p, ptx)) for k, p in BAD_PTX.items()}}
    return out


def compile_in_subprocess(arch: int = 90, names=None, timeout_s: int = 600) -> dict:
    env = dict(os.environ, KERNELS_AOT_CHECK="1")
    env.pop("TRITON_INTERPRET", None)
    cmd = [sys.executable, "-m", "kernels.aot", "--arch", str(arch), "--json"]
    if names:
        cmd += ["--only", *names]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"ahead-of-time compilation failed to run:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arch", type=int, default=90, help="CUDA compute capability x10 (90 = H100)")
    ap.add_argument("--only", nargs="*", help="kernel plan names (default: all)")
    ap.add_argument("--json", action="store_true", help="print one JSON line")
    a = ap.parse_args(argv)
    from ._env import AOT_CHECK
    if not AOT_CHECK:
        print(json.dumps(compile_in_subprocess(a.arch, a.only)) if a.json else
              "\n".join(f"{k}: {v}" for k, v in compile_in_subprocess(a.arch, a.only).items()))
        return
    res = compile_all(a.arch, a.only)
    print(json.dumps(res) if a.json else "\n".join(f"{k}: {v}" for k, v in res.items()))


if __name__ == "__main__":
    main()
