"""Triton kernels for the hot paths, each beside its host wrapper; the "triton" back end of `quant`.

    import quant
    q = quant.quantize(x, "dialectfp4", backend="triton")
    y = quant.qgemm(q, qw, backend="triton")

`_env` is imported first: it picks the Triton interpreter (TRITON_INTERPRET=1) when no CUDA GPU is present,
which must happen before any kernel is defined.  The kernels themselves live in `kernels.backend` and the modules
it imports, so `import kernels` works without triton installed.
"""
from . import _env  # noqa: F401  (must precede any import of triton)
