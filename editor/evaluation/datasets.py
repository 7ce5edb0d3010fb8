"""Readers for evaluation data in the DAVIS folder layout.

``ROOT/JPEGImages/480p/<seq>/00000.jpg``, ``ROOT/Annotations/480p/<seq>/00000.png``
(palette PNGs, value = object id, 255 = void), ``ROOT/ImageSets/<year>/<split>.txt``.
The ground-truth clip generator writes the same layout.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from editor.api.errors import InputError
from editor.api.masks import read_label_png


@dataclass(frozen=True)
class Sequence:
    name: str
    images: tuple[Path, ...]
    annotations: tuple[Path, ...]

    def __len__(self) -> int:
        return len(self.images)

    def frames(self) -> Iterator[np.ndarray]:
        for p in self.images:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                raise InputError("cannot read image", p)
            yield img[..., ::-1].copy()

    def labels(self) -> Iterator[np.ndarray]:
        for p in self.annotations:
            yield read_label_png(p)


def davis_sequences(root: Path, split: str | None = None, year: str = "2017",
                    resolution: str = "480p") -> list[Sequence]:
    """Sequences of a DAVIS-layout dataset (all, or those listed in ImageSets/<year>/<split>.txt)."""
    img_root = root / "JPEGImages" / resolution
    ann_root = root / "Annotations" / resolution
    if not img_root.is_dir() or not ann_root.is_dir():
        raise InputError(f"not a DAVIS-layout folder (needs JPEGImages/{resolution} and Annotations/{resolution})",
                         root)
    if split:
        listing = root / "ImageSets" / year / f"{split}.txt"
        if not listing.exists():
            raise InputError(f"no ImageSets/{year}/{split}.txt", root)
        names = [n.strip() for n in listing.read_text().split() if n.strip()]
    else:
        names = sorted(p.name for p in img_root.iterdir() if p.is_dir())
    out = []
    for name in names:
        images = tuple(sorted((img_root / name).glob("*.jpg")) + sorted((img_root / name).glob("*.png")))
        anns = tuple(sorted((ann_root / name).glob("*.png")))
        if not images:
            raise InputError(f"sequence {name!r} has no images", root)
        if len(anns) != len(images):
            raise InputError(f"sequence {name!r}: {len(images)} images but {len(anns)} annotations", root)
        out.append(Sequence(name, images, anns))
    return out


def sparse_labels(folder: Path, object_id: int = 1) -> dict[int, np.ndarray]:
    """Masks of one object labelled on some frames only: ``folder/NNNNN.png`` (label PNGs,
    the file name is the frame index) → frame → bool H×W (pixels equal to ``object_id``)."""
    out = {}
    for p in sorted(folder.glob("*.png")):
        if p.stem.isdigit():
            out[int(p.stem)] = read_label_png(p) == object_id
    if not out:
        raise InputError("no labelled frames (NNNNN.png)", folder)
    return out
