"""A kept person's face track continued after a loss, decided by tracking evidence.

A kept person (``--keep``, ``"keep": true``) keeps the detected face tracks lying on them on
their prompted frames (:func:`editor.pipeline.orchestrator._kept_faces`). When someone
crosses in front of them and hides the face for longer than association waits, the face
track ends and a new one starts when the face comes out; without a continuation the
kept person is blurred from there (and where the new track's backward tracking lies over
them before).

Which new track is theirs is decided here from the **kept object's own tracked mask**,
never from looks (a lookalike coming out from behind a pillar where the kept person would
was taken for them by colour and kept bare). The kept object — the user's clicks, tracked
by the run's segmenter and tracker alone in a session of its own, from its first prompt —
continues the lost face track ``A`` with the track ``B`` when all of these hold:

* the tracker followed the kept object on every frame from its first prompt to ``B``'s
  first detection — the evidence module's state ``prompt`` or ``tracked`` on each, never
  ``held``, ``lost`` or ``found`` (a re-acquisition is a judgement by look; a person wholly
  hidden, as behind a pillar, is lost), and no shot cut ends it;
* ``A``'s last detection lies on the kept object's mask on its frame (the mask was still
  on the face it kept) and ``B``'s first detection lies on it on its frame
  (:func:`editor.api.stages.lies_on`);
* ``B`` is the only detection of that label lying on the mask there that belongs to no
  track seen while ``A`` was (a track in view together with ``A`` is someone else; a
  detection that joined no track, or two new ones, leave it undecided: nothing is kept).

Anything less keeps nothing: the kept person is covered from the loss on, the safe side.
A face kept by name (``--keep face-3``) is continued by the same rules with ``obj`` the face
itself (:func:`editor.pipeline.orchestrator._kept_faces`): where association split it into two
tracks, the second one's tracked mask covered it on every frame.
A continued track may itself be lost and continued in turn.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from editor.api.detectors import FrameDetection
from editor.api.prompts import ObjectPrompts, PromptSet
from editor.api.stages import lies_on
from editor.detection.association import Track
from editor.tracking.engine import TrackingSession

FOLLOWED = frozenset({"prompt", "tracked"})
"""The evidence states in which the tracker itself followed the object on a frame
(:data:`editor.tracking.cues.model.State`): not ``held`` (the last mask moved by the
motion), ``lost`` or ``found`` (re-acquired by its look)."""


def continued_tracks(tracking: TrackingSession, obj: ObjectPrompts, kept: set[int], tracks: Mapping[int, Track],
                     floor: Mapping[int, Sequence[FrameDetection]], work: Path,
                     source: Path | None = None, stream: int | None = None) -> set[int]:
    """The detected objects (ids of ``tracks``) that continue the tracks ``kept`` (object ids,
    the kept object ``obj``'s face tracks) after they end, by the rules of this module;
    ``floor``: every frame's detections (:attr:`editor.detection.DetectedObjects.floor`).
    ``tracking`` gives the segmenter, tracker and options; the kept object is tracked in a
    session of its own in ``work`` (removed after), only as far as a candidate needs —
    nothing is tracked when no track starts after a kept one ends. ``source``: the prompts
    file (mask prompts are read relative to it); ``stream``: the video stream."""
    ends = _ends(kept, tracks)
    if not any(_candidates(tracks, kept, label, end) for label, (_, end) in ends.items()):
        return set()
    found: set[int] = set()
    start = min(p.frame for p in obj.prompts)
    session = TrackingSession(tracking.video_path, tracking.segmenter, tracking.tracker, work_dir=work,
                              detect_cuts=tracking.detect_cuts, refine=tracking.refine_options,
                              evidence=tracking.evidence_options, video_stream=stream)
    try:
        session.add_prompts(PromptSet((obj,), source))
        for f, ids, masks in session.propagate(start):
            if session.states(f).get(obj.id) not in FOLLOWED or obj.id not in ids:
                break
            mask = masks[ids.index(obj.id)]
            for label, (last, end) in list(ends.items()):
                if f == end and not _on(floor, f, last, mask):
                    del ends[label]  # the mask left the face it kept: no evidence after
                    continue
                if f <= end:
                    continue
                new = [d for d in floor.get(f, ()) if d.label == label and lies_on(mask, d) and
                       (d.object_id is None or d.object_id not in tracks or tracks[d.object_id].first_frame > end)]
                if len(new) > 1 or any(d.object_id is None for d in new):
                    del ends[label]  # undecided: nothing kept from here
                elif new and new[0].object_id not in found and tracks[new[0].object_id].first_frame == f:
                    oid = new[0].object_id
                    found.add(oid)
                    ends[label] = (oid, tracks[oid].last.frame)
            ends = {label: e for label, e in ends.items()
                    if _candidates(tracks, kept | found, label, e[1])}
            if not ends:
                break
    finally:
        session.close()
    return found


def _ends(kept: set[int], tracks: Mapping[int, Track]) -> dict[str, tuple[int, int]]:
    """Label → (object id, frame) of the kept track of that label detected last."""
    out: dict[str, tuple[int, int]] = {}
    for oid in kept:
        track = tracks.get(oid)
        if track is not None and (track.label not in out or track.last.frame > out[track.label][1]):
            out[track.label] = (oid, track.last.frame)
    return out


def _candidates(tracks: Mapping[int, Track], kept: set[int], label: str, end: int) -> list[int]:
    """Tracks of ``label`` starting after frame ``end`` that are not kept."""
    return [oid for oid, t in tracks.items() if t.label == label and oid not in kept and t.first_frame > end]


def _on(floor: Mapping[int, Sequence[FrameDetection]], frame: int, oid: int, mask) -> bool:  # noqa: ANN001
    """Whether object ``oid``'s detection on ``frame`` lies on ``mask`` (bool H×W)."""
    return any(d.object_id == oid and lies_on(mask, d) for d in floor.get(frame, ()))
