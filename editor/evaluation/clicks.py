"""Simulated user clicks from a ground-truth mask (the interactive protocol).

* First click: the interior point farthest from the object's boundary (include).
* Next clicks: at the interior point farthest from the boundary of the largest error
  region between the current prediction and the ground truth — include for a missed
  region (false negative), exclude for a spurious one (false positive).
"""
from __future__ import annotations

import cv2
import numpy as np


def _deepest_point(region: np.ndarray) -> tuple[int, int]:
    padded = np.pad(region.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(x), int(y)


def first_click(gt: np.ndarray) -> tuple[int, int]:
    """(x, y) of the interior point farthest from the boundary of ``gt``."""
    if not gt.any():
        raise ValueError("empty ground-truth mask: nothing to click")
    return _deepest_point(gt.astype(bool))


def next_click(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int] | None:
    """(x, y, label) correcting the largest error region, or None when there is no error."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    fn, fp = gt & ~pred, pred & ~gt
    best: tuple[int, np.ndarray, int] | None = None
    for err, label in ((fn, 1), (fp, 0)):
        n, lab, stats, _ = cv2.connectedComponentsWithStats(err.astype(np.uint8), connectivity=8)
        if n <= 1:
            continue
        k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
        area = int(stats[k, cv2.CC_STAT_AREA])
        if best is None or area > best[0]:
            best = (area, lab == k, label)
    if best is None:
        return None
    x, y = _deepest_point(best[1])
    return x, y, best[2]
