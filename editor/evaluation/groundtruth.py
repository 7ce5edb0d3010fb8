"""Evaluation clips with exact masks, built from real footage (seeded, reproducible).

Each clip: a real background (a frame of ``bigbuckbunny.mp4`` or ``bikes.mp4``), seen by a
static or panning camera, and two objects cut from real footage (the carphone face, and
a polygonal cut-out of a textured region of another clip) moving on smooth paths with
scale change. Label maps hold the visible pixels of each object.

``ClipSpec.scenario`` picks the motion (the default set, :data:`DEFAULT_SET`, is unchanged
so old numbers stay comparable; :data:`HARD_SET` adds the hard cases):

* ``swing`` (the default set): object 1 swings out of the frame and comes back; object 2
  passes in front of it (partial occlusion).
* ``exit``: object 1 crosses the frame, leaves it completely for a while and comes back
  from the same side; object 2 drifts slowly elsewhere.
* ``occlusion``: a large foreground object that is not annotated (a textured cut-out of
  other footage) passes in front of object 1 and hides it completely for a few frames.
* ``distractor``: a busy background and a look-alike of object 1 (the same face from
  another frame of the footage, mirrored; not annotated) whose path crosses object 1's
  path, passing behind it.
Written in the DAVIS layout (``JPEGImages/480p/<name>/00000.png`` (lossless),
``Annotations/480p/<name>/00000.png``, ``ImageSets/2017/val.txt``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from editor.api.masks import write_label_png
from editor.video.reader import iter_frames


@dataclass(frozen=True)
class ClipSpec:
    name: str
    seed: int
    camera: str  # "static" | "pan"
    frames: int = 48
    width: int = 320
    height: int = 240
    scenario: str = "swing"  # "swing" | "exit" | "occlusion" | "distractor"


def _frame(path: Path, index: int) -> np.ndarray:
    for f in iter_frames(path):
        if f.index == index:
            return f.image
    raise ValueError(f"{path} has no frame {index}")


def _polygon_sprite(rng: np.random.Generator, source: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    h, w = source.shape[:2]
    x0 = int(rng.integers(0, w - size))
    y0 = int(rng.integers(0, h - size))
    crop = source[y0:y0 + size, x0:x0 + size].copy()
    n = int(rng.integers(6, 10))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = rng.uniform(0.3, 0.48, n) * size
    pts = np.stack([size / 2 + radii * np.cos(angles), size / 2 + radii * np.sin(angles)], 1).astype(np.int32)
    mask = np.zeros((size, size), np.uint8)
    cv2.fillPoly(mask, [pts], 1)
    # a visible rim so the object differs from any background it came from
    crop = np.clip(crop.astype(np.int16) + np.array([40, -10, -30]), 0, 255).astype(np.uint8)
    return crop, mask > 0


def _paste(img: np.ndarray, labels: np.ndarray, sprite: np.ndarray, mask: np.ndarray, cx: float, cy: float,
           scale: float, oid: int) -> None:
    sw, sh = max(2, round(sprite.shape[1] * scale)), max(2, round(sprite.shape[0] * scale))
    spr = cv2.resize(sprite, (sw, sh), interpolation=cv2.INTER_LINEAR)
    msk = cv2.resize(mask.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
    x, y = int(round(cx - sw / 2)), int(round(cy - sh / 2))
    H, W = labels.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + sw), min(H, y + sh)
    if x1 <= x0 or y1 <= y0:
        return
    m = msk[y0 - y:y1 - y, x0 - x:x1 - x]
    img[y0:y1, x0:x1][m] = spr[y0 - y:y1 - y, x0 - x:x1 - x][m]
    labels[y0:y1, x0:x1][m] = oid


def render(spec: ClipSpec, footage: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames (RGB) and label maps of one clip."""
    rng = np.random.default_rng(spec.seed)
    bg_src = footage / ("bigbuckbunny.mp4" if spec.seed % 2 == 0 else "bikes.mp4")
    bg = _frame(bg_src, int(rng.integers(0, 100)))
    pan_px = 3.0 if spec.camera == "pan" else 0.0
    scale_bg = (spec.height + 8) / bg.shape[0]
    bg = cv2.resize(bg, (max(spec.width + int(pan_px * spec.frames) + 8, round(bg.shape[1] * scale_bg)),
                         spec.height + 8), interpolation=cv2.INTER_AREA)
    face = _frame(footage / "carphone_pristine.mp4", int(rng.integers(0, 100)))[20:108, 52:116]
    face_mask = np.zeros(face.shape[:2], np.uint8)
    cv2.ellipse(face_mask, (32, 44), (28, 40), 0, 0, 360, 1, -1)
    other = _frame(footage / ("bikes.mp4" if spec.seed % 2 == 0 else "bigbuckbunny.mp4"), int(rng.integers(0, 120)))
    poly, poly_mask = _polygon_sprite(rng, other, 90)
    phase = rng.uniform(0, 2 * math.pi)
    if spec.scenario != "swing":
        return _render_hard(spec, rng, bg, pan_px, face, face_mask > 0, poly, poly_mask, footage)
    frames, labels_list = [], []
    for t in range(spec.frames):
        x = int(pan_px * t)
        img = bg[4:4 + spec.height, x + 4:x + 4 + spec.width].copy()
        labels = np.zeros((spec.height, spec.width), np.uint8)
        u = t / max(1, spec.frames - 1)
        # object 1: swings left out of the frame and back, grows and shrinks
        cx1 = spec.width * (0.45 + 0.75 * math.sin(2 * math.pi * u + phase) * 0.8)
        cy1 = spec.height * (0.45 + 0.1 * math.cos(2 * math.pi * u))
        _paste(img, labels, face, face_mask > 0, cx1, cy1, 1.1 + 0.4 * math.sin(math.pi * u), 1)
        # object 2: crosses in front of object 1 along a diagonal
        cx2 = spec.width * (0.85 - 0.9 * u)
        cy2 = spec.height * (0.35 + 0.35 * u)
        _paste(img, labels, poly, poly_mask, cx2, cy2, 0.8 + 0.3 * u, 2)
        frames.append(img)
        labels_list.append(labels)
    return frames, labels_list


def _render_hard(spec: ClipSpec, rng: np.random.Generator, bg: np.ndarray, pan_px: float, face: np.ndarray,
                 face_mask: np.ndarray, poly: np.ndarray, poly_mask: np.ndarray,
                 footage: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The hard scenarios (``exit``, ``occlusion``, ``distractor``); see the module docstring."""
    W, H, n = spec.width, spec.height, spec.frames
    side = 1 if spec.seed % 2 else -1  # exit: to the right (1) or to the left (-1)
    occluder = distractor = None
    if spec.scenario == "occlusion":
        src = _frame(footage / "bikes.mp4", int(rng.integers(0, 240)))
        ow, oh = int(0.45 * W), int(0.9 * H)
        x0 = int(rng.integers(0, src.shape[1] - ow))
        occluder = np.clip(src[:oh, x0:x0 + ow].astype(np.int16) + np.array([-20, 30, 10]), 0, 255).astype(np.uint8)
    if spec.scenario == "distractor":
        other = _frame(footage / "carphone_pristine.mp4", int(rng.integers(0, 120)))[20:108, 52:116]
        distractor = np.ascontiguousarray(other[:, ::-1])
    frames, labels_list = [], []
    for t in range(n):
        u = t / max(1, n - 1)
        x = int(pan_px * t)
        img = bg[4:4 + H, x + 4:x + 4 + W].copy()
        labels = np.zeros((H, W), np.uint8)
        junk = np.zeros((H, W), np.uint8)  # pixels of objects that are not annotated
        cx2 = W * (0.2 + 0.15 * u) if spec.scenario != "distractor" else W * (0.85 - 0.2 * u)
        cy2 = H * (0.75 - 0.1 * u)
        if spec.scenario == "exit":
            # in until ~35 %, out (beyond the border) until ~60 %, back in from the same side
            k = 1.0 - abs(2.0 * u - 1.0)  # 0 → 1 → 0
            cx1 = W * (0.5 + side * (0.05 + 0.95 * k))
            cy1 = H * (0.42 + 0.08 * math.sin(2 * math.pi * u))
            s1 = 1.0 + 0.25 * u
        elif spec.scenario == "occlusion":
            cx1 = W * (0.35 + 0.3 * u)
            cy1 = H * (0.45 + 0.06 * math.sin(2 * math.pi * u))
            s1 = 1.05 + 0.2 * u
        else:  # distractor
            cx1 = W * (0.25 + 0.5 * u)
            cy1 = H * (0.4 + 0.1 * math.sin(math.pi * u))
            s1 = 1.0 + 0.15 * u
        if distractor is not None:  # behind object 1, crossing its path
            _paste(img, junk, distractor, face_mask, W * (0.8 - 0.55 * u), H * (0.62 - 0.25 * u), 1.1, 1)
        _paste(img, labels, face, face_mask, cx1, cy1, s1, 1)
        _paste(img, labels, poly, poly_mask, cx2, cy2, 0.7 + 0.2 * u, 2)
        if occluder is not None:  # in front of everything, crossing right to left
            ox = W * (1.2 - 1.4 * u)
            _paste(img, junk, occluder, np.ones(occluder.shape[:2], bool), ox, H * 0.5, 1.0, 1)
            labels[junk > 0] = 0
        frames.append(img)
        labels_list.append(labels)
    return frames, labels_list


DEFAULT_SET = (ClipSpec("gt-static-a", 0, "static"), ClipSpec("gt-pan-a", 1, "pan"),
               ClipSpec("gt-static-b", 2, "static"), ClipSpec("gt-pan-b", 3, "pan"))
"""The original clips (``swing``): kept as they are so that old numbers stay comparable."""
HARD_SET = (ClipSpec("gt-exit-a", 4, "static", frames=64, scenario="exit"),
            ClipSpec("gt-exit-b", 5, "pan", frames=64, scenario="exit"),
            ClipSpec("gt-occlusion-a", 6, "static", frames=56, scenario="occlusion"),
            ClipSpec("gt-occlusion-b", 7, "pan", frames=56, scenario="occlusion"),
            ClipSpec("gt-distractor-a", 8, "static", frames=56, scenario="distractor"),
            ClipSpec("gt-distractor-b", 9, "pan", frames=56, scenario="distractor"))
"""Hard cases: an object leaving the frame and coming back (``exit``), occlusion by a
foreground object (``occlusion``), a look-alike on a busy background (``distractor``)."""


def write_dataset(root: Path, footage: Path, specs: tuple[ClipSpec, ...] = DEFAULT_SET) -> Path:
    """Write clips in the DAVIS layout under ``root``; returns ``root``."""
    for spec in specs:
        frames, labels = render(spec, footage)
        img_dir = root / "JPEGImages" / "480p" / spec.name
        ann_dir = root / "Annotations" / "480p" / spec.name
        img_dir.mkdir(parents=True, exist_ok=True)
        ann_dir.mkdir(parents=True, exist_ok=True)
        for t, (img, lab) in enumerate(zip(frames, labels)):
            cv2.imwrite(str(img_dir / f"{t:05d}.png"), img[..., ::-1])
            write_label_png(ann_dir / f"{t:05d}.png", lab)
    sets = root / "ImageSets" / "2017"
    sets.mkdir(parents=True, exist_ok=True)
    (sets / "val.txt").write_text("\n".join(s.name for s in specs) + "\n")
    return root
