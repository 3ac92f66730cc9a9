"""The VDiT's layer naming, in one place: which block a layer belongs to, which token stream it works on, and
which names are the joint attention's matmul calls.  Torch-free, so the accelerator model, the pipeline and the
reports can ask it without loading the model.

Names equal the keys of Open-Sora 2.0's checkpoint (docs/model.md#layer-names):
- double-stream block i: `double_blocks.{i}.{img,txt}_{mod.lin,attn.q_proj,...,mlp.0,mlp.2}` -- separate weights
  for the video (`img`) and text (`txt`) streams;
- single-stream block j: `single_blocks.{j}.{q_proj,k_proj,v_mlp,linear2,modulation.lin}` -- shared weights over
  the joint sequence [txt; img];
- a block's joint attention: `<block>.attn.*`; its two quantizable matmul calls `<block>.attn.qk` and
  `<block>.attn.pv` (the names quant/attention.py reports them under);
- outside the blocks: the embedders `img_in`, `cond_in`, `txt_in`, `time_in.*`, `vector_in.*` and `final_layer.*`.

quant, the lower layer, cannot import this module; quant/context.py (token_part) and quant/recipes.py (policy
patterns) spell the same names, and tests/test_vdit_naming.py checks that they agree with this module on every
layer of the model.
"""
from __future__ import annotations

import re

DOUBLE, SINGLE = "double_blocks", "single_blocks"
IMG, TXT, JOINT = "img", "txt", "joint"
STREAMS = (IMG, TXT)                 # the double blocks' two streams, in the order their layers are built
ATTENTION_CALLS = ("qk", "pv")

_BLOCK = re.compile(rf"^(({DOUBLE}|{SINGLE})\.(\d+))(?:\.(.*))?$")
_STREAM_OUTSIDE_BLOCKS = {"img_in": IMG, "cond_in": IMG, "txt_in": TXT, "final_layer.linear": IMG}


def double_block(i: int) -> str:
    return f"{DOUBLE}.{i}"


def single_block(j: int) -> str:
    return f"{SINGLE}.{j}"


def attention_scope(block: str) -> str:
    """The prefix of everything of `block`'s joint attention (its matmul calls, RoPE, softmax, operands)."""
    return f"{block}.attn"


def attention_call(block: str, which: str) -> str:
    """`<block>.attn.qk` or `<block>.attn.pv`."""
    if which not in ATTENTION_CALLS:
        raise ValueError(f"attention call {which!r}: must be one of {', '.join(ATTENTION_CALLS)}")
    return f"{attention_scope(block)}.{which}"


def _split(layer: str):
    """(block, 'double' | 'single', index, rest) for a name inside a transformer block, else None."""
    m = _BLOCK.match(layer)
    if not m:
        return None
    return m.group(1), "double" if m.group(2) == DOUBLE else "single", int(m.group(3)), m.group(4) or ""


def block_of(layer: str) -> str:
    """The transformer block a layer belongs to (`double_blocks.3`), or its top-level module outside the blocks
    (`img_in`, `time_in`, `final_layer`)."""
    s = _split(layer)
    return s[0] if s else layer.split(".")[0]


def block_kind(layer: str) -> str | None:
    """'double' or 'single' for a layer inside a transformer block, None outside."""
    s = _split(layer)
    return s[1] if s else None


def block_index(layer: str) -> int | None:
    """The index of a layer's block among the blocks of its kind, None outside the blocks."""
    s = _split(layer)
    return s[2] if s else None


def within_block(layer: str) -> str:
    """The name relative to its block (`double_blocks.1.img_attn.q_proj` -> `img_attn.q_proj`): the same layer
    of every block of one kind; names outside the blocks are returned unchanged."""
    s = _split(layer)
    return s[3] if s else layer


def stream_of(layer: str) -> str | None:
    """The token stream of a layer: 'img' / 'txt' for a double block's per-stream layers (`img_*` / `txt_*`,
    their modulation included), the embedders and the final projection; 'joint' for single-block layers and every
    block's joint attention; None for the conditioning-vector layers (time_in, vector_in, final_layer's
    modulation)."""
    s = _split(layer)
    if s is None:
        return _STREAM_OUTSIDE_BLOCKS.get(layer)
    _, kind, _, rest = s
    if kind == "single" or in_attention(layer):
        return JOINT
    head = rest.split(".")[0]
    for stream in STREAMS:
        if head.startswith(f"{stream}_"):
            return stream
    return None


def in_attention(name: str) -> bool:
    """Whether a layer or op name belongs to a block's joint attention (`<block>.attn.*`)."""
    s = _split(name)
    return s is not None and s[3].startswith("attn.")


def is_attention_call(name: str) -> bool:
    """Whether `name` is one of a block's quantizable attention matmul calls (`<block>.attn.qk` / `.attn.pv`)."""
    s = _split(name)
    return s is not None and s[3] in {f"attn.{w}" for w in ATTENTION_CALLS}
