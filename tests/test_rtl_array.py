"""The PE array RTL runs whole GEMMs bit-identical to quant.qgemm, in both PE pipelines (one block per cycle, and
the edge design's LANES-per-cycle pipeline), on accumulation-order vectors too; its cycle counts follow the closed
form in rtl_models/cycles.py, and the committed golden table rtl_models/data/rtl_cycles.csv agrees with the formula.
Debugging aids: WAVES dumps one FST per case, and a failing scoreboard names the cycle, the inputs and both bit
patterns."""
import shutil
import subprocess

import pytest

from rtl_models.cycles import CSV_FIELDS, PE_ARRAY_SOURCES, array_case, pe_array_tile_cycles, read_csv
from rtl_models.rom import book_for_size, write_rom_include
from rtl_models.runner import HDL_DIR, run_case
from rtl_models.tb.common import Scoreboard, float32_bits


def test_golden_cycles_follow_formula():
    rows = read_csv()
    assert all(set(r) == set(CSV_FIELDS) for r in rows)
    for r in rows:
        assert r["cycles"] == pe_array_tile_cycles(r["rows"], r["cols"], r["m"], r["n"], r["k"], r["lanes"],
                                                   r["pipeline"]), r
    edge_arrays = {}
    for r in rows:
        if (r["lanes"], r["pipeline"]) == (8, 4):
            edge_arrays.setdefault((r["rows"], r["cols"]), set()).add((r["m"], r["n"], r["k"]))
    assert len(edge_arrays) >= 2 and all(len(s) >= 6 for s in edge_arrays.values()), edge_arrays
    assert sum((r["lanes"], r["pipeline"]) == (32, 2) for r in rows) == 11          # the original golden rows


def test_formula_rejects_bad_parameters():
    with pytest.raises(ValueError, match="rows"):
        pe_array_tile_cycles(0, 4, 8, 8, 32)
    with pytest.raises(ValueError, match="lanes"):
        pe_array_tile_cycles(4, 4, 8, 8, 32, lanes=12, pipeline=4)
    with pytest.raises(ValueError, match="pipeline"):
        pe_array_tile_cycles(4, 4, 8, 8, 32, lanes=8, pipeline=2)


def test_scoreboard_reports_cycle_inputs_and_bits():
    sb = Scoreboard("pe_array", render=float32_bits)
    sb.expect((0x3F800000,), context="y[2,3]", inputs=lambda: "X row 2: b0[e=1 d=4 codes=0x12]")
    sb.observe((0x3F800001,), cycle=41)
    sb.expect((7,), context="y[2,4]", inputs=lambda: 1 / 0)          # inputs are only described on a mismatch
    sb.observe((7,), cycle=42)
    with pytest.raises(AssertionError) as exc:
        sb.check()
    msg = str(exc.value)
    for part in ("y[2,3] at cycle 41", "expected (0x3f800000 = 1.0)", "got (0x3f800001 = 1.0000001)", "xor (0x1)",
                 "X row 2: b0[e=1 d=4 codes=0x12]", "1 mismatches", "1 matched", "WAVES=1"):
        assert part in msg, (part, msg)


def _run(case, **kw):
    res = run_case(case, **kw)
    assert res.tests == 1 and res.failed == 0, f"see {res.log}: {res.failures[0][:2000] if res.failures else ''}"
    return res


@pytest.mark.rtl
@pytest.mark.parametrize("rows,cols,lanes,pipe,shapes", [
    (4, 4, 32, 2, ((8, 8, 96), (5, 7, 64))),
    (2, 3, 32, 2, ((5, 4, 96),)),
    (4, 4, 8, 4, ((8, 8, 96), (3, 13, 40), (6, 5, 44))),
    (8, 4, 8, 4, ((13, 9, 72),)),
])
def test_pe_array_gemm_bit_exact_and_cycles(rows, cols, lanes, pipe, shapes):
    res = _run(array_case(rows, cols, shapes, lanes=lanes, pipeline=pipe))
    got = res.data["gemm"]["shapes"]
    assert len(got) == len(shapes)
    for s in got:
        assert (s["lanes"], s["pipeline"]) == (lanes, pipe)
        assert s["cycles"] == pe_array_tile_cycles(rows, cols, s["m"], s["n"], s["k"], lanes, pipe), s
    if (rows, cols) == (4, 4):
        first = got[0]
        assert first["n_inf"] > 0 and first["n_zero"] > 0     # overflow-to-inf and flush corners were exercised


@pytest.mark.rtl
@pytest.mark.parametrize("lanes,pipe", [(32, 2), (8, 4)])
def test_accumulation_order_vectors_bit_exact(lanes, pipe):
    """GEMMs whose block exponents spread widely: float32 ascending-block accumulation differs from a float64 sum
    of the same partials in about half of the outputs and meets exact round-half-even ties, so a changed order,
    grouping or rounding in the PE's accumulator breaks the bit-exact scoreboard."""
    res = _run(array_case(4, 4, (), lanes=lanes, pipeline=pipe, order_shapes=((8, 8, 256), (5, 7, 200))))
    got = res.data["gemm"]["shapes"]
    assert [s["vectors"] for s in got] == ["order", "order"]
    differs, outputs = sum(s["f64_differs"] for s in got), sum(s["outputs"] for s in got)
    assert differs >= 0.45 * outputs, f"only {differs} of {outputs} outputs differ from a float64 sum"
    assert all(s["ties"] >= 20 for s in got), got


@pytest.mark.rtl
def test_waves_dump_one_fst_per_case(tmp_path):
    res = _run(array_case(1, 1, ((1, 1, 32),)), build_root=tmp_path, waves=True)
    assert res.waves == tmp_path / "pe_array_1x1" / "pe_array_1x1.fst"
    assert res.waves.stat().st_size > 1000
    assert _run(array_case(1, 1, ((1, 1, 32),)), build_root=tmp_path, waves=False).waves is None


@pytest.mark.rtl
def test_failing_scoreboard_names_cycle_inputs_and_bits(tmp_path):
    """A deliberately wrong expected value (bit 0 of y[1, 2] flipped in the testbench) fails the case, and the log
    carries the cycle that output was written, its operand rows and both bit patterns."""
    case = array_case(2, 3, ((4, 5, 64),))
    case = type(case)(**{**case.__dict__, "config": case.config + (("flip_expected", [1, 2]),)})
    res = run_case(case, build_root=tmp_path)
    assert res.failed == 1 and len(res.failures) == 1 and "y[1,2] at cycle 9" in res.failures[0]
    log = res.log.read_text()
    # 2x3 array, 64 = 2 blocks: tile (0, 0) computes for 2 + 1 + 2 + 2 = 7 cycles and drains row 1 in cycle 9
    assert "y[1,2] at cycle 9: expected (0x" in log and ", got (0x" in log and "xor (0x00000001)" in log, log[-3000:]
    assert "X row 1: b0[e=" in log and "W row 2: b0[e=" in log and "b1[e=" in log


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed (lint only)")
@pytest.mark.parametrize("params", [("-GLANES=8", "-GPIPELINE=4"), ("-GLANES=32", "-GPIPELINE=4", "-GROWS=2")])
def test_edge_pipeline_verilator_lint_clean(params, tmp_path):
    write_rom_include(book_for_size(16), tmp_path)
    cmd = ["verilator", "--lint-only", "-Wall", "-Wno-DECLFILENAME", f"-I{tmp_path}", "--top-module", "pe_array_gemm",
           *params, *[str(HDL_DIR / s) for s in PE_ARRAY_SOURCES]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
