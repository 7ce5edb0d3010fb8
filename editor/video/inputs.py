"""Inputs that are not a video file on disk, made into one: stdin (``-``) and FIFOs, URLs
(``file://``, ``http(s)://``, ``rtsp://``), image sequences (``frame_%05d.png``, a folder of numbered
PNG/JPEG/TIFF/EXR…) and animated WebP (which FFmpeg's webp decoder does not read).

Every run reads its input several times (probing, the detection pass, tracking, the
output's decode, the copied streams), so an input that can be read only once — a pipe, a
FIFO, a download — is read once, in one pass, into a scratch file (said in one log line),
and every pass then reads that file; the backward tracking pass uses its on-disk frame
cache as always. An image sequence becomes a lossless FFV1 video (NUT or Matroska) at ``fps``
frames per second (FFmpeg's ``image2`` demuxer reads it: ``start_number``, ``framerate``;
https://ffmpeg.org/ffmpeg-formats.html#image2-1), its pixels as decoded, bit for bit.
Floating-point images (OpenEXR: scene-linear light) are the exception: FFmpeg's EXR decoder
encodes them with the sRGB transfer (its ``apply_trc=iec61966_2_1``; values above 1.0 clip),
and they are kept as 16-bit RGB tagged sRGB (FFV1 holds floats only experimentally), said
in one log line.
"""
from __future__ import annotations

import contextlib
import logging
import re
import shutil
import stat
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import av.error
import numpy as np

from editor.api.errors import InputError
from editor.api.files import scratch_dir
from editor.video.pixels import pixel_format

log = logging.getLogger(__name__)

#: FFmpeg's floating-point pixel formats (``gbrpf32le``, ``grayf32le``, ``rgbaf16le``…).
_FLOAT = re.compile(r"f(16|32)(le|be)?$")

#: Image file suffixes a folder of frames may hold.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".exr", ".bmp", ".dpx", ".webp")
#: Frames per second of an image sequence when ``--fps`` is not given (FFmpeg's image2 default).
DEFAULT_FPS = Fraction(25)
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")
_PATTERN = re.compile(r"%0?\d*d")
_CHUNK = 1 << 20
#: Seconds without data after which a live stream (``rtsp://``) counts as ended.
STREAM_IDLE_SECONDS = 5.0


def is_url(spec: str) -> bool:
    return bool(_URL.match(spec))


def _spool(source: BinaryIO, folder: Path, name: str, what: str) -> Path:
    """Copy ``source`` to ``folder/name`` in one pass (a one-line error naming the folder
    when it is full or read-only)."""
    path = folder / name
    try:
        with path.open("wb") as out:
            shutil.copyfileobj(source, out, _CHUNK)
    except OSError as exc:
        raise InputError(f"cannot keep {what} in the scratch folder {folder} ({exc.strerror or exc})") from exc
    if path.stat().st_size == 0:
        raise InputError(f"{what} is empty: nothing came through")
    log.info("read %s in one pass into %s (%.1f MB): it cannot be read again, and a run reads its input "
             "several times (probing, detection, tracking, the output, the copied streams)", what, path,
             path.stat().st_size / 1e6)
    return path


def _numbered(folder: Path) -> tuple[str, int, int]:
    """The ``image2`` pattern of a folder of numbered frames (``frame_%05d.png``), its first
    number and frame count; ``InputError`` when the folder holds no such sequence."""
    groups: dict[tuple[str, int, str], list[int]] = {}
    for entry in folder.iterdir():
        if entry.suffix.lower() not in IMAGE_SUFFIXES or not entry.is_file():
            continue
        m = re.match(r"^(.*?)(\d+)(\.[^.]+)$", entry.name)
        if m:
            width = len(m[2]) if m[2].startswith("0") else 0
            groups.setdefault((m[1], width, m[3]), []).append(int(m[2]))
    if not groups:
        raise InputError("is a directory, not a video file, and holds no numbered images "
                         f"({', '.join(IMAGE_SUFFIXES)})", folder)
    (prefix, width, suffix), numbers = max(groups.items(), key=lambda kv: len(kv[1]))
    numbers.sort()
    gaps = [n for a, b in zip(numbers, numbers[1:]) for n in range(a + 1, b)]
    if gaps:
        raise InputError(f"the numbered images {prefix}…{suffix} miss number{'s' if len(gaps) > 1 else ''} "
                         f"{', '.join(map(str, gaps[:5]))}{'…' if len(gaps) > 5 else ''}", folder)
    pattern = f"{prefix.replace('%', '%%')}%0{width}d{suffix}" if width else f"{prefix.replace('%', '%%')}%d{suffix}"
    return pattern, numbers[0], len(numbers)


def _sequence(folder: Path, pattern: str, start: int, fps: Fraction, out: Path, shown: str) -> Path:
    """The image sequence as a lossless FFV1 video at ``fps``: ``out`` with the suffix of its
    container. RGB frames (PNG, TIFF, EXR, DPX…) go in NUT, whose time base is 1/``fps``
    itself; YUV and grey frames (JPEG: full range) in Matroska, which keeps their range and
    matrix tags (NUT keeps none) but counts time in milliseconds (24 or 30000/1001 fps are
    then uneven by up to half a millisecond)."""
    try:
        source = av.open(str(folder / pattern), format="image2",
                         options={"start_number": str(start), "framerate": str(fps)})
    except (av.error.FFmpegError, ValueError) as exc:
        raise InputError(f"cannot read the image sequence ({exc})", shown) from exc
    n = 0
    with source, contextlib.ExitStack() as stack:
        stream = source.streams.video[0]
        if stream.codec_context.name == "exr":
            stream.codec_context.options = {"apply_trc": "iec61966_2_1"}
            log.info("EXR frames are linear light: encoded with the sRGB transfer as 16-bit RGB (values above "
                     "1.0 clip)")
        target = encoder = None
        for frame in source.decode(stream):
            if encoder is None:
                pix_fmt = _ffv1_format(frame.format.name)
                rgb = pixel_format(pix_fmt).is_rgb
                out = out.with_suffix(".nut" if rgb else ".mkv")
                target = stack.enter_context(av.open(str(out), "w", format="nut" if rgb else "matroska"))
                encoder = _ffv1_stream(target, fps, frame.width, frame.height, pix_fmt)
                for attr in ("color_range", "colorspace", "color_trc"):
                    try:
                        setattr(encoder.codec_context, attr, getattr(frame, attr))
                    except (AttributeError, TypeError, ValueError):
                        pass
            if frame.format.name != encoder.pix_fmt:
                frame = frame.reformat(format=encoder.pix_fmt)
            frame.pts, frame.time_base = n, 1 / fps
            _mux(target, encoder, frame)
            n += 1
        if encoder is None or target is None:
            raise InputError("the image sequence has no frames", shown)
        _mux(target, encoder, None)
    log.info("image sequence %s: %d frames at %s fps (--fps sets the rate)", shown, n, fps)
    return out


def _ffv1_stream(target: av.container.OutputContainer, rate: Fraction, width: int, height: int, pix_fmt: str,
                 time_base: Fraction | None = None) -> av.video.stream.VideoStream:
    """An FFV1 stream of ``target`` (lossless) at ``rate``, time base ``time_base`` (default 1/``rate``)."""
    stream = target.add_stream("ffv1", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    stream.time_base = stream.codec_context.time_base = time_base or 1 / rate
    return stream


def _mux(target: av.container.OutputContainer, stream: av.video.stream.VideoStream,
         frame: av.VideoFrame | None) -> None:
    """Encode ``frame`` (``None``: flush the encoder) and write its packets into ``target``."""
    for packet in stream.encode(frame):
        target.mux(packet)


def _ffv1_format(name: str) -> str:
    """The FFV1 pixel format that holds decoded image pixels as they are (floating-point
    ones, which FFV1 codes only as an experiment: as 16-bit integers)."""
    formats = {f.name for f in av.Codec("ffv1", "w").video_formats or []}
    if _FLOAT.search(name):
        fmt = pixel_format(name)
        wanted = "gray16le" if fmt.is_gray else "gbrap16le" if fmt.has_alpha else "gbrp16le"
        return wanted if wanted in formats else "gbrap16le" if fmt.has_alpha else "gbrp16le"
    if name in formats:
        return name
    fmt = pixel_format(name)
    bits, alpha = fmt.bits, fmt.has_alpha
    if fmt.is_rgb:
        candidates = ["bgra" if alpha else "bgr0"] if bits <= 8 else [f"gbrap{bits}le" if alpha else f"gbrp{bits}le",
                                                                         "gbrap16le" if alpha else "gbrp16le"]
    elif fmt.is_gray:
        candidates = ["gray" if bits <= 8 else f"gray{bits}le", "gray16le"]
    else:
        candidates = [name.replace("yuvj", "yuv")]
    return next((c for c in candidates if c in formats), "gbrap16le" if alpha else "gbrp16le")


@contextmanager
def input_file(spec: str | Path, *, fps: Fraction | float | None = None) -> Iterator[Path]:
    """A video file on disk for the input ``spec``: the file itself, or (removed on exit) a
    scratch file with what stdin (``-``), a FIFO or a URL delivered, or an image sequence
    (a ``%d`` pattern or a folder of numbered images; ``fps``, default 25) as a lossless
    video. ``InputError`` (one line naming the input) when it cannot be read."""
    text = str(spec)
    rate = Fraction(fps).limit_denominator(1001 * 1000) if fps else None
    if rate is not None and rate <= 0:
        raise InputError(f"--fps must be positive, not {fps}")
    if text.startswith("file://"):
        text = urllib.parse.unquote(urllib.parse.urlparse(text).path)
    if text == "-" or is_url(text):
        with scratch_dir("input") as folder:
            if text == "-":
                if sys.stdin is None or sys.stdin.isatty():
                    raise InputError("- reads the video from standard input, but nothing is piped in")
                yield _spool(sys.stdin.buffer, folder, "stdin", "standard input")
            else:
                yield _download(text, folder)
        return
    path = Path(text)
    if _PATTERN.search(path.name) and not path.exists():
        with scratch_dir("input") as folder:
            first = _first_number(path)
            yield _sequence(path.parent, path.name, first, rate or DEFAULT_FPS, folder / "sequence", text)
        return
    if path.is_dir():
        pattern, first, _ = _numbered(path)
        with scratch_dir("input") as folder:
            yield _sequence(path, pattern, first, rate or DEFAULT_FPS, folder / "sequence", text)
        return
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = 0
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):  # /dev/zero would be read for ever
        raise InputError("is a device, not a video file or a pipe", path)
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        with scratch_dir("input") as folder, path.open("rb") as source:
            yield _spool(source, folder, "stream", f"{path} (a pipe)")
        return
    if path.suffix.lower() == ".webp" and path.is_file() and _animated_webp(path):
        with scratch_dir("input") as folder:
            yield _webp(path, folder / "animation.mkv")
        return
    if rate is not None:
        log.warning("--fps applies to image sequences; %s keeps its own timing", path.name)
    yield path


def rgb_video(images: Iterable[np.ndarray], rate: Fraction, out: Path) -> int:
    """RGB frames (H×W×3 uint8, all one size) as a lossless FFV1/Matroska video at ``rate``
    frames per second (pts = frame number, time base 1/``rate``; ``bgr0`` planes, which decode
    to the same RGB bit for bit). Returns the number of frames; ``InputError`` when there
    are none."""
    n = 0
    with av.open(str(out), "w", format="matroska") as target:
        stream = None
        for image in images:
            image = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
            if stream is None:
                stream = _ffv1_stream(target, rate, image.shape[1], image.shape[0], "bgr0")
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="bgr0")
            frame.pts, frame.time_base = n, 1 / rate
            _mux(target, stream, frame)
            n += 1
        if stream is None:
            raise InputError("no frames to write", out)
        _mux(target, stream, None)
    return n


def _animated_webp(path: Path) -> bool:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return getattr(image, "n_frames", 1) > 1
    except (OSError, UnidentifiedImageError):
        return False


def _webp(path: Path, out: Path) -> Path:
    """An animated WebP (FFmpeg's webp decoder reads still pictures only; Pillow reads the
    animation) as a lossless FFV1/Matroska video with each frame's own duration (ms)."""
    from PIL import Image, ImageSequence

    tb = Fraction(1, 1000)
    with Image.open(path) as image, av.open(str(out), "w", format="matroska") as target:
        stream = None
        t = 0
        for picture in ImageSequence.Iterator(image):
            rgba = np.asarray(picture.convert("RGBA"))
            opaque = bool((rgba[..., 3] == 255).all())
            if stream is None:
                stream = _ffv1_stream(target, Fraction(1000, max(1, picture.info.get("duration") or 40)),
                                      picture.width, picture.height, "bgr0" if opaque else "bgra", tb)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba").reformat(
                format=stream.pix_fmt)
            frame.pts, frame.time_base = t, tb
            _mux(target, stream, frame)
            t += int(picture.info.get("duration") or 40)
        assert stream is not None
        _mux(target, stream, None)
    log.info("animated WebP %s: read with Pillow (FFmpeg decodes still WebP only)", path.name)
    return out


def _record(url: str, folder: Path) -> Path:
    """An RTSP stream recorded in one pass into ``folder`` (its video and audio packets copied
    as they come, into Matroska) until it ends: the server stops it, or sends nothing for
    :data:`STREAM_IDLE_SECONDS` (an RTP stream often ends so: FFmpeg's client reports a
    time-out). Packets before the stream's timestamps are known (RTP before its first
    sender report) are dropped. A camera that never stops is never done: record a stretch
    first (``ffmpeg -i URL -t 60 -c copy clip.mkv``)."""
    idle = str(int(STREAM_IDLE_SECONDS * 1_000_000))
    try:
        source = av.open(url, options={"timeout": idle})
    except (av.error.FFmpegError, OSError) as exc:
        raise InputError(f"cannot open the stream ({_reason(exc)})", url) from exc
    out = folder / "stream.mkv"
    packets = 0
    with source, av.open(str(out), "w", format="matroska") as target:
        kept = [st for st in source.streams if st.type in ("video", "audio")]
        if not any(st.type == "video" for st in kept):
            raise InputError("the stream has no video", url)
        streams = {st.index: target.add_stream_from_template(st) for st in kept}
        untimed: dict[int, list[av.Packet]] = {st.index: [] for st in kept}
        last: dict[int, int] = {}
        try:
            for packet in source.demux(kept):
                if not packet.size:
                    continue  # the demuxer's flush packet
                index = packet.stream.index
                if packet.pts is None and packet.dts is None:
                    if index not in last:  # before the stream's timing is known (RTP's first sender report)
                        untimed[index].append(packet)
                        continue
                    packet.pts = packet.dts = last[index] + _period(packet.stream)
                for early in _stamped(untimed.pop(index, []), packet):
                    early.stream = streams[index]
                    target.mux(early)
                last[index] = packet.dts if packet.dts is not None else packet.pts
                packet.stream = streams[index]
                target.mux(packet)
                packets += 1
        except av.error.TimeoutError as exc:
            if not packets:
                raise InputError(f"nothing came for {STREAM_IDLE_SECONDS:g} s ({_reason(exc)})", url) from exc
        except av.error.FFmpegError as exc:
            if not packets:
                raise InputError(f"cannot read the stream ({_reason(exc)})", url) from exc
            log.warning("%s ended with an error after %d packets (%s): going on with what came", url, packets,
                        _reason(exc))
    log.info("recorded %s in one pass, until it ended, into %s (%.1f MB): a run reads its input several times",
             url, out, out.stat().st_size / 1e6)
    return out


def _period(stream: av.stream.Stream) -> int:
    """One frame (or audio packet) of ``stream`` in its time base: 1/rate, else 1/25 s."""
    rate = getattr(stream, "average_rate", None) or getattr(stream, "guessed_rate", None) or Fraction(25)
    if stream.type == "audio" and getattr(stream, "rate", None):
        rate = Fraction(stream.rate, stream.codec_context.frame_size or 1024)
    return max(1, round(1 / (Fraction(rate) * Fraction(stream.time_base))))


def _stamped(early: list[av.Packet], first: av.Packet) -> list[av.Packet]:
    """``early`` packets (no timestamps: they came before the stream's timing was known)
    placed one period apart before ``first``, the first packet with timestamps."""
    start = first.dts if first.dts is not None else first.pts
    step = _period(first.stream)
    for k, packet in enumerate(early):
        packet.pts = packet.dts = start - (len(early) - k) * step
    return early


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _first_number(pattern: Path) -> int:
    """The first number of ``pattern`` that exists (image2 looks from 0 to 4)."""
    regex = re.compile("^" + _PATTERN.sub(r"(\\d+)", re.escape(pattern.name)) + "$")
    numbers = sorted(int(m[1]) for p in pattern.parent.glob("*") if (m := regex.match(p.name)))
    if not numbers:
        raise InputError("no files match this image-sequence pattern", pattern)
    return numbers[0]


def _download(url: str, folder: Path) -> Path:
    """``url`` in one pass into ``folder``: http(s) through urllib, ``rtsp://`` recorded
    (:func:`_record`); other protocols FFmpeg reads (srt, rtmp…) are live streams: record
    them first."""
    scheme = url.split(":", 1)[0].lower()
    if scheme in ("rtsp", "rtsps"):
        return _record(url, folder)
    if scheme not in ("http", "https"):
        raise InputError(f"{scheme}:// inputs are not read directly: record the stream to a file first "
                         f"(ffmpeg -i URL -c copy file.mkv)", url)
    name = Path(urllib.parse.urlparse(url).path).name or "download"
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - http(s) only, checked above
            return _spool(response, folder, name, url)
    except urllib.error.HTTPError as exc:
        raise InputError(f"the server answers {exc.code} {exc.reason}", url) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc
        raise InputError(f"cannot download ({reason})", url) from exc


