"""quant: formats, formatbooks, selectors, QTensor, and the bit-exact reference (NumPy) and fast path (Numba).

    import quant
    book = quant.formatbook("dialectfp4")
    q = quant.quantize(x, "mxfp4")
    y = quant.qgemm(qx, qw)
"""
from .api import qgemm, quantize
from .backends import backend_names, get_backend, register_backend
from .errors import NonFiniteError, QuantError, ShapeError, UnknownNameError
from .formatbooks import (DIALECTFP4, E2M1_BOOK, Dialect, Formatbook, formatbook, formatbook_names,
                          register_formatbook)
from .formats import E2M1, E8M0, ELEMENT_FORMATS, FP8_E4M3, FP8_E5M2, FP16, INT4, INT8
from .qtensor import QTensor, pack_nibbles, unpack_nibbles
from .registry import format_names, get_format, register_format
from .selectors import SELECTORS, get_selector, register_selector

__all__ = [
    "qgemm", "quantize", "backend_names", "get_backend", "register_backend", "NonFiniteError", "QuantError",
    "ShapeError", "UnknownNameError", "DIALECTFP4", "E2M1_BOOK", "Dialect", "Formatbook", "formatbook",
    "formatbook_names", "register_formatbook", "E2M1", "E8M0", "ELEMENT_FORMATS", "FP8_E4M3", "FP8_E5M2", "FP16",
    "INT4", "INT8", "QTensor", "pack_nibbles", "unpack_nibbles", "format_names", "get_format", "register_format",
    "SELECTORS", "get_selector", "register_selector",
]
from .learn import freeze_source, learn_formatbook
from .recipes import Recipe, recipe, recipe_names


def quantize_model(model, recipe, backend: str = "reference", context=None, track_sqnr: bool = False):
    """Quantize a torch model in place per a recipe (see quant.torch_layers.quantize_model); imports torch lazily."""
    from .torch_layers import quantize_model as _quantize_model
    return _quantize_model(model, recipe, backend=backend, context=context, track_sqnr=track_sqnr)


__all__ += ["Recipe", "recipe", "recipe_names", "quantize_model", "learn_formatbook", "freeze_source"]
