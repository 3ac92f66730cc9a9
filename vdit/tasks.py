"""Analytic detectors for the synthetic task: colour, shape and motion direction of a decoded video.

Task accuracy is the in-domain stand-in for text alignment: a video counts as correct for an attribute when the
detector's reading equals the prompt's.  All thresholds are in units of the [0, 1] pixel scale.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import data

FOREGROUND = 0.35        # max channel above this = object pixel (background is black)
MIN_PIXELS = 6           # fewer object pixels in a frame = no object seen in that frame
# fill ratio = object pixels / bounding-box pixels on clean renders: square 1.0, circle 0.67-0.88, triangle
# 0.48-0.62 (tests/test_vdit_data.py checks the detectors read every clean render correctly)
SQUARE_FILL, TRIANGLE_FILL = 0.94, 0.645


@dataclass(frozen=True)
class Reading:
    colour: str | None
    shape: str | None
    direction: str | None


def _masks(video: np.ndarray) -> np.ndarray:
    return video.max(axis=-1) > FOREGROUND


def detect_colour(video: np.ndarray):
    m = _masks(video)
    if m.sum() < MIN_PIXELS:
        return None
    mean = video[m].mean(axis=0)
    mean = mean / max(mean.max(), 1e-6)     # compare hue, not brightness
    names = list(data.COLOURS)
    pal = np.array([np.asarray(data.COLOURS[n]) / max(data.COLOURS[n]) for n in names])
    return names[int(np.argmin(((pal - mean) ** 2).sum(axis=1)))]


def detect_shape(video: np.ndarray):
    fills = []
    for m in _masks(video):
        ys, xs = np.nonzero(m)
        if len(ys) < MIN_PIXELS:
            continue
        box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        fills.append(len(ys) / box)
    if not fills:
        return None
    f = float(np.median(fills))
    return "square" if f >= SQUARE_FILL else ("circle" if f >= TRIANGLE_FILL else "triangle")


def detect_direction(video: np.ndarray):
    pts = []
    for f, m in enumerate(_masks(video)):
        ys, xs = np.nonzero(m)
        if len(ys) >= MIN_PIXELS:
            pts.append((f, ys.mean(), xs.mean()))
    if len(pts) < 3:
        return None
    p = np.array(pts)
    vy, vx = np.polyfit(p[:, 0], p[:, 1], 1)[0], np.polyfit(p[:, 0], p[:, 2], 1)[0]
    if abs(vx) >= abs(vy):
        return "right" if vx > 0 else "left"
    return "down" if vy > 0 else "up"


def read_video(video) -> Reading:
    v = np.asarray(video, dtype=np.float32)
    if v.dtype == np.uint8 or v.max() > 1.5:
        v = v / 255.0
    return Reading(detect_colour(v), detect_shape(v), detect_direction(v))


def task_accuracy(frames, prompts) -> dict:
    """Fraction of videos whose colour / shape / direction reading matches the prompt, and all three at once."""
    frames = np.asarray(frames)
    hits = {"colour": [], "shape": [], "direction": [], "all": []}
    for video, prompt in zip(frames, prompts):
        spec, r = data.parse_prompt(prompt), read_video(video)
        ok = (r.colour == spec.colour, r.shape == spec.shape, r.direction == spec.direction)
        for key, val in zip(("colour", "shape", "direction"), ok):
            hits[key].append(val)
        hits["all"].append(all(ok))
    return {k: float(np.mean(v)) for k, v in hits.items()}
