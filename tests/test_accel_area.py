import csv
import dataclasses

import pytest

from sim.accel.area import YOSYS_AREA_CSV, YOSYS_BLOCKS, area_mm2, lut_unit_block, per_instance_areas
from sim.accel.energy import load_energy_table
from sim.accel.spec import load_arch


def test_simulator_area_uses_yosys_synthesis_of_the_rtl():
    rows = {r["block"]: float(r["area_um2"]) for r in csv.DictReader(open(YOSYS_AREA_CSV))}
    table = load_energy_table("horowitz45")
    areas, sources = per_instance_areas(table)
    present = {comp: block for comp, block in YOSYS_BLOCKS.items() if block in rows}
    assert {"pe.int5_lane", "pe.scaler_pow2", "decoder.dialect_d32", "pe.scaler_e4m3"} <= set(present)
    for comp, block in present.items():
        assert areas[comp] == rows[block] and sources[comp].startswith("yosys")
    without, _ = per_instance_areas(table, csv_path=None)
    assert without["pe.int5_lane"] != areas["pe.int5_lane"]
    arch = load_arch("edge")
    assert area_mm2(arch, table)["pe_array"] != area_mm2(arch, table, csv_path=None)["pe_array"]


def test_lut_unit_area_is_the_synthesised_selector_of_the_design():
    """edge: D=32, 8 banks, 4 units -> 4 x lut_selector_d32_b8 from the CSV, not the table's per-bank estimate."""
    rows = {r["block"]: float(r["area_um2"]) for r in csv.DictReader(open(YOSYS_AREA_CSV))}
    table, arch = load_energy_table("horowitz45"), load_arch("edge")
    assert lut_unit_block(arch.lut_unit) == "lut_selector_d32_b8" and "lut_selector_d32_b8" in rows
    lu = arch.lut_unit
    assert area_mm2(arch, table)["lut_unit"] == pytest.approx(lu.units * rows["lut_selector_d32_b8"] / 1e6)
    areas, sources = per_instance_areas(table, arch=arch)
    assert sources["lut_unit.bank"].startswith("yosys: lut_selector_d32_b8")
    assert area_mm2(arch, table, csv_path=None)["lut_unit"] == pytest.approx(
        lu.units * lu.banks * table.area_um2["lut_unit.bank"] / 1e6)
    assert areas["lut_unit.bank"] != table.area_um2["lut_unit.bank"]


def test_lut_unit_area_follows_the_csv(tmp_path):
    """Change the selector row in a copy of the CSV: the simulator's LUT-unit area must change with it."""
    rows = list(csv.DictReader(open(YOSYS_AREA_CSV)))
    for r in rows:
        if r["block"] == "lut_selector_d16_b16":
            r["area_um2"] = "12345.0"
    path = tmp_path / "area.csv"
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    table, arch = load_energy_table("horowitz45"), load_arch("rtl-pe-array")    # D=16, 16 banks, 1 unit
    assert area_mm2(arch, table, csv_path=path)["lut_unit"] == pytest.approx(12345.0 / 1e6)
    two_stage = dataclasses.replace(arch, lut_unit=dataclasses.replace(arch.lut_unit, selector="two_stage"))
    row = next(float(r["area_um2"]) for r in rows if r["block"] == "two_stage_selector_d16")
    assert area_mm2(two_stage, table, csv_path=path)["lut_unit"] == pytest.approx(row / 1e6)


def test_lut_unit_without_a_synthesised_row_keeps_the_table_estimate():
    table, arch = load_energy_table("horowitz45"), load_arch("edge")
    for lut in (dataclasses.replace(arch.lut_unit, banks=2), dataclasses.replace(arch.lut_unit, selector="seda")):
        other = dataclasses.replace(arch, lut_unit=lut)
        areas, sources = per_instance_areas(table, arch=other)
        assert areas["lut_unit.bank"] == table.area_um2["lut_unit.bank"]
        assert not sources["lut_unit.bank"].startswith("yosys")
        assert area_mm2(other, table)["lut_unit"] == area_mm2(other, table, csv_path=None)["lut_unit"]
