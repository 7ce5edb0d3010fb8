"""The benchmarks' plain transcode, the floor every speed ratio is taken against
(``benchmarks.scenarios.transcode``), encodes as the pipeline's writer does (issue 30: "the
encoder settings of the pipeline and of the plain transcode must be the same for a fair
ratio"). It used to hand x264 the decoded frames with the source's frame types (FFmpeg's
libx264 wrapper follows a frame's ``pict_type``) and slice threads, where the writer's frames
carry no type and get frame threads: on the 720p cyclist clip that transcode took about
0.9 CPU-s (15 %) less than the same encoder choosing its own frame types, and not one of its
packets matched the writer's."""
from __future__ import annotations

from pathlib import Path

import av

from benchmarks.scenarios import transcode
from editor.video.reader import iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter

ROOT = Path(__file__).resolve().parent.parent
CLIP = ROOT / "samples" / "carphone_pristine.mp4"


def _packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(video=0) if p.size]


def test_the_benchmark_transcode_gives_the_writers_packets_for_untouched_frames(tmp_path: Path) -> None:
    transcode(CLIP, CLIP, tmp_path)
    # the pipeline's writer with nothing edited: every pixel passes through from the decoded planes
    written = tmp_path / "writer.mp4"
    with VideoWriter(written, probe(CLIP), EncodeOptions(audio=False, other_streams=False, timecode=False)) as out:
        for frame in iter_frames(CLIP):
            out.write(frame)
    plain, pipeline = _packets(tmp_path / "transcode-libx264-yuv420p.mp4"), _packets(written)
    assert len(plain) == len(pipeline) == 120
    assert plain == pipeline  # same frames, same encoder settings: the same bitstream
