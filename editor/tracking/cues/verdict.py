"""The confidence of one mask against the object's model (area, position, appearance, the
tracker's own probability: the weakest counts) and the trim of what grew without evidence."""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from editor.backends.classic.morphology import components_touching, disk
from editor.tracking.cues.model import ObjectModel
from editor.tracking.cues.shapes import ramp
from editor.tracking.cues.tuning import (APPEARANCE_RAMP, CONTAIN_RAMP, OTHERS_RAMP, PROBABILITY_RAMP,
                                         SHRINK_SCORE, STEADY_RANGE, TRIM_LIKE)


class Score(NamedTuple):
    """A mask's confidence in [0, 1] and its factors; ``ratio``: its area ÷ the expected."""

    conf: float
    area: float
    position: float
    appearance: float
    ratio: float

    @property
    def steady(self) -> bool:
        """About the expected size: a mask the model may learn from."""
        return STEADY_RANGE[0] <= self.ratio <= STEADY_RANGE[1]


def score(model: ObjectModel, like: np.ndarray, m: np.ndarray, q: np.ndarray, qd: np.ndarray,
          expected_area: float, mean_prob: float | None, grow_ok: float, max_growth: float,
          others: np.ndarray | None = None) -> Score:
    """Confidence of mask ``m`` (working resolution) against the expected mask ``q`` (``qd``:
    widened for motion uncertainty) and area, the colour likelihood map ``like`` and the
    tracker's mean foreground probability; position also counts how much of ``m`` lies on
    other objects' masks (``others``). Growth up to ``grow_ok`` × the expected area costs
    nothing, at ``max_growth`` × all."""
    area = float(m.sum())
    r = area / max(expected_area, 1.0)
    if r >= 1:
        c_area = 1.0 - ramp(np.log(r), np.log(grow_ok), np.log(max_growth))
    else:
        a0, a1, lo, hi = SHRINK_SCORE
        c_area = a0 + a1 * ramp(r, lo, hi)
    a = float(like[m].mean()) / model.like_ref
    c_app = ramp(a, *APPEARANCE_RAMP)
    contain = float((m & qd).sum()) / area if q.any() else 0.0
    c_pos = ramp(contain, *CONTAIN_RAMP)
    if others is not None:
        c_pos = min(c_pos, ramp(float((m & others).sum()) / area, *OTHERS_RAMP))
    conf = min(c_area, c_app, c_pos)
    if mean_prob is not None:
        conf = min(conf, ramp(mean_prob, *PROBABILITY_RAMP))
    return Score(conf, c_area, c_pos, c_app, r)


def trim(m: np.ndarray, q: np.ndarray, qd: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``m`` without what grew beyond the expected region ``qd``, except object-coloured
    parts connected to the expected mask ``q``."""
    keep = (m & qd) | (m & (like > TRIM_LIKE))
    keep = cv2.morphologyEx(keep.astype(np.uint8), cv2.MORPH_OPEN, disk(1)) > 0
    return components_touching(keep, q)
