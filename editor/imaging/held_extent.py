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

Anchors agree with their track: a confident mask whose box's size differs from the
object's *usual size* there — the medians of the box heights and widths of the confident
masks at most :data:`TREND_FRAMES` frames from it in the same track, itself included, at
least three of them — so much that the two boxes, put on one centre, overlap by less than
:data:`AGREE` (intersection over union) is no anchor (a tracker that took a passing car in,
confidently, for a frame or two); the search goes on past it. Sizes, not places: a fast
object's boxes a few frames apart need not overlap.

Motion: the median shift per frame between consecutive confident masks at most
:data:`VELOCITY_FRAMES` frames beyond the anchor (away from the weak frame), each the shift
that best overlays one mask on the other (phase correlation of the two masks, full-frame
pixels); none (zero) without two such masks. The margin (the motion's uncertainty) grows
per frame of distance by :data:`MARGIN_PER_FRAME` × the object's usual size (its longer
side) plus :data:`MARGIN_PER_SPEED` × its speed (px per frame), up to :data:`MARGIN_CAP` ×
the usual size (both off by default: their docstrings); one outlier mask does not set it.
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
split; ``python -m benchmarks.removal_hold tune``, grid 0/2/4/8 × 0–0.04, BENCHMARKS.md):
the least truth left outside the hole on weak frames among the settings whose hole outside
the truth is at most twice the truth. Never chosen on bikes.mp4 (held out for #25)."""
MARGIN_PER_FRAME = 0.02
"""Growth of a held extent per frame of distance, × the object's usual size (its longer
side). Tuned with :data:`VELOCITY_FRAMES`."""
MARGIN_PER_SPEED = 0.0
"""Growth of a held extent per frame of distance, × the object's measured speed (px per
frame). Off: on the tuning clips 0.625 × speed with no size term (4 velocity frames) left
less truth outside the hole (1.65 % against 2.55 % at 2 % of the size, excess 1.89 against
1.70 of the truth, uncapped: ``benchmarks.removal_hold tune``), but a
mask changing shape reads as motion (bikes: a car leaving the anchor's mask read as the
cyclist moving 1.3 px a frame down), and with a margin made of that speed the extent held
24 frames away missed his helmet, which the fill then carried into 20 frames (round 7,
BENCHMARKS.md)."""
MARGIN_CAP = float("inf")
"""The most a held extent grows, × the object's usual size. Off (no bound): the tuning clips'
rule (the least hole outside the truth among the caps whose leak is within 0.001 of the
least, grid 0.05–1) picks 0.2, but with the extent moved by a velocity that is a change of
shape (bikes: a car leaving the anchor's mask read as the cyclist moving 2.4 px a frame
down, 59 px at 24 frames) that bound left his head outside the held hole on 77–101, and the
fill carried it there (round 7, BENCHMARKS.md). A bound needs a velocity that does not read
shape as motion first."""
TREND_FRAMES = 4
"""Frames each side of an anchor whose confident masks give the object's usual size there
(medians of up to 9 boxes: two outliers in a row among five do not move them). A bound of
the look (frames), not tuned."""
AGREE = 0.5
"""Least overlap (intersection over union) of an anchor's box with a box of the object's
usual size on the same centre: the usual "same object" criterion of detection benchmarks
(PASCAL VOC), not tuned here."""


@dataclass(frozen=True)
class _View:
    box: tuple[int, int, int, int]
    """y0, x0, y1, x1 (exclusive) of the mask in the frame."""
    crop: np.ndarray
    """bool mask inside ``box``."""

    @property
    def size(self) -> tuple[int, int]:
        """Height and width of the box (px)."""
        y0, x0, y1, x1 = self.box
        return y1 - y0, x1 - x0

    @property
    def centre(self) -> tuple[float, float]:
        y0, x0, y1, x1 = self.box
        return (y0 + y1) / 2.0, (x0 + x1) / 2.0


class HeldExtent:
    """The masks to hide, per object and frame, held on weak frames (module docstring).

    Call :meth:`observe` with every item in frame order (each at least once, before its hole
    is asked for, and the items up to ``ahead`` frames after it: a stage's look-ahead; the
    motion and usual size of a later anchor use the confident masks observed so far, up to
    :data:`VELOCITY_FRAMES` and :data:`TREND_FRAMES` beyond it);
    :meth:`mask` gives the held mask (bool H×W at the frame's size); :meth:`forget_before`
    drops what frames before an index no longer need.
    """

    def __init__(self, reach: int, confident: float = CONFIDENT, *, ahead: int | None = None,
                 velocity_frames: int = VELOCITY_FRAMES, margin: float = MARGIN_PER_FRAME,
                 margin_per_speed: float = MARGIN_PER_SPEED, margin_cap: float = MARGIN_CAP) -> None:
        self.reach = reach
        self.ahead = reach if ahead is None else min(ahead, reach)
        """Frames after a weak frame searched for an anchor (a stage's look-ahead may hold fewer
        than ``reach``: :func:`editor.api.limits.lookahead_frames`)."""
        self.confident = confident
        self.velocity_frames = velocity_frames
        self.margin = margin
        self.margin_per_speed = margin_per_speed
        self.margin_cap = margin_cap
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
        frames back, with their motion and trend)."""
        keep = index - self.reach - max(self.velocity_frames, TREND_FRAMES)
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
            for k in range(1, (self.reach if step < 0 else self.ahead) + 1):
                f = item.index + step * k
                if f not in tracked:
                    break
                if f in views:
                    usual = _usual_size(views, tracked, f)
                    if usual is None:
                        usual = views[f].size
                    elif _size_overlap(views[f].size, usual) < AGREE:
                        continue  # jumps against its track: no anchor
                    m |= self._moved(views, f, item.index, step, m.shape, max(usual))
                    break
        return m

    def _moved(self, views: dict[int, _View], anchor: int, index: int, step: int,
               shape: tuple[int, ...], side: float) -> np.ndarray:
        """The anchor's mask moved to frame ``index`` (bool H×W) and grown by the margin for
        the object's usual size ``side`` (px) and its speed."""
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
        r = abs(dt) * (self.margin * side + self.margin_per_speed * float(np.hypot(vy, vx)))
        return grow(out, round(min(r, self.margin_cap * side)))


def _usual_size(views: dict[int, _View], tracked: set[int], anchor: int) -> tuple[float, float] | None:
    """The object's usual size around ``anchor`` (height, width, px): the medians of the box
    heights and widths of the confident masks at most :data:`TREND_FRAMES` frames from it,
    without a frame in between where the object is not tracked, itself included; None with
    fewer than three such masks."""
    sizes = [views[anchor].size]
    for step in (-1, 1):
        for k in range(1, TREND_FRAMES + 1):
            f = anchor + step * k
            if f not in tracked:
                break
            if f in views:
                sizes.append(views[f].size)
    if len(sizes) < 3:
        return None
    h, w = np.median(np.array(sizes, float), axis=0)
    return float(h), float(w)


def _size_overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Intersection over union of two boxes of sizes ``a`` and ``b`` (height, width) placed on
    the same centre: how alike their sizes and shapes are, wherever they are."""
    return min(a[0], b[0]) / max(a[0], b[0]) * min(a[1], b[1]) / max(a[1], b[1])


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
    # zero-padded to even DFT sizes: on an odd one OpenCV's peak is off by half a pixel (two
    # identical masks 26 px wide gave a shift of 0.5 px, a motion of a still object)
    ph, pw = planes[0].shape
    planes = [cv2.copyMakeBorder(p, 0, _even_dft_size(ph) - ph, 0, _even_dft_size(pw) - pw, cv2.BORDER_CONSTANT, 0)
              for p in planes]
    (dx, dy), _ = cv2.phaseCorrelate(planes[0], planes[1])
    return dy / s, dx / s


def _even_dft_size(n: int) -> int:
    """The least even size ≥ ``n`` that OpenCV's DFT computes fast."""
    m = cv2.getOptimalDFTSize(n)
    while m % 2:
        m = cv2.getOptimalDFTSize(m + 1)
    return m


_SHIFT_SIDE = 128
"""Working size of the masks' phase correlation (px): a cost bound, not a tuned value."""
