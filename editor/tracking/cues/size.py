"""Size changes: whether a mask is a full view or a part, how the reference area follows
full views, and growth measured by texture (an object coming closer)."""
from __future__ import annotations

import numpy as np

from editor.tracking.cues.appearance import texture
from editor.tracking.cues.model import FrameData, ObjectModel
from editor.tracking.cues.shapes import touches_border
from editor.tracking.cues.tuning import (AREA_FOLLOW, FULL_VIEW_AREA, PARTIAL_AREA, PARTIAL_BORDER_AREA,
                                         SCALE_MARGIN, SCALE_MIN_NCC, SCALE_MIN_SHARE, SCALE_STEPS,
                                         SIZE_CHANGE_RANGE)


def size_change(model: ObjectModel, w: float, h: float) -> float:
    """Box-area ratio of a w×h box to the model's, clipped to SIZE_CHANGE_RANGE."""
    return float(np.clip((w * h) / max(1.0, model.w * model.h), *SIZE_CHANGE_RANGE))


def is_full_view(model: ObjectModel, m: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """Whether mask ``m`` (box ``box``) shows the whole object: not cut by the border and
    about as large as the object (allowing for the change of its box)."""
    x0, y0, x1, y1 = box
    H, W = m.shape
    border = (x0 <= 0, y0 <= 0, x1 >= W, y1 >= H)
    return not any(border) and float(m.sum()) >= FULL_VIEW_AREA * model.area * size_change(model, x1 - x0, y1 - y0)


def is_partial(model: ObjectModel, m: np.ndarray) -> bool:
    """Whether a corrected mask ``m`` shows only a part of the modelled object: cut by
    the border and smaller than its full view, or less than half of it."""
    area = float(m.sum())
    return (touches_border(m) and area < PARTIAL_BORDER_AREA * model.area) or area < PARTIAL_AREA * model.area


def follow_area(model: ObjectModel, area: float, learn: bool) -> None:
    """The reference area follows a full view's ``area`` slowly (growth needs the texture's
    evidence: :func:`measure`)."""
    target = float(np.clip(area, AREA_FOLLOW[0] * model.area, AREA_FOLLOW[1] * model.area))
    model.area = 0.5 * model.area + 0.5 * target if learn else 0.8 * model.area + 0.2 * target


def measure(model: ObjectModel, data: FrameData) -> bool:
    """Measure the object's size where it is predicted, by matching its prompted view at a
    few sizes: when a larger size matches clearly better, the reference area grows
    (growth with evidence). Only the prompt's view: later views may have grown with the
    mask. Returns whether the texture matched at all."""
    cx, cy = model.predicted_centre(data.index)
    scores: dict[float, tuple[float, float]] = {}
    for s in SCALE_STEPS:
        ncc, placed, share, *_ = texture(model, data, cx, cy, s, anchor_only=True)
        if placed is not None and share > SCALE_MIN_SHARE:
            scores[s] = (ncc, float(placed.sum()))
    if not scores:
        return False
    s_best = max(scores, key=lambda k: scores[k][0])
    ncc, area = scores[s_best]
    if ncc < SCALE_MIN_NCC:
        return False
    if s_best != 1.0 and 1.0 in scores and ncc < scores[1.0][0] + SCALE_MARGIN:
        return True  # the present size matches about as well: no evidence of a change
    # only growth needs this evidence (shrinking masks cost little, and the reference
    # follows full views down by itself): a texture matched smaller never shrinks it
    model.area = max(model.area, 0.5 * model.area + 0.5 * area)
    return True
