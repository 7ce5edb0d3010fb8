"""Encoding with PyAV: upright RGB frames in, a finished file out.

* Untouched pixels keep their levels: when the output pixel format holds the source's
  planes as they are (the default: ``pix_fmt="auto"`` picks the source's format family and
  depth among what the codec supports), every pixel a stage did not change reaches the
  encoder with the source's decoded plane values (:func:`editor.video.pixels.restore_untouched`);
  everything else is converted with the source's matrix and range, never swscale's defaults.
* 10- and 12-bit sources are written at their depth; HDR colour tags, mastering-display and
  content-light metadata are kept (x265 / x264 parameters, so the SEI is in the bitstream).
* The output keeps the source's timestamps (VFR stays VFR), frame rate, size, pixel aspect
  ratio and colour tags; every other stream (audio, subtitles, data, attachments), the chapters and the
  container and stream metadata are copied (:mod:`editor.video.streams`).
* The file is written under a temporary name in the destination folder and renamed
  when complete, so an output is never left half-written; the input is never
  overwritten.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from editor.api.errors import OutputError
from editor.api.files import AtomicOutput, check_output, storage_error
from editor.api.frames import ColorInfo, Frame, VideoInfo
from editor.video.avi_header import MAX_START_SECONDS, AviHeaderError, set_stream_starts
from editor.video.filters import FIELD_ORDER_CODES, FrameFilter, PaletteFilter, is_interlaced, top_field_first
from editor.video.pixels import compatible, from_rgb, pixel_format, restore_untouched
from editor.video.streams import StreamCopier, copy_metadata, source_timecode

log = logging.getLogger(__name__)

_ALPHA_FORMATS = ("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya")
#: Codec and pixel format chosen for frames with alpha when the default codec was asked for.
_ALPHA_DEFAULTS = {".mov": ("prores_ks", "yuva444p10le"), ".webm": ("libvpx-vp9", "yuva420p"),
                   ".mkv": ("ffv1", "yuva420p")}
#: Encoders whose 4:2:0/4:2:2 modes need even frame sizes.
_EVEN_SIZE_CODECS = ("libx264", "libx265", "h264_nvenc", "hevc_nvenc", "libvpx-vp9", "libaom-av1", "libsvtav1")
_CRF_CODECS = ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1")
CRF_MAX = {"libx264": 51, "libx265": 51, "libvpx-vp9": 63, "libaom-av1": 63, "libsvtav1": 63,
           "h264_nvenc": 51, "hevc_nvenc": 51}
"""The largest quality value (``--crf``; NVENC's ``cq``) each encoder takes (x264/x265: 0–51 at
8 bits; libvpx, libaom and SVT-AV1: 0–63; FFmpeg's codec option ranges). An automatic codec
may become any of them: 0–63."""
#: Encoders that code interlaced pictures (fields) when asked (``flags=+ildct+ilme``); others
#: write an interlaced source's frames whole, tagged with its field order.
_INTERLACED_CODECS = ("libx264", "mpeg2video", "prores_ks", "h264_nvenc")
#: Why an encoder without interlaced frame coding cannot code fields either (checked with
#: libx265 4.2 through PyAV's FFmpeg 8 and FFmpeg 5.1: x265's ``interlace=tff`` codes each
#: input picture as one field, ``field_seq_flag`` set; FFmpeg's HEVC decoder then returns
#: the fields as separate half-height pictures at twice the rate, never woven frames).
_HEVC_FIELDS = (" (HEVC codes fields only as separate pictures, which FFmpeg-based players show as half-height "
                "frames at twice the rate)")
_NO_FIELDS = {"libx265": _HEVC_FIELDS, "hevc_nvenc": _HEVC_FIELDS}
#: Encoders whose bitstream has no sample aspect ratio (checked with PyAV 18.1's FFmpeg 8:
#: written to Matroska with a 4:3 encoder aspect ratio, ffprobe reads none back).
_NO_SAR_CODECS = ("libvpx-vp9", "libvpx", "libaom-av1", "libsvtav1", "librav1e", "ffv1", "prores_ks", "prores")
_FRAME_RATE_CODECS = ("mpeg1video", "mpeg2video", "h261", "h263", "h263p")


@dataclass
class EncodeOptions:
    """How to encode the output video."""

    codec: str = "libx264"
    crf: int | None = 18
    preset: str | None = "medium"
    pix_fmt: str = "auto"
    """``auto``: the source's format family and depth (4:2:0/4:2:2/4:4:4, gray, alpha, 8/10/12
    bits), or the nearest the codec supports (one log line says so)."""
    container: str | None = None
    """Container format name (``mp4``, ``mov``, ``matroska``, ``webm``…); default: from extension."""
    audio: bool = True
    subtitles: bool = True
    other_streams: bool = True
    """Copy the source's other streams (audio, subtitles and video as the flags say; data,
    attachments), chapters and metadata; ``False``: a bare video (e.g. a matte)."""
    timecode: bool = True
    """A bare video (``other_streams=False``) still carries the source's start timecode
    (:func:`editor.video.streams.source_timecode`; MOV/MP4 write it as a timecode track): a
    matte or ProRes clip lines up with its video in an editor that places clips by timecode."""
    extra_video: bool = True
    """Copy the source's other video streams, unedited (a warning says so); ``False``
    (``--no-extra-video``): drop them. Attached pictures (cover art) are always dropped."""
    redacts: bool = False
    """The run hides what it found (``--detect``): other video streams are dropped (with a
    warning), never copied unedited."""
    pictures: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False, compare=False)
    """How attached pictures (cover art) are edited, RGB uint8 in and out (a redacting run's
    detectors: :mod:`editor.pipeline.pictures`); ``None``: they are dropped with a warning."""
    options: dict[str, str] = field(default_factory=dict)
    """Extra codec options passed to FFmpeg (e.g. ``{"tune": "film"}``)."""
    threads: int = 0
    auto_codec: bool = False
    """The codec was chosen by ``auto``: HDR and 12-bit sources then get libx265, WebM outputs VP9."""

    def __post_init__(self) -> None:
        if self.codec not in av.codecs_available:
            raise OutputError(f"video codec {self.codec!r} is not available in this FFmpeg build")
        if self.crf is not None:
            top = max(CRF_MAX.values()) if self.auto_codec else CRF_MAX.get(self.codec)
            if top is not None and not 0 <= self.crf <= top:
                raise OutputError(f"--crf {self.crf}: {'the encoder' if self.auto_codec else self.codec} takes 0–{top} "
                                  "(lower = better)")
        if self.pix_fmt != "auto":
            try:
                av.VideoFormat(self.pix_fmt)
            except (ValueError, av.error.FFmpegError) as exc:
                raise OutputError(f"unknown pixel format {self.pix_fmt!r}") from exc

    @classmethod
    def resolve(cls, codec: str = "auto", **kw: object) -> "EncodeOptions":
        """``codec='auto'`` → libx264 (libx265 for HDR and 12-bit sources, VP9 for WebM, decided
        with the source); ``'nvenc'`` → h264_nvenc when it can open, else libx264."""
        auto = codec in ("auto", "", None)
        if auto:
            codec = "libx264"
        elif codec == "nvenc":
            codec = "h264_nvenc" if nvenc_available() else "libx264"
            if codec == "libx264":
                log.warning("h264_nvenc is not usable here; encoding with libx264")
        if codec not in ("libx264", "libx265"):
            kw.setdefault("preset", None)
        return cls(codec=codec, auto_codec=auto, **kw)  # type: ignore[arg-type]


def nvenc_available() -> bool:
    """True when an NVENC H.264 encoder can actually be opened (a GPU with NVENC is present)."""
    if "h264_nvenc" not in av.codecs_available:
        return False
    try:
        ctx = av.CodecContext.create("h264_nvenc", "w")
        ctx.width, ctx.height, ctx.pix_fmt = 256, 256, "yuv420p"
        ctx.time_base = Fraction(1, 25)
        ctx.open()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not usable"
        return False


def codec_formats(codec: str) -> list[str]:
    try:
        return [f.name for f in (av.Codec(codec, "w").video_formats or [])]
    except (av.error.FFmpegError, ValueError):
        return []


def _model(fmt_name: str) -> str:
    f = pixel_format(fmt_name)
    return "rgb" if f.is_rgb else "gray" if f.is_gray else "yuv"


_MODEL_COST = {("gray", "gray"): 0, ("gray", "yuv"): 1, ("gray", "rgb"): 2, ("yuv", "yuv"): 0, ("yuv", "rgb"): 2,
               ("rgb", "rgb"): 0, ("rgb", "yuv"): 1}


def choose_pix_fmt(codec: str, source: str, *, alpha: bool) -> str:
    """The pixel format ``codec`` supports that is nearest to ``source`` (with an alpha plane
    when ``alpha``): no loss of depth, chroma resolution, colour or alpha where the codec
    allows, then the fewest extra bits."""
    formats = codec_formats(codec)
    want = pixel_format(source)
    wanted = source.replace("yuvj", "yuv")
    if alpha and not want.has_alpha:
        for candidate in (wanted.replace("yuv", "yuva", 1), wanted.replace("gbrp", "gbrap", 1),
                          {"rgb24": "rgba", "bgr24": "bgra", "gray": "ya8"}.get(wanted, "")):
            if candidate and candidate in formats:
                return candidate
    if wanted in formats and (want.has_alpha == alpha or not alpha):
        return wanted
    if source in formats:
        return source
    if not formats:
        return wanted
    wm = _model(source)
    wx, wy = want.subsampling

    def cost(name: str) -> tuple:
        c = pixel_format(name)
        cm = _model(name)
        model = _MODEL_COST.get((wm, cm), 10)
        cx, cy = c.subsampling if cm != "gray" else (wx, wy)
        return (model >= 10, alpha and not c.has_alpha, max(0, want.bits - c.bits), max(0, cx - wx) + max(0, cy - wy),
                model, c.has_alpha and not alpha, max(0, c.bits - want.bits),
                max(0, wx - cx) + max(0, wy - cy), 0 if c.planar else 1, name.startswith("yuvj"))

    usable = [f for f in formats if not pixel_format(f).is_rgb or not av.VideoFormat(f).has_palette]
    return min(usable or formats, key=cost)


def _full_chroma(codec: str, pix_fmt: str) -> str | None:
    """The 4:4:4 sibling of ``pix_fmt`` (same depth, alpha) that ``codec`` supports."""
    name = pix_fmt
    for sub in ("420", "422", "440", "411", "410"):
        name = name.replace(sub, "444")
    return name if name != pix_fmt and name in codec_formats(codec) else None


LOOKAHEAD_PIXELS = 3840 * 2160
"""Frames larger than this get a shorter encoder look-ahead (:func:`_bounded_lookahead`)."""
LOOKAHEAD_FRAMES = 40
"""x264's and x265's look-ahead at the presets up to ``medium`` (their documentation)."""


def _bounded_lookahead(codec: str, options: dict[str, str], pixels: int) -> None:
    """For frames above 4K, cap the x264/x265 rate-control look-ahead so that the frames it
    holds take what 40 frames of 4K take (at 8192×8192: 5 frames): memory stays bounded at
    the frame-size limit (measured: 60 frames of 8192×8192 peaked at 19.3 GB with x264's
    default 40). A look-ahead the user gives (``rc-lookahead`` option or in
    ``x265-params``) is kept."""
    if pixels <= LOOKAHEAD_PIXELS:
        return
    frames = str(max(4, round(LOOKAHEAD_FRAMES * LOOKAHEAD_PIXELS / pixels)))
    if codec == "libx264":
        options.setdefault("rc-lookahead", frames)
    elif codec == "libx265":
        params = options.get("x265-params", "")
        if "rc-lookahead" not in params:
            options["x265-params"] = ":".join(p for p in (params, f"rc-lookahead={frames}") if p)


def _has_avx512() -> bool:
    """Whether this CPU has AVX-512 (NumPy's runtime CPU dispatch table; False where unknown)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__  # NumPy >= 2
    except ImportError:  # pragma: no cover - older NumPy or another layout
        return False
    return bool(__cpu_features__.get("AVX512F"))


def repeatable_x264(codec: str, options: dict[str, str]) -> None:
    """Make libx264 give the same bytes for the same frames on an AVX-512 CPU.

    Measured here (x264 in PyAV 18.1's FFmpeg, 2026-12-07): with its AVX-512 routines,
    the same 176×144 frames encoded twice in one process came out different (2–12 distinct
    streams in 12 runs, up to 29 levels apart after decoding, from the first frame;
    320×240 and 352×288 too) even with the input's line padding and memory after the
    planes zeroed — x264 reads memory it never wrote. Limited to AVX2 (``asm=avx2``, which
    includes every earlier extension) every run is identical and a 640×272 stream is the
    same bytes as with AVX-512, for 8 % more encoding CPU time. Only set on CPUs that have
    AVX-512 (so AVX2 is present); an ``asm`` the user gives in ``x264-params`` is kept."""
    if codec != "libx264" or not _has_avx512():
        return
    params = options.get("x264-params", "")
    if any(p.split("=")[0] == "asm" for p in params.split(":") if p):
        return
    options["x264-params"] = ":".join(p for p in (params, "asm=avx2") if p)


#: Muxers that write random identifiers unless asked for bit-exact output: FFmpeg's Matroska
#: muxer (``libavformat/matroskaenc.c``) draws a SegmentUID and every TrackUID from a random
#: seed, and names itself with its version (``Lavf62.12.102``), unless ``AVFMT_FLAG_BITEXACT``
#: (``-fflags +bitexact``) is set; then it writes no SegmentUID (an optional element), track
#: UIDs 1, 2… and ``Lavf``. Measured here (PyAV 18.1, FFmpeg 8.1): two .mkv files of the same
#: frames differed in 44 bytes (SegmentUID, TrackUID and their CRC-32s), two .webm in 16; with
#: the flag both are identical. MP4, MOV, AVI and MPEG-TS were already identical (their
#: muxers write no random identifier) and are left as they are, so their bytes do not change.
_RANDOM_ID_FORMATS = ("matroska", "webm")


def _repeatable_container(container: av.container.OutputContainer) -> None:
    """Make the muxer write the same bytes for the same packets (:data:`_RANDOM_ID_FORMATS`)."""
    if container.format.name in _RANDOM_ID_FORMATS:
        flags = container.container_options.get("fflags", "")
        if "bitexact" not in flags:
            container.container_options["fflags"] = flags + "+bitexact"


#: Containers that store one frame per tick of the stream's time base and no presentation
#: timestamps (AVI: the header's dwScale/dwRate is the frame rate and a frame's time is its
#: place in the index; FFmpeg's AVI muxer fills a gap in decode timestamps with empty
#: "repeat" frames): written at a constant rate (:class:`ConstantRate`).
CONSTANT_RATE_FORMATS = ("avi",)


def _output_extensions() -> frozenset[str]:
    """The file extensions FFmpeg's muxers name (``AVOutputFormat.extensions``, through
    PyAV's :class:`av.format.ContainerFormat`), lower case, without the dot."""
    found: set[str] = set()
    for name in av.formats_available:
        try:
            fmt = av.format.ContainerFormat(name, "w")
        except (ValueError, av.error.FFmpegError):
            continue  # a demuxer only
        found.update(e.lower() for e in fmt.extensions)
    return frozenset(found)


def check_output_format(path: Path, container: str | None) -> None:
    """Raise :class:`OutputError` (one line, before anything is decoded or tracked) when
    FFmpeg cannot tell the output's container from ``path``'s extension and no
    ``container`` (``--container``) names it — e.g. ``-o out.txt``, which before failed only
    at the first encoded frame, after the detection and tracking had run."""
    if container or str(path) == "-" or path.exists():  # check_output says why "-", an existing
        return                                              # file, a directory or a device is refused
    ext = path.suffix.lower().lstrip(".")
    if ext and ext in _output_extensions():
        return
    said = f"the extension '.{ext}'" if ext else "a name without an extension"
    raise OutputError(f"cannot tell the container format from {said} (name the file .mp4, .mkv, .mov, .webm, .avi or .gif, "
                      "or give --container NAME)", path)


def _rate_text(rate: Fraction) -> str:
    """``25`` or ``30000/1001`` (frames per second)."""
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


class ConstantRate:
    """Frames → slots of a constant-rate stream (slot ``n`` is shown from ``n / rate`` s):
    frame ``f`` belongs in slot ``round((t_f − t_0) · rate)``, ``t_0`` the first frame's time,
    so the first frame is at 0. As ``ffmpeg -fps_mode cfr`` does (the mode FFmpeg's command
    line picks for muxers without variable frame rate; ffmpeg documentation, ``-fps_mode``):
    a frame whose slot is already filled is dropped, and slots a frame skips are filled by
    repeating the frame before, so a constant-rate source comes out frame for frame and a
    variable-rate one at its average rate."""

    def __init__(self, rate: Fraction) -> None:
        self.rate = Fraction(rate)
        self.start: Fraction | None = None
        self.next = 0
        self.dropped = 0
        self.repeated = 0

    def place(self, frame: Frame) -> tuple[int, int | None]:
        """(repeats of the frame before, to fill the slots ``frame`` skips; ``frame``'s slot,
        ``None`` when it is dropped)."""
        time = Fraction(frame.pts) * frame.time_base if frame.pts is not None else frame.index / self.rate
        if self.start is None:
            self.start = time
        slot = round((time - self.start) * self.rate)
        if slot < self.next:
            self.dropped += 1
            return 0, None
        repeats = slot - self.next
        self.repeated += repeats
        self.next = slot + 1
        return repeats, slot


class VideoWriter:
    """Encode frames to ``path`` with the timing, size, streams and tags of ``source``.

    Use as a context manager: on success the temporary file is renamed to ``path``;
    on an exception it is deleted.
    """

    def __init__(self, path: str | Path, source: VideoInfo, options: EncodeOptions | None = None,
                 *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.source = source
        self.options = options or EncodeOptions()
        check_output(self.path, [Path(source.path)], overwrite)
        self._out = AtomicOutput(self.path)
        self._tmp = self._out.path
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._copier: StreamCopier | None = None
        self._last_pts: int | None = None
        self._frame_tb: Fraction | None = None
        self._cfr: ConstantRate | None = None
        self._previous: av.VideoFrame | None = None
        self._pad = (0, 0)
        self._color = ColorInfo()
        self._alpha_out = False
        self._fields: FrameFilter | None = None
        self._palette: PaletteFilter | None = None
        self.frames_written = 0
        self.frames_passed_through = 0
        """Frames whose untouched pixels were copied from the decoded planes."""

    # -- setup ---------------------------------------------------------------
    def _choose(self, first: Frame, w: int, h: int) -> tuple[str, str]:
        """(codec, pixel format) for this output."""
        opts = self.options
        codec, pix_fmt = opts.codec, opts.pix_fmt
        source_fmt = first.planes.format if first.planes is not None else self.source.pix_fmt
        src = pixel_format(source_fmt)
        suffix = self.path.suffix.lower()
        wants_alpha = first.alpha is not None
        if wants_alpha and self.source.codec == "gif" and bool((first.alpha == np.iinfo(first.alpha.dtype).max).all()):
            # FFmpeg decodes every GIF with an alpha plane; an opaque first frame: a GIF without transparency
            wants_alpha = False
            log.info("GIF without transparency: no alpha is written")
        if opts.auto_codec and codec == "libx264" and (suffix == ".gif" or opts.container == "gif"):
            log.info("GIF output: a palette of its own for every frame (FFmpeg's palettegen/paletteuse)")
            return "gif", "pal8"
        if wants_alpha and not (pix_fmt != "auto" and pix_fmt.startswith(_ALPHA_FORMATS)):
            codec_alpha = any(pixel_format(f).has_alpha for f in codec_formats(codec))
            if pix_fmt != "auto" or not codec_alpha:
                auto = _ALPHA_DEFAULTS.get(suffix) if codec == "libx264" else None
                if auto is not None:
                    codec = auto[0]
                    pix_fmt = pix_fmt if pix_fmt == "auto" else auto[1]
                    log.info("frames carry alpha: writing %s", codec)
                else:
                    log.warning("frames carry alpha but %s/%s has none; alpha is dropped (use .mov, .webm, "
                                ".mkv, or a PNG sequence for transparency)", codec, pix_fmt)
                    wants_alpha = False
        if opts.auto_codec and codec == "libx264":
            if suffix == ".webm" or (opts.container or "") == "webm":
                codec = "libvpx-vp9"
                log.info("WebM output: encoding with libvpx-vp9")
            elif (self.source.color.is_hdr or src.bits > 10) and "libx265" in av.codecs_available:
                codec = "libx265"
                log.info("%s source: encoding with libx265 (HEVC) to keep it", "HDR" if self.source.color.is_hdr
                         else f"{src.bits}-bit")
        if pix_fmt == "auto" and opts.auto_codec and codec in ("libx264", "libx265") and src.is_rgb \
                and src.bits <= 8 and not wants_alpha:
            # 8-bit RGB or palette pictures (GIF, WebP, PNG/JPEG sequences, screen captures) into
            # H.264/HEVC: 4:2:0, what players play (most refuse 4:4:4 H.264)
            pix_fmt = "yuv420p"
            log.info("%s source (%s): writing yuv420p, what players play (--pix-fmt yuv444p keeps full colour)",
                     self.source.codec, source_fmt)
        if pix_fmt == "auto":
            pix_fmt = choose_pix_fmt(codec, source_fmt, alpha=wants_alpha)
            got = pixel_format(pix_fmt)
            if (got.colour_layout != src.colour_layout or got.bits != src.bits) and not src.is_rgb:
                log.warning("%s cannot encode the source's %s; writing %s (the nearest it supports)",
                            codec, source_fmt, pix_fmt)
            elif src.is_rgb and not got.is_rgb:
                log.info("%s has no RGB mode; writing %s", codec, pix_fmt)
        sx, sy = pixel_format(pix_fmt).subsampling
        if (w % 2 and sx) or (h % 2 and sy):
            full = _full_chroma(codec, pix_fmt) if codec in _EVEN_SIZE_CODECS else None
            if full is not None:
                log.info("odd frame size %dx%d: encoding %s instead of %s to keep every pixel",
                         w, h, full, pix_fmt)
                pix_fmt = full
            elif codec in _EVEN_SIZE_CODECS or codec in ("mpeg4", "mpeg2video"):
                self._pad = (w % 2, h % 2)
                log.warning("odd frame size %dx%d: padding to %dx%d for %s",
                            w, h, w + self._pad[0], h + self._pad[1], codec)
        return codec, pix_fmt

    def _output_color(self, first: Frame, pix_fmt: str) -> ColorInfo:
        src_color = first.planes.color if first.planes is not None else self.source.color
        src = pixel_format(first.planes.format if first.planes is not None else self.source.pix_fmt)
        out = pixel_format(pix_fmt)
        if out.is_rgb:
            return src_color if src.is_rgb else ColorInfo(0, 0, src_color.color_primaries, src_color.color_trc)
        if src.is_rgb:  # RGB source → YUV: BT.709, limited range, said so in the tags
            return ColorInfo(1, 1, src_color.color_primaries, src_color.color_trc)
        color_range = 2 if (src.full_range or src_color.color_range == 2 or out.full_range) else src_color.color_range
        return ColorInfo(src_color.colorspace, color_range, src_color.color_primaries, src_color.color_trc)

    def _hdr_options(self, codec: str, options: dict[str, str]) -> None:
        md, cll = self.source.mastering_display, self.source.content_light
        if md is None and cll is None:
            return
        if codec == "libx265":
            params = ["hdr10=1", "repeat-headers=1"] if self.source.color.color_trc == 16 else ["repeat-headers=1"]
            if md is not None:
                params.append(f"master-display={md.x265()}")
            if cll is not None:
                params.append(f"max-cll={cll.max_cll},{cll.max_fall}")
            key = "x265-params"
        elif codec == "libx264":
            params = []
            if md is not None:
                params.append(f"mastering-display={md.x265()}")
            if cll is not None:
                params.append(f"cll={cll.max_cll},{cll.max_fall}")
            key = "x264-params"
        else:
            log.warning("%s cannot carry the source's HDR mastering-display/content-light metadata; the colour "
                        "tags are kept (use --codec libx265 to keep it)", codec)
            return
        user = options.get(key, "")
        given = {p.split("=")[0] for p in user.split(":") if p}
        ours = [p for p in params if p.split("=")[0] not in given]
        options[key] = ":".join([p for p in [user] if p] + ours)

    def _interlaced(self, codec: str, options: dict[str, str]) -> None:
        """An interlaced source is written interlaced with its field order: the stream's
        ``field_order`` tag, interlaced coding (``flags=+ildct+ilme``, FFmpeg's generic codec
        options, which libx264, mpeg2video and prores_ks honour), every frame flagged with its
        field order (the ``setfield`` filter: libx264 takes top/bottom first from each frame) and,
        for H.264, x264's ``pic-struct`` (the order in each picture's timing SEI: an MP4 has no
        field-order box, and FFmpeg's H.264 parser reads it there)."""
        order = self.source.field_order
        if not is_interlaced(order):
            return
        assert self._stream is not None
        self._stream.codec_context.field_order = FIELD_ORDER_CODES[order]
        first = "top" if top_field_first(order) else "bottom"
        self._fields = FrameFilter(f"setfield=mode={'tff' if first == 'top' else 'bff'}")
        coded = codec in _INTERLACED_CODECS
        if coded:
            flags = options.get("flags", "")
            options["flags"] = flags + "".join(f for f in ("+ildct", "+ilme") if f not in flags)
        if codec == "libx264":  # the field order in every picture's timing SEI, where readers look for it
            params = options.get("x264-params", "")
            if "pic-struct" not in params:
                options["x264-params"] = ":".join(p for p in (params, "pic-struct=1") if p)
        if coded:
            log.warning("interlaced source (%s field first): writing interlaced %s, %s field first, tagged "
                        "(--deinterlace bwdif makes it progressive)", first, codec, first)
        else:
            log.warning("interlaced source (%s field first): %s codes no interlaced frames%s, so each frame is "
                        "coded whole with both fields woven, tagged %s field first (--codec libx264 codes it "
                        "interlaced, --deinterlace bwdif makes it progressive)", first, codec,
                        _NO_FIELDS.get(codec, ""), first)

    def _aspect(self, stream: av.video.stream.VideoStream, codec: str) -> None:
        """The source's sample aspect ratio (pixel width : height) on the encoder: FFmpeg's
        encoders write it in the bitstream (H.264/HEVC VUI, MPEG-2/MPEG-4 headers, JPEG), MP4
        and MOV in a ``pasp`` box and AVI in its header from it. Matroska and WebM keep it
        only as the track's display size, from ``AVStream.sample_aspect_ratio``, which PyAV
        cannot set: codecs with no aspect ratio in their bitstream (:data:`_NO_SAR_CODECS`) lose
        it there, with a warning."""
        sar = self.source.sample_aspect_ratio
        if not sar:
            return
        stream.codec_context.sample_aspect_ratio = sar
        assert self._container is not None
        if sar != 1 and codec in _NO_SAR_CODECS and self._container.format.name in ("matroska", "webm"):
            log.warning("the source's pixels are %d:%d (sample aspect ratio), which %s in %s cannot carry: the "
                        "output plays with square pixels (.mp4, .mov, or .mkv with --codec libx264 keep it)",
                        sar.numerator, sar.denominator, codec, self._container.format.name)

    def _open(self, first: Frame) -> None:
        opts = self.options
        h, w = first.image.shape[:2]
        try:
            self._container = av.open(str(self._tmp), mode="w", format=opts.container)
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot create output ({exc})", self.path) from exc
        _repeatable_container(self._container)
        codec, pix_fmt = self._choose(first, w, h)
        self._alpha_out = pixel_format(pix_fmt).has_alpha
        rate = self.source.average_rate if self.source.average_rate else Fraction(25)
        try:
            stream = self._container.add_stream(codec, rate=rate)
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot add a {codec} stream to {self._container.format.name} ({exc})",
                              self.path) from exc
        stream.width, stream.height = w + self._pad[0], h + self._pad[1]
        stream.pix_fmt = pix_fmt
        self._aspect(stream, codec)
        tb = first.time_base if first.pts is not None else Fraction(1, 1) / rate
        if self._container.format.name in CONSTANT_RATE_FORMATS:  # one tick per frame: the frame rate
            tb = Fraction(1, 1) / rate
            self._cfr = ConstantRate(rate)
            # every stream starts at its first index entry: a shift of all timestamps (FFmpeg's
            # default when a copied stream starts below 0, as AAC priming does) would move the
            # first video frame a tick late, leaving an empty "repeat" entry after it
            self._container.container_options["avoid_negative_ts"] = "disabled"
        stream.time_base = tb
        cc = stream.codec_context
        # MPEG-1/2 and H.263 take only a frame-rate time base (constant rate); MPEG-4 part 2 one
        # whose denominator fits 16 bits
        if self._cfr is None and (codec in _FRAME_RATE_CODECS or (codec == "mpeg4" and tb.denominator > 65535)):
            self._frame_tb = tb
            tb = Fraction(1, 1) / rate
        cc.time_base = tb
        self._color = self._output_color(first, pix_fmt)
        for attr in ("colorspace", "color_range", "color_primaries", "color_trc"):
            try:
                setattr(cc, attr, getattr(self._color, attr))
            except Exception:  # noqa: BLE001 - tag only what this PyAV can set
                pass
        self._stream = stream
        codec_options = dict(opts.options)
        if opts.crf is not None and codec in _CRF_CODECS and "qp" not in codec_options:
            codec_options.setdefault("crf", str(opts.crf))
            if codec == "libvpx-vp9":
                codec_options.setdefault("b", "0")
        elif opts.crf is not None and codec.endswith("_nvenc"):
            codec_options.setdefault("cq", str(opts.crf))
        if opts.preset and codec in ("libx264", "libx265") or (opts.preset and codec.endswith("_nvenc")):
            codec_options.setdefault("preset", opts.preset)
        if self._container.format.name == "avi":
            codec_options.setdefault("bf", "0")  # AVI keeps no presentation order: no B-frames
        if codec == "libx265":
            params = codec_options.get("x265-params", "")
            if "log-level" not in params:
                codec_options["x265-params"] = ":".join(p for p in (params, "log-level=error") if p)
        self._hdr_options(codec, codec_options)
        self._interlaced(codec, codec_options)
        _bounded_lookahead(codec, codec_options, cc.width * cc.height)
        repeatable_x264(codec, codec_options)
        cc.options = codec_options
        if opts.threads:
            cc.thread_count = opts.threads
        cc.thread_type = "AUTO"
        if codec == "libx265" and self._container.format.name.split(",")[0] in ("mp4", "mov"):
            try:
                cc.codec_tag = "hvc1"  # the tag Apple players require
            except Exception:  # noqa: BLE001
                pass
        if first.planes is not None and not compatible(first.planes.format, pix_fmt):
            log.info("output %s differs from the source's %s: untouched pixels are converted plane to plane "
                     "(with the source's matrix and range), not copied", pix_fmt, first.planes.format)
        try:
            cc.open()
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot open the {codec} encoder for {w}x{h} {pix_fmt} ({exc})", self.path) from exc
        if opts.other_streams:
            self._copy_video_tags(stream)
            try:
                self._copier = StreamCopier(Path(self.source.path), self._container, self.source.index,
                                            audio=opts.audio, subtitles=opts.subtitles,
                                            extra_video=opts.extra_video, redacts=opts.redacts,
                                            pictures=opts.pictures)
            except OutputError as exc:
                raise self._named(exc) from exc
            if self._copier.timecode and "timecode" not in stream.metadata:
                stream.metadata["timecode"] = self._copier.timecode
        elif opts.timecode:
            timecode = source_timecode(Path(self.source.path), self.source.index)
            if timecode:
                stream.metadata["timecode"] = timecode
        try:
            self._container.start_encoding()
        except (av.error.FFmpegError, ValueError) as exc:
            raise self._failed(exc, f"cannot write the {self._container.format.name} header") from exc

    def _copy_video_tags(self, stream: av.video.stream.VideoStream) -> None:
        try:
            with av.open(self.source.path) as src:
                in_stream = src.streams[self.source.index]
                for key, value in copy_metadata(in_stream.metadata).items():
                    stream.metadata[key] = value
                stream.disposition = in_stream.disposition
        except (av.error.FFmpegError, IndexError, OSError):
            pass

    def _failed(self, exc: BaseException, what: str) -> OutputError:
        """One line: the output folder and its cause when it is full or read-only, else ``what``."""
        return storage_error(exc, self.path.parent, self.path.name) or OutputError(f"{what} ({exc})", self.path)

    def _named(self, exc: OutputError) -> OutputError:
        return exc if exc.source else OutputError(exc.message, self.path)

    # -- writing ---------------------------------------------------------------
    def _to_av(self, frame: Frame) -> av.VideoFrame:
        assert self._stream is not None
        pix_fmt = self._stream.pix_fmt
        if pix_fmt == "pal8":  # GIF: RGB through the palette filter (write)
            self._palette = self._palette or PaletteFilter()
            return av.VideoFrame.from_ndarray(np.ascontiguousarray(frame.rgb8), format="rgb24")
        alpha = frame.alpha if self._alpha_out else None
        if frame.planes is not None and self._pad == (0, 0):
            restored = restore_untouched(frame.image, alpha, frame.planes, pix_fmt, self._color)
            if restored is not None:
                out, exact = restored
                self.frames_passed_through += exact
                return out
        image = frame.image
        if self._pad != (0, 0):
            pad = ((0, self._pad[1]), (0, self._pad[0]))
            image = np.pad(image, (*pad, (0, 0)), mode="edge")
            alpha = None if alpha is None else np.pad(alpha, pad, mode="edge")
        return from_rgb(image, alpha, pix_fmt, self._color)

    def write(self, frame: Frame) -> None:
        """Encode one frame (its pts are kept; a non-increasing pts is nudged forward; in AVI its
        place at the constant rate: :class:`ConstantRate`)."""
        if self._container is None:
            self._open(frame)
        assert self._stream is not None and self._container is not None
        enc_tb = self._stream.codec_context.time_base
        pts = frame.pts if frame.pts is not None else frame.index
        duration = frame.duration
        if self._cfr is not None:
            repeats, slot = self._cfr.place(frame)
            if slot is None:  # its slot is taken: dropped (ConstantRate)
                self._copy_until(frame.time)
                return
            for k in range(repeats):  # slots it skips: the frame before again
                assert self._previous is not None
                self._previous.pts = slot - repeats + k
                self._encode(self._previous, frame.index)
            pts, duration = slot, 1
        av_frame = self._to_av(frame)
        if self._frame_tb is not None and frame.pts is not None:
            pts = round(pts * frame.time_base / enc_tb)
            duration = round(duration * frame.time_base / enc_tb) if duration else None
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        av_frame.pts = pts
        av_frame.time_base = enc_tb
        if self._fields is not None:  # the field-order flags (setfield passes each frame straight through)
            av_frame = self._fields(av_frame)[0]
        if self._palette is not None:  # one frame in, one out
            av_frame = self._palette(av_frame)[0]
        if duration:
            av_frame.duration = duration
        self._last_pts = pts
        self._encode(av_frame, frame.index)
        self._previous = av_frame
        self._copy_until(frame.time)
        self.frames_written += 1

    @property
    def frames_in_file(self) -> int:
        """Frames the output holds: those written, plus the repeats a constant-rate (AVI)
        output adds (:class:`ConstantRate`; the frames it drops are not written)."""
        return self.frames_written + (self._cfr.repeated if self._cfr is not None else 0)

    def _encode(self, av_frame: av.VideoFrame, index: int) -> None:
        assert self._stream is not None and self._container is not None
        try:
            for packet in self._stream.encode(av_frame):
                self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise self._failed(exc, f"encoding failed at frame {index}") from exc

    def _copy_until(self, time: float) -> None:
        """The other streams up to ``time`` (seconds)."""
        if self._copier is None:
            return
        try:
            self._copier.write_until(time)
        except OutputError as exc:
            raise self._named(exc) from exc
        except av.error.FFmpegError as exc:  # the folder's: full, read-only (streams.StreamCopier._emit)
            raise self._failed(exc, "writing the other streams") from exc

    def close(self) -> Path:
        """Flush, finish the file and move it to its final name."""
        if self._container is None:
            raise OutputError("no frames were written", self.path)
        assert self._stream is not None
        cfr = self._cfr
        if cfr is not None and (cfr.dropped or cfr.repeated):
            log.warning("%s holds a constant frame rate: the variable-rate source is written at %s fps, %d frames "
                        "repeated and %d dropped (as ffmpeg -fps_mode cfr does; .mkv or .mp4 keep its timing)",
                        self._container.format.name.upper(), _rate_text(cfr.rate), cfr.repeated, cfr.dropped)
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise self._failed(exc, "encoding failed at the end") from exc
        starts: dict[int, int] = {}
        if self._copier is not None:
            copier, self._copier = self._copier, None
            try:
                copier.close()
            except OutputError as exc:
                raise self._named(exc) from exc
            except av.error.FFmpegError as exc:
                raise self._failed(exc, "writing the other streams") from exc
            if cfr is not None:
                starts = self._delays(cfr, copier.starts)
        try:
            self._container.close()
        except (av.error.FFmpegError, ValueError) as exc:
            raise self._failed(exc, f"cannot finish the {self._container.format.name} file") from exc
        finally:
            self._container = None
        try:
            set_stream_starts(self._tmp, starts)
        except (AviHeaderError, OSError) as exc:
            raise self._failed(exc, "cannot write the streams' start times into the AVI header") from exc
        return self._out.commit()

    def _delays(self, cfr: ConstantRate, starts: dict[int, Fraction]) -> dict[int, int]:
        """For a constant-rate (AVI) output: each stream's delay after the earliest one, in
        whole ticks of its time base (rounded down, so below one tick is lost: AAC's 1024
        samples, a video frame), for the header's start fields (:mod:`editor.video.avi_header`).
        Every stream would otherwise start at 0 and a later one (audio 0.5 s after the video)
        would lose its sync."""
        assert self._container is not None and self._stream is not None
        times = dict(starts)
        if cfr.start is not None:
            times[self._stream.index] = cfr.start
        if not times:
            return {}
        first = min(times.values())
        out: dict[int, int] = {}
        for index, time in times.items():
            tb = self._container.streams[index].time_base
            ticks = math.floor((time - first) / tb) if tb else 0
            if ticks > 0:
                if time - first > MAX_START_SECONDS:
                    log.warning("stream %d starts %.1f s after the first: AVI readers take no start beyond %d s, so "
                                "it starts at 0 (.mkv or .mp4 keep it)", index, float(time - first), MAX_START_SECONDS)
                    continue
                out[index] = ticks
        return out

    def abort(self) -> None:
        """Drop the partial output."""
        if self._copier is not None:
            self._copier.abort()
            self._copier = None
        try:
            if self._container is not None:
                self._container.close()
        except Exception:  # noqa: BLE001 - we are discarding this file anyway
            pass
        self._container = None
        self._out.discard()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is None:
            self.close()
        else:
            self.abort()
