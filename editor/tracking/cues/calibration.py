"""The confidence as a probability: P(the mask's IoU with the truth ≥ 0.5) on that frame
(#25), from the evidence's raw score and the object's state, by the table fitted on the
tuning split (:data:`editor.tracking.cues.tuning.CALIBRATION`; ``python -m benchmarks.trust
--fit`` fits it again).

The evidence's own rules list some frames for review whatever their score (lost or held
without being seen leaving, re-acquired, smeared by motion blur: a raw score below
``review_below``); the calibration never takes a frame off that list — there the reported
confidence is at most the raw score."""
from __future__ import annotations

import numpy as np

from editor.tracking.cues.tuning import CALIBRATION

UNCALIBRATED = ("prompt", "interpolated")
"""States whose confidence is given, not judged (1 for a prompt): reported as they are."""


def probability(raw: float, state: str | None, review_below: float) -> float:
    """P(IoU ≥ 0.5) of a mask the evidence scored ``raw`` in ``state`` (``tracked``,
    ``found``, ``held``, ``lost``); states without a fitted table keep ``raw``."""
    knots = CALIBRATION.get(state or "")
    if knots is None or state in UNCALIBRATED:
        return float(raw)
    xs, ps = zip(*knots)
    p = float(np.interp(raw, xs, ps))
    return min(p, float(raw)) if raw < review_below else p
