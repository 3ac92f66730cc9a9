"""The W16A4 / W4A16 split ablations (quant/recipe_variants.py): what each quantizes, that activation-only
linears equal the dequantized activations times the float weights, their bits accounting, and the hardware view."""
import warnings

import numpy as np
import pytest
import torch

import quant
from quant.errors import QuantError
from quant.recipe_variants import SPLIT_BASES, split_names
from quant.recipes import Action, Recipe
from quant.torch_layers import QuantLinear
from test_quantize_model import FULL_LAYERS, FP_LAYERS, WEIGHT_ONLY_LAYERS, ToyMMDiT, inputs, run_steps, sqnr_db

SPLITS = [n for b in SPLIT_BASES for n in split_names(b)]


def quantized(name, backend="reference"):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quant.quantize_model(ToyMMDiT(), name, backend=backend)


@pytest.mark.parametrize("base", SPLIT_BASES)
def test_each_split_keeps_one_operand_of_its_base(base):
    r, w16a4, w4a16 = (quant.recipe(n) for n in (base, *split_names(base)))
    assert w16a4.weight is None and w16a4.weight_only is None and w16a4.activation == r.activation
    assert (w16a4.decomposition, w16a4.seda, w16a4.block) == (r.decomposition, r.seda, r.block)
    assert w4a16.activation is None and w4a16.weight == r.weight and w4a16.block == r.block
    assert not w4a16.decomposition.enabled and not w4a16.seda.enabled
    layer, mod = "single_blocks.3.linear2", "double_blocks.0.img_mod.lin"
    assert (w16a4.action_for(layer), w16a4.action_for(mod)) == (Action.ACTIVATION_ONLY, Action.FP)
    assert (w4a16.action_for(layer), w4a16.action_for(mod)) == (Action.WEIGHT_ONLY, Action.WEIGHT_ONLY)
    for v in (w16a4, w4a16):
        assert any("[ours] split ablation" in n for n in v.notes)
        assert Recipe.from_yaml(v.to_yaml()) == v


def test_activation_only_needs_an_activation_spec():
    with pytest.raises(QuantError, match="ACTIVATION_ONLY"):
        Recipe("bad", policy=((".*", "activation_only"),))


def test_activation_only_layer_is_dequantized_input_times_float_weight():
    model = quantized("mxfp4-w16a4")
    mods = dict(model.named_modules())
    for n in FULL_LAYERS:
        assert isinstance(mods[n], QuantLinear) and mods[n].action is Action.ACTIVATION_ONLY
    for n in WEIGHT_ONLY_LAYERS | FP_LAYERS:
        assert type(mods[n]) is torch.nn.Linear
    lin = mods["single_blocks.1.linear2"]
    x = torch.randn(5, lin.in_features, generator=torch.Generator().manual_seed(3))
    xq = quant.quantize(x.numpy(), "mxfp4").dequantize()
    want = torch.from_numpy(xq) @ lin.weight_fp.T + lin.bias
    assert lin(x).numpy().tobytes() == want.numpy().tobytes()


def test_w16a4_with_decomposition_adds_the_residual_and_counts_its_bits():
    model = quantized("semanticdialect-w16a4")
    run_steps(model, 2, inputs())
    s = model.quant_context.summary()
    assert s["layers_activation_only"] == len(model.quant_context.layers) and s["layers_full"] == 0
    assert s["extra_mac_fraction"] > 0 and s["act_bits_per_element_with_residual"] > s["act_bits_per_element"] > 4


@pytest.mark.parametrize("base", ["nvfp4", "blockdialect"])
def test_each_split_is_closer_to_fp_than_its_base(base):
    x = inputs()
    with torch.no_grad():
        ref = ToyMMDiT()(*x)
        errs = {n: sqnr_db(ref, quantized(n)(*x)) for n in (base, *split_names(base))}
    assert errs[f"{base}-w16a4"] > errs[base] and errs[f"{base}-w4a16"] > errs[base]


def test_w16a4_numba_matches_reference_bit_for_bit():
    x = inputs()
    ya = run_steps(quantized("semanticdialect-w16a4", "reference"), 2, x)
    yb = run_steps(quantized("semanticdialect-w16a4", "numba"), 2, x)
    assert all(a.numpy().tobytes() == b.numpy().tobytes() for a, b in zip(ya, yb))


def test_hardware_view_refuses_w16a4_and_costs_w4a16_as_weight_only():
    from sim.accel.recipes import derive
    with pytest.raises(QuantError, match="nvfp4-w16a4 .*no hardware view"):
        derive("nvfp4-w16a4")
    hw = derive("nvfp4-w4a16")
    assert hw.online == "" and hw.weight_only_format == "nvfp4" and hw.weight_only_bits == 4.5
    assert hw.layer_policy("single_blocks.0.linear2") == "mod"


def test_study_lists_the_splits_apart():
    from sim.study import SPLIT_RECIPES, STUDY_RECIPES
    assert set(SPLIT_RECIPES) >= set(SPLITS) and not set(SPLIT_RECIPES) & set(STUDY_RECIPES)
