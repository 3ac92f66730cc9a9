"""Node scaling (Stillmaker & Baas), the DRAM catalog, the H100 anchor and the 7 nm designs built on them."""
import pytest
import yaml

from sim.accel.anchors import load_anchor
from sim.accel.energy import load_dram_catalog, load_dram_presets, load_energy_table
from sim.accel.estimate import estimate
from sim.accel.schema import SpecError
from sim.accel.spec import ARCH_DIR, load_arch

ENERGY_YAML = ARCH_DIR.parent / "energy" / "horowitz45.yaml"
DRAM_YAML = ARCH_DIR.parent / "energy" / "dram.yaml"
ANCHOR_YAML = ARCH_DIR.parent / "anchors" / "h100.yaml"


def _mutated(tmp_path, src, mutate, name):
    d = yaml.safe_load(src.read_text())
    mutate(d)
    p = tmp_path / name
    p.write_text(yaml.safe_dump(d))
    return p


def test_scaling_factors_shrink_with_the_node():
    t = load_energy_table()
    nodes = sorted(t.scaling, reverse=True)
    assert nodes[0] == 45 and t.scaling[45] == (1.0, 1.0)
    for big, small in zip(nodes, nodes[1:]):
        assert t.scaling[small][0] < t.scaling[big][0], (big, small)
        assert t.scaling[small][1] < t.scaling[big][1], (big, small)
    # Stillmaker & Baas: area row 45 nm -> 7 nm, and the HP energy fits at 0.8 V (1.018/-0.3107/0.1539 at 45 nm,
    # 0.1776/-0.09097/0.02447 at 7 nm)
    e45, e7 = 1.018 * .64 - .3107 * .8 + .1539, .1776 * .64 - .09097 * .8 + .02447
    assert t.factors(7) == (pytest.approx(e7 / e45, rel=5e-3), 0.059)


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["scaling"]["nodes"][7].update(energy=0.15), "scaling.nodes.7.energy"),
    (lambda d: d["scaling"]["nodes"][7].update(energy_fit=[0.1776, -0.09097]), "scaling.nodes.7.energy_fit"),
    (lambda d: d["scaling"]["nodes"][45].update(area=0.9), "scaling.nodes.45"),
    (lambda d: d["scaling"]["nodes"][7].update(tech="finfet"), "scaling.nodes.7.tech"),
])
def test_a_factor_that_disagrees_with_its_source_is_rejected(tmp_path, mutate, field):
    with pytest.raises(SpecError) as exc:
        load_energy_table(_mutated(tmp_path, ENERGY_YAML, mutate, "t.yaml"))
    assert f"field '{field}'" in str(exc.value) and "t.yaml" in str(exc.value)


def test_a_node_missing_from_the_scaling_table_names_the_field_and_the_valid_nodes(tmp_path):
    arch = _mutated(tmp_path, ARCH_DIR / "edge-7nm.yaml", lambda d: d["technology"].update(node_nm=5), "n5.yaml")
    with pytest.raises(SpecError) as exc:
        estimate("tiny", load_arch(arch), "semanticdialect")
    msg = str(exc.value)
    assert "\n" not in msg and "field 'scaling.nodes'" in msg and "5 nm" in msg and "n5.yaml" in msg
    assert "valid nodes: 7, 10, 14, 16, 20, 32, 45" in msg


def test_dram_presets_have_sources_and_the_sweep_brackets_them():
    cat = load_dram_catalog()
    presets = load_dram_presets()
    assert {"ddr3_horowitz45", "lpddr4", "lpddr4x", "lpddr5", "lpddr5x", "hbm2"} <= set(presets)
    for p in presets.values():
        assert p.source.strip() and p.channel.strip() and p.energy_pj_per_byte > 0 and p.bandwidth_gbps > 0
    assert presets["ddr3_horowitz45"].energy_pj_per_byte == load_arch("edge").dram.energy_pj_per_byte == 162.5
    assert cat.default.startswith("lpddr5")
    sweep = cat.sensitivity_pj_per_bit
    assert list(sweep) == sorted(sweep) and cat.default_preset.energy_pj_per_bit in sweep
    assert sweep[0] <= min(p.energy_pj_per_bit for p in presets.values())
    assert sweep[-1] >= max(p.energy_pj_per_bit for p in presets.values())


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d["presets"]["lpddr5"].update(pj_per_bit=5.0), "presets.lpddr5.pj_per_bit"),
    (lambda d: d["presets"]["hbm2"].update(source=" "), "presets.hbm2.source"),
    (lambda d: d.update(default="lpddr6"), "default"),
    (lambda d: d.update(sensitivity_pj_per_bit=[8.0, 2.0, 5.6]), "sensitivity_pj_per_bit"),
    (lambda d: d.update(sensitivity_pj_per_bit=[2.0, 8.0]), "sensitivity_pj_per_bit"),
])
def test_bad_dram_catalog_names_file_and_field(tmp_path, mutate, field):
    with pytest.raises(SpecError) as exc:
        load_dram_catalog(_mutated(tmp_path, DRAM_YAML, mutate, "d.yaml"))
    assert f"field '{field}'" in str(exc.value) and "d.yaml" in str(exc.value)


@pytest.mark.parametrize("design, preset", [("edge-7nm", "lpddr5"), ("npu-7nm", "lpddr5x")])
def test_7nm_designs_take_their_dram_from_the_catalog(design, preset):
    arch, p = load_arch(design), load_dram_presets()[preset]
    assert arch.technology.node_nm == 7
    assert arch.dram.energy_pj_per_byte == pytest.approx(p.energy_pj_per_byte)
    channels = arch.dram.bandwidth_gbps / p.bandwidth_gbps          # a whole number of the preset's channels
    assert channels >= 1 and channels == pytest.approx(round(channels), rel=1e-3)


def test_edge_7nm_is_edge_scaled_by_the_node_factors():
    e45, e7 = estimate("tiny", "edge", "semanticdialect"), estimate("tiny", "edge-7nm", "semanticdialect")
    ef, af = load_energy_table().factors(7)
    assert e7.latency_s == e45.latency_s                            # same micro-architecture and bandwidth
    assert e7.energy_by_component_j["pe_array"] == pytest.approx(e45.energy_by_component_j["pe_array"] * ef)
    assert e7.energy_by_component_j["dram"] == pytest.approx(e45.energy_by_component_j["dram"] * 44.8 / 162.5)
    assert e7.area_mm2["pe_array"] == pytest.approx(e45.area_mm2["pe_array"] * af)


@pytest.mark.parametrize("full_path", [False, True])
def test_npu_7nm_runs_a_256px_video_in_under_ten_minutes(full_path):
    est = estimate("opensora2-256px", "npu-7nm", "semanticdialect", full_path=full_path)
    assert 60 < est.latency_s < 600
    assert 0 < est.energy_j < load_anchor("h100").energy_j


def test_h100_anchor_loads_with_its_source():
    a = load_anchor("h100")
    assert (a.latency_s, a.power_w, a.energy_j) == (60.0, 700.0, 42000.0)
    assert "Open-Sora" in a.source and "700 W" in a.source and a.assumptions.strip()
    assert a.workload == "opensora2-256px"


@pytest.mark.parametrize("mutate, field", [
    (lambda d: d.update(energy_j=50000), "energy_j"),
    (lambda d: d.update(source=""), "source"),
    (lambda d: d.pop("power_w"), "power_w"),
    (lambda d: d.update(gpu="h100"), "gpu"),
])
def test_bad_anchor_names_file_and_field(tmp_path, mutate, field):
    with pytest.raises(SpecError) as exc:
        load_anchor(_mutated(tmp_path, ANCHOR_YAML, mutate, "a.yaml"))
    assert f"field '{field}'" in str(exc.value) and "a.yaml" in str(exc.value)


def test_unknown_anchor_lists_the_valid_ones():
    with pytest.raises(SpecError, match="valid: h100"):
        load_anchor("a100")
