"""Activation quantization throughput: the Numba fused kernel vs the NumPy reference, measured in the same run.

    python3 -m bench.bench_quantize [--quick] [--rows R] [--k K]     (from the repository root: a plain
    `python bench/bench_quantize.py` may import an installed copy of `quant` instead of this one)

lut_argmin selection on DialectFP4 (D=16) and on a D=32 book (DialectFP4 plus 16 seeded extra dialects), block
32.  Prints elements/s for the reference, the fused Numba kernel with 1 thread and with all threads, and the
full `quant.quantize(..., backend="numba")` call; every Numba result is checked bit for bit against the
reference first.  The memory bound is a one-thread copy of the same float32 tensor into a preallocated array
(np.copyto): it reads and writes 4 bytes per element, more traffic than quantization's 4 read and ~0.6 written,
so it is a bound the LUT path can approach but not pass; the script prints the LUT path's share of it.  Times are the best of several runs (wall clock; with 1 thread also CPU time, which is less
disturbed by other processes sharing the machine).
"""
from __future__ import annotations

import argparse
import time

import numba
import numpy as np

import quant
from quant.learn import seeded_extension
from quant import fast
from quant.registry import DialectFormat


def book32() -> quant.Formatbook:
    """DialectFP4 plus 16 other valid dialects (a seeded pick of 8-level half-unit grids containing 0)."""
    return seeded_extension("dialectfp4", 16, seed=32, name="bench32", prefix="b")


def best_time(fn, reps: int, clock=time.perf_counter) -> float:
    """Best of `reps` runs of fn(), in seconds (one untimed warm-up run first)."""
    fn()
    times = []
    for _ in range(reps):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return min(times)


def activations(rows: int, k: int) -> np.ndarray:
    """Transformer-like activations: normal values with per-channel scales and a few outlier channels."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, k)) * np.exp(rng.standard_normal(k) * 0.5)
    x[:, rng.choice(k, size=max(1, k // 64), replace=False)] *= 20
    return x.astype(np.float32)


def bench_book(book, x, reps: int, all_threads: int) -> list:
    fmt = DialectFormat(book.name, book)
    ref = quant.quantize(x, fmt, selector="lut_argmin")
    if not ref.equal_bits(quant.quantize(x, fmt, selector="lut_argmin", backend="numba")):
        raise AssertionError(f"numba quantize differs from the reference for {book.name}")
    t_ref = best_time(lambda: quant.quantize(x, fmt, selector="lut_argmin"), max(1, reps // 3))
    kernel = lambda: fast.quantize_dialect(x, 32, book, "lut_argmin")
    numba.set_num_threads(1)
    t1 = best_time(kernel, reps)
    t1_cpu = best_time(kernel, reps, time.process_time)
    numba.set_num_threads(all_threads)
    tn = best_time(kernel, reps)
    t_api = best_time(lambda: quant.quantize(x, fmt, selector="lut_argmin", backend="numba"), reps)
    n = x.size
    return [(f"D={book.size}", "reference (NumPy)", n / t_ref, 1.0),
            (f"D={book.size}", "numba fused, 1 thread (wall)", n / t1, t_ref / t1),
            (f"D={book.size}", "numba fused, 1 thread (CPU time)", n / t1_cpu, t_ref / t1_cpu),
            (f"D={book.size}", f"numba fused, {all_threads} threads", n / tn, t_ref / tn),
            (f"D={book.size}", f"quant.quantize(backend='numba'), {all_threads} thr", n / t_api, t_ref / t_api)]


def copy_bound(x, reps: int) -> list:
    """Memory-bound reference: one thread copies x into a preallocated float32 array (NumPy's copy is one thread)."""
    out = np.empty_like(x)
    t_wall = best_time(lambda: np.copyto(out, x), reps)
    t_cpu = best_time(lambda: np.copyto(out, x), reps, time.process_time)
    return [("copy", "np.copyto float32, 1 thread (wall)", x.size / t_wall, float("nan")),
            ("copy", "np.copyto float32, 1 thread (CPU time)", x.size / t_cpu, float("nan"))]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller input and fewer repetitions")
    ap.add_argument("--rows", type=int, default=None, help="activation rows (tokens); default 4096, quick 512")
    ap.add_argument("--k", type=int, default=1024, help="channels (reduction axis)")
    args = ap.parse_args(argv)
    rows = args.rows or (512 if args.quick else 4096)
    reps = 3 if args.quick else 7
    x = activations(rows, args.k)
    all_threads = numba.config.NUMBA_NUM_THREADS
    print(f"activation quantization, lut_argmin, block 32, x {x.shape} float32 ({x.size / 1e6:.1f} M elements); "
          f"numba threads available: {all_threads}")
    table = (bench_book(quant.formatbook("dialectfp4"), x, reps, all_threads)
             + bench_book(book32(), x, reps, all_threads) + copy_bound(x, reps))
    print(f"{'book':<6} {'path':<44} {'M elem/s':>10} {'x ref':>8}")
    for book, path, rate, ratio in table:
        print(f"{book:<6} {path:<44} {rate / 1e6:>10.1f} {ratio:>8.1f}")
    copy_cpu = next(r for b, p, r, _ in table if b == "copy" and "CPU" in p)
    for book in ("D=16", "D=32"):
        lut_cpu = next(r for b, p, r, _ in table if b == book and "1 thread (CPU" in p)
        print(f"{book}: LUT path, 1 thread (CPU time) = {lut_cpu / copy_cpu:.1%} of the copy bound "
              f"({lut_cpu / 1e6:.0f} of {copy_cpu / 1e6:.0f} M elem/s)")
    one_core = next(r for b, p, r, _ in table if b == "D=32" and "1 thread (CPU" in p)
    print(f"target: >= 300 M elements/s on one core for D=32 -> {one_core / 1e6:.1f} M/s "
          f"({'met' if one_core >= 300e6 else 'NOT met'}; CPU time, which other processes disturb least)")


if __name__ == "__main__":
    main()
