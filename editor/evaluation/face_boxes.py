"""Face boxes labelled on real footage: one list of boxes per frame, read from JSON.

Two layouts are read:

* a JSON list with one entry per frame, each a list of ``[x0, y0, x1, y1]`` boxes (the
  field cases' ``f32_gt.json``);
* a JSON object whose ``"frames"`` is that list, with ``"width"``, ``"height"``,
  ``"frame_count"`` of the video, ``"how"`` (how the boxes were made and checked), optional
  ``"unsure"`` (frame index as a string → boxes of faces that may or may not count: not
  scored) and ``"notes"`` (frame index as a string → a remark). The hand-checked files
  ``tests/data/bikes_faces_gt.json`` and ``tests/data/carphone_faces_gt.json`` are of this
  kind (``tests/data/bikes_faces_gt.md`` describes how they were made).

Boxes are in the video's frame pixels, x1/y1 exclusive. :func:`frame_truths` turns them
into the truth that :mod:`editor.evaluation.redaction` scores (changed pixels, false
redactions); :mod:`editor.evaluation.face_detail` says which faces an edit left visible.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from editor.evaluation.faces import FaceTruth, FrameTruth, ellipse_mask

Box = tuple[int, int, int, int]
"""(x0, y0, x1, y1) in frame pixels, x1/y1 exclusive."""


@dataclass(frozen=True)
class FaceBoxes:
    """The face boxes of every frame of one video (``frames[i]``: frame ``i``'s boxes).

    ``width``/``height``/``frame_count`` are the video's when the file states them (else
    ``None``); ``unsure`` maps a frame index to boxes that are not scored; ``how`` says how
    the boxes were made.
    """

    frames: tuple[tuple[Box, ...], ...]
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    unsure: dict[int, tuple[Box, ...]] = field(default_factory=dict)
    how: str = ""

    @property
    def face_frames(self) -> int:
        """Boxes over all frames (a frame with two faces counts twice)."""
        return sum(len(boxes) for boxes in self.frames)


def _box(value: object) -> Box:
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError(f"a box must be [x0, y0, x1, y1], got {value!r}")
    x0, y0, x1, y1 = (int(v) for v in value)
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"empty box {value!r}")
    return (x0, y0, x1, y1)


def load_face_boxes(path: str | Path) -> FaceBoxes:
    """Read ``path`` (either layout of the module docstring). Raises ``ValueError`` naming the
    file for a box that is not four numbers or is empty."""
    data = json.loads(Path(path).read_text())
    try:
        if isinstance(data, list):
            return FaceBoxes(tuple(tuple(_box(b) for b in boxes) for boxes in data))
        frames = tuple(tuple(_box(b) for b in boxes) for boxes in data["frames"])
        unsure = {int(k): tuple(_box(b) for b in v) for k, v in data.get("unsure", {}).items()}
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"{path}: {exc}") from None
    return FaceBoxes(frames, data.get("width"), data.get("height"), data.get("frame_count"), unsure,
                     data.get("how", ""))


UNSURE_ID = 1000
"""Face ids from which :func:`frame_truths` numbers the unsure boxes."""


def frame_truths(faces: FaceBoxes) -> list[FrameTruth]:
    """One :class:`FrameTruth` per frame: every box as a face whose pixels are the ellipse
    inscribed in it (the part inside the frame when the size is known), ids 0, 1, … in the
    frame's order; unsure boxes follow with ids from :data:`UNSURE_ID` (so that a redaction
    there is not counted as false; leave them out of any coverage)."""
    out = []
    for t, boxes in enumerate(faces.frames):
        truths = []
        for face, box in [*enumerate(boxes), *enumerate(faces.unsure.get(t, ()), UNSURE_ID)]:
            (ox, oy), mask = ellipse_mask(box)
            area = int(np.count_nonzero(mask))
            if faces.width is not None and faces.height is not None:
                mask = mask[max(0, -oy):faces.height - oy, max(0, -ox):faces.width - ox]
                ox, oy = max(0, ox), max(0, oy)
            truths.append(FaceTruth(face, tuple(float(v) for v in box), area, (ox, oy), mask))  # type: ignore[arg-type]
        out.append(FrameTruth(t, tuple(truths)))
    return out
