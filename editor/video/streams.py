"""Everything of the source besides the edited video stream: audio, subtitles, other
video streams, data streams, attachments, chapters and metadata.

Streams are remuxed packet by packet (PyAV's remux idiom, ``add_stream_from_template``)
with their metadata (language, title, handler…) and disposition (default, forced…).
A stream the output container cannot hold is converted where a standard conversion
exists — audio to AAC (MP4, MOV, MPEG-TS), Opus (WebM, Matroska) or the container's
default; text subtitles to ``mov_text`` (MP4, MOV), WebVTT (WebM) or SubRip (Matroska) —
and otherwise dropped with one warning that names it. Further video streams are copied
unedited with a warning (or dropped: on request, or in a redacting run); attached pictures
(cover art, thumbnails) are dropped with a warning: they show the video unedited. Copied
streams are packet-exact: every packet with its timestamps, those flagged *discard* included (the encoder priming an
MP4/MOV edit list hides: the muxer writes the edit list again from their negative
timestamps, as ``ffmpeg -c copy`` does); packets without a DTS too (a valid keyframe can
have none).
"""
from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from editor.api.errors import OutputError
from editor.api.files import storage_cause
from editor.video.reader import open_container

log = logging.getLogger(__name__)

#: Audio codec used when a stream must be transcoded, by container format name.
AUDIO_FALLBACK = {"mp4": "aac", "mov": "aac", "ipod": "aac", "3gp": "aac", "mpegts": "aac",
                  "webm": "libopus", "matroska": "libopus", "ogg": "libopus"}
#: Codecs a container can technically hold but most players cannot play from it (FFmpeg 8
#: writes PCM into MP4 as ISO 23003-5 'ipcm'): transcoded like unsupported ones.
AUDIO_POOR_FIT: dict[str, tuple[str, ...]] = {"mp4": ("pcm_",)}
#: Text subtitle format used when a text subtitle stream must be converted, by container.
SUBTITLE_FALLBACK = {"mp4": "mov_text", "mov": "mov_text", "ipod": "mov_text", "3gp": "mov_text",
                     "webm": "webvtt", "matroska": "subrip"}
TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "webvtt", "mov_text", "text", "microdvd", "subviewer",
                  "jacosub", "sami", "realtext", "stl", "pjs", "mpl2", "vplayer"}
#: Containers that keep chapters.
CHAPTER_FORMATS = {"mp4", "mov", "ipod", "3gp", "matroska", "webm", "ogg"}
#: Standard layouts by channel count, most common first (for sources whose order is unspecified).
LAYOUTS = {1: ["mono"], 2: ["stereo"], 3: ["3.0", "3.0(back)", "2.1"], 4: ["4.0", "quad", "quad(side)", "3.1"],
           5: ["5.0", "5.0(side)", "4.1"], 6: ["5.1", "5.1(side)", "6.0", "hexagonal"],
           7: ["6.1", "6.1(back)", "7.0", "6.1(front)"], 8: ["7.1", "7.1(wide)", "7.1(wide-side)", "octagonal"]}
#: Seconds of other streams muxed ahead of the last written video frame.
LEAD = 0.5
#: Metadata that describes the old encoding and would be wrong on the new one.
_STALE_KEYS = {"ENCODER", "DURATION", "NUMBER_OF_FRAMES", "NUMBER_OF_BYTES", "BPS"}


def copy_metadata(source: dict[str, str]) -> dict[str, str]:
    """``source`` without the tags that describe the old encoding (encoder, Matroska statistics)."""
    out = {}
    for key, value in source.items():
        base = key.split("-")[0].upper()
        if base in _STALE_KEYS or base.startswith("_STATISTICS"):
            continue
        out[key] = value
    return out


def describe(stream: av.stream.Stream) -> str:
    """``audio stream 2 (pcm_s16le, fre)`` — how messages name a stream."""
    codec = stream.codec_context.name if stream.codec_context is not None else (
        getattr(stream, "name", None) or stream.metadata.get("mimetype") or "no codec")
    lang = stream.metadata.get("language")
    extra = f", {lang}" if lang and lang != "und" else ""
    return f"{stream.type} stream {stream.index} ({codec}{extra})"


_fits_cache: dict[tuple[str, str, str], str | None] = {}


def _mux_problem(format_name: str, template: av.stream.Stream) -> str | None:
    """Why a container of ``format_name`` cannot hold a copy of ``template`` (``None``: it can)."""
    codec = template.codec_context.name if template.codec_context is not None else "none"
    key = (format_name, template.type, codec)
    if key not in _fits_cache:
        try:
            with av.open(io.BytesIO(), "w", format=format_name) as probe:
                probe.add_stream_from_template(template)
                probe.start_encoding()
            _fits_cache[key] = None
        except av.error.FFmpegError as exc:
            _fits_cache[key] = f"the muxer says: {exc.strerror or exc}"
        except (ValueError, TypeError, NotImplementedError) as exc:
            _fits_cache[key] = " ".join(str(exc).split()) or type(exc).__name__
    return _fits_cache[key]


def _audio_candidates(layout: av.AudioLayout | None, channels: int) -> list[str]:
    names = []
    if not _unspecified(layout) and not any(ch.name.startswith("USR") for ch in layout.channels):
        names.append(layout.name)  # a source with a specified order keeps it
    names += LAYOUTS.get(channels, [])
    names += ["stereo", "mono"]
    return list(dict.fromkeys(names))


_encoder_cache: dict[tuple[str, int, str, str], bool] = {}


def _encoder_opens(codec: str, rate: int, layout: str, fmt: str) -> bool:
    key = (codec, rate, layout, fmt)
    if key not in _encoder_cache:
        try:
            ctx = av.CodecContext.create(codec, "w")
            ctx.sample_rate, ctx.layout, ctx.format = rate, layout, fmt
            ctx.time_base = Fraction(1, rate)
            ctx.open()
            _encoder_cache[key] = True
        except (av.error.FFmpegError, ValueError):
            _encoder_cache[key] = False
    return _encoder_cache[key]


@dataclass
class _Route:
    out: av.stream.Stream
    kind: str  # "copy", "audio", "subtitle", "attachment"
    resampler: av.AudioResampler | None = None
    target: str = ""
    layout: str = ""


def _unspecified(layout: av.AudioLayout | None) -> bool:
    return layout is None or not layout.channels or any(ch.name in ("NONE", "") for ch in layout.channels)


def _relabel(frame: av.AudioFrame, layout: str) -> av.AudioFrame:
    """``frame`` with channel layout ``layout`` when its own order is unspecified and the counts
    match, so the resampler passes channel *i* through as channel *i* instead of remixing from
    its guess of what an unspecified order means (FFmpeg reads 3 unspecified channels as 2.1)."""
    target = av.AudioLayout(layout)
    if not _unspecified(frame.layout) or frame.layout.nb_channels != target.nb_channels:
        return frame
    if frame.format.is_planar and target.nb_channels > 8:
        return frame  # PyAV hands out 8 planes at most
    relabelled = av.AudioFrame.from_ndarray(frame.to_ndarray(), format=frame.format.name, layout=layout)
    relabelled.sample_rate, relabelled.pts, relabelled.time_base = frame.sample_rate, frame.pts, frame.time_base
    return relabelled


def source_timecode(source: Path, video_index: int) -> str | None:
    """The start timecode of ``source`` (SMPTE ``HH:MM:SS:FF``, ``;`` before the frames when
    drop-frame): the ``timecode`` tag of its video stream ``video_index``, else of a timecode
    track (QuickTime ``tmcd``, a data stream FFmpeg tags ``timecode``); ``None`` without one
    or when the file cannot be opened. Bare outputs (a matte) carry it so that an editor
    lines them up with the video (:attr:`editor.video.writer.EncodeOptions.timecode`)."""
    try:
        with av.open(str(source)) as container:  # the streams' tags are read while it is open
            tags = [(s.index, s.type, dict(s.metadata)) for s in container.streams]
    except (av.error.FFmpegError, OSError, ValueError):
        return None
    video = next((t for i, _, t in tags if i == video_index), {})
    if video.get("timecode"):
        return str(video["timecode"])
    return next((str(t["timecode"]) for _, kind, t in tags if kind == "data" and t.get("timecode")), None)


class StreamCopier:
    """Adds the source's other streams, chapters and metadata to ``output`` (before its
    header is written) and muxes their packets as the video advances (:meth:`write_until`).

    ``video_index``: the edited video stream (not copied). Other video streams are copied
    unedited with a warning, or dropped: ``extra_video=False`` (``--no-extra-video``), or
    ``redacts`` (a run that hides what it found: an unedited copy would show it). Attached
    pictures (cover art) are dropped with a warning (they show the unedited video), or, with
    ``pictures`` (a redacting run's: :mod:`editor.pipeline.pictures`), kept edited by it."""

    def __init__(self, source: Path, output: av.container.OutputContainer, video_index: int, *,
                 audio: bool = True, subtitles: bool = True, extra_video: bool = True,
                 redacts: bool = False, pictures: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        self._input = open_container(source)
        self.pictures = pictures
        self._pictures: list[tuple[av.stream.Stream, bytes]] = []
        self.video_index = video_index
        self.extra_video = extra_video
        self.redacts = redacts
        self._output = output
        self._routes: dict[int, _Route] = {}
        self.format = output.format.name.split(",")[0]
        self.dropped: list[str] = []
        self.timecode: str | None = None
        """The source's timecode (from a timecode track), for the video stream's tags."""
        try:
            for stream in self._input.streams:
                if stream.index == video_index:
                    continue
                if stream.type == "audio" and not audio or stream.type == "subtitle" and not subtitles:
                    continue  # dropped on request
                self._add(stream)
            self._copy_container_tags()
        except BaseException:
            self._input.close()
            raise
        selected = [self._input.streams[i] for i, r in self._routes.items() if r.kind != "attachment"]
        self._packets = self._input.demux(*selected) if selected else iter(())
        self._pending: av.Packet | None = None
        self._done = not selected
        self.starts: dict[int, Fraction] = {}
        """Each output stream's earliest packet time (s, on the source's timeline), by its
        index: where it starts (:mod:`editor.video.avi_header` writes it into AVI headers)."""

    # -- setup ---------------------------------------------------------------------------
    def _drop(self, stream: av.stream.Stream, why: str) -> None:
        name = describe(stream)
        self.dropped.append(name)
        log.warning("%s is not in the output: %s", name, why)

    def _supported(self, stream: av.stream.Stream) -> str | None:
        """Why the output cannot take ``stream`` as it is (``None``: it can)."""
        codec = stream.codec_context.name if stream.codec_context is not None else None
        if codec is not None and codec.startswith(AUDIO_POOR_FIT.get(self.format, ("\0",))):
            return f"{self.format} players do not play {codec}"
        if codec is not None and codec in (self._output.supported_codecs or set()):
            return None
        return _mux_problem(self._output.format.name, stream)

    def _add(self, stream: av.stream.Stream) -> None:
        kind = stream.type
        if kind == "video":
            self._add_video(stream)
        elif kind == "audio":
            problem = self._supported(stream)
            if problem is None:
                self._template(stream, "copy")
            else:
                self._transcode_audio(stream, problem)
        elif kind == "subtitle":
            problem = self._supported(stream)
            if problem is None:
                self._template(stream, "copy")
            else:
                self._convert_subtitles(stream, problem)
        elif kind == "data" and "timecode" in stream.metadata:
            # a QuickTime timecode track: kept as the video stream's timecode tag, from which the
            # MOV/MP4 muxers write a new one (a copied track would not match the new video track)
            self.timecode = self.timecode or stream.metadata["timecode"]
        elif kind == "attachment" and self.format != "matroska":
            self._drop(stream, f"{self.format} cannot hold attachments (Matroska can)")
        elif kind in ("data", "attachment"):
            problem = _mux_problem(self._output.format.name, stream)
            if problem:
                self._drop(stream, f"{self.format} cannot hold it ({problem})")
                return
            self._template(stream, "attachment" if kind == "attachment" else "copy")
        else:
            self._drop(stream, f"{kind} streams are not copied")

    def _add_video(self, stream: av.stream.Stream) -> None:
        """A video stream besides the edited one: an attached picture (cover art, a thumbnail)
        shows the video as it was, so it is dropped; another video stream is copied as it is
        (not edited: a warning says so), or dropped on request or when the run redacts."""
        if stream.disposition & av.stream.Disposition.attached_pic:
            if self.pictures is None:
                self._drop(stream, "an attached picture (cover art) would show the video unedited")
            else:
                self._edited_picture(stream, self.pictures)
            return
        if self.redacts:
            self._drop(stream, f"it is not edited, and a redacting run keeps no unedited copy of what "
                               f"video stream {self.video_index} hides")
            return
        if not self.extra_video:
            self.dropped.append(describe(stream))
            log.info("%s is not in the output (--no-extra-video)", describe(stream))
            return
        problem = self._supported(stream)
        if problem:
            self._drop(stream, f"{self.format} cannot hold it ({problem})")
            return
        self._template(stream, "copy")
        log.warning("%s is copied as it is, NOT edited: only video stream %d is edited (--video-stream N "
                    "picks another, --no-extra-video drops the others)", describe(stream), self.video_index)

    def _edited_picture(self, stream: av.stream.Stream, edit: Callable[[np.ndarray], np.ndarray]) -> None:
        """An attached picture through ``edit`` (RGB uint8 in and out), encoded again as it was
        (JPEG or PNG): a Matroska attachment, or a one-picture stream with its disposition."""
        codec = stream.codec_context.name if stream.codec_context.name in ("mjpeg", "png") else "png"
        if self.format != "matroska":  # a picture stream: one the muxer takes (WebM, GIF take neither)
            takes = self._output.supported_codecs or set()
            codec = next((c for c in (codec, "png", "mjpeg") if c in takes), "")
            if not codec:
                self._drop(stream, f"{self.format} cannot hold an attached picture")
                return
        with open_container(Path(self._input.name)) as source:
            try:
                picture = next(iter(source.decode(source.streams[stream.index])), None)
            except av.error.FFmpegError:
                picture = None
        if picture is None:
            self._drop(stream, "the attached picture does not decode")
            return
        edited = edit(picture.to_ndarray(format="rgb24"))
        encoder = av.CodecContext.create(codec, "w")
        encoder.width, encoder.height = picture.width, picture.height
        encoder.pix_fmt = "yuvj444p" if codec == "mjpeg" else "rgb24"
        encoder.time_base = Fraction(1, 25)
        if codec == "mjpeg":
            encoder.options = {"qmin": "1", "q:v": "2"}
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(edited), format="rgb24").reformat(
            format=encoder.pix_fmt)
        data = b"".join(bytes(p) for p in [*encoder.encode(frame), *encoder.encode(None)])
        if self.format == "matroska":
            name = stream.metadata.get("filename") or f"cover.{'jpg' if codec == 'mjpeg' else 'png'}"
            self._output.add_attachment(name, "image/jpeg" if codec == "mjpeg" else "image/png", data)
            return
        out = self._output.add_stream(codec)
        out.width, out.height, out.pix_fmt = picture.width, picture.height, encoder.pix_fmt
        self._tags(stream, out)
        self._pictures.append((out, data))

    def _mux_pictures(self) -> None:
        for out, data in self._pictures:
            packet = av.Packet(data)
            packet.stream, packet.pts, packet.dts, packet.time_base = out, 0, 0, out.time_base or Fraction(1, 25)
            packet.is_keyframe = True
            self._output.mux(packet)
        self._pictures.clear()

    def _tags(self, stream: av.stream.Stream, out: av.stream.Stream) -> None:
        for key, value in copy_metadata(stream.metadata).items():
            out.metadata[key] = value
        out.disposition = stream.disposition

    def _template(self, stream: av.stream.Stream, kind: str) -> None:
        out = self._output.add_stream_from_template(stream)
        self._tags(stream, out)
        self._routes[stream.index] = _Route(out, kind)

    def _transcode_audio(self, stream: av.stream.Stream, why: str) -> None:
        cc = stream.codec_context
        target = AUDIO_FALLBACK.get(self.format) or self._output.default_audio_codec
        if target in (None, "", "none"):  # the muxer has no audio codec at all (GIF, APNG, Y4M)
            self._drop(stream, f"{self.format} holds no audio (as with --no-audio)")
            return
        if target not in av.codecs_available:
            target = self._output.default_audio_codec
        name = describe(stream)
        try:
            codec = av.Codec(target, "w")
        except (av.error.FFmpegError, ValueError) as exc:
            raise OutputError(f"{name}: no {target} encoder to convert it for {self.format} ({exc})") from exc
        rate = int(cc.sample_rate or 48000)
        rates = list(codec.audio_rates or [])
        if rates and rate not in rates:
            rate = min(rates, key=lambda r: (r < rate, abs(r - rate)))
        formats = [f.name for f in (codec.audio_formats or [])]
        fmt = "fltp" if "fltp" in formats else "flt" if "flt" in formats else (formats[0] if formats else "fltp")
        channels = int(cc.channels or getattr(cc.layout, "nb_channels", 0) or 2)
        layout = next((name_ for name_ in _audio_candidates(cc.layout, channels)
                       if _encoder_opens(target, rate, name_, fmt)), None)
        if layout is None:
            raise OutputError(f"{name}: the {target} encoder takes none of the layouts for {channels} channels")
        log.info("%s cannot go into %s as it is (%s); transcoding to %s %s %d Hz",
                 name, self.format, why, target, layout, rate)
        out = self._output.add_stream(target, rate=rate)
        out.codec_context.layout = layout
        out.codec_context.format = fmt
        out.time_base = out.codec_context.time_base = Fraction(1, rate)
        try:
            out.codec_context.open()
        except av.error.FFmpegError as exc:
            raise OutputError(f"{name}: cannot open the {target} encoder ({exc})") from exc
        self._tags(stream, out)
        self._routes[stream.index] = _Route(out, "audio", av.AudioResampler(format=fmt, layout=layout, rate=rate),
                                            target, layout)

    def _convert_subtitles(self, stream: av.stream.Stream, why: str) -> None:
        codec = stream.codec_context.name if stream.codec_context is not None else ""
        target = SUBTITLE_FALLBACK.get(self.format)
        if codec not in TEXT_SUBTITLES or target is None or target not in av.codecs_available:
            self._drop(stream, f"{self.format} cannot hold {codec or 'it'} ({why}) and there is no "
                               "standard conversion")
            return
        decoder = stream.codec_context
        try:
            decoder.open(strict=False)
            out = self._output.add_stream(target)
            header = decoder.subtitle_header
            if header:
                out.codec_context.subtitle_header = header
            out.time_base = out.codec_context.time_base = stream.time_base or Fraction(1, 1000)
            out.codec_context.open()
        except (av.error.FFmpegError, ValueError) as exc:
            self._drop(stream, f"cannot convert {codec} to {target} ({exc})")
            return
        log.info("%s: %s cannot go into %s; converting to %s", describe(stream), codec, self.format, target)
        self._tags(stream, out)
        self._routes[stream.index] = _Route(out, "subtitle", target=target)

    def _copy_container_tags(self) -> None:
        for key, value in copy_metadata(self._input.metadata).items():
            self._output.metadata[key] = value
        chapters = self._input.chapters()
        if chapters:
            if self.format in CHAPTER_FORMATS:
                self._output.set_chapters(chapters)
            else:
                log.warning("%d chapters are not in the output: %s cannot hold chapters", len(chapters), self.format)

    # -- packets -------------------------------------------------------------------------
    @property
    def has_streams(self) -> bool:
        return bool(self._routes)

    def _emit(self, packet: av.Packet) -> None:
        route = self._routes[packet.stream.index]
        in_stream = packet.stream
        t = packet.pts if packet.pts is not None else packet.dts
        if t is not None and packet.time_base is not None:
            start = t * packet.time_base
            if start < self.starts.get(route.out.index, start + 1):
                self.starts[route.out.index] = start
        try:
            if route.kind == "copy":
                packet.stream = route.out
                self._output.mux(packet)
            elif route.kind == "audio":
                for frame in packet.decode():
                    for resampled in route.resampler.resample(_relabel(frame, route.layout)):
                        for out_packet in route.out.encode(resampled):
                            self._output.mux(out_packet)
            elif route.kind == "subtitle":
                for subtitle in [in_stream.codec_context.decode2(packet)]:
                    if subtitle is None or not len(subtitle):
                        continue
                    out_packet = route.out.codec_context.encode_subtitle(subtitle)
                    out_packet.stream = route.out
                    out_packet.time_base = packet.time_base
                    out_packet.pts = out_packet.dts = packet.pts if packet.pts is not None else packet.dts
                    out_packet.duration = packet.duration
                    self._output.mux(out_packet)
        except (av.error.FFmpegError, ValueError) as exc:
            if storage_cause(exc):
                raise  # the output folder's problem: the writer names it
            what = f"converting to {route.target}" if route.target else "copying"
            raise OutputError(f"{describe(in_stream)}: {what} failed at "
                              f"{_seconds(packet):.3f} s ({' '.join(str(exc).split())})") from exc

    def write_until(self, seconds: float | None) -> None:
        """Mux packets up to ``seconds`` (+ :data:`LEAD`); ``None`` = everything."""
        if self._pictures:
            self._mux_pictures()
        while not self._done:
            packet = self._pending
            self._pending = None
            if packet is None:
                try:
                    packet = next(self._packets)
                except StopIteration:
                    self._done = True
                    break
                except av.error.FFmpegError as exc:
                    raise OutputError(f"cannot read the source's other streams ({exc})") from exc
            if not packet.size:
                continue  # the demuxer's flush packets
            t = _seconds(packet)
            if seconds is not None and t is not None and t > seconds + LEAD:
                self._pending = packet
                break
            self._emit(packet)

    def close(self) -> None:
        """Mux what is left and flush the encoders."""
        try:
            self.write_until(None)
            for index, route in self._routes.items():
                if route.kind != "audio":
                    continue
                try:
                    for resampled in route.resampler.resample(None):
                        for out_packet in route.out.encode(resampled):
                            self._output.mux(out_packet)
                    for out_packet in route.out.encode(None):
                        self._output.mux(out_packet)
                except (av.error.FFmpegError, ValueError) as exc:
                    raise OutputError(f"{describe(self._input.streams[index])}: converting to {route.target} "
                                      f"failed at the end ({exc})") from exc
        finally:
            self._input.close()

    def abort(self) -> None:
        self._input.close()


def _seconds(packet: av.Packet) -> float | None:
    t = packet.pts if packet.pts is not None else packet.dts
    if t is None or packet.time_base is None:
        return None
    return float(t * packet.time_base)
