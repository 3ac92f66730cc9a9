"""The PE array's exact cycle count (hdl/pe_array.v) as a closed form, and the golden table measured on the RTL.

A GEMM Y (M x N) = X (M x K) W^T on a ROWS x COLS output-stationary array, blocks of 32 along K:
    n_tiles = ceil(M / ROWS) * ceil(N / COLS),  NB = ceil(K / block)
    per tile: NB + (ROWS - 1) + (COLS - 1)   skewed operand feed (block b reaches PE (r, c) at tile cycle b + r + c)
              + 2                            PE pipeline: operand registers -> (P, s) registers -> accumulator
                                             (the edge decoders sit before the first operand registers: no cycle)
              + ROWS                         drain: one array row of COLS float32 results written per cycle
            = NB + 2 * ROWS + COLS
    cycles  = n_tiles * (NB + 2 * ROWS + COLS)
counted from the clock edge that samples `start` (exclusive) to the edge that raises `done` (inclusive); no
overlap between tiles (the next tile's feed starts after the drain).

    python -m rtl_models.cycles      # re-measure on the RTL and rewrite data/rtl_cycles.csv
"""
from __future__ import annotations

import csv
from math import ceil
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
CYCLES_CSV = DATA_DIR / "rtl_cycles.csv"
BLOCK = 32
PE_PIPELINE_STAGES = 2

# (rows, cols) -> GEMM shapes (M, N, K) measured for the golden table; edge tiles and K not a multiple of 32 included
GOLDEN_SHAPES = {
    (4, 4): ((4, 4, 32), (8, 8, 96), (5, 7, 64), (16, 16, 256), (16, 4, 128), (3, 13, 40)),
    (2, 3): ((2, 3, 32), (5, 4, 96), (8, 9, 160)),
    (1, 1): ((1, 1, 32), (3, 2, 64)),
}


def pe_array_tile_cycles(rows: int, cols: int, m: int, n: int, k: int, block: int = BLOCK) -> int:
    """Exact cycles of pe_array_gemm for one GEMM (all its tiles), per the module docstring's formula."""
    for name, v in (("rows", rows), ("cols", cols), ("m", m), ("n", n), ("k", k), ("block", block)):
        if v <= 0:
            raise ValueError(f"pe_array_tile_cycles: {name} must be positive, got {v}")
    n_tiles = ceil(m / rows) * ceil(n / cols)
    nb = ceil(k / block)
    per_tile = nb + (rows - 1) + (cols - 1) + PE_PIPELINE_STAGES + rows
    return n_tiles * per_tile


def read_csv(path: Path = CYCLES_CSV) -> list:
    with open(path, newline="") as f:
        return [{k: int(v) for k, v in row.items()} for row in csv.DictReader(f)]


PE_ARRAY_SOURCES = ("trees.v", "mac_units.v", "edge_decoders.v", "bs_fp32_acc.v", "pe_array.v")


def array_case(rows: int, cols: int, shapes, extremes: bool = True):
    from .runner import RtlCase
    return RtlCase(f"pe_array_{rows}x{cols}", "pe_array_gemm", PE_ARRAY_SOURCES, "rtl_models.tb.array_tb",
                   parameters=(("ROWS", rows), ("COLS", cols)), book_size=16,
                   config=(("shapes", [list(s) for s in shapes]), ("extremes", extremes)))


def regenerate(path: Path = CYCLES_CSV, log=print) -> list:
    """Run every golden shape on the RTL (outputs checked bit for bit against quant.qgemm) and write the CSV."""
    from .runner import run_case
    rows = []
    for (r, c), shapes in GOLDEN_SHAPES.items():
        res = run_case(array_case(r, c, shapes))
        if res.failed:
            raise RuntimeError(f"RTL GEMM failed for array {r}x{c}; see {res.log}")
        for s in res.data["gemm"]["shapes"]:
            rows.append({k: s[k] for k in ("m", "n", "k", "rows", "cols", "cycles")})
            log(f"{r}x{c} array, GEMM {s['m']}x{s['n']}x{s['k']}: {s['cycles']} cycles")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["m", "n", "k", "rows", "cols", "cycles"])
        w.writeheader()
        w.writerows(rows)
    return rows


if __name__ == "__main__":
    regenerate()
