"""Copied streams are packet-exact: every packet of an audio stream the output container
holds as it is — the encoder-priming packet an MP4 edit list hides (flagged *discard* by the
demuxer) included — reaches the output with the same bytes and the same presentation time."""
from __future__ import annotations

import hashlib
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest

from editor.video.reader import iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter

#: (audio encoder, container suffix): each pair ffmpeg can mux and trackedit copies as it is
CASES = [("aac", ".mp4"), ("aac", ".mov"), ("aac", ".mkv"),
         ("libopus", ".webm"), ("libopus", ".mkv"), ("libopus", ".mp4"),
         ("ac3", ".mp4"), ("ac3", ".mov"), ("ac3", ".mkv"),
         ("pcm_s16le", ".mov"), ("pcm_s16le", ".mkv")]


def _source(path: Path, audio: str) -> Path:
    video = ["-c:v", "libvpx-vp9", "-deadline", "realtime"] if path.suffix == ".webm" else ["-c:v", "libx264"]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=96x64:rate=25:duration=1.2",
                    "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=1.2",
                    *video, "-c:a", audio, "-ac", "2", str(path)], check=True)
    return path


def _packets(path: Path) -> list[tuple[Fraction | None, str, bool]]:
    """(presentation time in seconds, md5, discard flag) of every audio packet, in file order."""
    with av.open(str(path)) as c:
        return [(None if p.pts is None else p.pts * p.time_base, hashlib.md5(bytes(p)).hexdigest(), p.is_discard)
                for p in c.demux(c.streams.audio[0]) if p.size]


@pytest.mark.parametrize("audio,suffix", CASES, ids=[f"{a}{s}" for a, s in CASES])
def test_copied_audio_is_packet_exact(tmp_path: Path, audio: str, suffix: str) -> None:
    src = _source(tmp_path / f"src{suffix}", audio)
    out = tmp_path / f"out{suffix}"
    with VideoWriter(out, probe(src), EncodeOptions.resolve()) as w:
        for frame in iter_frames(src):
            w.write(frame)
    wanted, got = _packets(src), _packets(out)
    assert [(t, md5) for t, md5, _ in got] == [(t, md5) for t, md5, _ in wanted]
    # what the source's edit list hides (AAC priming) is hidden in the output too
    assert [d for *_, d in got] == [d for *_, d in wanted]
