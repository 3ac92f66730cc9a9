"""`sim gemm` and `sim estimate`: answers, and one error line with exit code 2 on bad input."""
import json

import pytest
import yaml

from sim.accel.spec import ARCH_DIR
from sim.cli import main


def test_gemm_json(capsys):
    assert main(["gemm", "--arch", "int8-systolic", "--m", "40", "--k", "50", "--n", "24", "--format", "int8",
                 "--dataflow", "ws", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["compute_cycles"] == 8 * (40 + 32 + 14) and rep["dataflow"] == "ws"
    assert rep["energy_pj"] > 0 and 0 < rep["utilization"] <= 1


def test_estimate_tiny_json(capsys):
    assert main(["estimate", "--workload", "tiny", "--arch", "edge", "--recipe", "mxfp4", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["latency_s"] > 0 and rep["energy_j"] > 0 and rep["area_total_mm2"] > 0
    assert set(rep["energy_by_component_j"]) >= {"pe_array", "dram", "lut_unit", "sram_inputs"}


def _bad_arch(tmp_path):
    data = yaml.safe_load((ARCH_DIR / "edge.yaml").read_text())
    data["global_buffer"]["weights"]["size_bytes"] = -1
    p = tmp_path / "neg.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.mark.parametrize("argv, needle", [
    (["gemm", "--m", "0", "--k", "8", "--n", "8"], "dimension m"),
    (["gemm", "--m", "8", "--k", "8", "--n", "8", "--arch", "nonexistent"], "shipped designs"),
    (["gemm", "--m", "8", "--k", "8", "--n", "8", "--format", "fp5"], "unknown format"),
    (["estimate", "--recipe", "nope"], "unknown recipe"),
    (["estimate", "--workload", "opensora9"], "unknown workload"),
    (["estimate", "--workload", "tiny", "--arch", "int8-systolic"], "pe_array.mac_modes"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_bad_arch_file_names_file_and_field(capsys, tmp_path):
    p = _bad_arch(tmp_path)
    assert main(["gemm", "--m", "8", "--k", "8", "--n", "8", "--arch", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "global_buffer.weights.size_bytes" in err


def test_malformed_yaml_exits_2(capsys, tmp_path):
    p = tmp_path / "m.yaml"
    p.write_text("version: 1\n  bad: [\n")
    assert main(["estimate", "--workload", "tiny", "--arch", str(p)]) == 2
    assert "malformed YAML" in capsys.readouterr().err
