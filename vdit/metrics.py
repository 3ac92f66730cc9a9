"""Quality metrics of a quantized run against its FP run (same prompts, same seeds), with no learned weights.

`compare(fp_frames, q_frames, ...)` returns a flat dict of numbers; `METRICS` documents every key (unit, which
direction is better). Conventions:
- Videos are (B, T, H, W, 3) RGB, either uint8 in [0, 255] or float in [0, 1] (a single video (T, H, W, 3) is
  accepted as B = 1). Everything is computed in float64 on the [0, 1] scale; uint8 is divided by 255. Float values
  outside [0, 1] are refused rather than clipped, because clipping would hide a decoder producing out-of-range output.
- PSNR uses a peak of 1.0 (the same number as peak 255 on uint8). A frame identical to its reference has PSNR +inf;
  the mean over frames is then +inf too, so `psnr_pooled_db` (from the MSE pooled over all frames) is also given.
- SSIM is the Gaussian-window SSIM of Wang et al. (2004): window 11x11, sigma 1.5, K1 0.01, K2 0.03, data range
  1.0, on BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B, averaged over the 'valid' region (5-pixel border excluded,
  as in the reference MATLAB code). Identical frames give exactly 1.0.
- Temporal-difference PSNR compares D_t = I_{t+1} - I_t of the two videos; differences lie in [-1, 1], so the
  data range is 2.0 (PSNR = 10 log10(4 / MSE)).
- Temporal flicker is mean |I_{t+1} - I_t| over all pixels and channels on [0, 1] (VBench's measure before its
  (255 - x) / 255 rescaling); reported for both runs and as quantized minus FP.
- Latent and velocity metrics treat axis 0 as the batch: NMSE = sum (q - fp)^2 / sum fp^2 and cosine similarity
  are computed per sample and averaged over the batch. Velocities are a sequence over sampler steps (or an array
  with steps on axis 0), each (B, ...). Zero references: NMSE is 0 if both are zero, +inf otherwise; cosine is 1 if
  both are zero, 0 if only one is.
- Temporal keys (tdiff, flicker, flow) are present only when T >= 2; flow keys are documented in `metrics_flow`.
Learned metrics (LPIPS, FVD, CLIP, VBench, DOVER) need user-supplied weights: `learned_metric(name)`, see
`metrics_learned`. Synthetic-task accuracy (colour, shape, direction) lives with the data, in `vdit.tasks`.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .metrics_flow import FLOW_METRICS, flow_metrics

SSIM_WINDOW = 11          # Gaussian window side (pixels) of Wang et al. 2004
SSIM_SIGMA = 1.5          # Gaussian sigma (pixels)
SSIM_K1, SSIM_K2 = 0.01, 0.03
LUMA_BT601 = np.array([0.299, 0.587, 0.114])
TDIFF_DATA_RANGE = 2.0    # frame differences of [0, 1] videos lie in [-1, 1]


@dataclass(frozen=True)
class MetricInfo:
    """One key of `compare`'s dict: unit and which direction is better ('higher', 'lower', 'zero')."""
    key: str
    unit: str
    better: str
    description: str


METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("latent_nmse", "ratio", "lower", "final-latent NMSE, sum (q-fp)^2 / sum fp^2, batch mean"),
    MetricInfo("latent_cosine", "ratio", "higher", "final-latent cosine similarity, batch mean"),
    MetricInfo("velocity_nmse_per_step", "list of ratio", "lower", "velocity NMSE per sampler step"),
    MetricInfo("velocity_cosine_per_step", "list of ratio", "higher", "velocity cosine per sampler step"),
    MetricInfo("velocity_nmse_mean", "ratio", "lower", "velocity NMSE, mean over steps"),
    MetricInfo("velocity_cosine_mean", "ratio", "higher", "velocity cosine, mean over steps"),
    MetricInfo("psnr_db", "dB", "higher", "PSNR per frame, mean over frames and videos (+inf if any identical)"),
    MetricInfo("psnr_worst_db", "dB", "higher", "PSNR of the worst frame"),
    MetricInfo("psnr_pooled_db", "dB", "higher", "PSNR of the MSE pooled over all frames"),
    MetricInfo("ssim", "ratio", "higher", "SSIM on luma per frame, mean over frames and videos"),
    MetricInfo("ssim_worst", "ratio", "higher", "SSIM of the worst frame"),
    MetricInfo("tdiff_psnr_db", "dB", "higher", "PSNR of frame differences (data range 2), mean over pairs"),
    MetricInfo("tdiff_psnr_worst_db", "dB", "higher", "temporal-difference PSNR of the worst frame pair"),
    MetricInfo("flicker_fp", "[0,1] intensity", "lower", "mean |I_{t+1} - I_t| of the FP video"),
    MetricInfo("flicker_q", "[0,1] intensity", "lower", "mean |I_{t+1} - I_t| of the quantized video"),
    MetricInfo("flicker_delta", "[0,1] intensity", "zero", "flicker_q - flicker_fp"),
) + tuple(MetricInfo(*row) for row in FLOW_METRICS)


def as_video(x, name: str = "video") -> np.ndarray:
    """(B, T, H, W, 3) float64 in [0, 1] from uint8 [0, 255] or float [0, 1] (numpy or torch); (T, H, W, 3) -> B=1."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    a = np.asarray(x)
    if a.ndim == 4:
        a = a[None]
    if a.ndim != 5 or a.shape[-1] != 3:
        raise ValueError(f"{name}: expected (B, T, H, W, 3) RGB frames, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a.astype(np.float64) / 255.0
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{name}: dtype {a.dtype} not supported; use uint8 in [0, 255] or float in [0, 1]")
    a = a.astype(np.float64)
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or inf")
    if a.min() < 0.0 or a.max() > 1.0:
        raise ValueError(f"{name}: float frames must lie in [0, 1], got [{a.min():.4g}, {a.max():.4g}]; "
                         "clip or rescale the decoder output first")
    return a


def psnr_from_mse(mse, data_range: float = 1.0):
    """PSNR in dB; +inf where mse == 0."""
    mse = np.asarray(mse, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range ** 2 / mse)


def frame_mse(fp: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(B, T) mean squared error per frame over H, W and channels."""
    return np.mean((q - fp) ** 2, axis=(2, 3, 4))


def _ssim_kernel() -> np.ndarray:
    g = cv2.getGaussianKernel(SSIM_WINDOW, SSIM_SIGMA, cv2.CV_64F)
    return g / g.sum()


def ssim_frame(x: np.ndarray, y: np.ndarray, data_range: float = 1.0) -> float:
    """SSIM of two (H, W) float64 images (Gaussian 11x11, sigma 1.5, mean over the 'valid' region)."""
    if min(x.shape) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {x.shape}")
    g = _ssim_kernel()

    def blur(img):
        return cv2.sepFilter2D(img, cv2.CV_64F, g, g, borderType=cv2.BORDER_REFLECT)

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    num = (2.0 * mx * my + c1) * (2.0 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    r = SSIM_WINDOW // 2          # drop the border where the window leaves the image ('valid' filtering)
    return float(np.mean((num / den)[r:-r, r:-r]))


def luma(v: np.ndarray) -> np.ndarray:
    """BT.601 luma of (..., 3) RGB in [0, 1]."""
    return v @ LUMA_BT601


def ssim_frames(fp: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(B, T) SSIM per frame on luma."""
    yf, yq = luma(fp), luma(q)
    b, t = yf.shape[:2]
    return np.array([[ssim_frame(yf[i, j], yq[i, j]) for j in range(t)] for i in range(b)])


def _temporal_metrics(fp: np.ndarray, q: np.ndarray) -> dict:
    dfp, dq = np.diff(fp, axis=1), np.diff(q, axis=1)
    tdiff = psnr_from_mse(frame_mse(dfp, dq), TDIFF_DATA_RANGE)
    flick_fp, flick_q = float(np.mean(np.abs(dfp))), float(np.mean(np.abs(dq)))
    return {"tdiff_psnr_db": float(np.mean(tdiff)), "tdiff_psnr_worst_db": float(np.min(tdiff)),
            "flicker_fp": flick_fp, "flicker_q": flick_q, "flicker_delta": flick_q - flick_fp}


def video_metrics(fp_frames, q_frames, flow_method: str = "farneback") -> dict:
    """Pixel, temporal and optical-flow metrics of two videos of the same shape (see the module docstring)."""
    fp, q = as_video(fp_frames, "fp_frames"), as_video(q_frames, "q_frames")
    if fp.shape != q.shape:
        raise ValueError(f"fp_frames {fp.shape} and q_frames {q.shape} must have the same shape")
    mse = frame_mse(fp, q)
    psnr = psnr_from_mse(mse)
    ssim = ssim_frames(fp, q)
    out = {"psnr_db": float(np.mean(psnr)), "psnr_worst_db": float(np.min(psnr)),
           "psnr_pooled_db": float(psnr_from_mse(np.mean(mse))),
           "ssim": float(np.mean(ssim)), "ssim_worst": float(np.min(ssim))}
    if fp.shape[1] >= 2:
        out.update(_temporal_metrics(fp, q))
        out.update(flow_metrics(fp, q, method=flow_method))
    return out


def _per_sample(fp, q, name: str) -> tuple[float, float]:
    """Batch-mean NMSE and cosine of two arrays with the batch on axis 0."""
    if hasattr(fp, "detach"):
        fp = fp.detach().cpu().numpy()
    if hasattr(q, "detach"):
        q = q.detach().cpu().numpy()
    f = np.asarray(fp, dtype=np.float64)
    g = np.asarray(q, dtype=np.float64)
    if f.shape != g.shape:
        raise ValueError(f"{name}: FP shape {f.shape} and quantized shape {g.shape} differ")
    f, g = f.reshape(f.shape[0] if f.ndim else 1, -1), g.reshape(g.shape[0] if g.ndim else 1, -1)
    err, ref = np.sum((g - f) ** 2, axis=1), np.sum(f * f, axis=1)
    nf, nq = np.sqrt(ref), np.sqrt(np.sum(g * g, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        nmse = np.where(ref > 0, err / np.where(ref > 0, ref, 1.0), np.where(err > 0, np.inf, 0.0))
        cos = np.sum(f * g, axis=1) / (nf * nq)
    cos = np.where((nf == 0) & (nq == 0), 1.0, np.where((nf == 0) | (nq == 0), 0.0, cos))
    return float(np.mean(nmse)), float(np.mean(np.clip(cos, -1.0, 1.0)))


def tensor_metrics(fp_latents=None, q_latents=None, fp_velocities=None, q_velocities=None) -> dict:
    """Latent NMSE/cosine and per-step velocity NMSE/cosine; each pair must be given together or not at all."""
    out: dict = {}
    for what, fp, q in (("latents", fp_latents, q_latents), ("velocities", fp_velocities, q_velocities)):
        if (fp is None) != (q is None):
            raise ValueError(f"give both fp_{what} and q_{what}, or neither")
    if fp_latents is not None:
        out["latent_nmse"], out["latent_cosine"] = _per_sample(fp_latents, q_latents, "latents")
    if fp_velocities is not None:
        if len(fp_velocities) != len(q_velocities):
            raise ValueError(f"velocities: FP has {len(fp_velocities)} steps, quantized {len(q_velocities)}")
        if len(fp_velocities) == 0:
            raise ValueError("velocities: empty sequence of steps")
        pairs = [_per_sample(f, g, f"velocities step {i}")
                 for i, (f, g) in enumerate(zip(fp_velocities, q_velocities))]
        out["velocity_nmse_per_step"] = [p[0] for p in pairs]
        out["velocity_cosine_per_step"] = [p[1] for p in pairs]
        out["velocity_nmse_mean"] = float(np.mean(out["velocity_nmse_per_step"]))
        out["velocity_cosine_mean"] = float(np.mean(out["velocity_cosine_per_step"]))
    return out


def compare(fp_frames, q_frames, fp_latents=None, q_latents=None, fp_velocities=None, q_velocities=None,
            flow_method: str = "farneback") -> dict:
    """All weight-free metrics of a quantized run against its FP run; keys are documented in `METRICS`.

    fp_frames, q_frames: (B, T, H, W, 3) uint8 [0, 255] or float [0, 1]. Latents: arrays with the batch on axis 0.
    Velocities: sequences over sampler steps of (B, ...) arrays. flow_method: a name in `metrics_flow.FLOW_METHODS`.
    """
    out = tensor_metrics(fp_latents, q_latents, fp_velocities, q_velocities)
    out.update(video_metrics(fp_frames, q_frames, flow_method=flow_method))
    return out


def learned_metric(name: str):
    """The learned-metric interface `name` (lpips, fvd, clip, vbench, dover); see `vdit.metrics_learned`."""
    from .metrics_learned import learned_metric as _get   # lazy: keeps torch out of the weight-free metrics
    return _get(name)
