"""The timing engine: a trace in, per-op cycles and action counts out (no energy here: count, then cost).

GEMMs are costed once per distinct shape (vectorized over tile classes and candidate tilings, mapping.py), in the
dataflow the mapper picks per GEMM where the array switches dataflow (`pe_array.dataflows`);
online quantize ops run on the LUT unit overlapped with the GEMM that consumes their output (the quantize op's
exposed cycles are what the GEMM cannot hide; when the LUT unit is slower the GEMM's bottleneck reads
"lut_unit"); vector ops take max(lane time, DRAM time).  Where the design overlaps the vector unit with the array
(`vector_unit.overlap_attention`), a fused attention's softmax runs in a tile pipeline with its two matmuls and
only what the matmuls cannot hide is added (attention.py).

Everything here is NumPy on the trace's columns; `SimResult.per_op` builds the pandas table on first use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from . import attention
from .mapping import GEMM_KEY, cached_mapping, ceil_div, gemm_problems, get_dataflow
from .spec import ArchSpec, load_arch
from .recipes import DIALECT_SELECTORS
from .specialize import check_runs
from .trace import Trace

FP16_BYTES = 2
SRAM_COLUMNS = tuple(f"sram_{b}_{rw}_bytes" for b in ("inputs", "weights", "outputs") for rw in ("read", "write"))
# per-op results, in the order they follow the trace's columns in `per_op` (then `bottleneck`)
RESULT_COLUMNS = ("cycles", "compute_cycles", "memory_cycles", "macs", "decode_lookups", "block_scales", "lut_elems",
                  "lut_err_lookups", "lut_blocks", "scale_quant_elems", "vec_ops", *SRAM_COLUMNS, "dram_read_bytes",
                  "dram_write_bytes")


@dataclass(frozen=True)
class SimResult:
    """per_op: the trace's columns plus, per single instance of the op, `cycles` (what it adds to the run),
    `compute_cycles`, `memory_cycles`, `bottleneck`, `dataflow` (GEMMs: the one the mapper chose) and action
    counts (macs, decode_lookups, block_scales, lut_*, vec_ops, sram_*_bytes, dram_*_bytes).  Totals multiply by
    `repeat`.  `results` holds the same columns as NumPy arrays (RESULT_COLUMNS, `bottleneck`, `dataflow`).
    `dataflow` (the attribute) names the dataflows the mapper chose from, e.g. "os+ws"."""

    trace: Trace
    arch: ArchSpec
    dataflow: str
    results: dict = field(repr=False)

    def column(self, name: str) -> np.ndarray:
        """A per-op column (a result or a trace column) as a NumPy array."""
        return self.results[name] if name in self.results else self.trace.columns[name]

    @cached_property
    def per_op(self):
        df = self.trace.ops.copy()
        for c in (*RESULT_COLUMNS, "bottleneck", "dataflow"):
            df[c] = self.results[c]
        return df

    @property
    def total_cycles(self) -> float:
        return float((self.results["cycles"] * self.trace.columns["repeat"]).sum())

    @property
    def latency_s(self) -> float:
        return self.total_cycles / (self.arch.clock_mhz * 1e6)

    def total(self, column: str) -> float:
        return float((self.column(column) * self.trace.columns["repeat"]).sum())


def simulate(trace: Trace, arch: ArchSpec | str = "edge", dataflow: str | None = None) -> SimResult:
    """`dataflow` forces one dataflow on every GEMM (a what-if, or the fixed-dataflow comparison with SCALE-Sim);
    None: the design's (`pe_array.dataflows`, chosen per GEMM, or its one `dataflow`)."""
    arch = load_arch(arch) if not isinstance(arch, ArchSpec) else arch
    dataflows = (dataflow,) if dataflow else arch.pe_array.mapper_dataflows
    for d in dataflows:
        get_dataflow(d)
    t = trace.columns
    # the online quantizers a trace uses are the recipe's (a --full-path what-if reuses the linears' kind and book)
    check_runs(arch, trace.recipe, set(t["mac_mode"][t["kind"] == "gemm"].tolist()))
    n = len(trace)
    out = {c: np.zeros(n) for c in RESULT_COLUMNS}
    out["bottleneck"] = np.full(n, "", dtype=object)
    out["dataflow"] = np.full(n, "", dtype=object)
    _gemms(out, t, arch, dataflows)
    _vector_ops(out, t, arch)
    if arch.vector_unit.overlap_attention:
        for plan in attention.tile_pipelines(out, t, arch, dataflows):
            put_gemm_costs(out, t, plan.gemm_rows, plan.gemm_costs, dataflows)
            out["cycles"][plan.vector_rows] = plan.vector_cycles
    _quantize_ops(out, t, arch)             # after the GEMMs' final cycles: they hide the LUT unit's work
    return SimResult(trace, arch, "+".join(dataflows), out)


def _distinct(t: dict, idx: np.ndarray) -> tuple:
    """(first row of each distinct GEMM_KEY among rows idx, inverse: distinct index per row)."""
    seen, first, inverse = {}, [], np.empty(len(idx), dtype=np.int64)
    for i, key in enumerate(zip(*(t[c][idx].tolist() for c in GEMM_KEY))):
        j = seen.setdefault(key, len(seen))
        if j == len(first):
            first.append(idx[i])
        inverse[i] = j
    return np.array(first, dtype=np.int64), inverse


def _gemms(out: dict, t: dict, arch: ArchSpec, dataflows: tuple):
    idx = np.flatnonzero(t["kind"] == "gemm")
    if not len(idx):
        return
    first, inverse = _distinct(t, idx)
    cost = cached_mapping(gemm_problems({c: t[c][first] for c in GEMM_KEY}, arch), arch, dataflows)
    put_gemm_costs(out, t, idx, {key: v[inverse] for key, v in cost.items()}, dataflows)


def put_gemm_costs(out: dict, t: dict, idx: np.ndarray, cost: dict, dataflows: tuple):
    """Write the mapper's numbers (`cost`: one entry per row of `idx`, per batch element) into the rows idx."""
    batch = t["batch"][idx].astype(float)
    take = lambda key: cost[key] * batch
    out["dataflow"][idx] = np.asarray(dataflows, dtype=object)[cost["dataflow"]]
    for key in ("cycles", "compute_cycles", "memory_cycles", "dram_read_bytes", "dram_write_bytes",
                "sram_inputs_read_bytes", "sram_weights_read_bytes"):
        out[key][idx] = take(key)
    # buffers are filled from DRAM; partial sums go out and back in; final outputs are written then drained
    out["sram_inputs_write_bytes"][idx] = take("dram_x_bytes")
    out["sram_weights_write_bytes"][idx] = take("dram_w_bytes")
    out["sram_outputs_write_bytes"][idx] = take("sram_outputs_rw_bytes") / 2 + take("sram_outputs_final_bytes")
    out["sram_outputs_read_bytes"][idx] = take("sram_outputs_rw_bytes") / 2 + take("dram_write_bytes")
    m, k, n = (t[c][idx].astype(float) for c in ("m", "k", "n"))
    mode = t["mac_mode"][idx]
    out["macs"][idx] = m * k * n * batch
    # every element that enters the array from a buffer passes one decoder at the array edge (weights only for
    # weight-only lanes, whose activations are FP16)
    decoded = t["decoder"][idx] != ""
    x_el = out["sram_inputs_read_bytes"][idx] / (t["x_bits"][idx] / 8)
    w_el = out["sram_weights_read_bytes"][idx] / (t["w_bits"][idx] / 8)
    out["decode_lookups"][idx] = np.where(decoded, np.where(mode != "w4a16", x_el, 0) + w_el, 0)
    # one scaled partial per output and block of K (one per output for per-row scales: block_k = K)
    bk = t["block_k"][idx].astype(np.int64)
    out["block_scales"][idx] = np.where(bk > 0, m * n * ceil_div(k, np.maximum(bk, 1)) * batch, 0)
    comp = out["compute_cycles"][idx]
    out["bottleneck"][idx] = np.where(comp >= out["memory_cycles"][idx], "compute", "dram")


def _quantize_ops(out: dict, t: dict, arch: ArchSpec):
    idx = np.flatnonzero(t["kind"] == "quantize")
    if not len(idx):
        return
    lu = arch.lut_unit
    d = t["dialects_scanned"][idx].astype(np.int64)      # SeDA: already D / S (trace.py)
    m, k = t["m"][idx].astype(np.int64), t["k"][idx].astype(np.int64)
    block_k = t["block_k"][idx].astype(np.int64)
    blocks = m * ceil_div(k, block_k)
    kind = t["quantizer"][idx].tolist()
    on_lut = np.array([q in DIALECT_SELECTORS for q in kind], dtype=bool)
    # LUT unit: D / banks passes per block (two-stage: one); scale-and-round units: block / lanes cycles per block
    aq = {q: (units, lanes) for q, units, lanes in arch.act_quantizers}
    lanes = np.array([aq.get(q, (1, 1))[1] for q in kind], dtype=np.int64)
    passes = np.where(on_lut, 1 if lu.selector == "two_stage" else ceil_div(np.maximum(d, 1), lu.banks),
                      ceil_div(block_k, lanes))
    units = np.array([lu.units if lut else aq.get(q, (1, 1))[0] for q, lut in zip(kind, on_lut)], dtype=np.int64)
    lut_cycles = ceil_div(blocks * passes, units)
    read_b, write_b = m * k * FP16_BYTES, m * k * t["x_bits"][idx].astype(float) / 8
    mem = (read_b + write_b) / arch.dram_bytes_per_cycle
    own = np.maximum(lut_cycles, mem)
    consumer = t["consumer"][idx].astype(np.int64)
    has_c = consumer >= 0
    hide = np.where(has_c, out["cycles"][np.where(has_c, consumer, 0)], 0.0)
    out["cycles"][idx] = np.maximum(own - hide, 0.0)
    out["compute_cycles"][idx] = lut_cycles
    out["memory_cycles"][idx] = mem
    out["lut_elems"][idx] = np.where(on_lut, m * k, 0)
    out["lut_err_lookups"][idx] = np.where(on_lut, m * k * np.maximum(d, 1), 0)
    out["lut_blocks"][idx] = np.where(on_lut, blocks, 0)
    out["scale_quant_elems"][idx] = np.where(on_lut, 0, m * k)
    out["dram_read_bytes"][idx] = read_b
    out["dram_write_bytes"][idx] = write_b
    out["sram_outputs_read_bytes"][idx] = read_b      # FP16 activations staged in the output buffer
    out["sram_inputs_write_bytes"][idx] = write_b     # codes + block metadata into the input buffer
    out["bottleneck"][idx] = np.where(lut_cycles >= mem, np.where(on_lut, "lut_unit", "act_quantizer"), "dram")
    slow = has_c & (lut_cycles > hide)          # the GEMM waits for the LUT unit itself, not for DRAM
    out["bottleneck"][consumer[slow]] = np.where(on_lut[slow], "lut_unit", "act_quantizer")


def _vector_ops(out: dict, t: dict, arch: ArchSpec):
    idx = np.flatnonzero(t["kind"] == "vector")
    elems = t["elems"][idx].astype(float)
    vec = elems * t["ops_per_elem"][idx].astype(float)
    lanes_cycles = np.ceil(vec / arch.vector_unit.lanes)
    onchip = t["x_onchip"][idx].astype(bool)
    dram = np.where(onchip, 0.0, elems * FP16_BYTES)
    mem = 2 * dram / arch.dram_bytes_per_cycle
    out["vec_ops"][idx] = vec
    out["compute_cycles"][idx] = lanes_cycles
    out["memory_cycles"][idx] = mem
    out["cycles"][idx] = np.maximum(lanes_cycles, mem)
    out["dram_read_bytes"][idx] = dram
    out["dram_write_bytes"][idx] = dram
    out["sram_outputs_read_bytes"][idx] = elems * FP16_BYTES
    out["sram_outputs_write_bytes"][idx] = elems * FP16_BYTES
    out["bottleneck"][idx] = np.where(lanes_cycles >= mem, "vector", "dram")
