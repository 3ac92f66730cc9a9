"""Workload traces: op counts from the architecture, FLOPs against the analytic count, compactness."""
import pytest

from sim.accel.trace import build_trace
from sim.accel.workload import model_shape


def _main_linears(trace):
    g = trace.gemms()
    return g[~g.op.str.endswith(".decomp") & ~g.op.str.contains(r"attn\.(?:qk|pv)$")]


def test_token_counts_match_model_md():
    assert model_shape("opensora2-256px").video_tokens == 8316
    assert model_shape("opensora2-768px").video_tokens == 76032
    assert model_shape("tiny").video_tokens == 512


@pytest.mark.parametrize("workload", ["opensora2-256px", "tiny"])
def test_linear_gemm_count_per_forward(workload):
    s = model_shape(workload)
    tr = build_trace(workload, "semanticdialect")
    per_double = 2 * (4 + 2 + 1)            # per stream: q, k, v, proj; mlp.0, mlp.2; modulation
    per_single = 2 + 1 + 1 + 1              # q, k; v_mlp; linear2; modulation
    embed_final = 9                         # img_in, cond_in, txt_in, time_in x2, vector_in x2, final x2
    assert len(_main_linears(tr)) == s.depth_double * per_double + s.depth_single * per_single + embed_final
    assert (tr.gemms().repeat == s.steps * s.cfg_branches).all()
    names = set(tr.ops.op)
    assert {"double_blocks.0.img_attn.q_proj", f"single_blocks.{s.depth_single - 1}.v_mlp",
            "final_layer.linear"} <= names


def test_opensora_flops_close_to_analytic():
    s = model_shape("opensora2-256px")
    tr = build_trace(s, "fp")
    g = tr.gemms()
    flops = 2 * float((g.m * g.k * g.n * g.batch).sum())
    h, f, L, lv, lt = s.hidden, s.mlp_hidden, s.tokens, s.video_tokens, s.text_tokens
    per_token_block = 4 * h * h + 2 * h * f                      # attention projections + MLP, both block types
    analytic = 2 * (s.depth_double + s.depth_single) * L * per_token_block
    analytic += 2 * (s.depth_double + s.depth_single) * 2 * L * L * h      # QK^T and PV
    assert flops == pytest.approx(analytic, rel=0.01)
    assert flops / 1e12 == pytest.approx(169, rel=0.02)          # ~169 TFLOP per forward pass at 256 px


def test_trace_is_compact_and_fast_to_build():
    tr = build_trace("opensora2-768px", "semanticdialect")
    assert len(tr.ops) < 5000
    assert tr.ops.repeat.max() == 150


def test_decomposition_adds_salient_rows():
    base = build_trace("tiny", "semanticdialect-no-decomp")
    dec = build_trace("tiny", "semanticdialect", decomp_fraction=0.1)
    macs = lambda t: float((t.gemms().m * t.gemms().k * t.gemms().n * t.gemms().batch).sum())
    extra = dec.gemms()[dec.gemms().op.str.endswith(".decomp")]
    assert len(extra) > 0 and (extra.w_onchip).all()
    assert macs(dec) - macs(base) == float((extra.m * extra.k * extra.n).sum())


def test_policy_fp_embedders_w4a16_modulation_quantized_blocks():
    tr = build_trace("tiny", "mxfp4")
    mode = dict(zip(tr.ops.op, tr.ops.mac_mode))
    assert mode["img_in"] == "fp16" and mode["final_layer.linear"] == "fp16"
    assert mode["double_blocks.0.img_mod.lin"] == "w4a16"
    assert mode["double_blocks.1.txt_mlp.2"] == "e2m1"          # MXFP4's own lane kind (E2M1 decoded at the edge)
    assert mode["single_blocks.0.attn.qk"] == "fp16"
    assert build_trace("tiny", "mxfp4", full_path=True).ops.set_index("op").mac_mode["single_blocks.0.attn.qk"] \
        == "e2m1"
    assert dict(zip(*(build_trace("tiny", "semanticdialect").ops[c] for c in ("op", "mac_mode"))))[
        "double_blocks.1.txt_mlp.2"] == "dialect4"


def test_quantize_ops_feed_their_gemm():
    tr = build_trace("tiny", "semanticdialect")
    q = tr.ops[(tr.ops.kind == "quantize") & (tr.ops.consumer >= 0)]
    consumers = tr.ops.loc[q.consumer]
    assert (consumers.kind == "gemm").all() and (consumers.m.to_numpy() == q.m.to_numpy()).all()
    assert (consumers.k.to_numpy() == q.k.to_numpy()).all()
