"""The encoder's look-ahead is bounded for frames above 4K (issue 23: at the 8192×8192 frame
limit, 60 frames with x264's default look-ahead of 40 peaked at 19.3 GB)."""
from __future__ import annotations

from editor.video.writer import _bounded_lookahead


def test_the_lookahead_shrinks_with_the_frame_above_4k() -> None:
    for codec in ("libx264", "libx265"):
        small: dict[str, str] = {}
        _bounded_lookahead(codec, small, 3840 * 2160)
        assert small == {}  # 4K and below: the encoder's own default
    eight_k: dict[str, str] = {}
    _bounded_lookahead("libx264", eight_k, 8192 * 8192)
    assert eight_k == {"rc-lookahead": "5"}
    hevc = {"x265-params": "log-level=error"}
    _bounded_lookahead("libx265", hevc, 8192 * 8192)
    assert hevc == {"x265-params": "log-level=error:rc-lookahead=5"}
    given = {"rc-lookahead": "30"}
    _bounded_lookahead("libx264", given, 8192 * 8192)
    assert given == {"rc-lookahead": "30"}  # the user's choice is kept
    other: dict[str, str] = {}
    _bounded_lookahead("libvpx-vp9", other, 8192 * 8192)
    assert other == {}


def test_the_pipeline_queues_hold_fewer_frames_as_frames_grow(tmp_path, monkeypatch) -> None:
    """Each queue between the pipeline's threads holds 4 frames up to 4K and 1 at 8K (at the
    8192×8192 limit four queues of four frames held gigabytes); a run uses what
    :func:`queue_frames` says for its frame size."""
    import json

    import av
    import numpy as np

    from editor.api import limits
    from editor.api.limits import queue_frames
    from editor.cli.main import main
    from editor.pipeline import orchestrator

    assert queue_frames(1920, 1080) == queue_frames(3840, 2160) == 4
    assert queue_frames(7680, 4320) == queue_frames(8192, 8192) == 1
    assert queue_frames(3840, 2160, deep=True) == 2

    clip = tmp_path / "in.mp4"
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(6):
            image = np.full((240, 320, 3), 40 + 20 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps({"objects": [{"id": 1, "prompts": [{"frame": 0, "box": [100, 80, 200, 160]}]}]}))
    sizes: list[int] = []
    real = orchestrator.threaded

    def recording(source, maxsize=8, name="producer"):
        sizes.append(maxsize)
        return real(source, maxsize, name)

    monkeypatch.setattr(orchestrator, "threaded", recording)
    args = ["-q", "run", str(clip), "-o", str(tmp_path / "a.mp4"), "--preset", "blur", "--prompts", str(prompts)]
    assert main(args) == 0
    assert sizes and set(sizes) == {4}
    sizes.clear()
    monkeypatch.setattr(limits, "QUEUE_BYTES", 320 * 240 * 8 * 2)  # room for two such frames
    assert main(args[:4] + [str(tmp_path / "b.mp4")] + args[5:]) == 0
    assert sizes and set(sizes) == {2}
