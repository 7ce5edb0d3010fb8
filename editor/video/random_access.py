"""Random access to frames by index (for interactive sessions), without decoding everything.

A demux-only scan records the presentation timestamp of each frame that decodes (display
order; packets an edit list hides or the decoder drops are not frames); a frame
is then fetched by seeking to the keyframe before it and decoding forward. Recently
decoded frames are kept in a small LRU cache, so stepping and scrubbing nearby is cheap
and memory stays bounded. Reading forward (frame i, then i+1, …) continues the open
decoder instead of seeking again, so a sequential pass costs one decode per frame.

A :class:`FrameSource` may be shared between threads (a tracking job and a page asking
for frames): every access takes its lock, since a PyAV container is not thread-safe.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error

from editor.api.errors import InputError
from editor.api.frames import Frame
from editor.video.reader import decodable_pts, decode_frames, open_container, to_frame, video_stream


class FrameSource:
    """``source[i]`` → :class:`Frame` ``i`` (upright RGB, with its decoded planes, made by
    :func:`editor.video.reader.to_frame` like every decoded frame); ``len(source)`` frames.
    ``stream``: the video stream (:func:`editor.video.reader.video_stream`; default: the
    default-disposition one)."""

    READ_AHEAD = 48
    """Frames ahead of the decoder's position reached by decoding on rather than seeking."""

    def __init__(self, path: str | Path, cache_size: int = 32, *, deep: bool = False,
                 stream: int | None = None) -> None:
        self.path = Path(path)
        index = stream
        self.cache_size = cache_size
        self.deep = deep
        self._cache: OrderedDict[int, Frame] = OrderedDict()
        first_pts = None
        with open_container(self.path) as c:
            stream = video_stream(c, self.path, index)
            self.time_base = Fraction(stream.time_base or Fraction(1, 90000))
            self.rate = Fraction(stream.average_rate or stream.guessed_rate or Fraction(25))
            try:
                for av_frame in decode_frames(c, stream):
                    first_pts = av_frame.pts
                    break
            except av.error.FFmpegError as exc:
                raise InputError(f"cannot decode video ({exc})", self.path) from exc
        with open_container(self.path) as c:
            stream = video_stream(c, self.path, index)
            try:
                pts, _ = decodable_pts(c, stream, first_pts)
            except av.error.FFmpegError as exc:
                raise InputError(f"corrupt container ({exc})", self.path) from exc
        self.pts = pts
        self._index = {p: i for i, p in enumerate(self.pts)}
        self._container = open_container(self.path)
        self._stream = video_stream(self._container, self.path, index)
        self._stream.thread_type = "AUTO"
        self._lock = threading.RLock()
        self._decoder: Iterator[Frame] | None = None  # continues after self._position
        self._position = -1

    def __len__(self) -> int:
        return len(self.pts)

    def __getitem__(self, index: int) -> Frame:
        if not 0 <= index < len(self.pts):
            raise IndexError(f"frame {index} is outside 0..{len(self.pts) - 1}")
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
            if not (self._decoder is not None and self._position < index <= self._position + self.READ_AHEAD):
                self._container.seek(self.pts[index], stream=self._stream, backward=True, any_frame=False)
                self._decoder = self._decode()
                self._position = -1
            for frame in self._decoder:
                self._position = frame.index
                self._remember(frame)
                if frame.index >= index:
                    break
            else:
                self._decoder, self._position = None, -1
            if index in self._cache:
                return self._cache[index]
            raise InputError(f"cannot decode frame {index}", self.path)

    def _decode(self) -> Iterator[Frame]:
        for av_frame in decode_frames(self._container, self._stream):
            if av_frame.pts is None:
                continue
            i = self._index.get(int(av_frame.pts))
            if i is None:
                continue
            yield to_frame(av_frame, i, self.time_base, self.rate, deep=self.deep)

    def _remember(self, frame: Frame) -> None:
        self._cache[frame.index] = frame
        self._cache.move_to_end(frame.index)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def close(self) -> None:
        with self._lock:
            self._decoder = None
            self._container.close()
            self._cache.clear()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
