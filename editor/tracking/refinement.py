"""Refining weak tracked masks with the segmenter (the paper's step 3).

While a tracker propagates masks, each object's mask on each frame is checked; a mask
that *looks weak* is re-segmented by the segmenter from the tracked mask itself, and an
accepted result replaces the prediction **and enters the tracker's memory** (like a user
correction), so the following frames build on the better mask.

A mask is weak when any of these holds (all thresholds are :class:`RefineOptions` fields,
set on the CLI with ``--backend-set refine.NAME=VALUE``):

* ``min_confidence``: the tracker's mean foreground probability inside the mask is below
  this (only trackers that report probabilities, e.g. XMem; default 0.75);
* ``max_area_change``: the area changed by more than this fraction since the object's
  previous frame in this pass (default 0.5, i.e. below ×0.5 or above ×1.5);
* ``max_fragments``: the mask falls apart into more than this many pieces, counting
  pieces of at least ``min_fragment`` of the mask's area (default 2 pieces, 5 %).

The segmenter's answer is accepted when its own quality estimate (SAM's predicted IoU) is
at least ``min_score`` (0.8) and it overlaps the tracked mask with IoU at least
``min_overlap`` (0.6): refinement sharpens a mask, it never swaps the object for another.

``mode``: ``off``; ``on`` (error if the segmenter cannot refine or the tracker cannot take
refined masks back); ``auto`` (default: on exactly when both can, i.e. SAM + XMem). The
segmenter's capability is :class:`MaskRefiner`, the tracker's
:class:`~editor.api.backends.ReviewableTracker` (its passes are
:class:`~editor.api.backends.ReviewableTrackPass`).
Counts go to :class:`~editor.api.run.TrackingStats` (``weak``, ``refined``, ``rejected``).
"""
from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

import cv2
import numpy as np
from pydantic import Field

from editor.api.backends import BackendOptions, ReviewableTracker, Segmentation
from editor.api.run import RefineCounts
from editor.api.errors import BackendUnavailable
from editor.api.frames import Frame

Mode = Literal["off", "on", "auto"]


class RefineOptions(BackendOptions):
    """Weak-mask refinement settings: ``mode`` from ``--refine``, the thresholds from
    ``--backend-set refine.OPTION=VALUE``."""

    mode: Mode = "auto"
    """``off``, ``on`` (an error when the backends cannot refine) or ``auto`` (when they can)."""
    min_confidence: float = Field(0.75, ge=0)
    """A mask is weak when the tracker's mean foreground probability inside it is below this."""
    max_area_change: float = Field(0.5, ge=0)
    """… or its area changed by more than this fraction since the object's previous frame."""
    max_fragments: int = Field(2, ge=1)
    """… or it has more than this many pieces of at least ``min_fragment`` of its area."""
    min_fragment: float = Field(0.05, ge=0, le=1)
    """Share of the mask's area a piece needs to count as a fragment."""
    min_score: float = Field(0.8, ge=0, le=1)
    """Accept the segmenter's answer only when its own quality estimate is at least this."""
    min_overlap: float = Field(0.6, ge=0, le=1)
    """… and it overlaps the tracked mask with at least this IoU."""


@runtime_checkable
class MaskRefiner(Protocol):
    """A segmenter that can re-segment an object from its tracked mask."""

    def refine(self, image: np.ndarray, frame_index: int, mask: np.ndarray,
               probability: np.ndarray | None = None) -> Segmentation | None:
        """A better mask for the object ``mask`` covers (bool H×W) or ``None``.

        ``probability`` (float H×W in [0, 1]) is the tracker's foreground probability when
        it has one. ``Segmentation.score`` is the segmenter's own quality estimate.
        """
        ...


def fragments(mask: np.ndarray, min_share: float) -> int:
    """Connected pieces of ``mask`` holding at least ``min_share`` of its area."""
    area = int(mask.sum())
    if area == 0:
        return 0
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return int(sum(1 for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_share * area))


def weakness(mask: np.ndarray, previous_area: int | None, confidence: float | None,
             options: RefineOptions) -> str | None:
    """Why ``mask`` looks weak (``"confidence"``, ``"area"``, ``"fragments"``) or ``None``."""
    if confidence is not None and confidence < options.min_confidence:
        return "confidence"
    area = int(mask.sum())
    if previous_area and abs(area / previous_area - 1.0) > options.max_area_change:
        return "area"
    if fragments(mask, options.min_fragment) > options.max_fragments:
        return "fragments"
    return None


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


class Refinement:
    """The :class:`~editor.api.backends.Review` of one propagation pass (remembers each
    object's previous area)."""

    def __init__(self, refiner: MaskRefiner, options: RefineOptions, counts: RefineCounts) -> None:
        self.refiner = refiner
        self.options = options
        self.counts = counts
        self._areas: dict[int, int] = {}

    def __call__(self, frame: Frame, masks: dict[int, np.ndarray],
                 probabilities: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        accepted: dict[int, np.ndarray] = {}
        for oid, mask in masks.items():
            prob = probabilities.get(oid)
            confidence = float(prob[mask].mean()) if prob is not None and mask.any() else None
            final = mask
            if mask.any() and weakness(mask, self._areas.get(oid), confidence, self.options):
                self.counts.weak += 1
                result = self.refiner.refine(frame.image, frame.index, mask, prob)
                if (result is not None and result.mask.any() and result.score >= self.options.min_score
                        and mask_iou(result.mask, mask) >= self.options.min_overlap):
                    accepted[oid] = final = result.mask.astype(bool)
                    self.counts.refined += 1
                else:
                    self.counts.rejected += 1
            self._areas[oid] = int(final.sum())
        return accepted

    def forget(self, ids: list[int]) -> None:
        """Drop the previous areas of objects the pass stopped tracking."""
        for oid in ids:
            self._areas.pop(oid, None)


def resolve_refinement(options: RefineOptions, segmenter: object, tracker: object) -> bool:
    """Whether to refine with these backends: the segmenter is a :class:`MaskRefiner` and the
    tracker a :class:`~editor.api.backends.ReviewableTracker`. ``mode="on"`` with backends
    that cannot → one-line :class:`BackendUnavailable`; ``off`` → ``False``."""
    if options.mode == "off":
        return False
    can_refine = isinstance(segmenter, MaskRefiner)
    can_review = isinstance(tracker, ReviewableTracker)
    if options.mode == "on" and not (can_refine and can_review):
        missing = "the segmenter cannot refine masks (use sam)" if not can_refine else \
            "the tracker cannot take refined masks back (use xmem)"
        raise BackendUnavailable(f"--refine on: {missing}")
    return can_refine and can_review
