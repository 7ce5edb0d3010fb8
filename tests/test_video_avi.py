"""AVI output timing. AVI stores one frame per tick of its stream's time base (the header's
dwScale/dwRate is the frame rate) and no presentation timestamps: the output must declare
the source's frame rate, hold exactly the frames written, one tick each, start at 0 with the
audio, and a variable-rate source is written at a constant rate (ffmpeg's ``-fps_mode cfr``:
frames repeated or dropped, one warning). Clips are made with PyAV in the test."""
from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from clips import Audio, ffprobe, make_clip
from editor.api.frames import Frame
from editor.video.reader import iter_frames, probe
from editor.video.writer import ConstantRate, EncodeOptions, VideoWriter


def _to_avi(src: Path, out: Path) -> Path:
    with VideoWriter(out, probe(src), EncodeOptions.resolve("auto")) as writer:
        for frame in iter_frames(src):
            writer.write(frame)
    return out


@pytest.mark.parametrize("rate", [Fraction(25), Fraction(30000, 1001)])
def test_avi_round_trip_timing(tmp_path: Path, rate: Fraction) -> None:
    frames = 30
    src = make_clip(tmp_path / "src.mp4", frames=frames, rate=rate, audio=[Audio("aac", "stereo")])
    out = _to_avi(src, tmp_path / "out.avi")
    with av.open(str(out)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert video.average_rate == rate and video.time_base == 1 / rate  # the header's frame rate
        assert video.frames == frames  # the header's count: no empty "repeat" entries
        assert video.start_time == 0 and video.duration == frames  # every frame lasts one tick
        assert float(video.duration * video.time_base) == pytest.approx(frames / rate)
        assert audio.start_time == 0
        packets = [p for p in c.demux(video) if p.size]
        assert [p.dts for p in packets] == list(range(frames))  # frame n shown at n / rate
    info = probe(out)
    assert info.frame_count == frames and info.average_rate == rate
    assert [f.time for f in iter_frames(out)] == pytest.approx([n / rate for n in range(frames)])
    # what ffprobe (any FFmpeg player) reads: the first frame at 0, and the audio too
    first = ffprobe("-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time",
                    "-read_intervals", "%+#1", str(out))["frames"][0]
    assert float(first["best_effort_timestamp_time"]) == 0
    streams = ffprobe("-show_entries", "stream=codec_type,start_time,nb_frames,avg_frame_rate", str(out))["streams"]
    assert {s["codec_type"]: float(s["start_time"]) for s in streams} == {"video": 0, "audio": 0}
    assert int(streams[0]["nb_frames"]) == frames
    assert Fraction(streams[0]["avg_frame_rate"]) == rate


def _vfr_clip(path: Path, times_ms: list[int]) -> Path:
    """H.264 in Matroska with frames at ``times_ms`` (milliseconds)."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        v.codec_context.time_base = Fraction(1, 1000)
        for i, t in enumerate(times_ms):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24").reformat(
                format="yuv420p")
            f.pts, f.time_base = t, Fraction(1, 1000)
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
    return path


def test_variable_rate_source_to_avi_repeats_frames_at_a_constant_rate(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    times = [0, 40, 80, 200, 240, 280, 320, 360, 400, 440, 480, 520]  # 25 fps with a gap of two frames
    src = _vfr_clip(tmp_path / "vfr.mkv", times)
    rate = probe(src).average_rate
    with caplog.at_level(logging.WARNING, logger="editor"):
        out = _to_avi(src, tmp_path / "out.avi")
    expected = round(Fraction(times[-1], 1000) * rate) + 1  # slots 0 .. the last frame's
    assert any("AVI holds a constant frame rate" in r.getMessage() and "repeated" in r.getMessage()
               for r in caplog.records)
    with av.open(str(out)) as c:
        video = c.streams.video[0]
        assert video.average_rate == rate and video.frames == expected
        assert [p.dts for p in c.demux(video) if p.size] == list(range(expected))
    # frame by frame: the frame before the gap is shown until the next one is due
    src_images = {round(Fraction(t, 1000) * rate): f.image for t, f in zip(times, iter_frames(src))}
    for n, frame in enumerate(iter_frames(out)):
        shown = src_images[max(k for k in src_images if k <= n)]
        assert np.abs(frame.image.astype(int) - shown).mean() < 3, n


def _frame(t_ms: int) -> Frame:
    return Frame(0, np.zeros((2, 2, 3), np.uint8), t_ms, Fraction(1, 1000), t_ms / 1000)


def test_constant_rate_slots() -> None:
    """The slot rule on its own: 10 fps, the first frame at 1 s is slot 0; a frame in a slot
    already filled is dropped, a skipped slot is filled by the frame before."""
    cfr = ConstantRate(Fraction(10))
    got = [cfr.place(_frame(t)) for t in (1000, 1100, 1130, 1390, 1400, 1500)]
    assert got == [(0, 0), (0, 1), (0, None), (2, 4), (0, None), (0, 5)]
    assert (cfr.repeated, cfr.dropped) == (2, 2)
