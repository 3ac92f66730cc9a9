"""Timing engine: monotonicity, the double-buffer max rule, SCALE-Sim's systolic formula, LUT-unit bottleneck,
count-then-cost, and (when present) the RTL's exact tile cycles."""
import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from sim.accel.counts import count_actions, energy_pj
from sim.accel.energy import action_energy_pj, load_energy_table
from sim.accel.engine import simulate
from sim.accel.mapping import tile_compute_cycles
from sim.accel.spec import load_arch
from sim.accel.trace import gemm_trace

EDGE = load_arch("edge")
SYS = load_arch("int8-systolic")


def gemm(m, k, n, arch=EDGE, fmt="dialectfp4-32", dataflow=None, quantize=False):
    r = simulate(gemm_trace(m, k, n, fmt, quantize_input=quantize), arch, dataflow)
    return r, r.per_op[r.per_op.kind == "gemm"].iloc[0]


@pytest.mark.parametrize("dataflow", ["os", "ws"])
def test_cycles_monotone_in_each_dimension(dataflow):
    base = gemm(200, 512, 300, dataflow=dataflow)[0].total_cycles
    for m, k, n in ((400, 512, 300), (200, 1024, 300), (200, 512, 600)):
        assert gemm(m, k, n, dataflow=dataflow)[0].total_cycles > base


def test_more_bandwidth_and_bigger_array_never_slower():
    fast = dataclasses.replace(EDGE, dram=dataclasses.replace(EDGE.dram, bandwidth_gbps=400.0))
    for shape in ((1, 3072, 18432), (2048, 3072, 3072), (64, 128, 64)):
        assert gemm(*shape, arch=fast)[0].total_cycles <= gemm(*shape)[0].total_cycles
    big = load_arch("edge-large")
    assert gemm(4096, 3072, 3072, arch=big)[0].total_cycles < gemm(4096, 3072, 3072)[0].total_cycles


def test_single_tile_is_load_plus_compute_plus_store():
    """One tile cannot overlap anything: cycles = exposed load + compute + exposed store."""
    r, g = gemm(16, 64, 16, arch=SYS, fmt="int8")
    bw = SYS.dram_bytes_per_cycle
    load = (16 * 64 + 16 * 64) * 1.0 / bw             # int8 operands
    store = 16 * 16 * 2.0 / bw                         # FP16 outputs
    assert g.compute_cycles == 64 + 16 + 16 - 2        # T + R + C - 2
    assert g.cycles == pytest.approx(load + g.compute_cycles + store)


def test_double_buffer_takes_max_of_compute_and_memory():
    """Memory-bound (tiny bandwidth): total ~ DRAM time; compute-bound (huge bandwidth): total ~ compute."""
    slow = dataclasses.replace(EDGE, dram=dataclasses.replace(EDGE.dram, bandwidth_gbps=0.5))
    huge = dataclasses.replace(EDGE, dram=dataclasses.replace(EDGE.dram, bandwidth_gbps=1e5))
    _, gs = gemm(1024, 2048, 1024, arch=slow)
    assert gs.bottleneck == "dram" and gs.memory_cycles <= gs.cycles <= 1.1 * gs.memory_cycles
    _, gh = gemm(1024, 2048, 1024, arch=huge)
    assert gh.bottleneck == "compute" and gh.compute_cycles <= gh.cycles <= 1.01 * gh.compute_cycles
    # never better than either resource alone, never worse than both in sequence
    _, g = gemm(1024, 2048, 1024)
    assert max(g.compute_cycles, g.memory_cycles) <= g.cycles <= g.compute_cycles + g.memory_cycles


# SCALE-Sim 3.0.0 COMPUTE_REPORT "Total Cycles", 16x16 int8 array (measured by bench/scalesim_compare.py)
SCALESIM = {("os", 16, 16, 16): 45, ("os", 40, 50, 24): 479, ("os", 64, 64, 64): 1503, ("os", 100, 70, 37): 2099,
            ("ws", 16, 16, 16): 61, ("ws", 40, 50, 24): 687, ("ws", 64, 64, 64): 1759, ("ws", 100, 70, 37): 2189,
            ("is", 16, 16, 16): 61, ("is", 40, 50, 24): 839, ("is", 64, 64, 64): 1759, ("is", 100, 70, 37): 2904}


@pytest.mark.parametrize("key", sorted(SCALESIM))
def test_systolic_cycles_match_scalesim(key):
    df, m, k, n = key
    _, g = gemm(m, k, n, arch=SYS, fmt="int8", dataflow=df)
    assert abs(g.compute_cycles - SCALESIM[key]) / SCALESIM[key] < 0.05


def test_tile_formula_is_one_parametrized_implementation():
    # OS: folds over (M, N), K streams; WS: folds over (K, N), M streams, plus R cycles of weight preload
    assert tile_compute_cycles(33, 17, 50, 16, 16, "os") == 3 * 2 * (50 + 30)
    assert tile_compute_cycles(33, 17, 50, 16, 16, "ws") == 4 * 2 * (33 + 16 + 30)
    assert tile_compute_cycles(16, 16, 8, 16, 16, "os", pipeline_depth=4) == 8 + 30 + 4


def test_lut_unit_becomes_the_bottleneck_with_few_banks():
    # N = 128: the array needs 256 folds x 32 K-steps = 8,192 cycles, the default LUT unit 4,096 blocks x 4 passes
    # / 4 units = 4,096 (with N = 32 edge's array, folds overlapped by its shadow registers, would outrun it)
    one_bank = dataclasses.replace(EDGE, lut_unit=dataclasses.replace(EDGE.lut_unit, banks=1, units=1))
    r_fast, _ = gemm(512, 256, 128, quantize=True)
    r_slow, _ = gemm(512, 256, 128, arch=one_bank, quantize=True)
    assert set(r_fast.per_op.bottleneck) != {"lut_unit"} and "lut_unit" not in set(r_fast.per_op.bottleneck)
    assert (r_slow.per_op.bottleneck == "lut_unit").all()
    assert r_slow.total_cycles > r_fast.total_cycles


def test_energy_is_counts_times_table():
    r, g = gemm(64, 256, 64, arch=SYS, fmt="int8")
    counts = count_actions(r)
    assert counts.totals()["mac.int8"] == 64 * 256 * 64
    table = load_energy_table()
    pj = action_energy_pj(table, SYS)
    e = energy_pj(counts, pj)
    # INT8 MACs (8-bit multiply + 32-bit add) and one per-row-scale multiplication per output
    assert e.pe_array.sum() == pytest.approx(64 * 256 * 64 * 0.3 + 64 * 64 * pj["block_scale.float"])
    assert e.dram.sum() == pytest.approx((r.total("dram_read_bytes") + r.total("dram_write_bytes")) * 162.5)
    doubled = {k: 2 * v for k, v in pj.items()}
    assert energy_pj(counts, doubled).drop(columns="op").to_numpy().sum() == pytest.approx(
        2 * e.drop(columns="op").to_numpy().sum())


RTL_CYCLES = Path(__file__).resolve().parents[1] / "rtl_models" / "cycles.py"
RTL_CSV = Path(__file__).resolve().parents[1] / "rtl_models" / "data" / "rtl_cycles.csv"


# the shipped design whose timing models each RTL configuration (rows, cols, lanes, pipeline); configurations
# without their own file are the nearest design with the RTL parameters as overrides
RTL_DESIGNS = {(8, 4, 8, 4): "rtl-edge-pe-8x4", (4, 4, 8, 4): "rtl-edge-pe-4x4"}


def _rtl_design(R, C, lanes, pipe):
    from sim.accel.spec import load_arch
    name = RTL_DESIGNS.get((R, C, lanes, pipe))
    if name is not None:
        return load_arch(name)
    base = "rtl-pe-array" if pipe == 2 else "rtl-edge-pe-4x4"
    return load_arch(base, {"pe_array": {"rows": R, "cols": C, "pipeline_depth_cycles": pipe,
                                         "mac_modes": {"dialect4": {"macs_per_cycle": lanes}}}})


def test_tile_cycles_reproduce_rtl_counts():
    """The simulator's tile pipeline, with the RTL array's design fields, equals the RTL's measured cycles, for the
    one-block-per-cycle PE (lanes 32, pipeline 2; rtl-pe-array) and the edge PE (lanes 8, pipeline 4;
    rtl-edge-pe-4x4 and rtl-edge-pe-8x4, used as they ship), and the other lane counts measured."""
    import csv

    from sim.accel.mapping import tile_compute_cycles

    rows = list(csv.DictReader(open(RTL_CSV)))
    assert len(rows) >= 24
    by_design = {}
    for r in rows:
        m, n, k, R, C, lanes, pipe, cycles = (int(r[c]) for c in ("m", "n", "k", "rows", "cols", "lanes", "pipeline",
                                                                  "cycles"))
        pe = _rtl_design(R, C, lanes, pipe).pe_array
        assert (pe.rows, pe.cols, pe.macs_per_cycle("dialect4"), pe.pipeline_depth_cycles) == (R, C, lanes, pipe)
        k_steps = -(-k // pe.macs_per_cycle("dialect4"))          # K-steps of `lanes` elements per PE per cycle
        got = int(tile_compute_cycles(m, n, k_steps, pe.rows, pe.cols, pe.dataflow, pe.pipeline_depth_cycles,
                                      pe.drain_cycles))
        assert got == cycles, f"{m}x{n}x{k} on {R}x{C}, lanes {lanes}: simulator {got} cycles, RTL {cycles}"
        by_design[RTL_DESIGNS.get((R, C, lanes, pipe))] = by_design.get(RTL_DESIGNS.get((R, C, lanes, pipe)), 0) + 1
    assert by_design["rtl-edge-pe-4x4"] >= 6 and by_design["rtl-edge-pe-8x4"] >= 6
