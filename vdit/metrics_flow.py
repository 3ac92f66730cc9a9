"""Optical-flow metrics (OpenCV, no learned weights): warping error, flow-magnitude change, flow end-point error.

Flow is computed on BT.601 luma quantized to uint8 (both OpenCV methods need 8-bit input), per consecutive pair,
in both directions. Flow vectors are in pixels per frame, (dx, dy) with x along width.

Warping error (Lai et al. 2018, each video against itself): frame t+1 is warped back to t with the forward flow,
I'_t(x) = I_{t+1}(x + F(x)) (bilinear), and the squared error to I_t is averaged over RGB channels ([0, 1] scale)
and over valid pixels. Valid = the target x + F(x) lies inside the frame and the forward-backward check of
Sundaram et al. (2010) passes: |F + B'|^2 <= 0.01 (|F|^2 + |B'|^2) + 0.5 with B'(x) = B(x + F(x)). Per-pair errors
are averaged over pairs that have valid pixels. Each video gets its own flow, so the metric asks "is the quantized
video as temporally consistent as the FP one", reported as both values and their difference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

FB_ALPHA, FB_BETA = 0.01, 0.5     # forward-backward consistency constants of Sundaram et al. 2010 (beta in px^2)
LUMA_BT601 = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class FlowMethod:
    """A dense optical-flow method: fn(prev_u8, next_u8) -> (H, W, 2) float32 displacement in pixels."""
    name: str
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
    description: str


def _farneback(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # OpenCV's commonly used settings; winsize 15 is large enough for few-pixel motions on 32x32 frames too
    return cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=3, winsize=15, iterations=3,
                                        poly_n=5, poly_sigma=1.2, flags=0)


def _dis(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(a, b, None)


FLOW_METHODS: dict[str, FlowMethod] = {m.name: m for m in (
    FlowMethod("farneback", _farneback, "Farneback polynomial expansion, 3 levels, window 15"),
    FlowMethod("dis", _dis, "Dense Inverse Search, OpenCV MEDIUM preset"),
)}


def get_flow_method(name: str) -> FlowMethod:
    if name not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {name!r}; choose one of {sorted(FLOW_METHODS)}")
    return FLOW_METHODS[name]


def gray_u8(video: np.ndarray) -> np.ndarray:
    """(..., 3) RGB in [0, 1] -> (...) uint8 luma."""
    return np.clip(np.rint(video @ LUMA_BT601 * 255.0), 0, 255).astype(np.uint8)


def warp(img: np.ndarray, flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample img at x + flow(x) (bilinear); returns (warped, inside) where inside marks targets in the frame."""
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + flow[..., 0], gy + flow[..., 1]
    warped = cv2.remap(img, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
    return warped, inside


def consistent(fwd: np.ndarray, bwd: np.ndarray) -> np.ndarray:
    """Forward-backward consistency mask (H, W) bool; also False where x + F(x) leaves the frame."""
    bwd_at, inside = warp(bwd, fwd)
    lhs = np.sum((fwd + bwd_at) ** 2, axis=-1)
    rhs = FB_ALPHA * (np.sum(fwd ** 2, axis=-1) + np.sum(bwd_at ** 2, axis=-1)) + FB_BETA
    return inside & (lhs <= rhs)


def video_flows(video: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward flows (B, T-1, H, W, 2) float32 of a (B, T, H, W, 3) [0, 1] video."""
    fn = get_flow_method(method).fn
    g = gray_u8(video)
    b, t, h, w = g.shape
    fwd = np.empty((b, t - 1, h, w, 2), np.float32)
    bwd = np.empty_like(fwd)
    for i in range(b):
        for j in range(t - 1):
            fwd[i, j] = fn(g[i, j], g[i, j + 1])
            bwd[i, j] = fn(g[i, j + 1], g[i, j])
    return fwd, bwd


def warping_error(video: np.ndarray, fwd: np.ndarray, bwd: np.ndarray) -> tuple[float, float]:
    """(mean warping error over frame pairs, mean fraction of valid pixels); error is NaN if no pixel is valid."""
    errs, fractions = [], []
    for i in range(video.shape[0]):
        for j in range(video.shape[1] - 1):
            nxt = np.ascontiguousarray(video[i, j + 1], dtype=np.float32)
            warped, _ = warp(nxt, fwd[i, j])
            valid = consistent(fwd[i, j], bwd[i, j])
            fractions.append(float(valid.mean()))
            if valid.any():
                sq = np.mean((warped.astype(np.float64) - video[i, j]) ** 2, axis=-1)
                errs.append(float(sq[valid].mean()))
    return (float(np.mean(errs)) if errs else float("nan")), float(np.mean(fractions))


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else float("inf")


def flow_metrics(fp: np.ndarray, q: np.ndarray, method: str = "farneback") -> dict:
    """Flow metrics of two (B, T, H, W, 3) [0, 1] float videos with T >= 2 (keys in `FLOW_METRICS`)."""
    ffp, bfp = video_flows(fp, method)
    fq, bq = video_flows(q, method)
    we_fp, valid_fp = warping_error(fp, ffp, bfp)
    we_q, valid_q = warping_error(q, fq, bq)
    mag_fp = np.linalg.norm(ffp.astype(np.float64), axis=-1)
    mag_q = np.linalg.norm(fq.astype(np.float64), axis=-1)
    change = float(np.mean(np.abs(mag_q - mag_fp)))
    return {"warp_error_fp": we_fp, "warp_error_q": we_q, "warp_error_delta": we_q - we_fp,
            "warp_valid_fraction_fp": valid_fp, "warp_valid_fraction_q": valid_q,
            "flow_mag_fp_px": float(mag_fp.mean()), "flow_mag_q_px": float(mag_q.mean()),
            "flow_mag_change_px": change, "flow_mag_change_rel": _ratio(change, float(mag_fp.mean())),
            "flow_epe_px": float(np.mean(np.linalg.norm((fq - ffp).astype(np.float64), axis=-1))),
            "flow_method": method}


# (key, unit, better, description) rows; vdit.metrics wraps them into MetricInfo
FLOW_METRICS: tuple[tuple[str, str, str, str], ...] = (
    ("warp_error_fp", "[0,1]^2", "lower", "warping error of the FP video (mean squared, valid pixels)"),
    ("warp_error_q", "[0,1]^2", "lower", "warping error of the quantized video"),
    ("warp_error_delta", "[0,1]^2", "zero", "warp_error_q - warp_error_fp"),
    ("warp_valid_fraction_fp", "ratio", "higher", "fraction of pixels passing the occlusion check, FP"),
    ("warp_valid_fraction_q", "ratio", "higher", "fraction of pixels passing the occlusion check, quantized"),
    ("flow_mag_fp_px", "px/frame", "-", "mean forward-flow magnitude of the FP video (flow score)"),
    ("flow_mag_q_px", "px/frame", "-", "mean forward-flow magnitude of the quantized video"),
    ("flow_mag_change_px", "px/frame", "lower", "mean | |F_q| - |F_fp| | per pixel"),
    ("flow_mag_change_rel", "ratio", "lower", "flow_mag_change_px / flow_mag_fp_px"),
    ("flow_epe_px", "px/frame", "lower", "mean end-point error |F_q - F_fp| between the two flows"),
    ("flow_method", "name", "-", "the optical-flow method used"),
)
