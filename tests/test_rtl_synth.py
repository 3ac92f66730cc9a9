"""Yosys area table: the committed CSV is complete and reproducible; `sim area` prints it."""
import json
import shutil

import pytest

from rtl_models import gate_areas, synth
from sim.cli import main


def _rows():
    return {r["block"]: r for r in synth.read_csv()}


def test_area_csv_has_every_block_and_consistent_areas():
    rows = _rows()
    assert set(rows) == {b.name for b in synth.BLOCKS}
    for r in rows.values():
        cells = json.loads(r["cell_counts"])
        assert int(r["cells"]) == sum(cells.values())
        assert float(r["area_um2"]) == pytest.approx(gate_areas.area_um2(cells))


def test_mac_area_ordering():
    rows = _rows()
    a = {k: float(rows[f"mac_lane_{k}"]["area_um2"]) for k in ("int4", "fp4", "dialectfp4", "int8")}
    assert a["int4"] < a["fp4"] < a["dialectfp4"] < a["int8"]


def test_gate_areas_are_documented():
    assert gate_areas.cell_area_um2("$_NAND_") == pytest.approx(0.798)
    with pytest.raises(KeyError, match="known"):
        gate_areas.cell_area_um2("$_AOI3_")


def test_sim_area_json(capsys):
    assert main(["area", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rel = {b["block"]: b["relative"] for b in out["blocks"]}
    assert rel["mac_lane_int8"] == 1.0 and 0 < rel["mac_lane_fp4"] < 1


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_resynthesis_reproduces_csv_row():
    block = next(b for b in synth.BLOCKS if b.name == "mac_lane_int4")
    cells = synth.synthesize(block)
    assert json.loads(_rows()["mac_lane_int4"]["cell_counts"]) == cells
