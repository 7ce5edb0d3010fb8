"""Synthetic clips with exact ground truth, built from real footage.

Used by the removal-quality evaluation and tests: a camera pans across a real frame
(the true background of every frame is known), and an object cut from other real
footage moves across it on a path (its exact mask is known).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import cv2
import numpy as np

from editor.api.stages import FrameItem
from editor.api.frames import Frame


@dataclass(frozen=True)
class PastedObjectClip:
    """``background`` panorama (RGB), ``sprite`` (RGB) + ``sprite_mask`` (bool)."""

    background: np.ndarray
    sprite: np.ndarray
    sprite_mask: np.ndarray
    width: int = 320
    height: int = 180
    frames: int = 40
    pan: float = 4.0
    """Camera pan in px/frame (0 = static camera)."""
    start: tuple[float, float] = (20.0, 50.0)
    velocity: tuple[float, float] = (4.0, 0.8)
    """Object motion in frame coordinates (px/frame); against the pan it uncovers the background."""

    def true_background(self, t: int) -> np.ndarray:
        x = int(round(self.pan * t))
        return self.background[: self.height, x:x + self.width].copy()

    def frame(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """(image, label map with the object as id 1) of frame ``t``."""
        img = self.true_background(t)
        labels = np.zeros((self.height, self.width), np.uint8)
        sh, sw = self.sprite_mask.shape
        x = int(round(self.start[0] + self.velocity[0] * t))
        y = int(round(self.start[1] + self.velocity[1] * t))
        x0, y0 = max(0, x), max(0, y)
        x1, y1 = min(self.width, x + sw), min(self.height, y + sh)
        if x1 > x0 and y1 > y0:
            m = self.sprite_mask[y0 - y:y1 - y, x0 - x:x1 - x]
            img[y0:y1, x0:x1][m] = self.sprite[y0 - y:y1 - y, x0 - x:x1 - x][m]
            labels[y0:y1, x0:x1][m] = 1
        return img, labels

    def items(self) -> Iterator[FrameItem]:
        for t in range(self.frames):
            img, labels = self.frame(t)
            yield FrameItem(Frame(t, img, t, Fraction(1, 25), t / 25), labels)


def face_sprite(face_frame: np.ndarray, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """An elliptical cut-out of the face in carphone frame 0 (176x144)."""
    crop = face_frame[24:104, 56:112]
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.ellipse(mask, (28, 40), (26, 38), 0, 0, 360, 1, -1)
    if scale != 1.0:
        size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST)
    return crop, mask > 0


def brick_wall(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A running-bond brick wall (H×W×3 uint8 RGB) made in code: bricks 26×12 px, each ±10 levels
    off one red-brown, 2 px light mortar courses, ±6 levels of noise. Regular structure and
    texture, the kind of background a removal must continue across the hole."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), np.int16)
    img[:] = (200, 200, 190)  # mortar
    course, length = 14, 28
    for r in range(0, height, course):
        offset = 0 if (r // course) % 2 == 0 else length // 2
        for c in range(-length, width, length):
            colour = np.array((150, 70, 50)) + rng.integers(-10, 11, 3)
            x0, x1 = max(0, c + offset), min(width, c + offset + length - 2)
            if x1 > x0:
                img[r:r + course - 2, x0:x1] = colour
    img += rng.integers(-6, 7, img.shape).astype(np.int16)
    return np.clip(img, 0, 255).astype(np.uint8)
