"""Learned quality metrics (LPIPS, FVD, CLIP, VBench, DOVER) as interfaces that need user-supplied weights.

No network weights can be downloaded here, and numbers from random-weight networks must never appear under these
names. So every metric is `available(weights)` only when the user passes an existing weights file it can use;
otherwise `load` raises `MetricUnavailable("unavailable: weights not present ...")` saying what file to supply.

What computes when weights are supplied:
- lpips: LPIPS v0.1 with the AlexNet backbone (`metrics_lpips`), from a safetensors file holding the torchvision
  AlexNet `features.{0,3,6,8,10}.{weight,bias}` (or the lpips package's `net.sliceK.I.*` names) and the linear
  heads `lin{0..4}.model.1.weight`; or a TorchScript file whose forward(x, y) takes (N, 3, H, W) images in [-1, 1]
  and returns N distances.
- fvd: Frechet distance of features from a TorchScript I3D (the common `i3d_torchscript.pt` convention: input
  (N, 3, T, 224, 224) float in [-1, 1], called with rescale=False, resize=False, return_features=True).
- clip: a TorchScript CLIP image encoder (`encode_image` method or forward), input (N, 3, 224, 224) with CLIP's
  mean/std normalization; reports CLIP-Temp (consecutive-frame cosine) and, given text embeddings, CLIPSIM.
- User networks may also be torch.export archives (*.pt2); TorchScript is deprecated in recent torch.
- vbench, dover: not implemented here, even with weights (each is a multi-network pipeline); `load` says so.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .metrics import as_video


class MetricUnavailable(RuntimeError):
    """A learned metric cannot run: its weights are not present, or it is not implemented in this suite."""


I3D_KWARGS = {"rescale": False, "resize": False, "return_features": True}
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)   # OpenAI CLIP preprocessing constants
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def to_nchw(frames, size: int | None = None) -> torch.Tensor:
    """(B, T, H, W, 3) video ([0, 255] uint8 or [0, 1] float) -> (B*T, 3, H', W') float32 in [0, 1]."""
    v = torch.from_numpy(as_video(frames).astype(np.float32))
    x = v.reshape(-1, *v.shape[2:]).permute(0, 3, 1, 2)
    if size is not None and tuple(x.shape[-2:]) != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return x


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """|mu1 - mu2|^2 + Tr(C1 + C2 - 2 (C1 C2)^(1/2)), via the symmetric form (C1^(1/2) C2 C1^(1/2))^(1/2)."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    c1, c2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    w, u = np.linalg.eigh((c1 + c1.T) / 2)
    s1 = (u * np.sqrt(np.clip(w, 0, None))) @ u.T
    m = s1 @ c2 @ s1
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)))
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(c1) + np.trace(c2) - 2.0 * cross)


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples, unbiased) of an (N, D) feature matrix; needs N >= 2."""
    f = np.asarray(features, np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need an (N >= 2, D) feature matrix for Frechet statistics, got {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


@dataclass(frozen=True)
class FrechetVideoDistance:
    """FVD with a user-supplied TorchScript I3D; meaningful only over many videos (hundreds or more)."""
    detector: object            # TorchScript module, or the .module() of a torch.export archive
    size: int = 224
    kwargs: dict = field(default_factory=lambda: dict(I3D_KWARGS))

    @torch.no_grad()
    def features(self, videos) -> np.ndarray:
        b, t = as_video(videos).shape[:2]
        x = to_nchw(videos, self.size) * 2.0 - 1.0
        x = x.reshape(b, t, 3, self.size, self.size).permute(0, 2, 1, 3, 4).contiguous()
        return self.detector(x, **self.kwargs).reshape(b, -1).double().numpy()

    def __call__(self, fp_videos, q_videos) -> dict:
        ffp, fq = self.features(fp_videos), self.features(q_videos)
        return {"fvd": frechet_distance(*gaussian_stats(ffp), *gaussian_stats(fq)), "fvd_videos": len(ffp)}


@dataclass(frozen=True)
class ClipMetrics:
    """CLIP-Temp and (given per-video text embeddings) CLIPSIM with a user-supplied TorchScript image encoder."""
    encoder: object             # TorchScript module, or the .module() of a torch.export archive
    size: int = 224

    @torch.no_grad()
    def embed(self, videos) -> torch.Tensor:
        b, t = as_video(videos).shape[:2]
        mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
        x = (to_nchw(videos, self.size) - mean) / std
        enc = getattr(self.encoder, "encode_image", self.encoder)
        return F.normalize(enc(x).float().reshape(b, t, -1), dim=-1)

    def scores(self, videos, text_embeddings=None) -> dict:
        e = self.embed(videos)
        out = {"clip_temp": float((e[:, 1:] * e[:, :-1]).sum(-1).mean())} if e.shape[1] > 1 else {}
        if text_embeddings is not None:
            txt = F.normalize(torch.as_tensor(np.asarray(text_embeddings), dtype=torch.float32), dim=-1)
            out["clipsim"] = float(100.0 * (e * txt[:, None]).sum(-1).clamp(min=0).mean())
        return out

    def __call__(self, fp_videos, q_videos, text_embeddings=None) -> dict:
        sfp, sq = self.scores(fp_videos, text_embeddings), self.scores(q_videos, text_embeddings)
        out = {f"{k}_fp": v for k, v in sfp.items()} | {f"{k}_q": v for k, v in sq.items()}
        return out | {f"{k}_delta": sq[k] - sfp[k] for k in sfp}


def _load_torchscript(path: Path):
    """A user network: a torch.export archive (*.pt2, called without keyword options) or a TorchScript file."""
    try:
        if path.suffix == ".pt2":
            return torch.export.load(str(path)).module()
        return torch.jit.load(str(path), map_location="cpu").eval()
    except (RuntimeError, ValueError) as e:
        raise MetricUnavailable(f"could not load user network {path}: {e}") from e


def _load_fvd(path: Path):
    # an exported program fixed its keyword options at export time; TorchScript I3D takes them per call
    return FrechetVideoDistance(_load_torchscript(path), kwargs={} if path.suffix == ".pt2" else dict(I3D_KWARGS))


def _load_lpips(path: Path):
    from .metrics_lpips import lpips_from_file
    return lpips_from_file(path)


def _load_clip(path: Path):
    return ClipMetrics(_load_torchscript(path))


@dataclass(frozen=True)
class LearnedMetric:
    """A learned metric: `load(weights)` returns a callable (fp_frames, q_frames, ...) -> dict of numbers."""
    name: str
    description: str
    weights_hint: str
    loader: Callable[[Path], Callable] | None = None   # None: not implemented in this suite

    def available(self, weights=None) -> bool:
        return self.loader is not None and weights is not None and Path(weights).is_file()

    def load(self, weights=None) -> Callable:
        if weights is None or not Path(weights).is_file():
            where = "no weights path given" if weights is None else f"{weights} does not exist"
            raise MetricUnavailable(f"unavailable: weights not present ({where}); {self.name} needs "
                                    f"{self.weights_hint}")
        if self.loader is None:
            raise MetricUnavailable(f"unavailable: {self.name} is not implemented in this suite even with "
                                    f"weights ({self.description}); run the upstream tool on exported videos")
        return self.loader(Path(weights))


LEARNED_METRICS: dict[str, LearnedMetric] = {m.name: m for m in (
    LearnedMetric("lpips", "LPIPS v0.1 AlexNet perceptual distance per frame",
                  "a safetensors file with AlexNet features.* and lin*.model.1.weight, or a TorchScript LPIPS",
                  _load_lpips),
    LearnedMetric("fvd", "Frechet Video Distance on I3D features",
                  "a TorchScript I3D (i3d_torchscript.pt convention)", _load_fvd),
    LearnedMetric("clip", "CLIP-Temp and CLIPSIM", "a TorchScript CLIP image encoder", _load_clip),
    LearnedMetric("vbench", "VBench suite of 16 dimensions over several networks",
                  "the VBench package and its checkpoints"),
    LearnedMetric("dover", "DOVER aesthetic and technical video quality",
                  "the DOVER package and its checkpoint"),
)}


def learned_metric(name: str) -> LearnedMetric:
    if name not in LEARNED_METRICS:
        raise ValueError(f"unknown learned metric {name!r}; choose one of {sorted(LEARNED_METRICS)}")
    return LEARNED_METRICS[name]
