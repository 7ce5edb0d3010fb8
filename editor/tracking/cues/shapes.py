"""Mask geometry at the evidence's working resolution: bool H×W masks, boxes in pixels
(boxes, disks and connected parts: :mod:`editor.backends.classic.morphology`)."""
from __future__ import annotations

import cv2
import numpy as np


def ramp(x: float, lo: float, hi: float) -> float:
    """0 at ``lo``, 1 at ``hi``, linear between (either order)."""
    if hi == lo:
        return 1.0 if x >= hi else 0.0
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def place(mask: np.ndarray, cx: float, cy: float, w: float, h: float,
          shape: tuple[int, int]) -> tuple[np.ndarray, float, tuple[int, int, int, int]]:
    """``mask`` resized to ``w``×``h`` with its centre at (cx, cy) in a frame of ``shape``:
    the visible part, the visible share and the placement box (x, y, w, h; may be outside)."""
    H, W = shape
    pw, ph = max(2, int(round(w))), max(2, int(round(h)))
    m = cv2.resize(mask.astype(np.uint8), (pw, ph), interpolation=cv2.INTER_NEAREST)
    x, y = int(round(cx - pw / 2)), int(round(cy - ph / 2))
    out = np.zeros(shape, bool)
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + pw), min(H, y + ph)
    total = int(m.sum())
    if x1 <= x0 or y1 <= y0 or total == 0:
        return out, 0.0, (x, y, pw, ph)
    part = m[y0 - y:y1 - y, x0 - x:x1 - x] > 0
    out[y0:y1, x0:x1] = part
    return out, float(part.sum()) / total, (x, y, pw, ph)


def shift(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """``mask`` moved by (dx, dy) px (nearest), what leaves the frame dropped."""
    if abs(dx) < 0.5 and abs(dy) < 0.5:
        return mask
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = mask.shape
    return cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0


def touches_border(m: np.ndarray) -> bool:
    """Whether a mask reaches the frame's edge."""
    return bool(m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())
