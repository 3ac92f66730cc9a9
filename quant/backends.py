"""Back-end registry for the hot paths (dialect select + encode, quantized GEMM).

"reference" is the NumPy spec; "numba" the CPU fast path; other packages (kernels/ for "triton") register
themselves with `register_backend`.  A back end that needs a missing optional dependency raises an error that
says what to install.
"""
from __future__ import annotations

import importlib

from .errors import UnknownNameError

# name -> module path that defines `select_encode(selector, xb, e, book, **knobs)` and
# `qgemm(qx, qw, bias=None, residual=None, residual_rows=None)`
_BACKENDS = {
    "reference": "quant.reference_backend",
    "numba": "quant.fast",
    "triton": "kernels.backend",
    "accel": "sim.accel.functional",   # the accelerator model's functional datapath (sim/ registers no import here)
}
_INSTALL_HINT = {"numba": "pip install numba", "triton": "pip install 'semdialect-suite[gpu]' (triton)"}


def register_backend(name: str, module: str):
    _BACKENDS[name] = module


def backend_names() -> list:
    return sorted(_BACKENDS)


def get_backend(name: str):
    if name not in _BACKENDS:
        raise UnknownNameError("backend", name, backend_names())
    try:
        return importlib.import_module(_BACKENDS[name])
    except ModuleNotFoundError as exc:
        hint = _INSTALL_HINT.get(name, "")
        raise ModuleNotFoundError(f"back end {name!r} is unavailable: {exc}. Install it with: {hint}") from exc
