"""Format matrix: containers × codecs × depths × chroma subsampling × gray/alpha × audio layouts.

Each case builds a tiny clip with PyAV (64×48, 6 frames), edits a small corner object the way a
stage does (``frame.replace``) and writes it through the video layer. The output must keep frame
count, timestamps, size, colour tags, pixel format (depth and family) and streams, and every
pixel outside the object must keep its level: bit-identical to the source with a lossless
output; otherwise the same as a plain re-encode of the source's decoded planes with the same
encoder settings, up to the encoder's noise (mean luma shift within ±0.15 8-bit levels, ±0.5
10-bit levels for deeper sources).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clips import (BT601, BT709, BT709_FULL, BT2020, UNTAGGED, Audio, decoded_planes, make_clip,
                   plain_reencode)
from editor.api.errors import OutputError
from editor.api.frames import Frame
from editor.video import streams as streams_module
from editor.video.reader import iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter

#: the edited object: rows 2–13, columns 3–18 of the upright frame
OBJECT = (slice(2, 14), slice(3, 19))
SIZE = (128, 96)


def edit(frame: Frame) -> Frame:
    """What a redaction stage does: a flat colour over the object (and half alpha there)."""
    image = frame.image.copy()
    top = np.iinfo(image.dtype).max
    image[OBJECT] = (top, top // 5, 0)
    alpha = None
    if frame.alpha is not None:
        alpha = frame.alpha.copy()
        alpha[OBJECT] = top // 2
    return frame.replace(image, alpha)


def render(src: Path, dst: Path, codec: str = "auto", **encode: object) -> VideoWriter:
    """Decode ``src``, :func:`edit` every frame, encode to ``dst`` (one encoder thread, so that a
    plain re-encode with the same settings is the same bitstream where nothing changed)."""
    encode.setdefault("threads", 1)
    info = probe(src)
    with VideoWriter(dst, info, EncodeOptions.resolve(codec, **encode)) as writer:  # type: ignore[arg-type]
        for frame in iter_frames(src):
            writer.write(edit(frame))
    return writer


def pts_seconds(path: Path) -> list[float]:
    return [round(f.time, 6) for f in iter_frames(path, keep_planes=False)]


def untouched(shape: tuple[int, int], shift: tuple[int, int], frame_shape: tuple[int, int]) -> np.ndarray:
    """Samples of a plane with subsampling ``shift`` that cover no pixel of :data:`OBJECT`."""
    h, w = frame_shape
    obj = np.zeros((h, w), bool)
    obj[OBJECT] = True
    sx, sy = shift
    bh, bw = 1 << sy, 1 << sx
    padded = np.zeros((shape[0] * bh, shape[1] * bw), bool)
    padded[:h, :w] = obj
    return ~padded.reshape(shape[0], bh, shape[1], bw).any(axis=(1, 3))


def shifts(pix_fmt: str) -> list[tuple[int, int]]:
    fmt = av.VideoFormat(pix_fmt, 64, 64)
    by_plane = {c.plane: ((64 // c.width).bit_length() - 1, (64 // c.height).bit_length() - 1) for c in fmt.components}
    return [by_plane[i] for i in sorted(by_plane)]


def luma_shift(out: Path, ref: Path) -> float:
    """Mean (out − ref) luma over untouched pixels, in 8-bit levels."""
    a, b = decoded_planes(out), decoded_planes(ref)
    assert len(a) == len(b)
    bits = max(c.bits for c in av.VideoFormat(probe(out).pix_fmt).components)
    keep = untouched(a[0][0].shape, (0, 0), a[0][0].shape)
    diffs = [(fa[0][keep].astype(np.float64) - fb[0][keep]).mean() for fa, fb in zip(a, b)]
    return float(np.mean(diffs)) / (1 << (bits - 8))


@dataclass
class Case:
    id: str
    ext: str
    codec: str
    pix_fmt: str
    color: tuple[int, int, int, int] = BT709
    out_codec: str = "auto"
    out_options: dict[str, str] = field(default_factory=dict)
    out_pix_fmt: str | None = None
    """expected output pixel format (default: the source's)."""
    lossless: bool = False
    audio: tuple[Audio, ...] = ()
    audio_out: tuple[tuple[str, int], ...] | None = None
    """expected (codec, channels) of the output's audio streams (default: as the source's)."""
    src_options: dict[str, str] = field(default_factory=dict)
    tolerance: float = 0.15
    enc_pix_fmt: str | None = None
    """pixel format the encoder takes when its decoder gives another (ProRes 4444: 10 in, 12 out)."""
    exact: bool = True
    """untouched planes reach the encoder as decoded (False: converted plane to plane, other depth)."""


CASES = [
    Case("mp4-h264-420-bt709", ".mp4", "libx264", "yuv420p", BT709, audio=(Audio("aac", "stereo", language="eng"),)),
    Case("mp4-h264-420-untagged", ".mp4", "libx264", "yuv420p", UNTAGGED, audio=(Audio("aac", "mono"),)),
    Case("mp4-h264-420-bt601", ".mp4", "libx264", "yuv420p", BT601),
    Case("mp4-h264-420-fullrange", ".mp4", "libx264", "yuv420p", BT709_FULL),
    Case("mp4-h264-yuvj420p", ".mp4", "libx264", "yuvj420p", (5, 2, 5, 6), out_pix_fmt="yuv420p"),
    Case("mp4-h264-422", ".mp4", "libx264", "yuv422p", BT709),
    Case("mp4-h264-444-lossless", ".mp4", "libx264", "yuv444p", BT709, "libx264", {"qp": "0"}, lossless=True),
    Case("mp4-h264-420-10bit", ".mp4", "libx264", "yuv420p10le", BT2020, audio=(Audio("aac", "5.1"),),
         tolerance=0.5 / 4),
    Case("mp4-h264-422-10bit", ".mp4", "libx264", "yuv422p10le", BT709, tolerance=0.5 / 4),
    Case("mp4-hevc-420-12bit", ".mp4", "libx265", "yuv420p12le", BT2020, src_options={"x265-params": "log-level=error"},
         tolerance=0.5 / 4),
    Case("mkv-ffv1-gray", ".mkv", "ffv1", "gray", UNTAGGED, "ffv1", lossless=True),
    Case("mov-prores-422-10bit", ".mov", "prores_ks", "yuv422p10le", BT709, audio=(Audio("pcm_s16le", "stereo"),),
         tolerance=0.5 / 4),
    Case("mov-prores-4444-alpha", ".mov", "prores_ks", "yuva444p10le", BT709, out_pix_fmt="yuva444p12le",
         enc_pix_fmt="yuva444p10le", exact=False, tolerance=0.5 / 4),
    Case("mkv-ffv1-444-12bit", ".mkv", "ffv1", "yuv444p12le", BT2020, "ffv1", lossless=True,
         audio=(Audio("pcm_s16le", "6 channels", language="fre"),)),
    Case("mkv-ffv1-420-10bit-to-x264-lossless", ".mkv", "ffv1", "yuv420p10le", BT709, "libx264", {"qp": "0"},
         lossless=True, audio=(Audio("flac", "stereo"),)),
    Case("mkv-ffv1-gray10", ".mkv", "ffv1", "gray10le", UNTAGGED, "ffv1", lossless=True),
    Case("mkv-ffv1-alpha", ".mkv", "ffv1", "yuva420p", BT709, "ffv1", lossless=True),
    Case("mkv-ffv1-rgb", ".mkv", "ffv1", "gbrp10le", UNTAGGED, "ffv1", lossless=True),
    Case("mkv-ffv1-422-12bit-fullrange", ".mkv", "ffv1", "yuv422p12le", BT709_FULL, "ffv1", lossless=True),
    Case("webm-vp9-420", ".webm", "libvpx-vp9", "yuv420p", BT709, audio=(Audio("libopus", "stereo"),)),
    Case("webm-vp9-444", ".webm", "libvpx-vp9", "yuv444p", BT601),
    Case("avi-mjpeg-422-full", ".avi", "mjpeg", "yuvj422p", UNTAGGED, audio=(Audio("pcm_s16le", "stereo"),)),
    Case("avi-ffv1-420-to-h264", ".avi", "ffv1", "yuv420p", BT709, audio=(Audio("pcm_s16le", "mono"),)),
    Case("ts-h264-420", ".ts", "libx264", "yuv420p", BT709, audio=(Audio("aac", "stereo"),)),
    Case("ts-mpeg2-420", ".ts", "mpeg2video", "yuv420p", BT601, "mpeg2video", {"b": "2M"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_format_matrix(case: Case, tmp_path: Path) -> None:
    src = make_clip(tmp_path / f"src{case.ext}", codec=case.codec, pix_fmt=case.pix_fmt, color=case.color,
                    audio=case.audio, options=case.src_options, size=SIZE)
    out = tmp_path / f"out{case.ext}"
    writer = render(src, out, case.out_codec, options=dict(case.out_options), crf=None if case.out_options else 18)
    a, b = probe(src), probe(out)
    # frames, timestamps, size
    assert a.frame_count == b.frame_count == 6
    assert pts_seconds(out) == pts_seconds(src)
    assert (b.width, b.height) == (a.width, a.height) == SIZE
    # depth and family, colour tags
    assert b.pix_fmt.replace("yuvj", "yuv") == (case.out_pix_fmt or case.pix_fmt).replace("yuvj", "yuv")
    assert b.color == a.color
    # streams
    expected_audio = case.audio_out or tuple((x.codec, x.channels) for x in a.audio)
    assert tuple((x.codec, x.channels) for x in b.audio) == expected_audio
    # untouched pixels
    assert writer.frames_passed_through == (6 if case.exact else 0)
    if case.lossless:
        src_planes, out_planes = decoded_planes(src), decoded_planes(out)
        for fs, fo in zip(src_planes, out_planes):
            for k, (ps, po, shift) in enumerate(zip(fs, fo, shifts(b.pix_fmt))):
                keep = untouched(ps.shape, shift, SIZE[::-1])
                assert np.array_equal(ps[keep], po[keep]), (case.id, "plane", k)
                assert not np.array_equal(ps[~keep], po[~keep]), (case.id, "the object was not edited", k)
    else:
        with av.open(str(out)) as c:
            codec = c.streams.video[0].codec_context.name
        codec = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "prores": "prores_ks"}.get(codec, codec)
        options = dict(case.out_options) or {"crf": "18"}
        if codec in ("libx264", "libx265"):
            options.setdefault("preset", "medium")
        if codec == "libvpx-vp9":
            options.setdefault("b", "0")
        if codec == "libx265":
            options["x265-params"] = "log-level=error"
        if case.ext == ".avi":
            options["bf"] = "0"
        if codec == "prores_ks":
            options = {}
        ref = plain_reencode(src, tmp_path / f"plain{case.ext}", options, codec=codec,
                             pix_fmt=case.enc_pix_fmt or b.pix_fmt)
        shift = luma_shift(out, ref)
        assert abs(shift) <= case.tolerance, (case.id, shift)


def test_level_check_sees_a_one_level_shift(tmp_path: Path) -> None:
    """The measurement above can fail: swscale's default conversion (what the writer used to do)
    darkens untouched pixels by about a level, which luma_shift reports."""
    src = make_clip(tmp_path / "src.mp4", color=BT709, size=(128, 96), frames=4)
    ref = plain_reencode(src, tmp_path / "plain.mp4", {"crf": "18", "preset": "medium"})
    naive = tmp_path / "naive.mp4"
    with av.open(str(src)) as i, av.open(str(naive), "w") as o:
        v = o.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 128, 96, "yuv420p"
        v.codec_context.options = {"crf": "18", "preset": "medium"}
        for f in i.decode(video=0):
            g = av.VideoFrame.from_ndarray(f.to_ndarray(format="rgb24"), format="rgb24").reformat(format="yuv420p")
            g.pts, g.time_base = f.pts, f.time_base
            for p in v.encode(g):
                o.mux(p)
        for p in v.encode(None):
            o.mux(p)
    assert abs(luma_shift(naive, ref)) > 0.5


def test_rotated_source_untouched_pixels_bit_exact(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "rot.mp4", pix_fmt="yuv420p", color=BT709, options={"qp": "0"}, rotation=90)
    out = tmp_path / "out.mp4"
    writer = render(src, out, "libx264", options={"qp": "0"}, crf=None)
    assert writer.frames_passed_through == 6
    assert (probe(out).width, probe(out).height, probe(out).rotation) == (48, 64, 0)
    for fs, fo in zip(decoded_planes(src), decoded_planes(out)):
        for ps, po, shift in zip(fs, fo, shifts("yuv420p")):
            upright = np.rot90(ps, k=1)  # the display matrix turns the stored picture 90° counter-clockwise
            keep = untouched(upright.shape, shift, (64, 48))
            assert np.array_equal(upright[keep], po[keep])


def test_format_change_converts_with_the_source_matrix(tmp_path: Path) -> None:
    """No planes to copy (4:2:0 8-bit → 4:4:4 10-bit): both ways with the source's matrix and range."""
    for color in (BT709, BT601, BT709_FULL):
        src = make_clip(tmp_path / "src.mkv", codec="ffv1", color=color, size=(128, 96), frames=2)
        out = tmp_path / "out.mkv"
        writer = render(src, out, "ffv1", pix_fmt="yuv444p10le", crf=None)
        assert writer.frames_passed_through == 0 and probe(out).color == probe(src).color
        for fs, fo in zip(decoded_planes(src), decoded_planes(out)):
            keep = untouched(fs[0].shape, (0, 0), (96, 128))
            y8 = fo[0].astype(np.float64) / 4
            assert abs((y8[keep] - fs[0][keep]).mean()) < 0.1, color
            assert np.abs(y8[keep] - fs[0][keep]).max() < 2.5, color
        out.unlink()


# -- audio layouts ---------------------------------------------------------------------------
def _peaks(path: Path, index: int = 0) -> tuple[list[float], float]:
    """Dominant frequency of each channel of audio stream ``index`` and its duration in seconds."""
    with av.open(str(path)) as c:
        s = c.streams.audio[index]
        rate = s.codec_context.sample_rate
        n = s.codec_context.channels
        packed = av.AudioResampler(format="flt", rate=rate)  # packed: PyAV reads 8 planes at most
        chunks = [f.to_ndarray().reshape(-1, n) for frame in c.decode(s) for f in packed.resample(frame)]
        chunks += [f.to_ndarray().reshape(-1, n) for f in packed.resample(None)]
    data = np.concatenate(chunks).T.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(data * np.hanning(data.shape[1]), axis=1))
    freqs = np.fft.rfftfreq(data.shape[1], 1 / rate)
    return [float(freqs[np.argmax(ch)]) for ch in spectrum], data.shape[1] / rate


AUDIO_CASES = [  # id, source container, stream, output container, output codec, output layouts accepted
    ("pcm-1ch-unspecified-to-mp4", ".mkv", Audio("pcm_s16le", "1 channels"), ".mp4", "aac", {"mono"}),
    ("pcm-stereo-to-mp4", ".mkv", Audio("pcm_s16le", "stereo"), ".mp4", "aac", {"stereo"}),
    ("pcm-3ch-unspecified-to-mp4", ".mkv", Audio("pcm_s16le", "3 channels"), ".mp4", "aac", {"3.0"}),
    ("pcm-6ch-unspecified-to-mp4", ".mkv", Audio("pcm_s16le", "6 channels"), ".mp4", "aac", {"5.1", "5.1(side)"}),
    ("pcm-7.1-to-mp4", ".mov", Audio("pcm_s16le", "7.1"), ".mp4", "aac", {"7.1"}),
    ("pcm-8ch-unspecified-to-webm", ".mkv", Audio("pcm_s16le", "8 channels"), ".webm", "opus", {"7.1"}),
    ("pcm-5.1-to-webm", ".mov", Audio("pcm_s24le", "5.1"), ".webm", "opus", {"5.1", "5.1(side)"}),
    ("pcm-mono-44k-to-webm", ".mkv", Audio("pcm_s16le", "mono", rate=44100), ".webm", "opus", {"mono"}),
    ("flac-5.1-copied-into-mp4", ".mkv", Audio("flac", "5.1"), ".mp4", "flac", {"5.1", "5.1(side)"}),
]


@pytest.mark.parametrize("src_ext, spec, out_ext, codec, layouts",
                         [c[1:] for c in AUDIO_CASES], ids=[c[0] for c in AUDIO_CASES])
def test_audio_layouts(tmp_path: Path, src_ext: str, spec: Audio, out_ext: str, codec: str,
                       layouts: set[str]) -> None:
    src = make_clip(tmp_path / f"src{src_ext}", frames=12, audio=[spec])
    out = tmp_path / f"out{out_ext}"
    render(src, out)
    info = probe(out).audio
    channels = av.AudioLayout(spec.layout).nb_channels
    assert len(info) == 1 and info[0].codec == codec and info[0].channels == channels
    assert info[0].layout in layouts
    src_peaks, src_seconds = _peaks(src)
    out_peaks, out_seconds = _peaks(out)
    assert abs(out_seconds - src_seconds) < 0.03
    # every channel where it was (channel 3 of 5.1 and 7.1 is the LFE: low-passed by the encoder)
    check = [ch for ch in range(channels) if not (channels >= 6 and ch == 3)]
    assert np.allclose(np.take(out_peaks, check), np.take(src_peaks, check), atol=12), (src_peaks, out_peaks)


def test_audio_failure_names_the_audio_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_clip(tmp_path / "src.mkv", audio=[Audio("aac", "stereo"), Audio("pcm_s16le", "1 channels")])
    monkeypatch.setattr(streams_module, "_encoder_opens", lambda *a: False)
    with pytest.raises(OutputError) as err:
        render(src, tmp_path / "out.mp4")
    message = str(err.value)
    assert "audio stream 2 (pcm_s16le)" in message and "aac" in message
    assert "libx264" not in message and "video" not in message
    assert not list(tmp_path.glob("*out*"))


def test_audio_packets_without_dts_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_clip(tmp_path / "src.mkv", frames=12, audio=[Audio("aac", "stereo")])
    real_demux = av.container.InputContainer.demux

    def no_dts(self, *streams):  # noqa: ANN001, ANN002, ANN202 - the demuxer says nothing about DTS
        for packet in real_demux(self, *streams):
            if packet.stream.type == "audio":
                packet.dts = None
            yield packet

    with av.open(str(src)) as c:
        wanted = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
    monkeypatch.setattr(av.container.InputContainer, "demux", no_dts)
    out = render(src, tmp_path / "out.mkv").path
    monkeypatch.setattr(av.container.InputContainer, "demux", real_demux)
    with av.open(str(out)) as c:
        got = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
    assert got == wanted


def test_deep_frames_and_deep_pass_through(tmp_path: Path) -> None:
    """The reader gives uint16 RGB for a 10-bit source when asked; the writer takes it, and
    untouched pixels still reach a lossless output bit-exact."""
    src = make_clip(tmp_path / "src.mkv", codec="ffv1", pix_fmt="yuv420p10le", color=BT709)
    deep = list(iter_frames(src, deep=True))
    shallow = list(iter_frames(src))
    assert deep[0].image.dtype == np.uint16 and shallow[0].image.dtype == np.uint8
    difference = np.abs(deep[0].image / 257.0 - shallow[0].image)
    assert difference.mean() < 0.3 and difference.max() < 2
    out = tmp_path / "out.mkv"
    info = probe(src)
    with VideoWriter(out, info, EncodeOptions(codec="ffv1", crf=None, threads=1)) as w:
        for f in deep:
            w.write(edit(f))
    assert w.frames_passed_through == 6 and probe(out).pix_fmt == "yuv420p10le"
    for fs, fo in zip(decoded_planes(src), decoded_planes(out)):
        for ps, po, shift in zip(fs, fo, shifts("yuv420p10le")):
            keep = untouched(ps.shape, shift, (48, 64))
            assert np.array_equal(ps[keep], po[keep])


def test_frames_without_planes_use_the_source_tags(tmp_path: Path) -> None:
    """Frames a stage makes from scratch (no decoded planes) are converted with the source's
    matrix and range: a BT.709 grey stays the same grey."""
    src = make_clip(tmp_path / "src.mp4", color=BT709)
    info = probe(src)
    out = tmp_path / "out.mkv"
    with VideoWriter(out, info, EncodeOptions(codec="ffv1", crf=None)) as w:
        for i in range(3):
            w.write(Frame(i, np.full((48, 64, 3), (200, 60, 30), np.uint8), i, Fraction(1, 25), i / 25))
    assert probe(out).color == info.color and probe(out).pix_fmt == "yuv420p"
    y = decoded_planes(out)[0][0].astype(float)
    expected = 16 + 219 * (0.2126 * 200 + 0.7152 * 60 + 0.0722 * 30) / 255  # BT.709 limited range
    assert abs(y.mean() - expected) < 0.6


def test_pix_fmt_fallback_is_said_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = make_clip(tmp_path / "src.mkv", codec="ffv1", pix_fmt="yuv444p12le", color=BT709)
    with caplog.at_level(logging.WARNING, logger="editor"):
        render(src, tmp_path / "out.mp4", "libx264")
    assert probe(tmp_path / "out.mp4").pix_fmt == "yuv444p10le"
    lines = [r.getMessage() for r in caplog.records if "yuv444p12le" in r.getMessage()]
    assert len(lines) == 1 and "yuv444p10le" in lines[0]


def test_alpha_source_to_rgba_png_sequence(tmp_path: Path) -> None:
    """A source with alpha keeps it: the reader gives Frame.alpha, the PNG-sequence sink writes RGBA."""
    import cv2
    from trackedit_plugins.png_sequence import PngSequenceSink

    src = make_clip(tmp_path / "src.mkv", codec="ffv1", pix_fmt="yuva420p", color=BT709)
    frames = list(iter_frames(src))
    assert all(f.alpha is not None and f.alpha.dtype == np.uint8 for f in frames)
    assert frames[0].alpha.min() < 100 < frames[0].alpha.max()  # the source's gradient, not opaque
    folder = tmp_path / "pngs"
    sink = PngSequenceSink(folder / "f_%03d.png", probe(src), EncodeOptions(), False)
    for f in frames:
        sink.write(edit(f))
    sink.close()
    files = sorted(folder.glob("f_*.png"))
    assert len(files) == 6
    keep = untouched((48, 64), (0, 0), (48, 64))
    for f, path in zip(frames, files):
        bgra = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert bgra.shape == (48, 64, 4)
        assert np.array_equal(bgra[..., 3][keep], f.alpha[keep])
        assert np.array_equal(bgra[..., 2::-1][keep], f.image[keep])


@pytest.mark.parametrize("pix_fmt", ["rgb48le", "gbrp16le", "gbrp12le", "gbrap16le"])
def test_deep_rgb_levels_are_the_source_levels(pix_fmt: str) -> None:
    """Deep RGB sources convert with white at 65535 as they are (swscale's RGB to RGB is
    exact at every depth; only its YUV conversions run to 65280): to_rgb gives the source's
    levels, and from_rgb writes them back unchanged."""
    from editor.api.frames import ColorInfo
    from editor.video.pixels import from_rgb, to_rgb

    levels = np.linspace(0, 65535, 64 * 48 * 3).round().astype(np.uint16).reshape(48, 64, 3)
    source = av.VideoFrame.from_ndarray(levels, format="rgb48le").reformat(format=pix_fmt)
    bits = 12 if "12" in pix_fmt else 16
    want = (levels >> (16 - bits)).astype(np.float64) * 65535 / ((1 << bits) - 1)  # the source's levels
    rgb, _ = to_rgb(source, deep=True)
    assert rgb.dtype == np.uint16 and np.abs(rgb - want).max() <= 1
    assert rgb.max() == 65535
    back = from_rgb(rgb, None, pix_fmt, ColorInfo(0, 2, 2, 2))
    assert np.array_equal(back.to_ndarray()[..., :3], source.to_ndarray()[..., :3])
