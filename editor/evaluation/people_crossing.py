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
        walkers = tuple(Walker(str(w["name"]), int(w["frame"]), int(w["x_from"]), int(w["x_to"]))
                        for w in data["walkers"])
        return Recipe(str(data["video"]), int(data["background"]), int(data["frames"]), walkers)


def compose(recipe: Recipe, video_frames: list[np.ndarray],
            truth: PersonMasks) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The composite's frames (RGB uint8 H×W×3, ``recipe.frames`` of them) and their truth
    (uint8 H×W label maps: 0 background, ``k`` the ``k``-th walker where visible).
    ``video_frames``: the decoded frames of ``recipe.video``; ``truth``: its hand-drawn masks."""
    background = video_frames[recipe.background]
    height, width = background.shape[:2]
    cutouts = []
    for w in recipe.walkers:
        mask = truth.frames[w.frame][w.name]
        xs = np.nonzero(mask.any(axis=0))[0]
        x0, x1 = int(xs[0]), int(xs[-1]) + 1
        cutouts.append((video_frames[w.frame][:, x0:x1], mask[:, x0:x1]))
    images, labels = [], []
    for t in range(recipe.frames):
        image, label = background.copy(), np.zeros((height, width), np.uint8)
        for k, (w, (pixels, mask)) in enumerate(zip(recipe.walkers, cutouts), start=1):
            x = round(w.x_from + (w.x_to - w.x_from) * t / max(1, recipe.frames - 1))
            a0, a1 = max(0, x), min(width, x + pixels.shape[1])
            if a1 <= a0:
                continue
            part = mask[:, a0 - x:a1 - x]
            image[:, a0:a1][part] = pixels[:, a0 - x:a1 - x][part]
            label[:, a0:a1][part] = k
        images.append(image)
        labels.append(label)
    return images, labels
