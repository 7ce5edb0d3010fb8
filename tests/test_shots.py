"""Shot-cut detection: cuts found, fast motion and brightness drift are not cuts."""
from __future__ import annotations

import cv2
import numpy as np

from editor.tracking.shots import ShotDetector


def _texture(seed: int, w: int = 640, h: int = 360) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 16, w // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w * 2, h), interpolation=cv2.INTER_CUBIC)


def test_fast_pan_and_fade_are_not_cuts_but_a_cut_is() -> None:
    a, b = _texture(0), _texture(1)
    frames = [a[:, 12 * t:12 * t + 640] for t in range(30)]  # fast pan: 12 px per frame
    frames += [np.clip(frames[-1].astype(int) * (1 - 0.03 * k), 0, 255).astype(np.uint8) for k in range(10)]  # fade
    frames += [b[:, 5 * t:5 * t + 640] for t in range(20)]  # hard cut to another scene
    sd = ShotDetector()
    cuts = [i for i, f in enumerate(frames) if sd.update(f)]
    assert cuts == [40]


def test_min_shot_length() -> None:
    sd = ShotDetector(min_shot_length=5)
    frames = [_texture(k % 2)[:, :640] for k in range(12)]  # flickering between two scenes
    cuts = [i for i, f in enumerate(frames) if sd.update(f)]
    assert all(b - a >= 5 for a, b in zip(cuts, cuts[1:]))
