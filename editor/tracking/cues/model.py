"""What is known about one object in one pass (:class:`ObjectModel`) and one frame at the
working resolution (:class:`FrameData`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Literal

import cv2
import numpy as np

from editor.api.frames import Frame
from editor.backends.classic.morphology import bbox, resize_mask
from editor.tracking.cues.tuning import BINS, NBINS, SHIFT

State = Literal["prompt", "tracked", "found", "held", "lost"]


@dataclass
class View:
    """A full view of the object: crop (RGB uint8 h×w×3) and bool mask (h×w) at the working
    resolution."""

    patch: np.ndarray
    mask: np.ndarray


@dataclass
class ObjectModel:
    """What is known about one object in one pass: colour histograms (NBINS floats each),
    views, position and size (working px), velocity (px per frame), state."""

    fg: np.ndarray
    bg: np.ndarray
    like_ref: float
    anchor_fg: np.ndarray
    """The colours of the first (prompted) view: half of the object's colour model always."""
    view: View
    anchor: View
    cx: float
    cy: float
    w: float
    h: float
    area: float
    """Area of a full view (working px)."""
    frame: int
    vx: float = 0.0
    vy: float = 0.0
    last: np.ndarray | None = None
    """The last accepted mask (working resolution) and the frame it is from."""
    last_frame: int = 0
    state: State = "prompt"
    held_for: int = 0
    lost_for: int = 0
    uncertain: int = 0
    """Frames the motion is still unknown (just re-acquired): positions are checked loosely."""
    streak: int = 0
    """Consecutive confident frames: the model learns only from a steady track."""
    ratio: np.ndarray = field(default_factory=lambda: np.full(NBINS, 0.5, np.float32))

    def refresh_ratio(self) -> None:
        # colours seen in neither histogram count as "not the object"
        self.ratio = (self.fg / (self.fg + self.bg + 1.0 / NBINS)).astype(np.float32)

    def likelihood(self, codes: np.ndarray) -> np.ndarray:
        """Per-pixel likelihood (float32, [0, 1]) of being the object, from colour codes."""
        return self.ratio[codes]

    def predicted_centre(self, frame: int) -> tuple[float, float]:
        """Centre (working px) the motion predicts on ``frame``."""
        dt = abs(frame - self.frame)
        return self.cx + self.vx * dt, self.cy + self.vy * dt


class FrameData:
    """One frame at the working resolution (``scale`` × the frame's), with colour codes and
    lazily computed likelihoods per object."""

    def __init__(self, frame: Frame, scale: float) -> None:
        self.index = frame.index
        self.damaged = frame.damaged
        image = frame.image
        if image.dtype != np.uint8:
            image = (image >> 8).astype(np.uint8)
        self.full_shape = image.shape[:2]
        h, w = self.full_shape
        self.size = (max(1, round(w * scale)), max(1, round(h * scale)))
        self.image = image if scale >= 1.0 else cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        q = (self.image >> SHIFT).astype(np.uint16)
        self.codes = (q[..., 0] * BINS + q[..., 1]) * BINS + q[..., 2]
        self.shape = self.codes.shape
        self._like: dict[int, np.ndarray] = {}

    def like(self, oid: int, model: ObjectModel) -> np.ndarray:
        """The object's colour likelihood map on this frame (cached until :meth:`forget`)."""
        if oid not in self._like:
            self._like[oid] = model.likelihood(self.codes)
        return self._like[oid]

    def forget(self, oid: int) -> None:
        self._like.pop(oid, None)

    def padded(self, pad: int) -> np.ndarray:
        """The image with ``pad`` black pixels around it (for windows that leave the frame)."""
        if getattr(self, "_pad", (0, None))[0] < pad:
            self._pad = (pad, cv2.copyMakeBorder(self.image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0))
        p, img = self._pad
        return img[p - pad:img.shape[0] - (p - pad), p - pad:img.shape[1] - (p - pad)]

    def small(self, mask: np.ndarray, box: tuple[int, int, int, int] | None | bool = True) -> np.ndarray:
        """A full-size mask at the working resolution (``cv2.resize``: area averaging above a
        2× reduction, else nearest; any covered pixel counts). Where the two sizes have a
        short common period (1280 → 480: 8 → 3 pixels), only the periods around the mask's
        bounding box are resized — the same pixels, at a cost that follows the object.
        ``box``: the mask's exact :func:`~editor.api.masks.bbox` when the caller has it
        (``None``: empty); ``True``: measured here."""
        if mask.shape == self.shape:
            return mask.astype(bool)
        area = mask.shape[0] > self.shape[0] * 2
        if area and mask.shape == self.full_shape:
            part = _area_window(mask, self.shape, box)
            if part is not None:
                return part
        return cv2.resize(mask.astype(np.uint8), self.size, interpolation=cv2.INTER_AREA if
                          area else cv2.INTER_NEAREST) > 0

    def full(self, mask: np.ndarray) -> np.ndarray:
        """A working-resolution mask at the frame's size
        (:func:`editor.backends.classic.morphology.resize_mask`)."""
        if mask.shape == self.full_shape:
            return mask
        h, w = self.full_shape
        return resize_mask(mask, (w, h))


def _area_window(mask: np.ndarray, shape: tuple[int, int],
                 box: tuple[int, int, int, int] | None | bool = True) -> np.ndarray | None:
    """``mask`` (bool H×W) reduced to ``shape`` by area averaging, computed on whole periods
    of the two grids around its bounding box; ``None`` where a period is long (over a
    quarter of the frame) and the whole frame is cheaper to resize."""
    out = np.zeros(shape, bool)
    box = bbox(mask) if box is True else box
    if box is None:
        return out
    spans = []
    for (lo, hi), big, small in (((box[1], box[3]), mask.shape[0], shape[0]),
                                 ((box[0], box[2]), mask.shape[1], shape[1])):
        ratio = Fraction(big, small)
        p, q = ratio.numerator, ratio.denominator
        if p * 4 > big:
            return None
        a, b = lo // p * p, min(big, -(-hi // p) * p)
        spans.append((a, b, a // p * q, b // p * q))
    (ya, yb, dya, dyb), (xa, xb, dxa, dxb) = spans
    part = cv2.resize(mask[ya:yb, xa:xb].astype(np.uint8), (dxb - dxa, dyb - dya), interpolation=cv2.INTER_AREA)
    out[dya:dyb, dxa:dxb] = part > 0
    return out
