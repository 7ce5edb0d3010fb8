"""Confidence and lost/found from a model that judges presence itself (SAM 2's occlusion head).

A :class:`~editor.api.backends.ScoredTrackPass` reports, per object and frame, the model's
probability ``p`` that the object is visible. The evidence (:mod:`editor.tracking.evidence`)
still scores the model's masks (area, position, appearance against the confident views),
but only scores them: such a pass is not reviewed, so the evidence never replaces, holds or
drops what the model saw. The two combine as follows:

* **state** — the model's: ``p > 0.5`` visible (``tracked``; ``found`` on the first frame
  visible again after frames it was ``lost`` on), otherwise ``lost`` (SAM 2 then outputs no
  mask, keeps tracking, and finds the object again when it reappears);
* **confidence** — visible: ``min(p, evidence)`` (either can call a frame weak, so it is
  listed for review); hidden: ``1 − p``, how sure the model is that the object is not there
  (the evidence has no mask to score).

Masks are never changed here, so J&F is by construction what the model's masks give.
Objects prompted on the frame keep the prompt's state and confidence.
"""
from __future__ import annotations

from collections.abc import Mapping

VISIBLE = 0.5
"""Presence probability above which the object counts as visible (an object-score logit > 0,
SAM 2's own rule for emptying its masks)."""


def combine(presence: float, evidence: float | None, previous: str | None) -> tuple[float, str]:
    """(confidence, state) of one object on one frame from the model's ``presence`` probability,
    the evidence's confidence for its mask (``None``: not scored) and the object's ``previous``
    state in this pass (``None``: first frame)."""
    p = min(max(float(presence), 0.0), 1.0)
    if p <= VISIBLE:
        return 1.0 - p, "lost"
    state = "found" if previous == "lost" else "tracked"
    return (p if evidence is None else min(p, float(evidence))), state


def judge_by_model(scores: Mapping[int, float], confidence: dict[int, float], states: dict[int, str],
                   previous: Mapping[int, str], skip: set[int] = frozenset()) -> None:  # type: ignore[assignment]
    """Replace the evidence's state and confidence of every object in ``scores`` (object id →
    presence probability) with :func:`combine`'s, in place; objects in ``skip`` (prompted on
    the frame) keep theirs. ``previous``: each object's state on the pass's previous frame."""
    for oid, p in scores.items():
        if oid in skip:
            continue
        confidence[oid], states[oid] = combine(p, confidence.get(oid), previous.get(oid))
