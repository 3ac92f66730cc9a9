"""Calibration data for a learned formatbook: the inputs of a model's quantized linears, as 32-element blocks.

docs/formats.md#dialectfp4-32 [ours]: the default D=32 book is DialectFP4 plus 16 grids chosen greedily to minimize the
lut_argmin error on calibration activations.  This module is model-agnostic (torch is imported lazily, like
quant/torch_layers.py): forward pre-hooks on the nn.Linear modules that a recipe's policy quantizes in FULL
(weights and activations) record their input rows while a caller-supplied `drive(model)` runs the model (for
the VDiT: sampling the calibration prompts, see sim/study.py).  Rows are thinned with a fixed stride per call so
the block count stays bounded; the thinning is deterministic (no RNG), so the same settings give the same book.

Residuals of activation decomposition are not recorded: they are a small share of the blocks (salient rows only)
and their distribution depends on the book being learned.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .learn import learn_formatbook
from .recipes import Action, recipe as get_recipe


@dataclass(frozen=True)
class CalibrationBlocks:
    """Recorded calibration data: blocks float32 (N, block); layers: the linears hooked; calls: hook calls."""
    blocks: np.ndarray
    layers: tuple
    calls: int
    row_stride: int

    @property
    def n_blocks(self) -> int:
        return int(self.blocks.shape[0])


def quantized_linears(model, recipe) -> list:
    """Names of the nn.Linear modules that `recipe` quantizes in FULL (their inputs are quantized online)."""
    from torch import nn
    r = get_recipe(recipe)
    return [n for n, m in model.named_modules()
            if isinstance(m, nn.Linear) and n and r.action_for(n) is Action.FULL]


def collect_blocks(model, recipe, drive, row_stride: int = 8, block: int = 32) -> CalibrationBlocks:
    """Run `drive(model)` with input hooks on the recipe's FULL linears; return their inputs as blocks.

    row_stride: keep every row_stride-th token row of every call (offset = call index mod row_stride, so the
    kept rows rotate over calls).  Inputs whose width is not a multiple of `block` are refused (the quantizer
    would zero-pad them; calibrating on padding would bias the book)."""
    if row_stride < 1:
        raise ValueError(f"collect_blocks: row_stride must be >= 1, got {row_stride}")
    names = quantized_linears(model, recipe)
    if not names:
        raise ValueError(f"collect_blocks: recipe {get_recipe(recipe).name} quantizes no linear of this model")
    chunks, state = [], {"calls": 0}

    def hook(module, args):
        x = args[0].detach().float().cpu().numpy()
        k = x.shape[-1]
        if k % block:
            raise ValueError(f"collect_blocks: a hooked linear has {k} input features, not a multiple of the "
                             f"block {block}")
        rows = x.reshape(-1, k)[state["calls"] % row_stride::row_stride]
        chunks.append(np.ascontiguousarray(rows, dtype=np.float32).reshape(-1, block))
        state["calls"] += 1

    handles = [model.get_submodule(n).register_forward_pre_hook(hook) for n in names]
    try:
        drive(model)
    finally:
        for h in handles:
            h.remove()
    if not chunks:
        raise ValueError("collect_blocks: drive(model) ran no hooked linear; nothing was recorded")
    return CalibrationBlocks(np.concatenate(chunks), tuple(names), state["calls"], row_stride)


def learn_from_blocks(calib: CalibrationBlocks, name: str, size: int = 32, base: str = "dialectfp4",
                      description: str = ""):
    """learn_formatbook on recorded blocks; the provenance names the layers, calls, stride and `description`."""
    words = (f"{description}; inputs of {len(calib.layers)} FULL linears, {calib.calls} calls, every "
             f"{calib.row_stride}th row")
    return learn_formatbook(calib.blocks, size=size, base=base, name=name, block=calib.blocks.shape[1],
                            description=words)
