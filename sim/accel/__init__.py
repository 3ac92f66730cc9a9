"""sim.accel: the edge-accelerator model -- arch spec, workload traces, mapping, timing engine, action counts,
energy and area, and the functional back end "accel" (bit-exact quantized GEMM and LUT-unit quantizer).

    from sim.accel import load_arch, build_trace, simulate, specialize
    from sim.accel.estimate import estimate

Exports are resolved lazily, so `import sim.accel.schema` (every spec reader) does not import pandas and the
timing engine.  `specialize` is bound eagerly (cheap) because a submodule of the same name would otherwise shadow
it; `sim.accel.estimate` is the module, its function is `sim.accel.estimate.estimate`.
"""
import importlib

import quant

from .specialize import specialize  # noqa: F401  (see the docstring)

quant.register_backend("accel", "sim.accel.functional")

_EXPORTS = {"SimResult": "engine", "simulate": "engine", "Estimate": "estimate",
            "tile_compute_cycles": "mapping", "HwRecipe": "recipes", "get_recipe": "recipes",
            "recipe_names": "recipes", "SpecError": "schema", "ArchSpec": "spec", "arch_names": "spec",
            "load_arch": "spec", "check_runs": "specialize", "scale_array": "specialize",
            "Trace": "trace", "build_trace": "trace", "gemm_trace": "trace", "ModelShape": "workload",
            "model_shape": "workload", "backend_for": "functional"}
__all__ = sorted(_EXPORTS) + ["specialize"]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sim.accel' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
