"""Data types that flow through the pipeline."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import cv2
import numpy as np


@dataclass(frozen=True)
class AudioStreamInfo:
    index: int
    codec: str
    sample_rate: int
    channels: int
    layout: str


@dataclass(frozen=True)
class ColorInfo:
    """Colour metadata of the source video stream (FFmpeg enum values, 2 = unspecified)."""

    colorspace: int = 2
    color_range: int = 0
    color_primaries: int = 2
    color_trc: int = 2

    @property
    def is_set(self) -> bool:
        return any(v not in (0, 2) for v in (self.colorspace, self.color_primaries, self.color_trc))

    @property
    def is_hdr(self) -> bool:
        """PQ (SMPTE 2084, HDR10) or HLG (ARIB STD-B67) transfer."""
        return self.color_trc in (16, 18)


@dataclass(frozen=True)
class MasteringDisplay:
    """HDR10 mastering-display colour volume (SMPTE ST 2086): CIE 1931 xy chromaticities of
    the red, green and blue primaries and the white point, and the luminance range in cd/m²."""

    red: tuple[Fraction, Fraction]
    green: tuple[Fraction, Fraction]
    blue: tuple[Fraction, Fraction]
    white_point: tuple[Fraction, Fraction]
    min_luminance: Fraction
    max_luminance: Fraction

    def x265(self) -> str:
        """The ``master-display`` string of x265 and x264 (xy in 0.00002 units, luminance in
        0.0001 cd/m²): ``G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min)``."""
        def xy(p: tuple[Fraction, Fraction]) -> str:
            return f"({round(p[0] * 50000)},{round(p[1] * 50000)})"
        return (f"G{xy(self.green)}B{xy(self.blue)}R{xy(self.red)}WP{xy(self.white_point)}"
                f"L({round(self.max_luminance * 10000)},{round(self.min_luminance * 10000)})")


@dataclass(frozen=True)
class ContentLight:
    """HDR10 content light level (CTA-861.3): MaxCLL and MaxFALL in cd/m²."""

    max_cll: int
    max_fall: int


@dataclass(frozen=True)
class DecodedPlanes:
    """A frame's pixels exactly as the decoder gave them, kept so that the writer can
    put untouched pixels back bit for bit (stages never need this).

    ``data`` holds one 2-D array per plane of the FFmpeg pixel format ``format`` (uint8
    for 8-bit formats, native-endian uint16 with the format's 9–16 bits otherwise), in
    the stored orientation: ``rotation`` is the clockwise turn that makes them upright,
    as applied to :attr:`Frame.image`. ``color`` is the frame's own colour description.
    """

    format: str
    data: tuple[np.ndarray, ...]
    color: ColorInfo
    rotation: int = 0
    rgb: dict[bool, tuple[np.ndarray, np.ndarray | None]] = field(default_factory=dict, init=False, repr=False,
                                                                   compare=False)
    """A private copy of the upright RGB (and alpha) made from these planes, by depth (``True``:
    uint16), kept by the streaming reader so that the writer need not convert the planes again
    to find the pixels a stage changed. Never handed to stages; not carried by
    ``dataclasses.replace`` (a frame cache that drops the data drops it too)."""

    @property
    def width(self) -> int:
        """Stored (not rotated) width."""
        return int(self.data[0].shape[1])

    @property
    def height(self) -> int:
        """Stored (not rotated) height."""
        return int(self.data[0].shape[0])


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as the user sees it (size is the upright, rotated size)."""

    path: str
    width: int
    height: int
    rotation: int
    """Clockwise display rotation applied to decoded frames (0, 90, 180, 270)."""
    frame_count: int | None
    """Frames that decode, in display order: packets an edit list hides and frames shown
    before the first frame the decoder outputs (a cut mid-GOP, open-GOP leading pictures)
    are not counted, so the container's own count may be larger. ``None`` only when the
    stream has no packets."""
    frame_count_estimate: int
    average_rate: Fraction
    time_base: Fraction
    duration: float
    codec: str
    pix_fmt: str
    color: ColorInfo = field(default_factory=ColorInfo)
    audio: tuple[AudioStreamInfo, ...] = ()
    container_format: str = ""
    bit_depth: int = 8
    """Bits per component of the decoded pixel format (8, 10, 12, 16)."""
    mastering_display: MasteringDisplay | None = None
    """HDR10 mastering-display metadata of the first frame, when present."""
    content_light: ContentLight | None = None
    """HDR10 content light level of the first frame, when present."""
    index: int = 0
    """Index of the edited video stream in the container."""
    field_order: str = "progressive"
    """``progressive``, or interlaced: ``tt``/``tb`` top field first, ``bb``/``bt`` bottom field
    first (FFmpeg's ``field_order``; an interlaced stream that does not say is ``tt``)."""
    sample_aspect_ratio: Fraction | None = None
    """Width : height of one pixel of the upright frames (SAR; 4:3 for anamorphic 4:3
    pixels), ``None`` when the source does not say (square pixels, for players)."""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of upright frames."""
        return self.width, self.height


def rgb8(image: np.ndarray) -> np.ndarray:
    """``image`` (or an alpha plane) as uint8 0–255: ``image`` itself when it is uint8;
    uint16 (0–65535) rounded to the nearest 8-bit level (÷ 257, so 65535 → 255)."""
    if image.dtype == np.uint8:
        return image
    if image.dtype != np.uint16:
        raise TypeError(f"expected uint8 or uint16 pixels, got {image.dtype}")
    # saturating and rounding to nearest: exactly round(v / 257) for every 16-bit v (tested)
    return cv2.convertScaleAbs(np.ascontiguousarray(image), alpha=1 / 257)


@dataclass
class Frame:
    """One decoded frame, upright, RGB H×W×3.

    ``image`` has the source's depth as the pipeline decodes it (``iter_frames(...,
    deep=True)``): uint8 (0–255) for 8-bit sources, uint16 (``rgb48``, 0–65535, white =
    65535) for sources with more than 8 bits per component (10, 12, 16). A plain reader
    (``deep=False``) and the web UI give uint8 for every source. :attr:`rgb8` and
    :meth:`as_8bit` are the 8-bit view (tracking backends see only that). RGB is full
    range, converted with the source's own matrix and range (see :mod:`editor.video.pixels`).
    ``pts`` is in ``time_base`` units as decoded (``None`` if the source had none).
    ``alpha`` is an optional H×W alpha plane of the image's dtype: the source's alpha when
    it has one, or set by a stage (background replacement with transparency).
    ``planes`` are the decoded source pixels (:class:`DecodedPlanes`), carried along by
    :meth:`replace` so the writer keeps every pixel a stage did not change bit-identical;
    stages neither read nor set them.
    """

    index: int
    image: np.ndarray
    pts: int | None
    time_base: Fraction
    time: float
    alpha: np.ndarray | None = None
    duration: int | None = None
    """Display duration in ``time_base`` units when the source says (keeps the last frame's length)."""
    planes: DecodedPlanes | None = field(default=None, repr=False, compare=False)
    damaged: bool = False
    """The decoder reported errors on this frame (FFmpeg's corrupt flag: concealed data), or it
    predicts from such a frame (every frame after one, up to the next clean keyframe)."""

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def deep(self) -> bool:
        """True when ``image`` is uint16 (a source with more than 8 bits per component)."""
        return self.image.dtype == np.uint16

    @property
    def rgb8(self) -> np.ndarray:
        """``image`` as uint8 (itself when it already is; see :func:`rgb8`)."""
        return rgb8(self.image)

    def as_8bit(self) -> "Frame":
        """This frame with 8-bit ``image`` and ``alpha`` (itself when already 8-bit): what
        segmenters, trackers, shot detection and 8-bit-only stages get. The decoded planes
        are kept, so the writer still passes untouched pixels through."""
        if not self.deep:
            return self
        alpha = None if self.alpha is None else rgb8(self.alpha)
        return Frame(self.index, rgb8(self.image), self.pts, self.time_base, self.time, alpha, self.duration,
                     self.planes, self.damaged)

    def replace(self, image: np.ndarray, alpha: np.ndarray | None = None) -> "Frame":
        """A copy of this frame's timing with another image (and optionally alpha)."""
        return Frame(self.index, image, self.pts, self.time_base, self.time,
                     alpha if alpha is not None else self.alpha, self.duration, self.planes, self.damaged)
