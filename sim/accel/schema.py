"""Declarative schemas for versioned YAML specs: validation that rejects unknown keys and names the file, the
field (dotted path) and the valid range of any error.  Used by the architecture spec and the energy tables.

A schema is a nested dict: field name -> `Field` (a leaf), a nested dict (a section) or `MapOf` (a section whose
keys are free names, each value validated by one sub-schema).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from quant import strict_yaml


class SpecError(ValueError):
    """A bad spec file: says which file, which field, what is wrong and what is valid."""

    def __init__(self, file, field: str, problem: str):
        self.file, self.field, self.problem = str(file), field, problem
        where = f"{self.file}: field {field!r}" if field else self.file
        super().__init__(f"{where}: {problem}")


_MISSING = object()


@dataclass(frozen=True)
class Field:
    """A leaf value.  kind: int | float | str | bool; lo/hi: inclusive range; choices: allowed values."""

    kind: type
    lo: float | None = None
    hi: float | None = None
    choices: tuple | None = None
    default: object = _MISSING
    nullable: bool = False
    doc: str = ""

    def valid_range(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        lo = "-inf" if self.lo is None else self.lo
        hi = "inf" if self.hi is None else self.hi
        return f"a {self.kind.__name__} in [{lo}, {hi}]" if self.kind in (int, float) else f"a {self.kind.__name__}"


@dataclass(frozen=True)
class MapOf:
    """A section with free keys (optionally restricted to `keys`); every value follows `schema`."""

    schema: object
    keys: tuple | None = None
    min_items: int = 1


@dataclass(frozen=True)
class ListOf:
    """A list whose items all follow `schema`."""

    schema: object
    min_items: int = 1


def load_yaml(path) -> dict:
    """Read a YAML file into a dict, turning parse errors into one SpecError line.  Duplicate keys (line and
    column named) and non-finite numbers such as `.nan` (field named) are refused in every file read here."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(path, "", "file not found")
    st = path.stat()
    # a sweep reads the same design and energy table per point: parse once per file version, hand out copies
    return copy.deepcopy(_parsed_yaml(str(path), st.st_mtime_ns, st.st_size))


class _Duplicate(Exception):
    pass


class _FastLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """libyaml's parser (several times faster) with the same constructors; a duplicate key, or anything it does
    not accept, sends the text to strict_yaml's pure-Python loader, whose errors are the ones users see."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            keys = [self.construct_object(k, deep=True) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"]
            try:
                if len(set(keys)) != len(keys):
                    raise _Duplicate
            except TypeError:
                raise _Duplicate from None             # unhashable key: let the strict loader report it
        return super().construct_mapping(node, deep=deep)


def _load_text(text: str):
    try:
        return yaml.load(text, Loader=_FastLoader)
    except Exception:  # noqa: BLE001  (the strict loader raises the error, or reads what libyaml would not)
        return strict_yaml.load(text)


@lru_cache(maxsize=64)
def _parsed_yaml(name: str, mtime_ns: int, size: int) -> dict:
    path = Path(name)
    try:
        data = _load_text(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        if isinstance(exc, strict_yaml.DuplicateKeyError):
            raise SpecError(path, str(exc.key), f"{exc.problem}{at}; each key may appear once") from None
        raise SpecError(path, "", f"malformed YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(data, dict):
        raise SpecError(path, "", f"expected a mapping at the top level, got {type(data).__name__}")
    bad = strict_yaml.nonfinite_field(data)
    if bad is not None:
        raise SpecError(path, bad[0], f"got {bad[1]!r}; expected a finite number")
    return data


def validate(data, schema, file, path: str = "") -> dict:
    """Check `data` against `schema`; return a plain dict with defaults filled in.  Raises SpecError."""
    if isinstance(schema, Field):
        return _leaf(data, schema, file, path)
    if isinstance(schema, ListOf):
        if not isinstance(data, list) or len(data) < schema.min_items:
            raise SpecError(file, path, f"expected a list of at least {schema.min_items} item(s)")
        return [validate(v, schema.schema, file, f"{path}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, dict):
        raise SpecError(file, path, f"expected a mapping (section), got {type(data).__name__}")
    if isinstance(schema, MapOf):
        return _map(data, schema, file, path)
    unknown = sorted(set(data) - set(schema))
    if unknown:
        raise SpecError(file, _join(path, str(unknown[0])),
                        f"unknown key; valid keys here: {', '.join(sorted(schema))}")
    out = {}
    for key, sub in schema.items():
        here = _join(path, key)
        if key in data:
            out[key] = validate(data[key], sub, file, here)
        elif isinstance(sub, Field) and sub.default is not _MISSING:
            out[key] = sub.default
        elif isinstance(sub, MapOf) and sub.min_items == 0:
            out[key] = {}
        elif isinstance(sub, ListOf) and sub.min_items == 0:
            out[key] = []
        else:
            expect = sub.valid_range() if isinstance(sub, Field) else "a section"
            raise SpecError(file, here, f"missing required field ({expect})")
    return out


def _map(data: dict, schema: MapOf, file, path: str) -> dict:
    if len(data) < schema.min_items:
        raise SpecError(file, path, f"needs at least {schema.min_items} entr{'y' if schema.min_items == 1 else 'ies'}")
    if schema.keys is not None:
        unknown = sorted(set(map(str, data)) - set(schema.keys))
        if unknown:
            raise SpecError(file, _join(path, unknown[0]), f"unknown key; valid keys here: {', '.join(schema.keys)}")
    return {str(k): validate(v, schema.schema, file, _join(path, str(k))) for k, v in data.items()}


def _leaf(value, f: Field, file, path: str):
    if value is None and f.nullable:
        return None
    ok = isinstance(value, f.kind) and not (f.kind is not bool and isinstance(value, bool))
    if f.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise SpecError(file, path, f"got {value!r} ({type(value).__name__}); expected {f.valid_range()}")
    if f.kind is float and not math.isfinite(value):       # NaN would pass the range check below (NaN < lo is False)
        raise SpecError(file, path, f"got {value!r}; expected a finite number, {f.valid_range()}")
    if f.choices is not None and value not in f.choices:
        raise SpecError(file, path, f"got {value!r}; expected {f.valid_range()}")
    if (f.lo is not None and value < f.lo) or (f.hi is not None and value > f.hi):
        raise SpecError(file, path, f"got {value!r}; expected {f.valid_range()}")
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
