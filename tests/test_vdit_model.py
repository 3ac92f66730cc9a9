"""The Open-Sora 2.0 MMDiT: key layout and size at full scale (meta device), module names, attention, RoPE."""
import numpy as np
import pytest
import torch
from torch import nn

import vdit
from vdit import data
from vdit.layers import apply_rope, rope_angles


def expected_keys(depth=19, single=38):
    """The 1,082-tensor layout of Open_Sora_v2.safetensors, spelled out independently of the model code."""
    keys = []
    for lin in ("img_in", "cond_in", "txt_in", "time_in.in_layer", "time_in.out_layer", "vector_in.in_layer",
                "vector_in.out_layer", "final_layer.adaLN_modulation.1", "final_layer.linear"):
        keys += [f"{lin}.weight", f"{lin}.bias"]
    for i in range(depth):
        for s in ("img", "txt"):
            p = f"double_blocks.{i}.{s}"
            for lin in ("_mod.lin", "_attn.q_proj", "_attn.k_proj", "_attn.v_proj", "_attn.proj", "_mlp.0", "_mlp.2"):
                keys += [f"{p}{lin}.weight", f"{p}{lin}.bias"]
            keys += [f"{p}_attn.norm.query_norm.scale", f"{p}_attn.norm.key_norm.scale"]
    for j in range(single):
        p = f"single_blocks.{j}"
        for lin in ("q_proj", "k_proj", "v_mlp", "linear2", "modulation.lin"):
            keys += [f"{p}.{lin}.weight", f"{p}.{lin}.bias"]
        keys += [f"{p}.norm.query_norm.scale", f"{p}.norm.key_norm.scale"]
    return keys


def test_full_size_on_meta_has_1082_keys_and_11_89b_params():
    model = vdit.build("opensora2", device="meta")
    sd = model.state_dict()
    assert len(sd) == 1082
    assert sorted(sd) == sorted(expected_keys())
    n = sum(p.numel() for p in model.parameters())
    assert round(n / 1e9, 2) == 11.89
    shapes = {"img_in.weight": (3072, 64), "cond_in.weight": (3072, 68), "txt_in.weight": (3072, 4096),
              "double_blocks.18.img_mod.lin.weight": (18432, 3072), "double_blocks.0.txt_mlp.0.weight": (12288, 3072),
              "single_blocks.37.v_mlp.weight": (15360, 3072), "single_blocks.0.linear2.weight": (3072, 15360),
              "single_blocks.5.modulation.lin.weight": (9216, 3072), "final_layer.linear.weight": (64, 3072),
              "double_blocks.3.img_attn.norm.query_norm.scale": (128,)}
    for k, s in shapes.items():
        assert tuple(sd[k].shape) == s, k


def test_dcae_variant_shapes():
    sd = vdit.build("opensora2-dcae", device="meta").state_dict()
    assert len(sd) == 1082
    assert tuple(sd["img_in.weight"].shape) == (3072, 128)
    assert tuple(sd["cond_in.weight"].shape) == (3072, 129)
    assert tuple(sd["final_layer.linear.weight"].shape) == (128, 3072)


def test_tiny_size_and_unknown_name():
    model = vdit.build("tiny")
    n = sum(p.numel() for p in model.parameters())
    assert 2.0e6 < n < 2.6e6
    assert sorted(model.state_dict()) == sorted(expected_keys(2, 4))
    with pytest.raises(KeyError, match="valid"):
        vdit.build("opensora3")


def _inputs(model, b=2, seed=0):
    batch = data.make_batch(np.random.default_rng(seed), b, null_prob=0.0)
    img_ids, txt_ids = data.token_ids(b)
    return batch.latents, img_ids, batch.txt, txt_ids, torch.tensor([0.3, 0.8])[:b], batch.y_vec


def test_every_linear_is_a_plain_linear_swappable_by_name():
    torch.manual_seed(0)
    model = vdit.build("tiny", seed=1)
    names = vdit.linear_names(model)
    assert len(names) == 9 + 2 * 2 * 7 + 4 * 5
    args = _inputs(model)
    with torch.no_grad():
        ref = model(*args)
    calls = []

    class Probe(nn.Module):
        def __init__(self, inner, name):
            super().__init__()
            self.inner, self.name = inner, name

        def forward(self, x):
            calls.append(self.name)
            return self.inner(x)

    for n in names:
        assert type(model.get_submodule(n)) is nn.Linear, n
        parent, _, leaf = n.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, Probe(model.get_submodule(n), n))
    with torch.no_grad():
        out = model(*args)
    # cond_in is only used with image conditioning
    assert set(names) - set(calls) == {"cond_in"}
    assert out.numpy().tobytes() == ref.numpy().tobytes()


class Recorder:
    wants_maps = True

    def __init__(self):
        self.received, self.maps = {}, {}

    def record(self, name, received, txt_len):
        self.received[name] = (received, txt_len)

    def record_map(self, name, probs, txt_len):
        self.maps[name] = probs


def test_attention_recorder_matches_sdpa_and_sums():
    model = vdit.build("tiny", seed=2)
    args = _inputs(model)
    rec = Recorder()
    with torch.no_grad():
        ref = model(*args)
        model.set_attention_recorder(rec)
        out = model(*args)
        model.set_attention_recorder(None)
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-4)
    names = [f"double_blocks.{i}" for i in range(2)] + [f"single_blocks.{j}" for j in range(4)]
    assert sorted(rec.received) == sorted(names)
    L = data.TEXT_TOKENS + data.FRAMES * data.GRID ** 2
    for n in names:
        r, txt_len = rec.received[n]
        assert r.dtype == torch.float32 and tuple(r.shape) == (2, L) and txt_len == data.TEXT_TOKENS
        # every query row sums to 1, so the received mass over all keys is the number of queries
        assert torch.allclose(r.sum(dim=1), torch.full((2,), float(L)), rtol=1e-4)
        assert tuple(rec.maps[n].shape) == (2, L, L)
        assert torch.allclose(rec.maps[n].sum(dim=1), r, rtol=1e-4, atol=1e-4)


def test_rope_is_relative_and_identity_at_position_zero():
    torch.manual_seed(0)
    axes = (8, 12, 12)
    q, k = torch.randn(1, 1, 1, 32), torch.randn(1, 1, 1, 32)

    def dot(pq, pk):
        return float((apply_rope(q, rope_angles(torch.tensor([[pq]], dtype=torch.float32), axes, 1e4))
                      * apply_rope(k, rope_angles(torch.tensor([[pk]], dtype=torch.float32), axes, 1e4))).sum())

    a = dot([1, 2, 3], [4, 0, 5])
    b = dot([3, 5, 1], [6, 3, 3])   # both shifted by (2, 3, -2)
    assert abs(a - b) < 1e-4
    assert abs(a - dot([1, 2, 3], [4, 1, 5])) > 1e-3
    zero = apply_rope(q, rope_angles(torch.zeros(1, 1, 3), axes, 1e4))
    assert zero.numpy().tobytes() == q.numpy().tobytes()


def test_qk_norm_init_sets_only_the_qk_scales():
    a, b = vdit.build("tiny", seed=3), vdit.build("tiny", seed=3, qk_norm_init=2.0)
    qk = [n for n, _ in a.named_parameters() if n.endswith(("query_norm.scale", "key_norm.scale"))]
    assert len(qk) == 2 * (2 * 2 + 4)
    sa, sb = a.state_dict(), b.state_dict()
    for k in sa:
        if k in qk:
            assert torch.all(sa[k] == 1.0) and torch.all(sb[k] == 2.0), k
        else:
            assert torch.equal(sa[k], sb[k]), k
