"""A weak classical licence-plate detector: the ``plates`` default, meant to be replaced.

Why not OpenCV's Haar cascade
-----------------------------
The redaction issue asked for OpenCV's bundled licence-plate cascade
(``haarcascade_russian_plate_number.xml``). The OpenCV that trackedit runs on (the
``opencv-python-headless`` 5 wheels) no longer has ``cv2.CascadeClassifier`` — the Haar and
LBP cascade detectors left the main modules in OpenCV 5 — and no cascade XML files ship with
it. A cascade would also have been weak (one country's plates, frontal only). So the default
is this small classical detector, and a real plate detector belongs in a plugin: register a
:class:`editor.api.detectors.DetectorSpec` named ``plates`` (or another name) wrapping, for
example, a YOLO model trained on plates (``docs/redaction.md``, "Automatic redaction").

How it works
------------
A plate is a light (or dark) rectangle, 2–6 times wider than high, holding a row of
characters: strong, dense *vertical* edges, evenly spread along a horizontal band.

1. Candidates: the grey image's horizontal gradient (|Sobel x|), binarised at a high
   percentile, is closed with flat horizontal kernels at three widths (characters of a plate
   merge into one blob, at several plate sizes), opened to drop thin lines, and every blob's
   bounding box with an aspect ratio of 2–6 and a size within ``min_width`` … ``max_width``
   is a candidate (also when slightly padded, since the closing may eat the plate's margin).
2. Score in [0, 1], the product of three checks on the candidate's grey pixels:
   *characters* — the box binarised with Otsu's threshold holds 3–10 characters: connected
   components (either polarity) 35–95 % of the box height whose centres lie on one line and
   spread over most of its width (a blob k characters wide, touching letters, counts k);
   *contrast* — between the 10th and 90th percentile; *edges* — vertical-edge density inside
   the box versus the band just above and below it (a plate stands out from its surroundings).
3. A kept candidate (the band of characters) is grown to the plate's background rectangle
   around it (:func:`refine_box`); overlapping ones are merged by non-maximum suppression.

It finds clean, roughly frontal plates from about 70 px wide (at ``work_width``); it misses
blurred, small, dirty or strongly slanted plates, and text on signs and shop fronts can fool
it. Treat it as a placeholder.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import Field

from editor.api.backends import BackendOptions
from editor.api.detectors import Detection
from editor.detection.centerface import nms

LABEL = "plate"
ASPECT = (2.0, 6.0)
"""Width / height range of plate candidates."""


class PlateDetectorOptions(BackendOptions):
    """Options of the weak classical ``plates`` detector (``--backend-set plates.OPTION=VALUE``)."""

    threshold: float = Field(0.3, ge=0.0, le=1.0)
    """Score (0…1: characters × contrast × edge contrast) below which nothing is reported."""
    min_width: int = Field(48, ge=16, le=4096)
    """Narrowest plate to look for, in frame pixels."""
    max_width: float = Field(0.5, gt=0.0, le=1.0)
    """Widest plate to look for, as a fraction of the frame width."""
    work_width: int = Field(1920, ge=320, le=8192)
    """Frames wider than this are searched at this width (boxes come back in frame pixels);
    ``min_width`` shrinks with them but never below 24 px."""
    nms_iou: float = Field(0.3, gt=0.0, le=1.0)
    """Overlap from which two candidates are the same plate (the lower score is dropped)."""


@dataclass(frozen=True)
class PlateScore:
    """The checks behind a candidate's score (each in [0, 1]; ``score`` is their product)."""

    characters: float
    contrast: float
    edges: float

    @property
    def score(self) -> float:
        return self.characters * self.contrast * self.edges


def _vertical_edges(gray: np.ndarray) -> np.ndarray:
    """|∂/∂x| of ``gray`` (float32, same size)."""
    return np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3))


def _candidates(edges: np.ndarray, min_width: int, max_width: int) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) of horizontal blobs of strong vertical edges with a plate's shape."""
    height, width = edges.shape
    level = float(np.percentile(edges, 90))
    binary = (edges > max(level, 40.0)).astype(np.uint8)
    boxes: set[tuple[int, int, int, int]] = set()
    plate_w = min_width
    while plate_w <= max_width:
        k = max(3, int(round(plate_w * 0.15)) | 1)
        closed = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (k, 1)))
        opened = cv2.morphologyEx(closed, cv2.MORPH_OPEN,
                                  cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, k // 2), max(3, k // 4))))
        count, _, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
        for x, y, w, h, _area in stats[1:]:
            if not (plate_w * 0.7 <= w <= plate_w * 2.2) or w > max_width or h < 8:
                continue
            if not (ASPECT[0] * 0.8 <= w / h <= ASPECT[1] * 1.25):
                continue
            pad_x, pad_y = int(round(w * 0.06)), int(round(h * 0.2))
            boxes.add((max(0, x - pad_x), max(0, y - pad_y), min(width, x + w + pad_x), min(height, y + h + pad_y)))
        plate_w *= 2
    return sorted(boxes)


def _character_check(crop: np.ndarray) -> float:
    """How much ``crop`` (grey uint8, one candidate) looks like a row of characters (0…1)."""
    h, w = crop.shape
    _, light = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    best = 0.0
    for binary in (light, 255 - light):  # dark characters on light, or light on dark
        count, _, stats, centroids = cv2.connectedComponentsWithStats(binary, connectivity=8)
        sizes = stats[1:]
        centres = centroids[1:]
        ok = ((sizes[:, 3] >= 0.35 * h) & (sizes[:, 3] <= 0.95 * h) & (sizes[:, 2] <= 0.4 * w)
              & (sizes[:, 2] >= 0.02 * w) & (sizes[:, 4] >= 0.15 * sizes[:, 2] * sizes[:, 3]))
        if ok.sum() < 2:
            continue
        ys = centres[ok, 1]
        on_line = np.abs(ys - np.median(ys)) <= 0.15 * h
        # small characters touch: a blob as wide as k characters (about 0.75 × its height each) counts k
        chars = sizes[ok][on_line]
        n = int(np.maximum(1, np.round(chars[:, 2] / (0.75 * chars[:, 3]))).sum())
        if n < 3:
            continue
        xs = np.sort(centres[ok][on_line, 0])
        spread = (xs[-1] - xs[0]) / w  # characters span most of a plate
        value = min(1.0, (n - 2) / 3) * (1.0 if n <= 10 else 0.5) * float(np.clip((spread - 0.3) / 0.3, 0, 1))
        best = max(best, value)
    return best


def score_candidate(gray: np.ndarray, edges: np.ndarray, box: tuple[int, int, int, int],
                    floor: float = 0.0) -> PlateScore:
    """The checks of one candidate box (x0, y0, x1, y1) on ``gray`` (uint8) and its |Sobel x|
    ``edges``. The character check (the costly one) is skipped, scored 0, when contrast × edges
    is already below ``floor``."""
    x0, y0, x1, y1 = box
    crop = gray[y0:y1, x0:x1]
    if crop.size == 0:
        return PlateScore(0.0, 0.0, 0.0)
    p10, p90 = np.percentile(crop, (10, 90))
    contrast = float(np.clip((p90 - p10) / 100.0, 0.0, 1.0))
    inside = float(edges[y0:y1, x0:x1].mean())
    band = max(2, (y1 - y0) // 2)
    around = np.concatenate([edges[max(0, y0 - band):y0, x0:x1].ravel(), edges[y1:y1 + band, x0:x1].ravel()])
    outside = float(around.mean()) if around.size else 0.0
    edge_ratio = inside / (outside + 1.0)
    edges_score = float(np.clip((edge_ratio - 1.0) / 2.0, 0.0, 1.0))
    if contrast * edges_score < floor or contrast * edges_score == 0.0:
        return PlateScore(0.0, contrast, edges_score)
    return PlateScore(_character_check(crop), contrast, edges_score)


def refine_box(gray: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Grow a candidate (the characters' band) to the plate's background rectangle around it.

    The candidate is binarised with Otsu's threshold; the class covering more of it is the
    plate's background. In a window one box-height above and below and half a box-width to
    each side, the connected region of that class that covers most of the candidate, with the
    candidate itself, is the plate when it is a solid rectangle of a plate's shape (fills 80 %
    of its bounding box, aspect ratio 1.5–7.5) that stays inside the window; else (a plate on a car body of the same
    shade, the region leaks into the scene) the candidate is kept.
    """
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    height, width = gray.shape
    crop = gray[y0:y1, x0:x1]
    if crop.size == 0:
        return box
    level, light = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    background_light = np.count_nonzero(light) >= light.size / 2
    wx0, wy0 = max(0, x0 - w // 2), max(0, y0 - h)
    wx1, wy1 = min(width, x1 + w // 2), min(height, y1 + h)
    window = gray[wy0:wy1, wx0:wx1]
    mask = (window > level) if background_light else (window <= level)
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=4)
    inner = labels[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0]
    votes = np.bincount(inner.ravel(), minlength=count)
    votes[0] = 0
    if votes.max() < 0.3 * inner.size:
        return box
    region = labels == int(votes.argmax())
    region[y0 - wy0:y1 - wy0, x0 - wx0:x1 - wx0] = True  # the characters belong to the plate
    ys, xs = np.nonzero(region)
    gx0, gy0, gx1, gy1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    fill = region[gy0:gy1, gx0:gx1].mean()
    aspect = (gx1 - gx0) / (gy1 - gy0)
    leaked = ((gx0 == 0 and wx0 > 0) or (gy0 == 0 and wy0 > 0) or (gx1 == wx1 - wx0 and wx1 < width)
              or (gy1 == wy1 - wy0 and wy1 < height))
    if leaked or fill < 0.8 or not (ASPECT[0] * 0.75 <= aspect <= ASPECT[1] * 1.25):
        return box  # not a solid plate-shaped rectangle inside the window: it leaked into the scene
    return (int(gx0) + wx0, int(gy0) + wy0, int(gx1) + wx0, int(gy1) + wy0)


class PlateDetector:
    """The weak classical ``plates`` detector (module docstring); implements
    :class:`editor.api.detectors.Detector`."""

    def __init__(self, options: PlateDetectorOptions | None = None) -> None:
        self.options = options or PlateDetectorOptions()

    def detect(self, image: np.ndarray, frame_index: int) -> list[Detection]:
        """Plates on ``image`` (RGB uint8 H×W×3; ``frame_index`` unused): boxes in frame pixels,
        score in [0, 1] (at or above ``threshold``), label ``"plate"``, highest score first.
        Raises ``ValueError`` for an image that is not H×W×3 uint8."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 H×W×3 image, got {image.dtype} {image.shape}")
        o = self.options
        height, width = image.shape[:2]
        factor = min(1.0, o.work_width / width)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if factor < 1.0:
            gray = cv2.resize(gray, (round(width * factor), round(height * factor)), interpolation=cv2.INTER_AREA)
        edges = _vertical_edges(gray)
        min_width = max(24, int(round(o.min_width * factor)))
        max_width = int(round(o.max_width * gray.shape[1]))
        boxes, scores = [], []
        for box in _candidates(edges, min_width, max_width):
            score = score_candidate(gray, edges, box, o.threshold).score
            if score >= o.threshold:
                boxes.append(refine_box(gray, box))
                scores.append(score)
        if not boxes:
            return []
        b = np.asarray(boxes, np.float32) / factor
        s = np.asarray(scores, np.float32)
        keep = nms(b, s, o.nms_iou)
        return [Detection(tuple(float(v) for v in b[i]), float(s[i]), LABEL) for i in keep]  # type: ignore[arg-type]
