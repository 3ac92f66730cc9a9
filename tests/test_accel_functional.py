"""The accelerator's datapath models (front end, LUT unit, PE schedule) return the reference's bits; raw-bit
comparisons on random and corner inputs (zero blocks, ties, saturation, subnormals)."""
import dataclasses

import numpy as np
import pytest

import quant
import sim.accel  # noqa: F401  (registers the "accel" back end)
from quant.blocks import as_blocks, block_exponent, intermediate_q
from quant.reference_backend import select_encode as ref_select
from quant.seda import partition_book
from sim.accel import load_arch
from sim.accel.datapath_frontend import front_end
from sim.accel.datapath_lut import LutUnitModel
from sim.accel.datapath_pe import schedule
from sim.accel.schema import SpecError

F32 = np.float32


def lut_design(selector, book_size=32, banks=8, sub_books=4):
    edge = load_arch("edge")
    return dataclasses.replace(edge, lut_unit=dataclasses.replace(
        edge.lut_unit, selector=selector, book_size=book_size, banks=banks, sub_books=sub_books))


def corner_blocks(rng):
    """(R, 1, 32) float32 blocks: zero, -0, tiny subnormals (q all 0 but not zero), min normal, FLT_MAX
    (saturating q), exact quarter-unit rounding ties, constant blocks of every q, blocks of dialect levels."""
    rows = [np.zeros(32), -np.zeros(32), np.full(32, 1e-45), np.full(32, -1.4e-45), np.full(32, 1.1754944e-38),
            np.full(32, 3.4028235e38), np.linspace(-3.4028235e38, 3.4028235e38, 32)]
    ties = np.arange(32) / 4 + 1 / 8                       # |x| * 2^(2-e) lands on k + 1/2 when amax is 7.875
    rows.append(np.concatenate([ties[:31], [7.875]]))
    for q in range(32):                                    # a block whose maximum fixes e = 0, others at q/4
        rows.append(np.concatenate([np.full(31, q / 4), [7.5]]))
    book = quant.formatbook("dialectfp4")
    for d in range(book.size):                             # elements on dialect levels: many cost ties
        h = book.magnitudes[d][rng.integers(0, 8, 32)] / 2
        rows.append(h * rng.choice([-1, 1], 32))
    return np.array(rows, dtype=F32).reshape(-1, 1, 32)


def random_blocks(rng, n=3000):
    mag = rng.standard_t(3, size=(n, 32)) * 2.0 ** rng.integers(-150, 125, (n, 1))
    mag = np.clip(mag, -3.4028235e38, 3.4028235e38)
    bits = rng.integers(0, 2 ** 32, size=(n // 4, 32), dtype=np.uint64).astype(np.uint32).view(F32)
    x = np.concatenate([mag.astype(F32), np.where(np.isfinite(bits), bits, F32(0))])
    assert np.isfinite(x).all()
    return x.reshape(-1, 1, 32)


def test_front_end_exponent_and_q_from_bits():
    rng = np.random.default_rng(0)
    for xb in (corner_blocks(rng), random_blocks(rng)):
        fe = front_end(xb)
        e = block_exponent(xb)
        assert np.array_equal(fe.e, e) and np.array_equal(fe.q, intermediate_q(xb, e))
        assert np.array_equal(fe.sign, np.signbit(xb)) and np.array_equal(fe.nonzero, (xb != 0).any(axis=-1))
    assert (front_end(corner_blocks(rng)).q == 31).any()      # saturation is exercised


def test_tiny_subnormal_block_is_not_a_zero_block():
    xb = np.full((1, 1, 32), 1e-45, dtype=F32)
    fe = front_end(xb)
    assert fe.q.max() == 0 and fe.nonzero.all()
    d_ref, c_ref = ref_select("two_stage", xb, block_exponent(xb), quant.formatbook("dialectfp4"))
    d, c = LutUnitModel(lut_design("two_stage", 16)).select("two_stage", fe, quant.formatbook("dialectfp4"))
    assert d_ref[0, 0] == 15 and np.array_equal(d, d_ref) and c.tobytes() == c_ref.tobytes()


def _same(a, b):
    return np.array_equal(a[0], b[0]) and a[1].astype(np.uint8).tobytes() == b[1].astype(np.uint8).tobytes()


@pytest.mark.parametrize("banks", [1, 3, 8, 32])
def test_lut_argmin_banks_match_reference_and_keep_lowest_id_ties(banks):
    rng = np.random.default_rng(banks)
    book = quant.formatbook("dialectfp4-32")
    unit = LutUnitModel(lut_design("lut_argmin", 32, banks))
    xb = np.concatenate([corner_blocks(rng), random_blocks(rng, 800)])
    fe = front_end(xb)
    e = block_exponent(xb)
    assert _same(unit.select("lut_argmin", fe, book), ref_select("lut_argmin", xb, e, book))
    mask = rng.random((xb.shape[0], 1, 32)) < 0.3
    mask[:, :, 5] = True
    assert _same(unit.select("lut_argmin", fe, book, allowed=mask), ref_select("lut_argmin", xb, e, book, allowed=mask))


def test_ties_are_frequent_in_the_corner_set():
    """The tie rule is only tested if ties occur: count blocks whose minimum cost is shared by several dialects."""
    xb = corner_blocks(np.random.default_rng(1))
    q = intermediate_q(xb, block_exponent(xb))
    _, err = quant.formatbook("dialectfp4").lut()
    cost = np.stack([err[d][q].sum(-1) for d in range(16)], -1)
    assert ((cost == cost.min(-1, keepdims=True)).sum(-1) > 1).sum() >= 20


@pytest.mark.parametrize("banks", [1, 5, 16])
def test_seda_unit_scans_sub_book_members(banks):
    rng = np.random.default_rng(banks)
    book = quant.formatbook("dialectfp4-32")
    part = partition_book(book, 2)
    xb = np.concatenate([corner_blocks(rng), random_blocks(rng, 600)])
    mask = part.membership()[rng.integers(0, 2, xb.shape[0])][:, None, :]
    unit = LutUnitModel(lut_design("seda", 32, banks, sub_books=2))
    got = unit.select("lut_argmin", front_end(xb), book, allowed=mask)
    assert _same(got, ref_select("lut_argmin", xb, block_exponent(xb), book, allowed=mask))
    assert _same(unit.select("lut_argmin", front_end(xb), book), ref_select("lut_argmin", xb, block_exponent(xb), book))
    with pytest.raises(SpecError, match="lut_unit.sub_books"):     # 16-member sub-books, an 8-entry table
        LutUnitModel(lut_design("seda", 32, banks, sub_books=4)).select("lut_argmin", front_end(xb), book, allowed=mask)


@pytest.mark.parametrize("threshold", [1, 2, 3])
def test_two_stage_datapath_matches_reference(threshold):
    rng = np.random.default_rng(threshold)
    book = quant.formatbook("dialectfp4")
    xb = np.concatenate([corner_blocks(rng), random_blocks(rng, 1500)])
    got = LutUnitModel(lut_design("two_stage", 16, 2)).select("two_stage", front_end(xb), book, threshold=threshold)
    assert _same(got, ref_select("two_stage", xb, block_exponent(xb), book, threshold=threshold))


def test_quantize_on_the_lut_unit_pads_and_signs_like_the_reference():
    rng = np.random.default_rng(3)
    x = (rng.standard_t(3, (37, 100)) * 4).astype(F32)
    x[4, :32] = -0.0
    x[5, 32:64] = 1e-45
    be = quant.get_backend("accel", arch=lut_design("lut_argmin"))
    for fmt in ("dialectfp4", "dialectfp4-32"):
        assert quant.quantize(x, fmt, backend=be).equal_bits(quant.quantize(x, fmt))
    xb = as_blocks(x, 32)
    book = quant.formatbook("dialectfp4")
    # exponents above the blocks' own (shared exponents) go through the front end's shifter like the reference's
    up = block_exponent(xb) + 1
    assert _same(be.select_encode("lut_argmin", xb, up, book), ref_select("lut_argmin", xb, up, book))
    with pytest.raises(quant.QuantError, match="below the block's own"):
        be.select_encode("lut_argmin", xb, block_exponent(xb) - 1, book)


def test_schedule_covers_every_output_and_element_once_in_ascending_k():
    ws = load_arch("edge", overrides={"pe_array": {"rows": 3, "cols": 5, "dataflow": "ws"},
                                      "global_buffer": {"inputs": {"size_bytes": 1024},
                                                        "weights": {"size_bytes": 1024},
                                                        "outputs": {"size_bytes": 4096}}})
    for arch, macs in ((load_arch("edge"), 8), (ws, 8), (load_arch("rtl-pe-array"), 32)):
        m, n, kp = 37, 23, 320
        seen = np.zeros((m, n, kp), dtype=np.int64)
        last = np.full((m, n), -1)
        for t in schedule(arch, m, n, kp, macs):
            for k0, k1 in t.segments:
                assert (last[t.m0:t.m1, t.n0:t.n1] < k0).all()   # K ascends for every output
                seen[t.m0:t.m1, t.n0:t.n1, k0:k1] += 1
                last[t.m0:t.m1, t.n0:t.n1] = k1 - 1
                if arch.pe_array.dataflow == "ws":
                    assert k1 - k0 <= arch.pe_array.rows * macs
            assert (t.m1 - t.m0) * (t.n1 - t.n0) * 4 <= arch.global_buffer.usable_bytes(arch.global_buffer.outputs)
        assert (seen == 1).all()
    segs = schedule(ws, 37, 23, 320, 8)[0].segments
    assert len(segs) > 1 and any(k0 % 32 for k0, _ in segs)   # folds end inside blocks: the carry path runs


def test_two_stage_pair_ties_go_to_the_lower_pair():
    """DialectFP4's pair maxima are consecutive (no distance ties); a book with maxima 14, 12, 10, 8 has them
    (mh = 13, 11, 9 sit between two pairs)."""
    from quant.formatbooks import Dialect, Formatbook
    rows = []
    for top in (14, 12, 10, 8):
        rows += [(0, 1, 2, 3, 4, top - 3, top - 1, top), (0, 1, 2, 3, 4, top - 3, top - 2, top)]
    book = Formatbook("gapped-pairs", tuple(Dialect(f"g{i}", r) for i, r in enumerate(rows)))
    rng = np.random.default_rng(4)
    xb = np.concatenate([corner_blocks(rng), random_blocks(rng, 500)])
    mh = (front_end(xb).q.max(-1) + 1) >> 1
    assert np.isin(mh, (13, 11, 9)).sum() >= 20
    got = LutUnitModel(lut_design("two_stage", 8, 1)).select("two_stage", front_end(xb), book)
    assert _same(got, ref_select("two_stage", xb, block_exponent(xb), book))
