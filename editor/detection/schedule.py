"""On which frames detectors run: every frame by default, every N-th when asked.

Redaction treats detection as the floor (:func:`editor.api.stages.redaction_region`): a
face the detector sees on a frame is covered on that frame whatever the tracker does, so by
default the detectors run on **every** frame. ``--detect-every N`` (N > 1) is an explicit
speed/recall trade — between detection frames only the tracker covers what moved — and
redaction runs warn about it. The cadence never depends on measured machine speed: two
runs on two machines detect on the same frames and give the same output.

The first frame of every shot is always detected, whatever N.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cadence:
    """The detection cadence of a run."""

    every: int
    """Detectors run on every ``every``-th frame (and on the first frame of every shot)."""


class Schedule:
    """Which frames the detectors run on: the first frame of every shot and every
    ``every``-th frame after the last detected one."""

    def __init__(self, every: int = 1) -> None:
        if every < 1:
            raise ValueError("every must be at least 1")
        self.every = every
        self._last: int | None = None

    def due(self, frame: int, new_shot: bool = False) -> bool:
        """Whether to detect on ``frame`` (frames asked in display order, each once)."""
        due = new_shot or self._last is None or frame - self._last >= self.every
        if due:
            self._last = frame
        return due
