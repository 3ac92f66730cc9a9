"""One recipe catalog, format-specialized designs and the iso-area / iso-throughput comparison."""
import json

import pytest

import quant
from quant.registry import get_format
from sim.accel import load_arch, specialize
from sim.accel.area import area_mm2, instance_counts
from sim.accel.compare import compare, load_quality
from sim.accel.energy import load_energy_table
from sim.accel.estimate import estimate
from sim.accel.recipes import derive
from sim.accel.schema import SpecError
from sim.accel.specialize import check_runs, modes_needed
from sim.accel.workload import model_shape

TABLE = load_energy_table("horowitz45")


ACTIVATION_ONLY = {n for n in quant.recipe_names()
                   if any(r.action is quant.recipes.Action.ACTIVATION_ONLY for r in quant.recipe(n).policy)}


@pytest.mark.parametrize("name", quant.recipe_names())
def test_every_quant_recipe_has_a_hardware_view_and_runs_on_its_specialized_design(name):
    if name in ACTIVATION_ONLY:       # W16A4 ablations: refused by name, with the reason
        with pytest.raises(quant.QuantError, match=f"recipe {name} quantizes only the activations.*no hardware view"):
            derive(name)
        with pytest.raises(quant.QuantError, match="no hardware view"):
            estimate("tiny", load_arch("edge"), name, steps=2)
        return
    hw = derive(name)
    assert hw.name == name
    est = estimate("tiny", specialize(load_arch("edge"), name), name, steps=2)
    assert est.latency_s > 0 and est.energy_j > 0


def test_hardware_bits_come_from_quant_formats_not_a_second_table():
    for name in ("mxfp4", "nvfp4", "int4_g32", "blockdialect", "semanticdialect-b16"):
        r = quant.recipe(name).resolved()
        hw = derive(name)
        assert hw.weight_bits == get_format(r.weight.fmt).bits_per_element(block=r.block)
        if not r.seda.enabled:
            assert hw.act_bits == get_format(r.activation.fmt).bits_per_element(block=r.block)
    assert derive("semanticdialect-b16").block == 16 and derive("nvfp4").block == 16
    # SeDA stores log2(D/S)-bit dialect ids: fewer bits than the same recipe without it
    assert derive("semanticdialect").act_bits < derive("semanticdialect-no-seda").act_bits


def test_lane_kinds_and_online_quantizers_follow_the_formats():
    kinds = {n: (derive(n).mac_mode, derive(n).online) for n in
             ("semanticdialect", "blockdialect", "mxfp4", "nvfp4", "int4_g32", "w8a8", "w4a16", "fp")}
    assert kinds == {"semanticdialect": ("dialect4", "lut_argmin"), "blockdialect": ("dialect4", "two_stage"),
                     "mxfp4": ("e2m1", "e2m1_round"), "nvfp4": ("fp4_scaled", "nvfp4_scale"),
                     "int4_g32": ("int4", "int_scale"), "w8a8": ("int8", "int_scale"),
                     "w4a16": ("fp16", ""), "fp": ("fp16", "")}


def test_layer_policy_is_the_quant_recipes_regex_policy():
    hw = derive("semanticdialect")
    assert hw.layer_policy("img_in") == "fp" and hw.layer_policy("final_layer.linear") == "fp"
    assert hw.layer_policy("double_blocks.3.img_mod.lin") == "mod"
    assert hw.layer_policy("single_blocks.7.linear2") == "quant"
    assert derive("w4a16").layer_policy("single_blocks.7.linear2") == "mod"


def test_specialized_designs_keep_only_what_their_recipe_needs():
    base = load_arch("edge")
    sd, mx, nv, i8 = (specialize(base, r) for r in ("semanticdialect", "mxfp4", "nvfp4", "w8a8"))
    assert dict(mx.pe_array.mac_modes) == {"e2m1": 8, "w4a16": 1, "fp16": 1}
    assert mx.lut_unit.selector == "none" and [k for k, _, _ in mx.act_quantizers] == ["e2m1_round"]
    assert sd.lut_unit.selector == "lut_argmin" and sd.lut_unit.book_size == 32 and sd.act_quantizers == ()
    assert [k for k, _, _ in nv.act_quantizers] == ["nvfp4_scale"]
    c = {n: instance_counts(s) for n, s in (("sd", sd), ("mx", mx), ("nv", nv), ("i8", i8))}
    assert "decoder.dialect_d32" in c["sd"]["decoders"] and "decoder.e2m1" in c["mx"]["decoders"]
    assert c["i8"]["decoders"] == {} and c["i8"]["pe_array"]["pe.int8_lane"] == 256 * 4
    assert "pe.scaler_e4m3" in c["nv"]["pe_array"] and "pe.scaler_pow2" in c["mx"]["pe_array"]
    a = {n: area_mm2(s, TABLE) for n, s in (("base", base), ("sd", sd), ("mx", mx), ("nv", nv))}
    assert a["mx"]["lut_unit"] == 0 and a["sd"]["lut_unit"] > 0 and a["sd"]["act_quantizer"] == 0
    assert sum(a["mx"].values()) < sum(a["base"].values()) and sum(a["sd"].values()) < sum(a["base"].values())
    assert len({round(sum(v.values()), 6) for v in a.values()}) == 4


def test_decode_happens_once_at_the_array_edge():
    """Area: decoders at the edges only (rows + cols per lane), lanes multiply decoded integers; energy: one
    decode per element entering the array."""
    sd = specialize(load_arch("edge"), "semanticdialect")
    counts = instance_counts(sd)
    lanes = dict(sd.pe_array.mac_modes)["dialect4"]
    wo = dict(sd.pe_array.mac_modes)["w4a16"]
    assert counts["decoders"] == {"decoder.dialect_d32": (16 + 16) * lanes + 16 * wo}
    assert "pe.int5_lane" in counts["pe_array"] and not any("mac4" in k for k in counts["pe_array"])
    from sim.accel.counts import count_actions
    from sim.accel.engine import simulate
    from sim.accel.trace import gemm_trace
    r = simulate(gemm_trace(64, 256, 64, "dialectfp4-32"), sd)
    g = r.per_op[r.per_op.kind == "gemm"].iloc[0]
    x_el = g.sram_inputs_read_bytes / (g.x_bits / 8)
    w_el = g.sram_weights_read_bytes / (g.w_bits / 8)
    assert count_actions(r).totals()["decode.dialect"] == pytest.approx(x_el + w_el)


def test_specialized_for_in_yaml_equals_specialize(tmp_path):
    text = (load_arch("edge").source_file and open(load_arch("edge").source_file).read())
    p = tmp_path / "edge-nv.yaml"
    p.write_text(text + "\nspecialized_for: nvfp4\n")
    from_yaml, direct = load_arch(p), specialize(load_arch("edge"), "nvfp4")
    for f in ("pe_array", "lut_unit", "act_quantizers", "decode_lut"):
        assert getattr(from_yaml, f) == getattr(direct, f)


def test_a_design_that_cannot_run_a_recipe_says_which_field():
    base = load_arch("edge")
    mx = specialize(base, "mxfp4")
    with pytest.raises(SpecError, match="pe_array.mac_modes"):
        check_runs(mx, derive("nvfp4"), set(modes_needed(derive("nvfp4"))))
    d16 = specialize(base, "semanticdialect-d16")
    with pytest.raises(SpecError, match="lut_unit.book_size"):
        estimate("tiny", d16, "semanticdialect", steps=1)
    no_q = specialize(base, "semanticdialect")      # a dialect chip: LUT unit, no scale-and-round quantizer
    no_q = no_q.__class__(**{**no_q.__dict__, "pe_array": base.pe_array})
    with pytest.raises(SpecError, match="act_quantizers.*int_scale"):
        estimate("tiny", no_q, "int4_g32", steps=1)


def test_tiny_workload_is_derived_from_the_vdit_config():
    from vdit import geometry
    from vdit.config import TINY
    s = model_shape("tiny")
    assert (s.hidden, s.heads, s.depth_double, s.depth_single) == (TINY.hidden_size, TINY.num_heads, TINY.depth,
                                                                   TINY.depth_single_blocks)
    assert (s.vec_dim, s.context_dim, s.text_tokens) == (TINY.vec_in_dim, TINY.context_in_dim,
                                                          geometry.TEXT_TOKENS)
    assert s.video_tokens == geometry.FRAMES * geometry.GRID ** 2 and s.cfg_branches == geometry.CFG_BRANCHES


@pytest.fixture(scope="module")
def iso_area():
    return compare("tiny", "edge", ["semanticdialect", "mxfp4", "nvfp4", "w8a8"], "area", study=None)


def test_iso_area_designs_fill_the_budget_and_differ(iso_area):
    from sim.accel.compare import _area
    target = iso_area.meta["target"]
    rows = iso_area.rows.set_index("recipe")
    assert (rows.area_mm2 <= target + 1e-9).all()
    from sim.accel.compare import _shapes
    from sim.accel.specialize import scale_array
    for r in rows.index:                    # the next candidate array would break the budget
        shapes = _shapes(specialize(load_arch("edge"), r))
        k = shapes.index((rows.loc[r, "pe_rows"], rows.loc[r, "pe_cols"]))
        assert _area(scale_array(iso_area.estimates[r].sim.arch, *shapes[k + 1]), TABLE) > target
    assert rows.loc["mxfp4", "pe_rows"] * rows.loc["mxfp4", "pe_cols"] > rows.loc["w8a8", "pe_rows"] * \
        rows.loc["w8a8", "pe_cols"]
    assert len(set(rows.verdict)) == 4 and "the reference" in rows.loc["nvfp4", "verdict"]


def test_iso_throughput_reaches_the_base_peak():
    c = compare("tiny", "edge", ["mxfp4", "w8a8"], "throughput")
    base_peak = 16 * 16 * 8
    assert (c.rows.peak_macs_per_cycle >= base_peak).all()
    assert c.rows.set_index("recipe").loc["mxfp4", "pe_rows"] == 16


def test_bad_normalization_targets_and_quality_inputs_are_refused(tmp_path):
    with pytest.raises(SpecError, match="area_mm2.*cannot be met"):
        compare("tiny", "edge", ["mxfp4"], "area", area_mm2_target=0.5)
    with pytest.raises(SpecError, match="normalize"):
        compare("tiny", "edge", ["mxfp4"], "volume")
    (tmp_path / "summary.csv").write_text("recipe,outliers,ssim\nmxfp4,none,0.5\n")
    with pytest.raises(SpecError, match="psnr_db"):
        load_quality(tmp_path)
    with pytest.raises(SpecError, match="no study summary"):
        load_quality(tmp_path / "nowhere")


def test_quality_joins_the_committed_study_by_recipe():
    q, source = load_quality("results/study", "none")
    assert source == "results/study/summary.csv"
    c = compare("tiny", "edge", ["semanticdialect", "mxfp4"], "area", study="results/study")
    assert c.rows.set_index("recipe").psnr_db.to_dict() == {r: q[r]["psnr_db"] for r in ("semanticdialect",
                                                                                          "mxfp4")}


def run_cli(args, capsys):
    from sim.cli import main
    rc = main(args)
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_sim_compare_json_contract(capsys):
    rc, out, _ = run_cli(["compare", "--workload", "tiny", "--recipes", "semanticdialect,nvfp4", "--json"], capsys)
    assert rc == 0
    d = json.loads(out)
    assert d["normalize"] == "area" and len(d["rows"]) == 2
    for key in ("recipe", "design", "pe_rows", "pe_cols", "area_mm2", "area_by_component_mm2", "latency_s",
                "energy_j", "energy_by_component_j", "attention_share_of_latency", "attention_share_of_energy"):
        assert key in d["rows"][0]
    assert abs(sum(d["rows"][0]["area_by_component_mm2"].values()) - d["rows"][0]["area_mm2"]) < 1e-9


@pytest.mark.parametrize("args, needle", [
    (["--recipes", "nope"], "recipe"),
    (["--area-mm2", "0.2"], "area_mm2"),
    (["--area-mm2", "-1"], "--area-mm2"),
    (["--base", "configs/arch/missing.yaml"], "missing.yaml"),
    (["--reference", "fp"], "reference"),
    (["--quality-mode", "sometimes"], "outliers"),
])
def test_sim_compare_bad_input_is_one_line_exit_2(args, needle, capsys, tmp_path):
    rc, out, err = run_cli(["compare", "--workload", "tiny", "--out", str(tmp_path / "o"), *args], capsys)
    assert rc == 2 and needle in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_sim_compare_out_is_a_file(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    rc, _, err = run_cli(["compare", "--workload", "tiny", "--out", str(f)], capsys)
    assert rc == 2 and "not a folder" in err


def test_sweep_quality_objective_needs_a_study():
    from sim.sweep.spec import SweepSpecError, parse_sweep
    raw = {"version": 1, "name": "q", "base": {"workload": "tiny"}, "space": {"recipe": ["mxfp4"]},
           "objectives": {"energy_j": "min", "psnr_db": "max"}}
    with pytest.raises(SweepSpecError, match="base.quality"):
        parse_sweep(raw)
    raw["base"]["quality"] = {"study": "results/study", "columns": ["no_such_metric"]}
    with pytest.raises(SweepSpecError, match="no_such_metric"):
        parse_sweep(raw)
    raw["base"]["quality"] = {"study": "results/study"}
    spec = parse_sweep(raw)
    from sim.sweep.accel_eval import evaluate
    m = evaluate({**spec.points()[0], "specialize": True})
    assert m["psnr_db"] == load_quality("results/study")[0]["mxfp4"]["psnr_db"]
