"""The PE array's exact cycle count (hdl/pe_array.v) as a closed form, and the golden table measured on the RTL.

A GEMM Y (M x N) = X (M x K) W^T on a ROWS x COLS output-stationary array whose PEs take LANES elements of K per
cycle through a PIPELINE-stage pipeline (blocks of 32 along K):
    n_tiles = ceil(M / ROWS) * ceil(N / COLS),  steps = ceil(K / LANES)   (K-steps; = ceil(K / 32) blocks at 32)
    per tile: steps + (ROWS - 1) + (COLS - 1)   skewed operand feed (K-step j reaches PE (r, c) at tile cycle j + r + c)
              + PIPELINE                        PE pipeline: 2 = operand registers -> (P, s) registers -> accumulator
                                                (LANES = 32); 4 = decode -> multiply -> adder tree -> block partial +
                                                block scaler/accumulator (the edge decoders add no cycle)
              + ROWS                            drain: one array row of COLS float32 results written per cycle
            = steps + 2 * ROWS + COLS - 2 + PIPELINE
    cycles  = n_tiles * (steps + 2 * ROWS + COLS - 2 + PIPELINE)
counted from the clock edge that samples `start` (exclusive) to the edge that raises `done` (inclusive); no
overlap between tiles (the next tile's feed starts after the drain).  This is sim/accel/mapping.py's
tile_compute_cycles with k_steps = ceil(K / macs_per_cycle), pipeline_depth = PIPELINE, drain = ROWS.

    python -m rtl_models.cycles      # re-measure on the RTL and rewrite data/rtl_cycles.csv
"""
from __future__ import annotations

import csv
import io
from math import ceil
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CYCLES_CSV = DATA_DIR / "rtl_cycles.csv"
CSV_FIELDS = ("m", "n", "k", "rows", "cols", "lanes", "pipeline", "cycles")
BLOCK = 32
PIPELINES = (2, 4)          # the two PE pipelines pe_array.v implements (2 only with LANES = 32)

# (rows, cols, lanes, pipeline) -> GEMM shapes (M, N, K) measured for the golden table: edge tiles, K not a multiple
# of 32, and (LANES < 32) K ending inside a block after one or several K-steps
GOLDEN_SHAPES = {
    (4, 4, 32, 2): ((4, 4, 32), (8, 8, 96), (5, 7, 64), (16, 16, 256), (16, 4, 128), (3, 13, 40)),
    (2, 3, 32, 2): ((2, 3, 32), (5, 4, 96), (8, 9, 160)),
    (1, 1, 32, 2): ((1, 1, 32), (3, 2, 64)),
    (4, 4, 8, 4): ((4, 4, 32), (8, 8, 96), (5, 7, 64), (16, 16, 256), (3, 13, 40), (6, 5, 44), (16, 4, 100)),
    (8, 4, 8, 4): ((8, 4, 32), (16, 8, 128), (5, 7, 72), (13, 9, 200), (16, 16, 256), (9, 5, 40), (1, 1, 8)),
    (4, 4, 16, 4): ((8, 8, 96), (3, 13, 40), (5, 7, 48)),
    (2, 3, 32, 4): ((5, 4, 96), (8, 9, 160)),
}


def pe_array_tile_cycles(rows: int, cols: int, m: int, n: int, k: int, lanes: int = BLOCK, pipeline: int = 2,
                         block: int = BLOCK) -> int:
    """Exact cycles of pe_array_gemm for one GEMM (all its tiles), per the module docstring's formula."""
    for name, v in (("rows", rows), ("cols", cols), ("m", m), ("n", n), ("k", k), ("lanes", lanes),
                    ("block", block)):
        if v <= 0:
            raise ValueError(f"pe_array_tile_cycles: {name} must be positive, got {v}")
    if block % lanes or lanes & (lanes - 1):
        raise ValueError(f"pe_array_tile_cycles: lanes must be a power of two dividing the block {block}, got {lanes}")
    if pipeline not in PIPELINES or (pipeline == 2 and lanes != block):
        raise ValueError(f"pe_array_tile_cycles: pipeline must be 4, or 2 with lanes = {block}; got {pipeline} "
                         f"with lanes {lanes}")
    n_tiles = ceil(m / rows) * ceil(n / cols)
    steps = ceil(k / lanes)
    per_tile = steps + (rows - 1) + (cols - 1) + pipeline + rows
    return n_tiles * per_tile


def online_pair_cycles(rows: int, cols: int, m: int, n: int, k: int, lanes: int = BLOCK, pipeline: int = 2,
                       passes: int = 1, block: int = BLOCK) -> int:
    """Exact cycles of online_pair_gemm (hdl/online_pair_gemm.v) for one GEMM whose (m + n) * ceil(k / block)
    operand blocks are offered one per cycle, start raised with the last: the time-shared LUT selector takes a
    block every `passes` (= D / BANKS) cycles, the last result is written one edge after it is registered, the
    array samples start one edge later, then pe_array_tile_cycles.  Counted from the edge that accepts the first
    block (exclusive) to the edge that raises done (inclusive)."""
    if passes <= 0:
        raise ValueError(f"online_pair_cycles: passes must be positive, got {passes}")
    blocks = (m + n) * ceil(k / block)
    return blocks * passes + 2 + pe_array_tile_cycles(rows, cols, m, n, k, lanes, pipeline, block)


def read_csv(path: Path = CYCLES_CSV) -> list:
    """The golden rows as dicts of ints (every column of CSV_FIELDS)."""
    with open(path, newline="") as f:
        return [{k: int(v) for k, v in row.items()} for row in csv.DictReader(f)]


PE_ARRAY_SOURCES = ("trees.v", "mac_units.v", "edge_decoders.v", "bs_fp32_acc.v", "pe_array.v")
ONLINE_PAIR_SOURCES = PE_ARRAY_SOURCES + ("q_frontend.v", "lut_selector.v", "online_pair_gemm.v")


def array_case(rows: int, cols: int, shapes, extremes: bool = True, lanes: int = BLOCK, pipeline: int = 2,
               order_shapes=()):
    """The cocotb case for one array configuration: `shapes` with the default stimulus, `order_shapes` with the
    accumulation-order stimulus (tb/vectors.order_operands)."""
    from .runner import RtlCase
    suffix = "" if (lanes, pipeline) == (BLOCK, 2) else f"_l{lanes}_p{pipeline}"
    return RtlCase(f"pe_array_{rows}x{cols}{suffix}", "pe_array_gemm", PE_ARRAY_SOURCES, "rtl_models.tb.array_tb",
                   parameters=(("ROWS", rows), ("COLS", cols), ("LANES", lanes), ("PIPELINE", pipeline)),
                   book_size=16,
                   config=(("shapes", [list(s) for s in shapes]), ("order_shapes", [list(s) for s in order_shapes]),
                           ("extremes", extremes)))


def regenerate(path: Path = CYCLES_CSV, log=print) -> list:
    """Run every golden shape on the RTL (outputs checked bit for bit against quant.qgemm) and write the CSV."""
    from reports.io import atomic_write_text     # writing only: the reports layer is not needed to read

    from .runner import run_case
    rows = []
    for (r, c, lanes, pipe), shapes in GOLDEN_SHAPES.items():
        res = run_case(array_case(r, c, shapes, lanes=lanes, pipeline=pipe))
        if res.failed:
            raise RuntimeError(f"RTL GEMM failed for array {r}x{c} LANES={lanes} PIPELINE={pipe}; see {res.log}")
        for s in res.data["gemm"]["shapes"]:
            rows.append({k: s[k] for k in CSV_FIELDS})
            log(f"{r}x{c} array, LANES={lanes} PIPELINE={pipe}, GEMM {s['m']}x{s['n']}x{s['k']}: {s['cycles']} cycles")
    text = io.StringIO()
    w = csv.DictWriter(text, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, text.getvalue())
    return rows


if __name__ == "__main__":
    regenerate()
