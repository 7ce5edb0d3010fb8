"""Frames through an FFmpeg filter chain (PyAV's filter graph): deinterlacing on request
(``bwdif``/``yadif``), the field flags an interlaced encode needs (``setfield``) and a
palette per frame for GIF output (``palettegen`` + ``paletteuse``).

Filters and their options are FFmpeg's (https://ffmpeg.org/ffmpeg-filters.html: ``bwdif``,
``yadif``, ``setfield``). ``bwdif``/``yadif`` run with ``mode=send_frame``: one output frame per
input frame, same timestamps, so frame counts and timing do not change; they hold one frame
back, which :meth:`FrameFilter.flush` returns at the end.
"""
from __future__ import annotations

from fractions import Fraction

import av
import av.error

from editor.api.errors import OutputError

#: Deinterlacers ``--deinterlace`` takes → their filter (one frame out per frame in).
DEINTERLACERS = {"bwdif": "bwdif=mode=send_frame:deint=interlaced",
                 "yadif": "yadif=mode=send_frame:deint=interlaced"}
#: Field order (FFmpeg's ``field_order`` names: tt/tb top field first, bb/bt bottom first).
FIELD_ORDERS = {0: "unknown", 1: "progressive", 2: "tt", 3: "bb", 4: "tb", 5: "bt"}
FIELD_ORDER_CODES = {name: code for code, name in FIELD_ORDERS.items()}
_COLOR = ("colorspace", "color_range", "color_primaries", "color_trc")


def top_field_first(field_order: str) -> bool:
    """Whether frames of ``field_order`` (``tt``, ``tb``, ``bb``, ``bt``) show the top field first."""
    return field_order in ("tt", "tb")


def is_interlaced(field_order: str) -> bool:
    return field_order in ("tt", "bb", "tb", "bt")


class FrameFilter:
    """One filter chain (``"name=opt=value:…,name…"``) over decoded or to-be-encoded frames;
    the graph is built for the first frame's size and format."""

    def __init__(self, chain: str) -> None:
        self.chain = chain
        self._graph: av.filter.Graph | None = None

    def _build(self, frame: av.VideoFrame) -> av.filter.Graph:
        graph = av.filter.Graph()
        source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                                  time_base=frame.time_base or Fraction(1, 90000))
        try:
            self._link(graph, source).link_to(graph.add("buffersink"))
            graph.configure()
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot build the FFmpeg filter {self.chain!r} ({exc})") from exc
        return graph

    def _link(self, graph: av.filter.Graph, last: av.filter.context.FilterContext) -> av.filter.context.FilterContext:
        """The chain's filters after ``last``; the last of them."""
        for part in self.chain.split(","):
            name, _, args = part.partition("=")
            node = graph.add(name, args or None)
            last.link_to(node)
            last = node
        return last

    def _drain(self, like: av.VideoFrame | None) -> list[av.VideoFrame]:
        assert self._graph is not None
        out = []
        while True:
            try:
                frame = self._graph.vpull()
            except (BlockingIOError, EOFError, av.error.EOFError):
                return out
            except av.error.FFmpegError as exc:
                if getattr(exc, "errno", None) == 11:  # EAGAIN
                    return out
                raise
            if like is not None:  # what a filter may reset: the colour description
                for attr in _COLOR:
                    try:
                        setattr(frame, attr, getattr(like, attr))
                    except (AttributeError, TypeError, ValueError):
                        pass
            out.append(frame)

    def __call__(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """The frames ``frame`` lets out (none while the filter holds it back)."""
        if self._graph is None:
            self._graph = self._build(frame)
        self._like = frame
        self._graph.vpush(frame)
        return self._drain(frame)

    def flush(self) -> list[av.VideoFrame]:
        """The frames still held back, at the end."""
        if self._graph is None:
            return []
        self._graph.vpush(None)
        return self._drain(getattr(self, "_like", None))


class PaletteFilter(FrameFilter):
    """Each frame → ``pal8`` with its own 256-colour palette (``palettegen=stats_mode=single``,
    ``paletteuse=new=1``, no dithering: a frame of at most 256 colours — a GIF source's
    untouched frames — keeps its colours exactly): what the GIF encoder takes, without the
    banding of one fixed palette."""

    def __init__(self) -> None:
        super().__init__("split,palettegen,paletteuse")

    def _link(self, graph: av.filter.Graph, last: av.filter.context.FilterContext) -> av.filter.context.FilterContext:
        split = graph.add("split", "2")
        palette = graph.add("palettegen", "stats_mode=single:max_colors=256")
        use = graph.add("paletteuse", "new=1:dither=none")
        last.link_to(split)
        split.link_to(use, 0, 0)
        split.link_to(palette, 1, 0)
        palette.link_to(use, 0, 1)
        return use
