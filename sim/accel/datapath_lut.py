"""The LUT unit's selectors as datapath models, built from a design's `lut_unit` (selector kind, book size, banks,
sub-books), fed by the front end (datapath_frontend.py), ending in the IDX lookup and code packing.

- lut_argmin (rtl_models/hdl/lut_selector.v): `banks` dialect banks per pass, ceil(D / banks) passes in
  ascending id order; a bank sums its ERR row over the block's q (exact integers); an argmin tree over the
  banks of a pass (ties to the lower bank) feeds a running minimum with a strict '<' (ties keep the earlier,
  lower id).  A SeDA restriction (`allowed`) disqualifies the dialects outside the block's sub-book.
- seda: the same banks, but each block scans only the members of its sub-book (a member table of
  book_size / sub_books ids, ascending), so a pass covers `banks` members instead of `banks` ids.  Without a
  restriction it scans the whole book.
- two_stage (rtl_models/hdl/two_stage_selector.v): max tree over q -> mh = (qmax + 1) >> 1 -> the pair (2p, 2p+1)
  whose shared maximum is nearest to mh (argmin tree, ties to the lower pair) -> count of q in
  [A6 + B6, A6 + max) -> A = 2p when the count reaches the threshold, else B = 2p + 1.
- packing: code = sign << 3 | IDX[d*][q] with the sign dropped on index 0; a zero block (front end's flag)
  encodes as dialect 0 with all codes 0.
The ERR/IDX/magnitude ROM contents come from the formatbook (`Formatbook.lut()`, `magnitudes`), as the RTL's
generated ROMs do (rtl_models/rom.py).
"""
from __future__ import annotations

import numpy as np

from .datapath_frontend import FrontEnd
from .schema import SpecError
from .spec import ArchSpec

ONLINE_SELECTORS = ("lut_argmin", "two_stage")
# design selector kind -> the online selectors its datapath runs (None: the kind has no LUT unit)
UNIT_RUNS = {"lut_argmin": ("lut_argmin",), "seda": ("lut_argmin",), "two_stage": ("two_stage",), "none": ()}
COST_MAX = np.iinfo(np.int64).max       # a disqualified dialect's cost: all ones in the comparator


class LutUnitModel:
    """One LUT unit of `arch` (the units of a design work on different blocks; they do not change bits)."""

    def __init__(self, arch: ArchSpec):
        lu = arch.lut_unit
        self.arch, self.kind, self.book_size, self.banks = arch, lu.selector, lu.book_size, lu.banks
        self.sub_books = lu.sub_books
        src = arch.source_file
        if self.kind not in UNIT_RUNS:
            raise SpecError(src, "lut_unit.selector", f"the functional model has no datapath for selector kind "
                                                      f"{self.kind!r}; modelled kinds: {', '.join(UNIT_RUNS)}")
        if self.kind == "two_stage" and self.book_size % 2:
            raise SpecError(src, "lut_unit.book_size", f"a two-stage unit holds dialect pairs; book_size "
                                                       f"{self.book_size} is odd (valid: an even number)")
        if self.kind == "seda" and self.book_size % self.sub_books:
            raise SpecError(src, "lut_unit.sub_books", f"{self.sub_books} sub-books do not divide book_size "
                                                       f"{self.book_size} (valid: a divisor of book_size)")

    # ---- checks that depend on the call ----
    def check_call(self, selector: str, book):
        src = self.arch.source_file
        if selector not in UNIT_RUNS[self.kind]:
            runs = UNIT_RUNS[self.kind]
            raise SpecError(src, "lut_unit.selector",
                            f"design {self.arch.name}'s LUT unit is {self.kind!r}, which runs "
                            f"{', '.join(runs) or 'no online selector'}; selector {selector!r} needs a "
                            f"{'lut_argmin or seda' if selector == 'lut_argmin' else selector} unit "
                            f"(or specialize the design for the recipe: sim.accel.specialize)")
        if book.size > self.book_size:
            raise SpecError(src, "lut_unit.book_size", f"formatbook {book.name} has D={book.size} dialects but the "
                                                       f"LUT unit holds {self.book_size}; valid: book_size >= {book.size}")

    # ---- the unit ----
    def select(self, selector: str, fe: FrontEnd, book, allowed=None, threshold: int = 1):
        """(dialect ids (R, nb) int64, codes (R, nb, B) uint8) for the front end's blocks."""
        self.check_call(selector, book)
        idx_rom, err_rom = book.lut()
        if selector == "two_stage":
            if allowed is not None:
                raise ValueError("two_stage does not support restricted (sub-formatbook) selection; use lut_argmin")
            dialect = two_stage(fe.q, book, threshold)
        else:
            mask = None if allowed is None else _mask(allowed, fe.q.shape[:2], book.size)
            if self.kind == "seda" and mask is not None:
                dialect = self._seda_scan(fe.q, err_rom, mask)
            else:
                dialect = lut_argmin(fe.q, err_rom, self.banks, mask)
        return pack(fe, idx_rom, dialect)

    def _seda_scan(self, q, err_rom, mask):
        counts = mask.sum(axis=-1)
        cap = self.book_size // self.sub_books
        if counts.max() > cap:
            raise SpecError(self.arch.source_file, "lut_unit.sub_books",
                            f"a block's sub-book has {int(counts.max())} dialects but the SeDA member table holds "
                            f"book_size / sub_books = {cap}; valid: sub_books <= {self.book_size // counts.max()}")
        members = np.argsort(~mask, axis=-1, kind="stable")[..., :int(counts.max())]   # allowed ids, ascending
        return _scan(q, err_rom, members, np.arange(members.shape[-1]) < counts[..., None], self.banks)


def _mask(allowed, blocks_shape, d: int) -> np.ndarray:
    mask = np.broadcast_to(np.asarray(allowed, dtype=bool), blocks_shape + (d,))
    if not mask.any(axis=-1).all():
        raise ValueError("`allowed` leaves some block with no dialect to choose from")
    return mask


def lut_argmin(q, err_rom, banks: int, mask=None) -> np.ndarray:
    """Every dialect id in ascending passes of `banks`; masked-out dialects cost COST_MAX."""
    d = err_rom.shape[0]
    ids = np.broadcast_to(np.arange(d), q.shape[:2] + (d,))
    live = np.ones(ids.shape, dtype=bool) if mask is None else mask
    return _scan(q, err_rom, ids, live, banks)


def _scan(q, err_rom, ids, live, banks: int) -> np.ndarray:
    """Comparator over candidate slots ids[..., j] (ascending ids) in passes of `banks` slots: an argmin tree
    within a pass, then a running minimum with strict '<' across passes.  Dead slots cost COST_MAX."""
    best_cost = best = None
    err = np.asarray(err_rom, dtype=np.int64)
    for start in range(0, ids.shape[-1], banks):
        slots = range(start, min(start + banks, ids.shape[-1]))
        cost = np.stack([np.where(live[..., j], err[ids[..., j, None], q].sum(axis=-1), COST_MAX) for j in slots])
        win = np.argmin(cost, axis=0)                                # argmin tree: ties to the lower bank
        pass_cost = np.take_along_axis(cost, win[None], axis=0)[0]
        pass_id = np.take_along_axis(ids[..., start:start + len(slots)], win[..., None], axis=-1)[..., 0]
        if best is None:
            best_cost, best = pass_cost, pass_id
        else:
            better = pass_cost < best_cost
            best_cost, best = np.where(better, pass_cost, best_cost), np.where(better, pass_id, best)
    return best


def two_stage(q, book, threshold: int) -> np.ndarray:
    mags = book.magnitudes
    if book.size % 2 or np.any(mags[0::2, 7] != mags[1::2, 7]):
        raise ValueError(f"two_stage needs a formatbook of dialect pairs sharing their maximum; {book.name} is not")
    mh = (q.max(axis=-1) + 1) >> 1                                   # half-units, 0..16
    pair = np.argmin(np.abs(mags[0::2, 7] - mh[..., None]), axis=-1)  # argmin tree: ties to the lower pair
    a, b = 2 * pair, 2 * pair + 1
    lo, hi = mags[a, 6] + mags[b, 6], mags[a, 6] + mags[a, 7]        # quarter-units (sums of half-units)
    count = ((q >= lo[..., None]) & (q < hi[..., None])).sum(axis=-1)
    return np.where(count < threshold, b, a)


def pack(fe: FrontEnd, idx_rom, dialect):
    dialect = np.where(fe.nonzero, dialect, 0)
    idx = np.where(fe.nonzero[..., None], np.asarray(idx_rom, dtype=np.int64)[dialect[..., None], fe.q], 0)
    codes = ((fe.sign & (idx != 0)).astype(np.int64) << 3) | idx
    return dialect.astype(np.int64), codes.astype(np.uint8)
