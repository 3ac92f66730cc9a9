"""Back-end registry for the hot paths (dialect select + encode, quantized GEMM).

"reference" is the NumPy spec; "numba" the CPU fast path; other packages (kernels/ for "triton") register
themselves with `register_backend`.  A back end that needs a missing optional dependency raises an error that
says what to install.

A back end is a module (registered by its import path, imported on first use) or an object with the same
functions.  A back end built from a hardware design takes it as `get_backend(name, arch=...)`: the module's
`backend_for(arch)` builds it ("accel": sim.accel.functional, the accelerator's datapath for an ArchSpec, a
shipped design name or a YAML path).  Such an object may register itself under its own name, and a back-end
object is accepted wherever a back-end name is.
"""
from __future__ import annotations

import importlib

from .errors import QuantError, UnknownNameError

# name -> module path that defines `select_encode(selector, xb, e, book, **knobs)` and
# `qgemm(qx, qw, bias=None, residual=None, residual_rows=None)`, or an object that does
_BACKENDS = {
    "reference": "quant.reference_backend",
    "numba": "quant.fast",
    "triton": "kernels.backend",
    "accel": "sim.accel.functional",   # the accelerator model's functional datapath (sim/ registers no import here)
}
_INSTALL_HINT = {"numba": "pip install numba", "triton": "pip install 'semdialect-suite[gpu]' (triton)"}
_PROTOCOL = ("select_encode", "qgemm")


def register_backend(name: str, module):
    """`module`: an import path (str) or a back-end object with select_encode and qgemm."""
    if not isinstance(module, str) and not all(hasattr(module, f) for f in _PROTOCOL):
        raise QuantError(f"back end {name!r}: an object must define {' and '.join(_PROTOCOL)}")
    _BACKENDS[name] = module


def backend_names() -> list:
    return sorted(_BACKENDS)


def get_backend(name, arch=None):
    """The back end registered as `name` (or a back-end object passed through); with `arch`, the one built
    from that design by the back end's `backend_for`."""
    if not isinstance(name, str):
        if not all(hasattr(name, f) for f in _PROTOCOL):
            raise UnknownNameError("backend", name, backend_names())
        if arch is not None:
            raise QuantError(f"back end {name} is already built; pass arch= with a back-end name instead")
        return name
    if name not in _BACKENDS:
        raise UnknownNameError("backend", name, backend_names())
    be = _BACKENDS[name]
    if isinstance(be, str):
        try:
            be = importlib.import_module(be)
        except ModuleNotFoundError as exc:
            hint = _INSTALL_HINT.get(name, "")
            raise ModuleNotFoundError(f"back end {name!r} is unavailable: {exc}. Install it with: {hint}") from exc
    if arch is None:
        return be
    if not hasattr(be, "backend_for"):
        raise QuantError(f"back end {name!r} is not built from a hardware design; drop arch= "
                         f"(design-built back ends: accel)")
    return be.backend_for(arch)
