"""Translucent coloured masks with outlines (and optionally ids and names) over a frame.

One drawing for every place that shows masks: the ``overlay`` stage (review copies) and the
web UI's frame view, so an object looks the same in both.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping

import cv2
import numpy as np

from editor.api.masks import PALETTE, present_ids

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
    """``image`` (H×W×3 RGB uint8) with the objects of ``labels`` (H×W uint8 label map)
    tinted in their colours at ``opacity``, outlined ``outline`` px wide (0 = none) and,
    with ``text``, marked with their id and name. Only ``ids`` are drawn (default: all).
    Returns ``image`` itself when no drawn object is present, else a new array."""
    present = [i for i in present_ids(labels) if ids is None or i in ids]
    if not present:
        return image
    out = image.copy()
    for oid in present:
        mask = labels == oid
        color = np.array(object_color(oid), np.float32)
        out[mask] = (out[mask] * (1 - opacity) + color * opacity + 0.5).astype(np.uint8)
        if outline:
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, object_color(oid), outline, cv2.LINE_AA)
        if text:
            ys, xs = np.nonzero(mask)
            label = f"{oid} {(names or {}).get(oid, '')}".strip()
            scale = max(0.4, out.shape[0] / 900)
            org = (int(xs.mean()), int(ys.mean()))
            cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(out, label, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return out
