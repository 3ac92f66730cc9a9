"""Both operands quantized online (full-path attention: Q K^T and P V): online_pair_gemm streams raw float32 blocks
of A and B through the RTL's q_frontend + LUT selector (D = 32, the full-path recipe's dialectfp4-32 and
lut_argmin) into the PE array; every quantized word (exponent, dialect id, codes) of both operands and every
float32 output are compared, as raw bits, with quant's quantization of the recipe's attention operands and
quant.qgemm; the cycle count follows rtl_models.cycles.online_pair_cycles."""
import pytest

from rtl_models.cycles import ONLINE_PAIR_SOURCES, online_pair_cycles, pe_array_tile_cycles
from rtl_models.runner import RtlCase, run_case
from rtl_models.tb.vectors import ADVERSARIAL

D, ID_BITS = 32, 5


def _case(banks, lanes, pipe, gemms):
    return RtlCase(f"online_pair_b{banks}_l{lanes}_p{pipe}", "online_pair_gemm", ONLINE_PAIR_SOURCES,
                   "rtl_models.tb.online_pair_tb", book_size=D,
                   parameters=(("D", D), ("ID_BITS", ID_BITS), ("BANKS", banks), ("LANES", lanes),
                               ("PIPELINE", pipe)),
                   config=(("gemms", [list(g) for g in gemms]),))


def test_online_pair_cycles_formula():
    # 4x4x96 on a 4x4 array: 24 blocks, one per cycle, + 2 + a 15-cycle tile
    assert online_pair_cycles(4, 4, 4, 4, 96) == 24 + 2 + 15
    assert online_pair_cycles(4, 4, 4, 4, 96, lanes=8, pipeline=4, passes=4) == 96 + 2 + 26
    with pytest.raises(ValueError, match="passes"):
        online_pair_cycles(4, 4, 4, 4, 96, passes=0)


@pytest.mark.rtl
@pytest.mark.parametrize("banks,lanes,pipe,gemms", [
    (32, 32, 2, (("qk", 4, 4, 96), ("pv", 4, 4, 64), ("qk", 6, 5, 80), ("pv", 4, 4, 96), ("extremes", 4, 4, 64))),
    (8, 8, 4, (("qk", 4, 4, 96), ("pv", 4, 4, 64), ("qk", 6, 5, 80))),   # the edge design's selector and PE
])
def test_online_pair_gemm_bit_exact(banks, lanes, pipe, gemms):
    res = run_case(_case(banks, lanes, pipe, gemms))
    assert res.tests == 1 and res.failed == 0, f"see {res.log}: {res.failures[0][:3000] if res.failures else ''}"
    got = res.data["online_pair"]["gemms"]
    assert [(g["kind"], g["m"], g["n"], g["k"]) for g in got] == [tuple(g) for g in gemms]
    for g in got:
        assert g["words_matched"] == g["blocks"] == (g["m"] + g["n"]) * -(-g["k"] // 32), g
        assert g["outputs_matched"] == g["m"] * g["n"]
        assert g["array_cycles"] == pe_array_tile_cycles(4, 4, g["m"], g["n"], g["k"], lanes, pipe), g
        assert g["cycles"] == online_pair_cycles(4, 4, g["m"], g["n"], g["k"], lanes, pipe, D // banks), g
    attention = [g for g in got if g["kind"] != "extremes"]
    assert all(g["min_exponent_blocks"] > 0 for g in attention)      # zero / below-2^-130 blocks were driven
    assert max(g["distinct_ids"] for g in attention) >= 10
    assert set().union(*(g["adversarial"] for g in attention)) == set(ADVERSARIAL)   # every kind was driven
    assert all(g["lut_cost_ties"] > 0 and g["q_half_ties"] > 0 for g in attention)   # both tie rules exercised
    assert all(g["n_inf"] > 0 for g in got if g["kind"] == "extremes")
