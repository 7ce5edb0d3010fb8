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


def _late_audio_clip(path: Path, codec: str, delay: float, seconds: float = 2.0) -> Path:
    """25 fps video from 0 and a 440 Hz mono tone from ``delay`` s (its first sample's pts)."""
    with av.open(str(path), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream(codec, rate=48000)
        a.layout = "mono"
        for i in range(int(seconds * 25)):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 5 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        first, n = round(delay * 48000), round((seconds - delay) * 48000)
        tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 48000)
        fmt = "fltp" if codec == "aac" else "s16"
        for k in range(0, n, 1024):
            chunk = tone[k:k + 1024]
            samples = chunk.astype(np.float32) if fmt == "fltp" else (chunk * 32767).astype(np.int16)
            f = av.AudioFrame.from_ndarray(samples[None], format=fmt, layout="mono")
            f.sample_rate, f.pts, f.time_base = 48000, first + k, Fraction(1, 48000)
            for p in a.encode(f):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    return path


def _first_sound(path: Path) -> float:
    """Seconds at which the decoded audio first exceeds a quarter of the tone's amplitude."""
    with av.open(str(path)) as c:
        for f in c.decode(audio=0):
            x = f.to_ndarray()[0].astype(np.float64)
            x = x / 32767 if f.format.name.startswith("s16") else x
            loud = np.flatnonzero(np.abs(x) > 0.075)
            if loud.size:
                return float(f.pts * f.time_base) + loud[0] / f.sample_rate
    raise AssertionError("no sound")


@pytest.mark.parametrize(("codec", "suffix", "tick"), [("pcm_s16le", ".mkv", 1 / 48000), ("aac", ".mp4", 1024 / 48000)])
def test_audio_starting_after_the_video_keeps_its_delay_in_avi(tmp_path: Path, codec: str, suffix: str,
                                                               tick: float) -> None:
    """Audio from 0.5 s: the AVI header's start field delays it (FFmpeg's AVI muxer writes 0
    and the audio played from 0, half a second early). The delay is kept to one tick of the
    stream (a sample for PCM, an AAC frame); the video still starts at 0, frame for frame;
    MKV and MP4 outputs keep the delay as timestamps."""
    src = _late_audio_clip(tmp_path / f"src{suffix}", codec, 0.5)
    expected = _first_sound(src)
    assert expected == pytest.approx(0.5, abs=0.01)
    out = _to_avi(src, tmp_path / "out.avi")
    with av.open(str(out)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        assert [p.dts for p in c.demux(video) if p.size] == list(range(50))
    with av.open(str(out)) as c:
        first_audio = next(p for p in c.demux(audio=0) if p.size)
        assert 0.5 - tick - 0.03 <= float(first_audio.pts * first_audio.time_base) <= 0.5
    assert abs(_first_sound(out) - expected) < tick + 1e-6
    # what ffprobe reads: the first audio packet at the delay, the first video frame at 0
    packets = ffprobe("-show_entries", "packet=stream_index,pts_time,dts_time", str(out))["packets"]
    times: dict[int, float] = {}
    for p in packets:  # AVI video packets carry only a decode time (no B-frames: the same)
        times.setdefault(p["stream_index"], float(p.get("pts_time", p["dts_time"])))
    assert times[0] == 0 and abs(times[1] - float(first_audio.pts * first_audio.time_base)) < 1e-6
    for kept in (".mkv", ".mp4"):
        with VideoWriter(tmp_path / f"out{kept}", probe(src), EncodeOptions.resolve("auto")) as writer:
            for frame in iter_frames(src):
                writer.write(frame)
        assert abs(_first_sound(tmp_path / f"out{kept}") - expected) < 0.002


def test_the_header_parser_refuses_what_is_not_an_avi_header(tmp_path: Path) -> None:
    from editor.video.avi_header import AviHeaderError, stream_header_offsets

    with pytest.raises(AviHeaderError, match="not a RIFF AVI"):
        stream_header_offsets(b"RIFF\x04\x00\x00\x00WAVE")
    with pytest.raises(AviHeaderError, match="runs past"):
        stream_header_offsets(b"RIFF\x20\x00\x00\x00AVI LIST\xff\x00\x00\x00hdrl")
    out = _to_avi(make_clip(tmp_path / "src.mp4", audio=[Audio("aac", "mono")]), tmp_path / "out.avi")
    data = out.read_bytes()
    assert [data[o:o + 4] for o in stream_header_offsets(data)] == [b"vids", b"auds"]


def test_the_run_line_counts_the_frames_in_a_constant_rate_file(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """A variable-rate source written to AVI: the file holds repeated frames (12 frames with a
    gap of two → 14), and the ``wrote`` line says so instead of the 12 edited; an MKV output
    keeps the 12 and the line stays as it was."""
    from editor.cli.main import main

    src = _vfr_clip(tmp_path / "vfr.mkv", [0, 40, 80, 200, 240, 280, 320, 360, 400, 440, 480, 520])
    for name, in_file, text in (("out.avi", 14, "14 frames (12 edited) in "), ("out.mkv", 12, "12 frames in ")):
        out = tmp_path / name
        assert main(["run", str(src), "-o", str(out), "--detect", "faces", "--preset", "blur"]) == 0
        with av.open(str(out)) as c:
            assert sum(1 for _ in c.decode(video=0)) == in_file
        wrote = [line for line in capsys.readouterr().err.splitlines() if line.startswith("trackedit: wrote")]
        assert len(wrote) == 1 and wrote[0].startswith(f"trackedit: wrote {out}: {text}"), wrote


def test_video_starting_after_the_audio_keeps_its_delay_in_avi(tmp_path: Path) -> None:
    """The other way round: PCM audio from 0, the video's first frame at 0.48 s (frame 12 at
    25 fps). The video's header start is 12 frames: it is shown from 0.48 s, as in MKV."""
    src = tmp_path / "src.mkv"
    with av.open(str(src), "w") as c:
        v = c.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        a = c.add_stream("pcm_s16le", rate=48000)
        a.layout = "mono"
        for i in range(25):
            f = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 9 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = 12 + i, Fraction(1, 25)
            for p in v.encode(f):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        for k in range(0, 72000, 1024):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.int16), format="s16", layout="mono")
            f.sample_rate, f.pts, f.time_base = 48000, k, Fraction(1, 48000)
            for p in a.encode(f):
                c.mux(p)
        for p in a.encode(None):
            c.mux(p)
    out = _to_avi(src, tmp_path / "out.avi")
    assert [f.time for f in iter_frames(out)] == pytest.approx([(12 + n) / 25 for n in range(25)])
    first = ffprobe("-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time",
                    "-read_intervals", "%+#1", str(out))["frames"][0]
    assert float(first["best_effort_timestamp_time"]) == pytest.approx(0.48)
    with av.open(str(out)) as c:
        audio = next(p for p in c.demux(audio=0) if p.size)
        assert audio.pts == 0
