"""GPU benchmark of the Triton kernels, each against a baseline measured in the same run on the same GPU.

    python bench/bench_triton.py [--quick] [--reps 20] [--csv out.csv]

- quantize: bytes moved per second as a fraction of a device-to-device copy's (torch clone, read + write);
- GEMM: TFLOP/s at 4096^3 and at Open-Sora 2.0 layer shapes (M = 8,828 tokens; K x N from docs/model.md#layer-names) against
  torch.matmul in bfloat16, plus a bit-exactness self-check against the NumPy reference on a small GEMM;
- memory: packed weight bytes (codes + per-block dialect id and exponent/scale) against bf16.

Kernel times exclude host work (format checks, NumPy <-> torch copies); each is the median of CUDA-event timed
runs after warm-up.  Without a CUDA GPU the kernels run in Triton's CPU interpreter, whose timings say nothing
about performance: the script then prints only the memory footprint and says so.
"""
from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kernels  # noqa: E402,F401  (before triton: chooses GPU or interpreter)
from kernels import _env  # noqa: E402

OPENSORA_M = 8828
OPENSORA_KN = [(3072, 3072), (3072, 12288), (12288, 3072), (3072, 15360), (15360, 3072)]


def footprint_rows(shapes, fmts=("dialectfp4", "mxfp4", "nvfp4")) -> list:
    """Bytes of packed weights (N x K) per format as the kernels read them (the QTensor arrays: codes, dialect
    ids, exponents or scales; measured on two quantized rows and scaled to N), against bf16 (2 bytes/element)."""
    import quant
    rows = []
    for k, n in shapes:
        for fmt in fmts:
            q = quant.quantize(np.ones((2, k), dtype=np.float32), fmt)
            per_row = sum(a.nbytes for a in (q.codes, q.dialect, q.exponent, q.scale) if a is not None) / 2
            packed = int(per_row * n)
            rows.append({"what": "weight_bytes", "fmt": fmt, "k": k, "n": n, "packed_bytes": packed,
                         "bf16_bytes": 2 * n * k, "ratio_vs_bf16": packed / (2 * n * k),
                         "stored_bits_per_element": 8 * per_row / k,      # this library's QTensor arrays
                         "format_bits_per_element": q.bits_per_element})  # the format's own metadata widths
    return rows


def timed(fn, reps: int, device: str = "cuda") -> float:
    """Median seconds of fn() over reps CUDA-event timed runs, after 3 warm-up runs.  device="cpu" only
    exercises the code (tests); its numbers are never printed."""
    import torch
    if device != "cuda":
        import time
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b) * 1e-3)
    return statistics.median(times)


def copy_bandwidth(reps: int) -> float:
    """Bytes per second of a device-to-device copy of 1 GiB (read + write counted)."""
    import torch
    src = torch.empty(1 << 28, dtype=torch.float32, device="cuda")
    dst = torch.empty_like(src)
    return 2 * src.numel() * 4 / timed(lambda: dst.copy_(src), reps)


def quantize_rows(reps: int, m: int, k: int, bw: float, device: str = "cuda") -> list:
    import torch

    import quant
    from kernels import cases
    from kernels.quantize import LUT_ARGMIN, NEAREST, TWO_STAGE, launch_dialect_quantize, launch_scaled_quantize
    x = torch.randn((m, k), device=device, dtype=torch.float32)
    d32 = quant.formatbook(cases.book_d32().name)
    plans = {
        "dialectfp4 lut_argmin D=16": lambda: launch_dialect_quantize(x, quant.DIALECTFP4, 32, LUT_ARGMIN)[-1],
        "D=32 lut_argmin (test book)": lambda: launch_dialect_quantize(x, d32, 32, LUT_ARGMIN)[-1],
        "dialectfp4 two_stage": lambda: launch_dialect_quantize(x, quant.DIALECTFP4, 32, TWO_STAGE)[-1],
        "mxfp4": lambda: launch_dialect_quantize(x, quant.E2M1_BOOK, 32, NEAREST, signed_zero=True)[-1],
        "nvfp4": lambda: launch_scaled_quantize(x, quant.get_format("nvfp4"), 16, 1.0)[-1],
    }
    rows = []
    for name, plan in plans.items():
        call = plan()
        t = timed(call.run, reps, device)
        block = call.constexprs["BLOCK"]
        moved = m * k * 4 + m * k // 2 + 2 * m * (-(-k // block))    # read fp32, write codes and metadata
        rows.append({"what": "quantize", "fmt": name, "m": m, "k": k, "time_ms": t * 1e3,
                     "bytes_per_s": moved / t, "fraction_of_copy_bw": moved / t / bw})
    return rows


def gemm_rows(reps: int, shapes, tiles, device: str = "cuda") -> list:
    import torch

    from kernels import backend
    from kernels.gemm import launch_qgemm
    rows = []
    for m, k, n in shapes:
        xs = torch.randn((m, k), device=device, dtype=torch.bfloat16)
        ws = torch.randn((n, k), device=device, dtype=torch.bfloat16)
        t_bf16 = timed(lambda: torch.matmul(xs, ws.T), reps, device)
        for fmt in ("dialectfp4", "mxfp4", "nvfp4"):
            qx = backend.quantize(xs.float().cpu().numpy(), fmt)
            qw = backend.quantize(ws.float().cpu().numpy(), fmt)     # lut_argmin weights: speed is the same
            post = backend._checked(qx, qw)
            best = None
            for tile in tiles:
                _, call = launch_qgemm(qx, qw, device, post_x=post, tile=tile, run=False)
                t = timed(call.run, reps, device)
                best = min(best or (t, tile), (t, tile))
            flop = 2.0 * m * n * k
            rows.append({"what": "gemm", "fmt": fmt, "m": m, "k": k, "n": n, "tile": f"{best[1][0]}x{best[1][1]}",
                         "time_ms": best[0] * 1e3, "tflops": flop / best[0] / 1e12,
                         "bf16_matmul_tflops": flop / t_bf16 / 1e12, "speed_vs_bf16": t_bf16 / best[0]})
    return rows


def self_check() -> str:
    """Bit-exactness on this GPU: the triton GEMM against the NumPy reference on a small ragged problem."""
    import quant
    from kernels import cases
    rng = np.random.default_rng(0)
    for fmt in ("dialectfp4", "mxfp4", "nvfp4"):
        qx = quant.quantize(cases.mixed_inputs(rng, 90, 200, 32), fmt)
        qw = quant.quantize(cases.heavy_tailed(rng, (70, 200)), fmt)
        a = quant.qgemm(qx, qw)
        b = quant.qgemm(qx, qw, backend="triton")
        if a.view(np.int32).tobytes() != b.view(np.int32).tobytes():
            return f"FAILED for {fmt}: the GPU GEMM differs from the reference"
        x = cases.mixed_inputs(rng, 90, 200, 32)
        if not quant.quantize(x, fmt, backend="triton").equal_bits(quant.quantize(x, fmt)):
            return f"FAILED for {fmt}: the GPU quantize kernel differs from the reference"
    return "ok: quantize and GEMM bit-identical to the reference (dialectfp4, mxfp4, nvfp4)"


def print_rows(rows):
    for r in rows:
        print("  " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.items()))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="4096^3 and one Open-Sora shape only")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--csv", type=Path, help="write all rows to this CSV file")
    args = ap.parse_args(argv)
    kn = OPENSORA_KN[:1] if args.quick else OPENSORA_KN
    rows = footprint_rows([(4096, 4096)] + kn)
    print(f"kernels: {_env.describe()}")
    print("packed weight footprint (bytes, vs bf16):")
    print_rows(rows)
    if _env.INTERPRET or _env.AOT_CHECK:
        print("no CUDA GPU: kernel timings are not measured (the interpreter's times are not performance); "
              "run this script on a machine with a GPU")
        return 0
    print(f"self-check: {self_check()}")
    bw = copy_bandwidth(args.reps)
    print(f"device-to-device copy: {bw / 1e9:.1f} GB/s (read + write)")
    q = quantize_rows(args.reps, OPENSORA_M, 3072, bw)
    print("quantize kernels (M=8828, K=3072, fp32 in):")
    print_rows(q)
    shapes = [(4096, 4096, 4096)] + [(OPENSORA_M, k, n) for k, n in kn]
    g = gemm_rows(args.reps, shapes, tiles=[(128, 128), (128, 64), (64, 128)])
    print("GEMM (W4A4, both operands quantized) vs torch.matmul bf16:")
    print_rows(g)
    rows += q + g
    if args.csv:
        keys = sorted({k for r in rows for k in r})
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {args.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
