"""The same input and options give the same output file, run after run (issue 22: "two runs
on two machines give the same output"). Found on carphone: ``--preset background --detect
people`` gave a different file each run although every frame handed to the encoder was
identical — libx264's AVX-512 routines read memory they never wrote (see
:func:`editor.video.writer.repeatable_x264`)."""
from __future__ import annotations

import hashlib
import io

import av
import numpy as np
import pytest

from editor.video import writer
from editor.video.writer import repeatable_x264


def test_x264_is_limited_to_avx2_only_where_avx512_is(monkeypatch) -> None:
    monkeypatch.setattr(writer, "_has_avx512", lambda: True)
    options: dict[str, str] = {}
    repeatable_x264("libx264", options)
    assert options == {"x264-params": "asm=avx2"}
    hdr = {"x264-params": "cll=1000,400"}
    repeatable_x264("libx264", hdr)
    assert hdr == {"x264-params": "cll=1000,400:asm=avx2"}
    given = {"x264-params": "asm=sse4"}
    repeatable_x264("libx264", given)
    assert given == {"x264-params": "asm=sse4"}  # the user's choice is kept
    other: dict[str, str] = {}
    repeatable_x264("libx265", other)
    assert other == {}
    monkeypatch.setattr(writer, "_has_avx512", lambda: False)
    plain: dict[str, str] = {}
    repeatable_x264("libx264", plain)
    assert plain == {}  # never forced on a CPU that might lack AVX2


def _encode(frames: list[np.ndarray], options: dict[str, str]) -> str:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=30, options=options)
        stream.width, stream.height, stream.pix_fmt = 176, 144, "yuv420p"
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return hashlib.md5(buf.getvalue()).hexdigest()


@pytest.fixture(scope="module")
def carphone_frames(samples_dir) -> list[np.ndarray]:
    with av.open(str(samples_dir / "carphone_pristine.mp4")) as src:
        return [f.to_ndarray(format="rgb24") for _, f in zip(range(40), src.decode(video=0))]


def test_the_encoder_options_give_one_stream_for_the_same_frames(carphone_frames) -> None:
    """Eight encodes of the same 176×144 frames with the options the writer gives x264 are
    the same bytes (without the AVX-512 limit, 2–12 different streams in 12 runs here)."""
    options: dict[str, str] = {"crf": "18"}
    repeatable_x264("libx264", options)
    assert len({_encode(carphone_frames, options) for _ in range(8)}) == 1


def test_a_background_swap_with_detected_people_is_the_same_file_twice(tmp_path, samples_dir) -> None:
    from editor.cli.main import main

    digests = []
    for k in range(3):
        out = tmp_path / f"out{k}.mp4"
        assert main(["run", str(samples_dir / "carphone_pristine.mp4"), "-o", str(out),
                     "--preset", "background", "--detect", "people"]) == 0
        digests.append(hashlib.md5(out.read_bytes()).hexdigest())
    assert len(set(digests)) == 1, digests


def _write(src, out) -> bytes:  # noqa: ANN001
    from editor.video.reader import iter_frames, probe
    from editor.video.writer import EncodeOptions, VideoWriter

    with VideoWriter(out, probe(src), EncodeOptions.resolve("auto")) as w:
        for frame in iter_frames(src):
            w.write(frame)
    return out.read_bytes()


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".mp4"])
def test_the_same_frames_give_the_same_file_in_every_container(tmp_path, suffix) -> None:
    """Matroska and WebM too: FFmpeg's Matroska muxer draws a random SegmentUID and TrackUIDs
    unless asked for bit-exact output (two .mkv files differed in 44 header bytes, two .webm
    in 16). The file still names its streams and plays: video and audio are there."""
    from clips import Audio, make_clip

    src = make_clip(tmp_path / "src.mkv", frames=8, audio=[Audio("libopus" if suffix == ".webm" else "aac")])
    first = _write(src, tmp_path / f"a{suffix}")
    second = _write(src, tmp_path / f"b{suffix}")
    assert first == second, [i for i, (x, y) in enumerate(zip(first, second)) if x != y][:8]
    with av.open(str(tmp_path / f"a{suffix}")) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert sum(1 for _ in c.decode(video=0)) == 8
