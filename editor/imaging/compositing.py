"""Mask → alpha helpers shared by edit stages."""
from __future__ import annotations

import cv2
import numpy as np

from editor.backends.classic.morphology import bbox, disk


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Dilate a bool mask by ``pixels`` (disk)."""
    if pixels <= 0:
        return mask
    return cv2.dilate(mask.astype(np.uint8), disk(pixels)) > 0


def box_of_each(labels: np.ndarray, ids: set[int]) -> np.ndarray:
    """Bool mask of the bounding box of each selected object."""
    out = np.zeros(labels.shape, bool)
    for oid in ids:
        b = bbox(labels == oid)
        if b is not None:
            out[b[1]:b[3], b[0]:b[2]] = True
    return out


def feathered_alpha(core: np.ndarray, feather: int) -> np.ndarray:
    """float32 alpha: 1 on ``core``, falling off smoothly outside it over ~``feather`` px."""
    alpha = core.astype(np.float32)
    if feather > 0:
        soft = cv2.GaussianBlur(alpha, (0, 0), sigmaX=feather / 2.0)
        alpha = np.maximum(alpha, soft * 2.0 - 0.0)
        np.clip(alpha, 0.0, 1.0, out=alpha)
    return alpha


def blend(base: np.ndarray, top: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha*top + (1-alpha)*base`` in uint8; pixels with alpha 0 stay bit-identical."""
    a = alpha[..., None]
    out = base.astype(np.float32) * (1.0 - a) + top.astype(np.float32) * a
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    untouched = alpha <= 0
    out[untouched] = base[untouched]
    return out
