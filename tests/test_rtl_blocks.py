"""RTL testbenches (cocotb + Icarus) for the selectors, MAC datapaths and the float32 accumulator; expected values
from quant/, compared as raw bits.  Run with `pytest -m rtl`."""
import shutil
import subprocess

import pytest

from rtl_models.cycles import ONLINE_PAIR_SOURCES, PE_ARRAY_SOURCES
from rtl_models.rom import book_for_size, write_rom_include
from rtl_models.runner import HDL_DIR, RtlCase, run_case

pytestmark = pytest.mark.rtl

SEL = ("trees.v", "lut_selector.v")
MAC = ("trees.v", "mac_units.v")


def _run(case):
    res = run_case(case)
    assert res.tests >= 1 and res.failed == 0, f"{case.name}: {res.failed} of {res.tests} cocotb tests failed; log {res.log}"
    return res


@pytest.mark.parametrize("d,banks,n_random", [(16, 16, 500), (16, 4, 100), (32, 32, 100), (32, 8, 60)])
def test_lut_selector_matches_reference(d, banks, n_random):
    ib = 4 if d == 16 else 5
    res = _run(RtlCase(f"lut_selector_d{d}_b{banks}", "lut_selector", SEL, "rtl_models.tb.selector_tb",
                       parameters=(("D", d), ("ID_BITS", ib), ("BANKS", banks)), book_size=d,
                       config=(("selector", "lut_argmin"), ("n_random", n_random), ("seed", d + banks))))
    sel = res.data["selector"]
    assert sel["matched"] == sel["blocks"] > n_random
    assert sel["cycles_per_block"] == d // banks            # throughput: D/BANKS cycles per block
    assert sel["dialects_chosen"] == d                        # every dialect won some block


def test_two_stage_selector_matches_reference():
    res = _run(RtlCase("two_stage_d16", "two_stage_selector", ("trees.v", "two_stage_selector.v"),
                       "rtl_models.tb.selector_tb", parameters=(("D", 16), ("ID_BITS", 4)), book_size=16,
                       config=(("selector", "two_stage"), ("n_random", 300))))
    assert res.data["selector"]["matched"] == res.data["selector"]["blocks"]
    assert res.data["selector"]["cycles_per_block"] == 1


@pytest.mark.parametrize("kind", ["two_stage", "lut"])
def test_selector_zero_rule(kind):
    """Zero blocks (+-0) get dialect 0; nonzero blocks whose q are all 0 keep the selector's own choice (two-stage:
    15, the smallest-maximum pair's B).  The two-stage RTL once gave 0 to both (it keyed on qmax = 0)."""
    if kind == "two_stage":
        case = RtlCase("two_stage_d16_zero", "two_stage_selector", ("trees.v", "two_stage_selector.v"),
                       "rtl_models.tb.selector_tb", parameters=(("D", 16), ("ID_BITS", 4)), book_size=16,
                       config=(("selector", "two_stage"),), testcase="zero_rule_matches_reference")
    else:
        case = RtlCase("lut_selector_d16_b16_zero", "lut_selector", SEL, "rtl_models.tb.selector_tb",
                       parameters=(("D", 16), ("ID_BITS", 4), ("BANKS", 16)), book_size=16,
                       config=(("selector", "lut_argmin"),), testcase="zero_rule_matches_reference")
    z = _run(case).data["zero_rule"]
    assert z["matched"] == z["blocks"] and z["q_zero_nonzero_blocks"] >= 5
    assert z["zero_block_ids"] == [0]
    assert z["q_zero_nonzero_ids"] == ([15] if kind == "two_stage" else [0])


def test_block_dot_dialect_every_code_pair_every_dialect_pair():
    res = _run(RtlCase("block_dot_dialect_d16", "block_dot_dialect", MAC, "rtl_models.tb.mac_tb",
                       parameters=(("D", 16), ("ID_BITS", 4)), book_size=16,
                       testcase="block_dot_dialect_exhaustive"))
    assert res.data["block_dot_dialect"]["products"] == 16 * 16 * 256     # dialect pairs x code pairs


@pytest.mark.parametrize("kind", ["fp4", "int4", "int8"])
def test_block_dot_plain_formats(kind):
    res = _run(RtlCase(f"block_dot_{kind}", f"block_dot_{kind}", MAC, "rtl_models.tb.mac_tb", book_size=16,
                       testcase=f"block_dot_{kind}_random", config=(("n_random", 64),)))
    assert res.data[f"block_dot_{kind}"]["matched"] == 64


@pytest.mark.parametrize("kind", ["dialect", "fp4", "int4", "int8"])
def test_mac_lanes(kind):
    params = (("D", 16), ("ID_BITS", 4)) if kind == "dialect" else ()
    res = _run(RtlCase(f"mac_lane_{kind}", f"mac_lane_{kind}", MAC, "rtl_models.tb.mac_tb", parameters=params,
                       book_size=16, testcase="mac_lane_random", config=(("kind", kind), ("n_random", 8))))
    assert res.data[f"mac_lane_{kind}"]["matched"] == 8


def test_fp32_accumulator_bit_exact():
    res = _run(RtlCase("bs_fp32_add", "bs_fp32_add", ("bs_fp32_acc.v",), "rtl_models.tb.acc_tb",
                       config=(("n_random", 1000),)))
    assert res.data["fp32_add"]["matched"] == res.data["fp32_add"]["vectors"] > 2000


def test_q_frontend_matches_reference():
    res = _run(RtlCase("q_frontend", "q_frontend", ("trees.v", "q_frontend.v"), "rtl_models.tb.frontend_tb",
                       config=(("n_random", 300), ("seed", 1))))
    fe = res.data["frontend"]
    assert fe["matched"] == fe["blocks"] > 300
    assert fe["distinct_exponents"] > 100                      # the random blocks span the exponent range
    assert 0 < fe["zero_blocks"] < fe["blocks"]


EDGE = ("trees.v", "mac_units.v", "edge_decoders.v")
NVFP4 = ("bs_fp32_acc.v", "bs_nvfp4_acc.v")
# (top, sources, extra verilator flags, book size of the generated ROM include)
LINT_TOPS = [("lut_selector", SEL, (), 16), ("lut_selector", SEL, ("-GBANKS=4",), 16),
             ("two_stage_selector", ("trees.v", "two_stage_selector.v"), (), 16),
             ("block_dot_dialect", MAC, (), 16), ("mac_lane_dialect", MAC, (), 16), ("block_dot_int8", MAC, (), 16),
             ("mac_lane_fp4", MAC, (), 16), ("mac_lane_int5", MAC, (), 16), ("block_dot_int5", MAC, (), 16),
             ("decoder_dialect", EDGE, (), 16), ("decoder_dialect", EDGE, ("-GD=32", "-GID_BITS=5"), 32),
             ("decoder_dialect_block", EDGE, (), 16), ("decoder_dialect_compact", ("decoder_compact.v",), (), 16),
             ("bs_fp32_acc", ("bs_fp32_acc.v",), (), 16), ("bs_nvfp4_acc", NVFP4, (), 16),
             ("bs_nvfp4_add", NVFP4, (), 16), ("q_frontend", ("trees.v", "q_frontend.v"), (), 16),
             ("pe_array_gemm", PE_ARRAY_SOURCES, (), 16), ("online_pair_gemm", ONLINE_PAIR_SOURCES, (), 32),
             ("online_pair_gemm", ONLINE_PAIR_SOURCES, ("-GBANKS=8", "-GLANES=8", "-GPIPELINE=4"), 32)]


@pytest.mark.skipif(shutil.which("verilator") is None, reason="verilator not installed (lint only)")
@pytest.mark.parametrize("top,sources,extra,book_size", LINT_TOPS)
def test_verilator_lint_clean(top, sources, extra, book_size, tmp_path):
    write_rom_include(book_for_size(book_size), tmp_path)
    cmd = ["verilator", "--lint-only", "-Wall", "-Wno-DECLFILENAME", f"-I{tmp_path}", "--top-module", top,
           *extra, *[str(HDL_DIR / s) for s in sources]]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
