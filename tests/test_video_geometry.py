"""Frame geometry kept from source to output: a stream whose frame size changes mid-way is
scaled to its first frame's size (as ``ffmpeg`` does). Clips are made with PyAV in the test."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from editor.api.errors import InputError
from editor.api.masks import MaskFolderWriter
from editor.cli.main import main
from editor.video.random_access import FrameSource
from editor.video.reader import OneSize, iter_frames, probe

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
