"""Decoding with PyAV: probe a file, stream upright RGB frames.

Frames are produced by a generator, one at a time; nothing holds the whole video.
Display rotation (display-matrix side data) is applied so frames are upright and
prompt coordinates refer to what a person sees in a player. Each frame keeps its decoded
planes (:class:`DecodedPlanes`) so the writer can put untouched pixels back bit for bit;
RGB is made with the source's own matrix and range (:mod:`editor.video.pixels`).

Frame counts are what decodes: packets an edit list hides, packets before the first frame
the decoder outputs (a cut that starts mid-GOP, open-GOP leading pictures) are not frames.
"""
from __future__ import annotations

import dataclasses
import heapq
import logging
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from editor.api.errors import InputError
from editor.api.frames import AudioStreamInfo, ContentLight, Frame, MasteringDisplay, VideoInfo
from editor.api.limits import check_frame_size, regular_file
from editor.video.filters import DEINTERLACERS, FIELD_ORDERS, FrameFilter
from editor.video.pixels import bit_depth, color_of, decode, upright  # noqa: F401 - upright: re-exported

log = logging.getLogger(__name__)

#: decoding may end this many frame durations before the stream's recorded end before the
#: file is called truncated.
TRUNCATION_SLACK = 2


def _check_path(path: Path) -> None:
    regular_file(path, "file")  # a FIFO or device would block or never end
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


def _area(stream: av.video.stream.VideoStream) -> int:
    cc = stream.codec_context
    return int(cc.width or 0) * int(cc.height or 0)


def describe_video_streams(container: av.container.InputContainer) -> str:
    """``0 (h264 160x90), 1 (h264 640x360, default)`` — the video streams, for messages."""
    parts = []
    for s in container.streams.video:
        cc = s.codec_context
        flags = [f for f, bit in (("default", av.stream.Disposition.default),
                                  ("attached picture", av.stream.Disposition.attached_pic)) if s.disposition & bit]
        parts.append(f"{s.index} ({cc.name} {cc.width}x{cc.height}{''.join(', ' + f for f in flags)})")
    return ", ".join(parts) or "none"


def video_stream(container: av.container.InputContainer, path: Path,
                 index: int | None = None) -> av.video.stream.VideoStream:
    """The video stream that is edited: stream ``index`` (the container's stream number, as
    ffprobe lists it) when given, else the video stream with the *default* disposition (the
    largest of several), else the largest; never an attached picture (cover art, thumbnail).
    ``InputError`` naming ``path`` when there is none, or ``index`` is not such a stream."""
    streams = [s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)]
    if index is not None:
        chosen = next((s for s in streams if s.index == index), None)
        if chosen is None:
            raise InputError(f"has no video stream {index} that can be edited (video streams: "
                             f"{describe_video_streams(container)})", path)
    else:
        if not streams:
            what = "audio only" if container.streams.audio else "no streams FFmpeg can decode"
            raise InputError(f"has no video stream ({what})", path)
        default = [s for s in streams if s.disposition & av.stream.Disposition.default]
        chosen = max(default or streams, key=_area)  # the first of equals
    cc = chosen.codec_context
    check_frame_size(cc.width or 0, cc.height or 0, path)  # from the header, before decoding
    return chosen


def rotation_of(frame: av.VideoFrame) -> int:
    """Clockwise rotation in degrees (0/90/180/270) that makes ``frame`` upright."""
    try:
        ccw = int(round(frame.rotation or 0))
    except (AttributeError, TypeError, ValueError):
        return 0
    return (-ccw) % 360 // 90 * 90


def sample_aspect_ratio(stream: av.video.stream.VideoStream, rotation: int) -> Fraction | None:
    """Width : height of a pixel of the upright frames: the container's or else the bitstream's
    sample aspect ratio (FFmpeg's ``av_guess_sample_aspect_ratio``), inverted for a 90°/270°
    display rotation (the pixels turn with the picture); ``None`` when neither says."""
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    if not sar or sar <= 0:
        return None
    return 1 / Fraction(sar) if rotation in (90, 270) else Fraction(sar)


def _side_data(frame: av.VideoFrame) -> list:
    """The frame's side data entries (``av.sidedata.SideData``): PyAV 18.1.0's container
    iterates over the entries themselves, 18.1.1's (a mapping) over their types, the keys."""
    container = frame.side_data
    return [entry if hasattr(entry, "type") else container[entry] for entry in iter(container)]


def hdr_metadata(frame: av.VideoFrame) -> tuple[MasteringDisplay | None, ContentLight | None]:
    """HDR10 mastering-display and content-light side data of a decoded frame."""
    mastering = light = None
    for sd in _side_data(frame):
        kind = getattr(sd.type, "name", "")
        data = bytes(sd)
        if kind == "MASTERING_DISPLAY_METADATA" and len(data) >= 88:
            v = struct.unpack_from("=22i", data)
            q = [Fraction(v[i], v[i + 1]) if v[i + 1] else Fraction(0) for i in range(0, 20, 2)]
            has_primaries, has_luminance = v[20], v[21]
            if has_primaries and has_luminance:
                mastering = MasteringDisplay((q[0], q[1]), (q[2], q[3]), (q[4], q[5]), (q[6], q[7]), q[8], q[9])
        elif kind == "CONTENT_LIGHT_LEVEL" and len(data) >= 8:
            light = ContentLight(*struct.unpack_from("=2I", data))
    return mastering, light


def alpha_decoder(stream: av.video.stream.VideoStream) -> av.CodecContext | None:
    """A ``libvpx-vp9`` decoder for VP9 with an alpha channel (WebM/Matroska ``alpha_mode`` 1:
    the alpha is a second VP9 stream in each block's BlockAdditional, which FFmpeg's native
    vp9 decoder ignores and libvpx-vp9 decodes into ``yuva420p``); ``None`` for other streams."""
    cc = stream.codec_context
    alpha = any(k.lower() == "alpha_mode" and v.strip() == "1" for k, v in (stream.metadata or {}).items())
    if cc is None or cc.name != "vp9" or not alpha:
        return None
    if "libvpx-vp9" not in av.codecs_available:
        log.warning("video stream %d is VP9 with alpha, but this FFmpeg has no libvpx-vp9 decoder: the alpha "
                    "channel is not decoded", stream.index)
        return None
    decoder = av.CodecContext.create("libvpx-vp9", "r")
    decoder.extradata = cc.extradata
    decoder.width, decoder.height = cc.width, cc.height
    decoder.thread_type = "AUTO"
    return decoder


@dataclass(frozen=True)
class LostFrame:
    """A packet the decoder rejects (damaged data: ``avcodec_send_packet`` fails): the frame
    it holds, by presentation timestamp, in display order among the decoded frames."""

    pts: int | None


class Damage:
    """The one rule deciding which frames are damaged, for every reader of a stream
    (:func:`iter_frames` decoding it through, :class:`editor.video.random_access.FrameSource`
    from a keyframe it sought): a frame the decoder flags corrupt (FFmpeg's concealment), a
    frame whose packet it rejects (:class:`LostFrame`: it repeats the frame before), and every
    frame after one of these up to the next clean keyframe (they predict from it). Make one
    where decoding starts: at the first frame, or at the keyframe a seek lands on (damage
    before a keyframe never reaches past it)."""

    def __init__(self) -> None:
        self.damaged = False

    def decoded(self, av_frame: av.VideoFrame) -> bool:
        """Whether the frame just decoded is damaged."""
        self.damaged = bool(av_frame.is_corrupt) or (self.damaged and not av_frame.key_frame)
        return self.damaged

    def lost(self, last: Frame, index: int, pts: int | None, time_base: Fraction, rate: Fraction) -> Frame:
        """The frame ``index`` whose packet (``pts``) the decoder rejected: ``last`` (the frame
        before it) again in its place, damaged."""
        self.damaged = True
        time = index / float(rate) if pts is None else float(pts * time_base)
        return dataclasses.replace(last, index=index, image=last.image.copy(), pts=pts, time=time, damaged=True)


#: The scaler for frames whose size differs from the stream's first frame: swscale's bicubic,
#: what FFmpeg's command line uses there (``ffmpeg -h full``: ``-autoscale``, on by default,
#: "automatically insert a scale filter at the end of the filter graph" sizing every frame to
#: the first one's; ``-sws_flags``, "default bicubic").
RESIZE_INTERPOLATION = "BICUBIC"
_resize_warned: set[tuple[str, tuple[int, int, str], tuple[int, int, str]]] = set()


class OneSize:
    """Every frame of a stream at its first frame's size and pixel format (stored
    orientation), as FFmpeg's command line makes them (:data:`RESIZE_INTERPOLATION`): a
    stream whose frame size changes mid-way (MPEG-TS joined from two sizes) gives tracking,
    detection and the writer frames of one size. ``width``/``height``/``pix_fmt``: the
    stream's first frame (``None``: taken from the first frame given). One warning per file and
    size, naming the first such frame; ``InputError`` naming the file and frame when swscale
    cannot convert."""

    def __init__(self, path: str | Path, width: int | None = None, height: int | None = None,
                 pix_fmt: str | None = None) -> None:
        self.path = Path(path)
        self.size = (width, height, pix_fmt) if width and height and pix_fmt else None

    def __call__(self, frame: av.VideoFrame, index: int | None) -> av.VideoFrame:
        """``frame`` (decoded, frame ``index`` of the stream, ``None`` when unknown) at the stream's size."""
        got = (frame.width, frame.height, frame.format.name)
        if self.size is None:
            self.size = got
        if got == self.size:
            return frame
        w, h, fmt = self.size
        where = f"frame {index}" if index is not None else f"the frame at pts {frame.pts}"
        try:
            out = frame.reformat(width=w, height=h, format=fmt, interpolation=RESIZE_INTERPOLATION)
        except (av.error.FFmpegError, ValueError) as exc:
            raise InputError(f"{where} is {got[0]}x{got[1]} {got[2]}, the stream's first frame {w}x{h} {fmt}, and "
                             f"cannot be scaled to it ({_av_message(exc)})", self.path) from exc
        key = (str(self.path.resolve()), got, self.size)  # once per file and size, not once per pass
        if key not in _resize_warned:
            _resize_warned.add(key)
            if got[:2] != (w, h):
                log.warning("%s: the frame size changes at %s, from %dx%d to %dx%d: scaling every such frame to "
                            "%dx%d (bicubic, as ffmpeg does)", self.path.name, where, w, h, got[0], got[1], w, h)
            else:
                log.warning("%s: the pixel format changes at %s, from %s to %s: converting every such frame to %s "
                            "(as ffmpeg does)", self.path.name, where, fmt, got[2], fmt)
        return out


#: Seconds of packets in a row the decoder may reject before decoding gives up.
MAX_LOST_SECONDS = 2.0


def decode_frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream, *,
                  lost: bool = False) -> Iterator[av.VideoFrame | LostFrame]:
    """Decode ``stream`` (display order); VP9 with alpha through :func:`alpha_decoder`. AVI
    stores no presentation timestamps (newer FFmpeg guesses them a frame late for H.264):
    there each frame gets the earliest decode timestamp not yet used, which is its place in
    the constant-rate sequence.

    ``lost``: after damage — a packet the decoder rejects as invalid data (``ffmpeg`` goes
    on after "Error while decoding"), or a frame it flags corrupt — every packet whose frame
    the decoder does not output (it skips frames that refer to lost data) is a
    :class:`LostFrame` in its place in display order. Without ``lost`` a rejected packet
    raises."""
    decoder = alpha_decoder(stream)
    avi = container.format.name.startswith("avi")
    pending: list[int] = []  # AVI: decode timestamps not yet given to a frame
    expected: list[int] = []  # presentation timestamps of packets whose frames are not out yet
    started = damaged = False
    last: int | None = None
    packets = container.demux(stream)
    retries = 0
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            break
        except av.error.BlockingIOError:  # EAGAIN: the demuxer resynchronises (MPEG-TS); read on
            retries += 1
            if retries > 1000:
                raise
            packets = container.demux(stream)
            continue
        except av.error.FFmpegError:
            if not (lost and damaged):
                raise
            break  # the demuxer cannot go on after the damage: the rest is lost
        usable = packet.size and not packet.is_discard
        t = (packet.dts if avi else _timestamp(container, packet)) if usable else None
        if t is not None:
            heapq.heappush(pending if avi else expected, int(t))
        try:
            frames = decoder.decode(packet) if decoder is not None else packet.decode()
        except av.error.InvalidDataError:
            # (with frame threads the error of one packet may surface on a later one, the
            # final flush packet included: the frames that never come out are what is lost)
            if not lost:
                raise
            damaged = True
            if avi and t is not None:  # its decode timestamp is no frame's
                pending.remove(int(t))
                heapq.heapify(pending)
                yield LostFrame(int(t))
            elif usable and t is None:
                yield LostFrame(None)
            continue
        for frame in frames:
            check_frame_size(frame.width, frame.height, container.name)  # headers can lie
            if avi and pending:
                frame.pts = heapq.heappop(pending)
            damaged = damaged or frame.is_corrupt
            if lost and damaged and started and frame.pts is not None and last is not None and frame.pts <= last:
                continue  # out of order after damage: its place was taken by a LostFrame
            while expected and frame.pts is not None and expected[0] <= frame.pts:
                t = heapq.heappop(expected)
                if t < frame.pts and started and damaged and lost:
                    last = t
                    yield LostFrame(t)  # its frame never came out
            started = True
            last = frame.pts if frame.pts is not None else last
            yield frame
    while lost and damaged and expected:
        yield LostFrame(heapq.heappop(expected))


def _timestamp(container: av.container.InputContainer, packet: av.Packet) -> int | None:
    if container.format.name.startswith("avi"):
        return packet.dts
    return packet.pts if packet.pts is not None else packet.dts


def _stream_rate(stream: av.video.stream.VideoStream) -> Fraction:
    return Fraction(stream.average_rate or stream.guessed_rate or stream.base_rate or Fraction(25))


def decodable_pts(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                  first_pts: int | None) -> tuple[list[int], int]:
    """A demux-only pass over ``stream``: (sorted presentation timestamps of the packets that
    decode to frames, count of frames whose packets carry no timestamp).

    Packets an edit list hides (flagged *discard*), empty packets and packets shown before
    ``first_pts`` (the first frame the decoder outputs) are left out.
    """
    pts: list[int] = []
    untimed = 0
    for other in container.streams:
        if other.index != stream.index:
            other.discard = av.stream.Discard.all
    for packet in container.demux(stream):
        if not packet.size or packet.is_discard:
            continue
        t = _timestamp(container, packet)
        if t is None:
            untimed += 1
        elif first_pts is None or t >= first_pts:
            pts.append(int(t))
    pts.sort()
    return pts, untimed


_probe_cache: dict[tuple[str, int, int, int | None], VideoInfo] = {}


def probe(path: str | Path, stream: int | None = None) -> VideoInfo:
    """Describe ``path`` and its edited video stream (:func:`video_stream`: ``stream`` or the
    default one); decodes the first frame to prove the video is readable and counts the
    frames that decode with a demux-only pass (cached per file version)."""
    path = Path(path)
    _check_path(path)
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, stream)
    cached = _probe_cache.get(key)
    if cached is not None:
        return cached if cached.path == str(path) else _replace_path(cached, path)
    with open_container(path) as container:
        chosen = video_stream(container, path, stream)
        if stream is None and len(container.streams.video) > 1:
            log.info("%s: editing video stream %d of %s", path.name, chosen.index,
                     describe_video_streams(container))
        stream = chosen
        first = None
        try:
            for first in decode_frames(container, stream):
                break
        except av.error.FFmpegError as exc:
            raise InputError(f"cannot decode video ({_av_message(exc)})", path) from exc
        if first is None:
            raise InputError("no decodable video frames (empty or truncated file)", path)
        rotation = rotation_of(first)
        w, h = first.width, first.height
        if rotation in (90, 270):
            w, h = h, w
        rate = _stream_rate(stream)
        tb = stream.time_base or Fraction(1, 90000)
        end = stream_end(container, stream)
        start = float((stream.start_time or 0) * tb)
        duration = max(0.0, end - start) if end is not None else (
            container.duration / av.time_base if container.duration else 0.0)
        cc = stream.codec_context
        color = color_of(first)
        mastering, light = hdr_metadata(first)
        audio = tuple(
            AudioStreamInfo(a.index, a.codec_context.name, int(a.codec_context.sample_rate or 0),
                            int(a.codec_context.channels or 0),
                            getattr(a.codec_context.layout, "name", "") or "")
            for a in container.streams.audio)
        field_order = FIELD_ORDERS.get(int(cc.field_order or 0), "unknown")
        if field_order == "unknown":
            field_order = "tt" if first.interlaced_frame else "progressive"
        first_pts = first.pts
        sar = sample_aspect_ratio(stream, rotation)
        index, container_name, codec, pix_fmt = stream.index, container.format.name, cc.name, first.format.name
    with open_container(path) as container:
        stream = container.streams[index]
        try:
            pts, untimed = decodable_pts(container, stream, first_pts)
        except av.error.FFmpegError as exc:
            raise InputError(f"corrupt container ({_av_message(exc)})", path) from exc
    count: int | None = len(pts) + untimed if (pts or untimed) else None
    estimate = count or max(1, int(round(duration * float(rate))))
    info = VideoInfo(
        path=str(path), width=w, height=h, rotation=rotation, frame_count=count,
        frame_count_estimate=estimate, average_rate=Fraction(rate), time_base=Fraction(tb),
        duration=duration, codec=codec, pix_fmt=pix_fmt, color=color,
        audio=audio, container_format=container_name, bit_depth=bit_depth(pix_fmt),
        mastering_display=mastering, content_light=light, index=index, field_order=field_order,
        sample_aspect_ratio=sar)
    if len(_probe_cache) > 64:
        _probe_cache.clear()
    _probe_cache[key] = info
    return info


def _replace_path(info: VideoInfo, path: Path) -> VideoInfo:
    import dataclasses

    return dataclasses.replace(info, path=str(path))


_ELEMENTARY = {"h264", "hevc", "vvc", "mpegvideo", "m4v", "cavsvideo", "vc1", "mjpeg", "rawvideo", "yuv4mpegpipe",
               "image2", "image2pipe", "ivf", "obu"}
_MKV_DURATION = re.compile(r"^(\d+):(\d\d):(\d\d(?:\.\d+)?)$")


def stream_end(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    """Seconds at which ``stream`` ends by what the container records: the stream's start
    and duration, Matroska's per-stream ``DURATION`` tag, or the container's duration when
    the video is its only audio/video stream; ``None`` when nothing says."""
    if container.format.name.split(",")[0] in _ELEMENTARY:
        return None  # durations of bare elementary streams are guessed from the bitrate
    tb = stream.time_base or Fraction(1, 90000)
    start = float((stream.start_time or 0) * tb)
    if stream.duration:
        return start + float(stream.duration * tb)
    for key, value in (stream.metadata or {}).items():
        if key.upper() == "DURATION":
            m = _MKV_DURATION.match(value.strip())
            if m:
                return int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    others = [s for s in container.streams if s.index != stream.index and s.type in ("video", "audio")]
    if container.duration and not others:
        return (container.start_time or 0) / av.time_base + container.duration / av.time_base
    return None


def to_frame(av_frame: av.VideoFrame, index: int, time_base: Fraction, rate: Fraction, *,
             deep: bool = False, keep_planes: bool = True, keep_rgb: bool = False) -> Frame:
    """The one conversion of a decoded PyAV frame into a :class:`Frame`: upright (display
    rotation applied), RGB with the source's matrix and range (:func:`editor.video.pixels.decode`;
    uint8, or uint16 when ``deep`` and the source has more than 8 bits), the source's alpha
    when it has one, and the decoded planes (``keep_planes``) for a bit-exact pass-through;
    ``time`` in seconds from the pts, or from the index and ``rate`` (frames per second) when
    the frame has no pts. ``keep_rgb``: the planes also keep a copy of the RGB for the
    writer's pass-through compare (:func:`editor.video.pixels.decode`; frames on their way to
    a writer)."""
    image, alpha, planes = decode(av_frame, rotation_of(av_frame), deep=deep, keep_rgb=keep_rgb and keep_planes)
    pts = av_frame.pts
    time = index / float(rate) if pts is None else float(pts * time_base)
    return Frame(index=index, image=image, pts=pts, time_base=time_base, time=time, alpha=alpha,
                 duration=int(av_frame.duration) if av_frame.duration else None,
                 planes=planes if keep_planes else None)


def _one_size(frames: Iterator[av.VideoFrame | LostFrame], size: OneSize) -> Iterator[av.VideoFrame | LostFrame]:
    """``frames`` (from the stream's first, so the n-th is frame n) at the first frame's size."""
    for index, frame in enumerate(frames):
        yield frame if isinstance(frame, LostFrame) else size(frame, index)


def _filtered(frames: Iterator[av.VideoFrame | LostFrame],
              chain: FrameFilter | None) -> Iterator[av.VideoFrame | LostFrame]:
    if chain is None:
        yield from frames
        return
    for frame in frames:
        if isinstance(frame, LostFrame):
            yield frame
        else:
            yield from chain(frame)
    yield from chain.flush()


def iter_frames(path: str | Path, *, check_truncation: bool = True, threads: int | None = None,
                deep: bool = False, keep_planes: bool = True, stream: int | None = None,
                deinterlace: str | None = None) -> Iterator[Frame]:
    """Yield every frame of the edited video stream (:func:`video_stream`: ``stream``, or the
    default one), upright, in display order (see
    :func:`to_frame` for ``deep`` and ``keep_planes``; frames that keep their planes also keep
    the RGB copy the writer compares against). ``deinterlace``: ``bwdif`` or ``yadif``
    (:data:`editor.video.filters.DEINTERLACERS`; frames flagged interlaced are deinterlaced,
    one frame per frame, same timestamps). Every frame has the first frame's size
    (:class:`OneSize`: scaled as FFmpeg's command line scales them, with one warning).

    Frames decoded with errors (FFmpeg flags them corrupt: concealed), frames whose packet
    the decoder rejects (they repeat the frame before) and the frames after them up to the
    next clean keyframe (which predict from them) are ``damaged``. Packets rejected for more
    than :data:`MAX_LOST_SECONDS` in a row end decoding with an ``InputError`` naming the frame.

    Raises ``InputError`` for undecodable data, and for a truncated file: decoding that
    stops more than :data:`TRUNCATION_SLACK` frames before the end the container records
    for the stream (the message names the frames decoded). The demuxer's final (flush)
    packet reaches the decoder, so no trailing frames are lost.
    """
    path = Path(path)
    with open_container(path) as container:
        stream = video_stream(container, path, stream)  # type: ignore[assignment]
        stream.thread_type = "AUTO"
        if threads is not None:
            stream.codec_context.thread_count = threads
        tb = Fraction(stream.time_base or Fraction(1, 90000))
        rate = _stream_rate(stream)
        end = stream_end(container, stream) if check_truncation else None
        index = 0
        last_end: float | None = None
        try:
            chain = FrameFilter(DEINTERLACERS[deinterlace]) if deinterlace else None
            damage = Damage()
            last: Frame | None = None
            rejected = 0
            frames = _one_size(decode_frames(container, stream, lost=True), OneSize(path))
            for av_frame in _filtered(frames, chain):
                if isinstance(av_frame, LostFrame):
                    # a packet the decoder rejects: its frame repeats the last one, damaged
                    rejected += 1
                    if last is None or rejected > MAX_LOST_SECONDS * float(rate):
                        where = f"after frame {index - 1}" if index else "from the first frame"
                        raise InputError(f"cannot continue decoding {where}: {rejected} packets in a row are "
                                         "damaged (the decoder rejects them as invalid data)", path)
                    pts = av_frame.pts
                    frame = damage.lost(last, index, pts, tb, rate)
                    if pts is not None:
                        last_end = float(pts * tb) + 1 / float(rate)
                else:
                    rejected = 0
                    frame = to_frame(av_frame, index, tb, rate, deep=deep, keep_planes=keep_planes, keep_rgb=True)
                    frame.damaged = damage.decoded(av_frame)
                    if av_frame.pts is not None:
                        length = av_frame.duration * tb if av_frame.duration else 1 / rate
                        last_end = float(av_frame.pts * tb + length)
                last = frame
                yield frame
                index += 1
        except av.error.FFmpegError as exc:
            raise InputError(f"corrupt video data after frame {index} ({_av_message(exc)})",
                             path) from exc
        if index == 0:
            raise InputError("no decodable video frames (empty or truncated file)", path)
        if end is not None and last_end is not None and last_end < end - TRUNCATION_SLACK / float(rate) - 1e-3:
            missing = int(round((end - last_end) * float(rate)))
            raise InputError(f"truncated: decoded frames 0-{index - 1}, which end at {last_end:.3f} s; "
                             f"the stream runs to {end:.3f} s (about {missing} more frames, "
                             f"{index}-{index + missing - 1}, do not decode)", path)


def count_frames(path: str | Path, stream: int | None = None) -> int:
    """Number of frames that decode (see :func:`probe`)."""
    info = probe(path, stream)
    if info.frame_count is not None:
        return info.frame_count
    return sum(1 for _ in iter_frames(path, check_truncation=False, keep_planes=False, stream=info.index))
