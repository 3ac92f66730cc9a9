"""Quantization recipes as the hardware model sees them: one small table from a recipe name to the element/scale
formats of weights and activations, the PE MAC mode they need, their storage bits per element (with block
metadata), the LUT-unit work per block, and the decomposition / SeDA knobs (ALGORITHMS.md sections 4-6).

Layer policy (MODEL.md): embedders and the final layer stay FP16; modulation linears are W4A16 (the recipe's
weight format, FP16 activations); every other block linear uses the recipe's formats; attention matmuls FP16
unless `full_path` quantizes them.
"""
from __future__ import annotations

from dataclasses import dataclass

from quant.errors import UnknownNameError

FP16_BITS = 16.0


@dataclass(frozen=True)
class Recipe:
    """weight_bits / act_bits: storage bits per element including block scales and dialect ids.
    book_size: dialects the LUT unit evaluates per activation block (1 for single-dialect / round-to-nearest
    formats, 0 when activations are not quantized online).  decomp_fraction: salient-token rows re-quantized
    as a residual (extra GEMM rows).  seda: dialect search restricted to a sub-formatbook (D / sub_books)."""

    name: str
    weight_format: str
    act_format: str
    mac_mode: str
    weight_bits: float
    act_bits: float
    book_size: int
    act_selector: str | None = None
    decomp_fraction: float = 0.0
    seda: bool = False
    provenance: str = ""

    @property
    def quantizes_activations(self) -> bool:
        return self.book_size > 0


def _dialect_bits(d: int, block: int = 32, exp_bits: int = 8) -> float:
    """4-bit elements + (log2 D dialect-id bits + 8 exponent bits) per block (ALGORITHMS.md section 8)."""
    return 4 + ((d - 1).bit_length() + exp_bits) / block


_SD = dict(weight_format="dialectfp4-32", act_format="dialectfp4-32", mac_mode="dialect4",
           weight_bits=_dialect_bits(32), act_bits=_dialect_bits(32), book_size=32, act_selector="lut_argmin")
RECIPES = {r.name: r for r in (
    Recipe("fp", "fp16", "fp16", "fp16", FP16_BITS, FP16_BITS, 0, provenance="FP16 everywhere (reference)"),
    Recipe("w8a8", "int8", "int8", "int8", 8.0, 8.0, 1, provenance="INT8 per channel / per token"),
    Recipe("w4a16", "int4_g128", "fp16", "w4a16", 4.125, FP16_BITS, 0, provenance="INT4 g128 weights, FP16 acts"),
    Recipe("int4_g32", "int4_g32", "int4_g32", "int4", 4.5, 4.5, 1, provenance="INT4 per group of 32, FP16 scale"),
    Recipe("mxfp4", "mxfp4", "mxfp4", "dialect4", 4.25, 4.25, 1,
           provenance="OCP MX: E2M1 is DialectFP4 d7, so the dialect MAC runs it"),
    Recipe("nvfp4", "nvfp4", "nvfp4", "fp4_scaled", 4.5, 4.5, 1, provenance="E2M1 + E4M3 block scale, block 16"),
    Recipe("blockdialect", "dialectfp4", "dialectfp4", "dialect4", _dialect_bits(16), _dialect_bits(16), 16,
           act_selector="two_stage", provenance="[BD] DialectFP4-16, exact_mse weights, two-stage activations"),
    Recipe("semanticdialect", decomp_fraction=0.05, seda=True, provenance="[paper]/[ours] D=32 LUT argmin",
           **_SD),
    Recipe("semanticdialect-no-decomp", seda=True, provenance="ablation", **_SD),
    Recipe("semanticdialect-no-seda", decomp_fraction=0.05, provenance="ablation", **_SD),
    Recipe("semanticdialect-d16", "dialectfp4", "dialectfp4", "dialect4", _dialect_bits(16), _dialect_bits(16), 16,
           act_selector="lut_argmin", decomp_fraction=0.05, seda=True, provenance="ablation: D=16"),
)}


def get_recipe(name) -> Recipe:
    if isinstance(name, Recipe):
        return name
    try:
        return RECIPES[name]
    except KeyError:
        raise UnknownNameError("recipe", name, sorted(RECIPES)) from None


def recipe_names() -> list:
    return sorted(RECIPES)
