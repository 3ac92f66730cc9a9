"""ROM contents for the RTL, generated from a `quant.Formatbook` (its hardware view, `book.rtl_params()`).

`write_rom_include(book, folder)` writes `dialect_rom.vh`, a Verilog include with the book's size, its id width and
the lookup functions, so one Python object defines both the reference quantizer and the ROMs:

    rom_err_row(d)        -> {ERR[d][31], .., ERR[d][0]}  (32 x ROM_ERR_BITS; entry q in bits [q*ROM_ERR_BITS +: ..])
    rom_idx_row(d)        -> {IDX[d][31], .., IDX[d][0]}  (32 x 3 bits, selector index table)
    rom_mag_row(d)        -> {MAG[d][7], .., MAG[d][0]}   (8 x 4 bits, half-unit magnitudes)
    rom_err_entry(row, q) -> entry q of an ERR row;  rom_idx_entry(row, q) -> entry q of an IDX row
    rom_mag(d, i)         -> MAG[d][i]                    (decode ROM of the MAC processing element, 4 bits)

The selectors read whole rows: a dialect bank's ERR row is a constant (or a PASSES-way mux of constants) shared by its
32 lanes, each lane picking its entry with its 5-bit q, and the packing stage selects the winner's IDX row once (a
D-way mux of constants).  That is the hardware a designer would build, and Yosys folds the constants into small logic
functions.  (Reading one memory word per lane and bank, hundreds of variable-address read ports, made Yosys's
memory_map run past the synthesis time limit.)  The MAC decode keeps its memory: one read port per decoder.

`compact_decode_tables(book)` is the BlockDialect-style decode of a 16-dialect book that has DialectFP4's structure
(levels 0-4 shared, level 5 = 6 half-units except where a 1-bit table says 5, level 6 from a 16-entry table, level 7
= 15 - id/2); `write_rom_include` then also writes `dialect_compact.vh` (`compact_c5_dec(d)`, `compact_c6(d)`) for
`hdl/decoder_compact.v`.  It stays a separate include so that dialect_rom.vh, and with it the netlists of the
existing blocks, do not change.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

import quant
from quant.formatbooks import Dialect, Formatbook

INCLUDE_NAME = "dialect_rom.vh"
COMPACT_INCLUDE_NAME = "dialect_compact.vh"
COMPACT_SHARED_LEVELS = 5        # levels 0..4 equal their index in every dialect of the compact form
COMPACT_LEVEL5 = 6               # level 5 is 6 half-units, or 5 where the 1-bit table says so
BOOK_FOR_SIZE = {16: "dialectfp4", 32: "dialectfp4-32"}


def book_for_size(d: int) -> Formatbook:
    """The formatbook used for an RTL case of D dialects: DialectFP4 for 16; for 32 the calibrated
    "dialectfp4-32" (or another registered 32-dialect book), else `rtl_stand_in_book(32)`."""
    if d in BOOK_FOR_SIZE and BOOK_FOR_SIZE[d] in quant.formatbook_names():
        return quant.formatbook(BOOK_FOR_SIZE[d])
    sized = [n for n in quant.formatbook_names() if quant.formatbook(n).size == d]
    return quant.formatbook(sorted(sized)[0]) if sized else rtl_stand_in_book(d)


def rtl_stand_in_book(d: int) -> Formatbook:
    """DialectFP4 plus (d - 16) further valid dialects (deterministic: 8-level half-unit grids with 0, 1, 2, 3, 4
    and three upper levels, in lexicographic order, skipping DialectFP4's).  Only a stand-in for RTL sizing and
    testing when no calibrated book of size d is registered; the RTL is content-agnostic."""
    base = quant.DIALECTFP4
    if d <= base.size:
        return base.subset(range(d), f"dialectfp4-first{d}")
    have = {dl.half_units for dl in base.dialects}
    extra = []
    for a in range(5, 14):
        for b in range(a + 1, 15):
            for c in range(max(b + 1, 8), 16):      # largest level >= 4.0, like DialectFP4
                h = (0, 1, 2, 3, 4, a, b, c)
                if h not in have and len(extra) < d - base.size:
                    extra.append(Dialect(f"x{len(extra)}", h))
    if len(extra) < d - base.size:
        raise ValueError(f"rtl_stand_in_book: cannot build {d} dialects (at most {base.size + len(extra)})")
    return Formatbook(f"rtl-stand-in-{d}", base.dialects + tuple(extra),
                      provenance="[ours] RTL stand-in: DialectFP4 + lexicographic grids (not calibrated)")


def id_bits(book: Formatbook) -> int:
    return book.rtl_params()["ID_BITS"]


def _table_function(name: str, out_bits: int, d_bits: int, a_bits: int, table) -> list:
    """A constant memory (entry {d, a}) initialized in an `initial` block, and its lookup function.  Icarus reads
    a memory word far faster than it evaluates a case table; yosys turns the read-only memory into ROM logic."""
    mem = f"{name.upper()}_MEM"
    lines = [f"reg [{out_bits - 1}:0] {mem} [0:{(len(table) << a_bits) - 1}];", "initial begin"]
    for d, row in enumerate(table):
        for a, v in enumerate(row):
            lines.append(f"    {mem}[{(d << a_bits) | a}] = {out_bits}'d{int(v)};")
    return lines + ["end",
                    f"function [{out_bits - 1}:0] {name};",
                    f"    input [{d_bits - 1}:0] d;",
                    f"    input [{a_bits - 1}:0] a;",
                    f"    {name} = {mem}[{{d, a}}];",
                    "endfunction"]


def _row_function(name: str, entry_bits: int, d_bits: int, table) -> list:
    """`name(d)`: dialect d's whole row as one constant, entry a in bits [a*entry_bits +: entry_bits] (a case over d;
    ids without a row read zeros)."""
    width = entry_bits * len(table[0])
    lines = [f"function [{width - 1}:0] {name};   // entry a in bits [a*{entry_bits} +: {entry_bits}]",
             f"    input [{d_bits - 1}:0] d;",
             "    begin",
             "        case (d)"]
    for d, row in enumerate(table):
        words = ", ".join(f"{entry_bits}'d{int(v)}" for v in reversed(row))
        lines.append(f"            {d_bits}'d{d}: {name} = {{{words}}};")
    return lines + [f"            default: {name} = {width}'d0;",
                    "        endcase",
                    "    end",
                    "endfunction"]


def _entry_function(name: str, entry_bits: int, entries: int = 32, group: int = 8) -> list:
    """`name(row, a)`: entry a of a row: a one-hot AND-OR multiplexer picks the group of `group` entries by a's high
    bits, a part-select the entry by its low bits.  This form is cheap in both tools: a part-select over the whole
    row (`row[a*W +: W]`) makes Yosys build a barrel shifter over it (gigabytes for the selectors), a case over
    constant entries becomes a ROM whose read port memory_dff fuses with the q register, and a mux-tree module makes
    Icarus elaborate tens of thousands of instances."""
    a_bits, lo_bits = (entries - 1).bit_length(), (group - 1).bit_length()
    gw = group * entry_bits
    hi = f"a[{a_bits - 1}:{lo_bits}]"
    terms = [f"({{{gw}{{{hi} == {a_bits - lo_bits}'d{g}}}}} & row[{g * gw + gw - 1}:{g * gw}])"
             for g in range(entries // group)]
    return [f"function [{entry_bits - 1}:0] {name};",
            f"    input [{entries * entry_bits - 1}:0] row;",
            f"    input [{a_bits - 1}:0] a;",
            f"    reg [{gw - 1}:0] grp;",
            "    begin",
            "        grp = " + "\n            | ".join(terms) + ";",
            f"        {name} = grp[a[{lo_bits - 1}:0] * {entry_bits} +: {entry_bits}];",
            "    end",
            "endfunction"]


def rom_include_text(book: Formatbook) -> str:
    p = book.rtl_params()
    ib, eb = p["ID_BITS"], p["ERR_BITS"]
    out = [f"// Generated by rtl_models/rom.py from formatbook {book.name!r} (D={p['D']}); do not edit.",
           f"// provenance: {book.provenance}",
           "/* verilator lint_off UNUSEDPARAM */",
           f"localparam integer ROM_D = {p['D']};",
           f"localparam integer ROM_ID_BITS = {ib};",
           f"localparam integer ROM_ERR_BITS = {eb};",
           "/* verilator lint_on UNUSEDPARAM */",
           "/* verilator lint_off UNUSEDSIGNAL */"]
    out += _row_function("rom_err_row", eb, ib, p["err_rom"])
    out += _row_function("rom_idx_row", 3, ib, p["idx_rom"])
    out += _row_function("rom_mag_row", 4, ib, p["decode_rom"])
    out += _entry_function("rom_err_entry", eb, 32)
    out += _entry_function("rom_idx_entry", 3, 32)
    out += _table_function("rom_mag", 4, ib, 3, _pad(p["decode_rom"], ib))
    out.append("/* verilator lint_on UNUSEDSIGNAL */")
    return "\n".join(out) + "\n"


def _pad(table, id_bits: int) -> list:
    """Rows for every id the id field can hold (ids >= D read zeros), so the table is fully defined."""
    return list(table) + [[0] * len(table[0])] * ((1 << id_bits) - len(table))


def compact_decode_mismatches(book: Formatbook) -> list:
    """Where `book` departs from the compact decode's structure (empty: it fits), one line per broken rule."""
    if book.size != 16:
        return [f"{book.name}: the compact decode is for 16 dialects (4-bit id), the book has {book.size}"]
    out = []
    for d, h in enumerate(book.magnitudes.tolist()):
        if h[:COMPACT_SHARED_LEVELS] != list(range(COMPACT_SHARED_LEVELS)):
            out.append(f"{book.name} d{d}: levels 0-4 are {h[:COMPACT_SHARED_LEVELS]}, not 0..4")
        if h[5] not in (COMPACT_LEVEL5, COMPACT_LEVEL5 - 1):
            out.append(f"{book.name} d{d}: level 5 is {h[5]}, neither {COMPACT_LEVEL5} nor {COMPACT_LEVEL5 - 1}")
        if h[7] != 15 - d // 2:
            out.append(f"{book.name} d{d}: level 7 is {h[7]}, not 15 - d/2 = {15 - d // 2}")
    return out


def compact_decode_tables(book: Formatbook) -> dict:
    """{"c5_dec": 16 bits (1 where level 5 is 5, not 6), "c6": 16 level-6 magnitudes} of a book with the compact
    structure; raises ValueError naming the broken rules otherwise."""
    bad = compact_decode_mismatches(book)
    if bad:
        raise ValueError("compact decode does not fit: " + "; ".join(bad))
    mags = book.magnitudes
    return {"c5_dec": [int(COMPACT_LEVEL5 - h) for h in mags[:, 5]], "c6": [int(h) for h in mags[:, 6]]}


def compact_include_text(book: Formatbook) -> str:
    t = compact_decode_tables(book)
    out = [f"// Generated by rtl_models/rom.py from formatbook {book.name!r} (compact decode); do not edit."]
    for name, bits, table in (("compact_c5_dec", 1, t["c5_dec"]), ("compact_c6", 4, t["c6"])):
        out += [f"function [{bits - 1}:0] {name};", "    input [3:0] d;", "    begin", "        case (d)"]
        out += [f"            4'd{d}: {name} = {bits}'d{v};" for d, v in enumerate(table)]
        out += [f"            default: {name} = {bits}'d0;", "        endcase", "    end", "endfunction"]
    return "\n".join(out) + "\n"


def _write_if_changed(path: Path, text: str):
    if not path.exists() or path.read_text() != text:   # keep the timestamp when unchanged (no needless rebuild)
        path.write_text(text)


def write_rom_include(book: Formatbook, folder) -> Path:
    """Write `dialect_rom.vh` for `book` into `folder` (created), and `dialect_compact.vh` when the book has the
    compact decode's structure; returns the path of `dialect_rom.vh`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / INCLUDE_NAME
    _write_if_changed(path, rom_include_text(book))
    if not compact_decode_mismatches(book):
        _write_if_changed(folder / COMPACT_INCLUDE_NAME, compact_include_text(book))
    return path


def decode_table(book: Formatbook) -> np.ndarray:
    """(D, 16) signed half-unit value of every 4-bit code per dialect (what the decode ROM + sign produce)."""
    mags = book.magnitudes[:, np.arange(16) & 7]
    return np.where(np.arange(16) & 8, -mags, mags)


def ensure_registered(book: Formatbook) -> str:
    """Register `book` (e.g. the RTL stand-in) as a formatbook, hence a quantization format, if it is not yet;
    returns its format name.  Testbenches call this inside their own simulator process only."""
    if book.name not in quant.formatbook_names():
        quant.register_formatbook(book)
    return book.name
