"""LPIPS v0.1 (Zhang et al. 2018) with the AlexNet backbone, computed only from user-supplied weights.

The network is rebuilt here so that a safetensors file is enough (no pickle): torchvision AlexNet's five conv layers
give features after each ReLU; each is unit-normalized over channels, the squared difference of the two images is
weighted per channel by the 1x1 linear heads `lin{k}.model.1.weight`, averaged over space and summed over layers.
Inputs are scaled from [-1, 1] with LPIPS's fixed shift/scale layer first.

Build the safetensors file once from the two public weight files (torchvision AlexNet and lpips' `alex.pth`), e.g.
  sd = {f"features.{k}": v for k, v in alexnet.features.state_dict().items()} | torch.load("alex.pth")
  safetensors.torch.save_file(sd, "lpips_alex.safetensors")
The lpips package's own full-model names (`net.slice{K}.{I}.weight`) are accepted as well.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .metrics_learned import MetricUnavailable, _load_torchscript, to_nchw

LPIPS_SHIFT = (-0.030, -0.088, -0.188)   # LPIPS ScalingLayer constants (inputs in [-1, 1])
LPIPS_SCALE = (0.458, 0.448, 0.450)
# (features index, stride, padding, max-pool before the conv) of AlexNet's conv layers; LPIPS taps each ReLU
ALEX_CONVS = ((0, 4, 2, False), (3, 1, 2, True), (6, 1, 1, True), (8, 1, 1, False), (10, 1, 1, False))
SLICE_OF = {0: 1, 3: 2, 6: 3, 8: 4, 10: 5}   # lpips package: features.I lives in net.slice{K}.I
NORM_EPS = 1e-10


def _rename(sd: dict) -> dict:
    """Map lpips' `net.sliceK.I.*` names to torchvision's `features.I.*`; other keys unchanged."""
    out = {}
    for k, v in sd.items():
        parts = k.split(".")
        if len(parts) == 4 and parts[0] == "net" and parts[1].startswith("slice"):
            k = f"features.{parts[2]}.{parts[3]}"
        out[k] = v
    return out


def required_keys() -> list[str]:
    keys = [f"features.{i}.{p}" for i, *_ in ALEX_CONVS for p in ("weight", "bias")]
    return keys + [f"lin{k}.model.1.weight" for k in range(len(ALEX_CONVS))]


@dataclass(frozen=True)
class AlexLpips:
    """LPIPS distance from an AlexNet + linear-head state dict (float32 tensors)."""
    weights: dict

    def __post_init__(self):
        missing = [k for k in required_keys() if k not in self.weights]
        if missing:
            raise MetricUnavailable(f"LPIPS weights lack keys {missing}; expected {required_keys()}")

    def _features(self, x: torch.Tensor) -> list[torch.Tensor]:
        shift = torch.tensor(LPIPS_SHIFT).view(1, 3, 1, 1)
        scale = torch.tensor(LPIPS_SCALE).view(1, 3, 1, 1)
        h, feats = (x - shift) / scale, []
        for idx, stride, pad, pool in ALEX_CONVS:
            if pool:
                h = F.max_pool2d(h, kernel_size=3, stride=2)
            h = F.relu(F.conv2d(h, self.weights[f"features.{idx}.weight"], self.weights[f"features.{idx}.bias"],
                                stride=stride, padding=pad))
            feats.append(h)
        return feats

    @torch.no_grad()
    def distance(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(N,) LPIPS of (N, 3, H, W) images in [-1, 1]."""
        total = torch.zeros(x.shape[0])
        for k, (fx, fy) in enumerate(zip(self._features(x), self._features(y))):
            nx = fx / (fx.pow(2).sum(1, keepdim=True).sqrt() + NORM_EPS)
            ny = fy / (fy.pow(2).sum(1, keepdim=True).sqrt() + NORM_EPS)
            d = F.conv2d((nx - ny) ** 2, self.weights[f"lin{k}.model.1.weight"])
            total += d.mean(dim=(1, 2, 3))
        return total


@dataclass(frozen=True)
class LpipsMetric:
    """Per-frame LPIPS of two videos; `net` maps two (N, 3, H, W) [-1, 1] batches to N distances."""
    net: object

    def __call__(self, fp_frames, q_frames) -> dict:
        x, y = to_nchw(fp_frames) * 2.0 - 1.0, to_nchw(q_frames) * 2.0 - 1.0
        if x.shape != y.shape:
            raise ValueError(f"fp_frames {tuple(x.shape)} and q_frames {tuple(y.shape)} differ in shape")
        with torch.no_grad():
            fn = self.net.distance if isinstance(self.net, AlexLpips) else self.net
            d = np.asarray(fn(x, y).reshape(-1).double())
        return {"lpips": float(d.mean()), "lpips_worst": float(d.max())}


def lpips_from_file(path: Path) -> LpipsMetric:
    """A safetensors AlexNet-LPIPS state dict, or any other file as a TorchScript LPIPS module."""
    if Path(path).suffix == ".safetensors":
        from safetensors.torch import load_file
        sd = {k: v.float() for k, v in _rename(load_file(str(path))).items()}
        return LpipsMetric(AlexLpips(sd))
    return LpipsMetric(_load_torchscript(Path(path)))
