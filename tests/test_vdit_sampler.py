"""Sampler: deterministic given a seed, batch-independent noise, velocities, recorder step calls."""
import torch

import vdit
from vdit import data


class StepRecorder:
    def __init__(self):
        self.steps, self.records = [], []

    def set_step(self, i):
        self.steps.append(i)

    def record(self, name, received, txt_len):
        self.records.append((self.steps[-1], name, tuple(received.shape)))


def test_sampler_deterministic_and_shapes():
    torch.set_num_threads(1)
    model = vdit.build("tiny", seed=0)
    prompts = vdit.EVALUATION_PROMPTS[:2]
    a = vdit.sample(model, prompts, seed=3, steps=3, guidance=4.0, return_velocities=True)
    b = vdit.sample(model, prompts, seed=3, steps=3, guidance=4.0, return_velocities=True)
    assert a.latents.numpy().tobytes() == b.latents.numpy().tobytes()
    assert tuple(a.frames.shape) == (2, 8, 32, 32, 3) and 0 <= float(a.frames.min()) and float(a.frames.max()) <= 1
    assert tuple(a.velocities.shape) == (3, 2, 512, 48) and tuple(a.timesteps.shape) == (4,)
    # Euler: x_0 = noise + sum_i (t_{i+1} - t_i) v_i
    noise = vdit.sampler.initial_noise(2, 3, 512, 48)
    dt = (a.timesteps[1:] - a.timesteps[:-1]).view(-1, 1, 1, 1)
    assert torch.allclose(noise + (dt * a.velocities).sum(0), a.latents, atol=1e-5)
    # noise depends on (seed, prompt index) only, so the first prompt alone gives the same video
    c = vdit.sample(model, prompts[:1], seed=3, steps=3, guidance=4.0)
    assert torch.allclose(c.latents[0], a.latents[0], atol=1e-5)
    d = vdit.sample(model, prompts, seed=4, steps=3, guidance=4.0)
    assert not torch.allclose(d.latents, a.latents)
    assert torch.allclose(data.decode(a.latents), a.frames)


def test_recorder_told_each_step_and_removed():
    model = vdit.build("tiny", seed=0)
    rec = StepRecorder()
    vdit.sample(model, vdit.CALIBRATION_PROMPTS[:1], seed=0, steps=2, guidance=3.0, recorder=rec)
    assert rec.steps == [0, 1]
    assert len(rec.records) == 2 * 6
    assert rec.records[0] == (0, "double_blocks.0", (2, data.TEXT_TOKENS + 512))   # cond + uncond rows
    assert model._recorder is None
    rec1 = StepRecorder()
    vdit.sample(model, vdit.CALIBRATION_PROMPTS[:1], seed=0, steps=1, guidance=1.0, recorder=rec1)
    assert rec1.records[0][2] == (1, data.TEXT_TOKENS + 512)
