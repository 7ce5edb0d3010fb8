"""Write small synthetic clips with PyAV for tests (no committed binaries)."""
from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_clip(path: Path, images: Iterable[np.ndarray], *, rate: int = 25, codec: str = "libx264",
               pix_fmt: str = "yuv420p", options: dict[str, str] | None = None,
               audio_seconds: float = 0.0) -> Path:
    """Encode RGB uint8 frames (constant rate, pts = index) and optional mono AAC silence."""
    images = iter(images)
    first = next(images)
    with av.open(str(path), "w") as c:
        s = c.add_stream(codec, rate=rate)
        s.height, s.width = first.shape[:2]
        s.pix_fmt = pix_fmt
        if options:
            s.codec_context.options = options
        a = c.add_stream("aac", rate=48000) if audio_seconds else None
        for i, img in enumerate([first, *images]):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, rate)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
        if a is not None:
            _silence(c, a, audio_seconds)
    return path


def _silence(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, seconds: float) -> None:
    for k in range(int(seconds * 48000 / 1024)):
        f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        f.sample_rate, f.pts = 48000, k * 1024
        for p in stream.encode(f):
            container.mux(p)
    for p in stream.encode(None):
        container.mux(p)


def write_audio_only(path: Path, seconds: float = 0.4) -> Path:
    with av.open(str(path), "w") as c:
        _silence(c, c.add_stream("aac", rate=48000), seconds)
    return path
