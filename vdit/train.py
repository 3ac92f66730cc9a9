"""Train the `tiny` (or `small`) MMDiT on the procedural videos (rectified flow, shifted logit-normal timesteps).

    python -m vdit.train --steps 1800 --out runs/tiny            # resumes from runs/tiny/state.safetensors

Deterministic: batch i is drawn from np.random.default_rng([seed, i]) and torch.Generator(seed * 1_000_003 + i),
so a resumed run sees exactly the batches an uninterrupted one would.  The resume state (weights, EMA, AdamW moments,
metadata) is a safetensors file: no pickle anywhere.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import time
from dataclasses import dataclass

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from . import data, schedule
from .config import TINY, get_config
from .model import MMDiTModel, build


@dataclass(frozen=True)
class TrainConfig:
    model: str = "tiny"          # a vdit.config name (tiny, small)
    steps: int = 1800
    batch: int = 12
    lr: float = 8e-4
    warmup: int = 100
    min_lr_frac: float = 0.1
    weight_decay: float = 0.0
    ema_decay: float = 0.995
    grad_clip: float = 1.0
    null_prob: float = 0.1
    seed: int = 0
    save_every: int = 100
    rope_theta: int = TINY.theta  # RoPE base [ours: 100] (Open-Sora: 10,000; see vdit/config.py), in the checkpoint
    qk_norm_init: float = 2.0   # initial QK-RMSNorm scales [ours] (Open-Sora / Flux: 1.0): QK-normalised logits are
                                # bounded by scale^2 * sqrt(head_dim), only 5.7 at head dim 32 with 1.0


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to min_lr_frac * lr at cfg.steps."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    frac = min(1.0, (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup))
    return cfg.lr * (cfg.min_lr_frac + (1 - cfg.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * frac)))


def training_loss(model: MMDiTModel, batch: data.Batch, gen: torch.Generator) -> torch.Tensor:
    x0 = batch.latents
    b, n_tok = x0.shape[0], x0.shape[1]
    t = schedule.sample_train_timesteps(b, n_tok, gen)
    noise = torch.randn(x0.shape, generator=gen)
    x_t, target = schedule.interpolate(x0, noise, t)
    img_ids, txt_ids = data.token_ids(b)
    pred = model(x_t, img_ids, batch.txt, txt_ids, t, batch.y_vec)
    return torch.mean((pred.float() - target) ** 2)


class Trainer:
    def __init__(self, cfg: TrainConfig, model: MMDiTModel | None = None):
        self.cfg = cfg
        self.model = model if model is not None else build(
            get_config(cfg.model).with_(theta=cfg.rope_theta), seed=cfg.seed, qk_norm_init=cfg.qk_norm_init)
        self.ema = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.99),
                                     weight_decay=cfg.weight_decay)
        self.step, self.elapsed_s, self.history = 0, 0.0, []   # history rows: (step, loss, lr, elapsed_s)

    def train_step(self) -> float:
        cfg, i = self.cfg, self.step
        batch = data.make_batch(np.random.default_rng([cfg.seed, i]), cfg.batch, cfg.null_prob)
        gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + i)
        for g in self.opt.param_groups:
            g["lr"] = lr_at(cfg, i)
        loss = training_loss(self.model, batch, gen)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        decay = min(cfg.ema_decay, (1 + i) / (10 + i))
        with torch.no_grad():
            for k, v in self.model.state_dict().items():
                self.ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay)
        self.step += 1
        return float(loss.detach())

    def run(self, until: int, state_path: str | None = None, max_minutes: float | None = None, quiet=False):
        """Train up to step `until` (or until max_minutes of wall time), saving every cfg.save_every steps."""
        start = time.time()
        t0 = self.elapsed_s
        bar = tqdm(total=until, initial=self.step, disable=quiet, desc=f"train {self.cfg.model}", mininterval=5)
        while self.step < until:
            loss = self.train_step()
            self.elapsed_s = t0 + time.time() - start
            self.history.append((self.step, loss, lr_at(self.cfg, self.step - 1), round(self.elapsed_s, 2)))
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
            if state_path and self.step % self.cfg.save_every == 0:
                self.save_state(state_path)
            if max_minutes is not None and time.time() - start > 60 * max_minutes:
                break
        bar.close()
        if state_path:
            self.save_state(state_path)
        return self.history

    # ---- resumable state (safetensors + JSON metadata) -----------------------------------------------------
    def save_state(self, path: str) -> None:
        tensors = {f"model.{k}": v.contiguous() for k, v in self.model.state_dict().items()}
        tensors.update({f"ema.{k}": v.contiguous() for k, v in self.ema.items()})
        names = dict((id(p), n) for n, p in self.model.named_parameters())
        for p, st in self.opt.state.items():
            for key in ("exp_avg", "exp_avg_sq"):
                tensors[f"opt.{names[id(p)]}.{key}"] = st[key].contiguous()
        meta = {"step": str(self.step), "elapsed_s": str(self.elapsed_s), "train_config": json.dumps(vars_of(self.cfg)),
                "history": json.dumps(self.history)}
        tmp = path + ".tmp"
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)

    def load_state(self, path: str) -> None:
        from safetensors import safe_open
        with safe_open(path, "pt") as f:
            meta = f.metadata()
        saved = json.loads(meta.get("train_config", "{}")).get("model", "tiny")
        if saved != self.cfg.model:
            raise ValueError(f"{path}: training state of model {saved!r}, not {self.cfg.model!r}; use another --out")
        tensors = load_file(path)
        self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        self.ema = {k[4:]: v for k, v in tensors.items() if k.startswith("ema.")}
        self.step, self.elapsed_s = int(meta["step"]), float(meta["elapsed_s"])
        self.history = [tuple(r) for r in json.loads(meta["history"])]
        for n, p in self.model.named_parameters():
            if f"opt.{n}.exp_avg" in tensors:
                self.opt.state[p] = {"step": torch.tensor(float(self.step)), "exp_avg": tensors[f"opt.{n}.exp_avg"],
                                     "exp_avg_sq": tensors[f"opt.{n}.exp_avg_sq"]}


def vars_of(cfg) -> dict:
    return {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}


def write_loss_csv(history, path: str, every: int = 25) -> None:
    """Loss curve: mean training loss over windows of `every` steps."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["step", "mean_loss", "lr", "elapsed_s"])
        for s in range(0, len(history), every):
            win = history[s:s + every]
            w.writerow([win[-1][0], f"{np.mean([r[1] for r in win]):.5f}", f"{win[-1][2]:.3g}", win[-1][3]])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=TrainConfig.model, help="vdit config to train: tiny or small")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--batch", type=int, default=TrainConfig.batch)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--out", default="runs/tiny", help="folder for state.safetensors and loss.csv")
    p.add_argument("--until", type=int, default=None, help="stop at this step (default --steps; the lr schedule "
                   "still spans --steps, so a time-capped run is reproduced exactly with --until)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop (and save) after this much wall time")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rope-theta", type=int, default=TrainConfig.rope_theta)
    p.add_argument("--qk-norm-init", type=float, default=TrainConfig.qk_norm_init)
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    cfg = TrainConfig(model=a.model, steps=a.steps, batch=a.batch, lr=a.lr, seed=a.seed, rope_theta=a.rope_theta,
                      qk_norm_init=a.qk_norm_init)
    trainer = Trainer(cfg)
    state = os.path.join(a.out, "state.safetensors")
    if os.path.exists(state):
        trainer.load_state(state)
        print(f"resumed from {state} at step {trainer.step}")
    history = trainer.run(a.until or cfg.steps, state, a.max_minutes)
    write_loss_csv(history, os.path.join(a.out, "loss.csv"))
    print(f"step {trainer.step}  last-50 mean loss {np.mean([r[1] for r in history[-50:]]):.4f}  "
          f"elapsed {trainer.elapsed_s / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
