"""Two real people crossing: a composite made from hand-labelled cutouts of real footage, with
its truth known by construction (the id-stability test of ``--detect people``).

No clip of two people walking across each other ships with trackedit, so one is composed
(:func:`compose`) from a *recipe* (``tests/data/people_crossing.json``; how it was made:
``tests/data/people_crossing.md``): a background frame of a real video and, for each person,
one frame of the same video and the hand-drawn polygon outlining them there
(:mod:`editor.evaluation.person_masks`). Each person is cut out along the polygon and slid
across the background at a constant speed, from ``x_from`` to ``x_to`` (the cutout's left
edge, frame pixels) over the clip; later people in the recipe are pasted over earlier ones
(``front``). The truth of frame ``t`` is the label map of what is visible: person ``k`` (1,
2… in recipe order) where their cutout is pasted and no later one covers it.

A walker may instead be a **card**: the whole frames of another real clip (``video``; its
frame ``t`` on frame ``t``, played back and forth when the crossing is longer), pasted as a
rectangle at height ``y`` — a face that moves and talks, crossing in front of or behind a
cut-out person (``tests/data/faces_crossing.md``). Each walker's face box on every frame is
known by construction (:func:`face_boxes`): its hand-checked box in the source clip
(``tests/data/*_faces_gt.json``) moved with the paste.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from editor.evaluation.person_masks import PersonMasks


@dataclass(frozen=True)
class Walker:
    """One person of the recipe: cut from ``frame`` along the polygon named ``name``, slid
    from ``x_from`` to ``x_to`` (left edge of the cutout, px)."""

    name: str
    frame: int
    x_from: int
    x_to: int
    video: str | None = None
    """A card: the clip whose whole frames are pasted (``None``: the cutout named ``name``)."""
    y: int = 0
    """A card's top edge (px, may be negative: its top rows are then cut)."""

    def source_frame(self, t: int, count: int) -> int:
        """The frame of a card's clip (``count`` frames long) pasted on frame ``t``: back and
        forth (0 … count−1, count−2 … 1, …); a cutout's ``frame``."""
        if self.video is None or count <= 1:
            return self.frame
        k = t % (2 * count - 2)
        return k if k < count else 2 * count - 2 - k

    def x(self, t: int, frames: int) -> int:
        """The left edge (px) on frame ``t`` of a crossing ``frames`` long."""
        return round(self.x_from + (self.x_to - self.x_from) * t / max(1, frames - 1))


@dataclass(frozen=True)
class Recipe:
    """A crossing: ``frames`` long, over ``background`` (a frame index of the same video)."""

    video: str
    background: int
    frames: int
    walkers: tuple[Walker, ...]

    @staticmethod
    def load(path: str | Path) -> Recipe:
        """Read a recipe JSON file; ``KeyError``/``ValueError`` for a malformed one."""
        data = json.loads(Path(path).read_text())
        walkers = tuple(Walker(str(w["name"]), int(w.get("frame", 0)), int(w["x_from"]), int(w["x_to"]),
                               w.get("video"), int(w.get("y", 0)))
                        for w in data["walkers"])
        return Recipe(str(data["video"]), int(data["background"]), int(data["frames"]), walkers)


def compose(recipe: Recipe, video_frames: list[np.ndarray], truth: PersonMasks | None,
            cards: dict[str, list[np.ndarray]] | None = None, backgrounds: list[np.ndarray] | None = None
            ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The composite's frames (RGB uint8 H×W×3, ``recipe.frames`` of them) and their truth
    (uint8 H×W label maps: 0 background, ``k`` the ``k``-th walker where visible).
    ``video_frames``: the decoded frames of ``recipe.video``; ``truth``: its hand-drawn masks
    (needed for cutouts); ``cards``: each card's clip name → its decoded frames;
    ``backgrounds``: a moving background instead of ``recipe.background``'s still frame — frame
    ``t`` is pasted over ``backgrounds[t]`` (RGB uint8, the cutouts' frame size, at least
    ``recipe.frames`` of them), which is then the true background of the composite's frame ``t``."""
    background = video_frames[recipe.background]
    height, width = background.shape[:2]
    if backgrounds is not None and (len(backgrounds) < recipe.frames or backgrounds[0].shape != background.shape):
        raise ValueError(f"backgrounds: {recipe.frames} frames of {background.shape} wanted")
    cutouts: list[tuple[np.ndarray, np.ndarray] | None] = []
    for w in recipe.walkers:
        if w.video is not None:
            cutouts.append(None)
            continue
        assert truth is not None, "cutouts need the hand-drawn masks"
        mask = truth.frames[w.frame][w.name]
        xs = np.nonzero(mask.any(axis=0))[0]
        x0, x1 = int(xs[0]), int(xs[-1]) + 1
        cutouts.append((video_frames[w.frame][:, x0:x1], mask[:, x0:x1]))
    images, labels = [], []
    for t in range(recipe.frames):
        image = (background if backgrounds is None else backgrounds[t]).copy()
        label = np.zeros((height, width), np.uint8)
        for k, (w, cut) in enumerate(zip(recipe.walkers, cutouts), start=1):
            x = w.x(t, recipe.frames)
            if cut is None:
                assert cards is not None and w.video is not None
                clip = cards[w.video]
                pixels = clip[w.source_frame(t, len(clip))]
                top, bottom = max(0, -w.y), min(pixels.shape[0], height - w.y)
                pixels = pixels[top:bottom]
                mask = np.ones(pixels.shape[:2], bool)
                y = max(0, w.y)
            else:
                pixels, mask = cut
                y = 0
            a0, a1 = max(0, x), min(width, x + pixels.shape[1])
            if a1 <= a0:
                continue
            part = mask[:, a0 - x:a1 - x]
            rows = slice(y, y + pixels.shape[0])
            image[rows, a0:a1][part] = pixels[:, a0 - x:a1 - x][part]
            label[rows, a0:a1][part] = k
        images.append(image)
        labels.append(label)
    return images, labels


def face_boxes(recipe: Recipe, faces: dict[str, list[tuple[float, float, float, float]]],
               truth: PersonMasks | None, card_frames: dict[str, int] | None = None
               ) -> list[list[tuple[float, float, float, float]]]:
    """Each walker's face box (x0, y0, x1, y1, frame px; may lie partly outside the frame) on
    every frame of the composite: ``[t][k - 1]`` for walker ``k``. ``faces``: each source
    clip's name → its one face box per frame (``*_faces_gt.json``: a cutout's source frame
    and a card's clip must show exactly one face); ``card_frames``: each card's clip name →
    its frame count. Whether the face is visible (not covered by a walker in front) is the
    truth label map's to say."""
    out: list[list[tuple[float, float, float, float]]] = [[] for _ in range(recipe.frames)]
    for w in recipe.walkers:
        if w.video is None:
            assert truth is not None
            dx0 = int(np.nonzero(truth.frames[w.frame][w.name].any(axis=0))[0][0])
            boxes, dy, count = faces[recipe.video], 0, 1
        else:
            boxes, dx0, dy = faces[w.video], 0, w.y
            count = (card_frames or {})[w.video]
        for t in range(recipe.frames):
            b = boxes[w.source_frame(t, count)]
            dx = w.x(t, recipe.frames) - dx0
            out[t].append((b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy))
    return out
