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
from typing import TYPE_CHECKING

from editor.api.errors import TrackeditError
from editor.api.limits import regular_file
from editor.api.run import RunSummary, TrackingStats

if TYPE_CHECKING:
    from editor.api.prompts import PromptSet

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


def shots_without(stats: TrackingStats, object_id: int) -> list[tuple[int, int]]:
    """The shots (first, last frame; :attr:`TrackingStats.cuts` split ``0..frames-1``) where
    ``object_id`` was not tracked on any frame: tracking ends at a shot cut, so a clicked
    object is edited only in the shots where it has a prompt."""
    if not stats.cuts or stats.frames <= 0:
        return []
    bounds = [0, *sorted(c for c in stats.cuts if 0 < c < stats.frames), stats.frames]
    seen = {f for f, per in stats.confidence.items() if object_id in per}
    return [(a, b - 1) for a, b in zip(bounds, bounds[1:]) if b > a and not any(f in seen for f in range(a, b))]


def review_lines(stats: TrackingStats, names: Mapping[int, str], below: float | None = None,
                 prompted: Iterable[int] = ()) -> list[str]:
    """One line per click prompt whose mask is tiny (:attr:`TrackingStats.small_prompts`);
    one line per object with weak frames: ``12 frames to review for "bunny": 97–108``;
    and for each of the ``prompted`` objects (the person's own, not detected ones) tracked
    in some shots only: ``"me" is not edited in shots 30–75, 76–136: tracking ends at shot
    cuts; prompt it in those shots to edit it there (or --no-cuts)``."""
    lines = []
    for (frame, oid), area in sorted(stats.small_prompts.items()):
        what = f"a mask of {area} px" if area else "no mask"
        lines.append(f"the clicks on frame {frame} gave {_label(oid, names)} {what}: a click on part of an object "
                     "(a window, a reflection) may give that part alone, and only that is edited; check it "
                     "(trackedit track … or the web UI), or add clicks or a box")
    for oid, frames in stats.weak_frames(below).items():
        n = len(frames)
        lines.append(f"{n} frame{'s' if n != 1 else ''} to review for {_label(oid, names)}: {frame_ranges(frames)}")
    for oid in sorted(set(prompted)):
        missing = shots_without(stats, oid)
        if missing:
            shots = ", ".join(f"{a}–{b}" if b > a else str(a) for a, b in missing)
            lines.append(f"{_label(oid, names)} is not edited in shot{'s' if len(missing) > 1 else ''} {shots}: "
                         "tracking ends at shot cuts; prompt it in those shots to edit it there (or --no-cuts)")
    if stats.damaged:
        n = len(stats.damaged)
        lines.append(f"{n} damaged frame{'s' if n != 1 else ''} to review (decoded with errors): "
                     f"{frame_ranges(stats.damaged)}")
    return lines


def run_review_lines(summary: RunSummary, prompts: PromptSet | None) -> list[str]:
    """What a finished run asks a person to look at (:func:`review_lines` of its tracking,
    objects named from ``prompts`` — the run's prompts file, its objects the prompted ones —
    and from what detection found): ``trackedit run`` prints these lines, ``trackedit batch``
    prints them for each video and puts them in its report. Empty without tracking or objects."""
    if summary.tracking is None or (prompts is None and summary.detection is None):
        return []
    names = {**(prompts.names() if prompts is not None else {}),
             **(summary.detection.objects if summary.detection is not None else {})}
    prompted = set(prompts.names()) if prompts is not None else set()
    return review_lines(summary.tracking, names, prompted=prompted)


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


def read_confidence(folder: Path) -> dict[int, dict[int, float]]:
    """Frame → object id → confidence from ``folder/confidence.json`` (frames where an object
    was not tracked, null in the file, are left out); empty when the folder has no such file
    or it cannot be read as one (a masks folder made by hand: its masks are used without; a
    FIFO or device in its place is never opened)."""
    path = folder / FILE
    try:
        if not path.exists():
            return {}
        regular_file(path, FILE)
        doc = json.loads(path.read_text())
        out: dict[int, dict[int, float]] = {}
        for obj in doc["objects"]:
            oid = int(obj["id"])
            for frame, c in enumerate(obj["confidence"]):
                if c is not None:
                    out.setdefault(frame, {})[oid] = float(c)
        return out
    except (OSError, ValueError, KeyError, TypeError, TrackeditError):
        return {}


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
