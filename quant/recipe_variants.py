"""Named recipe variants derived from the base recipes of quant/recipes.py (registered when it is imported).

Bit-fair variant [ours] (docs/features.md#bit-fair): `semanticdialect-fair`, a dialect recipe at NVFP4's block of
16 within NVFP4's 4.5 bits per element, metadata and decomposition residual included (see FAIR_* below).

Split ablations [ours] (docs/features.md#split-ablations): for every 4-bit recipe `<base>`,
- `<base>-w16a4`: the activations of every block linear quantized exactly as in `<base>` (its format, selector,
  block, activation decomposition and SeDA), dequantized, and multiplied by the float weights in float32
  (Action.ACTIVATION_ONLY); modulation linears stay FP, since `<base>` quantizes only their weights;
- `<base>-w4a16`: the weights of every block and modulation linear quantized as in `<base>` (weight-only, FP
  activations and matmul), no activation quantization (so no decomposition, no SeDA).
They are quality ablations: which operand costs `<base>` its error.  The accelerator model has no PE lane for
4-bit activations times float weights, so `-w16a4` recipes have no hardware view (sim/accel/recipes.py refuses
them by name); `-w4a16` recipes cost as weight-only linears.
"""
from __future__ import annotations

from dataclasses import replace

from .recipes import (_PROV_4BIT, FP_EDGE_LAYERS, MODULATION, BLOCK_LINEARS, Action, Decomposition, PolicyRule,
                      Seda, recipe, register_recipe)

SPLIT_BASES = ("mxfp4", "nvfp4", "int4_g32", "blockdialect", "semanticdialect", "semanticdialect-fair")
_W16A4_POLICY = (PolicyRule(FP_EDGE_LAYERS, Action.FP), PolicyRule(MODULATION, Action.FP),
                 PolicyRule(BLOCK_LINEARS, Action.ACTIVATION_ONLY))
_W4A16_POLICY = (PolicyRule(FP_EDGE_LAYERS, Action.FP), PolicyRule(MODULATION, Action.WEIGHT_ONLY),
                 PolicyRule(BLOCK_LINEARS, Action.WEIGHT_ONLY))


# --- the bit-fair dialect variant [ours] (docs/features.md#bit-fair) ------------------------------------------
# Chosen by bench/bitfair_search.py on calibration prompts (results/bitfair/calibration.csv, candidate
# tensor-o3-d8-dec2.5): block 16 like NVFP4; per block a 3-bit exponent offset below one 8-bit reference per tensor
# and a 3-bit id into the 8-dialect book dialect8-b16 (learned for block 16 on calibration prompts):
# 4 + (3 + 3) / 16 = 4.375 bits per element for weights and activations; a 2.5 % activation decomposition
# residual (same format) brings the activations to about 4.49 (4.487 measured on the tiny VDiT), under NVFP4's 4.5.
FAIR_EXPONENTS = (("exponent_span", "tensor"), ("exponent_offset_bits", 3))
FAIR_BOOK = "dialect8-b16"
FAIR_SALIENT_FRACTION = 0.025
_FAIR_NOTES = (
    "[ours] bit-fair dialect variant: block 16, per block a 3-bit exponent offset below a per-tensor 8-bit reference "
    "(exponent_span=tensor, exponent_offset_bits=3) and a 3-bit dialect id: 4 + (3 + 3)/16 = 4.375 bits per element",
    "[ours] formatbook dialect8-b16: 8 dialects learned for block 16 on calibration prompts (quant/learned_books.py)",
    "[paper] activation decomposition; [ours] 2.5 % salient rows by previous-step attention (first step: row "
    "norms): activations with residual stay within 4.5 bits per element (4.487 measured on the tiny VDiT)",
    "[paper] LUT-argmin online selection; [BD] weights: exact_mse over the formatbook",
    "[ours] no SeDA: its sub-book choice uses each block's own exponent, not the shared one",
    "[ours] chosen by bench/bitfair_search.py on calibration prompts only (results/bitfair/calibration.csv)",
)


def semanticdialect_fair():
    from .recipes import Recipe, TensorSpec, default_policy
    return Recipe("semanticdialect-fair", weight=TensorSpec(FAIR_BOOK, "exact_mse", FAIR_EXPONENTS),
                  activation=TensorSpec(FAIR_BOOK, "lut_argmin", FAIR_EXPONENTS), block=16, policy=default_policy(),
                  decomposition=Decomposition(enabled=True, salient_fraction=FAIR_SALIENT_FRACTION),
                  formatbook=FAIR_BOOK, notes=_FAIR_NOTES + (_PROV_4BIT,))


register_recipe(semanticdialect_fair())


def _base_notes(r, drop_weight_notes: bool = False) -> tuple:
    """The base recipe's notes without its policy note (and, for W16A4, without notes on its weight selector)."""
    return tuple(n for n in r.notes if n != _PROV_4BIT and not (drop_weight_notes and "weights:" in n))


def w16a4(base: str):
    """`<base>-w16a4`: activations as in `base`, float weights (see the module docstring)."""
    r = recipe(base)
    return replace(r, name=f"{base}-w16a4", weight=None, weight_only=None, policy=_W16A4_POLICY,
                   notes=_base_notes(r, drop_weight_notes=True) + (
                       f"[ours] split ablation W16A4 of {base}: block-linear activations quantized as in {base} "
                       f"(decomposition and SeDA included), dequantized, times float32 weights in float32; "
                       f"embedders, final layer and modulation linears FP",))


def w4a16(base: str):
    """`<base>-w4a16`: weights as in `base`, FP activations (see the module docstring)."""
    r = recipe(base)
    return replace(r, name=f"{base}-w4a16", activation=None, policy=_W4A16_POLICY, decomposition=Decomposition(),
                   seda=Seda(), notes=_base_notes(r) + (
                       f"[ours] split ablation W4A16 of {base}: weights of block and modulation linears quantized "
                       f"as in {base}, dequantized, FP activations and float32 matmul; embedders and final layer FP",))


def split_names(base: str) -> tuple:
    return f"{base}-w16a4", f"{base}-w4a16"


for _base in SPLIT_BASES:
    register_recipe(w16a4(_base))
    register_recipe(w4a16(_base))
