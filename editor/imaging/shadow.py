"""An object's cast shadow: the darker region attached to its mask (the ``remove`` stage's
``shadow`` option).

A cast shadow dims the light on the ground and keeps the ground's colour, so a pixel is a
shadow candidate where its brightness (HSV value) is a fraction ``DARKER`` of the
background's at that place while its hue and saturation stay close, the test of Cucchiara,
Grana, Piccardi & Prati, "Detecting Moving Objects, Ghosts, and Shadows in Video Streams",
IEEE TPAMI 25(10), 2003. Their background model is replaced here by the frame around the
object: a Gaussian average of the pixels outside the mask (σ = the search reach). Only
candidates beside or below the object's centre, within ``reach`` px of the mask and
connected to it, are kept, so the shadow moves with the object.
"""
from __future__ import annotations

import cv2
import numpy as np

from editor.imaging.compositing import grow
from editor.imaging.depth import rgb8

#: Brightness ratio (shadow ÷ lit ground) taken as shadow: Cucchiara et al.'s α, β band.
DARKER = (0.25, 0.8)
#: Largest hue (OpenCV's 0–180 scale) and saturation (0–255) change of a shadowed pixel.
HUE_CHANGE, SATURATION_CHANGE = 20.0, 60.0


def attached_shadow(image: np.ndarray, mask: np.ndarray, reach: int) -> np.ndarray:
    """H×W bool: the shadow attached to ``mask`` (H×W bool) in ``image`` (H×W×3 RGB,
    uint8 or uint16), within ``reach`` px of it; excludes the mask itself."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return np.zeros_like(mask)
    H, W = mask.shape
    pad = 2 * reach
    x0, y0 = max(0, xs.min() - pad), max(0, ys.min() - pad)
    x1, y1 = min(W, xs.max() + pad + 1), min(H, ys.max() + pad + 1)
    roi_mask = mask[y0:y1, x0:x1]
    hsv = cv2.cvtColor(rgb8(image[y0:y1, x0:x1]), cv2.COLOR_RGB2HSV).astype(np.float32)
    outside = (~roi_mask).astype(np.float32)
    weight = cv2.GaussianBlur(outside, (0, 0), reach)
    # hue is circular: average it as a unit vector
    angle = hsv[..., 0] * (np.pi / 90.0)
    mean = [cv2.GaussianBlur(c * outside, (0, 0), reach) / np.maximum(weight, 1e-6)
            for c in (np.cos(angle), np.sin(angle), hsv[..., 1], hsv[..., 2])]
    ref_hue = np.arctan2(mean[1], mean[0]) * (90.0 / np.pi) % 180.0
    hue_change = np.abs(hsv[..., 0] - ref_hue)
    hue_change = np.minimum(hue_change, 180.0 - hue_change)
    ratio = hsv[..., 2] / np.maximum(mean[3], 1.0)
    candidate = ((ratio >= DARKER[0]) & (ratio <= DARKER[1])
                 & ((hue_change <= HUE_CHANGE) | (mean[2] < 40))  # grey ground: hue means nothing
                 & (np.abs(hsv[..., 1] - mean[2]) <= SATURATION_CHANGE))
    band = grow(roi_mask, reach) & ~roi_mask
    band[: max(0, int(ys.mean()) - y0)] = False  # beside or below the object's centre
    candidate &= band
    candidate = cv2.morphologyEx(candidate.view(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    count, labels = cv2.connectedComponents((candidate | roi_mask).view(np.uint8), connectivity=8)
    attached = np.zeros(count, bool)
    attached[np.unique(labels[roi_mask])] = True
    attached[0] = False
    out = np.zeros_like(mask)
    out[y0:y1, x0:x1] = attached[labels] & candidate
    return out
