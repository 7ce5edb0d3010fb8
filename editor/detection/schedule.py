"""How often detectors run: every N-th frame, N given or chosen from measured speed.

Detection costs the same on every frame it runs on; tracking runs on every frame anyway
(both directions). Automatic N keeps detection a bounded share of the time per frame:

* the detectors are timed on the first :data:`WARMUP` frames (which are detected anyway;
  the fastest of them counts, the first call often loads a model);
* the tracker is timed on the same frames (:func:`time_tracker`: one pass, one object of a
  detection's size, the fastest step);
* per frame, tracking costs ``passes × objects × step`` (two passes: backward and forward),
  detection ``detector / N``; N is the smallest whole number with
  ``detector / N ≤ max_share / (1 - max_share) × tracking``, at least 1 and at most
  ``max_every``. Without a tracker to time (``None``), N is ``max_every``'s half (rounded up).

The first frame of every shot is always detected (tracks end at cuts and restart from
detections), whatever N.
"""
from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from editor.api.backends import Tracker
from editor.api.frames import Frame, VideoInfo

WARMUP = 3
"""Frames detected at the start of every run to time the detectors (and the tracker)."""


@dataclass(frozen=True)
class Cadence:
    """The detection cadence of a run and how it was chosen."""

    every: int
    """Detectors run on every ``every``-th frame (and on the first frame of every shot)."""
    detector_seconds: float | None
    """Measured seconds per detected frame, all detectors together (``None`` when not measured)."""
    tracker_seconds: float | None
    """Measured seconds per tracker step of one object (``None`` when not measured)."""
    automatic: bool


def choose_every(detector_seconds: float, tracker_seconds: float | None, *, objects: int = 1, passes: int = 2,
                 max_share: float = 0.25, max_every: int = 8) -> int:
    """The smallest N ≥ 1 such that detection (``detector_seconds / N`` per frame) takes at
    most ``max_share`` of the time per frame next to tracking (``passes × objects ×
    tracker_seconds``), capped at ``max_every``. ``tracker_seconds=None``: half of
    ``max_every``, rounded up."""
    if tracker_seconds is None:
        return max(1, math.ceil(max_every / 2))
    tracking = passes * max(1, objects) * max(tracker_seconds, 1e-6)
    n = math.ceil(detector_seconds * (1 - max_share) / (max_share * tracking) - 1e-9)
    return int(min(max_every, max(1, n)))


def time_tracker(tracker: Tracker, video: VideoInfo, frames: Sequence[Frame],
                 box: tuple[float, float, float, float] | None = None) -> float | None:
    """Seconds of one tracker step for one object: a forward pass over ``frames`` (8-bit,
    consecutive), the object given on the first as ``box`` (default: a box a sixth of the
    frame in the centre); the fastest of the later steps. ``None`` with fewer than two
    frames."""
    if len(frames) < 2:
        return None
    h, w = frames[0].image.shape[:2]
    if box is None:
        box = (w * 5 / 12, h * 5 / 12, w * 7 / 12, h * 7 / 12)
    mask = np.zeros((h, w), bool)
    x0, y0 = int(max(0, box[0])), int(max(0, box[1]))
    x1, y1 = int(min(w, max(x0 + 2, box[2]))), int(min(h, max(y0 + 2, box[3])))
    mask[y0:y1, x0:x1] = True
    track = tracker.new_pass(video, reverse=False)
    try:
        track.step(frames[0], {1: mask})
        times = []
        for frame in frames[1:]:
            start = time.perf_counter()
            track.step(frame, {})
            times.append(time.perf_counter() - start)
    finally:
        track.close()
    return min(times)


class Schedule:
    """Which frames the detectors run on: the first frame of every shot, every ``every``-th
    frame after the last detected one and, while ``every`` is still being chosen
    (automatic), the first ``warmup`` frames."""

    def __init__(self, every: int | None = None, warmup: int = 0) -> None:
        self.every = every
        self.warmup = warmup
        self._last: int | None = None

    def due(self, frame: int, new_shot: bool = False) -> bool:
        """Whether to detect on ``frame`` (frames asked in display order, each once);
        ``every`` must be set once the warm-up frames are past."""
        if frame < self.warmup or new_shot or self._last is None:
            due = True
        else:
            if self.every is None:
                raise RuntimeError("Schedule.every is not set after the warm-up frames")
            due = frame - self._last >= self.every
        if due:
            self._last = frame
        return due
