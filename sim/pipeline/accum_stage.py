"""The synthetic stage of `sim verify`: accumulation-order GEMMs and rounding-tie activations on every back end.

The model slice cannot tell a float32 accumulator from a float64 one (its partials add up exactly), nor a
round-half-up from a round-half-down (few of its values sit on ties).  This stage runs vectors made to tell them
apart (quant/vectors.py) and returns one tidy row per (back end, format, check):

- check "accumulation": Y = X W^T of `accumulation_order_operands`, compared bit for bit with the contract's
  float32 ascending-block accumulation (quant.vectors.accumulate_in); `float64_share` is the share of the back
  end's outputs that differ from what a float64 accumulator gives (a faithful back end: the vectors' share, at
  least MIN_FLOAT64_SHARE; a float64 accumulator: 0);
- check "rounding_ties": quantizing `rounding_tie_activations` on the back end, compared element by element
  (code and the block's dialect, exponent or scale bits) with the reference; the reference itself is compared with
  the independent pure-Python spec of quant/golden.py.  A back end that runs the reference's quantizer for a
  format (no rounding of its own there) is skipped with that reason, never counted as checked.

A back end that cannot be loaded (e.g. triton not installed) gets rows with `skipped` set and checked = 0.
"""
from __future__ import annotations

import numpy as np

from .coverage import register_synthetic_stage

import quant
from quant import golden
from quant.formats import E2M1, FP8_E4M3, FP16, IntElementFormat
from quant.qtensor import QTensor, pack_nibbles
from quant.registry import DialectFormat, MXFloatFormat, ScaledIntFormat, get_format
from quant.vectors import accumulate_in, accumulation_order_operands, differing_share, rounding_tie_activations

STAGE_FORMATS = ("dialectfp4", "dialectfp4-32", "mxfp4", "nvfp4", "int4_g32", "int4_g128")
GEMM_ROWS, GEMM_COLS, GEMM_BLOCKS = 16, 16, 8      # [ours] small: the Triton interpreter runs these too
TIE_ROWS, TIE_BLOCKS = 8, 4
MIN_FLOAT64_SHARE = 0.30    # [ours] the vectors give 0.89-1.0 (tests/test_accumulation_order.py); 0.30 is margin
# back end -> selectors whose rounding it implements itself (others run the reference selector)
_OWN_DIALECT_SELECTORS = {"numba": ("lut_argmin", "exact_mse", "two_stage"), "accel": ("lut_argmin",),
                          "triton": ("lut_argmin", "two_stage", "exact_mse")}
_OWN_SCALED = {"triton"}    # float-scaled formats: only Triton has its own quantize kernels


def _row(backend, fmt, check, checked=0, identical=0, float64_share=None, skipped=None) -> dict:
    passed = None if skipped else bool(checked > 0 and identical == checked and
                                       (float64_share is None or float64_share >= MIN_FLOAT64_SHARE))
    return dict(backend=backend, format=fmt, check=check, checked=int(checked), identical=int(identical),
                float64_share=float64_share, skipped=skipped, passed=passed)


def own_rounding_skip(backend: str, fmt: str) -> str | None:
    """None when `backend` quantizes `fmt` (default selector) with its own rounding, else why it does not."""
    f = get_format(fmt)
    if backend == "reference":
        return None
    if isinstance(f, DialectFormat):
        sel = f.default_selector
        # Triton runs exact_mse in a kernel only on single-dialect books (kernels/backend.py: HOST_SELECTORS)
        host_only = backend == "triton" and sel == "exact_mse" and f.book.size > 1
        if sel in _OWN_DIALECT_SELECTORS.get(backend, ()) and not host_only:
            return None
        return f"{backend} runs the reference selector {sel!r} for {fmt}"
    if backend in _OWN_SCALED:
        return None
    return f"{backend} runs the reference quantizer for {fmt} (no quantize path of its own)"


def accumulation_row(backend: str, fmt: str, seed: int = 0) -> dict:
    """GEMM of the accumulation-order operands on `backend` against the contract's float32 accumulation."""
    block = get_format(fmt).default_block
    qx, qw = accumulation_order_operands(GEMM_ROWS, GEMM_BLOCKS * block, GEMM_COLS, fmt, seed)
    y = np.asarray(quant.qgemm(qx, qw, backend=backend))
    want = accumulate_in(qx, qw, np.float32)
    if y.dtype != np.float32 or y.shape != want.shape:          # nothing to compare bit for bit
        return _row(backend, fmt, "accumulation", want.size, 0, 0.0)
    return _row(backend, fmt, "accumulation", want.size, int(np.sum(y.view(np.int32) == want.view(np.int32))),
                differing_share(y, accumulate_in(qx, qw, np.float64)))


def _element_bits(qt) -> np.ndarray:
    """(R, nb*block) int64 keys: code, dialect and the block's exponent or scale bits, so that two QTensors agree
    on an element exactly when every bit that decides its value agrees."""
    per_block = qt.exponent.astype(np.int64) if qt.exponent is not None else qt.scale.view(np.int32).astype(np.int64)
    meta = (per_block << 8) | qt.dialect.astype(np.int64)
    return (np.repeat(meta, qt.block, axis=1) << 8) | qt.element_codes().astype(np.int64)


def identical_elements(a, b) -> int:
    """Elements of two QTensors of one shape whose code and block fields agree bit for bit (0 when the shapes,
    formats or tensor scales differ: then every element's value is in doubt)."""
    if a.fmt != b.fmt or tuple(a.shape) != tuple(b.shape) or a.block != b.block or \
            np.float32(a.tensor_scale).tobytes() != np.float32(b.tensor_scale).tobytes():
        return 0
    return int(np.sum(_element_bits(a) == _element_bits(b)))


def _golden_blocks(f, x: np.ndarray):
    """Per block of x, quant/golden.py's (dialect, exponent or scale, codes), or None without a golden spec."""
    rows = [[float(v) for v in r] for r in x]
    blocks = [r[i:i + f.default_block] for r in rows for i in range(0, len(r), f.default_block)]
    if isinstance(f, DialectFormat):
        if f.default_selector == "lut_argmin":
            book = tuple(tuple(int(h) for h in lv) for lv in f.book.magnitudes)
            return [golden.lut_argmin_block(b, book) for b in blocks]
        if f.book.size == 1 and tuple(f.book.magnitudes[0]) == golden.DIALECTFP4[7]:      # E2M1 nearest (MXFP4)
            return [(0, *golden.mxfp4_block(b)[:2]) for b in blocks]
        return None
    if isinstance(f.element, IntElementFormat) and f.element.bits == 4 and f.scale_format is FP16:
        return [(0, *golden.int_fp16_block(b, f.element.qmax)) for b in blocks]
    return None


def golden_qtensor(x: np.ndarray, fmt: str):
    """The QTensor that quant/golden.py's pure-Python spec gives for float32 x (R, K), K a multiple of the block,
    or None when golden has no spec for fmt (independent of the library: the reference's check)."""
    f = get_format(fmt)
    r, k = x.shape
    nb = k // f.default_block
    if isinstance(f, MXFloatFormat) and f.element is FP8_E4M3:
        blocks = [golden.mxfp8_block([float(v) for v in row[i:i + f.default_block]])
                  for row in x for i in range(0, k, f.default_block)]
        return f.make_qtensor((r, k), f.default_block, np.array([b[1] for b in blocks]).reshape(r, k),
                              np.array([b[0] for b in blocks]).reshape(r, nb))
    if isinstance(f, ScaledIntFormat) and f.element is E2M1 and f.scale_format is FP8_E4M3 \
            and f.tensor_scale_divisor == 2688.0:                 # golden.nvfp4_tensor's fixed divisor 6 * 448
        g, scales, codes, _ = golden.nvfp4_tensor([float(v) for v in x.reshape(-1)], f.default_block)
        return QTensor(fmt, (r, k), f.default_block, pack_nibbles(np.array(codes).reshape(r, k)), np.zeros((r, nb), np.uint8),
                       scale=np.array(scales, np.float32).reshape(r, nb), tensor_scale=g)
    per_block = _golden_blocks(f, x)
    if per_block is None:
        return None
    dialect = np.array([b[0] for b in per_block]).reshape(r, nb).astype(np.uint8)
    second = np.array([b[1] for b in per_block]).reshape(r, nb)
    codes = pack_nibbles(np.array([c for b in per_block for c in b[2]]).reshape(r, k))
    if isinstance(f, DialectFormat):
        return QTensor(fmt, (r, k), f.default_block, codes, dialect, exponent=second.astype(np.int8))
    return QTensor(fmt, (r, k), f.default_block, codes, dialect, scale=second.astype(np.float32))


def ties_row(backend: str, fmt: str, seed: int = 0) -> dict:
    """Quantize rounding-tie activations on `backend` and compare with the reference (the reference: with
    quant/golden.py's spec)."""
    skip = own_rounding_skip(backend, fmt)
    if skip:
        return _row(backend, fmt, "rounding_ties", skipped=skip)
    f = get_format(fmt)
    x = rounding_tie_activations(TIE_ROWS, TIE_BLOCKS * f.default_block, fmt, seed)
    want = golden_qtensor(x, fmt) if backend == "reference" else quant.quantize(x, fmt)
    if want is None:
        return _row(backend, fmt, "rounding_ties", skipped=f"quant/golden.py has no independent spec for {fmt}")
    got = quant.quantize(x, fmt, backend=backend)
    return _row(backend, fmt, "rounding_ties", x.size, identical_elements(got, want))


def _load_error(backend: str) -> str | None:
    try:
        if backend == "accel":
            import sim.accel  # noqa: F401  (registers the accel back end)
        quant.get_backend(backend)
    except (ModuleNotFoundError, ImportError, RuntimeError) as exc:
        return f"back end {backend!r} unavailable: {exc}"
    return None


def run_accumulation_stage(backends, formats=STAGE_FORMATS, seed: int = 0) -> list:
    """One dict per (back end, format, check) -- keys backend, format, check ("accumulation" or "rounding_ties"),
    checked, identical, float64_share (accumulation only), skipped (reason or None), passed (None when skipped).
    The stage passes when every row that is not skipped passed (`stage_passed`)."""
    rows = []
    for backend in backends:
        err = _load_error(backend)
        for fmt in formats:
            if err:
                rows += [_row(backend, fmt, c, skipped=err) for c in ("accumulation", "rounding_ties")]
                continue
            rows += [accumulation_row(backend, fmt, seed), ties_row(backend, fmt, seed)]
    return rows


def stage_passed(rows) -> bool:
    """True when at least one row was checked and every checked row passed."""
    checked = [r for r in rows if r["skipped"] is None]
    return bool(checked) and all(r["passed"] for r in checked)


def _stage(check: str):
    """A `sim verify` synthetic stage (sim.pipeline.coverage): the outputs of every stage format on one back end,
    checked against the contract; formats the back end hands to the reference are named, not counted."""
    def stage(backend: str, reference: str) -> tuple:
        rows = [accumulation_row(backend, f) if check == "accumulation" else ties_row(backend, f)
                for f in STAGE_FORMATS]
        done = [r for r in rows if r["skipped"] is None]
        detail = [f"{r['format']} skipped ({r['skipped']})" for r in rows if r["skipped"] is not None]
        if check == "accumulation" and done:
            share = min(r["float64_share"] for r in done)
            detail.insert(0, f"a float64 accumulator would differ in >= {share:.0%} of the outputs")
        return sum(r["checked"] for r in done), sum(r["identical"] for r in done), "; ".join(detail)
    return stage


register_synthetic_stage("accumulation_order", _stage("accumulation"))
register_synthetic_stage("rounding_ties", _stage("rounding_ties"))
