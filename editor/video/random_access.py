"""Random access to frames by index (for interactive sessions), without decoding everything.

A demux-only scan records the presentation timestamp of each frame that decodes (display
order; packets an edit list hides or the decoder drops are not frames); a frame
is then fetched by seeking to the keyframe before it and decoding forward. Recently
decoded frames are kept in a small LRU cache, so stepping and scrubbing nearby is cheap
and memory stays bounded. Reading forward (frame i, then i+1, …) continues the open
decoder instead of seeking again, so a sequential pass costs one decode per frame.

Frames are marked damaged by the reader's one rule (:class:`editor.video.reader.Damage`,
applied from the keyframe each seek lands on), so a session sees the same damaged frames
as a headless run; a packet the decoder rejects gives the frame before it again, damaged.

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
from editor.video.reader import (Damage, LostFrame, OneSize, decodable_pts, decode_frames, open_container, to_frame,
                                 video_stream)


class _NoKeyframe(Exception):
    """After a seek the decoder gave frame ``index`` before any keyframe: the keyframe sought
    is damaged (dropped, or its packet rejected), so what follows it can only be judged by
    decoding from the keyframe before."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class FrameSource:
    """``source[i]`` → :class:`Frame` ``i`` (upright RGB, with its decoded planes, made by
    :func:`editor.video.reader.to_frame` like every decoded frame); ``len(source)`` frames.
    ``stream``: the video stream (:func:`editor.video.reader.video_stream`; default: the
    default-disposition one). Every frame has the first frame's size (:class:`editor.video.reader.OneSize`)."""

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
        self._size = OneSize(self.path)  # the first frame's size and format, from the first frame
        with open_container(self.path) as c:
            stream = video_stream(c, self.path, index)
            self.time_base = Fraction(stream.time_base or Fraction(1, 90000))
            self.rate = Fraction(stream.average_rate or stream.guessed_rate or Fraction(25))
            try:
                for av_frame in decode_frames(c, stream):
                    first_pts = av_frame.pts
                    self._size = OneSize(self.path, av_frame.width, av_frame.height, av_frame.format.name)
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
            start, back = index, 1
            while True:
                if not (self._decoder is not None and self._position < index <= self._position + self.READ_AHEAD):
                    if start:
                        self._container.seek(self.pts[start], stream=self._stream, backward=True, any_frame=False)
                    else:  # the file's start (an MPEG-TS seek to the first timestamp may land past it)
                        self._container.seek(0, backward=True, any_frame=False)
                    self._decoder = self._decode(start)
                    self._position = -1
                try:
                    for frame in self._decoder:
                        self._position = frame.index
                        self._remember(frame)
                        if frame.index >= index:
                            break
                    else:
                        self._decoder, self._position = None, -1
                except _NoKeyframe as dropped:  # decode from a keyframe before
                    self._decoder, self._position = None, -1
                    start, back = max(0, min(start, dropped.index) - back), 2 * back
                    continue  # (start only decreases: at 0 frames come as they are)
                if index in self._cache:
                    return self._cache[index]
                raise InputError(f"cannot decode frame {index}", self.path)

    def _decode(self, start: int) -> Iterator[Frame]:
        """Frames from the keyframe a seek for frame ``start`` landed on, marked damaged as
        :func:`editor.video.reader.iter_frames` marks them (the same :class:`Damage` rule from
        that keyframe). When the first frame out is not a keyframe at or before ``start`` (the
        keyframe is damaged: rejected, or dropped with the frames that refer to it; or an
        MPEG-TS seek, which goes by byte position, landed on a frame that is none),
        :class:`_NoKeyframe` says to seek further back (twice as far each time); at frame 0
        there is nothing before, and the frames are given, damaged up to a clean keyframe."""
        damage = Damage()
        last: Frame | None = None
        for av_frame in decode_frames(self._container, self._stream, lost=True):
            if av_frame.pts is None:
                continue
            i = self._index.get(int(av_frame.pts))
            if i is None:
                continue
            if last is None and (isinstance(av_frame, LostFrame) or not av_frame.key_frame or i > start):
                if start > 0:
                    raise _NoKeyframe(i)
                if isinstance(av_frame, LostFrame):
                    continue  # nothing to repeat before the first frame
                damage.damaged = True
            if isinstance(av_frame, LostFrame):
                assert last is not None
                frame = damage.lost(last, i, av_frame.pts, self.time_base, self.rate)
            else:
                frame = to_frame(self._size(av_frame, i), i, self.time_base, self.rate, deep=self.deep)
                frame.damaged = damage.decoded(av_frame)
            last = frame
            yield frame
        if last is None and start > 0:  # nothing came out: the seek landed past every keyframe
            raise _NoKeyframe(start)

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
