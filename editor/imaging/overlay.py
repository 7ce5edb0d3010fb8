"""Translucent coloured masks with outlines (and optionally ids and names) over a frame.

One drawing for every place that shows masks: the ``overlay`` stage (review copies) and the
web UI's frame view, so an object looks the same in both.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping

import cv2
import numpy as np

from editor.api.masks import PALETTE, present_ids
from editor.imaging.depth import from_float, peak, scale_color

OPACITY = 0.5
"""Default tint strength (the ``overlay`` stage's ``opacity``, the web UI's frames)."""
OUTLINE = 2
"""Default outline width in px (the ``overlay`` stage's ``outline``, the web UI's frames)."""


def object_color(oid: int) -> tuple[int, int, int]:
    """Display colour of an object: the DAVIS palette entry of its id (RGB)."""
    r, g, b = (int(c) for c in PALETTE[oid % 256])
    return r, g, b


def draw_overlay(image: np.ndarray, labels: np.ndarray, *, ids: Collection[int] | None = None,
                 names: Mapping[int, str] | None = None, opacity: float = OPACITY, outline: int = OUTLINE,
                 text: bool = True) -> np.ndarray:
    """``image`` (H×W×3 RGB, uint8 or uint16) with the objects of ``labels`` (H×W uint8 label map)
    tinted in their colours at ``opacity``, outlined ``outline`` px wide (0 = none) and,
    with ``text``, marked with their id and name. Only ``ids`` are drawn (default: all).
    Returns ``image`` itself when no drawn object is present, else a new array."""
    present = [i for i in present_ids(labels) if ids is None or i in ids]
    if not present:
        return image
    out = image.copy()
    for oid in present:
        mask = labels == oid
        rgb = scale_color(object_color(oid), out.dtype)
        color = rgb.astype(np.float32)
        out[mask] = from_float(out[mask] * (1 - opacity) + color * opacity, out.dtype)
        if outline:
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, tuple(int(c) for c in rgb), outline, cv2.LINE_AA)
        if text:
            ys, xs = np.nonzero(mask)
            label = f"{oid} {(names or {}).get(oid, '')}".strip()
            scale = max(0.4, out.shape[0] / 900)
            org = (int(xs.mean()), int(ys.mean()))
            _put_text(out, label, org, scale)
    return out


def _put_text(out: np.ndarray, label: str, org: tuple[int, int], scale: float) -> None:
    """White text with a black outline at ``org``; uint16 frames get the same anti-aliased
    glyphs (OpenCV draws text on 8-bit images only: coverage drawn in 8 bits, blended at 16)."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    if out.dtype == np.uint8:
        cv2.putText(out, label, org, font, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, label, org, font, scale, (255, 255, 255), 1, cv2.LINE_AA)
        return
    (w, h), baseline = cv2.getTextSize(label, font, scale, 3)
    pad = 4
    x0, y0 = max(0, org[0] - pad), max(0, org[1] - h - pad)
    x1, y1 = min(out.shape[1], org[0] + w + pad), min(out.shape[0], org[1] + baseline + pad)
    if x1 <= x0 or y1 <= y0:
        return
    region = out[y0:y1, x0:x1]
    for value, thickness in ((0, 3), (peak(out.dtype), 1)):
        cover = np.zeros(region.shape[:2], np.uint8)  # the glyphs' coverage, drawn in 8 bits
        cv2.putText(cover, label, (org[0] - x0, org[1] - y0), font, scale, 255, thickness, cv2.LINE_AA)
        a = cover[..., None].astype(np.float32) / 255.0
        region[...] = from_float(region * (1.0 - a) + value * a, out.dtype)
