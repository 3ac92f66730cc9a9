"""Build and run an RTL testbench with Icarus Verilog through cocotb_tools.runner, one build folder per case.

    from rtl_models.runner import RtlCase, run_case
    result = run_case(RtlCase("sel_d16_b16", "lut_selector", ("trees.v", "lut_selector.v"),
                              "rtl_models.tb.selector_tb", parameters=(("D", 16), ("ID_BITS", 4), ("BANKS", 16)),
                              book_size=16))
    assert result.failed == 0

Waveforms: with WAVES=1 in the environment (cocotb's convention) or run_case(..., waves=True), Icarus dumps every
signal of the design into <build folder>/<case name>[.<testcase>].fst (open with GTKWave or Surfer); the path is
CaseResult.waves and is printed by a failing scoreboard.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
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
    waves: Path | None = None      # FST waveform when dumping was on
    failures: tuple = ()           # the failed cocotb tests' messages (a scoreboard's report), from results.xml


WAVES_ENV = "WAVES"                # cocotb's convention: WAVES=1 dumps waveforms
WAVES_FILE_ENV = "RTL_WAVES_FILE"  # tells the testbench where its waveform goes (for failure messages)


def waves_requested() -> bool:
    """True when the environment asks for waveforms (WAVES=1/yes/on/true, as cocotb reads it)."""
    return os.environ.get(WAVES_ENV, "").strip().lower() in ("1", "yes", "y", "on", "true", "enable")


def waves_path(case: RtlCase, build_dir: Path) -> Path:
    """One FST per testbench case (and per selected cocotb test), inside the case's build folder."""
    return build_dir / (case.name + (f".{case.testcase}" if case.testcase else "") + ".fst")


def require_tools():
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise RtlToolMissing("Icarus Verilog is not installed: apt-get install -y iverilog (see setup.sh)")
    try:
        import cocotb_tools.runner  # noqa: F401
    except ImportError as exc:
        raise RtlToolMissing("cocotb is not installed: pip install 'semdialect-suite[rtl]'") from exc


@contextmanager
def _repo_first_on_sys_path():
    """cocotb's runner hands the simulator's Python this process's sys.path as PYTHONPATH (replacing ours); an
    entry '' would resolve to the build folder there, and an editable install could then supply another checkout's
    testbenches.  Put this checkout's root first while the runner builds its environment."""
    sys.path.insert(0, str(REPO_ROOT))
    try:
        yield
    finally:
        sys.path.remove(str(REPO_ROOT))


@contextmanager
def _runner_env(waves: bool):
    """cocotb's runner reads two variables that would override this module's decisions: WAVES (over its `waves`
    argument; pinned to the decision taken here) and PYTEST_CURRENT_TEST (under pytest it exits on a failed cocotb
    test instead of returning the results, and names the results file after the pytest test; hidden, so run_case
    returns the counts and the caller decides)."""
    saved = {k: os.environ.get(k) for k in (WAVES_ENV, "PYTEST_CURRENT_TEST")}
    os.environ[WAVES_ENV] = "1" if waves else "0"
    os.environ.pop("PYTEST_CURRENT_TEST", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_case(case: RtlCase, build_root: Path | None = None, waves: bool | None = None) -> CaseResult:
    """Build (if sources changed) and simulate one case; returns test counts, timing and measured data.
    `waves` None follows the WAVES environment variable."""
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
    waves = waves_requested() if waves is None else waves
    fst = waves_path(case, build_dir) if waves else None
    if fst is not None and fst.exists():
        fst.unlink()
    t0 = time.perf_counter()
    runner = get_runner("icarus")
    params = dict(case.parameters)
    env = {"RTL_RESULT_JSON": str(result_json), "RTL_CONFIG_JSON": json.dumps(dict(case.config)),
           WAVES_FILE_ENV: str(fst) if fst else ""}
    with _runner_env(waves), _repo_first_on_sys_path():
        runner.build(sources=[HDL_DIR / s for s in case.sources], includes=includes, hdl_toplevel=case.toplevel,
                     parameters=params, build_dir=build_dir, timescale=("1ns", "1ps"), always=True,
                     log_file=build_dir / "build.log", waves=waves)
        xml = runner.test(test_module=case.test_module, hdl_toplevel=case.toplevel, build_dir=build_dir,
                          test_dir=build_dir, extra_env=env, testcase=case.testcase, log_file=log,
                          parameters=params, waves=waves, plusargs=[f"+dumpfile_path={fst}"] if fst else [])
    tests, failed = get_results(xml)
    data = json.loads(result_json.read_text()) if result_json.exists() else {}
    return CaseResult(case.name, tests, failed, time.perf_counter() - t0, data, log,
                      fst if fst is not None and fst.exists() else None, failure_messages(Path(xml)))


def failure_messages(results_xml: Path) -> tuple:
    """The message of every failed test case in a cocotb results.xml (empty when all passed)."""
    import xml.etree.ElementTree as ET
    root = ET.parse(results_xml).getroot()
    return tuple(f.get("message", "") for f in root.iter("failure")) + \
        tuple(e.get("message", "") for e in root.iter("error"))
