"""Random access to frames by index (for interactive sessions), without decoding everything.

A demux-only scan records each frame's presentation timestamp (display order); a frame
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
from editor.video.reader import _video_stream, open_container, rotation_of, upright


class FrameSource:
    """``source[i]`` → :class:`Frame` ``i`` (upright RGB); ``len(source)`` frames."""

    READ_AHEAD = 48
    """Frames ahead of the decoder's position reached by decoding on rather than seeking."""

    def __init__(self, path: str | Path, cache_size: int = 32) -> None:
        self.path = Path(path)
        self.cache_size = cache_size
        self._cache: OrderedDict[int, Frame] = OrderedDict()
        with open_container(self.path) as c:
            stream = _video_stream(c, self.path)
            self.time_base = Fraction(stream.time_base or Fraction(1, 90000))
            pts = []
            try:
                for packet in c.demux(stream):
                    if packet.size and packet.pts is not None:
                        pts.append(int(packet.pts))
            except av.error.FFmpegError as exc:
                raise InputError(f"corrupt container ({exc})", self.path) from exc
        self.pts = sorted(pts)
        self._index = {p: i for i, p in enumerate(self.pts)}
        self._container = open_container(self.path)
        self._stream = _video_stream(self._container, self.path)
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
        for av_frame in self._container.decode(self._stream):
            if av_frame.pts is None:
                continue
            i = self._index.get(int(av_frame.pts))
            if i is None:
                continue
            yield Frame(i, upright(av_frame.to_ndarray(format="rgb24"), rotation_of(av_frame)), int(av_frame.pts),
                        self.time_base, float(av_frame.pts * self.time_base),
                        duration=int(av_frame.duration) if av_frame.duration else None)

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
