"""`sim sample` and the activation-statistics tool, on a random tiny checkpoint (fast)."""
import numpy as np
import pytest
import torch

import vdit
from sim.cli import main as sim_main
from vdit import stats
from vdit.outliers import inject_outliers


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    p = tmp_path_factory.mktemp("ck") / "rand.safetensors"
    vdit.save_checkpoint(vdit.build("tiny", seed=0), p)
    return p


def test_sim_sample_writes_png_and_gif(ckpt, tmp_path, capsys):
    png, gif = tmp_path / "s.png", tmp_path / "s.gif"
    rc = sim_main(["sample", "--checkpoint", str(ckpt), "--n", "2", "--steps", "1", "--guidance", "2",
                   "--out", str(png), "--gif", str(gif)])
    assert rc == 0
    from PIL import Image
    im = Image.open(png)
    assert im.size[0] == 8 * (32 * 4 + 2) and im.size[1] == 2 * (14 + 32 * 4 + 2)
    assert Image.open(gif).n_frames == 8
    assert "task accuracy" in capsys.readouterr().out


def test_sim_sample_rejects_bad_prompt_and_missing_checkpoint(ckpt, tmp_path, capsys):
    assert sim_main(["sample", "--checkpoint", str(ckpt), "--prompts", "a purple circle moving left"]) == 2
    assert "purple" in capsys.readouterr().err
    assert sim_main(["sample", "--checkpoint", str(tmp_path / "none.safetensors")]) == 2


def test_stats_cover_every_used_linear_and_see_injected_outliers():
    torch.set_num_threads(1)
    model = vdit.build("tiny", seed=0)
    prompts = vdit.CALIBRATION_PROMPTS[:1]
    plain = {s.name: s for s in stats.collect(model, prompts, steps=1)}
    assert set(plain) == set(vdit.linear_names(model)) - {"cond_in"}
    assert all(np.isfinite(s.kurtosis) and s.channel_ratio >= 1 for s in plain.values())
    inject_outliers(model)
    stressed = {s.name: s for s in stats.collect(model, prompts, steps=1)}
    for name in ("double_blocks.0.img_attn.q_proj", "single_blocks.2.v_mlp"):
        assert stressed[name].channel_ratio > 5 * plain[name].channel_ratio
        assert stressed[name].kurtosis > 5 * plain[name].kurtosis
    rows = stats.summarize(list(stressed.values()))
    assert "single.linear2" in stats.format_table(rows, "t")
