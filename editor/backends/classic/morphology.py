"""Small mask helpers shared by the classical backends."""
from __future__ import annotations

import cv2
import numpy as np


def disk(radius: int) -> np.ndarray:
    r = max(1, int(radius))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill background regions not connected to the image border."""
    m = mask.astype(np.uint8)
    h, w = m.shape
    flood = np.zeros((h + 2, w + 2), np.uint8)
    flood[1:-1, 1:-1] = m
    cv2.floodFill(flood, None, (0, 0), 2)
    return (flood[1:-1, 1:-1] != 2)


def components_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """Connected components of ``mask`` that overlap ``seeds`` (bool arrays)."""
    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask.astype(bool)
    keep = np.unique(lab[seeds & mask])
    keep = keep[keep > 0]
    if keep.size == 0:
        return np.zeros_like(mask, bool)
    return np.isin(lab, keep)


def largest_component(mask: np.ndarray) -> np.ndarray:
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask.astype(bool)
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    return lab == best


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) exclusive of a bool mask, or None when empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a bool mask to ``size`` = (width, height) with smooth edges (linear + 0.5 threshold)."""
    if mask.shape[::-1] == tuple(size):
        return mask.astype(bool)
    up = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    return up >= 0.5


def working_scale(width: int, height: int, max_side: int) -> float:
    """Scale factor (≤ 1) bringing the longer side to at most ``max_side``."""
    return min(1.0, max_side / float(max(width, height)))
