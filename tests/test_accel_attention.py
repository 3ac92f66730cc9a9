"""Attention on the accelerator: fold overlap by shadow registers, per-GEMM dataflow choice, the softmax tile
pipeline (with its buffer check) and what they cost in area."""
import dataclasses

import numpy as np
import pytest

from sim.accel import attention
from sim.accel.area import area_mm2
from sim.accel.energy import load_energy_table
from sim.accel.engine import simulate
from sim.accel.estimate import estimate
from sim.accel.mapping import tile_compute_cycles
from sim.accel.schema import SpecError
from sim.accel.spec import load_arch
from sim.accel.trace import build_trace, gemm_trace

EDGE = load_arch("edge")
SERIAL = load_arch("edge", {"pe_array": {"shadow_registers": False}, "vector_unit": {"overlap_attention": False}})


def _gemm(m, k, n, arch, fmt="dialectfp4-32", dataflow=None):
    r = simulate(gemm_trace(m, k, n, fmt, quantize_input=False), arch, dataflow)
    return r.per_op[r.per_op.kind == "gemm"].iloc[0]


def test_overlapped_folds_pay_the_skew_once_per_tile():
    # 6 folds of T = 50 (os: M 33, N 17 on 16 x 16): 6 x 50 + (16 + 16 - 2) + depth 4
    assert tile_compute_cycles(33, 17, 50, 16, 16, "os", 4, overlap_folds=True) == 6 * 50 + 30 + 4
    # T = 8 < R: a column needs R cycles to shift its results out, so a fold still takes R
    assert tile_compute_cycles(33, 17, 8, 16, 16, "os", 4, overlap_folds=True) == 6 * 16 + 30 + 4
    # ws / is: the next fold's operands shift in during the current fold; the first preload (R) is exposed
    assert tile_compute_cycles(33, 17, 50, 16, 16, "ws", overlap_folds=True) == 4 * 2 * 33 + 16 + 30
    assert tile_compute_cycles(33, 17, 50, 16, 16, "is", overlap_folds=True) == 4 * 3 * 17 + 16 + 30
    for df in ("os", "ws", "is"):
        assert (tile_compute_cycles(33, 17, 50, 16, 16, df, 4, overlap_folds=True)
                < tile_compute_cycles(33, 17, 50, 16, 16, df, 4))


def test_score_matmul_runs_near_the_mac_rate_only_with_shadow_registers():
    """QK^T of one head at 256px (K = head_dim 128: 16 K-steps of 8): without overlapped folds the 34 cycles of
    skew and pipeline per 16-cycle fold dominate; with them the array is busy >= 95 % of the time."""
    ideal = 8828 * 8828 * 128 / (16 * 16 * 8)
    assert _gemm(8828, 128, 8828, SERIAL).compute_cycles > 3 * ideal
    assert _gemm(8828, 128, 8828, EDGE).compute_cycles < ideal / 0.95


def test_mapper_picks_the_dataflow_per_gemm():
    """Without shadow registers, QK^T (K small) runs faster weight-stationary and a long-K GEMM output-
    stationary; a switchable array gets each one's faster dataflow, never slower than either alone."""
    both = dataclasses.replace(SERIAL, pe_array=dataclasses.replace(SERIAL.pe_array, dataflows=("os", "ws")))
    for shape, want in (((8828, 128, 8828), "ws"), ((64, 8192, 64), "os")):
        g = _gemm(*shape, both)
        assert g.dataflow == want
        alone = [_gemm(*shape, SERIAL, dataflow=d).cycles for d in ("os", "ws")]
        assert g.cycles <= 1.05 * min(alone)
    assert _gemm(8828, 128, 8828, both, dataflow="os").dataflow == "os"      # forcing one overrides the list


def test_dataflows_must_include_the_default():
    with pytest.raises(SpecError, match="pe_array.dataflows"):
        load_arch("edge", {"pe_array": {"dataflow": "os", "dataflows": ["ws", "is"]}})
    with pytest.raises(SpecError, match=r"pe_array.dataflows\[1\]"):
        load_arch("edge", {"pe_array": {"dataflows": ["os", "rs"]}})


def _attention_rows(est):
    po = est.sim.per_op
    prefix = po.op[po.op.str.endswith(".attn.qk")].iloc[0][:-len(".qk")]
    return {s: po[po.op == f"{prefix}.{s}"].iloc[0] for s in ("qk", "softmax", "colsum", "pv")}


@pytest.mark.parametrize("recipe", ["semanticdialect-fullpath", "semanticdialect"])
def test_softmax_hides_under_the_matmuls_of_the_next_tile(recipe):
    """Pipelined: the vector rows carry one S tile of fill (+ any excess over the array), never more than the
    serial schedule; FP16 attention (semanticdialect) hides it just the same."""
    arch = load_arch("edge", {"vector_unit": {"overlap_attention": False}})
    serial, piped = _attention_rows(estimate(recipe=recipe, arch=arch)), _attention_rows(estimate(recipe=recipe))
    a = piped["qk"].cycles + piped["pv"].cycles
    v_alone = serial["softmax"].cycles + serial["colsum"].cycles
    assert v_alone < a                                      # vector work smaller than the matmuls' ...
    exposed = piped["softmax"].cycles + piped["colsum"].cycles
    assert 0 < exposed < 1e-3 * v_alone                     # ... so only the first tile's softmax shows
    assert a + exposed < serial["qk"].cycles + serial["pv"].cycles + v_alone


def test_a_slow_vector_unit_shows_its_excess():
    """With 4 lanes the vector unit is the bottleneck: attention takes v + one tile's fill, not a + v."""
    slow = load_arch("edge", {"vector_unit": {"lanes": 4}})
    rows = _attention_rows(estimate(recipe="semanticdialect-fullpath", arch=slow))
    v = (rows["softmax"].elems * (rows["softmax"].ops_per_elem + rows["colsum"].ops_per_elem)) / 4
    total = rows["qk"].cycles + rows["pv"].cycles + rows["softmax"].cycles + rows["colsum"].cycles
    assert v < total < 1.01 * v


def test_pipeline_buffers_hold_two_s_tiles_and_the_accumulator():
    trace = build_trace("opensora2-256px", "semanticdialect-fullpath")
    sim = simulate(trace, EDGE)
    t = trace.columns
    out = {c: sim.results[c].copy() for c in ("cycles",)}
    # the plans the engine applied, recomputed from a serial costing of the same trace
    serial = simulate(trace, load_arch("edge", {"vector_unit": {"overlap_attention": False}}))
    before = {c: v.copy() for c, v in serial.results.items()}
    plans = attention.tile_pipelines(before, t, EDGE, ("os",))
    assert len(plans) == 57                                 # 19 double + 38 single blocks, each one attention
    p = plans[0]
    assert np.allclose(out["cycles"][p.vector_rows], p.vector_cycles)
    tile = lambda i: {k: p.gemm_costs[k][i] for k in ("mt", "nt", "kt")}
    bits = lambda r: (t["x_bits"][r] / 8, t["w_bits"][r] / 8)
    live = attention.live_bytes(EDGE, tile(0), tile(1), bits(p.gemm_rows[0]), bits(p.gemm_rows[1]))
    gb = EDGE.global_buffer
    assert live["outputs"] >= 2 * p.s_tile[0] * p.s_tile[1] * 4             # two float32 S tiles at least
    for buf, n in live.items():
        assert n <= getattr(gb, buf).size_bytes, buf
    # a design that is not double-buffered has no room for the second S tile: serial
    single = load_arch("edge", {"global_buffer": {"double_buffered": False}})
    assert attention.tile_pipelines(before, t, single, ("os",)) == []


def test_issue_target_attention_share_on_edge_256px():
    """Issue 13: with full-path attention on `edge` at 256px, attention is at most 35 % of the latency."""
    s = estimate("opensora2-256px", "edge", "semanticdialect-fullpath").summary()
    assert s["attention_share_of_latency"] <= 0.35
    assert estimate("opensora2-256px", SERIAL, "semanticdialect-fullpath").summary()[
        "attention_share_of_latency"] > 0.45


def test_shadow_registers_and_dataflow_switch_cost_area():
    table = load_energy_table()
    base = area_mm2(SERIAL, table)["pe_array"]
    shadow = area_mm2(load_arch("edge", {"vector_unit": {"overlap_attention": False}}), table)["pe_array"]
    assert shadow - base == pytest.approx(256 * 32 * 6.384e-6)             # a 32-bit accumulator twin per PE
    both = load_arch("edge", {"pe_array": {"dataflows": ["os", "ws"]}})
    # + the stationary operand's twin (8 lanes x 5 bits) and the switch muxes (40 + 32 bits)
    assert area_mm2(both, table)["pe_array"] - shadow == pytest.approx(256 * (40 * 6.384 + 72 * 1.862) * 1e-6)
