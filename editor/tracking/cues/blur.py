"""Motion blur on the frame: how much sharper the object's region is across its motion than
along it. A fast object is smeared along its path; its texture then no longer says whether
the mask is right, so the confidence of such a frame is capped (it is listed for review)."""
from __future__ import annotations

import cv2
import numpy as np

from editor.tracking.cues.model import FrameData
from editor.tracking.cues.shapes import ramp
from editor.tracking.cues.tuning import BLUR_MIN_PX, BLUR_MIN_SPEED, BLUR_RAMP


def gradients(data: FrameData) -> tuple[np.ndarray, np.ndarray]:
    """Sobel x and y gradients (float32 H×W, working resolution) of the frame's grey image,
    computed once per frame."""
    cached = getattr(data, "_gradients", None)
    if cached is None:
        grey = cv2.cvtColor(data.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        cached = (cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
        data._gradients = cached  # type: ignore[attr-defined]
    return cached


def anisotropy(data: FrameData, m: np.ndarray) -> float | None:
    """RMS gradient along the direction where it is weakest ÷ along the one where it is
    strongest inside mask ``m`` (the structure tensor's √(λ2/λ1), working resolution): about
    1 for a sharp textured object, towards 0 for one smeared along its path. ``None`` for a
    mask too small or flat."""
    if int(m.sum()) < BLUR_MIN_PX:
        return None
    gx, gy = gradients(data)
    x, y = gx[m], gy[m]
    a, b, c = float(np.mean(x * x)), float(np.mean(x * y)), float(np.mean(y * y))
    half, root = (a + c) / 2, float(np.sqrt(max(((a - c) / 2) ** 2 + b * b, 0.0)))
    if half + root <= 1e-6:
        return None
    return float(np.sqrt(max(half - root, 0.0) / (half + root)))


def blur_confidence(data: FrameData, m: np.ndarray, speed: float) -> float:
    """The most a mask ``m`` can be trusted given motion blur: 1 for an object moving less
    than BLUR_MIN_SPEED × its size per frame (``speed``, in those units); else BLUR_RAMP on
    :func:`anisotropy` (a fast object smeared along its path: its texture no longer tells
    whether the mask is right)."""
    if speed < BLUR_MIN_SPEED:
        return 1.0
    r = anisotropy(data, m)
    return 1.0 if r is None else ramp(r, *BLUR_RAMP)
