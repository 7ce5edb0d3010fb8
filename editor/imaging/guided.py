"""Guided filter (He et al.) for soft mask edges that follow the image: box filters only."""
from __future__ import annotations

import cv2
import numpy as np

from editor.imaging.depth import peak


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float = 1e-3,
                  subsample: int | None = None) -> np.ndarray:
    """Edge-aware smoothing of ``src`` (float32 H×W in [0, 1]) guided by ``guide`` (RGB uint8
    or uint16): the guided filter of He, Sun and Tang (ECCV 2010) on the grey guide, output
    float32 H×W clipped to [0, 1]. ``radius`` in pixels of the frame.

    The linear coefficients are computed on both images shrunk ``subsample`` times and scaled
    back up — the *fast guided filter* (He and Sun 2015, arXiv:1505.00996), whose output
    differs from the full filter by far less than its own smoothing: ``None`` picks
    ``radius // 4`` (2 for the background stage's 8 px: a quarter of the work). 1: the full
    filter.

    Where ``src`` is 0 farther than the filter reaches (two windows of ``radius`` plus the
    resampling), the output is exactly 0 (no variance of ``src`` in any window there): the
    filter runs only on the bounding box of ``src``'s non-zero pixels grown by that reach,
    aligned to the subsampling grid, so a person covering a fifth of the frame costs about a
    fifth of the frame.
    """
    if radius <= 0:
        return src.astype(np.float32)
    step = max(1, radius // 4 if subsample is None else int(subsample))
    height, width = src.shape[:2]
    nonzero = np.ascontiguousarray(src > 0).view(np.uint8)
    x, y, w, h = cv2.boundingRect(nonzero)
    if w == 0 or h == 0:
        return np.zeros((height, width), np.float32)
    reach = step * (2 * max(1, round(radius / step)) + 3)
    x0, y0 = max(0, (x - reach) // step * step), max(0, (y - reach) // step * step)
    x1, y1 = min(width, -(-(x + w + reach) // step) * step), min(height, -(-(y + h + reach) // step) * step)
    if (x0, y0, x1, y1) == (0, 0, width, height):
        return _guided(guide, src, radius, eps, step)
    out = np.zeros((height, width), np.float32)
    out[y0:y1, x0:x1] = _guided(guide[y0:y1, x0:x1], src[y0:y1, x0:x1], radius, eps, step)
    return out


def _guided(guide: np.ndarray, src: np.ndarray, radius: int, eps: float, step: int) -> np.ndarray:
    """The (fast, ``step`` > 1) guided filter of :func:`guided_filter` on the whole of ``src``."""
    i_full = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY).astype(np.float32) / float(peak(guide.dtype))
    p = src.astype(np.float32)
    height, width = p.shape[:2]
    if step > 1 and min(height, width) >= 4 * step:
        small = (max(1, round(width / step)), max(1, round(height / step)))
        i = cv2.resize(i_full, small, interpolation=cv2.INTER_AREA)
        p = cv2.resize(p, small, interpolation=cv2.INTER_AREA)
        r = max(1, round(radius / step))
    else:
        i, r, step = i_full, radius, 1
    k = (2 * r + 1, 2 * r + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(i), box(p)
    cov_ip = box(i * p) - mean_i * mean_p
    var_i = box(i * i) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    mean_a, mean_b = box(a), box(b)
    if step > 1:
        mean_a = cv2.resize(mean_a, (width, height), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(mean_a * i_full + mean_b, 0.0, 1.0)
