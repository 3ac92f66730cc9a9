"""Smoke training (the loss falls), exact resume, and the rectified-flow conventions."""
import pytest
import numpy as np
import torch

import vdit
from vdit import schedule
from vdit.train import TrainConfig, Trainer, lr_at

SMOKE = vdit.get_config("tiny").with_(name="smoke", hidden_size=64, num_heads=2, depth=1, depth_single_blocks=1,
                                      axes_dim=(8, 12, 12))


def test_smoke_training_loss_falls():
    torch.set_num_threads(1)
    cfg = TrainConfig(steps=40, batch=4, lr=2e-3, warmup=5, seed=0)
    tr = Trainer(cfg, vdit.build(SMOKE, seed=0))
    hist = tr.run(cfg.steps, quiet=True)
    losses = [h[1] for h in hist]
    assert len(losses) == 40 and all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < 0.75 * np.mean(losses[:5])


def test_resume_is_exact(tmp_path):
    torch.set_num_threads(1)
    cfg = TrainConfig(steps=6, batch=2, warmup=2, seed=1)
    a = Trainer(cfg, vdit.build(SMOKE, seed=0))
    a.run(3, quiet=True)
    a.save_state(str(tmp_path / "s.safetensors"))
    b = Trainer(cfg, vdit.build(SMOKE, seed=99))
    b.load_state(str(tmp_path / "s.safetensors"))
    assert b.step == 3
    la, lb = a.train_step(), b.train_step()
    assert np.float32(la).tobytes() == np.float32(lb).tobytes()
    wa, wb = a.model.state_dict(), b.model.state_dict()
    assert all(wa[k].numpy().tobytes() == wb[k].numpy().tobytes() for k in wa)


def test_schedules():
    ts = schedule.sampling_schedule(10, 512)
    assert float(ts[0]) == 1.0 and float(ts[-1]) == 0.0 and bool((ts[1:] < ts[:-1]).all())
    # the shift keeps more steps near the noisy end: t at the midpoint step exceeds 0.5
    assert float(ts[5]) > 0.5
    t = schedule.sample_train_timesteps(10_000, 512, torch.Generator().manual_seed(0))
    assert 0 < float(t.min()) and float(t.max()) < 1 and float(t.median()) > 0.5
    x0, noise = torch.randn(3, 4), torch.randn(3, 4)
    xt, v = schedule.interpolate(x0, noise, torch.tensor([0.0, 1.0, 0.25]))
    assert torch.equal(xt[0], x0[0]) and torch.equal(xt[1], noise[1]) and torch.equal(v, noise - x0)
    cfg = TrainConfig(steps=100, warmup=10, lr=1.0, min_lr_frac=0.1)
    assert lr_at(cfg, 0) == 0.1 and lr_at(cfg, 10) == 1.0 and abs(lr_at(cfg, 100) - 0.1) < 1e-12


def test_small_config_trains_and_refuses_another_models_state(tmp_path):
    from vdit.train import TrainConfig, Trainer
    small = Trainer(TrainConfig(model="small", steps=2, batch=2))
    assert small.model.config.hidden_size == 256 and small.model.config.head_dim == 64
    state = str(tmp_path / "state.safetensors")
    Trainer(TrainConfig(model="tiny", steps=1, batch=2)).save_state(state)
    with pytest.raises(ValueError, match="not 'small'"):
        small.load_state(state)
