"""Scoring object removal on a synthetic clip whose true background is known.

On a :class:`~editor.evaluation.synthetic.PastedObjectClip` (the camera pans ``pan`` px per
frame along x, so background pixel ``x`` of frame ``t`` is panorama column ``x + round(pan·t)``):

* **PSNR / SSIM in the hole**: inside the object's mask, against the true background
  (:mod:`editor.evaluation.metrics`): PSNR of all the clip's hole pixels together, SSIM the
  mean over frames with more than 100 hole pixels; PSNR also split into hole pixels whose background some frame of the clip shows (**seen**, a
  temporal fill can copy it) and those no frame shows (**never seen**, only a spatial fill
  can guess them; PSNR over all such pixels of the clip together).
* **flicker**: the fill's error ``e = output − truth`` (RGB, levels of 255) at the same
  background point on consecutive frames, ``mean |e_t − e_{t−1}|`` over the points inside
  the hole on both, averaged over frame pairs. A fill that copies itself along the motion
  scores 0 whatever its error; one re-invented every frame scores about its error.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from editor.api.stages import FrameItem
from editor.evaluation.metrics import ssim
from editor.evaluation.synthetic import PastedObjectClip, brick_wall, face_sprite


@dataclass(frozen=True)
class RemovalScores:
    psnr_db: float
    ssim: float
    psnr_seen_db: float
    psnr_never_seen_db: float
    flicker: float
    never_seen_share: float
    """Share of the clip's hole pixels whose background no frame shows."""


def seen_columns(clip: PastedObjectClip) -> np.ndarray:
    """Panorama-sized bool (H×Wp): background pixels some frame of the clip shows."""
    seen = np.zeros(clip.background.shape[:2], bool)
    for t in range(clip.frames):
        x = int(round(clip.pan * t))
        hole = clip.frame(t)[1] > 0
        seen[: clip.height, x:x + clip.width] |= ~hole
    return seen


def score_removal(clip: PastedObjectClip, items: Iterable[FrameItem]) -> RemovalScores:
    """Scores of a removal's output frames (``items``, in order, the clip's size)."""
    seen = seen_columns(clip)
    ss, flicker = [], []
    seen_err, never_err = [], []
    previous: tuple[int, np.ndarray, np.ndarray] | None = None  # offset, hole, error
    for it in items:
        t = it.index
        hole = clip.frame(t)[1] > 0
        truth = clip.true_background(t)
        out = it.frame.image
        x = int(round(clip.pan * t))
        error = out.astype(np.float32) - truth.astype(np.float32)
        if hole.sum() > 100:
            ss.append(ssim(out, truth, hole))
        shows = seen[: clip.height, x:x + clip.width]
        seen_err.append(error[hole & shows])
        never_err.append(error[hole & ~shows])
        if previous is not None:
            px, phole, perror = previous
            d = x - px  # this frame's column c is the previous frame's column c + d
            w = clip.width - abs(d)
            if w > 0:
                cur = slice(max(0, -d), max(0, -d) + w)
                old = slice(max(0, d), max(0, d) + w)
                both = hole[:, cur] & phole[:, old]
                if both.any():
                    flicker.append(float(np.abs(error[:, cur][both] - perror[:, old][both]).mean()))
        previous = (x, hole, error)

    def db(errors: list[np.ndarray]) -> float:
        e = np.concatenate([v.reshape(-1) for v in errors]) if errors else np.zeros(0)
        mse = float(np.mean(e.astype(np.float64) ** 2)) if e.size else 0.0
        return float("inf") if mse == 0 else float(10.0 * np.log10(255.0 ** 2 / mse))

    never = sum(v.size for v in never_err)
    total = never + sum(v.size for v in seen_err)
    return RemovalScores(db(seen_err + never_err), float(np.mean(ss)), db(seen_err), db(never_err),
                         float(np.mean(flicker)) if flicker else 0.0, never / max(1, total))


def held_in_frame_clip(face_frame: np.ndarray, background: np.ndarray | None = None) -> PastedObjectClip:
    """A camera following an object: the object (the carphone face, ×2: 112×160 px) stays at
    the centre of a 480×270 frame while the background pans 2 px per frame for 24 frames, so
    about half of what it hides (47 % on the brick wall) is shown by no frame. Background: a
    :func:`brick_wall` unless given (H ≥ 270, W ≥ 528, RGB uint8)."""
    sprite, mask = face_sprite(face_frame, 2.0)
    bg = brick_wall(600, 270) if background is None else background
    return PastedObjectClip(bg, sprite, mask, width=480, height=270, frames=24, pan=2.0,
                            start=(184.0, 55.0), velocity=(0.0, 0.0))


def panning_clip(face_frame: np.ndarray, background: np.ndarray | None = None) -> PastedObjectClip:
    """A pan of 4 px per frame across the background with the face (56×80 px) moving against
    it in a 320×180 frame for 30 frames: every hidden pixel is shown by some frame. Background:
    a :func:`brick_wall` unless given (H ≥ 180, W ≥ 440, RGB uint8)."""
    sprite, mask = face_sprite(face_frame)
    bg = brick_wall(480, 180, seed=1) if background is None else background
    return PastedObjectClip(bg, sprite, mask, frames=30, pan=4.0)
