"""Validation of an `accel` sweep's base and space when the sweep file is read, before any point runs: every
space entry is checked as the point field it overrides (a design field through load_arch with the base's
overrides, a recipe through the recipe registry, a workload through the workload presets), each value on its
own, so that `arch_overrides.pe_array.rowz` or a negative size is refused naming the sweep file, the space key
and the value, not reported later as N failed points blamed on the base design's YAML."""
from __future__ import annotations

import json

from sim import defaults
from sim.accel.schema import SpecError
from sim.accel.spec import DATAFLOWS

# the point fields sim.sweep.accel_eval.evaluate reads
POINT_KEYS = ("workload", "arch", "arch_overrides", "recipe", "dataflow", "specialize", "full_path", "quality")


def _values(dom) -> list:
    """The values to check of a domain: a list's items, a range's ends (rounded like the sampler for int)."""
    if isinstance(dom, list):
        return dom
    ends = [dom["min"], dom["max"]]
    return [int(round(float(v))) for v in ends] if dom.get("int") else ends


def _nested(dotted: str, value) -> dict:
    out = value
    for part in reversed(dotted.split(".")):
        out = {part: out}
    return out


def _merge(base: dict, over: dict) -> dict:
    out = json.loads(json.dumps(base))
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def check_accel(base: dict, space: dict, bad) -> None:
    """`bad(field, message)` builds the SweepSpecError naming the sweep file and the field."""
    for k in base:
        if k not in POINT_KEYS:
            raise bad(f"base.{k}", f"unknown point field; valid: {', '.join(POINT_KEYS)}")
    overrides = base.get("arch_overrides") or {}
    if not isinstance(overrides, dict):
        raise bad("base.arch_overrides", "must be a mapping of design fields")
    for k in ("workload", "arch", "recipe", "dataflow", "specialize", "full_path"):
        if k in base:
            _check_value(k, base[k], base, overrides, lambda msg, k=k: bad(f"base.{k}", msg))
    if overrides:
        _check_design(base.get("arch", defaults.ARCH), overrides, lambda msg: bad("base.arch_overrides", msg))
    for key, dom in space.items():
        top, _, rest = key.partition(".")
        if top not in POINT_KEYS or top == "quality" or (top == "arch_overrides") != bool(rest):
            raise bad(f"space.{key}", f"not a point field; valid: {', '.join(k for k in POINT_KEYS if k != 'quality')}"
                                      f" or arch_overrides.<design field> (e.g. arch_overrides.pe_array.rows)")
        for v in _values(dom):
            where = lambda msg, v=v: bad(f"space.{key}", f"value {v!r}: {msg}")  # noqa: E731
            if top == "arch_overrides":
                _check_design(base.get("arch", defaults.ARCH), _merge(overrides, _nested(rest, v)), where)
            else:
                _check_value(top, v, base, overrides, where)


def _check_design(arch, overrides, bad):
    from sim.accel.spec import load_arch
    try:
        return load_arch(arch, overrides or None)
    except SpecError as exc:
        where = f"design field {exc.field!r} ({exc.file})" if exc.field else exc.file
        raise bad(f"{where}: {exc.problem}") from None


def _check_value(key, v, base, overrides, bad):
    from sim.accel.recipes import recipe_names
    from sim.accel.workload import workload_names
    if key == "workload" and v not in workload_names():
        raise bad(f"unknown workload; valid: {', '.join(workload_names())}")
    if key == "recipe" and v not in recipe_names():
        raise bad(f"unknown recipe; valid: {', '.join(recipe_names())}")
    if key == "dataflow" and v is not None and v not in DATAFLOWS:
        raise bad(f"unknown dataflow; valid: {', '.join(DATAFLOWS)}")
    if key in ("specialize", "full_path") and not isinstance(v, bool):
        raise bad("must be true or false")
    if key == "arch":
        if not isinstance(v, str):
            raise bad("must be a design name or a YAML path")
        _check_design(v, overrides, bad)
    if key == "recipe" and base.get("specialize"):
        from sim.accel.specialize import specialize
        try:
            specialize(_check_design(base.get("arch", defaults.ARCH), overrides, bad), v)
        except SpecError as exc:
            raise bad(f"the design cannot be specialized for it: {exc}") from None
