"""Strict YAML reading shared by every YAML file the project reads (sim/accel/schema.py `load_yaml` for specs,
quant/recipes.py for recipe files): PyYAML's safe loader, except that

- a key repeated in one mapping is an error (PyYAML keeps the last one silently, so a typo'd override would win);
- `nonfinite_field` finds a NaN or infinity (`.nan`, `.inf`) anywhere in the loaded data, so readers can refuse
  it by name: a NaN passes every range check (NaN < lo is False) and then poisons the numbers computed from it.
"""
from __future__ import annotations

import math

import yaml


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A key given twice in one mapping; `key` is the key, problem_mark its second occurrence."""

    def __init__(self, key, node, first_line: int, key_node):
        self.key = key
        super().__init__("while constructing a mapping", node.start_mark,
                         f"duplicate key {key!r} (first given at line {first_line})", key_node.start_mark)


class UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that raises DuplicateKeyError (a yaml.YAMLError with line and column) on duplicate keys."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            first = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue                                   # `<<:` merges may be overridden by explicit keys
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = first.setdefault(key, key_node)
                except TypeError:
                    continue                                   # unhashable key: the base constructor reports it
                if seen is not key_node:
                    raise DuplicateKeyError(key, node, seen.start_mark.line + 1, key_node)
        return super().construct_mapping(node, deep=deep)


def load(text: str):
    """Parse YAML text with duplicate keys refused; raises yaml.YAMLError."""
    return yaml.load(text, Loader=UniqueKeyLoader)


def describe(exc: yaml.YAMLError) -> str:
    """One line for a YAML error: what is wrong and where (line and column, 1-based)."""
    mark = getattr(exc, "problem_mark", None)
    at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"{getattr(exc, 'problem', None) or exc}{at}"


def nonfinite_field(data, path: str = ""):
    """(dotted path, value) of the first NaN or infinity in nested dicts and lists, or None."""
    if isinstance(data, float) and not math.isfinite(data):
        return path, data
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        here = f"{path}[{key}]" if isinstance(data, list) else (f"{path}.{key}" if path else str(key))
        found = nonfinite_field(value, here)
        if found is not None:
            return found
    return None
