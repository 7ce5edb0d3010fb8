"""Tracks → objects of the prompt contract, and classes of objects for presets.

Each track becomes an object named ``<label>-<n>`` (``face-1``, ``face-2``… numbered by
first appearance; a name the user already gave is skipped) with ids after the user's
objects, and one prompt on each frame the track was detected on (its box grown by
``margin`` on every side, see :class:`~editor.detection.options.DetectOptions`) — and, for
the box and ellipse shapes, on every frame between two detections close enough to bridge
(``bridge``: the box interpolated linearly):

* ``shape = "mask"``: a box prompt (clipped to the frame) — the segmenter segments the
  object inside it;
* ``shape = "box"`` / ``"ellipse"``: a shape prompt (``{"box": …, "shape": "ellipse"}``) —
  the box or its inscribed ellipse is the mask, as given (no segmentation; the box may
  extend past the frame, a face half out of view keeps its whole ellipse's visible part).

The tracking engine then propagates every object in both directions from its prompts.

**Classes.** :func:`detector_groups` maps each detector's name to the objects named after
its labels (``faces`` → every ``face-<n>``): a stage's ``objects = ["faces"]`` selects them
all (:func:`editor.api.stages.select_objects`), also in runs from a masks folder or a saved
prompts file, since only the names are needed.
"""
from __future__ import annotations

import bisect
import logging
import math
import re
from collections.abc import Mapping, Sequence

import numpy as np

from editor.api.detectors import DetectorSpec, FrameDetection
from editor.api.merges import spikes
from editor.api.prompts import MAX_OBJECT_ID, ObjectPrompts, Prompt, PromptSet
from editor.detection.association import WEAK_RUN, Observation, Track, clip_box
from editor.detection.options import DetectOptions

log = logging.getLogger(__name__)


def grown_box(raw_box: tuple[float, float, float, float], margin: float) -> tuple[float, float, float, float]:
    """A detector's box grown by ``margin`` of its width (left and right) and height (top and
    bottom) on every side (:attr:`DetectOptions.margin`), rounded to 0.01 px."""
    x0, y0, x1, y1 = raw_box
    mx, my = margin * (x1 - x0), margin * (y1 - y0)
    return (round(x0 - mx, 2), round(y0 - my, 2), round(x1 + mx, 2), round(y1 + my, 2))


def frame_detections(detections: Mapping[int, Sequence[tuple[Observation, str]]],
                     pairs: Sequence[tuple[ObjectPrompts, Track]], options: DetectOptions, *,
                     width: int = 0, height: int = 0, frames: int = 0,
                     cuts: Sequence[int] = ()) -> dict[int, tuple[FrameDetection, ...]]:
    """Every frame's detections as redaction covers them (the floor,
    :class:`~editor.api.detectors.FrameDetection`): each detection's box grown by the margin,
    as an ellipse (``box`` for the box shape), with its detector's name and the id of the
    object whose track it joined (``None`` for none: dropped as noise or beyond the 255
    ids). ``detections``: :attr:`editor.detection.scan.ScanResult.detections`.

    The floor is then carried by each track's motion where the detector cannot see what is
    still there (:func:`carried`): across gaps of at most :attr:`DetectOptions.carry` frames
    between two detections of a track (the box interpolated: a face behind a post, turned, or
    blurred), and — given the frame's ``width`` and ``height`` — before a track's first and
    after its last detection while the box, moved at the track's speed, still overlaps the
    frame (a face entering or leaving over the border is detected only once most of it is
    in view) or, inside the frame, until it has moved its own size (a face entering or
    leaving an occluder: the detector stops at half a face, whose visible half sits where
    the moved box is). Never across a shot cut (``cuts``) nor past ``frames``."""
    owner = {id(o): obj.id for obj, track in pairs for o in track.observations}
    shape = "box" if options.shape == "box" else "ellipse"
    out: dict[int, list[FrameDetection]] = {
        f: [FrameDetection(grown_box(o.raw_box, options.margin), name, owner.get(id(o)), shape, o.label)
            if o.mask_png is None else FrameDetection(o.box, name, owner.get(id(o)), "mask", o.label, o.mask_png)
            for o, name in found]
        for f, found in sorted(detections.items())}
    names = {id(o): name for found in detections.values() for o, name in found}
    for obj, track in pairs:
        if not track.observations:
            continue
        name = names.get(id(track.observations[0]), "")
        for f, raw in carried(track, options.carry, width, height, frames, cuts):
            out.setdefault(f, []).append(FrameDetection(grown_box(raw, options.margin), name, obj.id, shape,
                                                        track.label))
    return {f: tuple(found) for f, found in sorted(out.items())}


SPEED_VIEWS = 8
"""Detections a track's speed at either end is fitted over (least squares on the box centres):
a face emerging from behind an occluder grows out of it, so its box's centre jitters by a
pixel or two between single detections — two end points three frames apart measured a face
walking at 1 px per frame as standing still, and nothing before its first detection was
covered (issue 22, the generated clip ``edge-tune-3``)."""


def _end_velocity(near: Sequence[Observation]) -> tuple[float, float]:
    """Velocity (px per frame, x and y, forward in time) of the box centres of ``near`` (one
    end of a track, in frame order), by a least-squares line through (frame, centre)."""
    if len(near) < 2:
        return 0.0, 0.0
    t = np.array([o.frame for o in near], np.float64)
    c = np.array([((o.raw_box[0] + o.raw_box[2]) / 2, (o.raw_box[1] + o.raw_box[3]) / 2) for o in near], np.float64)
    t -= t.mean()
    denom = float((t * t).sum())
    if denom <= 0:
        return 0.0, 0.0
    vx, vy = (t[:, None] * (c - c.mean(0))).sum(0) / denom
    return float(vx), float(vy)


def carried(track: Track, gap: int, width: int, height: int, frames: int,
            cuts: Sequence[int] = ()) -> list[tuple[int, tuple[float, float, float, float]]]:
    """(frame, raw box) where the track is carried by its motion (see
    :func:`frame_detections`): interpolated across gaps of 2…``gap`` frames, and — with a
    frame size — extrapolated at the track's speed (fitted over its first or last
    :data:`SPEED_VIEWS` detections; at least 0.5 px per frame, |vx| + |vy|) before its first and after its last detection,
    at most ``gap`` frames: when it entered or leaves across the border (its first or last
    box within one box size of the border it moves through) for as long as the box would
    still overlap the frame — a face detected only once most of it is in view, then cut
    away after a few frames, was bare on the 19 frames it took to come in (a newcomer's
    clip) — but a track of fewer than :data:`~editor.detection.association.WEAK_RUN`
    detections for no more frames than it spans (three detections of a false positive
    touching the top of bikes.mp4 would be carried 25 frames over a parked car); elsewhere (an
    occluder's edge) until the box has moved its own size (its longer side), after which a
    face walking behind an occluder is wholly hidden, and for no more frames than the track
    spans (a short track has no motion worth carrying far) — bounds by construction, not
    tuned constants."""
    obs = track.observations
    out: list[tuple[int, tuple[float, float, float, float]]] = []
    bounds = sorted(cuts)

    def shot_of(f: int) -> int:
        return bisect.bisect_right(bounds, f)

    for a, b in zip(obs, obs[1:]):
        span = b.frame - a.frame
        if 1 < span <= gap and shot_of(a.frame) == shot_of(b.frame):
            for f in range(a.frame + 1, b.frame):
                t = (f - a.frame) / span
                out.append((f, tuple((1 - t) * u + t * v for u, v in zip(a.raw_box, b.raw_box))))  # type: ignore[arg-type]
    if width <= 0 or height <= 0 or len(obs) < 2:
        return out
    for end, step in ((obs[-1], 1), (obs[0], -1)):
        vx, vy = (v * step for v in _end_velocity(obs[-SPEED_VIEWS:] if step > 0 else obs[:SPEED_VIEWS]))
        x0, y0, x1, y1 = end.raw_box
        size = max(x1 - x0, y1 - y0)
        crossing = (vx < 0 and x0 < size) or (vx > 0 and x1 > width - size) or \
            (vy < 0 and y0 < size) or (vy > 0 and y1 > height - size)
        if abs(vx) + abs(vy) < 0.5:
            continue
        # over the border: until the box has left the frame (a 3-frame false positive at the
        # top edge of bikes.mp4 was carried 25 frames over a parked car before the span bound
        # applied here too); inside it (an occluder's edge: the
        # detector stops at half a face): until the box has moved its own size, and no longer
        # than the track's motion was seen (a few detections' jitter is no motion to go on)
        span = obs[-1].frame - obs[0].frame + 1
        if crossing:  # a track seen on WEAK_RUN detections or more is a face: carried until it is out
            reach = gap if len(obs) >= WEAK_RUN else min(gap, span)
        else:
            reach = min(gap, span, math.ceil(size / math.hypot(vx, vy)))
        shot = shot_of(end.frame)
        for k in range(1, reach + 1):
            f = end.frame + step * k
            if f < 0 or (frames and f >= frames) or shot_of(f) != shot:
                break
            box = (x0 + vx * k, y0 + vy * k, x1 + vx * k, y1 + vy * k)
            if box[2] <= 0 or box[3] <= 0 or box[0] >= width or box[1] >= height:
                break
            out.append((f, box))
    return out


def prompt_for(obs: Observation, options: DetectOptions, width: int, height: int, *,
               interpolated: bool = False) -> Prompt:
    """The prompt of one detection (see the module docstring); the box is rounded to 0.01 px.
    ``interpolated``: a bridged box, not a detection (:attr:`Prompt.interpolated`). A
    detection with its own mask (a person) is a mask prompt: that mask, whatever the shape."""
    if obs.mask_png is not None:
        return Prompt(obs.frame, mask_png=obs.mask_png, interpolated=interpolated)
    grown = grown_box(obs.raw_box, options.margin)
    if options.shape == "mask":
        clipped = clip_box(grown, width, height) or obs.box
        return Prompt(obs.frame, box=tuple(round(v, 2) for v in clipped),  # type: ignore[arg-type]
                      interpolated=interpolated)
    return Prompt(obs.frame, box=grown, shape=options.shape, interpolated=interpolated)


def bridged(track: Track, gap: int) -> list[Observation]:
    """The track's detections plus, between two of them at most ``gap`` frames apart, one
    on every frame in between with the box interpolated linearly (score: the lower of the
    two)."""
    out: list[Observation] = []
    for a, b in zip(track.observations, track.observations[1:]):
        out.append(a)
        span = b.frame - a.frame
        if 1 < span <= gap:
            for f in range(a.frame + 1, b.frame):
                t = (f - a.frame) / span
                raw = tuple((1 - t) * u + t * v for u, v in zip(a.raw_box, b.raw_box))
                box = tuple((1 - t) * u + t * v for u, v in zip(a.box, b.box))
                out.append(Observation(f, box, raw, min(a.score, b.score), a.label))  # type: ignore[arg-type]
    out.append(track.observations[-1])
    return out


def mask_spikes(observations: Sequence[Observation]) -> set[int]:
    """Frames of a track (``observations`` in frame order) whose own mask is a one-frame
    outlier: the frames just before and after were detected too, with masks, and this one's
    area (:attr:`Observation.mask_area`) is more than :data:`~editor.api.merges.MASK_SPIKE` times
    both of theirs or less than both over it (:func:`editor.api.merges.spikes`). Such a frame gets no prompt
    (:func:`objects_from_tracks`): the tracker carries the object over it from its
    neighbours. Its detection stays in the floor (:func:`frame_detections`), so what a
    redaction covers there does not shrink."""
    runs: list[list[tuple[int, int]]] = [[]]  # a frame without a mask breaks the run (no neighbours)
    for o in observations:
        if o.mask_area is None:
            runs.append([])
        else:
            runs[-1].append((o.frame, o.mask_area))
    return set().union(*(spikes(run) for run in runs))


def objects_from_tracks(tracks: Sequence[Track], options: DetectOptions, width: int, height: int, *,
                        first_id: int = 1, taken_names: Sequence[str] = (),
                        bridge: int = 0) -> list[tuple[ObjectPrompts, Track]]:
    """One object per track (in the given order), ids from ``first_id``: ``(object, its
    track)`` pairs. When there are more tracks than free ids (at most 255 objects), the
    tracks seen on the most detection frames are kept and a warning is logged. ``bridge``:
    for ``box``/``ellipse`` shapes, detections at most this many frames apart are joined
    by interpolated prompts on the frames between them (:func:`bridged`; 0: none). A
    detection whose own mask is a one-frame outlier (:func:`mask_spikes`) gives no prompt."""
    free = MAX_OBJECT_ID - first_id + 1
    tracks = list(tracks)
    if len(tracks) > free:
        keep = set(id(t) for t in sorted(tracks, key=lambda t: (-len(t.observations), -t.best_score))[:max(0, free)])
        log.warning("%d objects detected, only %d fit in the 255 object ids: the %d seen least often are left out",
                    len(tracks), max(0, free), len(tracks) - max(0, free))
        tracks = [t for t in tracks if id(t) in keep]
    taken = set(taken_names)
    counters: dict[str, int] = {}
    out = []
    for k, track in enumerate(tracks):
        n = counters.get(track.label, 0) + 1
        while f"{track.label}-{n}" in taken:
            n += 1
        counters[track.label] = n
        name = f"{track.label}-{n}"
        taken.add(name)
        masked = any(o.mask_png is not None for o in track.observations)
        observations = bridged(track, bridge) if bridge > 1 and options.shape != "mask" and track.observations \
            and not masked else track.observations
        detected = {o.frame for o in track.observations}
        spikes = mask_spikes(track.observations) if masked else set()
        prompts = tuple(prompt_for(o, options, width, height, interpolated=o.frame not in detected)
                        for o in observations if o.frame not in spikes)
        out.append((ObjectPrompts(first_id + k, name, prompts), track))
    return out


def combine(user: PromptSet | None, detected: Sequence[ObjectPrompts]) -> PromptSet | None:
    """The user's objects followed by the detected ones (``None`` when both are empty);
    the user's prompts file stays the source (mask paths and error messages)."""
    objects = (*(user.objects if user is not None else ()), *detected)
    if not objects:
        return None
    return PromptSet(tuple(objects), user.source if user is not None else None)


def detector_groups(names: Mapping[int, str], detectors: Mapping[str, DetectorSpec]) -> dict[str, set[int]]:
    """Detector name → ids of the objects named ``<label>-<n>`` for one of its labels
    (empty sets included: a preset may select ``faces`` in a video without faces)."""
    groups: dict[str, set[int]] = {}
    for name, spec in detectors.items():
        labels = [re.escape(label) for label in spec.labels]
        pattern = re.compile(rf"(?:{'|'.join(labels)})-\d+") if labels else None
        groups[name] = {oid for oid, n in names.items() if pattern is not None and pattern.fullmatch(n)}
    return groups
