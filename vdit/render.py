"""Pictures of sampled videos: a PNG grid (one row per prompt, one column per frame) and an animated GIF."""
from __future__ import annotations

import numpy as np

LABEL_PX = 14      # height of the caption strip above each row, in output pixels


def _to_uint8(frames) -> np.ndarray:
    f = np.asarray(frames)
    return f if f.dtype == np.uint8 else (np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8)


def grid_image(frames, captions=(), zoom: int = 4, gap: int = 2) -> np.ndarray:
    """(B, T, H, W, 3) -> one RGB uint8 image; each row is a caption strip then the T frames side by side."""
    import cv2
    f = _to_uint8(frames)
    b, t, h, w, _ = f.shape
    hz, wz = h * zoom, w * zoom
    row_h = LABEL_PX + hz + gap
    img = np.full((b * row_h, t * (wz + gap), 3), 40, np.uint8)
    for i in range(b):
        y = i * row_h
        if i < len(captions):
            cv2.putText(img, captions[i], (2, y + LABEL_PX - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (230, 230, 230), 1,
                        cv2.LINE_AA)
        for j in range(t):
            x = j * (wz + gap)
            img[y + LABEL_PX:y + LABEL_PX + hz, x:x + wz] = np.kron(f[i, j], np.ones((zoom, zoom, 1), np.uint8))
    return img


def save_png(frames, path, captions=(), zoom: int = 4) -> None:
    from PIL import Image
    Image.fromarray(grid_image(frames, captions, zoom)).save(path)


def save_gif(frames, path, zoom: int = 4, fps: int = 4) -> None:
    """One GIF frame per video frame; the videos are tiled in a row."""
    from PIL import Image
    f = _to_uint8(frames)
    b, t = f.shape[:2]
    tiles = [np.concatenate([np.kron(f[i, j], np.ones((zoom, zoom, 1), np.uint8)) for i in range(b)], axis=1)
             for j in range(t)]
    ims = [Image.fromarray(x) for x in tiles]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=int(1000 / fps), loop=0)
