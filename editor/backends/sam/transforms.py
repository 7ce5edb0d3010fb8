"""SAM's input geometry, done once and exactly.

SAM sees a frame resized so its longest side is ``image_size`` (1024), padded right and
bottom to a square; the mask decoder's low-resolution logits live in that padded square
at 1/4 scale (256²). Prompts given in source pixels are mapped into the resized frame, and
a mask given as a prompt is mapped into the 256² padded grid, never squeezed to 256×256
(which would distort any non-square frame).

The resize matches the stock ``ResizeLongestSide`` (PIL bilinear to
``int(side·s + 0.5)``) without importing torchvision at call time.
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

#: Magnitude of the logits a mask prompt is converted to (SAM's own confident logits are of
#: this order); fully inside → +LOGIT_CLIP, fully outside → −LOGIT_CLIP.
LOGIT_CLIP = 20.0


def resized_size(height: int, width: int, target: int) -> tuple[int, int]:
    """(h', w') of a frame resized so its longest side is ``target``."""
    scale = target / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def resize_image(image: np.ndarray, target: int) -> np.ndarray:
    """RGB uint8 H×W×3 → h'×w'×3 with the longest side ``target`` (PIL bilinear)."""
    h, w = resized_size(image.shape[0], image.shape[1], target)
    return np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))


def scale_points(points: np.ndarray, original: tuple[int, int], target: int) -> np.ndarray:
    """(x, y) source pixels (N×2) → coordinates in the resized frame (float32)."""
    h, w = original
    nh, nw = resized_size(h, w, target)
    out = np.asarray(points, np.float32).reshape(-1, 2).copy()
    out[:, 0] *= nw / w
    out[:, 1] *= nh / h
    return out


def scale_box(box: tuple[float, float, float, float] | np.ndarray, original: tuple[int, int],
              target: int) -> np.ndarray:
    """XYXY source box → XYXY in the resized frame (float32, shape 4)."""
    return scale_points(np.asarray(box, np.float32).reshape(2, 2), original, target).reshape(4)


def mask_to_prompt_logits(mask: np.ndarray, target: int) -> np.ndarray:
    """A bool H×W source mask → SAM's mask prompt: float32 (target/4)² logits.

    The mask is resized with the frame (longest side ``target``), padded like the frame to
    ``target``², and averaged down to the decoder's grid (area interpolation); each cell's
    covered fraction p becomes the clipped logit log(p / (1 − p)).
    """
    h, w = mask.shape
    nh, nw = resized_size(h, w, target)
    frac = cv2.resize(mask.astype(np.float32), (nw, nh), interpolation=cv2.INTER_AREA)
    padded = np.zeros((target, target), np.float32)
    padded[:nh, :nw] = frac
    low = target // 4
    p = cv2.resize(padded, (low, low), interpolation=cv2.INTER_AREA)
    eps = 1.0 / (1.0 + np.exp(LOGIT_CLIP))
    p = np.clip(p, eps, 1.0 - eps)
    return np.log(p / (1.0 - p)).astype(np.float32)


def prompt_logits_to_mask(logits: np.ndarray, original: tuple[int, int], target: int) -> np.ndarray:
    """Inverse of :func:`mask_to_prompt_logits` (bilinear), for checks and previews."""
    h, w = original
    nh, nw = resized_size(h, w, target)
    up = cv2.resize(logits.astype(np.float32), (target, target), interpolation=cv2.INTER_LINEAR)[:nh, :nw]
    return cv2.resize(up, (w, h), interpolation=cv2.INTER_LINEAR) > 0
