"""The two passes of a bidirectional run as a confidence cue (#25): between two prompts of
an object the forward pass (from the earlier prompt) and the backward pass (from the later
one) both track it, and only one mask is output (the nearer prompt's pass, or the surer
one: :meth:`editor.tracking.engine.TrackingSession._surer_pass`). Where the two masks disagree
at least one of them is wrong, whatever each pass's evidence says — the frame is listed
for review. The comparison costs one IoU per frame and object: both passes run anyway.

Forward–backward consistency as an error signal is the idea of Kalal, Mikolajczyk and
Matas, "Forward-Backward Error: Automatic Detection of Tracking Failures" (ICPR 2010),
applied here to the two masks the engine already has rather than to a re-tracked point."""
from __future__ import annotations

import numpy as np

from editor.tracking.cues.tuning import PASS_AGREEMENT, PASS_DISAGREE_SHARE


def pass_agreement(forward: np.ndarray | None, backward: np.ndarray | None) -> float:
    """IoU in [0, 1] of the two passes' masks (bool H×W, ``None`` or empty: the pass shows
    nothing there): 1 where neither shows the object, 0 where only one does."""
    a = forward is not None and bool(forward.any())
    b = backward is not None and bool(backward.any())
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    assert forward is not None and backward is not None
    union = int(np.logical_or(forward, backward).sum())
    return float(np.logical_and(forward, backward).sum()) / union


def agreed_confidence(confidence: float, agreement: float, review_below: float) -> float:
    """``confidence`` capped below ``review_below`` (at :data:`PASS_DISAGREE_SHARE` × it)
    where the passes' agreement is under :data:`PASS_AGREEMENT`; unchanged otherwise."""
    if agreement < PASS_AGREEMENT:
        return min(confidence, PASS_DISAGREE_SHARE * review_below)
    return confidence
