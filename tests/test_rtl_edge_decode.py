"""Decode at the array edge: the edge decoders (ROM form for D = 16 and 32, the compact DialectFP4 form, E2M1)
exhaustively against quant's element decoder, the compact form's rules against the formatbook, and the PE lane that
multiplies already-decoded 5-bit integers."""
import numpy as np
import pytest

import quant
from quant.formatbooks import Dialect, Formatbook
from rtl_models import rom
from rtl_models.runner import RtlCase, run_case

EDGE = ("trees.v", "mac_units.v", "edge_decoders.v")


def _run(case):
    res = run_case(case)
    assert res.tests >= 1 and res.failed == 0, f"{case.name}: {res.failed} of {res.tests} cocotb tests failed; log {res.log}"
    return res


def test_compact_rules_hold_for_every_dialectfp4_dialect():
    book = quant.formatbook("dialectfp4")
    assert rom.compact_decode_mismatches(book) == []
    h = book.magnitudes
    assert (h[:, :5] == np.arange(5)).all()
    assert (h[:, 7] == 15 - np.arange(16) // 2).all()
    # level 5 is 6 half-units (3.0) in every dialect but d15 = (0, 1, 2, 3, 4, 5, 6, 8), hence the 1-bit table
    assert np.flatnonzero(h[:, 5] != 6).tolist() == [15] and h[15, 5] == 5
    t = rom.compact_decode_tables(book)
    assert t["c5_dec"] == [0] * 15 + [1] and t["c6"] == h[:, 6].tolist()


def test_compact_rules_reject_books_without_the_structure():
    assert "16 dialects" in rom.compact_decode_mismatches(rom.book_for_size(32))[0]
    dialects = list(quant.DIALECTFP4.dialects)
    dialects[3] = Dialect("odd", (0, 1, 2, 3, 5, 6, 9, 14))
    dialects[4] = Dialect("odd7", (0, 1, 2, 3, 4, 6, 10, 11))
    bad = rom.compact_decode_mismatches(Formatbook("broken", tuple(dialects)))
    assert len(bad) == 2 and "d3: levels 0-4" in bad[0] and "d4: level 7 is 11" in bad[1]
    with pytest.raises(ValueError, match="does not fit"):
        rom.compact_decode_tables(Formatbook("broken", tuple(dialects)))


def test_compact_include_written_only_for_fitting_books(tmp_path):
    rom.write_rom_include(rom.book_for_size(16), tmp_path / "d16")
    rom.write_rom_include(rom.book_for_size(32), tmp_path / "d32")
    assert (tmp_path / "d16" / rom.COMPACT_INCLUDE_NAME).exists()
    assert not (tmp_path / "d32" / rom.COMPACT_INCLUDE_NAME).exists()


@pytest.mark.rtl
@pytest.mark.parametrize("d", [16, 32])
def test_decoder_dialect_rom_every_id_and_code(d):
    ib = 4 if d == 16 else 5
    res = _run(RtlCase(f"decoder_dialect_d{d}", "decoder_dialect", EDGE, "rtl_models.tb.decoder_tb",
                       parameters=(("D", d), ("ID_BITS", ib)), book_size=d, config=(("kind", "rom"),)))
    dec = res.data["decoder"]
    assert dec["matched"] == dec["pairs"] == d * 16 and dec["distinct_values"] == 31     # -15..15


@pytest.mark.rtl
def test_decoder_dialect_compact_every_id_and_code():
    res = _run(RtlCase("decoder_dialect_compact", "decoder_dialect_compact", ("decoder_compact.v",),
                       "rtl_models.tb.decoder_tb", book_size=16, config=(("kind", "compact"),)))
    assert res.data["decoder"]["matched"] == 16 * 16


@pytest.mark.rtl
def test_decoder_e2m1_every_code():
    res = _run(RtlCase("decoder_e2m1", "decode_e2m1", ("trees.v", "mac_units.v"), "rtl_models.tb.decoder_tb",
                       book_size=16, config=(("kind", "e2m1"),)))
    assert res.data["decoder"]["matched"] == 16 and res.data["decoder"]["distinct_values"] == 15


@pytest.mark.rtl
def test_mac_lane_int5_on_decoded_operands():
    res = _run(RtlCase("mac_lane_int5", "mac_lane_int5", ("trees.v", "mac_units.v"), "rtl_models.tb.mac_tb",
                       book_size=16, testcase="mac_lane_int5_decoded", config=(("n_random", 12),)))
    assert res.data["mac_lane_int5"]["matched"] == 12


def test_decoder_golden_comes_from_quant():
    """The testbench's expected table is quant's decoder, which for DialectFP4 d7 is E2M1 (a cross-check of the
    golden itself, no simulator needed)."""
    from rtl_models.tb.decoder_tb import dialect_golden, e2m1_golden
    table = dialect_golden(quant.DIALECTFP4)
    assert table.shape == (16, 16) and np.array_equal(table[7], e2m1_golden()[0])
    assert np.array_equal(table, rom.decode_table(quant.DIALECTFP4))
