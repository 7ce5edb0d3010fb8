"""Frame geometry kept from source to output: a stream whose frame size changes mid-way is
scaled to its first frame's size (as ``ffmpeg`` does), and the source's pixel aspect ratio
(SAR) reaches the output. Clips are made with PyAV in the test."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clips import ffprobe, make_clip
from editor.api.errors import InputError
from editor.api.masks import MaskFolderWriter
from editor.cli.main import main
from editor.video.random_access import FrameSource
from editor.video.reader import OneSize, iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter

#: the blurred object of the size-change clip, in the first frame's pixels (rows, columns)
BOX = (slice(12, 36), slice(16, 48))


def _checkers(w: int, h: int, t: int) -> np.ndarray:
    """RGB checkerboard of 8-pixel cells at 64x48 (4 at 32 px wide…: the same picture at any
    size), brightness changing with ``t``: texture a blur visibly flattens."""
    y, x = np.mgrid[0:h, 0:w]
    cells = ((x * 8 // w + y * 6 // h) % 2).astype(np.int32)
    base = 60 + 4 * t + 120 * cells
    return np.stack([base, 255 - base, np.full_like(base, 90)], -1).astype(np.uint8)


def two_size_ts(path: Path, sizes: tuple[tuple[int, int], ...] = ((64, 48), (128, 96)), frames: int = 5,
                rate: int = 25) -> Path:
    """An MPEG-TS of ``frames`` H.264 frames at each of ``sizes`` (one encoder per size, every
    packet in one stream, pts continuing): what joining two TS files of two sizes gives."""
    with av.open(str(path), "w", format="mpegts") as c:
        stream = c.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = sizes[0][0], sizes[0][1], "yuv420p"
        t = 0
        for k, (w, h) in enumerate(sizes):
            if k == 0:
                encoder = stream.codec_context
            else:
                encoder = av.CodecContext.create("libx264", "w")
                encoder.width, encoder.height, encoder.pix_fmt = w, h, "yuv420p"
                encoder.time_base, encoder.framerate = Fraction(1, rate), Fraction(rate)
                encoder.open()
            for _ in range(frames):
                frame = av.VideoFrame.from_ndarray(_checkers(w, h, t), format="rgb24").reformat(format="yuv420p")
                frame.pts, frame.time_base = t, Fraction(1, rate)
                t += 1
                for packet in encoder.encode(frame):
                    packet.stream = stream
                    c.mux(packet)
            for packet in encoder.encode(None):
                packet.stream = stream
                c.mux(packet)
    return path


def test_size_change_mid_stream_is_scaled_to_the_first_size(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = two_size_ts(tmp_path / "sizes.ts")
    with av.open(str(src)) as c:  # the clip does change size
        assert [(f.width, f.height) for f in c.decode(video=0)] == [(64, 48)] * 5 + [(128, 96)] * 5
    masks = MaskFolderWriter(tmp_path / "masks", {1: "thing"})
    for t in range(10):
        labels = np.zeros((48, 64), np.uint8)
        labels[BOX] = 1
        masks.write(t, labels)
    masks.close()
    out = tmp_path / "out.mp4"
    assert main(["run", str(src), "-o", str(out), "--preset", "blur", "--masks", str(tmp_path / "masks")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "frame size changes" in line]
    assert warnings == ["trackedit: sizes.ts: the frame size changes at frame 5, from 64x48 to 128x96: scaling every "
                        "such frame to 64x48 (bicubic, as ffmpeg does)"]
    b = probe(out)
    assert (b.width, b.height, b.frame_count) == (64, 48, 10)
    source, edited = list(iter_frames(src)), list(iter_frames(out))
    assert [f.image.shape for f in source] == [(48, 64, 3)] * 10
    outside = np.ones((48, 64), bool)
    outside[BOX[0].start - 4:BOX[0].stop + 4, BOX[1].start - 4:BOX[1].stop + 4] = False
    for a, e in zip(source, edited):
        gray_a, gray_e = a.image.astype(float).mean(-1), e.image.astype(float).mean(-1)
        inner = (slice(BOX[0].start + 4, BOX[0].stop - 4), slice(BOX[1].start + 4, BOX[1].stop - 4))
        assert gray_e[inner].std() < 0.5 * gray_a[inner].std(), a.index  # blurred, on both sizes' frames
        assert np.abs(gray_e[outside] - gray_a[outside]).mean() < 4, a.index  # the rest kept
    # random access (tracking, the UI) gives the same size
    with FrameSource(src) as frames:
        assert [frames[i].image.shape for i in (9, 2, 6)] == [(48, 64, 3)] * 3


def test_size_change_that_cannot_be_scaled_names_the_file_and_frame(tmp_path: Path) -> None:
    """swscale writes no palette (pal8) pictures: one line naming the file and frame."""
    frame = av.VideoFrame.from_ndarray(np.zeros((96, 128, 3), np.uint8), format="rgb24")
    with pytest.raises(InputError) as err:
        OneSize(tmp_path / "anim.gif", 64, 48, "pal8")(frame, 7)
    message = str(err.value)
    assert "anim.gif" in message and "frame 7 is 128x96" in message and "64x48" in message
    assert "\n" not in message


# -- sample aspect ratio ---------------------------------------------------------------------
def _with_sar(path: Path, sar: Fraction, rotation: int | None = None) -> Path:
    """A 64x48 H.264 clip whose pixels are ``sar`` (width : height) wide, optionally tagged
    to be shown turned by ``rotation`` degrees."""
    src = make_clip(path.with_name("plain" + path.suffix), frames=4)
    with av.open(str(src)) as i, av.open(str(path), "w") as o:
        v = o.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.codec_context.sample_aspect_ratio = sar
        if rotation is not None:
            v.set_display_rotation(rotation)
        for f in i.decode(video=0):
            f.pict_type = av.video.frame.PictureType.NONE
            for p in v.encode(f):
                o.mux(p)
        for p in v.encode(None):
            o.mux(p)
    return path


def _ffprobe_sar(path: Path) -> str:
    stream = ffprobe("-select_streams", "v:0", "-show_entries", "stream=sample_aspect_ratio", str(path))["streams"][0]
    return stream.get("sample_aspect_ratio", "")


@pytest.mark.parametrize("sar", [Fraction(4, 3), Fraction(1, 1)])
@pytest.mark.parametrize("ext", [".mp4", ".mov", ".mkv", ".avi", ".ts"])
def test_sample_aspect_ratio_is_kept(tmp_path: Path, sar: Fraction, ext: str) -> None:
    src = _with_sar(tmp_path / "src.mp4", sar)
    assert probe(src).sample_aspect_ratio == sar
    out = tmp_path / f"out{ext}"
    with VideoWriter(out, probe(src), EncodeOptions.resolve("auto")) as writer:
        for frame in iter_frames(src):
            writer.write(frame)
    with av.open(str(out)) as c:
        assert c.streams.video[0].sample_aspect_ratio == sar
    assert probe(out).sample_aspect_ratio == sar
    assert _ffprobe_sar(out) == f"{sar.numerator}:{sar.denominator}"


def test_mp4_keeps_the_aspect_ratio_in_its_pasp_box(tmp_path: Path) -> None:
    """Not only in the H.264 headers: MP4's pixel-aspect box (what QuickTime players read)."""
    src = _with_sar(tmp_path / "src.mp4", Fraction(4, 3))
    out = tmp_path / "out.mp4"
    with VideoWriter(out, probe(src), EncodeOptions.resolve("auto")) as writer:
        for frame in iter_frames(src):
            writer.write(frame)
    data = out.read_bytes()
    at = data.find(b"pasp")
    assert at > 0 and data[at + 4:at + 12] == (4).to_bytes(4, "big") + (3).to_bytes(4, "big")


def test_rotated_source_turns_its_aspect_ratio(tmp_path: Path) -> None:
    """Frames are made upright: a 90°-rotated 4:3 pixel is 3:4 on the upright frame."""
    info = probe(_with_sar(tmp_path / "rot43.mp4", Fraction(4, 3), rotation=90))
    assert (info.rotation, info.width, info.height, info.sample_aspect_ratio) == (270, 48, 64, Fraction(3, 4))


def test_webm_that_cannot_carry_the_aspect_ratio_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    src = _with_sar(tmp_path / "src.mp4", Fraction(4, 3))
    out = tmp_path / "out.webm"
    with caplog.at_level("WARNING", logger="editor"):
        with VideoWriter(out, probe(src), EncodeOptions.resolve("auto")) as writer:
            for frame in iter_frames(src):
                writer.write(frame)
    assert any("4:3 (sample aspect ratio), which libvpx-vp9 in webm cannot carry" in r.getMessage()
               for r in caplog.records)
    assert probe(out).frame_count == 4
    # the warning is true: the file plays with square pixels. FFmpeg's Matroska/WebM muxer
    # writes DisplayWidth/DisplayHeight only from AVStream.sample_aspect_ratio
    # (libavformat/matroskaenc.c), which PyAV 18.1 never sets (VideoStream.sample_aspect_ratio
    # is av_guess_sample_aspect_ratio, read-only; Stream.__setattr__ hands it to the codec
    # context), and VP9 has no aspect ratio in its bitstream. Should a PyAV keep it, this
    # fails and the warning goes.
    assert _ffprobe_sar(out) in ("1:1", "", "N/A", "0:1")
    with av.open(str(out)) as c:
        assert c.streams.video[0].sample_aspect_ratio in (None, 1)


def test_source_without_aspect_ratio_writes_none(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mp4", frames=2)
    assert probe(src).sample_aspect_ratio is None
    out = tmp_path / "out.mp4"
    with VideoWriter(out, probe(src), EncodeOptions.resolve("auto")) as writer:
        for frame in iter_frames(src):
            writer.write(frame)
    assert probe(out).sample_aspect_ratio is None
    assert _ffprobe_sar(out) in ("", "N/A", "0:1")
