"""One deterministic GrabCut call shared by the classical segmenter and tracker.

OpenCV initialises GrabCut's colour models with k-means seeded from ``cv::theRNG()``,
which is per thread and advances with every call. Unseeded, the same clicks give a
different mask depending on which thread runs them and what ran before (the web UI's
worker threads vs the CLI's main thread). Seeding before each call makes every result a
function of its inputs only.
"""
from __future__ import annotations

import cv2
import numpy as np

SEED = 0
"""OpenCV maps seed 0 to its default state: every call behaves as in a fresh thread."""


def grab_cut(bgr: np.ndarray, labels: np.ndarray, iterations: int) -> bool:
    """Run GrabCut in place on ``labels`` (cv2.GC_* values) for a BGR uint8 image.

    Returns ``False`` (``labels`` unchanged) when OpenCV cannot build a colour model,
    e.g. on a flat image.
    """
    bgd = np.zeros((1, 65), np.float64)
    fgd = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(SEED)
    try:
        cv2.grabCut(np.ascontiguousarray(bgr), labels, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return False
    return True
