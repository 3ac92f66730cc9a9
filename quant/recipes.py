"""Quantization recipes: frozen data naming what every linear of a VDiT becomes (docs/features.md, docs/model.md).

A recipe is printable, round-trips through a dict and YAML exactly, and is saved with every result.  Named
recipes live in a small registry (`recipe(name)`, `recipe_names()`); a YAML file path works too.

Policy: an ordered list of (regex, action) rules matched with `re.fullmatch` against the module name; the first
matching rule wins; a linear that no rule matches stays in FP (and is listed as unmatched in the QuantContext).

Provenance tags on every knob: [paper] SemanticDialect abstract, [BD] BlockDialect, [ours] our reconstruction.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from pathlib import Path

from .errors import QuantError, UnknownNameError

RECIPE_SCHEMA_VERSION = 1


class Action(str, Enum):
    """What a selected linear becomes."""
    FP = "fp"                    # untouched nn.Linear
    WEIGHT_ONLY = "weight_only"  # W4A16-style: quantized-then-dequantized weights, FP activations and matmul
    FULL = "full"                # weights offline + activations online, quantized GEMM on a back end
    ACTIVATION_ONLY = "activation_only"  # W16A4-style ablation [ours]: activations quantized online (decomposition
    #                                      and SeDA as for FULL) and dequantized, float weights, float32 matmul


@dataclass(frozen=True)
class TensorSpec:
    """How one operand is quantized: a registered format (see `quant.format_names()`) and, for dialect formats,
    a selector (see `quant.SELECTORS`; None = the format's default) with its knobs, e.g. (("threshold", 1),)."""
    fmt: str
    selector: str | None = None
    knobs: tuple = ()

    @property
    def knob_dict(self) -> dict:
        return dict(self.knobs)


@dataclass(frozen=True)
class PolicyRule:
    pattern: str    # regex, matched with re.fullmatch against the dotted module name
    action: Action

    def __post_init__(self):
        object.__setattr__(self, "action", Action(self.action))
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise QuantError(f"policy rule {self.pattern!r} is not a valid regex: {exc}") from None


FIRST_STEP_FALLBACKS = ("row_norm", "none")
SALIENT_SOURCES = ("attention", "row_norm")


@dataclass(frozen=True)
class Decomposition:
    """Activation decomposition [paper]: salient rows get their residual re-quantized.

    salient_fraction: share of token rows per linear call (top-k, at least 1 row when > 0) [ours: 0.05].
    source: "attention" = attention received at the same block in the previous denoising step [paper];
            "row_norm" = L2 norm of the input rows (no attention needed) [ours].
    first_step: what "attention" does when no previous-step attention exists (first step, or a model without a
            recorder): "row_norm" (use the input row norms as a proxy) or "none" (no residual) [ours].
    """
    enabled: bool = False
    salient_fraction: float = 0.05
    source: str = "attention"
    first_step: str = "row_norm"

    def __post_init__(self):
        _check_choice("decomposition.source", self.source, SALIENT_SOURCES)
        _check_choice("decomposition.first_step", self.first_step, FIRST_STEP_FALLBACKS)
        if not 0.0 <= self.salient_fraction <= 1.0:
            raise QuantError(f"decomposition.salient_fraction must be in [0, 1], got {self.salient_fraction}")


SEDA_PARTITIONS = ("shape", "range")


@dataclass(frozen=True)
class Seda:
    """Semantic-aware dialect assignment [paper]; details [ours] (see quant/seda.py).

    n_subbooks: S sub-formatbooks (D/S dialects each) [ours: 2, chosen by `sim tune` on calibration prompts
            (results/study/tuning.csv: S=2 beat S=4 and S=8 with and without outlier injection)].  n_anchors: anchor tokens per sample [ours: 8].
    refresh_every: token groups are rebuilt every T denoising steps from the attention map [ours: 5].
    partition: "shape" (each sub-book spans the ranges with one upper-magnitude shape) or "range" [ours].
    """
    enabled: bool = False
    n_subbooks: int = 2
    n_anchors: int = 8
    refresh_every: int = 5
    partition: str = "shape"

    def __post_init__(self):
        _check_choice("seda.partition", self.partition, SEDA_PARTITIONS)
        for k in ("n_subbooks", "n_anchors", "refresh_every"):
            if getattr(self, k) < 1:
                raise QuantError(f"seda.{k} must be >= 1, got {getattr(self, k)}")


# docs/features.md#policy default policy: embedders and the final layer FP, modulation W4A16, every other block linear full.
FP_EDGE_LAYERS = r"img_in|cond_in|txt_in|time_in\..*|vector_in\..*|final_layer\..*"
MODULATION = r"double_blocks\.\d+\.(img|txt)_mod\.lin|single_blocks\.\d+\.modulation\.lin"
BLOCK_LINEARS = r"(double|single)_blocks\.\d+\..*"


def default_policy(block_action: Action = Action.FULL) -> tuple:
    return (PolicyRule(FP_EDGE_LAYERS, Action.FP), PolicyRule(MODULATION, Action.WEIGHT_ONLY),
            PolicyRule(BLOCK_LINEARS, block_action))


@dataclass(frozen=True)
class AttentionQuant:
    """Full-path attention: how the operands of the attention matmuls are quantized [BD: "full-path matrix
    multiplication"; every detail ours].

    q, k: operands of S = Q K^T, blocked along the head dimension; p, v: operands of O = P V, blocked along the
    tokens (P's rows times V's columns; a token count that is not a whole number of blocks is zero-padded, which
    is exact).  Each is a TensorSpec (a registered format and its online selector) or None = not quantized (the
    model's float32 path).  Both operands of a quantized matmul use formats of one scale family and block; a spec for only one operand of a matmul is a quality ablation (that operand quantized and
    dequantized, the matmul in float32; no hardware meaning).  k_smoothing: subtract the per-head mean of K over the tokens before quantizing (adds the
    same q.mean(k) to every score of a row, which softmax cancels) [SageAttention; ours here].
    """
    q: TensorSpec | None = None
    k: TensorSpec | None = None
    p: TensorSpec | None = None
    v: TensorSpec | None = None
    k_smoothing: bool = False

    @property
    def qk(self) -> bool:
        """QK^T runs as a quantized GEMM (both operands quantized)."""
        return self.q is not None and self.k is not None

    @property
    def pv(self) -> bool:
        return self.p is not None and self.v is not None

    @property
    def enabled(self) -> bool:
        return any(getattr(self, o) is not None for o in ATTENTION_OPERANDS)


ATTENTION_OPERANDS = ("q", "k", "p", "v")


@dataclass(frozen=True)
class Recipe:
    """Everything that decides how a model is quantized.

    weight / activation: operands of FULL linears (ACTIVATION_ONLY linears use `activation` alone);
           weight_only: the weight of WEIGHT_ONLY linears (None = weight).
    block: elements per block for every quantized operand (None = each format's default; weights and activations
           must agree for the GEMM).
    formatbook / formatbook_fallback: for dialect recipes, the requested book; a TensorSpec whose fmt equals
           `formatbook` is rewritten by `resolved()` to the fallback when the book is not in the catalog (with a
           warning and a note), so saved results always name the book actually used.
    attention: full-path quantization of the attention matmuls QK^T and PV (AttentionQuant; off by default).
    """
    name: str
    weight: TensorSpec | None = None
    activation: TensorSpec | None = None
    weight_only: TensorSpec | None = None
    block: int | None = None
    policy: tuple = ()
    decomposition: Decomposition = field(default_factory=Decomposition)
    seda: Seda = field(default_factory=Seda)
    formatbook: str | None = None
    formatbook_fallback: str | None = None
    attention: AttentionQuant = field(default_factory=AttentionQuant)
    notes: tuple = ()

    def __post_init__(self):
        object.__setattr__(self, "policy", tuple(r if isinstance(r, PolicyRule) else PolicyRule(*r)
                                                  for r in self.policy))
        object.__setattr__(self, "notes", tuple(self.notes))
        acts = {r.action for r in self.policy}
        if Action.FULL in acts and (self.weight is None or self.activation is None):
            raise QuantError(f"recipe {self.name}: a FULL policy rule needs both weight and activation specs")
        if Action.WEIGHT_ONLY in acts and self.weight_only_spec is None:
            raise QuantError(f"recipe {self.name}: a WEIGHT_ONLY policy rule needs a weight or weight_only spec")
        if Action.ACTIVATION_ONLY in acts and self.activation is None:
            raise QuantError(f"recipe {self.name}: an ACTIVATION_ONLY policy rule needs an activation spec")
        if (self.decomposition.enabled or self.seda.enabled) and self.activation is None:
            raise QuantError(f"recipe {self.name}: decomposition/SeDA need an activation spec")

    @property
    def weight_only_spec(self) -> TensorSpec | None:
        return self.weight_only or self.weight

    @property
    def full_path(self) -> bool:
        """True when the attention matmuls are quantized too."""
        return self.attention.enabled

    def action_for(self, module_name: str) -> Action | None:
        """The first matching rule's action, or None when no rule matches (the module then stays FP)."""
        for rule in self.policy:
            if re.fullmatch(rule.pattern, module_name):
                return rule.action
        return None

    # ---- resolution of the requested formatbook ----
    def resolved(self) -> "Recipe":
        """This recipe with `formatbook` replaced by the fallback when the catalog lacks it (warns, adds a note)."""
        from .formatbooks import formatbook_names
        if self.formatbook is None or self.formatbook in formatbook_names():
            return self
        if self.formatbook_fallback is None:
            raise UnknownNameError("formatbook", self.formatbook, formatbook_names())
        old, new = self.formatbook, self.formatbook_fallback
        warnings.warn(f"recipe {self.name}: formatbook {old!r} is not in the catalog yet; using "
                      f"{new!r} instead (the result is recorded under the book actually used)", stacklevel=2)
        swap = lambda s: s if s is None or s.fmt != old else replace(s, fmt=new)
        att = replace(self.attention, **{o: swap(getattr(self.attention, o)) for o in ATTENTION_OPERANDS})
        return replace(self, weight=swap(self.weight), activation=swap(self.activation),
                       weight_only=swap(self.weight_only), attention=att, formatbook=new, formatbook_fallback=None,
                       notes=self.notes + (f"[ours] fallback: requested formatbook {old} unavailable, used {new}",))

    # ---- serialization ----
    def to_dict(self) -> dict:
        d = asdict(self)
        d["policy"] = [[r.pattern, r.action.value] for r in self.policy]
        for k in ("weight", "activation", "weight_only"):
            if d[k] is not None:
                d[k]["knobs"] = [list(kv) for kv in d[k]["knobs"]]
        for k in ATTENTION_OPERANDS:
            if d["attention"][k] is not None:
                d["attention"][k]["knobs"] = [list(kv) for kv in d["attention"][k]["knobs"]]
        d["notes"] = list(self.notes)
        return {"version": RECIPE_SCHEMA_VERSION, **d}

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        d = dict(d)
        version = d.pop("version", RECIPE_SCHEMA_VERSION)
        if version != RECIPE_SCHEMA_VERSION:
            raise QuantError(f"recipe schema version {version} is not supported (this library reads "
                             f"{RECIPE_SCHEMA_VERSION})")
        if d.pop("full_path", False):          # recipe files of schema 1 before `attention` existed
            raise QuantError("recipe: field 'full_path' is replaced by 'attention' (q, k, p, v operand specs); "
                             "e.g. attention: {q: {fmt: dialectfp4-32}, k: ..., p: ..., v: ...}")
        _reject_unknown("recipe", d, cls)
        for k in ("weight", "activation", "weight_only"):
            if d.get(k) is not None:
                d[k] = _tensor_spec(f"recipe.{k}", d[k])
        if "attention" in d:
            _reject_unknown("recipe.attention", d["attention"], AttentionQuant)
            att = dict(d["attention"])
            for k in ATTENTION_OPERANDS:
                if att.get(k) is not None:
                    att[k] = _tensor_spec(f"recipe.attention.{k}", att[k])
            d["attention"] = AttentionQuant(**att)
        for k, typ in (("decomposition", Decomposition), ("seda", Seda)):
            if k in d:
                _reject_unknown(f"recipe.{k}", d[k], typ)
                d[k] = typ(**d[k])
        d["policy"] = tuple(PolicyRule(p, Action(a)) for p, a in d.get("policy", ()))
        d["notes"] = tuple(d.get("notes", ()))
        return cls(**d)

    def to_yaml(self) -> str:
        import yaml
        return yaml.safe_dump(self.to_dict(), sort_keys=False, width=120)

    @classmethod
    def from_yaml(cls, text: str) -> "Recipe":
        """Parse recipe YAML (duplicate keys and non-finite numbers refused, as in every YAML file read)."""
        import yaml
        from . import strict_yaml
        try:
            data = strict_yaml.load(text)
        except yaml.YAMLError as exc:
            raise QuantError(f"recipe YAML: {strict_yaml.describe(exc)}") from None
        if not isinstance(data, dict):
            raise QuantError("recipe YAML must be a mapping")
        bad = strict_yaml.nonfinite_field(data)
        if bad is not None:
            raise QuantError(f"recipe YAML: field {bad[0]!r}: got {bad[1]!r}; expected a finite number")
        return cls.from_dict(data)

    def describe(self) -> str:
        """A readable multi-line summary (what `print` users want; repr stays the exact dataclass repr)."""
        lines = [f"recipe {self.name}"]
        for k in ("weight", "activation", "weight_only"):
            s = getattr(self, k)
            if s is not None:
                lines.append(f"  {k}: {s.fmt} selector={s.selector or 'default'} knobs={dict(s.knobs)}")
        lines.append(f"  block: {self.block or 'format default'}; formatbook: {self.formatbook}")
        lines += [f"  policy: {r.pattern} -> {r.action.value}" for r in self.policy]
        lines.append(f"  decomposition: {self.decomposition}")
        lines.append(f"  seda: {self.seda}")
        if self.attention.enabled:
            lines.append(f"  attention: {self.attention}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _tensor_spec(where: str, d) -> TensorSpec:
    _reject_unknown(where, d, TensorSpec)
    spec = dict(d)
    spec["knobs"] = tuple(tuple(kv) for kv in spec.get("knobs", ()))
    return TensorSpec(**spec)


def _check_choice(what: str, value, valid):
    if value not in valid:
        raise UnknownNameError(what, value, valid)


def _reject_unknown(where: str, d: dict, cls):
    if not isinstance(d, dict):
        raise QuantError(f"{where}: expected a mapping, got {type(d).__name__}")
    known = {f.name for f in fields(cls)}
    bad = sorted(set(d) - known)
    if bad:
        raise QuantError(f"{where}: unknown field(s) {bad}; valid fields: {sorted(known)}")


# --- the registry ------------------------------------------------------------------------------------------
_RECIPES: dict = {}


def register_recipe(r: Recipe, replace_existing: bool = False) -> Recipe:
    if r.name in _RECIPES and not replace_existing and _RECIPES[r.name] != r:
        raise QuantError(f"recipe name {r.name!r} already registered")
    _RECIPES[r.name] = r
    return r


def recipe_names() -> list:
    return sorted(_RECIPES)


def recipe(name) -> Recipe:
    """A named recipe, a Recipe passed through, or a YAML file path (ending in .yaml/.yml)."""
    if isinstance(name, Recipe):
        return name
    if isinstance(name, (str, Path)) and str(name).endswith((".yaml", ".yml")) and Path(name).is_file():
        return Recipe.from_yaml(Path(name).read_text())
    try:
        return _RECIPES[name]
    except KeyError:
        raise UnknownNameError("recipe", name, recipe_names()) from None


# --- the named recipes ---------------------------------------------------------------------------------------
_PROV_4BIT = "[ours] policy per docs/features.md#policy: embedders/final layer FP, modulation weight-only, block linears full"


def _four_bit(name: str, fmt: str, note: str) -> Recipe:
    spec = TensorSpec(fmt)
    return Recipe(name, weight=spec, activation=spec, policy=default_policy(), notes=(note, _PROV_4BIT))


def _dialect(name: str, book: str, act: TensorSpec, decomp: bool, seda: bool, fallback: str | None,
             notes: tuple) -> Recipe:
    return Recipe(name, weight=TensorSpec(book, "exact_mse"), activation=act, policy=default_policy(),
                  decomposition=Decomposition(enabled=decomp), seda=Seda(enabled=seda), formatbook=book,
                  formatbook_fallback=fallback, notes=notes + (_PROV_4BIT,))


_SD_NOTES = ("[paper] LUT-argmin online selection, activation decomposition, SeDA",
             "[ours] D=32 book dialectfp4-32, calibrated on calibration prompts (quant/learned_books.py); "
             "dialectfp4 (D=16) is the fallback if it is not registered",
             "[ours] decomposition: 5% salient rows by previous-step attention received; first step: row norms",
             "[ours] SeDA: S=2 shape partition (tuned on calibration prompts), 8 anchors per sample, refresh every 5 steps",
             "[BD] weights: exact_mse over the formatbook")
_SD_ACT = TensorSpec("dialectfp4-32", "lut_argmin")

for _r in (
    Recipe("fp", policy=(PolicyRule(".*", Action.FP),), notes=("reference: every linear in FP32",)),
    Recipe("w8a8", weight=TensorSpec("int8"), activation=TensorSpec("int8"), policy=default_policy(),
           notes=("INT8 per output channel (weights) / per token (activations), FP32 scale amax/127, RNE",
                  "[ours] modulation linears W8A16 (the recipe's weight format, weight-only)", _PROV_4BIT)),
    Recipe("w4a16", weight=TensorSpec("int4_g128"), policy=default_policy(Action.WEIGHT_ONLY),
           notes=("INT4 per group of 128, FP16 scale, weight-only; FP activations and matmul",
                  "[ours] every block linear weight-only; embedders/final layer FP")),
    _four_bit("int4_g32", "int4_g32", "W4A4 INT4 per group of 32 (FP16 scale amax/7, RNE) on both operands"),
    _four_bit("mxfp4", "mxfp4", "OCP MX v1.0 MXFP4 on both operands"),
    _four_bit("nvfp4", "nvfp4", "NVFP4 (E4M3 block scale, FP32 tensor scale) on both operands"),
    _dialect("blockdialect", "dialectfp4", TensorSpec("dialectfp4", "two_stage", (("threshold", 1),)),
             False, False, None, ("[BD] DialectFP4-16, exact_mse weights, two_stage activations",
                                  "[ours] two_stage threshold 1")),
    _dialect("semanticdialect", "dialectfp4-32", _SD_ACT, True, True, "dialectfp4", _SD_NOTES),
    _dialect("semanticdialect-no-decomp", "dialectfp4-32", _SD_ACT, False, True, "dialectfp4",
             _SD_NOTES + ("ablation: decomposition off",)),
    _dialect("semanticdialect-no-seda", "dialectfp4-32", _SD_ACT, True, False, "dialectfp4",
             _SD_NOTES + ("ablation: SeDA off",)),
    _dialect("semanticdialect-d16", "dialectfp4", TensorSpec("dialectfp4", "lut_argmin"), True, True, None,
             _SD_NOTES + ("ablation: D=16 formatbook (dialectfp4) instead of the D=32 book",)),
):
    register_recipe(_r)
# variant [ours]: NVFP4's granularity (block 16) for both operands; costs 13/16 instead of 13/32 bits of block
# metadata per element (8-bit exponent + 5-bit dialect id), i.e. more bits than NVFP4's 4.5
register_recipe(replace(_dialect("semanticdialect-b16", "dialectfp4-32", _SD_ACT, True, True, "dialectfp4",
                                 _SD_NOTES + ("[ours] variant: block 16 for weights and activations",)), block=16))


# --- full-path recipes: the attention matmuls quantized too [BD: full-path; every choice below ours] ---------------
def _full_path(name: str, base: str, att: AttentionQuant, note: str) -> Recipe:
    r = recipe(base)
    return replace(r, name=name, attention=att, notes=r.notes + (note,))


_SD_ATT = _SD_ACT      # the recipe's own dialect format and LUT-argmin selector, online on both operands
_INT8 = TensorSpec("int8_g32")
_FP8 = TensorSpec("fp8_e4m3_g32")
for _r in (
    _full_path("semanticdialect-fullpath", "semanticdialect",
               AttentionQuant(_SD_ATT, _SD_ATT, _SD_ATT, _SD_ATT, k_smoothing=True),
               "[ours] full path: Q, K, P and V in dialectfp4-32 with LUT-argmin selection online; K smoothed (the "
               "SageAttention family's trick), chosen on calibration prompts: results/study-fullpath/"
               "k_smoothing_calibration.csv (python -m bench.calib_k_smoothing)"),
    _full_path("semanticdialect-attn8", "semanticdialect",
               AttentionQuant(_INT8, _INT8, _FP8, _FP8, k_smoothing=True),
               "full path, SageAttention2-like: INT8 Q K^T with K smoothed and FP8 (E4M3) P V, as SageAttention2; "
               "[ours] INT8 per block of 32 along K with an FP32 scale, and MXFP8 (OCP MX v1.0: E4M3 with one E8M0 "
               "scale per block of 32 along K) for P and V instead of SageAttention2's own FP8 scales (per channel for V)"),
    _full_path("nvfp4-fullpath", "nvfp4", AttentionQuant(*(TensorSpec("nvfp4"),) * 4, k_smoothing=True),
               "[ours] full path, SageAttention3-like: NVFP4 (E2M1, E4M3 scale per 16) for Q, K, P and V, K smoothed "
               "as in semanticdialect-fullpath"),
    # one quantized operand at a time (quality ablations: the other operand stays float32)
    *(_full_path(f"semanticdialect-attn-{o}", "semanticdialect", AttentionQuant(**{o: _SD_ATT}, k_smoothing=o == "k"),
                 f"ablation [ours]: only attention operand {o.upper()} quantized (dequantized, float32 matmul)")
      for o in ATTENTION_OPERANDS),
):
    register_recipe(_r)

# the W16A4 / W4A16 split ablations and the bit-fair variants live beside this module (registered on import)
from . import recipe_variants  # noqa: E402,F401
