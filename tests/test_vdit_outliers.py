"""Stress-mode outlier injection is function-preserving and does create channel outliers."""
import copy

import numpy as np
import torch

import vdit
from vdit import data
from vdit.outliers import inject_outliers


def test_injection_preserves_output_and_creates_outliers():
    model = vdit.build("tiny", seed=5)
    stressed = copy.deepcopy(model)
    records = inject_outliers(stressed, channels_per_site=4, seed=1)
    assert len(records) == 2 * 2 * 2 + 4
    assert all(10 <= s <= 100 for r in records for s in r.scales)
    batch = data.make_batch(np.random.default_rng(3), 2, null_prob=0.0)
    img_ids, txt_ids = data.token_ids(2)
    args = (batch.latents, img_ids, batch.txt, txt_ids, torch.tensor([0.2, 0.9]), batch.y_vec)
    seen = {}
    name = "single_blocks.1.v_mlp"
    hook = stressed.get_submodule(name).register_forward_pre_hook(lambda m, i: seen.update(x=i[0].detach()))
    with torch.no_grad():
        ref, out = model(*args), stressed(*args)
    hook.remove()
    # float32 rounding only: relative error ~1e-7 per op, a few dozen ops deep
    assert float((out - ref).abs().max()) <= 1e-5 * float(ref.abs().max()) + 1e-6
    rec = next(r for r in records if r.site == "single_blocks.1.modulation.lin")
    ch = seen["x"].abs().amax(dim=(0, 1))
    others = torch.ones_like(ch, dtype=torch.bool)
    others[list(rec.channels)] = False
    # each injected channel carries values several times the typical channel peak
    assert float(ch[list(rec.channels)].min()) > 3 * float(ch[others].median())


def test_injection_changes_the_weights_it_names():
    model = vdit.build("tiny", seed=5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rec = inject_outliers(model, channels_per_site=2, seed=0)[0]
    w = model.get_submodule(rec.readers[0]).weight
    c, s = rec.channels[0], rec.scales[0]
    assert torch.allclose(w[:, c] * s, before[f"{rec.readers[0]}.weight"][:, c], rtol=1e-6)
    assert torch.equal(model.final_layer.linear.weight, before["final_layer.linear.weight"])
