"""Build and run an RTL testbench with Icarus Verilog through cocotb_tools.runner, one build folder per case.

    from rtl_models.runner import RtlCase, run_case
    result = run_case(RtlCase("sel_d16_b16", "lut_selector", ("trees.v", "lut_selector.v"),
                              "rtl_models.tb.selector_tb", parameters=(("D", 16), ("ID_BITS", 4), ("BANKS", 16)),
                              book_size=16))
    assert result.failed == 0
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .rom import book_for_size, write_rom_include

HDL_DIR = Path(__file__).resolve().parent / "hdl"
BUILD_ROOT = Path(__file__).resolve().parent / "build"        # gitignored
REPO_ROOT = Path(__file__).resolve().parent.parent


class RtlToolMissing(RuntimeError):
    """Icarus Verilog (or cocotb) is not installed."""


@dataclass(frozen=True)
class RtlCase:
    name: str                      # build folder name, unique per parameter case
    toplevel: str
    sources: tuple                 # file names under rtl_models/hdl/
    test_module: str               # cocotb testbench module
    parameters: tuple = ()         # ((HDL parameter, value), ...)
    book_size: int | None = None   # generate dialect_rom.vh from rom.book_for_size(book_size)
    config: tuple = ()             # ((key, value), ...) passed to the testbench as JSON
    testcase: str | None = None    # run only this cocotb test


@dataclass(frozen=True)
class CaseResult:
    name: str
    tests: int
    failed: int
    seconds: float                 # build + simulation wall time
    data: dict                     # what the testbench wrote with common.write_result
    log: Path


def require_tools():
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise RtlToolMissing("Icarus Verilog is not installed: apt-get install -y iverilog (see setup.sh)")
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError as exc:
        raise RtlToolMissing("cocotb is not installed: pip install 'semdialect-suite[rtl]'") from exc


def run_case(case: RtlCase, build_root: Path | None = None) -> CaseResult:
    """Build (if sources changed) and simulate one case; returns test counts, timing and measured data."""
    require_tools()
    from cocotb_tools.runner import get_results, get_runner

    build_dir = Path(build_root or BUILD_ROOT) / case.name
    build_dir.mkdir(parents=True, exist_ok=True)
    includes = []
    if case.book_size is not None:
        write_rom_include(book_for_size(case.book_size), build_dir / "rom")
        includes.append(build_dir / "rom")
    result_json = build_dir / "result.json"
    if result_json.exists():
        result_json.unlink()
    log = build_dir / "sim.log"
    t0 = time.perf_counter()
    runner = get_runner("icarus")
    params = dict(case.parameters)
    runner.build(sources=[HDL_DIR / s for s in case.sources], includes=includes, hdl_toplevel=case.toplevel,
                 parameters=params, build_dir=build_dir, timescale=("1ns", "1ps"), always=True,
                 log_file=build_dir / "build.log")
    env = {"RTL_RESULT_JSON": str(result_json), "RTL_CONFIG_JSON": json.dumps(dict(case.config)),
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    xml = runner.test(test_module=case.test_module, hdl_toplevel=case.toplevel, build_dir=build_dir,
                      test_dir=build_dir, extra_env=env, testcase=case.testcase, log_file=log,
                      parameters=params)
    tests, failed = get_results(xml)
    data = json.loads(result_json.read_text()) if result_json.exists() else {}
    return CaseResult(case.name, tests, failed, time.perf_counter() - t0, data, log)
