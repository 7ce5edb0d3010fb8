"""Clips of faces passing behind an opaque bar, for measuring redaction at an occluder's edge
(issue #22; seeded, reproducible, exact truth).

A face walks across a still or slowly panning shot, disappears behind a bar (a post in
front of everything, :class:`editor.evaluation.faces.Pole`, at least as wide as the face)
and comes out on the other side: on the frames where it enters and leaves the bar only a
part of it is in view, which is where a face detector stops firing (half a face) while the
part in view still shows eyes or a mouth. The faces are scikit-image's sample photographs
(:func:`skimage.data.astronaut`: Eileen Collins, colour; :func:`skimage.data.lfw_subset`:
the first 100 of its 200 images are grey 25×25 faces from Labeled Faces in the Wild),
each cut out as a head with a soft elliptic edge and drawn by the machinery of
:mod:`editor.evaluation.faces` (same head cut, scaling, motion blur, posts, compositing,
truth and files), 16 to 64 px high, optionally darkened, lit from one side, tilted
and motion-blurred, over a frame of ``bigbuckbunny.mp4`` or ``bikes.mp4``.

Two disjoint sets (:data:`TUNING_SET`, :data:`HELD_OUT_SET`): constants are chosen on the
tuning clips (the astronaut and LFW faces 0–49 over the meadow), the held-out clips (LFW
faces 50–99 over the street, bollards and road of bikes.mp4, other bar widths and speeds)
are the headline. The truth of every frame is the face's ellipse and the part of it the bar
and the frame's border leave visible (:class:`editor.evaluation.faces.FaceTruth`), scored
by :func:`editor.evaluation.redaction.score_clip` like the other generated clips.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from editor.evaluation.face_detail import DETAIL_RATIO, detail_ratio
from editor.evaluation.faces import (FaceClipFiles, FaceClipSpec, FacePose, FrameTruth, Pole, _composite, _cut_head,
                                     _draw_head, _draw_pole, _Head, _panorama, face_truth, save_truth, write_video)
from editor.video.reader import iter_frames

GENERATOR_VERSION = 1
"""Bumped whenever the pixels or the truth of any clip change (cached clips are rewritten)."""

ASTRONAUT_FACE_BOX = (178, 70, 272, 188)
"""Face box (x0, y0, x1, y1) of :func:`skimage.data.astronaut` (512×512), hairline to chin
and cheek to cheek, checked by eye."""

LFW_FACE_BOX = (12, 8, 88, 100)
"""Face box of an LFW subset image scaled ×4 to 100×100 (the faces are centred and fill
the 25×25 crop from eyebrows to chin; the box takes in the forehead)."""


@dataclass(frozen=True)
class EdgeClipSpec:
    """One clip: face ``source`` (``"astronaut"`` or ``"lfw:<n>"``, n < 100), its box
    ``height`` in px, walking ``speed`` px per frame (sign: direction) along row ``y`` (a
    share of the frame's height) behind a bar ``bar`` face widths wide at ``bar_x`` (share
    of the width); ``dark`` scales its pixels (1: as photographed, 0.45: in shadow);
    ``blur`` smears it along its motion (the exposure's length in frames: 0 none, 1 a
    full-frame exposure); ``tilt`` turns the head in the image plane (degrees, about the
    face box's centre; the truth stays the upright box's ellipse, off by a few pixels at its
    rim); ``shadow`` scales the far side of the face (a ramp across the face box from 1 to
    ``shadow``: light from one side); the background is :data:`editor.evaluation.faces.BACKGROUNDS`'
    ``background`` panned by ``pan`` (as :class:`editor.evaluation.faces.FaceClipSpec`)."""

    name: str
    seed: int
    source: str
    height: float
    speed: float
    background: str
    bar: float = 1.2
    bar_x: float = 0.5
    y: float = 0.45
    dark: float = 1.0
    blur: float = 0.0
    tilt: float = 0.0
    shadow: float = 1.0
    width: int = 640
    frame_height: int = 360
    rate: int = 25
    pan: tuple[float, float, float, float] = (0.3, 0.5, 0.4, 0.5)

    @property
    def face_width(self) -> float:
        return self.height * 0.8

    @property
    def frames(self) -> int:
        """Frames from the face fully in view, 1.5 face widths before the bar, to the same
        on the other side."""
        travel = self.bar * self.face_width + 2 * 1.5 * self.face_width + self.face_width
        return int(math.ceil(travel / abs(self.speed))) + 12

    def background_spec(self) -> FaceClipSpec:
        return FaceClipSpec(self.name, "none", self.seed, self.background, frames=self.frames, width=self.width,
                            height=self.frame_height, rate=self.rate, pan=self.pan)


def _set(prefix: str, sources: Sequence[str], backgrounds: Sequence[str], sizes: Sequence[float],
         speeds: Sequence[float], bars: Sequence[float], seed: int) -> tuple[EdgeClipSpec, ...]:
    rng = np.random.default_rng(seed)
    out = []
    for k, src in enumerate(sources):
        height = sizes[k % len(sizes)]
        speed = speeds[k % len(speeds)] * (1 if k % 2 == 0 else -1)
        dark = (0.4, 1.0, 0.7)[k % 3]
        blur = 1.0 if k % 4 == 3 else 0.0
        tilt = (0.0, -18.0, 14.0, 0.0, 20.0)[k % 5]
        shadow = 0.3 if k % 2 == 1 else 1.0
        out.append(EdgeClipSpec(f"{prefix}-{k + 1}", seed * 100 + k, src, height, speed, backgrounds[k % len(backgrounds)],
                                bar=bars[k % len(bars)], bar_x=float(rng.uniform(0.4, 0.6)),
                                y=float(rng.uniform(0.3, 0.6)), dark=dark, blur=blur, tilt=tilt, shadow=shadow))
    return tuple(out)


TUNING_SET: tuple[EdgeClipSpec, ...] = _set(
    "edge-tune", ("astronaut", "lfw:3", "lfw:12", "lfw:27", "astronaut", "lfw:41"), ("meadow",),
    (36, 20, 28, 48, 16, 36), (1.5, 2.5, 1.0, 4.0, 2.0, 3.0), (1.2, 1.5, 1.1), 7)
"""Tuning clips: the astronaut and LFW faces 0–49 over the meadow (bigbuckbunny.mp4)."""

HELD_OUT_SET: tuple[EdgeClipSpec, ...] = _set(
    "edge-held", ("lfw:55", "lfw:63", "lfw:70", "lfw:78", "lfw:86", "lfw:94"), ("street", "bollards", "road"),
    (40, 24, 20, 32, 56, 28), (2.0, 1.2, 3.5, 1.8, 5.0, 2.2), (1.6, 1.05, 2.0), 8)
"""Held-out clips: LFW faces 50–99 over bikes.mp4's street, bollards and road, other sizes,
speeds and bar widths."""


@functools.lru_cache(maxsize=4)
def _lfw() -> np.ndarray:
    from skimage.data import lfw_subset

    return lfw_subset()


def load_head(source: str) -> _Head:
    """The head of ``source`` (see :class:`EdgeClipSpec`) cut out as in :mod:`editor.evaluation.faces`.
    Raises ``ValueError`` for an unknown source."""
    import cv2

    if source == "astronaut":
        from skimage.data import astronaut

        return _cut_head(astronaut(), ASTRONAUT_FACE_BOX)
    if source.startswith("lfw:") and source[4:].isdigit() and int(source[4:]) < 100:
        grey = np.rint(_lfw()[int(source[4:])] * 255).astype(np.uint8)
        big = cv2.resize(grey, (100, 100), interpolation=cv2.INTER_CUBIC)
        return _cut_head(np.repeat(big[..., None], 3, 2), LFW_FACE_BOX)
    raise ValueError(f"unknown face source {source!r}: 'astronaut' or 'lfw:<0…99>'")


def _posed(head: _Head, spec: EdgeClipSpec) -> _Head:
    """``head`` darkened, shadowed on one side and tilted as ``spec`` says (RGB float32)."""
    import cv2

    x0, y0, x1, y1 = head.box
    h, w = head.alpha.shape
    ramp = np.clip((np.arange(w, dtype=np.float32) + 0.5 - x0) / max(1.0, x1 - x0), 0, 1)
    rgb = head.rgb * spec.dark * (1 + (spec.shadow - 1) * ramp)[None, :, None]
    alpha = head.alpha
    if spec.tilt:
        turn = cv2.getRotationMatrix2D(((x0 + x1) / 2, (y0 + y1) / 2), spec.tilt, 1.0)
        rgb = cv2.warpAffine(rgb, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(alpha, turn, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    return _Head(np.ascontiguousarray(rgb, np.float32), np.ascontiguousarray(alpha, np.float32), head.box)


def render(spec: EdgeClipSpec, footage: Path) -> Iterator[tuple[np.ndarray, FrameTruth]]:
    """Frames of ``spec`` (RGB uint8 ``frame_height``×``width``×3) with their truth
    (``footage``: the folder with bigbuckbunny.mp4 and bikes.mp4)."""
    bg = spec.background_spec()
    panorama = _panorama(bg, footage).astype(np.float32)
    head = _posed(load_head(spec.source), spec)
    W, H, n = spec.width, spec.frame_height, spec.frames
    ph, pw = panorama.shape[:2]
    fw = spec.face_width
    bar_x, bar_w = W * spec.bar_x, spec.bar * fw
    span = bar_w / 2 + 1.5 * fw + fw / 2
    start = bar_x - span if spec.speed > 0 else bar_x + span
    pole = Pole(bar_x, bar_w)
    for t in range(n):
        u = t / max(1, n - 1)
        ax, ay, bx, by = spec.pan
        cx, cy = round((ax + (bx - ax) * u) * (pw - W)), round((ay + (by - ay) * u) * (ph - H))
        canvas = panorama[cy:cy + H, cx:cx + W].copy()
        pose = FacePose(1, 0, start + spec.speed * (t - 6), H * spec.y, spec.height,
                        blur=(spec.speed * spec.blur, 0.0))
        layer, box = _draw_head(head, pose)
        _composite(canvas, layer)
        bar = _draw_pole(pole, H, spec.seed)
        _composite(canvas, bar)
        truth = face_truth(pose, box, [bar], W, H)
        yield np.clip(np.rint(canvas), 0, 255).astype(np.uint8), FrameTruth(t, (truth,))


def write_edge_clip(spec: EdgeClipSpec, folder: Path, footage: Path) -> FaceClipFiles:
    """``<name>.mp4`` (H.264 CRF 12 with an AAC tone, :func:`editor.evaluation.faces.write_video`)
    and ``<name>.truth.npz`` under ``folder``, written once per spec and generator version.
    The returned files' ``spec`` is the background's :class:`FaceClipSpec` (kind ``"none"``
    only names its scenery; the truth file has the face)."""
    import json
    from dataclasses import asdict

    folder.mkdir(parents=True, exist_ok=True)
    files = FaceClipFiles(spec.background_spec(), folder / f"{spec.name}.mp4", folder / f"{spec.name}.truth.npz")
    stamp = folder / f"{spec.name}.spec.json"
    want = json.dumps({**asdict(spec), "version": GENERATOR_VERSION}, sort_keys=True)
    if files.video.exists() and files.truth.exists() and stamp.exists() and stamp.read_text() == want:
        return files
    truths: list[FrameTruth] = []

    def images() -> Iterator[np.ndarray]:
        for image, truth in render(spec, footage):
            truths.append(truth)
            yield image

    write_video(files.video, images(), spec.rate)
    save_truth(files.truth, truths, files.spec)
    stamp.write_text(want)
    return files


def bare_frames(video: Path, output: Path, truths: Sequence[FrameTruth], visible_share: float = 0.3
                ) -> tuple[int, tuple[int, ...]]:
    """(face-frames in view, the bare ones' frame indices) of ``output`` (an edit of ``video``
    with the truth ``truths``): a face is in view on a frame when at least ``visible_share``
    of it is visible (the share :class:`editor.evaluation.redaction.RedactionRule` counts),
    and bare when the visible part of its core keeps at least a tenth of the input's
    Laplacian-of-Gaussian energy in ``output`` (:func:`editor.evaluation.face_detail.detail_ratio`
    with the visible mask: issue #22's criterion)."""
    seen, bare = 0, []
    for src, out, truth in zip(iter_frames(video), iter_frames(output), truths):
        for face in truth.faces:
            if face.visible_share < visible_share:
                continue
            seen += 1
            h, w = src.image.shape[:2]
            if detail_ratio(src.image, out.image, face.box, face.frame_mask(h, w)) >= DETAIL_RATIO:
                bare.append(truth.index)
    return seen, tuple(bare)
