"""Person masks labelled by hand on real footage, read from JSON (``tests/data/people_gt.json``;
how they were made: ``tests/data/people_gt.md``).

Layout: ``{"version": 1, "how": …, "clips": {<video file name>: {"sha256", "width",
"height", "frame_count", "objects": {<name>: <what it covers>}, "frames": {<index>:
{<name>: [<polygon>, …]}}}}}`` where a polygon is a list of ``[x, y]`` vertices in frame
pixels (pixel centres at integer coordinates, filled with OpenCV's ``fillPoly``). A frame
lists the objects visible on it; an object absent from a labelled frame is not there.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True)
class PersonMasks:
    """One clip's hand-labelled person masks.

    ``frames``: frame index → object name → bool H×W mask (the union of its polygons);
    ``objects``: name → what the mask covers; ``sha256`` of the video they belong to.
    """

    video: str
    sha256: str
    width: int
    height: int
    frame_count: int
    objects: dict[str, str]
    frames: dict[int, dict[str, np.ndarray]]

    def union(self, index: int) -> np.ndarray:
        """Every labelled person on frame ``index`` (bool H×W)."""
        out = np.zeros((self.height, self.width), bool)
        for mask in self.frames.get(index, {}).values():
            out |= mask
        return out

    def check_video(self, path: Path) -> None:
        """Raise ``ValueError`` when ``path`` is not the video the masks were drawn on."""
        actual = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if actual != self.sha256:
            raise ValueError(f"{path}: SHA-256 {actual}, the masks were drawn on {self.sha256}")


def polygon_mask(polygons: list[list[list[float]]], height: int, width: int) -> np.ndarray:
    """The filled ``polygons`` (lists of ``[x, y]`` vertices) as a bool ``height``×``width`` mask."""
    out = np.zeros((height, width), np.uint8)
    for poly in polygons:
        cv2.fillPoly(out, [np.round(np.asarray(poly, np.float64)).astype(np.int32)], 1)
    return out > 0


def load_person_masks(path: str | Path, video: str) -> PersonMasks:
    """The masks of ``video`` (its file name) in the JSON file ``path``. Raises ``KeyError``
    when the file has no such clip, ``ValueError`` for a malformed file."""
    data = json.loads(Path(path).read_text())
    clip = data["clips"][video]
    width, height = int(clip["width"]), int(clip["height"])
    frames = {int(k): {name: polygon_mask(polys, height, width) for name, polys in objs.items()}
              for k, objs in clip["frames"].items()}
    return PersonMasks(video, str(clip["sha256"]), width, height, int(clip["frame_count"]),
                       {str(k): str(v) for k, v in clip.get("objects", {}).items()}, frames)
