"""SeDA: semantic-aware dialect assignment (docs/features.md#seda) [paper: correlated tokens share a sub-formatbook;
every detail below is ours].

1. The formatbook (D dialects) is partitioned into S sub-formatbooks of D/S dialects (`partition_book`).
   "shape" (default): order dialects by maximum, cut into tiers of S, and deal each tier out by shape (the
   index-6 magnitude relative to the maximum, then index 5): every sub-book spans the whole range with one
   upper-magnitude shape.  "range": S contiguous slices of the maximum order (each sub-book one range).
2. Token groups come from the previous step's attention map (`token_groups`): anchors are the tokens that
   receive the most attention; every token joins the anchor it attends to most.
3. Per channel block, a group takes the sub-book that minimizes the group's summed LUT error after each member's
   own best choice inside it (`choose_subbooks`); members then select with lut_argmin restricted to that
   sub-book (`quant.quantize(..., allowed=mask)`).
4. Metadata per block shrinks from log2(D) to log2(D/S) bits, plus one log2(S)-bit sub-book id per group and
   block (`seda_bits_per_element`).

All-zero blocks keep the canonical dialect 0 whatever the sub-book (their exponent -127 marks them).
"""
from __future__ import annotations

from dataclasses import dataclass
from math import log2

import numpy as np

from .blocks import as_blocks, block_exponent, intermediate_q
from .errors import QuantError, ShapeError, UnknownNameError
from .formatbooks import Formatbook


@dataclass(frozen=True)
class SubbookPartition:
    """S disjoint sub-books of equal size covering a formatbook; `subbooks[s]` are dialect ids (ascending)."""
    book: str
    book_size: int
    subbooks: tuple
    how: str

    @property
    def n_subbooks(self) -> int:
        return len(self.subbooks)

    @property
    def member_of(self) -> np.ndarray:
        """(D,) sub-book id of every dialect."""
        m = np.empty(self.book_size, dtype=np.int64)
        for s, ids in enumerate(self.subbooks):
            m[list(ids)] = s
        return m

    def membership(self) -> np.ndarray:
        """(S, D) bool: membership[s, d] is True when dialect d belongs to sub-book s."""
        mem = np.zeros((self.n_subbooks, self.book_size), dtype=bool)
        for s, ids in enumerate(self.subbooks):
            mem[s, list(ids)] = True
        return mem

    def local_bits(self) -> int:
        return int(log2(self.book_size // self.n_subbooks))


def _shape_key(h) -> tuple:
    return (h[6] / h[7], h[5] / h[7])


def partition_book(book: Formatbook, n_subbooks: int = 4, how: str = "shape") -> SubbookPartition:
    d, s = book.size, n_subbooks
    if d % s or (d // s) & (d // s - 1):
        raise QuantError(f"SeDA: formatbook {book.name} has D={d} dialects; S={s} sub-books must divide it into "
                         f"power-of-two sizes (valid S: {[k for k in range(1, d + 1) if _valid(d, k)]})")
    mags = book.magnitudes
    by_max = sorted(range(d), key=lambda i: (-mags[i][7], i))
    groups = [[] for _ in range(s)]
    if how == "shape":
        for t in range(0, d, s):
            tier = sorted(by_max[t:t + s], key=lambda i: (tuple(-v for v in _shape_key(mags[i])), i))
            for j, i in enumerate(tier):
                groups[j].append(i)
    elif how == "range":
        for j in range(s):
            groups[j] = by_max[j * (d // s):(j + 1) * (d // s)]
    else:
        raise UnknownNameError("SeDA partition", how, ("shape", "range"))
    return SubbookPartition(book.name, d, tuple(tuple(sorted(g)) for g in groups), how)


def _valid(d: int, s: int) -> bool:
    return d % s == 0 and (d // s) & (d // s - 1) == 0


def token_groups(probs, n_anchors: int) -> np.ndarray:
    """Group ids (B, L) int64 in [0, n_anchors) from attention probabilities (B, L, L) (rows: queries).

    Anchors: the n_anchors tokens with the largest attention received (column sums; ties to the lower index).
    Token i joins the anchor j maximizing probs[b, i, anchor_j] (ties: the higher-ranked anchor); an anchor
    always forms its own group.
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 3 or p.shape[1] != p.shape[2]:
        raise ShapeError(f"token_groups: need probabilities (B, L, L), got shape {p.shape}")
    b, l, _ = p.shape
    k = min(n_anchors, l)
    received = p.sum(axis=1)                                        # (B, L)
    anchors = np.argsort(-received, axis=1, kind="stable")[:, :k]   # (B, k) ranked
    to_anchor = np.take_along_axis(p, np.broadcast_to(anchors[:, None, :], (b, l, k)), axis=2)
    groups = np.argmax(to_anchor, axis=2)                           # first maximum = higher-ranked anchor
    np.put_along_axis(groups, anchors, np.arange(k)[None, :].repeat(b, 0), axis=1)
    return groups.astype(np.int64)


def dialect_costs(x2d, book: Formatbook, block: int, tensor: str = "x") -> np.ndarray:
    """LUT cost of every dialect for every block: cost[r, b, d] = sum_i ERR[d][q_i], int64 (R, nb, D)."""
    xb = as_blocks(x2d, block, tensor)
    q = intermediate_q(xb, block_exponent(xb))
    _, err = book.lut()
    return np.stack([err[d][q].sum(axis=-1) for d in range(book.size)], axis=-1)


def choose_subbooks(cost: np.ndarray, group_ids, partition: SubbookPartition) -> tuple:
    """Per (group, block), the sub-book minimizing sum over members of min_{d in sub-book} cost (ties: lowest s).

    Returns (labels (R,) dense group index per row, choice (G, nb) sub-book ids)."""
    gid = np.asarray(group_ids).reshape(-1)
    if gid.shape[0] != cost.shape[0]:
        raise ShapeError(f"SeDA: {gid.shape[0]} group ids for {cost.shape[0]} rows")
    _, labels = np.unique(gid, return_inverse=True)
    mem = partition.membership()                                       # (S, D)
    big = np.iinfo(np.int64).max // 4
    best_in = np.stack([np.where(m, cost, big).min(axis=-1) for m in mem], axis=-1)   # (R, nb, S)
    group_cost = np.zeros((labels.max() + 1,) + best_in.shape[1:], dtype=np.int64)
    np.add.at(group_cost, labels, best_in)
    return labels, np.argmin(group_cost, axis=-1)


def allowed_mask(labels, choice: np.ndarray, partition: SubbookPartition) -> np.ndarray:
    """(R, nb, D) bool: the dialects of the sub-book chosen for each row's group, per block."""
    return partition.membership()[choice[np.asarray(labels)]]


def restricted_mask(x2d, book: Formatbook, block: int, group_ids, partition: SubbookPartition,
                    tensor: str = "x", backend: str = "reference") -> tuple:
    """The SeDA mask for quant.quantize(..., allowed=mask), and the (G, nb) sub-book choice.

    Every back end but "reference" computes the choice with the fused Numba kernel (quant/fast_seda.py), which
    gives the same integers as the NumPy spec here (tests/test_seda.py compares them)."""
    x = np.asarray(x2d)
    if backend != "reference" and x.ndim == 2 and x.shape[1] and np.issubdtype(x.dtype, np.floating) and block > 0:
        gid = np.asarray(group_ids).reshape(-1)
        if gid.shape[0] != x.shape[0]:
            raise ShapeError(f"SeDA: {gid.shape[0]} group ids for {x.shape[0]} rows")
        _, labels = np.unique(gid, return_inverse=True)
        from .fast_seda import subbook_choice
        choice = subbook_choice(x, book, block, labels, int(labels.max()) + 1, partition.member_of)
        if choice is not None:
            return allowed_mask(labels, choice, partition), choice
    labels, choice = choose_subbooks(dialect_costs(x2d, book, block, tensor), group_ids, partition)
    return allowed_mask(labels, choice, partition), choice


def seda_bits_per_element(book_size: int, n_subbooks: int, block: int, n_rows: int, n_groups: int,
                          exponent_bits: int = 8) -> float:
    """Bits per activation element under SeDA: 4 + (exponent + log2(D/S)) / block per block, plus one
    log2(S)-bit sub-book id per (group, block) shared by the group's n_rows / n_groups members."""
    local = log2(book_size // n_subbooks) if book_size > n_subbooks else 0.0
    shared = n_groups * log2(n_subbooks) / (n_rows * block) if n_subbooks > 1 else 0.0
    return 4 + (exponent_bits + local) / block + shared


@dataclass(frozen=True)
class Consistency:
    """same_dialect_share: share of same-group token pairs with the same dialect in a channel block (pairs over
    all groups and blocks); error_spread: mean over (group, block) of the std across members of the block's
    relative dequantization error ||x - DQ|| / ||x||; n_pairs: pairs counted."""
    same_dialect_share: float
    error_spread: float
    n_pairs: int


def consistency(x2d, qt, group_ids) -> Consistency:
    """The SeDA consistency metric of a quantized activation `qt` of `x2d` (R, K) with row groups."""
    x = np.asarray(x2d, dtype=np.float64).reshape(qt.rows, -1)
    _, labels = np.unique(np.asarray(group_ids).reshape(-1), return_inverse=True)
    dial = qt.dialect.astype(np.int64)
    nb, g = dial.shape[1], labels.max() + 1
    counts = np.zeros((g, nb, 256), dtype=np.int64)
    np.add.at(counts, (labels[:, None], np.arange(nb)[None, :], dial), 1)
    n_g = counts.sum(axis=-1)
    pairs = (n_g * (n_g - 1) // 2).sum()
    same = (counts * (counts - 1) // 2).sum()
    rel = _block_relative_error(x, qt.dequantize().reshape(qt.rows, -1).astype(np.float64), qt.block)
    spreads = [rel[labels == j].std(axis=0) for j in range(g) if (labels == j).sum() > 1]
    spread = float(np.nanmean(np.concatenate(spreads))) if spreads else float("nan")
    return Consistency(float(same / pairs) if pairs else float("nan"), spread, int(pairs))


def _block_relative_error(x, dq, block: int) -> np.ndarray:
    kp = -(-x.shape[1] // block) * block
    pad = lambda a: np.pad(a, ((0, 0), (0, kp - a.shape[1]))).reshape(a.shape[0], -1, block)
    num = np.sqrt((pad(x - dq) ** 2).sum(-1))
    den = np.sqrt((pad(x) ** 2).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)
