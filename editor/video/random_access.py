"""Random access to frames by index (for interactive sessions), without decoding everything.

A demux-only scan records each frame's presentation timestamp (display order); a frame
is then fetched by seeking to the keyframe before it and decoding forward. Recently
decoded frames are kept in a small LRU cache, so stepping and scrubbing nearby is cheap
and memory stays bounded.
"""
from __future__ import annotations

from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

import av
import av.error

from ..errors import InputError
from .frames import Frame
from .reader import _video_stream, open_container, rotation_of, upright


class FrameSource:
    """``source[i]`` → :class:`Frame` ``i`` (upright RGB); ``len(source)`` frames."""

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

    def __len__(self) -> int:
        return len(self.pts)

    def __getitem__(self, index: int) -> Frame:
        if not 0 <= index < len(self.pts):
            raise IndexError(f"frame {index} is outside 0..{len(self.pts) - 1}")
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        target = self.pts[index]
        self._container.seek(target, stream=self._stream, backward=True, any_frame=False)
        found = None
        for av_frame in self._container.decode(self._stream):
            if av_frame.pts is None:
                continue
            i = self._index.get(int(av_frame.pts))
            if i is None:
                continue
            frame = Frame(i, upright(av_frame.to_ndarray(format="rgb24"), rotation_of(av_frame)), int(av_frame.pts),
                          self.time_base, float(av_frame.pts * self.time_base),
                          duration=int(av_frame.duration) if av_frame.duration else None)
            self._remember(frame)
            if i >= index:
                found = frame if i == index else found
                break
        if found is None:
            if index in self._cache:
                return self._cache[index]
            raise InputError(f"cannot decode frame {index}", self.path)
        return found

    def _remember(self, frame: Frame) -> None:
        self._cache[frame.index] = frame
        self._cache.move_to_end(frame.index)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def close(self) -> None:
        self._container.close()
        self._cache.clear()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
