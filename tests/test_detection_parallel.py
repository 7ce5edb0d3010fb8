"""The detection pass on two threads (editor.detection.scan): detectors that can ``fork()``
run on chunks of frames in parallel. What must hold: every frame detected once, in display
order, each chunk started afresh, the same detections whatever the threads' timing (a
stateful detector sees the same frames in the same sequence), failures raised with the
detector and frame named, and no thread left behind."""
from __future__ import annotations

import itertools
import random
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from editor.api.detectors import Detection
from editor.api.errors import InputError, PluginError
from editor.api.frames import Frame, VideoInfo
from editor.detection import scan as scan_module
from editor.detection.centerface import FaceDetectorOptions, create_detector
from editor.detection.options import DetectOptions
from editor.detection.scan import WORKERS, chunk_frames, scan, workers_for
from editor.models import models_dir, verify
from editor.video.reader import iter_frames, probe

W, H = 160, 96


def frames(n: int, cut_at: tuple[int, ...] = ()) -> list[Frame]:
    """``n`` frames of a grey ramp; a different colour from each of ``cut_at`` on (cuts)."""
    out = []
    colour = 0
    for i in range(n):
        if i in cut_at:
            colour += 1
        image = np.zeros((H, W, 3), np.uint8)
        image[...] = [(60 + 90 * colour) % 256, (200 - 70 * colour) % 256, (30 + 50 * colour) % 256]
        image[:, : 10 + i % 50] += 20
        out.append(Frame(i, image, i, Fraction(1, 25), i / 25))
    return out


def info(n: int) -> VideoInfo:
    return VideoInfo("synthetic.mp4", W, H, 0, n, n, Fraction(25), Fraction(1, 25), n / 25, "h264", "yuv420p")


class Counting:
    """A stateful detector: one box whose x is the number of frames seen since the last
    restart, so its output shows exactly which frames it saw in sequence. Sleeps a random
    while (timing must not change the output)."""

    def __init__(self, log: list, jitter: bool, fail_at: int | None = None, error: type[Exception] = RuntimeError):
        self.log, self.jitter, self.fail_at, self.error = log, jitter, fail_at, error
        self.seen = 0
        self.rng = random.Random()

    def detect(self, image: np.ndarray, frame_index: int) -> list[Detection]:
        if self.jitter:
            time.sleep(self.rng.random() * 0.004)
        if frame_index == self.fail_at:
            raise self.error("the model broke")
        self.log.append((threading.current_thread().name, frame_index))
        self.seen += 1
        return [Detection((float(self.seen), 10.0, self.seen + 20.0, 40.0), 0.9, "thing")]

    def new_shot(self) -> None:
        self.seen = 0


class Forking(Counting):
    def fork(self) -> Forking:
        return Forking(self.log, self.jitter, self.fail_at, self.error)


def xs(result) -> dict[int, float]:
    return {f: obs[0][0].raw_box[0] for f, obs in result.detections.items()}


def test_chunks_run_on_two_threads_each_started_afresh() -> None:
    n = 150
    log: list = []
    result = scan(frames(n, cut_at=(40,)), info(n), {"things": Forking(log, jitter=True)}, DetectOptions(min_score=0.1))
    chunk = chunk_frames(W, H)
    assert chunk == 16 and WORKERS == 2
    assert sorted(f for _, f in log) == list(range(n))  # every frame once
    assert result.detected_frames == list(range(n))
    assert {name for name, _ in log} == {"trackedit-detect-0", "trackedit-detect-1"}
    for name, f in log:
        assert name == f"trackedit-detect-{(f // chunk) % 2}"
    # frames since the last restart: a restart at every chunk's first frame and at the cut
    starts = sorted(set(range(0, n, chunk)) | {40})
    expected = {f: float(f - max(s for s in starts if s <= f) + 1) for f in range(n)}
    assert xs(result) == expected
    assert result.cuts == [40]


def test_timing_and_thread_count_never_change_the_detections(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 100
    runs = [xs(scan(frames(n), info(n), {"things": Forking([], jitter=True)}, DetectOptions(min_score=0.1)))
            for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    log: list = []
    monkeypatch.setattr(scan_module, "workers_for", lambda w, h, chunk: 1)  # frames above 4K
    alone = xs(scan(frames(n), info(n), {"things": Forking(log, jitter=True)}, DetectOptions(min_score=0.1)))
    assert alone == runs[0]
    assert {name for name, _ in log} == {"trackedit-detect-0"}


def test_a_detector_without_fork_runs_frame_after_frame_on_the_calling_thread() -> None:
    n = 70
    log: list = []
    result = scan(frames(n), info(n), {"things": Counting(log, jitter=False)}, DetectOptions(min_score=0.1))
    assert {name for name, _ in log} == {threading.current_thread().name}
    assert xs(result) == {f: float(f + 1) for f in range(n)}  # never restarted: no cut


def no_detection_threads() -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not any(t.name.startswith("trackedit-detect") for t in threading.enumerate()):
            return True
        time.sleep(0.05)
    return False


def test_a_failing_detector_is_named_with_its_frame_and_stops_every_thread() -> None:
    n = 120
    with pytest.raises(PluginError, match=r"detector 'things' failed on frame 77 \(the model broke\)"):
        scan(frames(n), info(n), {"things": Forking([], jitter=True, fail_at=77)}, DetectOptions(min_score=0.1))
    assert no_detection_threads()


def test_a_trackedit_error_passes_through_unchanged() -> None:
    n = 80

    def broken(message: str) -> InputError:
        return InputError(message, Path("model.onnx"))

    with pytest.raises(InputError, match="the model broke"):
        scan(frames(n), info(n), {"things": Forking([], jitter=False, fail_at=50, error=broken)},
             DetectOptions(min_score=0.1))
    assert no_detection_threads()


def test_an_unreadable_frame_source_stops_the_pass() -> None:
    def failing():
        yield from frames(45)
        raise InputError("decoding failed", Path("broken.mp4"))

    with pytest.raises(InputError, match="decoding failed"):
        scan(failing(), info(100), {"things": Forking([], jitter=False)}, DetectOptions(min_score=0.1))
    assert no_detection_threads()


def test_large_frames_get_shorter_chunks() -> None:
    assert chunk_frames(640, 272) == 16
    assert chunk_frames(3840, 2160) == 8
    assert chunk_frames(8192, 8192) == 8
    assert chunk_frames(1920, 1080) % 8 == 0 and 8 <= chunk_frames(1920, 1080) <= 16
    assert workers_for(1920, 1080, chunk_frames(1920, 1080)) == 2
    assert workers_for(3840, 2160, 8) == 2
    assert workers_for(8192, 8192, 8) == 1  # 2 × 9 frames of 201 MB would wait: one thread


@pytest.mark.skipif(not verify("centerface", models_dir()).ok, reason="the face model is not installed")
def test_faces_on_bikes_are_the_same_in_two_runs(footage: Path) -> None:
    """The real detector on the first 80 frames of bikes.mp4 (the walking man from frame 30,
    chunk borders every 16 frames): two runs give identical boxes, and his face is found on
    every frame the hand-made ground truth has it (30–43)."""
    path = footage / "bikes.mp4"
    video = probe(path)
    runs = []
    for _ in range(2):
        detector = create_detector(FaceDetectorOptions(), device="cpu")
        got = scan(itertools.islice(iter_frames(path, deep=False), 80), video, {"faces": detector})
        runs.append({f: [o.raw_box for o, _ in obs] for f, obs in got.detections.items()})
    assert runs[0] == runs[1]
    assert all(f in runs[0] for f in range(30, 44))


def test_the_face_detector_forks_with_a_network_of_its_own() -> None:
    if not verify("centerface", models_dir()).ok:
        pytest.skip("the face model is not installed")
    detector = create_detector(FaceDetectorOptions(), device="cpu")
    other = detector.fork()
    assert other is not detector and other.net is not detector.net
    image = np.full((120, 160, 3), 90, np.uint8)
    assert len(other.detect(image, 0)) == len(detector.detect(image, 0)) == 0
    assert scan_module._forks({"faces": detector}) is not None
