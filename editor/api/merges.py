"""Person instances the person model merged with a neighbour, told by their area.

When two people touch, a person-segmentation model gives both one region for a while; that
region is one person's track (:mod:`editor.detection.objects`). Such a frame shows in the
track's own mask area: it jumps. Two uses, one rule (:data:`MASK_SPIKE`):

* :func:`spikes` — a one-frame outlier (the frames just before and after are far smaller,
  or far larger): the detection pass gives no prompt there
  (:func:`editor.detection.objects.mask_spikes`);
* :func:`jumps` — every frame whose area is a jump from the track's last steady area, until
  it comes back: a kept person's body is never uncovered whole there
  (:func:`editor.api.stages.kept_pixels`), since the region may hold a neighbour's body.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from editor.api.detectors import FrameDetection
from editor.api.prompts import load_mask_file

MASK_SPIKE = 2.0
"""Area ratio from which a person's mask is taken for the model's error or a merge rather
than the person: more than this many times the mask it follows (or, for a one-frame
outlier, less than it over this). A person's visible area does not double from one frame of
video to the next; a segmentation model's does when motion blur or a passing vehicle
confuses it for one frame (bikes.mp4 frame 103, as the cyclist comes out from behind a car:
41 000 px of car, pole and wall between masks of 4 000 and 11 000 px — the background swap
showed them for one frame), or when two people of about one size touch. A bound, not a
tuned value: at 2 no frame of the tuning clips (carphone, the walking man, the crossing
composite) changes."""

Areas = Sequence[tuple[int, int]]
"""A track's (frame, mask area in pixels) in frame order."""


def spikes(areas: Areas) -> set[int]:
    """Frames whose area is a one-frame outlier: the frames just before and after are there
    too, and this one's area is more than :data:`MASK_SPIKE` times both of theirs or less
    than both over :data:`MASK_SPIKE`."""
    out: set[int] = set()
    for (fa, a), (fb, b), (fc, c) in zip(areas, areas[1:], areas[2:]):
        if fa + 1 == fb and fb + 1 == fc and (b > MASK_SPIKE * max(a, c) or MASK_SPIKE * b < min(a, c)):
            out.add(fb)
    return out


def jumps(areas: Areas) -> set[int]:
    """:func:`spikes`, and every frame whose area is more than :data:`MASK_SPIKE` times the
    last steady one (the area of the last frame that was not itself a jump): a region that
    swelled stays a jump until it shrinks back, however long the merge lasts. Growing by less
    from frame to frame (a person walking towards the camera) is steady."""
    out = spikes(areas)
    steady: int | None = None
    for frame, area in areas:
        if frame in out:
            continue
        if steady is not None and area > MASK_SPIKE * steady:
            out.add(frame)
            continue
        steady = area
    return out


def merged_frames(floor: Mapping[int, Iterable[FrameDetection]], ids: Iterable[int]) -> dict[int, frozenset[int]]:
    """For each of ``ids`` (person instances: detected objects with their own masks), the
    frames of every frame's detections ``floor`` on which its own mask is a jump
    (:func:`jumps`). The one rule for a run, a render from a masks folder and the web UI's
    preview (:attr:`editor.api.stages.StageContext.merged`)."""
    wanted = set(ids)
    areas: dict[int, list[tuple[int, int]]] = {i: [] for i in wanted}
    for frame in sorted(floor):
        for d in floor[frame]:
            if d.object_id in wanted and d.mask_png is not None:
                areas[d.object_id].append((frame, int(np.count_nonzero(load_mask_file(d.mask_png, 1)))))
    return {i: frozenset(jumps(a)) for i, a in areas.items()}
