"""`sim quantize`: quantize a tensor (a .npy file, or a synthetic heavy-tailed layer) with several formats and
print a table of bits/element, SQNR and GEMM error, cross-checking back ends bit for bit."""
from __future__ import annotations

import numpy as np

import quant

from .. import preflight
from ..cli import CliError

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
    p.add_argument("--nonfinite", choices=("raise", "saturate"), default="raise",
                   help="NaN/Inf in --input: raise (default; names row and block) or saturate (NaN -> 0, "
                        "+-Inf -> the largest finite value, then quantized as usual)")
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


def load_input(path: str, nonfinite: str) -> np.ndarray:
    """A real-valued .npy array with at least one row of at least one element (one line naming the file else)."""
    preflight.input_file(path, "--input")
    try:
        x = np.load(path, allow_pickle=False)
    except ValueError as exc:          # object arrays (pickles) and files that are not .npy
        raise CliError(f"--input {path}: not a numeric .npy array ({exc})") from None
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        raise CliError(f"--input {path}: dtype {getattr(x, 'dtype', type(x).__name__)}; need a real numeric array")
    if x.ndim < 1 or x.size == 0:
        raise CliError(f"--input {path}: shape {list(x.shape)}; need at least one row of K >= 1 values "
                       f"(an (M, K) matrix or a K vector)")
    x = x.astype(np.float32)
    if nonfinite == "saturate":        # the same rule as quant's nonfinite='saturate', so that SQNR is finite
        x = np.where(np.isnan(x), np.float32(0), np.clip(x, -np.finfo(np.float32).max, np.finfo(np.float32).max))
    return x.astype(np.float32)


def run(args) -> int:
    formats = preflight.formats(preflight.csv_list(args.formats, "--formats"))
    backends = list(preflight.backends(preflight.csv_list(args.backends, "--backends"), "--backends"))
    if args.input:
        x = load_input(args.input, args.nonfinite)
        _, w = synthetic_layer(1, x.shape[-1], args.n, args.seed)
    else:
        x, w = synthetic_layer(args.m, args.k, args.n, args.seed)
    try:
        return _table(x, w, formats, backends, args.nonfinite)
    except quant.errors.NonFiniteError as exc:   # the library's hint names its keyword; the CLI has a flag
        raise CliError(f"--input {args.input}: non-finite value in row {exc.row}, block {exc.block} (use "
                       f"--nonfinite saturate to clamp to the format's largest magnitude instead)") from None


def _table(x, w, formats, backends, nonfinite) -> int:
    y_fp = x.reshape(-1, x.shape[-1]) @ w.T
    header = f"{'format':<14}{'bits/elem':>10}{'SQNR x dB':>11}{'GEMM SQNR dB':>14}  {'back ends bit-identical':<24}"
    print(header)
    print("-" * len(header))
    for fmt in formats:
        results = {}
        for be in backends:
            qx = quant.quantize(x, fmt, backend=be, tensor="input", nonfinite=nonfinite)
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
