"""One decode for detection, tracking and the output (issue #30): the detection pass keeps
the frames it reads (their decoded planes) in a frame cache, and tracking and the writer
take them from there instead of decoding the video again. Checked on a real (thresholding)
detector's run: the same output bytes as the run that decodes again, the video decoded
once; and the frame cache's label maps (now kept as their boxes) read back exactly."""
from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import numpy as np
import pytest

from clips import write_clip
from editor.detection import DetectOptions
from editor.pipeline import orchestrator
from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.pipeline.presets import load_preset
from editor.tracking.frame_cache import FrameCache
from test_detect_track import T, DiscPlugin, _pm, scene


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("shared")
    return write_clip(folder / "discs.mp4", [scene(t)[0] for t in range(T)], pix_fmt="yuv420p",
                      options={"crf": "0"})


def _decoded_md5(path: Path) -> tuple[int, str]:
    """(frames, MD5 of every decoded frame's YUV planes) of ``path``."""
    import av

    h, n = hashlib.md5(), 0
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            for plane in frame.planes:
                h.update(bytes(plane))
            n += 1
    return n, h.hexdigest()


def _run(clip: Path, out: Path, monkeypatch: pytest.MonkeyPatch, *, share: bool) -> list[str]:
    """Run ``--preset blur --detect discs`` (every frame) on ``clip``; the paths the reader
    was asked to decode, counted when decoding starts (a reader made and never read is no
    decode)."""
    reader = importlib.import_module("editor.video.reader")
    real = reader.iter_frames
    opened: list[str] = []

    def counting(path, *args, **kwargs):  # noqa: ANN001, ANN202
        frames = real(path, *args, **kwargs)

        def read():  # noqa: ANN202
            opened.append(str(path))
            yield from frames
        return read()

    with monkeypatch.context() as m:
        m.setattr(reader, "iter_frames", counting)  # the detection pass imports it when run
        m.setattr(orchestrator, "iter_frames", counting)
        if not share:
            m.setattr(orchestrator, "_shares_decode", lambda req, video: False)
        preset = load_preset("blur")
        req = RunRequest(input=clip, output=out, preset=preset, detect=DetectOptions(detectors=("discs",)),
                         overwrite=True)
        summary = Pipeline(_pm(DiscPlugin())).run(req)
    assert summary.frames == T
    return opened


def test_the_detection_pass_frames_feed_tracking_and_the_output(clip: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    shared = _run(clip, tmp_path / "shared.mp4", monkeypatch, share=True)
    again = _run(clip, tmp_path / "again.mp4", monkeypatch, share=False)
    assert shared == [str(clip)]  # the detection pass's decode only
    assert len(again) >= 2  # the detection pass's and the pipeline's
    assert _decoded_md5(tmp_path / "shared.mp4") == _decoded_md5(tmp_path / "again.mp4")
    # and the discs are edited (the run did track them): disc 1 on frame 5 differs from the source
    import av

    with av.open(str(tmp_path / "shared.mp4")) as c:
        frame = next(f for i, f in enumerate(c.decode(video=0)) if i == 5).to_ndarray(format="rgb24")
    image, truth = scene(5)
    diff = np.abs(frame.astype(int) - image.astype(int)).max(axis=2)
    assert (diff[truth == 1] > 20).mean() > 0.9


@pytest.mark.parametrize("memory", [1 << 20, 0])
def test_label_maps_read_back_exactly(tmp_path: Path, memory: int) -> None:
    """Label maps stored as their boxes, held in memory or (no room) on disk: read back the
    same values and shape; an empty map too; dropping removes the files."""
    cache = FrameCache(tmp_path / "cache", memory_bytes=memory)
    rng = np.random.default_rng(3)
    maps = []
    for i in range(4):
        labels = np.zeros((72, 128), np.uint8)
        if i:
            y, x = rng.integers(0, 40), rng.integers(0, 90)
            labels[y:y + 20 + i, x:x + 30] = rng.integers(0, 4, (20 + i, 30))
            labels[71, 127] = i  # reaches the corner: the box is not the blob's
        maps.append(labels)
        cache.put_labels(i, labels)
    cache.put_labels(2, maps[3])  # replaced
    maps[2] = maps[3]
    for i, labels in enumerate(maps):
        got = cache.get_labels(i)
        assert got.dtype == np.uint8 and got.shape == labels.shape and np.array_equal(got, labels), i
    if memory == 0:
        assert sorted(p.name for p in (tmp_path / "cache").glob("b*.npy")) == [f"b{i:06d}.npy" for i in (1, 2, 3)]
    for i in range(4):
        cache.drop(i)
    assert not list((tmp_path / "cache").glob("b*"))
