"""Mask → alpha helpers shared by edit stages."""
from __future__ import annotations

import cv2
import numpy as np

from editor.api.masks import box_of_each  # noqa: F401 - re-exported for stages
from editor.backends.classic.morphology import disk
from editor.imaging.depth import from_float, match_depth


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Dilate a bool mask by ``pixels`` (disk)."""
    if pixels <= 0:
        return mask
    return cv2.dilate(mask.astype(np.uint8), disk(pixels)) > 0


def feathered_alpha(core: np.ndarray, feather: int) -> np.ndarray:
    """float32 alpha: 1 on ``core``, falling off smoothly outside it over ~``feather`` px."""
    alpha = core.astype(np.float32)
    if feather > 0:
        soft = cv2.GaussianBlur(alpha, (0, 0), sigmaX=feather / 2.0)
        alpha = np.maximum(alpha, soft * 2.0 - 0.0)
        np.clip(alpha, 0.0, 1.0, out=alpha)
    return alpha


def blend(base: np.ndarray, top: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``alpha*top + (1-alpha)*base`` in ``base``'s dtype (uint8 or uint16; ``top`` is
    scaled to it when it has the other depth; ``alpha`` float H×W in [0, 1]), rounded to
    nearest: pixels with alpha 0 stay bit-identical to ``base``, alpha 1 to ``top``.

    8-bit: OpenCV's ``blendLinear`` over the frame in one pass (its ``(w1·a + w2·b) / (w1 + w2
    + 1e-5)`` is within one level of the formula, exact at alpha 0 and 1; five times faster at
    720p than the arithmetic below), only on the bounding box of ``alpha > 0`` (outside it the
    output is ``base``). 16-bit: the arithmetic on the soft pixels only (there the 1e-5 would
    move bright pixels by a level)."""
    top = np.ascontiguousarray(match_depth(top, base))
    if base.dtype == np.uint8 and top.shape == base.shape and alpha.shape == base.shape[:2]:
        out = np.array(base, copy=True, order="C")
        x, y, w, h = cv2.boundingRect(np.ascontiguousarray(alpha > 0).view(np.uint8))
        if w and h:
            weight = np.ascontiguousarray(alpha[y:y + h, x:x + w], dtype=np.float32)
            out[y:y + h, x:x + w] = cv2.blendLinear(np.ascontiguousarray(top[y:y + h, x:x + w]),
                                                    np.ascontiguousarray(out[y:y + h, x:x + w]), weight,
                                                    1.0 - weight)
        return out
    out = np.array(base, copy=True, order="C")
    full = np.ascontiguousarray(alpha >= 1.0)
    out = cv2.copyTo(top, full.view(np.uint8), out)  # alpha 1: the top, as it is
    ys, xs = np.nonzero((alpha > 0) & ~full)  # only the soft edge needs arithmetic
    if len(ys):
        a = alpha[ys, xs][:, None]
        out[ys, xs] = from_float(base[ys, xs] * (1.0 - a) + top[ys, xs].astype(np.float32) * a, base.dtype)
    return out
