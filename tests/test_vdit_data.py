"""Synthetic videos, the VAE stand-in, prompt sets and the analytic task detectors."""
import numpy as np
import pytest
import torch

from vdit import data, tasks


def test_encode_decode_round_trip_and_token_layout():
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.random((2, data.FRAMES, data.SIZE, data.SIZE, 3), dtype=np.float32))
    tok = data.encode(frames)
    assert tuple(tok.shape) == (2, data.FRAMES * data.GRID ** 2, data.TOKEN_CHANNELS) == (2, 512, 48)
    assert torch.allclose(data.decode(tok), frames, atol=1e-6)
    # one bright pixel at frame f, row y, col x lands in token (f, y // 4, x // 4) and only there
    one = torch.zeros(1, data.FRAMES, data.SIZE, data.SIZE, 3)
    f, y, x = 5, 13, 22
    one[0, f, y, x, 1] = 1.0
    t = data.encode(one)[0] + 1                  # background -1 -> 0
    hit = torch.nonzero(t.abs().sum(dim=1)).flatten().tolist()
    assert hit == [f * data.GRID ** 2 + (y // 4) * data.GRID + x // 4]
    img_ids, txt_ids = data.token_ids(1)
    assert img_ids[0, hit[0]].tolist() == [f, y // 4, x // 4]
    assert txt_ids.abs().sum() == 0


def test_prompt_sets_are_disjoint_and_cover_every_attribute():
    cal, ev = set(data.CALIBRATION_PROMPTS), set(data.EVALUATION_PROMPTS)
    assert not cal & ev and len(cal) == len(ev) == 24
    for prompts in (cal, ev):
        specs = [data.parse_prompt(p) for p in prompts]
        assert {s.colour for s in specs} == set(data.COLOURS)
        assert {s.shape for s in specs} == set(data.SHAPES)
        assert {s.direction for s in specs} == set(data.DIRECTIONS)
    sub = [data.parse_prompt(p) for p in data.EVALUATION_SUBSET]
    assert len(set(data.EVALUATION_SUBSET)) == 12 and set(data.EVALUATION_SUBSET) <= ev
    for attr, n in (("colour", 3), ("shape", 4), ("direction", 3)):
        counts = {}
        for s in sub:
            counts[getattr(s, attr)] = counts.get(getattr(s, attr), 0) + 1
        assert set(counts.values()) == {n}, attr


def test_prompt_embeddings_fixed_and_null_is_zero():
    txt, vec = data.embed_prompts(["a red circle moving left", data.NULL_PROMPT])
    txt2, _ = data.embed_prompts(["a red circle moving left"])
    assert txt[0].numpy().tobytes() == txt2[0].numpy().tobytes()
    assert txt[1].abs().sum() == 0 and vec[1].abs().sum() == 0
    assert txt[0, 5:].abs().sum() == 0 and txt[0, :5].abs().sum() > 0
    with pytest.raises(ValueError, match="unknown words"):
        data.embed_prompts(["a purple circle moving left"])


def test_make_batch_is_deterministic_with_null_dropout():
    a = data.make_batch(np.random.default_rng([0, 7]), 64)
    b = data.make_batch(np.random.default_rng([0, 7]), 64)
    assert a.latents.numpy().tobytes() == b.latents.numpy().tobytes() and a.prompts == b.prompts
    nulls = sum(p == data.NULL_PROMPT for p in a.prompts)
    assert 1 <= nulls <= 16          # 10 % of 64 = 6.4 expected


def test_detectors_read_every_clean_render():
    rng = np.random.default_rng(11)
    specs = [s for s in data.ALL_SPECS for _ in range(3)]
    videos = np.stack([data.render(s, rng) for s in specs])
    acc = tasks.task_accuracy(videos, [s.prompt for s in specs])
    assert acc == {"colour": 1.0, "shape": 1.0, "direction": 1.0, "all": 1.0}
    # a static or empty video is not credited with a direction
    assert tasks.read_video(np.zeros((8, 32, 32, 3))).direction is None
    # reversed time reverses the direction
    rev = tasks.task_accuracy(videos[:, ::-1], [s.prompt for s in specs])
    assert rev["direction"] == 0.0 and rev["colour"] == 1.0
