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
    """Scenes alternating every 3 frames: every change is a cut when shots may be 1 frame
    long; with ``min_shot_length=5`` cuts are at least 5 frames apart, and still found."""
    frames = [_texture((k // 3) % 2)[:, :640] for k in range(40)]

    def cuts(min_shot_length: int) -> list[int]:
        sd = ShotDetector(min_shot_length=min_shot_length)
        return [i for i, f in enumerate(frames) if sd.update(f)]

    assert cuts(1) == list(range(3, 40, 3))
    five = cuts(5)
    assert len(five) >= 5 and all(b - a >= 5 for a, b in zip(five, five[1:]))
