"""Corrections never erase: the rule every prompt's mask passes, whichever segmenter made
it and wherever the clicks came from (prompts files, the Python API, the web UI — all
reach :meth:`editor.tracking.engine.TrackingSession.mask_from_prompts`).

* An exclude click removes the region around the click, never the whole object: when the
  segmenter's mask keeps less than half (``1 − ERASE_SHARE``) of what the other prompts on
  that frame give (the same prompts without their exclude points, segmented again), the
  mask is that instead, less the region around each exclude click: connected to it, of
  about its colour (``COLOUR_REACH``), within ``LOCAL_REACH`` × √area.
* An include click adds the region at the click: a click the mask misses gets at least a
  disk of ``INCLUDE_SPOT`` × √area (≥ 3 px) around it.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from editor.api.prompts import Prompt
from editor.backends.classic.morphology import components_touching

ERASE_SHARE = 0.5
"""An edit removing more than this share of the object is re-asked (issue #25's rule; not tuned)."""
LOCAL_REACH = 0.25
"""Reach of an exclude click's removal when re-asked, × √(object area) (not tuned: a rule
of thumb, a quarter of the object's size; checked on the bunny, frame 90)."""
COLOUR_REACH = 48.0
"""RGB distance (0–441) from the click's colour within which a re-asked exclude click's
region extends (not tuned: a rule of thumb; checked by eye on the bunny, frame 90)."""
INCLUDE_SPOT = 0.05
"""Radius of the spot an include click the mask misses adds, × √(object area)."""


def without_exclusions(prompts: Sequence[Prompt]) -> list[Prompt]:
    """The prompts less their exclude points; prompts left with nothing to segment are dropped."""
    out = []
    for p in prompts:
        if not p.negative_points:
            out.append(p)
            continue
        pos = p.positive_points
        q = Prompt(p.frame, tuple(pos), (1,) * len(pos), p.box, p.mask, p.shape, p.interpolated, p.mask_png)
        if q.segments or q.has_mask or q.shape is not None:
            out.append(q)
    return out


def _pixel(point: tuple[float, float], shape: tuple[int, int]) -> tuple[int, int]:
    h, w = shape
    return min(w - 1, max(0, int(point[0]))), min(h - 1, max(0, int(point[1])))


def _disk_at(shape: tuple[int, int], x: int, y: int, r: float) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    cv2.circle(out, (x, y), max(1, int(round(r))), 1, -1)
    return out > 0


def erases(mask: np.ndarray, reference: np.ndarray) -> bool:
    """Whether ``mask`` keeps less than 1 − ERASE_SHARE of ``reference`` (bool H×W both)."""
    area = int(reference.sum())
    return area > 0 and int((mask & reference).sum()) < (1.0 - ERASE_SHARE) * area


def local_exclusion(image: np.ndarray, mask: np.ndarray, reference: np.ndarray,
                    negatives: Sequence[tuple[float, float]]) -> np.ndarray:
    """``reference`` (the object from the other prompts) less, at each exclude click on it,
    the region around the click: the pixels within LOCAL_REACH × √area of it, connected to
    it, whose colour (``image``, RGB uint8 H×W×3) lies within COLOUR_REACH of the click's
    (median of 5×5 px) and that ``mask`` (the segmenter's edit) removed — or, where it
    removed nothing there, the same colour region alone. bool H×W."""
    area = float(reference.sum())
    r = max(3.0, LOCAL_REACH * np.sqrt(area))
    removed = reference & ~mask
    out = reference.copy()
    h, w = reference.shape
    for point in negatives:
        x, y = _pixel(point, reference.shape)
        if not reference[y, x]:
            continue
        patch = image[max(0, y - 2):y + 3, max(0, x - 2):x + 3].reshape(-1, image.shape[2]).astype(np.float32)
        colour = np.median(patch, axis=0)
        similar = np.linalg.norm(image.astype(np.float32) - colour, axis=2) <= COLOUR_REACH
        region = _disk_at(reference.shape, x, y, r) & reference & similar
        if removed[y, x] and (region & removed).any():
            region &= removed
        seed = np.zeros_like(reference)
        seed[y, x] = True
        region[y, x] = True
        out &= ~components_touching(region, seed)
    return out


def include_spots(mask: np.ndarray, positives: Sequence[tuple[float, float]],
                  negatives: Sequence[tuple[float, float]] = ()) -> np.ndarray:
    """``mask`` with a spot (INCLUDE_SPOT × √area, at least 3 px) at every include click it
    misses, except where an exclude click lies within that spot (the person took it back)."""
    out = mask
    r = max(3.0, INCLUDE_SPOT * np.sqrt(max(float(mask.sum()), 1.0)))
    for point in positives:
        x, y = _pixel(point, mask.shape)
        if any(np.hypot(x - nx, y - ny) <= r for nx, ny in negatives):
            continue
        if not out[y, x]:
            out = out | _disk_at(mask.shape, x, y, r)
    return out
