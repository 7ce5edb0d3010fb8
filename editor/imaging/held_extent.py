"""What an edit hides never shrinks where the tracker is unsure of an object (#28, #25).

A tracker that loses an object behind a passing car, or keeps only a part of it, reports a
small or empty mask with a low confidence (:mod:`editor.tracking.evidence`) while the object
may still show. An edit that hides the object (``remove``) must hide it there too: on such a
*weak* frame the mask is joined with the object's nearest *confident* masks before and
after it (at most ``reach`` frames away, without a frame in between where the object is not
tracked — a shot cut or the end of its track), each moved by the object's motion over the
frames in between and grown by a margin for the motion's uncertainty. A held extent moved
out of the frame holds nothing (the object left).

Confident: ``FrameItem.confidence`` at least :data:`CONFIDENT`; a frame without a
confidence for the object (masks without tracking, frames outside its track) is neither
weak nor an anchor: its mask is used as it is.

Motion: the median shift per frame between consecutive confident masks at most
:data:`VELOCITY_FRAMES` frames beyond the anchor (away from the weak frame), each the shift
that best overlays one mask on the other (phase correlation of the two masks, full-frame
pixels); none (zero) without two such masks. The margin grows by
:data:`MARGIN_PER_FRAME` × the anchor's bounding-box longer side per frame of distance.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from editor.api.stages import FrameItem
from editor.imaging.compositing import grow

CONFIDENT = 0.5
"""A mask at least this confident is an anchor; below, its frame is weak. The review line of
the tracking evidence (``EvidenceOptions.review_below``, the frames a person should look at):
not tuned here."""
VELOCITY_FRAMES = 2
"""How far beyond an anchor (frames) confident masks are compared to measure the object's
motion (0: none, the extent held in place). Tuned with :data:`MARGIN_PER_FRAME` on the
generated clips (:mod:`editor.evaluation.groundtruth`, default and hard sets: #25's tuning
split; ``python -m benchmarks.removal_hold tune``, grid 0/2/4/8 × 0–0.04): the least truth
left outside the hole on weak frames (2.5 % of it, the tracker's masks 9.7 %) among the
settings whose hole outside the truth is at most twice the truth. Never chosen on bikes.mp4
(held out for #25)."""
MARGIN_PER_FRAME = 0.02
"""Growth of a held extent, × the anchor's box side per frame of distance (the motion's
uncertainty). Tuned with :data:`VELOCITY_FRAMES`."""


@dataclass(frozen=True)
class _View:
    box: tuple[int, int, int, int]
    """y0, x0, y1, x1 (exclusive) of the mask in the frame."""
    crop: np.ndarray
    """bool mask inside ``box``."""

    @property
    def centre(self) -> tuple[float, float]:
        y0, x0, y1, x1 = self.box
        return (y0 + y1) / 2.0, (x0 + x1) / 2.0


class HeldExtent:
    """The masks to hide, per object and frame, held on weak frames (module docstring).

    Call :meth:`observe` with every item in frame order (each at least once, before its hole
    is asked for, and the items up to ``ahead`` frames after it: a stage's look-ahead);
    :meth:`mask` gives the held mask (bool H×W at the frame's size); :meth:`forget_before`
    drops what frames before an index no longer need.
    """

    def __init__(self, reach: int, confident: float = CONFIDENT, *, ahead: int | None = None,
                 velocity_frames: int = VELOCITY_FRAMES, margin: float = MARGIN_PER_FRAME) -> None:
        self.reach = reach
        self.ahead = reach if ahead is None else min(ahead, reach)
        """Frames after a weak frame searched for an anchor (a stage's look-ahead may hold fewer
        than ``reach``: :func:`editor.api.limits.lookahead_frames`)."""
        self.confident = confident
        self.velocity_frames = velocity_frames
        self.margin = margin
        self._tracked: dict[int, set[int]] = {}
        """object → frames with a confidence for it (tracked, weak or lost)."""
        self._views: dict[int, dict[int, _View]] = {}
        """object → frame → its confident mask."""
        self._seen = -1

    def observe(self, items: Iterable[FrameItem], ids: Iterable[int]) -> None:
        """Record the items not seen yet (frame order) for the objects ``ids``."""
        ids = list(ids)
        for item in items:
            if item.index <= self._seen:
                continue
            self._seen = item.index
            for oid in ids:
                c = item.confidence.get(oid)
                if c is None:
                    continue
                self._tracked.setdefault(oid, set()).add(item.index)
                if c >= self.confident:
                    m = item.labels == oid
                    ys, xs = np.nonzero(m)
                    if len(ys):
                        box = (int(ys.min()), int(xs.min()), int(ys.max()) + 1, int(xs.max()) + 1)
                        self._views.setdefault(oid, {})[item.index] = _View(box, m[box[0]:box[2], box[1]:box[3]])

    def forget_before(self, index: int) -> None:
        """Drop what frames from ``index`` on cannot use (anchors further than ``reach``
        frames back, with their motion)."""
        keep = index - self.reach - self.velocity_frames
        for frames in self._tracked.values():
            for f in [f for f in frames if f < keep]:
                frames.discard(f)
        for views in self._views.values():
            for f in [f for f in views if f < keep]:
                del views[f]

    def weak(self, item: FrameItem, oid: int) -> bool:
        """Whether the tracker is unsure of object ``oid`` on this frame."""
        c = item.confidence.get(oid)
        return c is not None and c < self.confident

    def mask(self, item: FrameItem, oid: int) -> np.ndarray:
        """Object ``oid``'s mask on ``item`` (bool H×W), joined on a weak frame with its
        nearest confident masks before and after, moved by its motion."""
        m = item.labels == oid
        if not self.weak(item, oid):
            return m
        tracked = self._tracked.get(oid, set())
        views = self._views.get(oid, {})
        for step in (-1, 1):
            anchor = None
            for k in range(1, (self.reach if step < 0 else self.ahead) + 1):
                f = item.index + step * k
                if f not in tracked:
                    break
                if f in views:
                    anchor = f
                    break
            if anchor is not None:
                m |= self._moved(views, anchor, item.index, step, m.shape)
        return m

    def _moved(self, views: dict[int, _View], anchor: int, index: int, step: int,
               shape: tuple[int, ...]) -> np.ndarray:
        view = views[anchor]
        vy, vx = _velocity(views, anchor, step, self.velocity_frames)
        dt = index - anchor
        dy, dx = round(vy * dt), round(vx * dt)
        h, w = shape[:2]
        y0, x0, y1, x1 = view.box
        ty0, tx0, ty1, tx1 = max(0, y0 + dy), max(0, x0 + dx), min(h, y1 + dy), min(w, x1 + dx)
        out = np.zeros((h, w), bool)
        if ty0 >= ty1 or tx0 >= tx1:  # moved out of the frame: the object left
            return out
        out[ty0:ty1, tx0:tx1] = view.crop[ty0 - y0 - dy:ty1 - y0 - dy, tx0 - x0 - dx:tx1 - x0 - dx]
        side = max(y1 - y0, x1 - x0)
        return grow(out, round(self.margin * side * abs(dt)))


def _velocity(views: dict[int, _View], anchor: int, step: int, frames_beyond: int) -> tuple[float, float]:
    """The object's motion at ``anchor`` (px per frame, y and x): the median over the pairs
    of consecutive confident masks within ``frames_beyond`` frames beyond it (``step``: −1
    earlier frames, +1 later) of the shift that best overlays one mask on the other (phase
    correlation of the two masks: the bulk of the object, not a box a part sticking out of
    one mask moves); zero without such a pair."""
    frames = [anchor + step * k for k in range(frames_beyond + 1) if anchor + step * k in views]
    shifts = []
    for a, b in zip(frames, frames[1:]):
        dy, dx = _shift(views[a], views[b])
        shifts.append((dy / (b - a), dx / (b - a)))
    if not shifts:
        return 0.0, 0.0
    v = np.median(np.array(shifts), axis=0)
    return float(v[0]), float(v[1])


def _shift(a: _View, b: _View) -> tuple[float, float]:
    """(dy, dx) that moves mask ``a`` onto mask ``b`` (full-frame px), by phase correlation
    on the union of their boxes at most ``_SHIFT_SIDE`` px on its longer side."""
    y0, x0 = min(a.box[0], b.box[0]), min(a.box[1], b.box[1])
    y1, x1 = max(a.box[2], b.box[2]), max(a.box[3], b.box[3])
    pad = max(y1 - y0, x1 - x0) // 4  # room for the shift inside the window
    y0, x0, y1, x1 = y0 - pad, x0 - pad, y1 + pad, x1 + pad
    planes = []
    for v in (a, b):
        plane = np.zeros((y1 - y0, x1 - x0), np.float32)
        plane[v.box[0] - y0:v.box[2] - y0, v.box[1] - x0:v.box[3] - x0] = v.crop
        planes.append(plane)
    s = min(1.0, _SHIFT_SIDE / float(max(y1 - y0, x1 - x0)))
    if s < 1.0:
        size = (max(1, round((x1 - x0) * s)), max(1, round((y1 - y0) * s)))
        planes = [cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in planes]
    (dx, dy), _ = cv2.phaseCorrelate(planes[0], planes[1])
    return dy / s, dx / s


_SHIFT_SIDE = 128
"""Working size of the masks' phase correlation (px): a cost bound, not a tuned value."""
