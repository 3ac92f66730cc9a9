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
    assert set(rows) == {b.name for b in synth.ALL_BLOCKS}
    assert {b.name for b in synth.SELECTOR_BLOCKS} <= set(rows)
    for r in rows.values():
        cells = json.loads(r["cell_counts"])
        assert int(r["cells"]) == sum(cells.values())
        assert float(r["area_um2"]) == pytest.approx(gate_areas.area_um2(cells))


def test_mac_area_ordering():
    rows = _rows()
    a = {k: float(rows[f"mac_lane_{k}"]["area_um2"]) for k in ("int4", "fp4", "dialectfp4", "int8")}
    assert a["int4"] < a["fp4"] < a["dialectfp4"] < a["int8"]


def test_edge_decode_rows():
    """Decode at the edge: the PE lane without decoders is smaller than the lane that decodes both operands, the
    compact D=16 decoder is smaller than its ROM form, and the D=32 ROM is the largest decoder."""
    rows = _rows()
    a = {n: float(rows[n]["area_um2"]) for n in ("mac_lane_int5", "mac_lane_dialectfp4", "decoder_dialect_d16",
                                                 "decoder_dialect_d16_rom", "decoder_dialect_d32", "decoder_e2m1")}
    assert a["mac_lane_int5"] < a["mac_lane_dialectfp4"]
    assert a["decoder_e2m1"] < a["decoder_dialect_d16"] < a["decoder_dialect_d16_rom"] < a["decoder_dialect_d32"]
    assert {rows[n]["group"] for n in a if n.startswith("decoder")} == {"decoder"}
    assert rows["decoder_dialect_d32"]["book"] == "dialectfp4-32" and int(rows["decoder_e2m1"]["flip_flops"]) == 0
    assert int(rows["bs_nvfp4_acc"]["flip_flops"]) == int(rows["bs_fp32_acc"]["flip_flops"]) == 32


def _register_bits(block) -> int:
    """Upper bound on the selector's flip-flops: the registers its RTL declares (Yosys may drop constant ones)."""
    p = dict(block.parameters)
    d, ib = p["D"], p["ID_BITS"]
    io = 32 * 5 + 32 + 1 + ib + 32 * 4                 # q, signs, valid, out_dialect, out_codes
    if block.top == "two_stage_selector":
        return io + 2                                  # v_r, z_r (the zero flag)
    passes = d // p["BANKS"]
    return io + 1 + max((passes - 1).bit_length(), 1) + (8 + 5) + ib   # busy, pass, best_cost, best_id


def test_selector_rows():
    rows = _rows()
    for b in synth.SELECTOR_BLOCKS:
        r = rows[b.name]
        p = dict(b.parameters)
        assert r["group"] == "selector" and r["parameters"] == " ".join(f"{k}={v}" for k, v in b.parameters)
        assert float(r["blocks_per_cycle"]) == (p["BANKS"] / p["D"] if "BANKS" in p else 1.0)
        # registers come only from the RTL's own registers (no ROM read-port copies of the q register)
        assert 0 < int(r["flip_flops"]) <= _register_bits(b)
        assert float(r["synth_s"]) < synth.YOSYS_TIMEOUT_S
    a = {n: float(rows[n]["area_um2"]) for n in (b.name for b in synth.SELECTOR_BLOCKS)}
    assert a["two_stage_selector_d16"] < a["lut_selector_d16_b4"] < a["lut_selector_d16_b16"]
    assert a["lut_selector_d16_b16"] < a["lut_selector_d32_b32"] and a["lut_selector_d32_b8"] < a["lut_selector_d32_b32"]


def test_gate_areas_are_documented():
    assert gate_areas.cell_area_um2("$_NAND_") == pytest.approx(0.798)
    with pytest.raises(KeyError, match="known"):
        gate_areas.cell_area_um2("$_AOI3_")


def test_sim_area_json(capsys):
    assert main(["area", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rel = {b["block"]: b["relative"] for b in out["blocks"]}
    assert rel["mac_lane_int8"] == 1.0 and 0 < rel["mac_lane_fp4"] < 1
    sel = {s["block"]: s for s in out["selectors"]}
    assert set(sel) == {b.name for b in synth.SELECTOR_BLOCKS}
    ref, d32 = sel["lut_selector_d16_b16"], sel["lut_selector_d32_b8"]
    assert ref["relative_area"] == ref["relative_area_per_throughput"] == 1.0
    assert d32["blocks_per_cycle"] == 0.25
    assert d32["area_per_throughput_um2"] == pytest.approx(d32["area_um2"] * 4, rel=1e-6)
    assert rel["two_stage_selector_d16"] == sel["two_stage_selector_d16"]["relative_area"]


def test_sim_area_table_prints_the_selector_comparison(capsys):
    assert main(["area"]) == 0
    out = capsys.readouterr().out
    assert "um2/(blk/cyc)" in out
    for b in synth.SELECTOR_BLOCKS:
        assert out.count(b.name) >= 2                  # in the block table and in the selector comparison


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
@pytest.mark.parametrize("name", ["mac_lane_int4", "mac_lane_int5", "decoder_dialect_d16", "decoder_dialect_d32"])
def test_resynthesis_reproduces_csv_row(name):
    block = next(b for b in synth.BLOCKS if b.name == name)
    cells = synth.synthesize(block)
    assert json.loads(_rows()[name]["cell_counts"]) == cells


def test_regenerating_only_the_selectors_keeps_the_other_rows(tmp_path, monkeypatch):
    path = tmp_path / "area.csv"
    synth.write_csv(synth.read_csv(), path)
    before = {r["block"]: r for r in synth.read_csv(path)}
    monkeypatch.setattr(synth, "synthesize", lambda block: {"$_NAND_": 7, "$_DFF_P_": 1})
    rows = synth.regenerate(synth.SELECTOR_BLOCKS, path=path, log=lambda *_: None)
    after = {r["block"]: r for r in synth.read_csv(path)}
    assert [r["block"] for r in rows] == [b.name for b in synth.ALL_BLOCKS] == list(after)
    for b in synth.BLOCKS:
        assert after[b.name] == before[b.name]
    for b in synth.SELECTOR_BLOCKS:
        assert int(after[b.name]["cells"]) == 8 and after[b.name]["blocks_per_cycle"] == str(b.blocks_per_cycle)
