"""The fused attention's tile pipeline: softmax on the vector unit overlapped with the PE array's matmuls.

Serial schedule (a design without `vector_unit.overlap_attention`): QK^T, then softmax (and the column sums of
decomposition / SeDA), then PV, each costed alone, so attention takes a + v cycles (a: the array's cycles for both
matmuls, v: the vector unit's).

Tile pipeline (FlashAttention-2's tiling, Dao 2023; FlashAttention-3, Shah et al. 2024, overlaps the softmax of
one tile with the matmuls of the next on GPUs the same way): S = Q K^T is produced in tiles of Br queries x Bc
keys.  While the array computes S for tile j+1 (and PV of an earlier tile), the vector unit runs the online
softmax (row max, subtract, exp, row sum, rescale) of tile j.  The array never waits for the vector unit when
v <= a, and the vector unit's work for the first tile (v_tile) is exposed once per attention op (the pipeline
runs on across heads), so

    cycles = a + v_tile + max(0, v - a)        (the vector rows carry v_tile + max(0, v - a)).

Counting one whole tile of fill is conservative by at most one tile's array time.

Buffers: while tile j+1 of S (float32) is written, tile j is read, so two S tiles live in the output buffer next
to PV's output accumulator; Q and P tiles share the input buffer, K and V tiles the weight buffer.  The mapper
gives QK^T a share s of every buffer and PV the rest (each double-buffered inside its share, as every tile is),
for s in S_TILE_SHARES, and keeps one schedule (serial with whole buffers, or pipelined at one share) by its tile
rule: within 5 % of the fewest cycles, the least DRAM traffic.  A design that is not double-buffered has no room for the second S tile: serial.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .mapping import GEMM_KEY, TILING_CYCLE_SLACK, cached_mapping, gemm_problems
from .schema import SpecError
from .spec import PSUM_BYTES, ArchSpec

# shares of each buffer given to QK^T's tiles (the rest to PV's) that the mapper tries [ours: a coarse grid;
# tile sizes move in powers of two, so finer shares rarely change a tile]
S_TILE_SHARES = (0.25, 0.5, 0.75)


@dataclass(frozen=True)
class TilePipeline:
    """One attention op's pipelined schedule: new mapper numbers for its two GEMM rows (per batch element) and
    the exposed cycles of its vector rows."""

    gemm_rows: np.ndarray         # [QK^T row, PV row]
    gemm_costs: dict              # mapper key -> array of 2
    vector_rows: np.ndarray
    vector_cycles: np.ndarray
    share: float                  # of each buffer given to QK^T
    s_tile: tuple                 # (Br, Bc) of S


def shared_buffers(arch: ArchSpec, share: float) -> ArchSpec:
    """`arch` with every global buffer cut to `share` of its size (the part one of the two matmuls may use)."""
    gb = arch.global_buffer
    cut = lambda b: replace(b, size_bytes=int(b.size_bytes * share))
    return replace(arch, global_buffer=replace(gb, inputs=cut(gb.inputs), weights=cut(gb.weights),
                                               outputs=cut(gb.outputs)))


def live_bytes(arch: ArchSpec, qk: dict, pv: dict, qk_bytes: tuple, pv_bytes: tuple) -> dict:
    """Bytes live at once in each buffer while the pipeline runs (both tiles of each operand: double-buffered):
    S tiles (float32) and PV's accumulator in the outputs, Q and P tiles in the inputs, K and V in the weights.
    qk_bytes / pv_bytes: (x, w) bytes per element."""
    two = 2 if arch.global_buffer.double_buffered else 1
    mq, nq, kq = (int(qk[c]) for c in ("mt", "nt", "kt"))
    mp, np_, kp = (int(pv[c]) for c in ("mt", "nt", "kt"))
    return {"outputs": two * (mq * nq + mp * np_) * PSUM_BYTES,
            "inputs": two * (mq * kq * qk_bytes[0] + mp * kp * pv_bytes[0]),
            "weights": two * (nq * kq * qk_bytes[1] + np_ * kp * pv_bytes[1])}


def tile_pipelines(out: dict, t: dict, arch: ArchSpec, dataflows: tuple) -> list:
    """The pipelined schedule of every fused attention (rows sharing `attention_tile`) where it beats the serial
    one already in `out` (GEMM and vector cycles costed alone)."""
    if not arch.global_buffer.double_buffered:
        return []
    group = t["attention_tile"]
    plans, memo = [], {}
    for q in np.flatnonzero(group == np.arange(len(group))):
        rows = np.flatnonzero(group == q)
        pv = rows[(t["kind"][rows] == "gemm") & (rows != q)]
        vec = rows[t["kind"][rows] == "vector"]
        key = tuple(t[c][r] for r in (q, *pv) for c in (*GEMM_KEY, "batch")) + tuple(
            (t["elems"][r], t["ops_per_elem"][r]) for r in vec)
        if key not in memo:
            memo[key] = _best(out, t, arch, dataflows, q, int(pv[0]), vec)
        best = memo[key]
        if best is not None:
            share, costs, s_tile, exposed = best
            v = out["cycles"][vec]
            plans.append(TilePipeline(np.array([q, pv[0]]), costs, vec, exposed * v / max(v.sum(), 1e-30),
                                      share, s_tile))
    return plans


def _best(out, t, arch: ArchSpec, dataflows, q: int, pv: int, vec) -> tuple | None:
    """(share, GEMM costs, S tile, exposed vector cycles) of the pipelined schedule the mapper keeps, or None for
    the serial one.  The mapper's tile rule (mapping.choose_tiling): among schedules within TILING_CYCLE_SLACK of
    the fewest cycles, the one moving the least DRAM data (smaller shares of the buffers reload K and V more
    often); the serial schedule first on a tie."""
    dram = lambda rows: float(sum(out[c][rows].sum() for c in ("dram_read_bytes", "dram_write_bytes")))
    v = float(out["cycles"][vec].sum())
    batch = float(t["batch"][q])
    ops_per_score = float(t["ops_per_elem"][vec].sum())
    options = [(out["cycles"][q] + out["cycles"][pv] + v, dram([q, pv]), None)]
    for share in S_TILE_SHARES:
        try:
            cq = cached_mapping(_problem(t, q, arch), shared_buffers(arch, share), dataflows)
            cp = cached_mapping(_problem(t, pv, arch), shared_buffers(arch, 1 - share), dataflows)
        except SpecError:                      # no tile of one of them fits its share
            continue
        tile = lambda c: {k: c[k][0] for k in ("mt", "nt", "kt")}
        live = live_bytes(arch, tile(cq), tile(cp), _elem_bytes(t, q), _elem_bytes(t, pv))
        if any(n > getattr(arch.global_buffer, b).size_bytes for b, n in live.items()):
            continue                           # (the shares make this impossible; checked, not assumed)
        a = float(cq["cycles"][0] + cp["cycles"][0]) * batch
        s_tile = (int(cq["mt"][0]), int(cq["nt"][0]))
        v_tile = float(np.ceil(s_tile[0] * s_tile[1] * ops_per_score / arch.vector_unit.lanes))
        exposed = v_tile + max(0.0, v - a)
        costs = {key: np.array([cq[key][0], cp[key][0]]) for key in cq}
        moved = float(sum(cq[c][0] + cp[c][0] for c in ("dram_read_bytes", "dram_write_bytes"))) * batch
        options.append((a + exposed, moved, (share, costs, s_tile, exposed)))
    fastest = min(o[0] for o in options)
    near = [o for o in options if o[0] <= (1 + TILING_CYCLE_SLACK) * fastest]
    return min(near, key=lambda o: o[1])[2]         # min: the first of equal DRAM traffic


def _elem_bytes(t: dict, row: int) -> tuple:
    return float(t["x_bits"][row]) / 8, float(t["w_bits"][row]) / 8


def _problem(t: dict, row: int, arch: ArchSpec):
    return gemm_problems({c: t[c][[row]] for c in GEMM_KEY}, arch)
