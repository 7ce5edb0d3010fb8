"""Data types that flow through the pipeline."""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

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


@dataclass(frozen=True)
class VideoInfo:
    """What a video file holds, as the user sees it (size is the upright, rotated size)."""

    path: str
    width: int
    height: int
    rotation: int
    """Clockwise display rotation applied to decoded frames (0, 90, 180, 270)."""
    frame_count: int | None
    """Exact count when the container records it, else ``None``."""
    frame_count_estimate: int
    average_rate: Fraction
    time_base: Fraction
    duration: float
    codec: str
    pix_fmt: str
    color: ColorInfo = field(default_factory=ColorInfo)
    audio: tuple[AudioStreamInfo, ...] = ()
    container_format: str = ""

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of upright frames."""
        return self.width, self.height


@dataclass
class Frame:
    """One decoded frame, upright, RGB uint8 H×W×3.

    ``pts`` is in ``time_base`` units as decoded (``None`` if the source had none).
    ``alpha`` is an optional H×W uint8 alpha plane that stages may set
    (background replacement with transparency).
    """

    index: int
    image: np.ndarray
    pts: int | None
    time_base: Fraction
    time: float
    alpha: np.ndarray | None = None
    duration: int | None = None
    """Display duration in ``time_base`` units when the source says (keeps the last frame's length)."""

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    def replace(self, image: np.ndarray, alpha: np.ndarray | None = None) -> "Frame":
        """A copy of this frame's timing with another image (and optionally alpha)."""
        return Frame(self.index, image, self.pts, self.time_base, self.time,
                     alpha if alpha is not None else self.alpha, self.duration)
