"""Sweep specifications: versioned YAML -> validated, frozen `SweepSpec` -> the list of points to evaluate.

    version: 1
    name: edge-dse
    evaluator: accel                      # registry in sim.sweep.evaluators
    base: {workload: opensora2-256px, arch: edge, recipe: semanticdialect}
    search: {kind: grid}                  # grid | random (samples, seed) | tune (samples, seed, algorithm)
    space:                                # dotted keys into the resolved config
      arch.pe_array.rows: [8, 16, 32]
      arch.global_buffer.size_bytes: {min: 262144, max: 4194304, log: true, int: true}   # random/tune only
    objectives: {latency_s: min, energy_j: min, area_mm2: min}
    constraints: [{metric: psnr_db, op: ">=", value: 25.0}]
"""
from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

from sim.accel.schema import SpecError, load_yaml

import numpy as np

SPEC_VERSION = 1
SEARCH_KINDS = ("grid", "random", "tune")
TUNE_ALGORITHMS = ("random",)   # Ray Tune's seeded BasicVariantGenerator
OPS = {">=": np.greater_equal, "<=": np.less_equal, ">": np.greater, "<": np.less}
TOP_KEYS = {"version", "name", "evaluator", "base", "search", "space", "objectives", "constraints"}
SEARCH_KEYS = {"kind", "samples", "seed", "algorithm"}
RANGE_KEYS = {"min", "max", "log", "int"}


class SweepSpecError(ValueError):
    """A malformed sweep file: the message names the file and the field."""


@dataclass(frozen=True)
class Constraint:
    metric: str
    op: str
    value: float

    def holds(self, metrics: dict) -> bool:
        v = metrics.get(self.metric)
        return v is not None and bool(OPS[self.op](float(v), self.value))


@dataclass(frozen=True)
class SweepSpec:
    name: str
    evaluator: str
    base: dict
    search_kind: str
    samples: int
    seed: int
    algorithm: str
    space: dict          # dotted key -> list of values, or {"min", "max", "log", "int"}
    objectives: dict     # metric -> "min" | "max"
    constraints: tuple = field(default_factory=tuple)
    source: str = "<dict>"

    def points(self) -> list:
        """The resolved configurations of a grid or random sweep, in a deterministic order."""
        if self.search_kind == "grid":
            keys = sorted(self.space)
            combos = itertools.product(*(self.space[k] for k in keys))
            return [resolve(self.base, dict(zip(keys, c))) for c in combos]
        if self.search_kind == "random":
            rng = np.random.default_rng(self.seed)
            return [resolve(self.base, {k: _draw(self.space[k], rng) for k in sorted(self.space)})
                    for _ in range(self.samples)]
        raise SweepSpecError(f"{self.source}: search.kind 'tune' generates points adaptively (use the Ray Tune runner)")


def _draw(dom, rng):
    if isinstance(dom, list):
        return dom[int(rng.integers(len(dom)))]
    lo, hi = float(dom["min"]), float(dom["max"])
    v = float(np.exp(rng.uniform(np.log(lo), np.log(hi)))) if dom.get("log") else float(rng.uniform(lo, hi))
    return int(round(v)) if dom.get("int") else v


def resolve(base: dict, overrides: dict) -> dict:
    """Deep copy of `base` with dotted-key overrides applied (creating nested dicts as needed)."""
    cfg = json.loads(json.dumps(base))
    for key, value in overrides.items():
        node = cfg
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise SweepSpecError(f"space key {key!r}: {p!r} is not a mapping in the base config")
        node[parts[-1]] = value.item() if hasattr(value, "item") else value
    return cfg


def point_id(config: dict) -> str:
    """Stable identity of a resolved configuration (sha1 of its canonical JSON)."""
    return hashlib.sha1(json.dumps(config, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def load_sweep(path) -> SweepSpec:
    try:
        raw = load_yaml(path)          # one YAML reader for every spec file: names the file, line and column
    except SpecError as exc:
        raise SweepSpecError(str(exc)) from None
    return parse_sweep(raw, str(path))


def parse_sweep(raw, source: str = "<dict>") -> SweepSpec:
    def bad(field_, msg):
        return SweepSpecError(f"{source}: field '{field_}': {msg}")

    if not isinstance(raw, dict):
        raise SweepSpecError(f"{source}: top level must be a mapping")
    for k in raw:
        if k not in TOP_KEYS:
            raise bad(k, f"unknown key; valid keys: {', '.join(sorted(TOP_KEYS))}")
    if raw.get("version") != SPEC_VERSION:
        raise bad("version", f"must be {SPEC_VERSION}, got {raw.get('version')!r}")
    search = raw.get("search") or {"kind": "grid"}
    for k in search:
        if k not in SEARCH_KEYS:
            raise bad(f"search.{k}", f"unknown key; valid keys: {', '.join(sorted(SEARCH_KEYS))}")
    kind = search.get("kind", "grid")
    if kind not in SEARCH_KINDS:
        raise bad("search.kind", f"must be one of {', '.join(SEARCH_KINDS)}, got {kind!r}")
    if search.get("algorithm", "random") not in TUNE_ALGORITHMS:
        raise bad("search.algorithm", f"must be one of {', '.join(TUNE_ALGORITHMS)}, got {search['algorithm']!r}")
    samples = search.get("samples", 0 if kind == "grid" else None)
    if kind != "grid" and (not isinstance(samples, int) or samples < 1):
        raise bad("search.samples", f"must be a positive integer for a {kind} search, got {samples!r}")
    space = raw.get("space") or {}
    if not isinstance(space, dict) or not space:
        raise bad("space", "must be a non-empty mapping of dotted keys to value lists or ranges")
    for key, dom in space.items():
        _check_domain(key, dom, kind, bad)
    objectives = raw.get("objectives") or {}
    if not objectives or any(v not in ("min", "max") for v in objectives.values()):
        raise bad("objectives", "must map metric names to 'min' or 'max'")
    constraints = []
    for i, c in enumerate(raw.get("constraints") or []):
        if not isinstance(c, dict) or set(c) != {"metric", "op", "value"} or c["op"] not in OPS:
            raise bad(f"constraints[{i}]", f"need {{metric, op, value}} with op in {', '.join(OPS)}")
        constraints.append(Constraint(str(c["metric"]), c["op"], float(c["value"])))
    base = dict(raw.get("base") or {})
    evaluator = str(raw.get("evaluator", "accel"))
    from sim.sweep.evaluators import EVALUATORS
    if evaluator not in EVALUATORS:
        raise bad("evaluator", f"unknown evaluator {evaluator!r}; valid: {', '.join(sorted(EVALUATORS))}")
    if evaluator == "accel":      # every space value checked as the point field it overrides, before any point runs
        from sim.sweep.space_check import check_accel
        check_accel(base, space, bad)
    _check_quality(base, objectives, constraints, bad)
    return SweepSpec(
        name=str(raw.get("name", Path(source).stem)), evaluator=evaluator,
        base=base, search_kind=kind, samples=int(samples or 0),
        seed=int(search.get("seed", 0)), algorithm=str(search.get("algorithm", "random")), space=dict(space),
        objectives=dict(objectives), constraints=tuple(constraints), source=source)


def _check_quality(base: dict, objectives: dict, constraints: list, bad):
    """Objectives and constraints on quality columns need `base.quality.study` with those columns (checked now,
    before any point runs)."""
    from sim.sweep.accel_eval import METRICS
    wanted = [m for m in [*objectives, *(c.metric for c in constraints)]
              if m not in METRICS and not m.startswith("energy.") and m != "edp_js"]
    q = base.get("quality")
    if not wanted and not q:
        return
    if not isinstance(q, dict) or "study" not in q:
        raise bad("base.quality", f"metric(s) {', '.join(wanted)} are not accelerator metrics "
                  f"({', '.join(METRICS)}); quality metrics need base.quality: {{study: <sim study folder>, "
                  f"mode: none}}")
    unknown = sorted(set(q) - {"study", "mode", "columns"})
    if unknown:
        raise bad(f"base.quality.{unknown[0]}", "unknown key; valid keys: study, mode, columns")
    from sim.accel.compare import QUALITY_COLUMNS, load_quality
    from sim.accel.schema import SpecError
    columns = tuple(dict.fromkeys([*q.get("columns", QUALITY_COLUMNS), *wanted]))
    try:
        load_quality(q["study"], str(q.get("mode", "none")), columns)
    except SpecError as exc:
        raise bad("base.quality.study", str(exc)) from None
    q["columns"] = list(columns)


def _check_domain(key, dom, kind, bad):
    if isinstance(dom, list):
        if not dom:
            raise bad(f"space.{key}", "empty value list")
        return
    if isinstance(dom, dict):
        if kind == "grid":
            raise bad(f"space.{key}", "a grid sweep needs an explicit value list, not a range")
        unknown = set(dom) - RANGE_KEYS
        if unknown or not {"min", "max"} <= set(dom):
            raise bad(f"space.{key}", f"a range needs min and max (optional log, int); got keys {sorted(dom)}")
        if not float(dom["min"]) < float(dom["max"]) or (dom.get("log") and float(dom["min"]) <= 0):
            raise bad(f"space.{key}", f"need 0 < min < max for log ranges and min < max otherwise; got {dom}")
        return
    raise bad(f"space.{key}", f"must be a list of values or a range mapping, got {type(dom).__name__}")
