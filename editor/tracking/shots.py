"""Shot-change (cut) detection, streaming, one frame at a time.

A cut between frames t-1 and t is declared when the frames' content differs far more
than the recent frame-to-frame change. Two cues on a small thumbnail, in the spirit of
PySceneDetect's content and histogram detectors:

* ``d_hist``: 1 - correlation of the 2-D hue/saturation histograms;
* ``d_pix``: mean absolute difference of the grey thumbnails (0..1).

A frame pair is a cut when the combined score is above ``threshold`` and ``ratio``
times the running median of recent scores (so fast motion or camera shake in one shot
does not count) — or, after a calm stretch, above ``low_threshold`` and ``calm_ratio``
times that median (a cut between similar-looking shots) — and at least
``min_shot_length`` frames have passed since the last cut.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import cv2
import numpy as np

from editor.api.frames import rgb8


@dataclass
class ShotDetector:
    threshold: float = 0.35
    ratio: float = 3.0
    low_threshold: float = 0.2
    calm_ratio: float = 8.0
    min_shot_length: int = 5
    thumb_width: int = 96
    _prev: tuple[np.ndarray, np.ndarray] | None = None
    _recent: deque[float] = field(default_factory=lambda: deque(maxlen=15))
    _since_cut: int = 0
    _frames: int = 0

    def _features(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = image.shape[:2]
        tw = min(self.thumb_width, w)
        th = max(1, round(h * tw / w))
        small = rgb8(cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA))  # deep frames: 8-bit thumbnail
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
        cv2.normalize(hist, hist)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        return hist, grey

    def score(self, image: np.ndarray) -> float:
        """Difference score between ``image`` and the previous frame (0 for the first)."""
        feats = self._features(image)
        prev, self._prev = self._prev, feats
        if prev is None:
            return 0.0
        d_hist = 1.0 - float(cv2.compareHist(prev[0], feats[0], cv2.HISTCMP_CORREL))
        d_pix = float(np.mean(np.abs(prev[1] - feats[1])))
        return 0.5 * max(0.0, d_hist) + 2.0 * d_pix

    def update(self, image: np.ndarray) -> bool:
        """Feed the next frame (RGB uint8 or uint16); True when a cut lies between the previous frame and this one."""
        s = self.score(image)
        self._frames += 1
        baseline = float(np.median(self._recent)) if self._recent else 0.0
        self._since_cut += 1
        floor = max(baseline, 0.02)
        strong = s > self.threshold and s > self.ratio * floor
        calm = s > self.low_threshold and s > self.calm_ratio * floor
        is_cut = self._frames > 1 and (strong or calm) and self._since_cut >= self.min_shot_length
        if is_cut:
            self._since_cut = 0
            self._recent.clear()
        else:
            self._recent.append(s)
        return is_cut
