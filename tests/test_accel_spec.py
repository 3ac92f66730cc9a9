"""Arch spec and energy table validation: errors name the file, the field and the valid range."""
import dataclasses

import pytest
import yaml

from sim.accel.energy import action_energy_pj, load_energy_table
from sim.accel.schema import SpecError
from sim.accel.spec import ARCH_DIR, arch_names, load_arch


def _write(tmp_path, mutate, name="bad.yaml"):
    data = yaml.safe_load((ARCH_DIR / "edge.yaml").read_text())
    mutate(data)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


def test_shipped_designs_load_and_are_frozen():
    assert {"edge", "edge-large", "int8-systolic"} <= set(arch_names())
    edge = load_arch("edge")
    assert (edge.pe_array.rows, edge.pe_array.cols) == (16, 16)
    assert edge.global_buffer.total_bytes == 1 << 20 and edge.dram.bandwidth_gbps == 51.2
    with pytest.raises(dataclasses.FrozenInstanceError):
        edge.clock_mhz = 5
    assert load_arch(ARCH_DIR / "edge-large.yaml").pe_array.rows == 32


def test_unknown_key_names_file_and_field(tmp_path):
    p = _write(tmp_path, lambda d: d["pe_array"].update(colz=3))
    with pytest.raises(SpecError) as exc:
        load_arch(p)
    assert str(p) in str(exc.value) and "pe_array.colz" in str(exc.value) and "valid keys" in str(exc.value)


def test_negative_size_names_field_and_range(tmp_path):
    p = _write(tmp_path, lambda d: d["global_buffer"]["inputs"].update(size_bytes=-5))
    with pytest.raises(SpecError) as exc:
        load_arch(p)
    msg = str(exc.value)
    assert "global_buffer.inputs.size_bytes" in msg and "-5" in msg and "[1," in msg


def test_malformed_yaml(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("version: 1\npe_array: [rows: 16\n")
    with pytest.raises(SpecError, match="malformed YAML"):
        load_arch(p)


def test_buffer_too_small_for_any_tile(tmp_path):
    p = _write(tmp_path, lambda d: d["global_buffer"]["outputs"].update(size_bytes=1024))
    with pytest.raises(SpecError) as exc:
        load_arch(p)
    assert "global_buffer.outputs.size_bytes" in str(exc.value) and "too small" in str(exc.value)


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.update(version=2), "version"),
    (lambda d: d["pe_array"].update(dataflow="rs"), "pe_array.dataflow"),
    (lambda d: d["pe_array"]["mac_modes"].update(fp6={"macs_per_cycle": 2}), "pe_array.mac_modes.fp6"),
    (lambda d: d["dram"].pop("bandwidth_gbps"), "dram.bandwidth_gbps"),
    (lambda d: d["pe_array"].update(rows="16"), "pe_array.rows"),
])
def test_other_bad_fields(tmp_path, mutate, field):
    with pytest.raises(SpecError) as exc:
        load_arch(_write(tmp_path, mutate))
    assert f"field '{field}'" in str(exc.value)


def test_energy_table_has_a_source_per_number_and_scales_by_node(tmp_path):
    t = load_energy_table("horowitz45")
    assert set(t.sources) == set(t.action_pj) | set(t.area_um2)
    assert all(s.strip() for s in t.sources.values())
    assert t.action_pj["mac.int8"] == pytest.approx(0.2 + 0.1)           # Horowitz: 8b mult + 32b add
    p = _write(tmp_path, lambda d: d["technology"].update(node_nm=16), "n16.yaml")
    e45 = action_energy_pj(t, load_arch("edge"))
    e16 = action_energy_pj(t, load_arch(p))
    assert e16["mac.fp16"] == pytest.approx(e45["mac.fp16"] * 0.216)     # Stillmaker & Baas HP fits, 0.8 V
    assert e16["dram.read_byte"] == e45["dram.read_byte"]                # off-chip energy is not node-scaled
    bad = _write(tmp_path, lambda d: d["technology"].update(node_nm=5), "n5.yaml")
    with pytest.raises(SpecError, match="scaling.nodes"):
        action_energy_pj(t, load_arch(bad))


def test_sram_energy_interpolates_horowitz_points():
    t = load_energy_table()
    from sim.accel.spec import Buffer
    b = lambda size: Buffer("x", size, 1, 1, 64, None, None)
    assert t.sram_access_pj(b(8192)) == pytest.approx(10.0)
    assert t.sram_access_pj(b(1 << 20)) == pytest.approx(100.0)
    assert 20.0 < t.sram_access_pj(b(1 << 17)) < 100.0
