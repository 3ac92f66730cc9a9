"""The hardware view of a quantization recipe, derived from quant's recipe catalog and formats (never retyped).

Every recipe that `quant.recipe_names()` knows (or a quant `Recipe` object, or a recipe YAML file) has a hardware
view: the PE lane kind (MAC mode) its fully quantized linears need, the storage bits per element of each operand
(block metadata included, from the format objects), the online activation quantizer it needs (a dialect selector
for dialect formats, a scale-and-round unit for MXFP4 / NVFP4 / INT / MXFP8), the formatbook size the LUT unit scans, the
decomposition rows and the SeDA sub-book count.  The layer policy (which linear is FP, weight-only or fully
quantized) is the quant recipe's own regex policy, asked per layer name (`layer_policy`).
"""
from __future__ import annotations

from dataclasses import dataclass

from quant.errors import QuantError

FP16_BITS = 16.0
# Online activation quantizers.  Dialect selectors run on the LUT unit; scale-and-round quantizers are the
# `act_quantizers` of a design (amax tree, scale, rounding; no dialect search).
DIALECT_SELECTORS = ("lut_argmin", "two_stage")
SCALE_QUANTIZERS = ("e2m1_round", "nvfp4_scale", "int_scale", "e4m3_round")
# PE lane kinds (MAC modes) and how their block partials are scaled:
#   pow2      exact 2^(ex+ew-2) shift + float32 accumulate (rtl_models/hdl/bs_fp32_acc.v)
#   pow2_wide MX FP8 (fp8 lanes): the 41-bit integer partial times 2^(ex+ew-18), rounded once to float32, + float32
#             accumulate (quant/gemm.py; no RTL yet)
#   e4m3      E4M3 x E4M3 scale product applied to the integer partial + float32 accumulate (NVFP4)
#   float     float32 scale multiplications (INT4 FP16 group scales, INT8 per-row scales once per output)
BLOCK_SCALE_KIND = {"dialect4": "pow2", "e2m1": "pow2", "fp4_scaled": "e4m3", "int4": "float", "int8": "float",
                    "fp8": "pow2_wide"}
# element decoders at the array edge: 5-bit signed integers for the 4-bit lanes; E4M3 -> (sign, 4-bit significand,
# 4-bit shift) for the fp8 lanes
DECODER_KIND = {"dialect4": "dialect", "e2m1": "e2m1", "fp4_scaled": "e2m1", "fp8": "e4m3"}
POLICIES = ("fp", "mod", "quant")


@dataclass(frozen=True)
class OperandHw:
    """One online-quantized operand of an activation x activation matmul (full-path attention): its format, PE
    lane kind, storage bits per element, online quantizer, dialects scanned per block and block size."""
    fmt: str
    mac_mode: str
    bits: float
    online: str
    dialects: int
    block: int


@dataclass(frozen=True)
class HwRecipe:
    """weight_bits / act_bits: storage bits per element with block scales and dialect ids (SeDA: the shorter
    in-sub-book ids).  online: the activation quantizer ("" when activations stay FP16).  book_size: dialects
    the LUT unit scans per block before SeDA's restriction (0 without a dialect selector).  block: elements per
    block of the activation operand (0 = one scale per row, INT8).  weight_only_bits: weights of weight-only
    (modulation) linears.  sub_books: SeDA's S (1 without SeDA)."""

    name: str
    weight_format: str
    act_format: str
    mac_mode: str
    weight_bits: float
    act_bits: float
    online: str
    book_size: int
    block: int
    weight_only_format: str
    weight_only_bits: float
    decomp_fraction: float = 0.0
    sub_books: int = 1
    full_path: bool = False
    notes: tuple = ()
    quant_recipe: object = None          # the quant.Recipe this view was derived from
    attention: tuple = ()                # (("qk", x OperandHw, w OperandHw), ("pv", ...)) quantized matmuls

    @property
    def quantizes_activations(self) -> bool:
        return bool(self.online)

    @property
    def seda(self) -> bool:
        return self.sub_books > 1

    @property
    def dialect_online(self) -> bool:
        return self.online in DIALECT_SELECTORS

    def attention_operands(self, what_if: bool = False) -> dict:
        """matmul ("qk" | "pv") -> (X operand, W operand) of the quantized attention matmuls: the recipe's own
        `attention` knob, or with `what_if` (sim estimate --full-path) the linears' activation format on all four
        operands for a recipe without one."""
        if self.attention or not what_if or not self.quantizes_activations:
            return {m: (x, w) for m, x, w in self.attention}
        op = OperandHw(self.act_format, self.mac_mode, self.act_bits, self.online,
                       -(-self.book_size // self.sub_books) if self.dialect_online else 0, self.block)
        return {"qk": (op, op), "pv": (op, op)}

    @property
    def k_smoothing(self) -> bool:
        """The recipe subtracts K's per-channel mean over the tokens before quantizing K (a vector-unit pass)."""
        return self.quant_recipe is not None and self.quant_recipe.attention.k_smoothing

    def layer_policy(self, layer: str) -> str:
        """'fp', 'mod' (weight-only) or 'quant' for a linear named like the model's module (quant's policy)."""
        if self.quant_recipe is None:
            return "fp"
        from quant.recipes import Action
        action = self.quant_recipe.action_for(layer)
        return {Action.FULL: "quant", Action.WEIGHT_ONLY: "mod"}.get(action, "fp")


def mac_mode_of(fmt) -> str:
    """The PE lane kind that multiplies elements of a quant format object."""
    if getattr(fmt, "scale_kind", None) == "pow2_wide":      # MX FP8 (quant/mx_float.py)
        return "fp8"
    book = getattr(fmt, "book_name", None)
    if book is not None:
        return "e2m1" if book == "e2m1" else "dialect4"
    if getattr(fmt, "unit", 1.0) == 0.5:                      # E2M1 elements in half-units with a float scale
        return "fp4_scaled"
    return "int4" if fmt.element_bits == 4 else "int8"


def online_kind(fmt, selector: str | None, seda: bool) -> str:
    """The online quantizer an activation spec needs."""
    if getattr(fmt, "book_name", None) is not None:
        if fmt.fixed_selector:
            return "e2m1_round"                               # MXFP4: RNE of the scaled value, no search
        sel = selector or fmt.default_selector
        if seda and sel != "lut_argmin":
            raise QuantError(f"SeDA restricts the LUT argmin search; activation selector {sel!r} has no hardware "
                             f"model with SeDA")
        if sel not in DIALECT_SELECTORS:
            raise QuantError(f"activation selector {sel!r} has no online hardware model; online dialect selectors: "
                             f"{', '.join(DIALECT_SELECTORS)}")
        return sel
    return {"fp4_scaled": "nvfp4_scale", "fp8": "e4m3_round"}.get(mac_mode_of(fmt), "int_scale")


def _bits(fmt, block: int | None, sub_books: int = 1, spec=None) -> float:
    """Storage bits per element of an operand: the format's at `block` with the spec's exponent-sharing knobs
    (quant/exponents.py), or SeDA's shorter in-sub-book ids."""
    from quant.exponents import split_knobs
    shared = split_knobs(spec.knob_dict)[1] if spec is not None else {}
    if sub_books > 1:
        if shared:
            raise QuantError(f"SeDA with shared exponents ({', '.join(sorted(shared))}) has no bit accounting")
        from quant.seda import seda_bits_per_element
        return seda_bits_per_element(fmt.book.size, sub_books, block or fmt.default_block, 1, 0, fmt.exponent_bits)
    return float(fmt.bits_per_element(block=block, **shared))


def operand_hw(spec, block: int | None = None) -> OperandHw:
    """The hardware view of one online-quantized operand spec (a quant TensorSpec)."""
    from quant.registry import get_format
    fmt = get_format(spec.fmt)
    online = online_kind(fmt, spec.selector, False)
    return OperandHw(spec.fmt, mac_mode_of(fmt), _bits(fmt, block, spec=spec), online,
                     fmt.book.size if online in DIALECT_SELECTORS else 0, block or fmt.default_block or 0)


def _attention_hw(r) -> tuple:
    """Quantized attention matmuls of a quant recipe; a one-operand ablation has no hardware form (FP16)."""
    att, out = r.attention, []
    for name, (a, b) in (("qk", ("q", "k")), ("pv", ("p", "v"))):
        sx, sw = getattr(att, a), getattr(att, b)
        if sx is None or sw is None:
            continue
        x, w = operand_hw(sx), operand_hw(sw)
        if x.mac_mode != w.mac_mode:
            raise QuantError(f"recipe {r.name}: attention.{a} ({sx.fmt}) and attention.{b} ({sw.fmt}) need "
                             f"different PE lanes ({x.mac_mode}, {w.mac_mode})")
        out.append((name, x, w))
    return tuple(out)


def _refuse_activation_only(r):
    """A recipe with ACTIVATION_ONLY linears (the W16A4 split ablations) has no hardware view: no PE lane
    multiplies 4-bit activations by float weights, and pricing them as FP16 would misstate what the recipe does."""
    from quant.recipes import Action
    rules = [p.pattern for p in r.policy if p.action is Action.ACTIVATION_ONLY]
    if rules:
        raise QuantError(f"recipe {r.name} quantizes only the activations of some linears (activation_only rule "
                         f"{rules[0]!r}): a quality ablation with no hardware view (no PE lane multiplies 4-bit "
                         f"activations by float weights); estimate its W4A4 base recipe or a -w4a16 variant instead")


def derive(recipe) -> HwRecipe:
    """The hardware view of a quant recipe (a name, a YAML path or a quant.Recipe)."""
    from quant.recipes import recipe as quant_recipe
    from quant.registry import get_format
    r = quant_recipe(recipe).resolved()
    _refuse_activation_only(r)
    wo = r.weight_only_spec
    wo_fmt = get_format(wo.fmt) if wo is not None else None
    base = dict(name=r.name, weight_only_format=wo.fmt if wo else "fp16",
                weight_only_bits=_bits(wo_fmt, r.block, spec=wo) if wo_fmt else FP16_BITS, full_path=r.full_path,
                notes=tuple(r.notes), quant_recipe=r, attention=_attention_hw(r))
    if r.weight is None or r.activation is None:
        return HwRecipe(weight_format=wo.fmt if wo else "fp16", act_format="fp16", mac_mode="fp16",
                        weight_bits=base["weight_only_bits"], act_bits=FP16_BITS, online="", book_size=0, block=0,
                        **base)
    fw, fx = get_format(r.weight.fmt), get_format(r.activation.fmt)
    mode = mac_mode_of(fx)
    if mac_mode_of(fw) != mode:
        raise QuantError(f"recipe {r.name}: weights in {r.weight.fmt} ({mac_mode_of(fw)} lanes) and activations in "
                         f"{r.activation.fmt} ({mode} lanes) need different PE lanes; no design multiplies them")
    s = r.seda.n_subbooks if r.seda.enabled else 1
    online = online_kind(fx, r.activation.selector, s > 1)
    block = r.block or fx.default_block or 0
    return HwRecipe(weight_format=r.weight.fmt, act_format=r.activation.fmt, mac_mode=mode,
                    weight_bits=_bits(fw, r.block, spec=r.weight), act_bits=_bits(fx, r.block, s, r.activation),
                    online=online,
                    book_size=fx.book.size if online in DIALECT_SELECTORS else 0, block=block,
                    decomp_fraction=r.decomposition.salient_fraction if r.decomposition.enabled else 0.0,
                    sub_books=s, **base)


def get_recipe(name) -> HwRecipe:
    """A HwRecipe passed through, or the hardware view of a quant recipe name / YAML path / Recipe."""
    return name if isinstance(name, HwRecipe) else derive(name)


def recipe_names() -> list:
    from quant.recipes import recipe_names as names
    return names()
