"""Every stream and tag survives: audio tracks with their languages and titles, subtitles
(converted where the container needs it), attachments, chapters, container and stream
metadata, dispositions; HDR10 metadata; the options that drop streams on purpose; the frame
cache keeps what the pass-through needs; counts and truncation come from what decodes."""
from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clips import (BT709, HDR10, Audio, decoded_planes, ffprobe, ffprobe_frame_side_data, make_clip,
                   synthetic_frame)
from editor.api.errors import InputError
from editor.api.frames import Frame
from editor.api.masks import MaskFolderWriter
from editor.cli.main import main
from editor.tracking.frame_cache import FrameCache
from editor.video.random_access import FrameSource
from editor.video.reader import iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter

FONT = b"\x00\x01\x00\x00" + bytes(range(256)) * 4
CHAPTERS = [(0.0, 0.2, "Intro"), (0.2, 0.48, "Rest")]
MASTER = ("G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)", "1000,400")


def _source(tmp: Path) -> Path:
    """An MKV with two audio tracks (English AAC, French PCM, forced), an English SRT subtitle,
    a font attachment, chapters and tags."""
    return make_clip(tmp / "src.mkv", frames=12, color=BT709,
                     audio=[Audio("aac", "stereo", language="eng", title="English"),
                            Audio("pcm_s16le", "mono", language="fre", title="Français", forced=True)],
                     subtitles=[(0.04, 0.2, "Hello"), (0.24, 0.44, "World")],
                     attachments=[("font.ttf", "font/ttf", FONT)], chapters=CHAPTERS,
                     metadata={"title": "Field day", "creation_time": "2024-05-01T12:00:00.000000Z"},
                     video_metadata={"title": "Main view", "language": "eng"})


def _render(src: Path, out: Path, **encode: object) -> None:
    with VideoWriter(out, probe(src), EncodeOptions.resolve(**encode)) as w:  # type: ignore[arg-type]
        for frame in iter_frames(src):
            w.write(frame)


def _streams(path: Path) -> list[dict]:
    return ffprobe("-show_streams", "-show_entries",
                   "stream=index,codec_type,codec_name,channels:stream_tags:stream_disposition=default,forced,attached_pic",
                   str(path))["streams"]


def _subtitles(path: Path) -> list[tuple[float, float, str]]:
    with av.open(str(path)) as c:
        s = c.streams.subtitles[0]
        out = []
        for packet in c.demux(s):
            if not packet.size:
                continue
            for sub in [s.codec_context.decode2(packet)] if packet.size else []:
                text = b"".join(getattr(r, "ass", b"") or getattr(r, "text", b"") for r in sub) if sub else b""
                if text.strip():
                    start = float(packet.pts * packet.time_base)
                    out.append((round(start, 3), round(start + float(packet.duration * packet.time_base), 3),
                                text.decode().split(",")[-1]))
        return out


def _chapters(path: Path) -> list[tuple[float, float, str]]:
    with av.open(str(path)) as c:
        return [(round(float(ch["start"] * ch["time_base"]), 3), round(float(ch["end"] * ch["time_base"]), 3),
                 ch["metadata"].get("title", "")) for ch in c.chapters()]


def test_mkv_to_mkv_keeps_every_stream_and_tag(tmp_path: Path) -> None:
    src = _source(tmp_path)
    out = tmp_path / "out.mkv"
    _render(src, out)
    a, b = _streams(src), _streams(out)
    assert [s["codec_type"] for s in b] == ["video", "audio", "audio", "subtitle", "attachment"]
    for sa, sb in zip(a, b):
        assert sb.get("codec_name") == sa.get("codec_name") or sb["codec_type"] == "video"
        for key in ("language", "title", "filename", "mimetype"):
            assert sb.get("tags", {}).get(key) == sa.get("tags", {}).get(key), (sb["index"], key)
        assert sb["disposition"] == sa["disposition"], sb["index"]
    assert b[2]["disposition"]["forced"] == 1 and b[0]["tags"]["title"] == "Main view"
    with av.open(str(out)) as c:
        att = c.streams.attachments[0]
        assert (att.name, att.mimetype, bytes(att.data)) == ("font.ttf", "font/ttf", FONT)
        assert c.metadata["title"] == "Field day"
    assert _subtitles(out) == _subtitles(src) == [(0.04, 0.2, "Hello"), (0.24, 0.44, "World")]
    assert _chapters(out) == _chapters(src) == [(0.0, 0.2, "Intro"), (0.2, 0.48, "Rest")]
    fmt = ffprobe("-show_format", str(out))["format"]["tags"]
    assert fmt["creation_time"].startswith("2024-05-01T12:00:00")
    with av.open(str(src)) as c1, av.open(str(out)) as c2:  # audio copied packet for packet
        for i in (0, 1):
            pa = [bytes(p) for p in c1.demux(c1.streams.audio[i]) if p.size]
            c1.seek(0)
            pb = [bytes(p) for p in c2.demux(c2.streams.audio[i]) if p.size]
            c2.seek(0)
            assert pa == pb


def test_mkv_to_mp4_converts_what_mp4_cannot_hold(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = _source(tmp_path)
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.INFO, logger="editor"):
        _render(src, out)
    b = _streams(out)
    kinds = [(s["codec_type"], s["codec_name"]) for s in b]
    assert kinds[:4] == [("video", "h264"), ("audio", "aac"), ("audio", "aac"), ("subtitle", "mov_text")]
    assert [s.get("tags", {}).get("language") for s in b[1:4]] == ["eng", "fre", "eng"]
    assert b[2]["disposition"]["forced"] == 1 and b[2]["channels"] == 1
    assert _subtitles(out) == [(0.04, 0.2, "Hello"), (0.24, 0.44, "World")]
    assert _chapters(out) == [(0.0, 0.2, "Intro"), (0.2, 0.48, "Rest")]
    assert ffprobe("-show_format", str(out))["format"]["tags"]["creation_time"].startswith("2024-05-01T12:00:00")
    dropped = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(dropped) == 1 and "attachment stream 4 (font.ttf)" in dropped[0] and "mp4" in dropped[0]


def test_webm_takes_opus_and_webvtt(tmp_path: Path) -> None:
    src = _source(tmp_path)
    out = tmp_path / "out.webm"
    _render(src, out)
    kinds = [(s["codec_type"], s["codec_name"]) for s in _streams(out)]
    assert kinds == [("video", "vp9"), ("audio", "opus"), ("audio", "opus"), ("subtitle", "webvtt")]
    assert _subtitles(out) == [(0.04, 0.2, "Hello"), (0.24, 0.44, "World")]


def test_data_streams_are_copied_where_the_container_holds_them(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    src = tmp_path / "klv.ts"
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        d = c.add_data_stream("klv")
        for i in range(12):
            f = synthetic_frame("yuv420p", 64, 48, i)
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in v.encode(f):
                c.mux(p)
            packet = av.Packet(b"\x06\x0e\x2b\x34" + bytes([i]) * 12)
            packet.stream, packet.time_base, packet.pts, packet.dts = d, Fraction(1, 25), i, i
            c.mux(packet)
        for p in v.encode(None):
            c.mux(p)
    _render(src, tmp_path / "out.ts")
    with av.open(str(tmp_path / "out.ts")) as c:
        assert [bytes(p) for p in c.demux(c.streams.data[0]) if p.size] == [b"\x06\x0e\x2b\x34" + bytes([i]) * 12
                                                                            for i in range(12)]
    with caplog.at_level(logging.WARNING, logger="editor"):
        _render(src, tmp_path / "out.mp4")
    assert [s["codec_type"] for s in _streams(tmp_path / "out.mp4")] == ["video"]
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["data stream 1 (klv) is not in the output"]


def test_output_without_audio_drops_audio_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A GIF holds no audio: the audio stream is dropped, named in one warning (as --no-audio
    would), instead of failing for want of an audio encoder."""
    src = make_clip(tmp_path / "src.mp4", frames=4, audio=[Audio("aac", "stereo")])
    out = tmp_path / "out.gif"
    with caplog.at_level(logging.WARNING, logger="editor"):
        _render(src, out)
    assert [s["codec_type"] for s in _streams(out)] == ["video"]
    assert probe(out).frame_count == 4
    assert [r.getMessage() for r in caplog.records] == [
        "audio stream 1 (aac) is not in the output: gif holds no audio (as with --no-audio)"]


def test_quicktime_timecode_survives(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "tc.mov", video_metadata={"timecode": "01:02:03:04"})
    for ext in (".mov", ".mkv"):
        _render(src, tmp_path / f"out{ext}")
        tags = {k.lower(): v for k, v in _streams(tmp_path / f"out{ext}")[0].get("tags", {}).items()}
        assert tags["timecode"] == "01:02:03:04"


def _empty_masks(folder: Path, frames: int, size: tuple[int, int]) -> Path:
    writer = MaskFolderWriter(folder, {1: "thing"})
    for i in range(frames):
        labels = np.zeros(size[::-1], np.uint8)
        labels[2:10, 2:12] = 1
        writer.write(i, labels)
    return writer.close()


def test_cli_drops_streams_only_on_request(tmp_path: Path) -> None:
    src = _source(tmp_path)
    masks = _empty_masks(tmp_path / "masks", 12, (64, 48))
    common = ["-q", "run", str(src), "--preset", "blur", "--masks", str(masks)]
    assert main([*common, "-o", str(tmp_path / "all.mkv")]) == 0
    assert main([*common, "-o", str(tmp_path / "nosubs.mkv"), "--no-subtitles"]) == 0
    assert main([*common, "-o", str(tmp_path / "noaudio.mkv"), "--no-audio"]) == 0
    kinds = {name: [s["codec_type"] for s in _streams(tmp_path / name)]
             for name in ("all.mkv", "nosubs.mkv", "noaudio.mkv")}
    assert kinds == {"all.mkv": ["video", "audio", "audio", "subtitle", "attachment"],
                     "nosubs.mkv": ["video", "audio", "audio", "attachment"],
                     "noaudio.mkv": ["video", "subtitle", "attachment"]}
    assert probe(tmp_path / "all.mkv").pix_fmt == "yuv420p"


# -- HDR ----------------------------------------------------------------------------------
def _hdr_source(tmp: Path) -> Path:
    return make_clip(tmp / "hdr.mp4", codec="libx265", pix_fmt="yuv420p10le", color=HDR10, size=(128, 96),
                     options={"x265-params": f"hdr10=1:master-display={MASTER[0]}:max-cll={MASTER[1]}"
                                             ":log-level=error"})


def test_hdr10_metadata_reaches_the_output(tmp_path: Path) -> None:
    src = _hdr_source(tmp_path)
    info = probe(src)
    assert info.mastering_display is not None and info.mastering_display.x265() == MASTER[0]
    assert (info.content_light.max_cll, info.content_light.max_fall) == (1000, 400)
    out = tmp_path / "out.mp4"
    _render(src, out)  # auto: libx265 for an HDR source
    stream = ffprobe("-select_streams", "v:0", "-show_entries",
                     "stream=codec_name,pix_fmt,color_space,color_transfer,color_primaries,color_range",
                     str(out))["streams"][0]
    assert stream == {"codec_name": "hevc", "pix_fmt": "yuv420p10le", "color_space": "bt2020nc",
                      "color_transfer": "smpte2084", "color_primaries": "bt2020", "color_range": "tv"}
    side = {d["side_data_type"]: d for d in ffprobe_frame_side_data(out)}
    md = side["Mastering display metadata"]
    assert (md["red_x"], md["green_y"], md["white_point_x"]) == ("34000/50000", "34500/50000", "15635/50000")
    assert (md["min_luminance"], md["max_luminance"]) == ("1/10000", "10000000/10000")
    assert side["Content light level metadata"] == {"side_data_type": "Content light level metadata",
                                                    "max_content": 1000, "max_average": 400}
    # H.264 High 10 carries it too (ffprobe of Debian 12 does not show H.264's: read with PyAV)
    x264 = tmp_path / "x264.mkv"
    _render(src, x264, codec="libx264")
    got = probe(x264)
    assert (got.codec, got.pix_fmt, got.color) == ("h264", "yuv420p10le", info.color)
    assert got.mastering_display == info.mastering_display and got.content_light == info.content_light


def test_hdr_metadata_a_codec_cannot_carry_is_said(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = _hdr_source(tmp_path)
    with caplog.at_level(logging.WARNING, logger="editor"):
        _render(src, tmp_path / "out.mkv", codec="ffv1")
    assert any("HDR" in r.getMessage() and "ffv1" in r.getMessage() for r in caplog.records)
    assert probe(tmp_path / "out.mkv").color == probe(src).color


# -- the frame cache and counting -------------------------------------------------------------
@pytest.mark.parametrize("pix_fmt, deep", [("yuv420p", False), ("yuva420p10le", False), ("yuv422p12le", True)])
def test_frame_cache_keeps_planes_for_the_pass_through(tmp_path: Path, pix_fmt: str, deep: bool) -> None:
    src = make_clip(tmp_path / "src.mkv", codec="ffv1", pix_fmt=pix_fmt, color=BT709, frames=4)
    cache = FrameCache(tmp_path / "cache")
    frames = list(iter_frames(src, deep=deep))
    for f in frames:
        cache.put(f)
    back = [cache.get(i) for i in range(4)]
    for f, g in zip(frames, back):
        assert np.array_equal(f.image, g.image) and f.image.dtype == g.image.dtype
        assert (f.alpha is None) == (g.alpha is None) and (f.alpha is None or np.array_equal(f.alpha, g.alpha))
        assert (f.pts, f.time, f.duration, f.time_base) == (g.pts, g.time, g.duration, g.time_base)
        assert g.planes.format == f.planes.format and g.planes.color == f.planes.color
        assert all(np.array_equal(p, q) and p.dtype == q.dtype for p, q in zip(f.planes.data, g.planes.data))
    out = tmp_path / "out.mkv"
    with VideoWriter(out, probe(src), EncodeOptions(codec="ffv1", crf=None)) as w:
        for g in back:
            w.write(g)
    assert w.frames_passed_through == 4
    assert all(all(np.array_equal(p, q) for p, q in zip(a, b))
               for a, b in zip(decoded_planes(src), decoded_planes(out)))
    cache.drop(0)
    assert not list((tmp_path / "cache").glob("?000000*"))


def test_truncated_file_names_the_frames_that_decode(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "full.mp4", frames=60, size=(128, 96), container="mp4")
    # moov first (faststart), then cut the media data: the index promises 60 frames
    fast = tmp_path / "fast.mp4"
    with av.open(str(src)) as i, av.open(str(fast), "w", options={"movflags": "faststart"}) as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for p in i.demux(i.streams.video[0]):
            if p.size:
                p.stream = s
                o.mux(p)
    data = fast.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(InputError, match=r"truncated: decoded frames 0-\d+, .* the stream runs to 2\.400 s") as err:
        list(iter_frames(cut))
    decoded = int(str(err.value).split("decoded frames 0-")[1].split(",")[0]) + 1
    assert 10 < decoded < 60
    assert len(list(iter_frames(fast))) == 60


def test_random_access_counts_and_finds_what_decodes(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.avi", codec="libx264", frames=10, options={"bf": "2"})
    frames = list(iter_frames(src))
    assert probe(src).frame_count == len(frames) == 10
    assert [f.time for f in frames] == pytest.approx([i / 25 for i in range(10)])  # AVI: no reordering slips
    with FrameSource(src) as source:
        assert len(source) == 10
        for i in (7, 2, 9, 0):
            assert np.array_equal(source[i].image, frames[i].image) and source[i].pts == frames[i].pts


def test_writer_takes_frames_without_pts_or_planes(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "src.mp4"))
    out = tmp_path / "out.mp4"
    with VideoWriter(out, info, EncodeOptions(audio=False)) as w:
        for i in range(3):
            w.write(Frame(i, np.full((48, 64, 3), 80 * i, np.uint8), None, Fraction(1, 25), i / 25))
    assert probe(out).frame_count == 3


def test_a_bare_video_when_asked(tmp_path: Path) -> None:
    src = _source(tmp_path)
    out = tmp_path / "bare.mkv"
    _render(src, out, other_streams=False)
    assert [s["codec_type"] for s in _streams(out)] == ["video"] and not _chapters(out)
