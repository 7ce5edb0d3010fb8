"""Confidence beside the masks: ``confidence.json``, weak frames and their one-line summary.

The engine records a confidence in [0, 1] and a state for every (frame, object) it tracks
(:mod:`editor.tracking.evidence`, :class:`~editor.api.run.TrackingStats`). This module turns
them into what people and tools read:

* ``confidence.json`` in a masks folder (written by ``trackedit track``, the web UI's masks
  export and the ``export-masks`` stage's ``davis`` format)::

      {"version": 1, "frame_count": 132, "review_below": 0.5, "damaged": [60, 61, …],
       "objects": [{"id": 1, "name": "bunny",
                    "confidence": [1.0, 0.93, …],   # one per frame; null: not tracked there
                    "state": ["prompt", "tracked", …],
                    "review": [97, 98, …]}]}        # frames below review_below

  ``state`` is ``prompt``, ``interpolated`` (a prompt bridged between two detections, not
  given), ``tracked``, ``found`` (re-acquired), ``held`` (the last good mask moved by the
  motion), ``lost`` (nothing edited) or null.
  ``damaged``: frames decoded with errors (or predicted from such frames), whatever their
  confidence.
* :func:`review_lines`: ``12 frames to review for "bunny": 97–108`` per object, and
  ``60 damaged frames to review (decoded with errors): 60–119``.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from editor.api.run import TrackingStats

FILE = "confidence.json"


def frame_ranges(frames: Iterable[int]) -> str:
    """``[3, 4, 5, 9]`` → ``"3–5, 9"``."""
    out: list[str] = []
    run: list[int] = []
    for f in sorted(set(frames)):
        if run and f == run[-1] + 1:
            run.append(f)
            continue
        if run:
            out.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [f]
    if run:
        out.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def _label(oid: int, names: Mapping[int, str]) -> str:
    name = names.get(oid, "")
    return f'"{name}"' if name else f"object {oid}"


def review_lines(stats: TrackingStats, names: Mapping[int, str], below: float | None = None) -> list[str]:
    """One line per object with weak frames: ``12 frames to review for "bunny": 97–108``."""
    lines = []
    for oid, frames in stats.weak_frames(below).items():
        n = len(frames)
        lines.append(f"{n} frame{'s' if n != 1 else ''} to review for {_label(oid, names)}: {frame_ranges(frames)}")
    if stats.damaged:
        n = len(stats.damaged)
        lines.append(f"{n} damaged frame{'s' if n != 1 else ''} to review (decoded with errors): "
                     f"{frame_ranges(stats.damaged)}")
    return lines


def confidence_document(confidence: Mapping[int, Mapping[int, float]], states: Mapping[int, Mapping[int, str]],
                        names: Mapping[int, str], frame_count: int, below: float = 0.5,
                        damaged: Iterable[int] = ()) -> dict[str, object]:
    """The ``confidence.json`` content for frames ``0..frame_count-1``."""
    ids = sorted(set(names) | {oid for per in confidence.values() for oid in per})
    objects = []
    for oid in ids:
        conf = [confidence.get(f, {}).get(oid) for f in range(frame_count)]
        state = [states.get(f, {}).get(oid) for f in range(frame_count)]
        objects.append({"id": oid, "name": names.get(oid, ""),
                        "confidence": [None if c is None else round(float(c), 4) for c in conf],
                        "state": state,
                        "review": [f for f, c in enumerate(conf) if c is not None and c < below]})
    return {"version": 1, "frame_count": frame_count, "review_below": below, "damaged": sorted(damaged),
            "objects": objects}


def write_confidence(folder: Path, stats: TrackingStats, names: Mapping[int, str], frame_count: int) -> Path:
    """Write ``folder/confidence.json`` from a run's tracking statistics."""
    doc = confidence_document(stats.confidence, stats.states, names, frame_count, stats.review_below,
                              stats.damaged)
    path = folder / FILE
    path.write_text(json.dumps(doc) + "\n")
    return path


class ConfidenceCollector:
    """Collects per-frame confidences as frames pass (the ``export-masks`` stage)."""

    def __init__(self) -> None:
        self.confidence: dict[int, dict[int, float]] = {}
        self.frames = 0

    def add(self, frame: int, confidence: Mapping[int, float]) -> None:
        if confidence:
            self.confidence[frame] = dict(confidence)
        self.frames = max(self.frames, frame + 1)

    def write(self, folder: Path, names: Mapping[int, str], below: float = 0.5) -> Path | None:
        """``folder/confidence.json``, or nothing when no frame carried a confidence."""
        if not self.confidence:
            return None
        doc = confidence_document(self.confidence, {}, names, self.frames, below)
        for obj in doc["objects"]:  # type: ignore[union-attr]
            del obj["state"]  # type: ignore[index]
        path = folder / FILE
        path.write_text(json.dumps(doc) + "\n")
        return path
