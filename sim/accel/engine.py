"""The timing engine: a trace in, per-op cycles and action counts out (no energy here: count, then cost).

GEMMs are costed once per distinct shape (vectorized over tile classes and candidate tilings, mapping.py);
online quantize ops run on the LUT unit overlapped with the GEMM that consumes their output (the quantize op's
exposed cycles are what the GEMM cannot hide; when the LUT unit is slower the GEMM's bottleneck reads
"lut_unit"); vector ops take max(lane time, DRAM time).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from vdit.naming import in_attention

from .mapping import GemmProblems, ceil_div, choose_tiling, get_dataflow
from .spec import ArchSpec, load_arch
from .recipes import DIALECT_SELECTORS
from .specialize import check_runs
from .trace import Trace

FP16_BYTES = 2
GEMM_KEY = ["m", "k", "n", "mac_mode", "x_bits", "w_bits", "y_bits", "x_onchip", "w_onchip", "y_onchip"]
SRAM_COLUMNS = tuple(f"sram_{b}_{rw}_bytes" for b in ("inputs", "weights", "outputs") for rw in ("read", "write"))


@dataclass(frozen=True)
class SimResult:
    """per_op: the trace's columns plus, per single instance of the op, `cycles` (what it adds to the run),
    `compute_cycles`, `memory_cycles`, `bottleneck` and action counts (macs, decode_lookups, block_scales,
    lut_*, vec_ops, sram_*_bytes, dram_*_bytes).  Totals multiply by `repeat`."""

    trace: Trace
    arch: ArchSpec
    dataflow: str
    per_op: pd.DataFrame

    @property
    def total_cycles(self) -> float:
        return float((self.per_op.cycles * self.per_op.repeat).sum())

    @property
    def latency_s(self) -> float:
        return self.total_cycles / (self.arch.clock_mhz * 1e6)

    def total(self, column: str) -> float:
        return float((self.per_op[column] * self.per_op.repeat).sum())


def simulate(trace: Trace, arch: ArchSpec | str = "edge", dataflow: str | None = None) -> SimResult:
    arch = load_arch(arch) if not isinstance(arch, ArchSpec) else arch
    dataflow = dataflow or arch.pe_array.dataflow
    get_dataflow(dataflow)
    ops = trace.ops.copy()
    q = ops[ops.kind == "quantize"]
    online = {}
    for kind, book in zip(q.quantizer, q.dialects_scanned * np.where(q.op.map(in_attention), 1,
                                                                      trace.recipe.sub_books)):
        online[kind] = max(online.get(kind, 0), int(book))
    check_runs(arch, trace.recipe, set(ops.loc[ops.kind == "gemm", "mac_mode"]), online)
    zero = np.zeros(len(ops))
    for c in ("cycles", "compute_cycles", "memory_cycles", "macs", "decode_lookups", "block_scales", "lut_elems",
              "lut_err_lookups", "lut_blocks", "scale_quant_elems", "vec_ops", *SRAM_COLUMNS, "dram_read_bytes", "dram_write_bytes"):
        ops[c] = zero
    ops["bottleneck"] = ""
    _gemms(ops, arch, dataflow)
    _quantize_ops(ops, arch, trace)
    _vector_ops(ops, arch)
    return SimResult(trace, arch, dataflow, ops)


def gemm_problems(g: pd.DataFrame, arch: ArchSpec) -> GemmProblems:
    have = dict(arch.pe_array.mac_modes)
    return GemmProblems(
        m=g.m.to_numpy(np.int64), k=g.k.to_numpy(np.int64), n=g.n.to_numpy(np.int64),
        x_bytes=g.x_bits.to_numpy(float) / 8, w_bytes=g.w_bits.to_numpy(float) / 8,
        y_bytes=g.y_bits.to_numpy(float) / 8,
        macs_per_cycle=np.array([have[mo] for mo in g.mac_mode], dtype=np.int64),
        x_onchip=g.x_onchip.to_numpy(bool), w_onchip=g.w_onchip.to_numpy(bool), y_onchip=g.y_onchip.to_numpy(bool))


def _gemms(ops: pd.DataFrame, arch: ArchSpec, dataflow: str):
    is_g = (ops.kind == "gemm").to_numpy()
    if not is_g.any():
        return
    g = ops.loc[is_g, GEMM_KEY]
    uniq, inverse = np.unique(g.astype(str).agg("|".join, axis=1).to_numpy(), return_inverse=True)
    first = pd.Series(np.arange(len(g))).groupby(inverse).first().to_numpy()
    u = g.iloc[first]
    cost = choose_tiling(gemm_problems(u, arch), arch, dataflow)
    batch = ops.loc[is_g, "batch"].to_numpy(float)
    take = lambda key: cost[key][inverse] * batch
    for key in ("cycles", "compute_cycles", "memory_cycles", "dram_read_bytes", "dram_write_bytes",
                "sram_inputs_read_bytes", "sram_weights_read_bytes"):
        ops.loc[is_g, key] = take(key)
    # buffers are filled from DRAM; partial sums go out and back in; final outputs are written then drained
    ops.loc[is_g, "sram_inputs_write_bytes"] = take("dram_x_bytes")
    ops.loc[is_g, "sram_weights_write_bytes"] = take("dram_w_bytes")
    ops.loc[is_g, "sram_outputs_write_bytes"] = take("sram_outputs_rw_bytes") / 2 + take("sram_outputs_final_bytes")
    ops.loc[is_g, "sram_outputs_read_bytes"] = take("sram_outputs_rw_bytes") / 2 + take("dram_write_bytes")
    m, k, n = (ops.loc[is_g, c].to_numpy(float) for c in ("m", "k", "n"))
    mode = ops.loc[is_g, "mac_mode"].to_numpy()
    ops.loc[is_g, "macs"] = m * k * n * batch
    # every element that enters the array from a buffer passes one decoder at the array edge (weights only for
    # weight-only lanes, whose activations are FP16)
    decoded = ops.loc[is_g, "decoder"].to_numpy() != ""
    x_el = ops.loc[is_g, "sram_inputs_read_bytes"].to_numpy() / (ops.loc[is_g, "x_bits"].to_numpy() / 8)
    w_el = ops.loc[is_g, "sram_weights_read_bytes"].to_numpy() / (ops.loc[is_g, "w_bits"].to_numpy() / 8)
    ops.loc[is_g, "decode_lookups"] = np.where(decoded, np.where(mode != "w4a16", x_el, 0) + w_el, 0)
    # one scaled partial per output and block of K (one per output for per-row scales: block_k = K)
    bk = ops.loc[is_g, "block_k"].to_numpy(np.int64)
    ops.loc[is_g, "block_scales"] = np.where(bk > 0, m * n * ceil_div(k, np.maximum(bk, 1)) * batch, 0)
    comp = ops.loc[is_g, "compute_cycles"].to_numpy()
    ops.loc[is_g, "bottleneck"] = np.where(comp >= ops.loc[is_g, "memory_cycles"].to_numpy(), "compute", "dram")


def _quantize_ops(ops: pd.DataFrame, arch: ArchSpec, trace: Trace):
    is_q = (ops.kind == "quantize").to_numpy()
    if not is_q.any():
        return
    lu = arch.lut_unit
    d = ops.loc[is_q, "dialects_scanned"].to_numpy(np.int64)      # SeDA: already D / S (trace.py)
    m, k = ops.loc[is_q, "m"].to_numpy(np.int64), ops.loc[is_q, "k"].to_numpy(np.int64)
    blocks = m * ceil_div(k, ops.loc[is_q, "block_k"].to_numpy(np.int64))
    kind = ops.loc[is_q, "quantizer"].to_numpy()
    on_lut = np.isin(kind, DIALECT_SELECTORS)
    # LUT unit: D / banks passes per block (two-stage: one); scale-and-round units: block / lanes cycles per block
    aq = {q: (units, lanes) for q, units, lanes in arch.act_quantizers}
    lanes = np.array([aq.get(q, (1, 1))[1] for q in kind], dtype=np.int64)
    block_k = ops.loc[is_q, "block_k"].to_numpy(np.int64)
    passes = np.where(on_lut, 1 if lu.selector == "two_stage" else ceil_div(np.maximum(d, 1), lu.banks),
                      ceil_div(block_k, lanes))
    units = np.array([lu.units if lut else aq.get(q, (1, 1))[0] for q, lut in zip(kind, on_lut)], dtype=np.int64)
    lut_cycles = ceil_div(blocks * passes, units)
    read_b, write_b = m * k * FP16_BYTES, m * k * ops.loc[is_q, "x_bits"].to_numpy(float) / 8
    mem = (read_b + write_b) / arch.dram_bytes_per_cycle
    own = np.maximum(lut_cycles, mem)
    consumer = ops.loc[is_q, "consumer"].to_numpy(np.int64)
    has_c = consumer >= 0
    hide = np.where(has_c, ops.cycles.to_numpy()[np.where(has_c, consumer, 0)], 0.0)
    ops.loc[is_q, "cycles"] = np.maximum(own - hide, 0.0)
    ops.loc[is_q, "compute_cycles"] = lut_cycles
    ops.loc[is_q, "memory_cycles"] = mem
    ops.loc[is_q, "lut_elems"] = np.where(on_lut, m * k, 0)
    ops.loc[is_q, "lut_err_lookups"] = np.where(on_lut, m * k * np.maximum(d, 1), 0)
    ops.loc[is_q, "lut_blocks"] = np.where(on_lut, blocks, 0)
    ops.loc[is_q, "scale_quant_elems"] = np.where(on_lut, 0, m * k)
    ops.loc[is_q, "dram_read_bytes"] = read_b
    ops.loc[is_q, "dram_write_bytes"] = write_b
    ops.loc[is_q, "sram_outputs_read_bytes"] = read_b      # FP16 activations staged in the output buffer
    ops.loc[is_q, "sram_inputs_write_bytes"] = write_b     # codes + block metadata into the input buffer
    ops.loc[is_q, "bottleneck"] = np.where(lut_cycles >= mem, np.where(on_lut, "lut_unit", "act_quantizer"),
                                           "dram")
    slow = has_c & (lut_cycles > hide)          # the GEMM waits for the LUT unit itself, not for DRAM
    ops.loc[consumer[slow], "bottleneck"] = np.where(on_lut[slow], "lut_unit", "act_quantizer")


def _vector_ops(ops: pd.DataFrame, arch: ArchSpec):
    is_v = (ops.kind == "vector").to_numpy()
    elems = ops.loc[is_v, "elems"].to_numpy(float)
    vec = elems * ops.loc[is_v, "ops_per_elem"].to_numpy(float)
    lanes_cycles = np.ceil(vec / arch.vector_unit.lanes)
    onchip = ops.loc[is_v, "x_onchip"].to_numpy(bool)
    dram = np.where(onchip, 0.0, elems * FP16_BYTES)
    mem = 2 * dram / arch.dram_bytes_per_cycle
    ops.loc[is_v, "vec_ops"] = vec
    ops.loc[is_v, "compute_cycles"] = lanes_cycles
    ops.loc[is_v, "memory_cycles"] = mem
    ops.loc[is_v, "cycles"] = np.maximum(lanes_cycles, mem)
    ops.loc[is_v, "dram_read_bytes"] = dram
    ops.loc[is_v, "dram_write_bytes"] = dram
    ops.loc[is_v, "sram_outputs_read_bytes"] = elems * FP16_BYTES
    ops.loc[is_v, "sram_outputs_write_bytes"] = elems * FP16_BYTES
    ops.loc[is_v, "bottleneck"] = np.where(lanes_cycles >= mem, "vector", "dram")
