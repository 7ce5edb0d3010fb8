"""Guided filter (He et al.) for soft mask edges that follow the image: box filters only."""
from __future__ import annotations

import cv2
import numpy as np

from editor.imaging.depth import peak


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float = 1e-3) -> np.ndarray:
    """Edge-aware smoothing of ``src`` (float32 H×W in [0, 1]) guided by ``guide`` (RGB uint8
    or uint16).

    Uses the grey guide (fast, one channel); output clipped to [0, 1].
    """
    if radius <= 0:
        return src.astype(np.float32)
    i = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY).astype(np.float32) / float(peak(guide.dtype))
    p = src.astype(np.float32)
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(i), box(p)
    cov_ip = box(i * p) - mean_i * mean_p
    var_i = box(i * i) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    q = box(a) * i + box(b)
    return np.clip(q, 0.0, 1.0)
