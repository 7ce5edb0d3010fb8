"""Video I/O on generated fixtures: timestamps (CFR/VFR), rotation, 10-bit, odd sizes, ProRes+PCM,
WebM+Opus, colour tags, writer safety. Fixtures are made with PyAV in the test session."""
from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clips import decoded_planes, plain_reencode, write_clip
from editor.api.errors import OutputError
from editor.evaluation.metrics import psnr
from editor.api.frames import Frame
from editor.video.reader import count_frames, iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter


def _pattern(t: int, w: int = 160, h: int = 120) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // w + 3 * t) % 256, (y * 255 // h) % 256, ((x + y + 5 * t) * 2) % 256], -1)
    return img.astype(np.uint8)


def _transcode(src: Path, dst: Path, **encode: object) -> Path:
    with VideoWriter(dst, probe(src), EncodeOptions(**encode)) as w:  # type: ignore[arg-type]
        for frame in iter_frames(src):
            w.write(frame)
    return dst


def _pts_seconds(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [float(f.pts * s.time_base) for f in c.decode(s)]


def _packets(path: Path, kind: str) -> list[tuple[int | None, str]]:
    with av.open(str(path)) as c:
        stream = getattr(c.streams, kind)[0]
        return [(p.pts, hashlib.md5(bytes(p)).hexdigest()) for p in c.demux(stream) if p.size]


def test_cfr_round_trip(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", [_pattern(t) for t in range(40)])
    out = _transcode(src, tmp_path / "out.mp4", threads=1)
    a, b = probe(src), probe(out)
    assert (b.width, b.height, b.frame_count, b.average_rate) == (160, 120, 40, Fraction(25))
    assert (b.duration, b.time_base) == (a.duration, a.time_base)
    assert _pts_seconds(out) == _pts_seconds(src)
    for fa, fb in zip(iter_frames(src), iter_frames(out)):
        assert psnr(fa.image, fb.image) > 35
    # nothing edited: the encoder got the decoded planes themselves, so the file has the levels of
    # a plain re-encode of the source with the same settings (x264 itself varies a little from
    # run to run, so not bit for bit)
    plain = plain_reencode(src, tmp_path / "plain.mp4", {"crf": "18", "preset": "medium"})
    shifts = [(fb[0].astype(float) - fc[0]).mean() for fb, fc in zip(decoded_planes(out), decoded_planes(plain))]
    assert abs(np.mean(shifts)) < 0.15, shifts


def test_vfr_timestamps_and_duration_survive(tmp_path: Path) -> None:
    src = tmp_path / "vfr.mp4"
    gaps = [33, 40, 20, 67, 33, 100, 25, 33, 50, 33] * 3
    pts = np.concatenate([[0], np.cumsum(gaps)])[:-1]
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=30)
        s.width, s.height, s.pix_fmt = 160, 120, "yuv420p"
        s.time_base = s.codec_context.time_base = Fraction(1, 1000)
        for i, p in enumerate(pts):
            f = av.VideoFrame.from_ndarray(_pattern(i), format="rgb24")
            f.pts, f.time_base, f.duration = int(p), Fraction(1, 1000), gaps[i]
            for pk in s.encode(f):
                c.mux(pk)
        for pk in s.encode(None):
            c.mux(pk)
    src_pts = _pts_seconds(src)
    assert len(set(np.round(np.diff(src_pts), 3))) > 3  # really variable
    out = _transcode(src, tmp_path / "out.mp4")
    assert _pts_seconds(out) == pytest.approx(src_pts, abs=1e-6)
    # the last frame keeps its own display duration (33 ms here); the source container's header
    # rounds its stream duration differently, so allow up to one frame of difference
    assert probe(out).duration == pytest.approx(probe(src).duration, abs=0.035)
    mkv = _transcode(src, tmp_path / "out.mkv")
    assert _pts_seconds(mkv) == pytest.approx(src_pts, abs=1e-3)
    assert count_frames(mkv) == len(src_pts)


# Display-matrix rotation (counter-clockwise degrees as written) → where a marker in the
# stored frame's top-left corner appears in the upright frame. Established against the
# ffmpeg CLI, which auto-rotates: identical pixels for 90/180/270.
ROTATIONS = {90: ((48, 64), "bottom-left"), 180: ((64, 48), "bottom-right"), 270: ((48, 64), "top-right")}


@pytest.mark.parametrize("ccw", sorted(ROTATIONS))
def test_display_rotation_gives_upright_frames(tmp_path: Path, ccw: int) -> None:
    path = tmp_path / f"rot{ccw}.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv444p"
        s.codec_context.options = {"crf": "0"}
        s.set_display_rotation(ccw)
        for i in range(3):
            img = np.zeros((48, 64, 3), np.uint8)
            img[0:8, 0:8] = 255
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    (w, h), corner = ROTATIONS[ccw]
    info = probe(path)
    assert (info.width, info.height) == (w, h)
    frame = next(iter(iter_frames(path))).image
    assert frame.shape[:2] == (h, w)
    ys, xs = np.nonzero(frame[..., 0] > 128)
    where = ("top" if ys.mean() < h / 2 else "bottom") + "-" + ("left" if xs.mean() < w / 2 else "right")
    assert where == corner
    out = _transcode(path, tmp_path / "upright.mp4", crf=0, pix_fmt="yuv444p")
    assert probe(out).rotation == 0 and (probe(out).width, probe(out).height) == (w, h)
    assert np.array_equal(next(iter(iter_frames(out))).image[..., 0] > 128, frame[..., 0] > 128)


def test_10bit_input(tmp_path: Path) -> None:
    flat = np.full((64, 96, 3), (200, 120, 40), np.uint8)
    src = write_clip(tmp_path / "ten.mp4", [flat] * 4, pix_fmt="yuv420p10le")
    assert probe(src).pix_fmt == "yuv420p10le"
    img = next(iter(iter_frames(src))).image
    assert img.dtype == np.uint8 and np.abs(img[20:40, 30:60].astype(int).mean((0, 1)) - (200, 120, 40)).max() < 4


def test_odd_size_is_kept(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "odd.mkv", [_pattern(t, 161, 121) for t in range(5)], codec="ffv1", pix_fmt="yuv444p")
    out = _transcode(src, tmp_path / "odd.mp4")
    info = probe(out)
    assert (info.width, info.height, info.frame_count) == (161, 121, 5)
    assert psnr(next(iter(iter_frames(out))).image, _pattern(0, 161, 121)) > 35


def _prores_pcm(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        v = c.add_stream("prores_ks", rate=25)
        v.width, v.height, v.pix_fmt = 160, 120, "yuv422p10le"
        a = c.add_stream("pcm_s16le", rate=48000)
        a.codec_context.layout = "stereo"
        for i in range(10):
            f = av.VideoFrame.from_ndarray(_pattern(i), format="rgb24").reformat(format="yuv422p10le")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in v.encode(f):
                c.mux(p)
        tone = (np.sin(np.arange(48000 * 10 // 25) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
        samples = np.stack([tone, tone]).reshape(1, -1, order="F")
        af = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
        af.sample_rate, af.pts = 48000, 0
        for p in a.encode(af):
            c.mux(p)
        for s in (v, a):
            for p in s.encode(None):
                c.mux(p)
    return path


def test_prores_with_pcm(tmp_path: Path) -> None:
    src = _prores_pcm(tmp_path / "in.mov")
    mov = _transcode(src, tmp_path / "out.mov")
    assert probe(mov).audio[0].codec == "pcm_s16le"
    assert _packets(mov, "audio") == _packets(src, "audio")  # remuxed byte for byte
    mp4 = _transcode(src, tmp_path / "out.mp4")  # PCM cannot go into MP4: transcoded
    info = probe(mp4)
    assert info.audio[0].codec == "aac" and info.audio[0].channels == 2 and info.frame_count == 10
    with av.open(str(mp4)) as c:
        s = c.streams.audio[0]
        assert abs(float(s.duration * s.time_base) - 0.4) < 0.05


def test_webm_with_opus(tmp_path: Path) -> None:
    src = tmp_path / "in.webm"
    with av.open(str(src), "w") as c:
        v = c.add_stream("libvpx-vp9", rate=25)
        v.width, v.height, v.pix_fmt = 160, 120, "yuv420p"
        a = c.add_stream("libopus", rate=48000)
        for i in range(10):
            f = av.VideoFrame.from_ndarray(_pattern(i), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in v.encode(f):
                c.mux(p)
        for k in range(20):
            af = av.AudioFrame.from_ndarray(np.zeros((1, 960), np.float32), format="flt", layout="mono")
            af.sample_rate, af.pts = 48000, k * 960
            for p in a.encode(af):
                c.mux(p)
        for s in (v, a):
            for p in s.encode(None):
                c.mux(p)
    out = _transcode(src, tmp_path / "out.webm", codec="libvpx-vp9")
    assert probe(out).audio[0].codec == "opus" and probe(out).codec == "vp9"
    assert [h for _, h in _packets(out, "audio")] == [h for _, h in _packets(src, "audio")]
    assert len(list(iter_frames(out))) == 10
    assert not probe(_transcode(src, tmp_path / "silent.mp4", audio=False)).audio


def test_colour_tags_and_colours_survive(tmp_path: Path) -> None:
    src = tmp_path / "bt709.mp4"
    colours = [(220, 30, 30), (30, 200, 40), (20, 40, 210)]
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        cc = s.codec_context
        cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = 1, 1, 1, 1
        for i, col in enumerate(colours):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), col, np.uint8), format="rgb24")
            f = f.reformat(format="yuv420p", dst_colorspace=1, dst_color_range=1)
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    assert probe(src).color.colorspace == 1
    out = _transcode(src, tmp_path / "out.mp4")
    assert probe(out).color == probe(src).color
    for fa, fb in zip(iter_frames(src), iter_frames(out)):
        assert np.abs(fa.image.astype(int) - fb.image.astype(int)).mean() < 3


def test_writer_never_leaves_partial_files_and_never_overwrites_input(tmp_path: Path) -> None:
    src = write_clip(tmp_path / "in.mp4", [_pattern(t) for t in range(5)])
    info = probe(src)
    with pytest.raises(RuntimeError):
        with VideoWriter(tmp_path / "out.mp4", info) as w:
            for frame in iter_frames(src):
                w.write(frame)
                raise RuntimeError("stage failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]
    (tmp_path / "link.mp4").symlink_to(src)
    for target in (src, tmp_path / "." / "in.mp4", tmp_path / "link.mp4"):
        with pytest.raises(OutputError, match="input"):
            VideoWriter(target, info, overwrite=True)
    with pytest.raises(OutputError, match="does not exist"):
        VideoWriter(tmp_path / "nope" / "o.mp4", info)
    frame = Frame(0, _pattern(0), None, Fraction(1, 25), 0.0)
    with VideoWriter(tmp_path / "nopts.mp4", info, EncodeOptions(audio=False)) as w:  # frames without pts
        w.write(frame)
        w.write(Frame(1, _pattern(1), None, Fraction(1, 25), 0.04))
    assert count_frames(tmp_path / "nopts.mp4") == 2
