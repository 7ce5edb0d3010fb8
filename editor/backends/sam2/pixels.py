"""Frames and masks to and from a SAM 2-family model's square input.

SAM 2 takes the whole frame resized (aspect ratio not kept; antialiased when shrinking, as
transformers' processor does) to ``image_size`` × ``image_size`` (1024 for the published
models), scaled to [0, 1] and normalised with ImageNet statistics;
its masks come back as logits at a quarter of that size, which go up to ``image_size`` and
then to the frame's size (bilinear both times, as transformers' post-processing does) and
are thresholded at 0.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_pixels(image: np.ndarray, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB uint8 H×W×3 → float32 3×``size``×``size`` on ``device``, normalised (ImageNet)."""
    if image.shape[:2] != (size, size):  # area averaging when shrinking (antialiased), bilinear when enlarging
        shrink = image.shape[0] * image.shape[1] > size * size
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    t = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=t.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=t.device).view(3, 1, 1)
    return (t - mean) / std


def mask_input(mask: np.ndarray, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """bool H×W → float32 1×1×``size``×``size`` in {0, 1} (area resize, then ≥ 0.5)."""
    m = np.asarray(mask, np.float32)
    if m.shape != (size, size):
        m = cv2.resize(m, (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy((m >= 0.5).astype(np.float32)).to(device)[None, None]


def upsample_logits(logits: torch.Tensor, image_size: int, height: int, width: int) -> torch.Tensor:
    """Low-resolution mask logits N×1×h×w → float32 N×1×``height``×``width`` logits."""
    x = logits.float()
    if x.shape[-2:] != (image_size, image_size):
        x = F.interpolate(x, (image_size, image_size), mode="bilinear", align_corners=False)
    if x.shape[-2:] != (height, width):
        x = F.interpolate(x, (height, width), mode="bilinear", align_corners=False)
    return x


def to_masks(logits: torch.Tensor, image_size: int, height: int, width: int) -> np.ndarray:
    """Low-resolution mask logits N×1×h×w → bool N×``height``×``width`` (logit > 0)."""
    return (upsample_logits(logits, image_size, height, width)[:, 0] > 0).cpu().numpy()
