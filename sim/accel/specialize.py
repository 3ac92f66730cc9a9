"""Format-specialized designs: from a base design and a recipe, the design that recipe needs, and nothing else.

    spec = specialize(load_arch("edge"), "mxfp4")     # or `specialized_for: mxfp4` in an arch YAML

What a specialized design keeps of its base: array shape, clock, lanes per PE of each kind it keeps, buffers,
DRAM, vector unit and node.  What it changes:
- PE lanes (MAC modes): only the recipe's lane kind for its quantized linears, `w4a16` when it has weight-only
  linears, and `fp16` for the FP-kept layers (embedders, final layer) and FP attention;
- element decoders: follow from the lane kind (dialect ROM decoders for dialect lanes, E2M1 decoders for MXFP4 and
  NVFP4, E4M3 decoders for MX FP8, none for INT), at the array edge (sim/accel/area.py);
- online activation quantizer: the LUT unit only where activations pick a dialect online (book size = the
  recipe's D, banks capped at D, the recipe's selector kind; SeDA scans one sub-book per block on the same LUT
  argmin unit), else one scale-and-round unit
  kind (`act_quantizers`) for MXFP4 / NVFP4 / INT / MX FP8, or nothing for weight-only and FP recipes.
`check_runs` tells whether a design can run a recipe, naming the field that is missing and the valid choices.
"""
from __future__ import annotations

from dataclasses import replace

from .recipes import DIALECT_SELECTORS, HwRecipe, get_recipe
from .schema import SpecError
from .spec import ACT_QUANTIZER_LANES, ArchSpec, LutUnit

FOUR_BIT_LANE_MODES = ("dialect4", "e2m1", "fp4_scaled", "int4")
# lanes per PE when the base design has no lane of the kind: the base's widest 4-bit lane count, halved for INT8
# (an 8x8 product costs about four 5x5 ones, tables in configs/energy) and for FP8 (an 8-bit operand, as INT8) [ours]
INT8_LANE_RATIO = 0.5
EIGHT_BIT_LANE_MODES = ("int8", "fp8")


def modes_needed(hw: HwRecipe) -> list:
    """MAC modes a run of this recipe uses (the embedders and the final layer always run in FP16)."""
    modes = [hw.mac_mode] if hw.quantizes_activations else []
    modes += [x.mac_mode for _, x, _ in hw.attention]
    if hw.weight_only_format != "fp16" and hw.quant_recipe is not None and _has_weight_only(hw):
        modes.append("w4a16")
    return list(dict.fromkeys(modes + ["fp16"]))


def online_needed(hw: HwRecipe) -> dict:
    """Online quantizer kind -> largest formatbook it must scan (0 for scale-and-round kinds)."""
    need = {}
    ops = [(hw.online, hw.book_size)] if hw.quantizes_activations else []
    ops += [(o.online, o.dialects) for _, x, w in hw.attention for o in (x, w)]
    for kind, book in ops:
        need[kind] = max(need.get(kind, 0), book)
    return need


def _has_weight_only(hw: HwRecipe) -> bool:
    from quant.recipes import Action
    return any(r.action == Action.WEIGHT_ONLY for r in hw.quant_recipe.policy)


def _lanes(base: ArchSpec, mode: str) -> int:
    have = dict(base.pe_array.mac_modes)
    if mode in have:
        return have[mode]
    four = max([have[m] for m in FOUR_BIT_LANE_MODES if m in have], default=1)
    if mode in FOUR_BIT_LANE_MODES:
        return four
    if mode in EIGHT_BIT_LANE_MODES:
        return max(1, int(four * INT8_LANE_RATIO))
    return 1


def specialize(base: ArchSpec, recipe) -> ArchSpec:
    """The design `recipe` needs, derived from `base` (see the module docstring)."""
    hw = get_recipe(recipe)
    modes = tuple((m, _lanes(base, m)) for m in modes_needed(hw))
    lu = base.lut_unit
    need = online_needed(hw)
    dialect = {k: d for k, d in need.items() if k in DIALECT_SELECTORS}
    if len(dialect) > 1:
        raise SpecError(base.source_file, "lut_unit.selector",
                        f"recipe {hw.name} selects dialects online with {', '.join(dialect)}; one LUT unit runs one "
                        f"selector kind")
    lut = LutUnit(selector="none", book_size=1, banks=1, units=1, sub_books=1)
    for kind, book in dialect.items():   # SeDA's restricted search: the same LUT argmin unit, D / S passes
        lut = replace(lu, selector=kind, book_size=book, banks=min(lu.banks, book), sub_books=hw.sub_books)
    have = {k: (u, ln) for k, u, ln in base.act_quantizers}
    quantizers = tuple((k, *have.get(k, (lu.units, ACT_QUANTIZER_LANES))) for k in need if k not in DIALECT_SELECTORS)
    return replace(base, name=f"{base.name}+{hw.name}", pe_array=replace(base.pe_array, mac_modes=modes),
                   decode_lut=replace(base.decode_lut, max_dialects=max(hw.book_size, _weight_book(hw), 1)),
                   lut_unit=lut, act_quantizers=quantizers, specialized_for=hw.name,
                   description=f"{base.description} -- specialized for {hw.name}")


def _weight_book(hw: HwRecipe) -> int:
    from quant.registry import get_format
    fmt = get_format(hw.weight_format) if hw.weight_format != "fp16" else None
    return fmt.book.size if fmt is not None and hasattr(fmt, "book_name") and hw.mac_mode == "dialect4" else 0


def scale_array(spec: ArchSpec, rows: int, cols: int) -> ArchSpec:
    """The same design with an R x C PE array (buffers, units and DRAM unchanged)."""
    return replace(spec, pe_array=replace(spec.pe_array, rows=int(rows), cols=int(cols)))


def check_runs(arch: ArchSpec, hw: HwRecipe, modes: set, online: dict | None = None):
    """Raise SpecError (naming the design file, the field and the valid choices) when `arch` cannot run `hw`:
    `modes` the MAC modes its trace uses, `online` quantizer kind -> largest book (default: the recipe's)."""
    have = dict(arch.pe_array.mac_modes)
    missing = sorted(set(modes) - set(have))
    if missing:
        raise SpecError(arch.source_file, "pe_array.mac_modes",
                        f"recipe {hw.name} needs MAC mode(s) {', '.join(missing)} but the design has only "
                        f"{', '.join(have)}; add them, or specialize the design for the recipe "
                        f"(`specialized_for: {hw.name}`)")
    lu = arch.lut_unit
    have = {k for k, _, _ in arch.act_quantizers}
    for kind, book in (online_needed(hw) if online is None else online).items():
        if kind in DIALECT_SELECTORS:
            ok = ("seda", "lut_argmin") if kind == "lut_argmin" else (kind,)
            if lu.selector not in ok:
                raise SpecError(arch.source_file, "lut_unit.selector",
                                f"recipe {hw.name} selects dialects online with {kind}; this design's LUT unit is "
                                f"{lu.selector!r}; valid: {', '.join(ok)}")
            if book > lu.book_size:
                raise SpecError(arch.source_file, "lut_unit.book_size",
                                f"recipe {hw.name} needs a formatbook of D={book} dialects but the LUT unit "
                                f"holds {lu.book_size}; valid: book_size >= {book}")
        elif kind not in have:
            raise SpecError(arch.source_file, "act_quantizers",
                            f"recipe {hw.name} quantizes activations online with {kind!r}; this design has "
                            f"{', '.join(sorted(have)) or 'none'}; add `act_quantizers: {{{kind}: {{units: 4}}}}` "
                            f"or specialize the design")


__all__ = ["specialize", "scale_array", "check_runs", "modes_needed", "online_needed", "DIALECT_SELECTORS"]
