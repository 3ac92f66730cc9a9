"""sim.accel: the edge-accelerator model -- arch spec, workload traces, mapping, timing engine, action counts,
energy and area, and the functional back end "accel" (bit-exact quantized GEMM and LUT-unit quantizer).

    from sim.accel import load_arch, build_trace, simulate, estimate
"""
import quant

from .engine import SimResult, simulate
from .estimate import Estimate, estimate
from .mapping import tile_compute_cycles
from .recipes import HwRecipe, get_recipe, recipe_names
from .schema import SpecError
from .spec import ArchSpec, arch_names, load_arch
from .specialize import check_runs, scale_array, specialize
from .trace import Trace, build_trace, gemm_trace
from .workload import ModelShape, model_shape

quant.register_backend("accel", "sim.accel.functional")

__all__ = ["SimResult", "simulate", "Estimate", "estimate", "tile_compute_cycles", "HwRecipe",
           "get_recipe", "recipe_names", "specialize", "scale_array", "check_runs", "SpecError", "ArchSpec", "arch_names", "load_arch", "Trace", "build_trace", "gemm_trace",
           "ModelShape", "model_shape"]
