"""Hand labelling with trackedit's own segmenter (see README.md here).

``python tests/data/real_gt/label.py CLIP [--split DIR]`` reads ``DIR/CLIP.json`` (``DIR``: this
folder, the held-out split, by default; ``tests/data/real_tune`` for the tuning split) (the clicks: frame → points
and labels, plus the source video), segments every listed frame with the classical
segmenter (``editor.backends.classic.RegionSegmenter``, each frame from its clicks alone),
paints the hand-drawn polygons (``add`` / ``erase``: parts no click gets right), writes
``CLIP/NNNNN.png`` (pixel 1 = the object) and contact sheets of overlays with the
clicks drawn (``--sheets DIR``: green = mask, red dots = include, blue = exclude) to be
checked by eye; clicks are added until every mask is right.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from editor.api.masks import write_label_png
from editor.api.prompts import Prompt
from editor.backends.classic import RegionSegmenter
from editor.video.random_access import FrameSource

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def label(clip: str, sheets: Path | None, only: set[int] | None = None, split: Path = HERE) -> None:
    spec = json.loads((split / f"{clip}.json").read_text())
    frames = FrameSource(ROOT / spec["video"])
    seg = RegionSegmenter()
    out = split / clip
    out.mkdir(exist_ok=True)
    tiles = []
    for key, clicks in sorted(spec["frames"].items(), key=lambda kv: int(kv[0])):
        f = int(key)
        if only and f not in only:
            continue
        image = frames[f].rgb8
        pts = [tuple(map(float, p)) for p in clicks["points"]]
        if pts:
            mask = seg.segment(image, f, [Prompt(f, tuple(pts), tuple(clicks["labels"]))]).mask.astype(bool)
        else:  # the object is not in view (hidden, or another shot): an empty mask
            mask = np.zeros(image.shape[:2], bool)
        for key_, value in (("add", True), ("erase", False)):  # polygons painted by hand
            for poly in clicks.get(key_, []):
                paint = np.zeros(mask.shape, np.uint8)
                cv2.fillPoly(paint, [np.array(poly, np.int32)], 1)
                mask[paint > 0] = value
        write_label_png(out / f"{f:05d}.png", mask.astype(np.uint8))
        if sheets is not None:
            over = image.copy()
            over[mask] = (0.45 * over[mask] + [0, 140, 0]).astype(np.uint8)
            edge = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)) > 0
            over[edge] = (255, 255, 0)
            for (x, y), lab in zip(pts, clicks["labels"]):
                cv2.circle(over, (int(x), int(y)), max(2, image.shape[1] // 160), (255, 0, 0) if lab else (0, 0, 255), -1)
            cv2.putText(over, str(f), (5, max(12, image.shape[0] // 12)), 0, image.shape[0] / 400, (255, 255, 255), 2)
            tiles.append(over)
    if sheets is not None and tiles:
        sheets.mkdir(parents=True, exist_ok=True)
        h, w = tiles[0].shape[:2]
        scale = 640 / w
        tw, th = int(w * scale), int(h * scale)
        for i in range(0, len(tiles), 4):
            sheet = np.zeros((2 * th, 2 * tw, 3), np.uint8)
            for j, t in enumerate(tiles[i:i + 4]):
                sheet[(j // 2) * th:(j // 2 + 1) * th, (j % 2) * tw:(j % 2 + 1) * tw] = cv2.resize(t, (tw, th))
            cv2.imwrite(str(sheets / f"{clip}_{i // 4:02d}.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("clip")
    ap.add_argument("--sheets", type=Path)
    ap.add_argument("--only", type=int, nargs="*")
    ap.add_argument("--split", type=Path, default=HERE, help="the split's folder (default: this one, held out)")
    a = ap.parse_args()
    label(a.clip, a.sheets, set(a.only) if a.only else None, a.split.resolve())
