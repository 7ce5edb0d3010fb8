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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from editor.api.stages import FrameItem
from editor.evaluation.metrics import ssim
from editor.imaging.compositing import grow
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


# A real person pasted over a moving real clip (#28: the streaky fill and the ghost) ---------


@dataclass(frozen=True)
class WalkerCase:
    """A person cut from ``bikes.mp4`` along their hand-drawn outline (``walker``: ``man`` or
    ``cyclist`` of ``tests/data/people_gt.json``, cut from frame ``cut_frame``) slid from
    ``x_from`` to ``x_to`` (left edge, px) over ``frames`` frames of the real clip
    ``background`` from its frame ``start``. The background frames are scaled to
    ``640 + |pan| × frames`` px wide and a 640×272 window (bikes' size, rows around the
    centre) is cut from them, moving ``pan`` px per frame (> 0: rightwards): a camera pan over
    a clip that moves by itself."""

    name: str
    walker: str
    cut_frame: int
    x_from: int
    x_to: int
    background: str
    start: int
    pan: float = 0.0
    frames: int = 48


WALKER_CASES = {
    "tune": (WalkerCase("man over bunny", "man", 36, 400, 280, "bigbuckbunny.mp4", 0, pan=2.0),
             WalkerCase("cyclist over bunny", "cyclist", 112, 320, 470, "bigbuckbunny.mp4", 60, pan=-2.0)),
    "held": (WalkerCase("man over bikes", "man", 36, 20, 400, "bikes.mp4", 140),
             WalkerCase("cyclist over bunny, late", "cyclist", 112, 480, 330, "bigbuckbunny.mp4", 84, pan=2.0)),
}
"""The pasted-walker removal cases: constants of the fill are chosen on ``tune`` only,
``held`` is reported. The walker stays wholly in the frame; on the bunny, right of the bunny (which the tracker would
otherwise take in with him from one click); bikes 140–187: one shot, the camera moving."""


def walker_clip(case: WalkerCase, samples: Path, people_gt: Path) -> tuple[list[np.ndarray], list[np.ndarray],
                                                                          list[np.ndarray]]:
    """(frames, true backgrounds, truth label maps: 1 where the walker is) of ``case``, each a
    list of ``case.frames`` arrays (RGB uint8 272×640×3; label maps uint8 272×640), composed
    by :func:`editor.evaluation.people_crossing.compose` from ``samples`` (the folder holding
    bikes.mp4 and the background clip) and ``people_gt`` (``tests/data/people_gt.json``)."""
    from editor.evaluation.people_crossing import Recipe, Walker, compose
    from editor.evaluation.person_masks import load_person_masks
    from editor.video.reader import iter_frames

    bikes = [f.image for f in iter_frames(samples / "bikes.mp4") if f.index <= case.cut_frame]
    height, width = bikes[0].shape[:2]
    travel = abs(case.pan) * case.frames
    wide = width + int(np.ceil(travel))
    backgrounds = []
    for f in iter_frames(samples / case.background):
        t = f.index - case.start
        if 0 <= t < case.frames:
            h, w = f.image.shape[:2]
            big = cv2.resize(f.image, (wide, round(h * wide / w)), interpolation=cv2.INTER_AREA)
            y0 = (big.shape[0] - height) // 2
            x0 = int(round(case.pan * t)) if case.pan >= 0 else int(round(travel + case.pan * t))
            backgrounds.append(np.ascontiguousarray(big[y0:y0 + height, x0:x0 + width]))
    recipe = Recipe("bikes.mp4", 0, case.frames, (Walker(case.walker, case.cut_frame, case.x_from, case.x_to),))
    images, labels = compose(recipe, bikes, load_person_masks(people_gt, "bikes.mp4"), backgrounds=backgrounds)
    return images, backgrounds, labels


@dataclass(frozen=True)
class WalkerScores:
    psnr_db: float
    """PSNR of the output against the true background where the walker was (his truth grown
    by ``dilate`` px), every frame's pixels together."""
    ghost: float
    """Share of those pixels whose error exceeds ``GHOST_LEVELS`` in some RGB channel (a copy
    of the walker, or any fill far from the background)."""
    streaks: float
    """How much more the fill is streaked along rows or columns than the true background:
    ``|log(Ex/Ey)_out − log(Ex/Ey)_true|``, ``Ex``/``Ey`` the energy of the grey image's
    horizontal / vertical differences inside the region shrunk by 2 px, summed over frames
    (0: the same anisotropy as the background; log 2 ≈ 0.69: twice as directional)."""


#: Error (8-bit levels, the largest RGB channel) from which a pixel counts as a ghost.
GHOST_LEVELS = 40


def score_walker(outputs: Sequence[np.ndarray], backgrounds: Sequence[np.ndarray], labels: Sequence[np.ndarray],
                 dilate: int = 8) -> WalkerScores:
    """Scores of a removal's output frames (RGB uint8) against the true backgrounds, in the
    walker's truth (``labels`` > 0) grown by ``dilate`` px."""
    errors, ghost, count = [], 0, 0
    energy = np.zeros((2, 2))  # (out, true) × (x, y)
    for out, truth, label in zip(outputs, backgrounds, labels):
        region = grow(label > 0, dilate)
        if not region.any():
            continue
        e = out.astype(np.float32) - truth.astype(np.float32)
        errors.append(e[region].reshape(-1))
        ghost += int((np.abs(e[region]).max(axis=1) > GHOST_LEVELS).sum())
        count += int(region.sum())
        inner = ~grow(~region, 2)
        for row, image in enumerate((out, truth)):
            g = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
            dx, dy = np.diff(g, axis=1), np.diff(g, axis=0)
            energy[row, 0] += float((dx[inner[:, 1:] & inner[:, :-1]] ** 2).sum())
            energy[row, 1] += float((dy[inner[1:] & inner[:-1]] ** 2).sum())
    all_errors = np.concatenate(errors) if errors else np.zeros(1, np.float32)
    mse = float(np.mean(all_errors.astype(np.float64) ** 2))
    anisotropy = np.log((energy[:, 0] + 1) / (energy[:, 1] + 1))
    return WalkerScores(float("inf") if mse == 0 else float(10 * np.log10(255.0 ** 2 / mse)),
                        ghost / max(1, count), float(abs(anisotropy[0] - anisotropy[1])))
