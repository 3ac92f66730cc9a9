"""`sim quantize`: quantize a tensor (a .npy file, or a synthetic heavy-tailed layer) with several formats and
print a table of bits/element, SQNR and GEMM error, cross-checking back ends bit for bit."""
from __future__ import annotations

import numpy as np

import quant

DEFAULT_FORMATS = "dialectfp4,mxfp4,nvfp4,int4_g32,int8"


def register(sub):
    p = sub.add_parser("quantize", help="quantize a tensor or a small synthetic layer and print a table")
    p.add_argument("--input", help=".npy activation matrix (M, K); default: synthetic heavy-tailed activations")
    p.add_argument("--formats", default=DEFAULT_FORMATS, help=f"comma-separated formats (default {DEFAULT_FORMATS})")
    p.add_argument("--m", type=int, default=256, help="synthetic activation rows (tokens)")
    p.add_argument("--k", type=int, default=512, help="reduction dimension")
    p.add_argument("--n", type=int, default=256, help="synthetic weight rows (output features)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--backends", default="reference,numba", help="back ends to cross-check")
    p.set_defaults(func=run)


def synthetic_layer(m: int, k: int, n: int, seed: int):
    """Student-t activations with a few outlier channels (like DiT linear inputs) and N(0, 0.02) weights."""
    rng = np.random.default_rng(seed)
    x = rng.standard_t(4, size=(m, k)).astype(np.float32)
    x[:, rng.choice(k, size=max(1, k // 64), replace=False)] *= 20.0
    w = (0.02 * rng.standard_normal((n, k))).astype(np.float32)
    return x, w


def sqnr_db(ref: np.ndarray, approx: np.ndarray) -> float:
    noise = float(np.sum((ref.astype(np.float64) - approx) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref.astype(np.float64) ** 2)) / noise)


def run(args) -> int:
    if args.input:
        x = np.load(args.input).astype(np.float32)
        _, w = synthetic_layer(1, x.shape[-1], args.n, args.seed)
    else:
        x, w = synthetic_layer(args.m, args.k, args.n, args.seed)
    backends = [b for b in args.backends.split(",") if b]
    y_fp = x.reshape(-1, x.shape[-1]) @ w.T
    header = f"{'format':<14}{'bits/elem':>10}{'SQNR x dB':>11}{'GEMM SQNR dB':>14}  {'back ends bit-identical':<24}"
    print(header)
    print("-" * len(header))
    for fmt in [f for f in args.formats.split(",") if f]:
        results = {}
        for be in backends:
            qx = quant.quantize(x, fmt, backend=be, tensor="input")
            qw = quant.quantize(w, fmt, backend=be, tensor="weight", selector=_weight_selector(fmt))
            results[be] = (qx, quant.qgemm(qx, qw, backend=be))
        qx, y = results[backends[0]]
        same = all(results[b][0].equal_bits(qx) and results[b][1].view(np.int32).tobytes() == y.view(np.int32).tobytes()
                   for b in backends[1:])
        print(f"{fmt:<14}{qx.bits_per_element:>10.3f}{sqnr_db(x, qx.dequantize()):>11.2f}{sqnr_db(y_fp, y):>14.2f}  "
              f"{('yes (' + '=='.join(backends) + ')') if same else 'NO: MISMATCH':<24}")
        if not same:
            return 1
    return 0


def _weight_selector(fmt: str):
    f = quant.get_format(fmt)
    return "exact_mse" if getattr(f, "default_selector", None) and not getattr(f, "fixed_selector", True) else None
