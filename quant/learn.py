"""Learning a formatbook from calibration data (docs/formats.md#dialectfp4-32, "scaling the formatbook") [ours].

The search space is every 8-level grid of half-units that contains 0 and fits 4 bits: 0 plus 7 distinct
magnitudes out of 1..15, C(15, 7) = 6435 grids.  Starting from a base book, a greedy loop adds the grid that most
reduces the calibration error of `lut_argmin` selection,

    total(book) = sum over calibration blocks b of  min over dialects d in book of  sum_i ERR[d][q_{b,i}]

(ERR in quarter-units squared, exactly what the hardware LUT unit adds up).  A block's cost under one dialect
depends only on the histogram of its 32 possible q values, so each candidate's per-block cost is a 32-vector dot
product and the whole candidate set is one matrix product per chunk of blocks (float32 is exact here: every
partial sum is an integer below 2^24).
"""
from __future__ import annotations

import heapq
from itertools import combinations

import numpy as np

from .blocks import as_blocks, block_exponent, intermediate_q
from .formatbooks import MAX_HALF_UNITS, N_LEVELS, N_Q, Dialect, Formatbook, _lut_tables, formatbook

_CHUNK_ELEMENTS = 1 << 22   # blocks x candidates per matrix product: bounds the scratch memory (~16 MB float32)


def all_grids() -> np.ndarray:
    """Every 8-level half-unit grid containing 0 with magnitudes in 0..15: int64 (6435, 8), ascending rows,
    in lexicographic order (the greedy search breaks ties toward the earliest grid)."""
    rows = [(0, *c) for c in combinations(range(1, MAX_HALF_UNITS + 1), N_LEVELS - 1)]
    return np.array(rows, dtype=np.int64)


def seeded_extension(base: str = "dialectfp4", extra: int = 16, seed: int = 32, name: str = "seeded32",
                     prefix: str = "s") -> Formatbook:
    """`base` plus `extra` further valid grids picked by a seeded permutation of all_grids() (test and benchmark
    data for D > 16 paths; not a calibrated book, unregistered)."""
    book = formatbook(base)
    have = {d.half_units for d in book.dialects}
    grids = [tuple(int(h) for h in g) for g in all_grids()]
    order = np.random.default_rng(seed).permutation(len(grids))
    picked = [grids[i] for i in order if grids[i] not in have][:extra]
    return Formatbook(name, book.dialects + tuple(Dialect(f"{prefix}{i}", g) for i, g in enumerate(picked)),
                      provenance=f"{base} + {extra} grids by seeded pick (seed {seed}); test data, not calibrated")


def q_histograms(calib, block: int = 32) -> tuple:
    """Per-block histograms of the 5-bit intermediate q: (unique histograms float32 (U, 32), counts (U,)).

    Identical histograms are merged (their costs are identical), weighted by how often they occur.
    """
    xb = as_blocks(calib, block, tensor="calibration data")
    q = intermediate_q(xb, block_exponent(xb)).reshape(-1, block)
    hist = np.zeros((q.shape[0], N_Q), dtype=np.int64)
    np.add.at(hist, (np.repeat(np.arange(q.shape[0]), block), q.reshape(-1)), 1)
    uniq, counts = np.unique(hist, axis=0, return_counts=True)
    return uniq.astype(np.float32), counts.astype(np.float64)


def block_costs(hist: np.ndarray, grids: np.ndarray) -> np.ndarray:
    """LUT cost of every (histogram, grid) pair: float32 (U, C), integers exactly."""
    _, err = _lut_tables(np.asarray(grids, dtype=np.int64))
    return hist @ err.T.astype(np.float32)


def calibration_error(calib, book, block: int = 32) -> float:
    """Total lut_argmin error of `book` on `calib` (quarter-units squared, summed over all elements)."""
    hist, counts = q_histograms(calib, block)
    return float(counts @ block_costs(hist, formatbook(book).magnitudes).min(axis=1).astype(np.float64))


def _gains(hist, counts, cur, grids) -> np.ndarray:
    """Error reduction of adding each grid: sum_b counts_b * max(0, cur_b - cost_b(grid)), float64 (C,), exact."""
    gains = np.zeros(len(grids), dtype=np.float64)
    step = max(1, _CHUNK_ELEMENTS // len(grids))
    for s in range(0, len(hist), step):
        cost = block_costs(hist[s:s + step], grids)
        gains += counts[s:s + step] @ np.maximum(cur[s:s + step, None] - cost, 0).astype(np.float64)
    return gains


def _greedy(hist, counts, cur, grids, taken, n_add) -> list:
    """Indices of `n_add` grids, each the one with the largest gain given the ones before (ties to the lowest
    index).  Lazy evaluation: a facility-location objective is submodular, so a gain computed at an earlier
    step is an upper bound now; a candidate whose fresh gain beats every other bound is the exact greedy pick."""
    gains = _gains(hist, counts, cur, grids)
    skip = set(taken)
    heap = [(-g, c, 0) for c, g in enumerate(gains) if c not in skip]
    heapq.heapify(heap)
    picked = []
    for step in range(n_add):
        while True:
            if not heap:
                raise ValueError(f"learn_formatbook: only {len(grids)} candidate grids, too few for the size asked")
            _, c, stamp = heapq.heappop(heap)
            if stamp == step:                   # fresh this step and still on top: the exact greedy choice
                break
            g = float(counts @ np.maximum(cur - block_costs(hist, grids[c:c + 1])[:, 0], 0).astype(np.float64))
            heapq.heappush(heap, (-g, c, step))
        picked.append(c)
        cur = np.minimum(cur, block_costs(hist, grids[c:c + 1])[:, 0])
    return picked


def learn_formatbook(calib, size: int = 32, base="dialectfp4", name: str = "learned", block: int = 32,
                     candidates=None, description: str = "unspecified calibration data") -> Formatbook:
    """Greedy formatbook search; returns a frozen Formatbook of `size` dialects.

    calib:       float array (..., K), blocked along the last axis exactly as activations are quantized
    size:        dialects in the result (base dialects first, keeping their ids; learned ones appended)
    base:        a Formatbook, a registered name, or None to learn every dialect from scratch
    candidates:  optional (C, 8) half-unit grids to search instead of all 6435
    description: words for the provenance text (what the calibration data is)
    """
    grids = all_grids() if candidates is None else np.asarray(candidates, dtype=np.int64).reshape(-1, N_LEVELS)
    for g in grids:                              # validates every candidate the same way a Dialect does
        Dialect("candidate", tuple(int(h) for h in g))
    base_book = formatbook(base) if base is not None else None
    chosen = [tuple(int(h) for h in row) for row in base_book.magnitudes] if base_book is not None else []
    if size < len(chosen):
        raise ValueError(f"learn_formatbook: size {size} is smaller than base book {base_book.name} "
                         f"({len(chosen)} dialects)")
    index = {tuple(int(h) for h in g): i for i, g in enumerate(grids)}
    hist, counts = q_histograms(calib, block)
    # with no base, every block starts at a cost above any grid's, so gains rank grids by their total error
    cur = (block_costs(hist, np.array(chosen)).min(axis=1) if chosen
           else np.full(len(hist), np.float32(block * (N_Q - 1) ** 2 + 1), dtype=np.float32))
    base_err = float(counts @ cur) if chosen else float("nan")
    for c in _greedy(hist, counts, cur, grids, [index[c] for c in chosen if c in index], size - len(chosen)):
        chosen.append(tuple(int(h) for h in grids[c]))
    total = float(counts @ block_costs(hist, np.array(chosen)).min(axis=1))
    n_base = base_book.size if base_book is not None else 0
    provenance = (f"[ours] learn_formatbook: greedy search over {len(grids)} 8-level half-unit grids; "
                  f"base {base_book.name if base_book is not None else '(none)'} ({n_base} dialects) + "
                  f"{size - n_base} learned; lut_argmin calibration error {base_err:.0f} -> {total:.0f} "
                  f"(quarter-units^2) on {int(counts.sum())} blocks of {block}: {description}")
    return Formatbook(name, tuple(Dialect(f"d{i}", h) for i, h in enumerate(chosen)), provenance=provenance)


def freeze_source(book: Formatbook) -> str:
    """Python source that defines and registers `book` as a named constant, for quant/learned_books.py."""
    const = book.name.upper().replace("-", "_").replace(".", "_")
    rows = [f"    ({d.name!r}, {tuple(int(h) for h in d.half_units)!r})," for d in book.dialects]
    return "\n".join([
        f"# {book.name}: {book.size} dialects.",
        f"# Provenance: {book.provenance}",
        f"_{const}_DIALECTS = (",
        *rows,
        ")",
        f"{const} = register_formatbook(Formatbook(",
        f"    {book.name!r},",
        f"    tuple(Dialect(n, h) for n, h in _{const}_DIALECTS),",
        f"    provenance={book.provenance!r},",
        "))",
        "",
    ])
