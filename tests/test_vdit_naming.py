"""vdit.naming: the one place that knows the VDiT's layer names, and its agreement with the names quant spells
itself (quant is below vdit and cannot ask it)."""
import re

import pytest

from quant.context import token_part
from quant.recipes import BLOCK_LINEARS, FP_EDGE_LAYERS, MODULATION
from vdit import naming


@pytest.fixture(scope="module")
def tiny_linears():
    from vdit import build, linear_names
    return linear_names(build("tiny", device="meta"))


def test_block_stream_and_position_of_layers():
    n = "double_blocks.12.txt_attn.q_proj"
    assert (naming.block_of(n), naming.block_kind(n), naming.block_index(n)) == ("double_blocks.12", "double", 12)
    assert naming.within_block(n) == "txt_attn.q_proj" and naming.stream_of(n) == "txt"
    assert naming.stream_of("double_blocks.0.img_mlp.2") == "img"
    assert naming.stream_of("single_blocks.3.v_mlp") == "joint" and naming.block_index("single_blocks.3.v_mlp") == 3
    assert naming.stream_of("double_blocks.1.attn.qk") == "joint"
    assert naming.block_of("time_in.out_layer") == "time_in" and naming.block_kind("time_in.out_layer") is None
    assert naming.within_block("final_layer.linear") == "final_layer.linear"
    assert [naming.stream_of(x) for x in ("img_in", "cond_in", "txt_in", "final_layer.linear",
                                          "final_layer.adaLN_modulation.1", "vector_in.in_layer")] == \
        ["img", "img", "txt", "img", None, None]
    assert naming.block_of("double_blocksX.1.q") == "double_blocksX"      # a prefix alone is not a block


def test_attention_names():
    block = naming.single_block(2)
    assert naming.attention_call(block, "pv") == "single_blocks.2.attn.pv"
    assert naming.is_attention_call("double_blocks.0.attn.qk")
    assert naming.is_attention_call(naming.attention_call(naming.double_block(7), "qk"))
    for not_call in ("double_blocks.0.img_attn.proj", "double_blocks.0.attn.qk.x", "double_blocks.0.attn.softmax",
                     "attn.qk", "single_blocks.x.attn.pv"):
        assert not naming.is_attention_call(not_call), not_call
    assert naming.in_attention("double_blocks.0.attn.q_quantize")
    assert not naming.in_attention("double_blocks.0.img_attn.q_proj.quantize")
    with pytest.raises(ValueError, match="attention call 'qv'"):
        naming.attention_call(block, "qv")


def test_quant_token_part_agrees_on_every_layer(tiny_linears):
    for n in tiny_linears:
        part = token_part(n)
        if naming.block_kind(n) is None:
            assert part is None, n
        else:
            assert part == (naming.block_of(n), naming.stream_of(n)), n


def test_quant_default_policy_patterns_name_the_same_layers(tiny_linears):
    full = lambda pattern: {n for n in tiny_linears if re.fullmatch(pattern, n)}
    assert full(MODULATION) == {n for n in tiny_linears
                                if naming.within_block(n) in ("img_mod.lin", "txt_mod.lin", "modulation.lin")}
    assert full(BLOCK_LINEARS) == {n for n in tiny_linears if naming.block_kind(n) is not None}
    assert full(FP_EDGE_LAYERS) == {n for n in tiny_linears if naming.block_kind(n) is None}


def test_model_and_trace_use_the_names(tiny_linears):
    from sim.accel.trace import build_trace
    blocks = {naming.block_of(n) for n in tiny_linears if naming.block_kind(n)}
    assert blocks == {naming.double_block(i) for i in range(2)} | {naming.single_block(j) for j in range(4)}
    ops = set(build_trace("tiny", "semanticdialect", full_path=True).ops.op)
    assert {n for n in tiny_linears if naming.block_kind(n)} <= ops
    assert {naming.attention_call(b, w) for b in blocks for w in naming.ATTENTION_CALLS} <= ops
