"""ROM generation: the Verilog include carries exactly the formatbook's LUT and decode tables."""
import re

import numpy as np

import quant
from rtl_models import rom


def _mem(text, name):
    words = {}
    for a, v in re.findall(rf"{name.upper()}_MEM\[(\d+)\] = \d+'d(\d+);", text):
        words[int(a)] = int(v)
    return words


def test_include_matches_lut_and_magnitudes():
    book = quant.formatbook("dialectfp4")
    text = rom.rom_include_text(book)
    idx, err = book.lut()
    e, i, m = _mem(text, "rom_err"), _mem(text, "rom_idx"), _mem(text, "rom_mag")
    for d in range(book.size):
        assert [e[(d << 5) | q] for q in range(32)] == err[d].tolist()
        assert [i[(d << 5) | q] for q in range(32)] == idx[d].tolist()
        assert [m[(d << 3) | k] for k in range(8)] == book.magnitudes[d].tolist()
    assert "localparam integer ROM_D = 16;" in text and "ROM_ID_BITS = 4;" in text


def test_decode_table_d7_is_e2m1():
    table = rom.decode_table(quant.DIALECTFP4)
    assert table[7].tolist() == [0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12]


def test_stand_in_book_is_valid_and_distinct():
    book = rom.rtl_stand_in_book(32)
    assert book.size == 32 and book.magnitudes[:16].tolist() == quant.DIALECTFP4.magnitudes.tolist()
    assert len({tuple(r) for r in book.magnitudes}) == 32 and np.all(book.magnitudes[:, 7] >= 8)
