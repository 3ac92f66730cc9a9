"""ROM generation: the Verilog include carries exactly the formatbook's LUT and decode tables, and its lookup
functions, evaluated by Icarus, return them for every dialect and every q / code index."""
import re
import shutil
import subprocess

import numpy as np
import pytest

import quant
from rtl_models import rom


def _mem(text, name):
    words = {}
    for a, v in re.findall(rf"{name.upper()}_MEM\[(\d+)\] = \d+'d(\d+);", text):
        words[int(a)] = int(v)
    return words


def _rows(text, name):
    """{dialect: [entry 0, entry 1, ...]} from a generated row function (entries are written highest first)."""
    rows = {}
    for d, words in re.findall(rf"\d+'d(\d+): {name} = \{{([^}}]*)\}};", text):
        rows[int(d)] = [int(w.split("'d")[1]) for w in words.split(",")][::-1]
    return rows


@pytest.mark.parametrize("size", [16, 32])
def test_include_matches_lut_and_magnitudes(size):
    book = rom.book_for_size(size)
    text = rom.rom_include_text(book)
    idx, err = book.lut()
    e, i, m = _rows(text, "rom_err_row"), _rows(text, "rom_idx_row"), _rows(text, "rom_mag_row")
    assert sorted(e) == sorted(i) == sorted(m) == list(range(book.size))
    mem = _mem(text, "rom_mag")
    for d in range(book.size):
        assert e[d] == err[d].tolist() and i[d] == idx[d].tolist()
        assert m[d] == book.magnitudes[d].tolist()
        assert [mem[(d << 3) | k] for k in range(8)] == book.magnitudes[d].tolist()
    assert f"localparam integer ROM_D = {size};" in text and f"ROM_ID_BITS = {rom.id_bits(book)};" in text


def test_decode_table_d7_is_e2m1():
    table = rom.decode_table(quant.DIALECTFP4)
    assert table[7].tolist() == [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]


def test_stand_in_book_is_valid_and_distinct():
    book = rom.rtl_stand_in_book(32)
    assert book.size == 32 and book.magnitudes[:16].tolist() == quant.DIALECTFP4.magnitudes.tolist()
    assert len({tuple(r) for r in book.magnitudes}) == 32 and np.all(book.magnitudes[:, 7] >= 8)


_PRINT_TABLES = """
module rom_dump;
`include "dialect_rom.vh"
    integer d, q;
    reg [32*ROM_ERR_BITS-1:0] er;
    reg [32*3-1:0] ir;
    reg [31:0] mr;
    initial begin
        for (d = 0; d < (1 << ROM_ID_BITS); d = d + 1) begin
            er = rom_err_row(d[ROM_ID_BITS-1:0]);
            ir = rom_idx_row(d[ROM_ID_BITS-1:0]);
            mr = rom_mag_row(d[ROM_ID_BITS-1:0]);
            for (q = 0; q < 32; q = q + 1)
                $display("E %0d %0d %0d %0d", d, q, rom_err_entry(er, q[4:0]), rom_idx_entry(ir, q[4:0]));
            for (q = 0; q < 8; q = q + 1)
                $display("M %0d %0d %0d %0d", d, q, mr[q*4 +: 4], rom_mag(d[ROM_ID_BITS-1:0], q[2:0]));
        end
        $finish;
    end
endmodule
"""


@pytest.mark.rtl
@pytest.mark.skipif(shutil.which("iverilog") is None, reason="iverilog not installed")
@pytest.mark.parametrize("size", [16, 32])
def test_lookup_functions_return_the_formatbook_tables(size, tmp_path):
    """Exhaustive: every id the field can hold (ids >= D read zeros) x every q (ERR, IDX) and code index (MAG)."""
    book = rom.book_for_size(size)
    rom.write_rom_include(book, tmp_path)
    (tmp_path / "dump.v").write_text(_PRINT_TABLES)
    subprocess.run(["iverilog", "-g2012", "-I", str(tmp_path), "-o", str(tmp_path / "dump.vvp"),
                    str(tmp_path / "dump.v")], check=True, capture_output=True, timeout=120)
    out = subprocess.run(["vvp", "-n", str(tmp_path / "dump.vvp")], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    ids = 1 << rom.id_bits(book)
    idx, err = book.lut()
    err = np.vstack([err, np.zeros((ids - book.size, 32), np.int64)])
    idx = np.vstack([idx, np.zeros((ids - book.size, 32), np.int64)])
    mag = np.vstack([book.magnitudes, np.zeros((ids - book.size, 8), np.int64)])
    got_e, got_i, got_m, got_m2 = (np.full(s, -1) for s in ((ids, 32), (ids, 32), (ids, 8), (ids, 8)))
    for line in out.splitlines():
        kind, *v = line.split()
        d, q, a, b = map(int, v) if kind in ("E", "M") else (0, 0, 0, 0)
        if kind == "E":
            got_e[d, q], got_i[d, q] = a, b
        elif kind == "M":
            got_m[d, q], got_m2[d, q] = a, b
    assert np.array_equal(got_e, err) and np.array_equal(got_i, idx)
    assert np.array_equal(got_m, mag) and np.array_equal(got_m2, mag)
