"""Encoding with PyAV: upright RGB frames in, a finished file out.

* The output keeps the source's timestamps (VFR stays VFR), frame rate, size and
  colour tags; audio streams are remuxed packet by packet, or transcoded only when
  the output container cannot hold their codec.
* The file is written under a temporary name in the destination folder and renamed
  when complete, so an output is never left half-written; the input is never
  overwritten.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from editor.api.errors import OutputError
from editor.api.files import AtomicOutput, check_output
from editor.api.frames import Frame, VideoInfo
from editor.video.reader import open_container

log = logging.getLogger(__name__)

#: Codecs whose 4:2:0/4:2:2 modes need even frame sizes.
_SUBSAMPLED_444 = {"yuv420p": "yuv444p", "yuv422p": "yuv444p", "yuv420p10le": "yuv444p10le",
                   "nv12": "yuv444p", "yuvj420p": "yuvj444p"}
_ALPHA_FORMATS = ("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya")
#: Codec and pixel format chosen for frames with alpha when the default codec was asked for.
_ALPHA_DEFAULTS = {".mov": ("prores_ks", "yuva444p10le"), ".webm": ("libvpx-vp9", "yuva420p")}
#: Audio codec used when a stream must be transcoded, by container format name.
_AUDIO_FALLBACK = {"mp4": "aac", "mov": "aac", "webm": "libopus", "matroska": "libopus"}
#: Codecs a container can technically hold but most players cannot play from it (FFmpeg 8
#: writes PCM into MP4 as ISO 23003-5 'ipcm'): transcoded like unsupported ones.
_AUDIO_POOR_FIT: dict[str, tuple[str, ...]] = {"mp4": ("pcm_",)}
#: Seconds of audio muxed ahead of the last written video frame.
_AUDIO_LEAD = 0.5


@dataclass
class EncodeOptions:
    """How to encode the output video."""

    codec: str = "libx264"
    crf: int | None = 18
    preset: str | None = "medium"
    pix_fmt: str = "yuv420p"
    container: str | None = None
    """Container format name (``mp4``, ``mov``, ``matroska``, ``webm``…); default: from extension."""
    audio: bool = True
    options: dict[str, str] = field(default_factory=dict)
    """Extra codec options passed to FFmpeg (e.g. ``{"tune": "film"}``)."""
    threads: int = 0

    def __post_init__(self) -> None:
        if self.codec not in av.codecs_available:
            raise OutputError(f"video codec {self.codec!r} is not available in this FFmpeg build")

    @classmethod
    def resolve(cls, codec: str = "auto", **kw: object) -> "EncodeOptions":
        """``codec='auto'`` → libx264; ``'nvenc'`` → h264_nvenc when it can open, else libx264."""
        if codec in ("auto", "", None):
            codec = "libx264"
        elif codec == "nvenc":
            codec = "h264_nvenc" if nvenc_available() else "libx264"
            if codec == "libx264":
                log.warning("h264_nvenc is not usable here; encoding with libx264")
        if codec not in ("libx264", "libx265"):
            kw.setdefault("preset", None)
        return cls(codec=codec, **kw)  # type: ignore[arg-type]


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


class _AudioCopier:
    """Copies (or, when needed, transcodes) the source's audio streams into the output."""

    def __init__(self, source: Path, output: av.container.OutputContainer, container_name: str) -> None:
        self._input = open_container(source)
        self._streams: dict[int, tuple[av.stream.Stream, bool]] = {}
        supported = output.supported_codecs or set()
        for in_stream in self._input.streams.audio:
            name = in_stream.codec_context.name
            base = container_name.split(",")[0]
            if name in supported and not name.startswith(_AUDIO_POOR_FIT.get(base, ())):
                out_stream = output.add_stream_from_template(in_stream)
                self._streams[in_stream.index] = (out_stream, False)
            else:
                target = _AUDIO_FALLBACK.get(container_name.split(",")[0], output.default_audio_codec)
                log.info("audio stream %d: %s cannot go into %s; transcoding to %s",
                         in_stream.index, name, container_name, target)
                out_stream = output.add_stream(target, rate=in_stream.codec_context.sample_rate)
                layout = in_stream.codec_context.layout
                if layout is not None and getattr(layout, "nb_channels", 0):
                    try:
                        out_stream.codec_context.layout = layout.name
                    except Exception:  # noqa: BLE001 - keep the encoder's default layout
                        pass
                self._streams[in_stream.index] = (out_stream, True)
        self._output = output
        selected = [s for s in self._input.streams.audio if s.index in self._streams]
        self._packets = self._input.demux(*selected) if selected else iter(())
        self._pending: av.Packet | None = None
        self._done = not selected

    @property
    def has_streams(self) -> bool:
        return bool(self._streams)

    def _emit(self, packet: av.Packet) -> None:
        out_stream, transcode = self._streams[packet.stream.index]
        if transcode:
            for frame in packet.decode():
                frame.pts = None
                for out_packet in out_stream.encode(frame):
                    self._output.mux(out_packet)
        elif packet.dts is not None and packet.size:
            packet.stream = out_stream
            self._output.mux(packet)

    def write_until(self, seconds: float | None) -> None:
        """Mux audio packets up to ``seconds`` (+ a small lead); ``None`` = everything."""
        while not self._done:
            packet = self._pending
            self._pending = None
            if packet is None:
                try:
                    packet = next(self._packets)
                except StopIteration:
                    self._done = True
                    break
            if (seconds is not None and packet.pts is not None and packet.time_base is not None
                    and float(packet.pts * packet.time_base) > seconds + _AUDIO_LEAD):
                self._pending = packet
                break
            self._emit(packet)

    def close(self) -> None:
        self.write_until(None)
        for out_stream, transcode in self._streams.values():
            if transcode:
                for out_packet in out_stream.encode(None):
                    self._output.mux(out_packet)
        self._input.close()


class VideoWriter:
    """Encode frames to ``path`` with the timing, size and audio of ``source``.

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
        self._audio: _AudioCopier | None = None
        self._last_pts: int | None = None
        self._pad = (0, 0)
        self.frames_written = 0

    # -- setup ---------------------------------------------------------------
    def _open(self, first: Frame) -> None:
        opts = self.options
        h, w = first.image.shape[:2]
        try:
            self._container = av.open(str(self._tmp), mode="w", format=opts.container)
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot create output ({exc})", self.path) from exc
        container_name = self._container.format.name
        pix_fmt = opts.pix_fmt
        codec = opts.codec
        wants_alpha = first.alpha is not None
        if wants_alpha and not pix_fmt.startswith(_ALPHA_FORMATS):
            auto = _ALPHA_DEFAULTS.get(self.path.suffix.lower()) if codec == "libx264" else None
            if auto is not None:
                codec, pix_fmt = auto
                log.info("frames carry alpha: writing %s %s", codec, pix_fmt)
            else:
                log.warning("frames carry alpha but %s/%s has none; alpha is dropped (use .mov, .webm "
                            "or a PNG sequence for transparency)", codec, pix_fmt)
        if (w % 2 or h % 2) and pix_fmt in _SUBSAMPLED_444:
            full = _SUBSAMPLED_444[pix_fmt]
            if codec in ("libx264", "libx265", "h264_nvenc", "hevc_nvenc", "libvpx-vp9", "libaom-av1"):
                log.info("odd frame size %dx%d: encoding %s instead of %s to keep every pixel",
                         w, h, full, pix_fmt)
                pix_fmt = full
            else:
                self._pad = (w % 2, h % 2)
                log.warning("odd frame size %dx%d: padding to %dx%d for %s",
                            w, h, w + self._pad[0], h + self._pad[1], codec)
        rate = self.source.average_rate if self.source.average_rate else Fraction(25)
        try:
            stream = self._container.add_stream(codec, rate=rate)
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot add a {codec} stream ({exc})", self.path) from exc
        stream.width, stream.height = w + self._pad[0], h + self._pad[1]
        stream.pix_fmt = pix_fmt
        tb = first.time_base if first.pts is not None else Fraction(1, 1) / rate
        stream.time_base = tb
        stream.codec_context.time_base = tb
        cc = stream.codec_context
        color = self.source.color
        if color.is_set:
            for attr in ("colorspace", "color_range", "color_primaries", "color_trc"):
                try:
                    setattr(cc, attr, getattr(color, attr))
                except Exception:  # noqa: BLE001 - tag only what this PyAV can set
                    pass
        codec_options = dict(opts.options)
        if opts.crf is not None and codec in ("libx264", "libx265", "libvpx-vp9", "libaom-av1", "libsvtav1"):
            codec_options.setdefault("crf", str(opts.crf))
            if codec == "libvpx-vp9":
                codec_options.setdefault("b", "0")
        elif opts.crf is not None and codec.endswith("_nvenc"):
            codec_options.setdefault("cq", str(opts.crf))
        if opts.preset and codec in ("libx264", "libx265") or (opts.preset and codec.endswith("_nvenc")):
            codec_options.setdefault("preset", opts.preset)
        cc.options = codec_options
        if opts.threads:
            cc.thread_count = opts.threads
        cc.thread_type = "AUTO"
        self._stream = stream
        if opts.audio and self.source.audio:
            self._audio = _AudioCopier(Path(self.source.path), self._container, container_name)
        try:
            self._container.start_encoding()
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"cannot start encoding with {codec}/{pix_fmt} ({exc})", self.path) from exc

    # -- writing ---------------------------------------------------------------
    def _to_av(self, frame: Frame) -> av.VideoFrame:
        assert self._stream is not None
        image = frame.image
        fmt = "rgb24"
        if frame.alpha is not None and self._stream.pix_fmt.startswith(_ALPHA_FORMATS):
            image = np.dstack([image, frame.alpha])
            fmt = "rgba"
        if self._pad != (0, 0):
            image = np.pad(image, ((0, self._pad[1]), (0, self._pad[0]), (0, 0)), mode="edge")
        av_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format=fmt)
        color = self.source.color
        kwargs: dict[str, object] = {"format": self._stream.pix_fmt}
        if color.colorspace not in (0, 2):
            kwargs["dst_colorspace"] = color.colorspace
        if color.color_range:
            kwargs["dst_color_range"] = color.color_range
        return av_frame.reformat(**kwargs)

    def write(self, frame: Frame) -> None:
        """Encode one frame (its pts are kept; a non-increasing pts is nudged forward)."""
        if self._container is None:
            self._open(frame)
        assert self._stream is not None and self._container is not None
        av_frame = self._to_av(frame)
        pts = frame.pts if frame.pts is not None else frame.index
        if self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1
        av_frame.pts = pts
        av_frame.time_base = self._stream.codec_context.time_base
        if frame.duration:
            av_frame.duration = frame.duration
        self._last_pts = pts
        try:
            for packet in self._stream.encode(av_frame):
                self._container.mux(packet)
        except av.error.FFmpegError as exc:
            raise OutputError(f"encoding failed at frame {frame.index} ({exc})", self.path) from exc
        if self._audio is not None:
            self._audio.write_until(frame.time)
        self.frames_written += 1

    def close(self) -> Path:
        """Flush, finish the file and move it to its final name."""
        if self._container is None:
            raise OutputError("no frames were written", self.path)
        assert self._stream is not None
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        if self._audio is not None:
            self._audio.close()
        self._container.close()
        self._container = None
        return self._out.commit()

    def abort(self) -> None:
        """Drop the partial output."""
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
