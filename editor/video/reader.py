"""Decoding with PyAV: probe a file, stream upright RGB frames.

Frames are produced by a generator, one at a time; nothing holds the whole video.
Display rotation (display-matrix side data) is applied so frames are upright and
prompt coordinates refer to what a person sees in a player.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from editor.api.errors import InputError
from editor.api.frames import AudioStreamInfo, ColorInfo, Frame, VideoInfo

#: decoded frames may fall short of the container's frame count by this many frames
#: (edit lists can hide a frame or two) before the file is called truncated.
TRUNCATION_SLACK = 2


def _check_path(path: Path) -> None:
    if not path.exists():
        raise InputError("no such file", path)
    if path.is_dir():
        raise InputError("is a directory, not a video file", path)
    if path.stat().st_size == 0:
        raise InputError("file is empty", path)
    if not os.access(path, os.R_OK):
        raise InputError("file is not readable (permission denied)", path)


def _av_message(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())


def open_container(path: str | Path) -> av.container.InputContainer:
    """Open ``path`` for reading, turning PyAV failures into one-line ``InputError``s."""
    path = Path(path)
    _check_path(path)
    try:
        return av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"not a readable video file ({_av_message(exc)})", path) from exc


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    streams = [s for s in container.streams.video
               if not (s.disposition & av.stream.Disposition.attached_pic)] if container.streams.video else []
    if not streams:
        what = "audio only" if container.streams.audio else "no streams FFmpeg can decode"
        raise InputError(f"has no video stream ({what})", path)
    return streams[0]


def rotation_of(frame: av.VideoFrame) -> int:
    """Clockwise rotation in degrees (0/90/180/270) that makes ``frame`` upright."""
    try:
        ccw = int(round(frame.rotation or 0))
    except (AttributeError, TypeError, ValueError):
        return 0
    return (-ccw) % 360 // 90 * 90


def upright(image: np.ndarray, rotation_cw: int) -> np.ndarray:
    """Rotate an H×W(×C) array clockwise by ``rotation_cw`` degrees."""
    k = (rotation_cw // 90) % 4
    return np.ascontiguousarray(np.rot90(image, k=-k)) if k else image


def probe(path: str | Path) -> VideoInfo:
    """Describe ``path``; decodes the first frame to prove the video is readable."""
    path = Path(path)
    with open_container(path) as container:
        stream = _video_stream(container, path)
        first = None
        try:
            for first in container.decode(stream):
                break
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot decode video ({_av_message(exc)})", path) from exc
        if first is None:
            raise InputError("no decodable video frames (empty or truncated file)", path)
        rotation = rotation_of(first)
        w, h = first.width, first.height
        if rotation in (90, 270):
            w, h = h, w
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25)
        tb = stream.time_base or Fraction(1, 90000)
        if stream.duration:
            duration = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        exact = int(stream.frames) if stream.frames else None
        estimate = exact or max(1, int(round(duration * float(rate))))
        cc = stream.codec_context
        color = ColorInfo(int(first.colorspace or 2), int(first.color_range or 0),
                          int(first.color_primaries or 2), int(first.color_trc or 2))
        audio = tuple(
            AudioStreamInfo(a.index, a.codec_context.name, int(a.codec_context.sample_rate or 0),
                            int(a.codec_context.channels or 0),
                            getattr(a.codec_context.layout, "name", "") or "")
            for a in container.streams.audio)
        return VideoInfo(
            path=str(path), width=w, height=h, rotation=rotation, frame_count=exact,
            frame_count_estimate=estimate, average_rate=Fraction(rate), time_base=Fraction(tb),
            duration=duration, codec=cc.name, pix_fmt=first.format.name, color=color,
            audio=audio, container_format=container.format.name)


def iter_frames(path: str | Path, *, check_truncation: bool = True,
                threads: int | None = None) -> Iterator[Frame]:
    """Yield every frame of the first video stream, upright, RGB uint8, in display order.

    Raises ``InputError`` for undecodable or truncated data. The demuxer's final
    (flush) packet reaches the decoder, so no trailing frames are lost.
    """
    path = Path(path)
    with open_container(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        if threads is not None:
            stream.codec_context.thread_count = threads
        tb = Fraction(stream.time_base or Fraction(1, 90000))
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
        expected = int(stream.frames) if stream.frames else None
        index = 0
        try:
            for av_frame in container.decode(stream):
                image = av_frame.to_ndarray(format="rgb24")
                image = upright(image, rotation_of(av_frame))
                pts = av_frame.pts
                if pts is None:
                    time = index / float(rate)
                else:
                    time = float(pts * tb)
                yield Frame(index=index, image=image, pts=pts, time_base=tb, time=time,
                            duration=int(av_frame.duration) if av_frame.duration else None)
                index += 1
        except av.error.FFmpegError as exc:
            raise InputError(f"corrupt video data after frame {index} ({_av_message(exc)})",
                             path) from exc
        if index == 0:
            raise InputError("no decodable video frames (empty or truncated file)", path)
        if check_truncation and expected and index < expected - TRUNCATION_SLACK:
            raise InputError(f"truncated: decoded {index} of {expected} frames", path)


def count_frames(path: str | Path) -> int:
    """Exact number of frames: the container's count, else a demux-only packet count."""
    path = Path(path)
    with open_container(path) as container:
        stream = _video_stream(container, path)
        if stream.frames:
            return int(stream.frames)
        n = 0
        try:
            for packet in container.demux(stream):
                if packet.size:
                    n += 1
        except av.error.FFmpegError as exc:
            raise InputError(f"corrupt container ({_av_message(exc)})", path) from exc
        return n
