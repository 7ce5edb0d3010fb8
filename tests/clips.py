"""Write small synthetic clips with PyAV for tests (no committed binaries)."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


# -- clips in any format, with any streams ------------------------------------------------
ASS_HEADER = b"""[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, \
Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, \
MarginV, Encoding
Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""

#: (colorspace, color_range, color_primaries, color_trc) as FFmpeg enum values
BT709 = (1, 1, 1, 1)
BT601 = (6, 1, 6, 6)
BT709_FULL = (1, 2, 1, 1)
BT2020 = (9, 1, 9, 14)
HDR10 = (9, 1, 9, 16)
UNTAGGED = (2, 0, 2, 2)


@dataclass
class Audio:
    """An audio stream for :func:`make_clip`: a tone per channel. ``layout`` is an FFmpeg layout
    name or ``"N channels"`` (order unspecified)."""

    codec: str = "aac"
    layout: str = "stereo"
    rate: int = 48000
    language: str | None = None
    title: str | None = None
    forced: bool = False


def _plane_view(plane, dtype: np.dtype) -> np.ndarray:  # noqa: ANN001
    return np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // dtype.itemsize)[:, :plane.width]


def synthetic_frame(pix_fmt: str, width: int, height: int, t: int, *, full_range: bool = False,
                    seed: int = 0) -> av.VideoFrame:
    """A textured frame written straight into the planes of ``pix_fmt`` (no RGB conversion):
    gradients that move with ``t`` plus fixed noise, within the legal range of each plane."""
    frame = av.VideoFrame(width, height, pix_fmt)
    fmt = frame.format
    bits = max(c.bits for c in fmt.components)
    dtype = np.dtype(np.uint8 if bits <= 8 else np.uint16)
    rng = np.random.default_rng(seed)
    scale = 1 << (bits - 8)
    is_rgb = fmt.is_rgb
    for index, plane in enumerate(frame.planes):
        comp = next(c for c in fmt.components if c.plane == index)
        h, w = plane.height, plane.width
        y, x = np.mgrid[0:h, 0:w]
        if comp.is_alpha:
            base = 40 + (x * 200 // max(1, w - 1) + t * 3) % 200
            lo, hi = 0, 255
        elif comp.is_luma or is_rgb:
            base = 60 + (x * 3 + y * 2 + t * 5 + index * 40) % 120 + 20 * np.sin((x + t) / 3.0)
            lo, hi = (0, 255) if full_range or is_rgb else (16, 235)
        else:
            base = 128 + 50 * np.sin((x + 2 * y + t * 2 + index * 17) / 5.0)
            lo, hi = (0, 255) if full_range else (16, 240)
        noise = rng.integers(-6, 7, size=(h, w))
        values = np.clip((base + noise) * scale, lo * scale, hi * scale + (scale - 1 if hi == 255 else 0))
        _plane_view(plane, dtype)[...] = values.astype(dtype)
    return frame


def make_clip(path: Path, *, codec: str = "libx264", pix_fmt: str = "yuv420p", size: tuple[int, int] = (64, 48),
              frames: int = 6, rate: int | Fraction = 25, color: tuple[int, int, int, int] = UNTAGGED,
              options: dict[str, str] | None = None, audio: Iterable[Audio] = (),
              subtitles: Iterable[tuple[float, float, str]] = (), subtitle_codec: str | None = None,
              attachments: Iterable[tuple[str, str, bytes]] = (), chapters: Iterable[tuple[float, float, str]] = (),
              metadata: dict[str, str] | None = None, video_metadata: dict[str, str] | None = None,
              rotation: int = 0, seed: int = 0, container: str | None = None) -> Path:
    """A small clip written with PyAV: textured video planes in ``pix_fmt`` tagged ``color``, tones in
    each :class:`Audio` stream, text subtitles ``(start s, end s, text)``, attachments ``(name, mime,
    data)`` and chapters ``(start s, end s, title)``. Video pts = index in 1/``rate``."""
    w, h = size
    audio = list(audio)
    duration = frames / rate
    with av.open(str(path), "w", format=container) as c:
        for key, value in (metadata or {}).items():
            c.metadata[key] = value
        v = c.add_stream(codec, rate=rate)
        v.width, v.height, v.pix_fmt = w, h, pix_fmt
        v.time_base = v.codec_context.time_base = Fraction(1, rate)
        cc = v.codec_context
        cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = color
        if options:
            cc.options = dict(options)
        if rotation:
            v.set_display_rotation(rotation)
        for key, value in (video_metadata or {}).items():
            v.metadata[key] = value
        a_streams = []
        for spec in audio:
            a = c.add_stream(spec.codec, rate=spec.rate)
            a.layout = spec.layout
            if spec.language:
                a.metadata["language"] = spec.language
            if spec.title:
                a.metadata["title"] = spec.title
            if spec.forced:
                a.disposition = av.stream.Disposition.forced
            a_streams.append(a)
        s = None
        subtitles = list(subtitles)
        if subtitles:
            s = c.add_stream(subtitle_codec or ("mov_text" if str(path).endswith((".mp4", ".mov")) else "subrip"))
            s.codec_context.subtitle_header = ASS_HEADER
            s.time_base = Fraction(1, 1000)
            s.metadata["language"] = "eng"
        for name, mime, data in attachments:
            c.add_attachment(name, mime, data)
        if chapters:
            c.set_chapters([{"id": i + 1, "start": int(a0 * 1000), "end": int(b0 * 1000), "time_base": Fraction(1, 1000),
                             "metadata": {"title": title}} for i, (a0, b0, title) in enumerate(chapters)])
        full = color[1] == 2 or pix_fmt.startswith("yuvj")
        for i in range(frames):
            f = synthetic_frame(pix_fmt, w, h, i, full_range=full, seed=seed + i)
            f.colorspace, f.color_range, f.color_primaries, f.color_trc = color
            f.pts, f.time_base = i, Fraction(1, rate)
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        for k, (spec, a) in enumerate(zip(audio, a_streams)):
            _tones(c, a, spec, duration, k)
        if s is not None:
            for start, end, text in subtitles:
                sub = av.subtitles.subtitle.SubtitleSet.create(b"0,0,Default,,0,0,0,," + text.encode(), 0,
                                                               int((end - start) * 1000), int(start * 1000))
                packet = s.codec_context.encode_subtitle(sub)
                packet.stream = s
                packet.time_base = Fraction(1, 1000)
                packet.pts = packet.dts = int(start * 1000)
                packet.duration = int((end - start) * 1000)
                c.mux(packet)
    return path


def _tones(container: av.container.OutputContainer, stream: av.audio.stream.AudioStream, spec: Audio,
           seconds: float, k: int) -> None:
    layout = av.AudioLayout(spec.layout)
    n = layout.nb_channels
    total = int(round(seconds * spec.rate))
    t = np.arange(total) / spec.rate
    tones = np.stack([0.2 * np.sin(2 * np.pi * (220 + 110 * ch + 37 * k) * t) for ch in range(n)]).astype(np.float32)
    for start in range(0, total, 1024):
        chunk = np.ascontiguousarray(tones[:, start:start + 1024].T).reshape(1, -1)  # packed: PyAV takes 8 planes at most
        f = av.AudioFrame.from_ndarray(chunk, format="flt", layout=spec.layout)
        f.sample_rate, f.pts, f.time_base = spec.rate, start, Fraction(1, spec.rate)
        for p in stream.encode(f):
            container.mux(p)
    for p in stream.encode(None):
        container.mux(p)


def plain_reencode(src: Path, dst: Path, options: dict[str, str] | None = None, *, codec: str | None = None,
                   pix_fmt: str | None = None, threads: int = 1) -> Path:
    """The reference for level checks: the source's decoded frames encoded directly (no RGB),
    same timestamps and colour tags, with ``codec`` (default: libx264) and ``options``. One
    encoder thread by default: x264 and x265 decide differently from run to run with several."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        s = i.streams.video[0]
        v = None
        rate = s.average_rate or Fraction(25)
        frame_rate_tb = (codec or "") in ("mpeg1video", "mpeg2video")
        for f in i.decode(s):
            if v is None:
                v = o.add_stream(codec or "libx264", rate=rate)
                v.width, v.height, v.pix_fmt = f.width, f.height, pix_fmt or f.format.name
                v.time_base = v.codec_context.time_base = 1 / rate if frame_rate_tb else s.time_base
                cc = v.codec_context
                cc.colorspace, cc.color_range = f.colorspace, f.color_range
                cc.color_primaries, cc.color_trc = f.color_primaries, f.color_trc
                cc.options = dict(options or {})
                cc.thread_type = "AUTO"
                cc.thread_count = threads
            f.pict_type = av.video.frame.PictureType.NONE
            if frame_rate_tb:
                f.pts, f.time_base = round(f.pts * s.time_base * rate), 1 / rate
            for p in v.encode(f):
                o.mux(p)
        for p in v.encode(None):
            o.mux(p)
    return dst


def decoded_planes(path: Path) -> list[list[np.ndarray]]:
    """Every frame's planes exactly as decoded (uint8 / uint16), stored orientation."""
    out = []
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            bits = max(comp.bits for comp in f.format.components)
            dtype = np.dtype(np.uint8 if bits <= 8 else np.uint16)
            out.append([_plane_view(p, dtype).copy() for p in f.planes])
    return out


def ffprobe(*args: str) -> dict:
    """``ffprobe -of json ARGS`` (the verification tool; setup.sh installs Debian's ffmpeg). Skips
    the test when ffprobe is missing, fails it on CI."""
    import json
    import os
    import shutil
    import subprocess

    import pytest

    exe = shutil.which("ffprobe")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("ffprobe is missing: setup.sh installs ffmpeg")
        pytest.skip("ffprobe is not installed (setup.sh installs ffmpeg)")
    out = subprocess.run([exe, "-v", "error", "-of", "json", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def ffprobe_frame_side_data(path: Path) -> list[dict]:
    """Side data of the first video frame, as ffprobe shows it."""
    data = ffprobe("-select_streams", "v:0", "-show_frames", "-read_intervals", "%+#1",
                   "-show_entries", "frame=side_data_list", str(path))
    return data["frames"][0].get("side_data_list", [])
