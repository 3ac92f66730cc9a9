"""Every page of the run report and the sweep report keeps its content on the page (reports/pages.py checks each
figure's tight bounding box before saving it).  The reports are built from small folders of SYNTHETIC TEST DATA
written here with the columns `sim run` (sim/pipeline/tables.py) and `sim sweep` write; the names are made long
and numerous on purpose, to stress the layout.  No sampling or sweep runs."""
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.backends.backend_pdf import PdfPages

import reports.pages
from reports.run_report import TOP_OP_TYPES, build_pdf, op_type_latency
from reports.sweep_report import write_sweep_report
from sim.sweep.analysis import analyse

RECIPES = ("semanticdialect", "semanticdialect-no-decomp", "semanticdialect-b16-fullpath", "nvfp4", "mxfp4",
           "int4_g32")
WORKLOADS = ("tiny", "opensora2-256px")
COMPONENTS = ("pe_array", "decode_lut", "lut_unit", "vector_unit", "sram_inputs", "sram_weights", "sram_outputs",
              "dram")
LAYER_KINDS = ("img_attn.q_proj", "img_attn.k_proj", "img_attn.v_proj", "img_attn.proj", "txt_attn.q_proj",
               "img_mlp.0", "img_mlp.2", "txt_mlp.0", "txt_mlp.2")


def _ops(rng):
    """Per-op rows (latency_per_op.csv columns) for 12 double and 26 single blocks of many op types."""
    names = [("embed", -1, "img_in"), ("final", -1, "final_layer.linear")]
    for b in range(12):
        names += [("double", b, f"double_blocks.{b}.{k}{suffix}") for k in LAYER_KINDS
                  for suffix in ("", ".decomp", ".quantize", ".quantize.residual_quantize")]
        names += [("double", b, f"double_blocks.{b}.attn.{k}") for k in ("qk", "pv", "softmax", "rope", "colsum")]
    names += [("single", b, f"single_blocks.{b}.{k}") for b in range(26) for k in ("linear1", "linear2", "norm")]
    rows = []
    for w in WORKLOADS:
        for r in RECIPES:
            for group, block, op in names:
                kind = "quantize" if ".quantize" in op else ("vector" if op.endswith(("softmax", "norm", "rope"))
                                                              else "gemm")
                cycles = float(rng.integers(1_000, 2_000_000))
                rows.append({"workload": w, "recipe": r, "op": op, "kind": kind, "group": group, "block": block,
                             "m": 512, "k": 128, "n": 128, "repeat": 20, "mac_mode": "fp4", "bottleneck":
                             rng.choice(["compute", "memory"]), "cycles": cycles, "compute_cycles": cycles * 0.8,
                             "memory_cycles": cycles * 0.5, "macs": cycles * 1500, "dram_read_bytes": cycles * 3,
                             "dram_write_bytes": cycles, "latency_s": cycles * 20 / 1e9,
                             "energy_j": cycles * 1e-9, "utilization": 0.8})
    return pd.DataFrame(rows)


def write_synthetic_run(folder, rng):
    """A `sim run` output folder of invented numbers, with every CSV the run report reads."""
    op = _ops(rng)
    op.to_csv(folder / "latency_per_op.csv", index=False)
    op.groupby(["workload", "recipe", "block", "kind"], as_index=False)[["latency_s", "energy_j"]].sum() \
        .to_csv(folder / "latency_per_block.csv", index=False)
    pd.DataFrame([{"workload": w, "recipe": r, "component": c, "energy_j": float(rng.uniform(0.01, 5))}
                  for w in WORKLOADS for r in RECIPES for c in COMPONENTS]
                 ).to_csv(folder / "energy_breakdown.csv", index=False)
    pd.DataFrame([{"workload": w, "recipe": r, "arch": "edge-large", "latency_s": 2.5e4, "energy_j": 4.8e4,
                   "area_mm2": 8.84, "dram_bytes": 8.3e8, "mac_utilization": 0.18, "clock_mhz": 1000.0,
                   "peak_macs_per_cycle_4bit": 2048, "dram_bytes_per_cycle": 51.2, "psnr_db": 21.4, "ssim": 0.59,
                   "tdiff_psnr_db": 25.4, "act_bits_per_element": 4.38, "extra_mac_fraction": 0.05,
                   "full_path": r.endswith("fullpath"), "attention_share_of_latency": float(rng.uniform(0.2, 1)),
                   "attention_share_of_energy": float(rng.uniform(0.2, 1)),
                   **({} if r.endswith("fullpath") or w == "tiny" else {
                       "full_path_latency_s": 7e3, "full_path_energy_j": 2.7e4,
                       "full_path_attention_share_of_latency": float(rng.uniform(0, 1)),
                       "full_path_attention_share_of_energy": float(rng.uniform(0, 1))})}
                  for w in WORKLOADS for r in RECIPES]).to_csv(folder / "summary.csv", index=False)
    pd.DataFrame([{"run_recipe": r, "recipe": r.removesuffix("-fullpath"),
                   "quantized_recipe": r if r.endswith("fullpath") else f"{r}-fullpath", "psnr_db": 22.4,
                   "quantized_psnr_db": 18.5, "delta_psnr_db": -3.88, "task_all": 0.75, "quantized_task_all": 0.5,
                   "source": "results/study-fullpath/summary.csv"} for r in RECIPES[:4]]
                 ).to_csv(folder / "full_path_quality.csv", index=False)
    layers = [f"double_blocks.{b}.{k}" for b in range(12) for k in LAYER_KINDS]
    pd.DataFrame([{"recipe": "semanticdialect", "outliers": False, "layer": lay, "operand": "act", "dialect": d,
                   "blocks": int(rng.integers(0, 500))} for lay in layers for d in range(32)]
                 ).to_csv(folder / "dialect_usage.csv", index=False)
    pd.DataFrame([{"recipe": "fp", "outliers": False, "metric": "task_colour", "value": 1.0}]
                 ).to_csv(folder / "quality.csv", index=False)
    scope = "first 8 quantized layer calls of: 1 of 10 denoising steps, 1 prompt(s), recipe semanticdialect " * 2
    pd.DataFrame([{"backend": "triton", "reference": "numba", "scope": scope, "layer_calls": 8,
                   "matching_layer_calls": 7, "latents_identical": False, "bit_identical": False,
                   "first_mismatch": "layer double_blocks.0.img_attn.q_proj call 3 element 17: " + "bits differ " * 20}]
                 ).to_csv(folder / "crosscheck.csv", index=False)
    manifest = {"config": {"recipe": "semanticdialect", "arch": "edge-large", "model": "tiny", "prompts": 2,
                           "steps": 10, "seed": 0}, "git_revision": "0" * 40 + "+dirty",
                "notes": ["A deliberately long note about how the estimates were scaled " * 5]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    plt.imsave(folder / "frames.png", rng.uniform(size=(120, 600, 3)))
    return folder


def synthetic_sweep_points(rng):
    """A results-store frame (as sim.sweep.store returns it) of invented metrics on a 3 x 2 x 5 grid."""
    rows = []
    for rows_ in (8, 16, 32):
        for cols in (8, 16):
            for recipe in RECIPES:
                rows.append({"point_id": f"{rows_}-{cols}-{recipe}", "status": "done", "seconds": 0.1,
                             "config.arch": "edge", "config.arch_overrides.pe_array.rows": rows_,
                             "config.arch_overrides.pe_array.cols": cols, "config.recipe": recipe,
                             "latency_s": float(rng.uniform(0.4, 2)), "energy_j": float(rng.uniform(1.2, 1.5)),
                             "area_mm2": float(rng.uniform(6, 12)), "edp_js": float(rng.uniform(0.5, 3)),
                             "psnr_db": float(rng.uniform(18, 24))})
    return pd.DataFrame(rows)


@pytest.fixture
def checked_pages(monkeypatch):
    """Counts saved PDF pages and page checks, so a test can tell every page went through the check."""
    counts = {"saved": 0, "checked": 0}
    real_save, real_check = PdfPages.savefig, reports.pages.page_violations

    def savefig(self, *a, **kw):
        counts["saved"] += 1
        return real_save(self, *a, **kw)

    def check(fig):
        counts["checked"] += 1
        return real_check(fig)
    monkeypatch.setattr(PdfPages, "savefig", savefig)
    monkeypatch.setattr(reports.pages, "page_violations", check)
    return counts


@pytest.mark.filterwarnings("error::reports.pages.PageOverflowWarning")
def test_run_report_pages_fit(tmp_path, checked_pages):
    build_pdf(write_synthetic_run(tmp_path, np.random.default_rng(0)))
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    assert checked_pages["saved"] >= 8 and checked_pages["checked"] == checked_pages["saved"]


def test_attention_page_pairs_fp16_and_quantized_attention(tmp_path):
    """Per recipe of the full-size workload: the FP16-attention share from the run, the quantized one from its
    full-path what-if, or only the quantized one for a recipe that quantizes attention itself."""
    from reports.attention_page import attention_rows
    s = pd.read_csv(write_synthetic_run(tmp_path, np.random.default_rng(3)) / "summary.csv")
    rows = attention_rows(s).set_index("recipe")
    assert list(rows.index) == list(RECIPES) and (rows.workload == "opensora2-256px").all()
    big = s[s.workload == "opensora2-256px"].set_index("recipe")
    sd, fp = rows.loc["semanticdialect"], rows.loc["semanticdialect-b16-fullpath"]
    assert sd.fp16_attention_share_of_energy == big.loc["semanticdialect", "attention_share_of_energy"]
    assert sd.quant_attention_share_of_latency == big.loc["semanticdialect", "full_path_attention_share_of_latency"]
    assert np.isnan(fp.fp16_attention_share_of_latency)
    assert fp.quant_attention_share_of_latency == big.loc["semanticdialect-b16-fullpath",
                                                          "attention_share_of_latency"]


@pytest.mark.filterwarnings("error::reports.pages.PageOverflowWarning")
def test_sweep_report_pages_fit(tmp_path, checked_pages):
    objectives = {"latency_s": "min", "energy_j": "min", "area_mm2": "min", "edp_js": "min"}
    points, best = analyse(synthetic_sweep_points(np.random.default_rng(1)), objectives, [])
    space = ["arch_overrides.pe_array.rows", "arch_overrides.pe_array.cols", "recipe"]
    paths = write_sweep_report(points, best, objectives, space, [], tmp_path, "sweep synthetic-layout-test")
    assert paths["pdf"].read_bytes().startswith(b"%PDF")
    fronts = sum(c.startswith("front.") for c in points.columns)
    assert checked_pages["saved"] == 1 + fronts + len(space) == checked_pages["checked"]


def test_op_types_grouped_into_top_and_other():
    op = _ops(np.random.default_rng(2))
    op = op[(op["workload"] == "opensora2-256px") & (op["recipe"] == "semanticdialect")]
    per_type = op_type_latency(op)
    assert len(per_type) == TOP_OP_TYPES + 1 and per_type.index[-1].startswith("other (")
    assert per_type.sum() == pytest.approx(op["latency_s"].sum())
    assert not any(name.startswith(("double_blocks", "single_blocks")) for name in per_type.index)
    assert not any(".quantize." in name for name in per_type.index)   # sub-steps count as their quantize step
    assert list(per_type.iloc[:TOP_OP_TYPES]) == sorted(per_type.iloc[:TOP_OP_TYPES], reverse=True)


def _violations_of(draw):
    fig, axes = reports.pages.plot_page(1, 2)
    draw(fig, axes[0])
    found = reports.pages.page_violations(fig)
    plt.close(fig)
    return found


def test_page_check_sees_text_off_the_page():
    found = _violations_of(lambda fig, axes: fig.text(0.9, 0.5, "a label running past the right edge of the page"))
    assert len(found) == 1 and "right edge" in found[0]


def test_page_check_sees_crowded_tick_labels():
    names = [f"double_blocks.{i}.img_attn.q_proj" for i in range(150)]
    found = _violations_of(lambda fig, axes: axes[0].barh(names, np.ones(150)))
    assert len(found) == 1 and "y tick labels overlap" in found[0]


def test_page_check_sees_plots_running_into_each_other():
    def draw(fig, axes):
        fig.set_layout_engine("none")
        axes[1].set_position([0.3, 0.1, 0.4, 0.8])   # on top of the left plot
    found = _violations_of(draw)
    assert len(found) == 1 and "overlap by" in found[0]


def test_page_check_passes_a_clean_page():
    assert _violations_of(lambda fig, axes: [ax.plot([1, 2], [3, 4]) for ax in axes]) == []
