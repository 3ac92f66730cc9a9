"""sim.accel: the edge-accelerator model -- arch spec, workload traces, mapping, timing engine, action counts,
energy and area, and the functional back end "accel" (bit-exact quantized GEMM and LUT-unit quantizer).

    from sim.accel import load_arch, build_trace, simulate, estimate
"""
import quant

from .engine import SimResult, simulate
from .estimate import Estimate, estimate
from .mapping import tile_compute_cycles
from .recipes import RECIPES, Recipe, get_recipe
from .schema import SpecError
from .spec import ArchSpec, arch_names, load_arch
from .trace import Trace, build_trace, gemm_trace
from .workload import ModelShape, model_shape

quant.register_backend("accel", "sim.accel.functional")

__all__ = ["SimResult", "simulate", "Estimate", "estimate", "tile_compute_cycles", "RECIPES", "Recipe",
           "get_recipe", "SpecError", "ArchSpec", "arch_names", "load_arch", "Trace", "build_trace", "gemm_trace",
           "ModelShape", "model_shape"]
