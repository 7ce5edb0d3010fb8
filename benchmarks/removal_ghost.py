"""The removed cyclist's ghost on bikes.mp4 (#28; bikes is held out for #25): how many of
frames 100–130 still show a face where he was (``python -m benchmarks.removal_ghost MASKS
OUTPUT…``).

``MASKS``: the folder of ``trackedit track samples/bikes.mp4`` with the cyclist's box of
``samples/bikes.json`` as object 1; each ``OUTPUT``: the frames of ``trackedit run
samples/bikes.mp4 --preset remove … -o OUTPUT/f_%05d.png`` (PNG per frame, from 0). The
cyclist stands still on 104–136, so his region is the union of his masks there, grown 8 px;
a frame shows his face when the project's face detector (CenterFace,
:mod:`editor.detection.centerface`, its default operating point 0.5) finds a face centred in
that region. The input is counted too (his own face: the detector's recall there).
"""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from editor.api.masks import read_label_png
from editor.imaging.compositing import grow
from editor.video.reader import iter_frames

FRAMES = range(100, 131)
VIDEO = Path(__file__).resolve().parent.parent / "samples" / "bikes.mp4"


def region(masks: Path) -> np.ndarray:
    r = None
    for f in range(104, 137):
        m = read_label_png(masks / f"{f:05d}.png") == 1
        r = m if r is None else r | m
    assert r is not None
    return grow(r, 8)


def frames_with_a_face(images: dict[int, np.ndarray], where: np.ndarray, video: bool) -> list[int]:
    """The frames (RGB uint8) with a face scoring ≥ 0.5 centred in ``where``. ``video``: the
    frames given to the detector as a video (a frame following another is searched from the
    faces before, as ``--detect faces`` runs); otherwise each frame alone (given as frame 0:
    the whole pyramid, every proposal verified)."""
    from editor.detection.centerface import create_detector

    detector = create_detector()
    hits = []
    for index, image in images.items():
        for d in detector.detect(image, index if video else 0):
            x0, y0, x1, y1 = d.box
            cx, cy = int((x0 + x1) / 2), int((y0 + y1) / 2)
            if d.score >= 0.5 and 0 <= cy < where.shape[0] and 0 <= cx < where.shape[1] and where[cy, cx]:
                hits.append(index)
                break
    return hits


def main(argv: list[str]) -> int:
    masks, outputs = Path(argv[0]), [Path(a) for a in argv[1:]]
    where = region(masks)
    source = {f.index: f.image for f in iter_frames(VIDEO) if f.index in FRAMES}
    runs = [("input", source)] + [
        (str(out), {i: cv2.cvtColor(cv2.imread(str(out / f"f_{i:05d}.png")), cv2.COLOR_BGR2RGB) for i in FRAMES})
        for out in outputs]
    for name, images in runs:
        for video in (False, True):
            hits = frames_with_a_face(images, where, video)
            print(f"{name} ({'as a video' if video else 'each frame alone'}): {len(hits)}/{len(FRAMES)} frames "
                  f"with a face in the cyclist's region {hits}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
