"""Bit-exact Numba GEMM throughput vs NumPy float32 matmul (BLAS) on the same shape, measured in the same run.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 bench/bench_gemm.py [--quick] [--formats dialectfp4,nvfp4,int8]

Shapes (M x K x N): 1024x1024x1024 and two tiny-VDiT layer shapes (1024 tokens; K=128 -> N=512 and
K=512 -> N=128).  GFLOP/s counts 2*M*N*K.  `qgemm` is the whole call (decode of both operands included);
`kernel` excludes the decode.  Ratios divide by numpy float32 `x @ w.T` with the same thread count (all BLAS
threads / 1 thread through threadpoolctl).  Each numba result is first checked bit for bit against the
reference on a smaller slice.  Best of several runs; with 1 thread CPU time is shown too (less disturbed by other
processes).  The baseline must be the BLAS a user gets: OPENBLAS_CORETYPE forces an OpenBLAS kernel (e.g.
Haswell, about half as fast as the SkylakeX kernel OpenBLAS picks by itself on AVX-512 machines), so run with
both OpenBLAS variables unset as above (in the benchmark command only).  The script prints them and the
kernel threadpoolctl reports, and warns when OPENBLAS_CORETYPE is set.
"""
from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np

import quant
from quant import fast, fast_gemm
from quant.gemm import qgemm_reference

try:
    from threadpoolctl import threadpool_info, threadpool_limits
except ImportError:                                   # optional: without it BLAS runs with its default threads
    threadpool_info = threadpool_limits = None

SHAPES = [(1024, 1024, 1024), (1024, 128, 512), (1024, 512, 128)]


def best_time(fn, reps: int, clock=time.perf_counter) -> float:
    fn()
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def blas_limit(n):
    if threadpool_limits is None:
        raise RuntimeError("threadpoolctl is needed to pin BLAS to one thread: pip install threadpoolctl")
    return threadpool_limits(n, user_api="blas")


def check_bits(qx, qw):
    sub_x, sub_w = qx.select_rows(np.arange(min(qx.rows, 64))), qw.select_rows(np.arange(min(qw.rows, 48)))
    if not np.array_equal(qgemm_reference(sub_x, sub_w).view(np.int32), fast.qgemm(sub_x, sub_w).view(np.int32)):
        raise AssertionError(f"numba qgemm differs from the reference for {qx.fmt}")


def kernel_only(qx, qw):
    """The GEMM kernel on pre-decoded operands (what a weight-stationary caller with cached W would pay).
    Always X on the rows (no Y^T swap), so narrow-N shapes show the unswapped kernel here."""
    vx, wt = fast.element_ints16(qx), np.ascontiguousarray(fast.element_ints16(qw).T)
    p_like, out = np.zeros(0, fast.partial_dtype(qx, qw)), np.empty((qx.rows, qw.rows), np.float32)
    if qx.exponent is not None:
        ex, ew = qx.exponent.astype(np.int64), np.ascontiguousarray(qw.exponent.astype(np.int64).T)
        ex_hi = 127 - fast.partial_bound(qx, qw).bit_length()
        return lambda: fast_gemm.gemm_pow2(vx, wt, qx.block, ex, ew, ex_hi, p_like, out, False)
    post = np.float32(np.float32(qx.tensor_scale) * np.float32(qw.tensor_scale)) * np.float32(
        qx.format.unit * qw.format.unit)
    sx, sw = np.ascontiguousarray(qx.scale), np.ascontiguousarray(qw.scale.T)
    return lambda: fast_gemm.gemm_float(vx, wt, qx.block, sx, sw, np.float32(post), True, p_like, out)


def bench_shape(fmt, m, k, n, reps, threads):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((m, k)).astype(np.float32), rng.standard_normal((n, k)).astype(np.float32)
    qx, qw = quant.quantize(x, fmt, backend="numba"), quant.quantize(w, fmt, backend="numba")
    check_bits(qx, qw)
    wt = np.ascontiguousarray(w.T)
    flop = 2.0 * m * n * k
    rows = []
    for nthr in (threads, 1):
        numba.set_num_threads(nthr)
        with blas_limit(nthr):
            t_blas = best_time(lambda: x @ wt, reps)
            t_blas_cpu = best_time(lambda: x @ wt, reps, time.process_time) if nthr == 1 else None
        t_q = best_time(lambda: fast.qgemm(qx, qw), reps)
        t_k = best_time(kernel_only(qx, qw), reps)
        rows.append((nthr, "wall", flop / t_blas, flop / t_q, flop / t_k))
        if t_blas_cpu is not None:
            t_k_cpu = best_time(kernel_only(qx, qw), reps, time.process_time)
            t_q_cpu = best_time(lambda: fast.qgemm(qx, qw), reps, time.process_time)
            rows.append((nthr, "cpu", flop / t_blas_cpu, flop / t_q_cpu, flop / t_k_cpu))
    numba.set_num_threads(threads)
    return rows


def print_blas_setup(threads):
    """The BLAS baseline's configuration: the OpenBLAS variables and the kernel OpenBLAS reports."""
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        print(f"{var}={os.environ.get(var, '(unset)')}")
    if "OPENBLAS_CORETYPE" in os.environ:
        print("WARNING: OPENBLAS_CORETYPE forces a BLAS kernel; ratios are not against the BLAS a user gets. "
              "Rerun with: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 bench/bench_gemm.py")
    print(f"numba threads: {threads}")
    if threadpool_info is not None:
        for lib in threadpool_info():
            if lib.get("user_api") == "blas":
                print(f"  BLAS: {lib.get('internal_api')} {lib.get('version')} kernel={lib.get('architecture')} "
                      f"threads={lib.get('num_threads')}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--formats", default="dialectfp4", help="comma-separated formats (see quant.format_names())")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else 7
    threads = numba.config.NUMBA_NUM_THREADS
    print_blas_setup(threads)
    print(f"{'format':<11} {'M x K x N':<15} {'thr':>3} {'clock':<5} {'BLAS GF/s':>9} {'qgemm GF/s':>10} "
          f"{'ratio':>6} {'kernel GF/s':>11} {'ratio':>6}")
    for fmt in args.formats.split(","):
        for m, k, n in SHAPES:
            for thr, clock, blas, q, kern in bench_shape(fmt, m, k, n, reps, threads):
                print(f"{fmt:<11} {f'{m}x{k}x{n}':<15} {thr:>3} {clock:<5} {blas / 1e9:>9.1f} {q / 1e9:>10.1f} "
                      f"{q / blas:>6.2f} {kern / 1e9:>11.1f} {kern / blas:>6.2f}")
    print("targets (1 thread, cpu clock): qgemm >= 0.5 of BLAS at 1024x1024x1024, >= 0.3 on the tiny-VDiT shapes")


if __name__ == "__main__":
    main()
