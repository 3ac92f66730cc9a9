"""Recipes: round trips through dict and YAML, the registry, validation, and policy selection by regex."""
import warnings

import pytest

import quant
from quant.errors import QuantError, UnknownNameError
from quant.recipes import Action, Decomposition, PolicyRule, Recipe, Seda, TensorSpec, default_policy

NAMED = ["fp", "w8a8", "w4a16", "int4_g32", "mxfp4", "nvfp4", "blockdialect", "semanticdialect",
         "semanticdialect-no-decomp", "semanticdialect-no-seda", "semanticdialect-d16", "semanticdialect-b16",
         "semanticdialect-fullpath", "semanticdialect-attn8", "nvfp4-fullpath", "semanticdialect-attn-q",
         "semanticdialect-attn-k", "semanticdialect-attn-p", "semanticdialect-attn-v",
         "semanticdialect-fair",
         *(f"{b}-{s}" for b in ("mxfp4", "nvfp4", "int4_g32", "blockdialect", "semanticdialect",
                                "semanticdialect-fair") for s in ("w16a4", "w4a16"))]

# real Open-Sora 2.0 linear names (docs/model.md#layer-names) -> the default policy's action
LAYER_ACTIONS = {
    "img_in": Action.FP, "cond_in": Action.FP, "txt_in": Action.FP,
    "time_in.in_layer": Action.FP, "time_in.out_layer": Action.FP,
    "vector_in.in_layer": Action.FP, "vector_in.out_layer": Action.FP,
    "final_layer.adaLN_modulation.1": Action.FP, "final_layer.linear": Action.FP,
    "double_blocks.0.img_mod.lin": Action.WEIGHT_ONLY, "double_blocks.18.txt_mod.lin": Action.WEIGHT_ONLY,
    "single_blocks.37.modulation.lin": Action.WEIGHT_ONLY,
    "double_blocks.3.img_attn.q_proj": Action.FULL, "double_blocks.3.txt_attn.proj": Action.FULL,
    "double_blocks.3.img_mlp.0": Action.FULL, "double_blocks.3.txt_mlp.2": Action.FULL,
    "single_blocks.0.q_proj": Action.FULL, "single_blocks.0.v_mlp": Action.FULL,
    "single_blocks.12.linear2": Action.FULL,
}


def test_every_named_recipe_is_registered():
    assert sorted(NAMED) == quant.recipe_names()


@pytest.mark.parametrize("name", NAMED)
def test_round_trip_dict_and_yaml(name):
    r = quant.recipe(name)
    assert Recipe.from_dict(r.to_dict()) == r
    assert Recipe.from_yaml(r.to_yaml()) == r
    assert r.name in r.describe() and repr(r).startswith("Recipe(")


def test_round_trip_keeps_selector_knobs_and_yaml_file(tmp_path):
    r = quant.recipe("blockdialect")
    assert r.activation.knob_dict == {"threshold": 1}
    p = tmp_path / "bd.yaml"
    p.write_text(r.to_yaml())
    assert quant.recipe(str(p)) == r


def test_unknown_recipe_lists_valid_names():
    with pytest.raises(UnknownNameError) as exc:
        quant.recipe("int3")
    assert "semanticdialect" in str(exc.value) and "mxfp4" in str(exc.value)


def test_from_dict_rejects_unknown_fields_by_name():
    d = quant.recipe("mxfp4").to_dict()
    d["blok"] = 32
    with pytest.raises(QuantError, match="blok"):
        Recipe.from_dict(d)
    d = quant.recipe("semanticdialect").to_dict()
    d["seda"]["anchors"] = 3
    with pytest.raises(QuantError, match="anchors"):
        Recipe.from_dict(d)


def test_bad_knob_values_are_refused():
    with pytest.raises(UnknownNameError, match="source"):
        Decomposition(source="gradient")
    with pytest.raises(QuantError):
        Decomposition(salient_fraction=1.5)
    with pytest.raises(UnknownNameError, match="partition"):
        Seda(partition="random")
    with pytest.raises(QuantError, match="regex"):
        PolicyRule("(unclosed", Action.FP)
    with pytest.raises(QuantError, match="FULL"):
        Recipe("bad", policy=default_policy())       # FULL rules without operand specs


@pytest.mark.parametrize("layer,action", sorted(LAYER_ACTIONS.items()))
def test_default_policy_selects_by_regex(layer, action):
    for name in ("mxfp4", "nvfp4", "int4_g32", "blockdialect", "semanticdialect", "w8a8"):
        assert quant.recipe(name).action_for(layer) == action


def test_w4a16_and_fp_policies():
    w4 = quant.recipe("w4a16")
    assert w4.action_for("double_blocks.3.img_attn.q_proj") == Action.WEIGHT_ONLY
    assert w4.action_for("img_in") == Action.FP
    assert w4.activation is None and w4.weight.fmt == "int4_g128"
    fp = quant.recipe("fp")
    assert all(fp.action_for(n) == Action.FP for n in LAYER_ACTIONS)


def test_first_matching_rule_wins_and_unmatched_is_none():
    spec = TensorSpec("mxfp4")
    r = Recipe("order", weight=spec, activation=spec,
               policy=((r"single_blocks\.0\..*", Action.FP), (r"single_blocks\.\d+\..*", Action.FULL)))
    assert r.action_for("single_blocks.0.linear2") == Action.FP
    assert r.action_for("single_blocks.1.linear2") == Action.FULL
    assert r.action_for("single_blocks.10.linear2") == Action.FULL   # fullmatch: "1" does not match "10"
    assert r.action_for("img_in") is None
    assert r.action_for("xsingle_blocks.1.linear2") is None          # anchored at the start too


def test_semanticdialect_is_honest_about_its_formatbook():
    r = quant.recipe("semanticdialect")
    assert r.formatbook == "dialectfp4-32" and r.formatbook_fallback == "dialectfp4"
    assert r.decomposition.enabled and r.seda.enabled and r.activation.selector == "lut_argmin"
    assert r.weight.selector == "exact_mse"
    assert all(any(tag in n for n in r.notes) for tag in ("[paper]", "[ours]", "[BD]"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = r.resolved()
    if "dialectfp4-32" in quant.formatbook_names():     # the calibrated book is frozen: used as is
        assert res == r and not caught
    else:                                                # until then: the fallback, recorded and warned
        assert res.activation.fmt == res.weight.fmt == res.formatbook == "dialectfp4"
        assert any("fallback" in n for n in res.notes) and caught


def test_resolution_without_fallback_names_valid_books():
    spec = TensorSpec("nosuchbook", "lut_argmin")
    r = Recipe("x", weight=spec, activation=spec, policy=default_policy(), formatbook="nosuchbook")
    with pytest.raises(UnknownNameError, match="dialectfp4"):
        r.resolved()
    r2 = Recipe("y", weight=spec, activation=spec, policy=default_policy(), formatbook="nosuchbook",
                formatbook_fallback="dialectfp4")
    with pytest.warns(UserWarning, match="nosuchbook"):
        assert r2.resolved().activation == TensorSpec("dialectfp4", "lut_argmin")


def test_ablations_differ_from_semanticdialect_in_one_knob_each():
    base = quant.recipe("semanticdialect")
    assert not quant.recipe("semanticdialect-no-decomp").decomposition.enabled
    assert not quant.recipe("semanticdialect-no-seda").seda.enabled
    d16 = quant.recipe("semanticdialect-d16")
    assert d16.formatbook == "dialectfp4" and d16.activation.fmt == "dialectfp4"
    assert d16.decomposition == base.decomposition and d16.seda == base.seda
