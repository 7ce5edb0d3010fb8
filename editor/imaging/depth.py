"""Pixel depth: the one place where 8-bit values meet 16-bit frames.

Frames reach deep stages as uint8 (0–255) or uint16 (0–65535, white = 65535; see
:class:`editor.api.frames.Frame`). Colours in presets, pictures read from files and other
8-bit material are scaled to the frame's dtype here (×257, so 255 → 65535 exactly), and
deep pixels are reduced to 8 bits (÷257, rounded) where a library only takes 8-bit input
(ORB features, optical flow, Telea, the inpainter and tracking protocols).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from editor.api.errors import InputError
from editor.api.frames import rgb8
from editor.api.limits import LimitError, check_frame_size, open_image, regular_file

__all__ = ["from_float", "match_depth", "peak", "read_picture", "rgb8", "scale_color", "to_depth"]

#: 8-bit level → 16-bit level (255 · 257 = 65535).
SCALE = 257


def peak(dtype: np.dtype | type) -> int:
    """White of ``dtype``: 255 for uint8, 65535 for uint16."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 255
    if dtype == np.uint16:
        return 65535
    raise TypeError(f"expected uint8 or uint16 pixels, got {dtype}")


def scale_color(color: Sequence[float] | np.ndarray | float, dtype: np.dtype | type) -> np.ndarray:
    """An 8-bit colour (e.g. a preset's ``[r, g, b]``, 0–255) in ``dtype`` units."""
    value = np.asarray(color, np.float64)
    return np.clip(np.rint(value * (peak(dtype) / 255)), 0, peak(dtype)).astype(dtype)


def to_depth(image: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """``image`` (uint8 or uint16) converted to ``dtype``: ×257 up, rounded ÷257 down;
    ``image`` itself when it already has that dtype."""
    dtype = np.dtype(dtype)
    if image.dtype == dtype:
        return image
    if dtype == np.uint8:
        return rgb8(image)
    if dtype == np.uint16 and image.dtype == np.uint8:
        out = image.astype(np.uint16)
        out *= SCALE
        return out
    raise TypeError(f"cannot convert {image.dtype} pixels to {dtype}")


def match_depth(image: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``image`` at the dtype of ``like`` (:func:`to_depth`)."""
    return to_depth(image, like.dtype)


def from_float(values: np.ndarray, dtype: np.dtype | type) -> np.ndarray:
    """Float pixel values in ``dtype`` units, rounded to nearest and clipped to 0…peak."""
    top = peak(dtype)
    out = np.asarray(values) + 0.5  # keeps the input's float precision
    np.clip(out, 0, top, out=out)
    return out.astype(dtype)


def read_picture(path: str | Path) -> np.ndarray | None:
    """An RGB picture from an image file at its own depth (uint8, or uint16 for 16-bit PNG
    and TIFF), ``None`` when it cannot be read; scale it to a frame with :func:`match_depth`.
    Raises :class:`~editor.api.errors.InputError` naming the file for a FIFO, device or
    folder and for a picture over the pixel limit (:mod:`editor.api.limits`), before
    decoding it."""
    regular_file(path, "image file")
    try:
        with open_image(path):
            pass  # the header's size is within the limit
    except LimitError:
        raise
    except InputError:
        pass  # a format OpenCV reads and Pillow does not: checked once read (OpenCV caps it at 2^30 pixels)
    img = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    if img is not None and img.dtype not in (np.uint8, np.uint16):  # float images: 8-bit reading
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is not None:
        check_frame_size(img.shape[1], img.shape[0], path, "images")
    return None if img is None else np.ascontiguousarray(img[..., ::-1])
