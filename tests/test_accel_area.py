import csv

from sim.accel.area import YOSYS_AREA_CSV, YOSYS_BLOCKS, area_mm2, per_instance_areas
from sim.accel.energy import load_energy_table
from sim.accel.spec import load_arch


def test_simulator_area_uses_yosys_synthesis_of_the_rtl():
    rows = {r["block"]: float(r["area_um2"]) for r in csv.DictReader(open(YOSYS_AREA_CSV))}
    table = load_energy_table("horowitz45")
    areas, sources = per_instance_areas(table)
    for comp, block in YOSYS_BLOCKS.items():
        assert areas[comp] == rows[block] and sources[comp].startswith("yosys")
    without, _ = per_instance_areas(table, csv_path=None)
    assert without["pe.mac4_lane"] != areas["pe.mac4_lane"]
    arch = load_arch("edge")
    assert area_mm2(arch, table)["pe_array"] != area_mm2(arch, table, csv_path=None)["pe_array"]
