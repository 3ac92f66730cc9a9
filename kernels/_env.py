"""Where the Triton kernels run, decided once, before any kernel is defined.

Triton reads TRITON_INTERPRET when a kernel is decorated, so this module must be imported before `triton`
(kernels/__init__.py does it first).  Rule:
- a CUDA GPU is visible and TRITON_INTERPRET is unset or "0": kernels compile for the GPU, tensors live on "cuda";
- otherwise the interpreter runs them on CPU tensors (TRITON_INTERPRET=1 is set here when unset).
An explicit TRITON_INTERPRET=0 on a machine without a GPU is refused with an error that says why.
"""
from __future__ import annotations

import os
import sys

import torch

_GPU = torch.cuda.is_available()
_REQUESTED = os.environ.get("TRITON_INTERPRET")
# KERNELS_AOT_CHECK=1 (used by kernels/aot.py in a subprocess): define the kernels for the GPU compiler even
# without a GPU, so that they can be compiled ahead of time; nothing can be launched in that mode.
AOT_CHECK: bool = os.environ.get("KERNELS_AOT_CHECK") == "1"

if AOT_CHECK:
    os.environ["TRITON_INTERPRET"] = "0"
elif _REQUESTED is None:
    os.environ["TRITON_INTERPRET"] = "0" if _GPU else "1"
elif _REQUESTED not in ("0", "1"):
    raise RuntimeError(f"TRITON_INTERPRET must be '0' or '1', got {_REQUESTED!r}")
elif _REQUESTED == "0" and not _GPU:
    raise RuntimeError("TRITON_INTERPRET=0 was requested but no CUDA GPU is visible; unset it (the kernels then "
                       "run in Triton's CPU interpreter) or run on a machine with a GPU")

INTERPRET: bool = os.environ["TRITON_INTERPRET"] == "1"

if INTERPRET and "triton.language" in sys.modules:
    # triton's own jit helpers (tl.max, tl.sum, ...) were decorated when triton was imported; if that happened
    # without TRITON_INTERPRET=1 they cannot run in the interpreter and every kernel would fail obscurely
    from triton.runtime.interpreter import InterpretedFunction
    if not isinstance(sys.modules["triton.language"].max, InterpretedFunction):
        raise RuntimeError("triton was imported before kernels chose the interpreter (no CUDA GPU here); import "
                           "kernels (or set TRITON_INTERPRET=1 in the environment) before importing triton")
DEVICE: str = "cpu" if INTERPRET or (AOT_CHECK and not _GPU) else "cuda"

# Launch options for every kernel.  Fused multiply-add would round a*b+c once instead of twice and break the
# arithmetic contract (NVFP4's fl32(fl32(P*sx)*sw) then fl32(acc+S)); the interpreter ignores these options.
LAUNCH_OPTS = {"enable_fp_fusion": False}


def describe() -> str:
    """One line for logs and benchmark headers."""
    if AOT_CHECK:
        return "ahead-of-time compilation check only (KERNELS_AOT_CHECK=1): kernels cannot be launched"
    if INTERPRET:
        return "Triton interpreter on CPU (TRITON_INTERPRET=1): correctness only, timings are not performance"
    return f"Triton on {torch.cuda.get_device_name(0)}"


def require_triton():
    """Import triton, or raise ModuleNotFoundError that says how to install it."""
    try:
        import triton  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "the Triton back end needs the `triton` package, which is not installed; install it with "
            "pip install 'semdialect-suite[gpu]'  (or: pip install triton)", name="triton") from exc
