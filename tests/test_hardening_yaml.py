"""Every YAML file the project reads refuses non-finite numbers and duplicate keys with one line naming the file
and the field (sim/accel/schema.py load_yaml for specs; quant.Recipe.from_yaml for recipe files)."""
import math
from pathlib import Path

import pytest

import quant
from quant import QuantError
from sim.accel.energy import load_energy_table
from sim.accel.schema import Field, SpecError, load_yaml, validate
from sim.accel.spec import load_arch
from sim.pipeline.config import load_run_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _edge(tmp_path, old: str, new: str) -> Path:
    text = (CONFIGS / "arch" / "edge.yaml").read_text()
    assert old in text
    p = tmp_path / "edge.yaml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize("value", [".nan", ".NaN", ".inf", "-.inf"])
def test_nonfinite_clock_refused(tmp_path, value):
    """`clock_mhz: .nan` used to pass the range check (NaN < lo is False) and give latency nan with exit 0."""
    p = _edge(tmp_path, "clock_mhz: 1000", f"clock_mhz: {value}")
    with pytest.raises(SpecError) as info:
        load_arch(p)
    assert str(info.value).startswith(f"{p}: field 'clock_mhz': got ") and "finite" in str(info.value)


def test_nonfinite_override_refused_by_the_schema():
    with pytest.raises(SpecError, match=r"field 'clock_mhz': got nan; expected a finite number"):
        load_arch("edge", overrides={"clock_mhz": math.nan})
    for value in (math.inf, -math.inf, math.nan):                 # no bounds: the range check alone passes inf
        with pytest.raises(SpecError, match="expected a finite number"):
            validate({"x": value}, {"x": Field(float)}, "f.yaml")
    assert validate({"x": 2}, {"x": Field(float)}, "f.yaml") == {"x": 2.0}


def test_duplicate_key_refused_with_both_lines(tmp_path):
    p = _edge(tmp_path, "clock_mhz: 1000", "clock_mhz: 1000\nclock_mhz: 500")
    with pytest.raises(SpecError) as info:
        load_arch(p)
    line = p.read_text().splitlines().index("clock_mhz: 1000") + 1
    assert str(info.value) == (f"{p}: field 'clock_mhz': duplicate key 'clock_mhz' (first given at line {line}) "
                               f"at line {line + 1}, column 1; each key may appear once")


def test_nested_duplicate_and_nested_nonfinite(tmp_path):
    p = tmp_path / "n.yaml"
    p.write_text("a:\n  b: 1\n  b: 2\n")
    with pytest.raises(SpecError, match=r"field 'b': duplicate key 'b' \(first given at line 2\) at line 3"):
        load_yaml(p)
    p.write_text("a:\n  list: [1.0, {x: .nan}]\n")
    with pytest.raises(SpecError, match=r"field 'a.list\[1\].x': got nan"):
        load_yaml(p)
    p.write_text("base: &b {x: 1, y: 2}\nover:\n  <<: *b\n  x: 3\n")      # a merge key may be overridden
    assert load_yaml(p)["over"] == {"x": 3, "y": 2}


@pytest.mark.parametrize("reader,src", [
    (load_energy_table, CONFIGS / "energy" / "horowitz45.yaml"),
    (load_run_config, CONFIGS / "run" / "default.yaml"),
])
def test_every_spec_reader_refuses_duplicates(tmp_path, reader, src):
    p = tmp_path / src.name
    p.write_text(src.read_text() + "\nversion: 1\n")             # every shipped spec starts with `version: 1`
    with pytest.raises(ValueError) as info:
        reader(p)
    assert str(p) in str(info.value) and "duplicate key 'version'" in str(info.value)


def test_recipe_files_refuse_duplicates_and_nonfinite(tmp_path):
    text = quant.recipe("semanticdialect").to_yaml()
    p = tmp_path / "r.yaml"
    p.write_text(text + "name: other\n")
    with pytest.raises(QuantError, match=r"recipe YAML: duplicate key 'name' \(first given at line 2\)"):
        quant.recipe(p)
    p.write_text(text.replace("seda:", "seda_bad: .nan\nseda:", 1))
    with pytest.raises(QuantError, match=r"recipe YAML: field 'seda_bad': got nan"):
        quant.recipe(p)
    p.write_text(text)
    assert quant.recipe(p) == quant.recipe("semanticdialect")
