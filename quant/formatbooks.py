"""Dialects and formatbooks: frozen data with a software view (reference quantizer tables) and a hardware view
(LUT ROM contents and RTL parameters) computed from the same magnitudes.

A dialect is 8 unsigned magnitudes in half-units (integers 0..15, magnitude = h/2), indexed 0..7; a 4-bit
element is sign<<3 | index.  A formatbook is an ordered tuple of dialects; its position is the dialect id.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from math import ceil, log2

import numpy as np

from .errors import UnknownNameError

N_LEVELS = 8          # magnitudes per dialect (3-bit index)
MAX_HALF_UNITS = 15   # largest magnitude 7.5 = 15 half-units (fits 4 bits)
N_Q = 32              # entries of the 5-bit intermediate (quarter-units 0..31)


@dataclass(frozen=True)
class Dialect:
    name: str
    half_units: tuple  # 8 ascending integers in 0..15, first is 0

    def __post_init__(self):
        h = self.half_units
        if len(h) != N_LEVELS or h[0] != 0 or any(b <= a for a, b in zip(h, h[1:])) or h[-1] > MAX_HALF_UNITS:
            raise ValueError(f"dialect {self.name}: need 8 strictly ascending half-units from 0 to <=15, got {h}")

    @property
    def max_value(self) -> float:
        return self.half_units[-1] / 2


@dataclass(frozen=True)
class Formatbook:
    """An ordered set of dialects sharing one 4-bit element encoding.

    Attributes: `name`, `dialects`, `provenance` (where the numbers come from: [BD], [paper], [ours]).
    Software view: `magnitudes` (D, 8) half-units, `lut()` -> (IDX, ERR) each (D, 32).
    Hardware view: `rtl_params()` -> dict of Verilog parameters and ROM init words.
    """

    name: str
    dialects: tuple
    provenance: str = ""
    magnitudes: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if not self.dialects:
            raise ValueError(f"formatbook {self.name}: empty")
        mags = np.array([d.half_units for d in self.dialects], dtype=np.int64)
        if len({tuple(r) for r in mags}) != len(mags):
            raise ValueError(f"formatbook {self.name}: duplicate dialects")
        mags.setflags(write=False)
        object.__setattr__(self, "magnitudes", mags)

    @property
    def size(self) -> int:
        return len(self.dialects)

    @property
    def id_bits(self) -> int:
        """Bits of per-block dialect-id metadata (0 for a single-dialect book such as MXFP4's E2M1)."""
        return int(ceil(log2(self.size))) if self.size > 1 else 0

    def bits_per_element(self, block: int = 32, exponent_bits: int = 8) -> float:
        return 4 + (self.id_bits + exponent_bits) / block

    def lut(self):
        """(IDX, ERR), each int64 (D, 32), indexed [dialect, q] with q the 5-bit intermediate in quarter-units.

        IDX[d, q]: index of the magnitude nearest to q/4, comparing |q - 2h| in quarter-units; ties go to the
        even index (for E2M1 this is IEEE round-half-to-even).  ERR[d, q] = (q - 2h[IDX])^2.
        """
        return _lut_tables(self.magnitudes)

    def rtl_params(self) -> dict:
        """Verilog parameters and ROM words for the LUT-unit and decode-LUT RTL (same data as `lut()`)."""
        idx, err = self.lut()
        return {
            "D": self.size,
            "ID_BITS": max(self.id_bits, 1),
            "ERR_BITS": int(err.max()).bit_length(),
            "decode_rom": [[int(h) for h in row] for row in self.magnitudes],
            "idx_rom": idx.tolist(),
            "err_rom": err.tolist(),
        }

    def subset(self, ids, name: str) -> "Formatbook":
        return Formatbook(name, tuple(self.dialects[i] for i in ids), provenance=f"subset {list(ids)} of {self.name}")


def _lut_tables(mags: np.ndarray):
    q = np.arange(N_Q, dtype=np.int64)
    dist = np.abs(q[None, :, None] - 2 * mags[:, None, :])  # (D, 32, 8)
    best = dist.min(axis=2, keepdims=True)
    is_best = dist == best
    # lowest even index among the nearest; otherwise the lowest index (ties can only be between two neighbours)
    even = is_best & (np.arange(N_LEVELS) % 2 == 0)
    idx = np.where(even.any(axis=2), even.argmax(axis=2), is_best.argmax(axis=2))
    err = (q[None, :] - 2 * np.take_along_axis(mags, idx, axis=1)) ** 2
    return idx.astype(np.int64), err.astype(np.int64)


# --- the DialectFP4 catalog [BD] -----------------------------------------------------------------------------
# BlockDialect (arXiv 2501.01144), Figure 4 / Section 3, as transcribed by third parties (not checked against the
# PDF).  Pairs (d2p, d2p+1) share the maximum 15-p half-units (7.5 down to 4.0); d7 is exactly FP4 E2M1.
_DIALECTFP4_HALF_UNITS = (
    (0, 1, 2, 3, 4, 6, 11, 15), (0, 1, 2, 3, 4, 6, 9, 15),
    (0, 1, 2, 3, 4, 6, 11, 14), (0, 1, 2, 3, 4, 6, 9, 14),
    (0, 1, 2, 3, 4, 6, 10, 13), (0, 1, 2, 3, 4, 6, 8, 13),
    (0, 1, 2, 3, 4, 6, 10, 12), (0, 1, 2, 3, 4, 6, 8, 12),
    (0, 1, 2, 3, 4, 6, 9, 11), (0, 1, 2, 3, 4, 6, 7, 11),
    (0, 1, 2, 3, 4, 6, 9, 10), (0, 1, 2, 3, 4, 6, 7, 10),
    (0, 1, 2, 3, 4, 6, 8, 9), (0, 1, 2, 3, 4, 6, 7, 9),
    (0, 1, 2, 3, 4, 6, 7, 8), (0, 1, 2, 3, 4, 5, 6, 8),
)
DIALECTFP4 = Formatbook(
    "dialectfp4",
    tuple(Dialect(f"d{i}", h) for i, h in enumerate(_DIALECTFP4_HALF_UNITS)),
    provenance="[BD] BlockDialect DialectFP4, 16 dialects (third-party transcription of Fig. 4)",
)
# E2M1 {0, .5, 1, 1.5, 2, 3, 4, 6} is DialectFP4 d7: a single-dialect book, used by MXFP4 and NVFP4 elements.
E2M1_BOOK = Formatbook("e2m1", (DIALECTFP4.dialects[7],), provenance="OCP MX v1.0 FP4 E2M1 == DialectFP4 d7")

_BOOKS: dict = {}


def register_formatbook(book: Formatbook, *aliases: str, replace: bool = False) -> Formatbook:
    for n in (book.name, *aliases):
        if n in _BOOKS and not replace and _BOOKS[n] != book:
            raise ValueError(f"formatbook name {n!r} already registered")
        _BOOKS[n] = book
    return book


def formatbook(name) -> Formatbook:
    """Look up a formatbook by name (or pass one through)."""
    if isinstance(name, Formatbook):
        return name
    _load_learned_books()
    try:
        return _BOOKS[name]
    except KeyError:
        raise UnknownNameError("formatbook", name, sorted(_BOOKS)) from None


def formatbook_names() -> list:
    _load_learned_books()
    return sorted(_BOOKS)


def _load_learned_books():
    from . import learned_books  # noqa: F401  (registers the frozen calibrated books on import)


register_formatbook(DIALECTFP4, "dialectfp4-16")
register_formatbook(E2M1_BOOK)
