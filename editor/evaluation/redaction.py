"""Scoring automatic redaction against face ground truth (:mod:`editor.evaluation.faces`).

The score is decided from pixels, the same way for any tool, by comparing the tool's output
with a reference: the same input put through the same tool's decode and encode with nothing
redacted (deface: its own reader and writer without detection — byte for byte what
``deface --thresh 1.0`` writes; trackedit: ``run --masks`` with empty masks). Codec damage
and rescaling are then the same on both sides, and what differs is what the tool redacted:

* a pixel is **changed** when, after both frames are smoothed with a Gaussian of σ
  ``sigma`` px (which removes most codec noise), any RGB channel differs by at least
  ``delta`` levels of 255.
* a face is **visible** on a frame when at least ``visible_share`` of it is in view
  (inside the frame and not hidden); only visible faces count.
* a visible face is **redacted** when at least ``face_share`` of its visible pixels
  changed; otherwise that face-frame is **missed**. Coverage = redacted ÷ visible
  face-frames.
* **false redaction** on a frame = changed pixels outside every face's box grown by
  ``margin`` × its size on each side (hair, ears, the tools' own margins, the smear of
  motion blur) ÷ the frame's pixels, counting only changes that fill a disc of radius
  ``speckle`` px (a morphological opening): a redaction is one solid region, while two
  encodes of slightly different frames also differ in scattered specks (x264 spends its
  bits differently once part of the frame changed) — up to 0.8 % of a frame at deface's
  CRF 25. On clips without faces every changed region counts.

The defaults were set on the generated clips (every 6th frame of each kind with a face,
faces fully in view): a strong Gaussian blur (σ = a fifth of the box, at least 12 px) of
exactly the face box changes at least 78 % of the face's pixels by 6 levels (median 90 %),
deface's blur (a box filter half the box's size over the ellipse of the box grown 1.3×) at
least 88 %, the same box filter over exactly the box at least 75 % in 95 % of the frames;
blurring half the face changes at most 46 %, a light blur (σ 3 px) at most 69 %. Against
its own re-encode, deface's output on those clips splits cleanly: face-frames it blurred
have 75–100 % of their pixels changed, those it missed 0–30 %. Against the decoded input
instead, deface's re-encode alone (640×360 → 640×368, x264 CRF 25, scaled back) would
count as up to 1.4 % of a frame changed on grass and foliage — hence the tool's own
re-encode as the reference.

Outputs of another size (deface writes 640×368 for 640×360 input) are scaled back to the
reference's size first (:func:`match_size`). :func:`fidelity` says whether an output kept
the input's frame size, frame count, timestamps and audio.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from editor.evaluation.faces import FrameTruth


@dataclass(frozen=True)
class RedactionRule:
    """When a pixel counts as changed and a face as redacted (see the module docstring).

    ``sigma`` px, ``delta`` levels (0–255), ``face_share`` / ``visible_share`` shares
    (0–1), ``margin`` a share of the face box's width / height added on each side,
    ``speckle`` px the radius of the opening applied before false redactions are counted.
    """

    sigma: float = 1.5
    delta: float = 6.0
    face_share: float = 0.75
    visible_share: float = 0.3
    margin: float = 0.5
    speckle: int = 3


@dataclass(frozen=True)
class FaceScore:
    """One face on one frame: its visible share (0–1), the share of its visible pixels
    that changed (0–1), whether it counts (``visible``) and whether it is ``redacted``."""

    face: int
    visible_share: float
    changed_share: float
    visible: bool
    redacted: bool


@dataclass(frozen=True)
class FrameScore:
    """One frame: its faces, changed pixels ÷ frame pixels, and changed pixels in solid
    regions (see ``RedactionRule.speckle``) outside the grown face boxes ÷ frame pixels
    (``false_share``)."""

    index: int
    faces: tuple[FaceScore, ...]
    changed_share: float
    false_share: float


@dataclass(frozen=True)
class ClipScore:
    """All scored frames of one clip and one tool."""

    frames: tuple[FrameScore, ...]

    @property
    def visible(self) -> int:
        """Visible face-frames (a frame with two visible faces counts twice)."""
        return sum(f.visible for fr in self.frames for f in fr.faces)

    @property
    def redacted(self) -> int:
        """Visible face-frames that were redacted."""
        return sum(f.visible and f.redacted for fr in self.frames for f in fr.faces)

    @property
    def missed(self) -> tuple[tuple[int, int], ...]:
        """(frame index, face id) of every visible face that was not redacted."""
        return tuple((fr.index, f.face) for fr in self.frames for f in fr.faces if f.visible and not f.redacted)

    @property
    def coverage(self) -> float | None:
        """Redacted ÷ visible face-frames; ``None`` on clips without a visible face."""
        return self.redacted / self.visible if self.visible else None

    @property
    def max_false_share(self) -> float:
        return max((fr.false_share for fr in self.frames), default=0.0)

    @property
    def mean_false_share(self) -> float:
        return float(np.mean([fr.false_share for fr in self.frames])) if self.frames else 0.0

    @property
    def max_changed_share(self) -> float:
        return max((fr.changed_share for fr in self.frames), default=0.0)


def match_size(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """``image`` (H×W×C uint8) scaled to ``height``×``width`` (area averaging when it
    shrinks, bilinear when it grows); returned as is when it already has that size."""
    if image.shape[:2] == (height, width):
        return image
    shrink = image.shape[0] * image.shape[1] > height * width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def changed_pixels(reference: np.ndarray, output: np.ndarray, rule: RedactionRule = RedactionRule()) -> np.ndarray:
    """Bool H×W: pixels where ``output`` differs from ``reference`` (both RGB uint8 H×W×3 of
    one size) by at least ``rule.delta`` levels in some channel after both are smoothed
    with a Gaussian of σ ``rule.sigma`` px."""
    if reference.shape != output.shape:
        raise ValueError(f"frames differ in shape: {reference.shape} vs {output.shape}; use match_size first")
    a, b = reference.astype(np.float32), output.astype(np.float32)
    if rule.sigma > 0:
        a = cv2.GaussianBlur(a, (0, 0), rule.sigma)
        b = cv2.GaussianBlur(b, (0, 0), rule.sigma)
    diff = cv2.absdiff(a, b)
    return diff.max(axis=2) >= rule.delta


def score_frame(reference: np.ndarray, output: np.ndarray, truth: FrameTruth,
                rule: RedactionRule = RedactionRule()) -> FrameScore:
    """Score one frame: ``reference`` and ``output`` RGB uint8 H×W×3 (same size), ``truth``
    the frame's faces."""
    h, w = reference.shape[:2]
    changed = changed_pixels(reference, output, rule)
    allowed = np.zeros((h, w), bool)
    faces = []
    for face in truth.faces:
        x0, y0, x1, y1 = face.grown_box(rule.margin, h, w)
        allowed[y0:y1, x0:x1] = True
        ox, oy = face.origin
        mh, mw = face.mask.shape
        visible_px = face.visible_pixels
        hit = int(np.count_nonzero(changed[oy:oy + mh, ox:ox + mw] & face.mask)) if visible_px else 0
        share = hit / visible_px if visible_px else 0.0
        visible = face.visible_share >= rule.visible_share and visible_px > 0
        faces.append(FaceScore(face.face, face.visible_share, share, visible, visible and share >= rule.face_share))
    total = h * w
    solid = changed
    if rule.speckle > 0:
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * rule.speckle + 1, 2 * rule.speckle + 1))
        solid = cv2.morphologyEx(changed.view(np.uint8), cv2.MORPH_OPEN, disc).view(bool)
    return FrameScore(truth.index, tuple(faces), float(np.count_nonzero(changed)) / total,
                      float(np.count_nonzero(solid & ~allowed)) / total)


def score_clip(reference: Iterable[np.ndarray], output: Iterable[np.ndarray], truths: Sequence[FrameTruth],
               rule: RedactionRule = RedactionRule(), size: tuple[int, int] | None = None) -> ClipScore:
    """Score frame by frame: ``reference`` and ``output`` yield RGB uint8 frames in order,
    ``truths`` one per frame. Both are scaled to ``size`` = (height, width) — the size the
    truth is for — when given, else outputs to the reference's size. Scoring stops at the
    shortest of the three (:func:`fidelity` reports lost frames)."""
    scores = []
    for ref, out, truth in zip(reference, output, truths):
        h, w = size or ref.shape[:2]
        scores.append(score_frame(match_size(ref, h, w), match_size(out, h, w), truth, rule))
    return ClipScore(tuple(scores))


# -- fidelity ----------------------------------------------------------------------------
@dataclass(frozen=True)
class StreamFacts:
    """What a fidelity check needs of one file: video size (width, height), the video
    frames' presentation times in s (sorted, from packet timestamps), the frame duration
    (s) and the durations of its audio streams (s)."""

    size: tuple[int, int]
    times: tuple[float, ...]
    frame_duration: float
    audio: tuple[float, ...]


def stream_facts(path: Path) -> StreamFacts:
    """Read ``path``'s packets (no decoding) with PyAV."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        rate = v.average_rate or v.guessed_rate or Fraction(25)
        times: list[float] = []
        audio_end: dict[int, float] = {}
        audio_start: dict[int, float] = {}
        for packet in c.demux():
            if packet.pts is None or packet.size == 0:
                continue
            t = float(packet.pts * packet.time_base)
            if packet.stream.index == v.index:
                times.append(t)
            elif packet.stream.type == "audio":
                end = t + float((packet.duration or 0) * packet.time_base)
                audio_start[packet.stream.index] = min(audio_start.get(packet.stream.index, t), t)
                audio_end[packet.stream.index] = max(audio_end.get(packet.stream.index, end), end)
        size = (v.codec_context.width, v.codec_context.height)
    audio = tuple(audio_end[k] - audio_start[k] for k in sorted(audio_end))
    return StreamFacts(size, tuple(sorted(times)), float(1 / rate), audio)


@dataclass(frozen=True)
class Fidelity:
    """An output compared with its input: frame size, frame count, timestamps (relative to
    the first frame; kept when every frame is within half a frame duration of the input's)
    and audio (kept when the output has as many audio streams, each within 0.1 s of the
    input's duration)."""

    input: StreamFacts
    output: StreamFacts

    @property
    def size_kept(self) -> bool:
        return self.input.size == self.output.size

    @property
    def frames_kept(self) -> bool:
        return len(self.input.times) == len(self.output.times)

    @property
    def max_time_error(self) -> float | None:
        """Largest difference of a frame's time from the first frame's, output vs input (s);
        ``None`` when the frame counts differ."""
        if not self.frames_kept or not self.input.times:
            return None
        a = np.array(self.input.times) - self.input.times[0]
        b = np.array(self.output.times) - self.output.times[0]
        return float(np.abs(a - b).max())

    @property
    def timestamps_kept(self) -> bool:
        err = self.max_time_error
        return err is not None and err <= self.input.frame_duration / 2

    @property
    def audio_kept(self) -> bool:
        if len(self.input.audio) != len(self.output.audio):
            return False
        return all(abs(a - b) <= 0.1 for a, b in zip(self.input.audio, self.output.audio))


def fidelity(input_path: Path, output_path: Path) -> Fidelity:
    """Compare ``output_path`` with ``input_path`` (see :class:`Fidelity`)."""
    return Fidelity(stream_facts(input_path), stream_facts(output_path))
