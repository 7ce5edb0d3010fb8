"""A headless run's forward pass on a thread of its own beside the backward pass
(``TrackingSession.stream(overlap=True)``, issue 22's speed goal): on real footage with the
real face detector and the default backends, every item is the same as stepping the passes
one after the other — frames, label maps, confidences, detections —, and so are the cuts,
the passes' agreement and the per-frame records; a failure in the forward pass reaches the
consumer; a consumer that stops early (a failing sink, Ctrl-C) leaves no thread behind."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from editor.api.frames import Frame
from editor.backends.assembly import BackendChoice, select_backends
from editor.detection import DetectOptions, detect_objects
from editor.detection.centerface import model_path
from editor.detection.detect import resolve_detectors
from editor.pipeline.plugin_manager import PluginManager
from editor.tracking.engine import TrackingSession
from editor.video.reader import iter_frames, probe

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

pytestmark = pytest.mark.skipif(not model_path().is_file(), reason="the face model is not installed (setup.sh)")


@pytest.fixture(scope="module")
def bikes() -> tuple[Path, object]:
    """bikes.mp4 (five shots, a walking man and cyclists) and its detected faces."""
    clip = SAMPLES / "bikes.mp4"
    if not clip.is_file():
        pytest.skip(f"{clip} missing: run samples/make_samples.py")
    plugins = PluginManager()
    detectors = resolve_detectors(("faces",), plugins)
    return clip, detect_objects(probe(clip), detectors, DetectOptions(detectors=("faces",)))


def _session(clip: Path, found: object, work: Path) -> TrackingSession:
    backends = select_backends(PluginManager(), BackendChoice()).build()
    session = TrackingSession(probe(clip), backends.segmenter, backends.tracker, work_dir=work,
                              refine=backends.refine_options)
    session.add_prompts(found.prompts)  # type: ignore[attr-defined]
    session.spans = dict(found.spans)  # type: ignore[attr-defined]
    session.detections = found.floor  # type: ignore[attr-defined]
    return session


def _forward_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "trackedit-forward"]


def test_the_overlapped_passes_yield_exactly_the_serial_items(bikes: tuple[Path, object], tmp_path: Path) -> None:
    clip, found = bikes
    runs = []
    threads_seen = []
    for overlap in (False, True):
        with _session(clip, found, tmp_path / str(overlap)) as s:
            items = []
            for item in s.stream(iter_frames(clip, deep=True), bidirectional=True,
                                 replay=lambda: iter_frames(clip, deep=True), overlap=overlap):
                items.append(item)
                if len(items) == 1:
                    threads_seen.append(len(_forward_threads()))
            runs.append((items, list(s.stats.cuts), dict(s.pass_agreement), dict(s.stats.confidence),
                         dict(s.stats.states), s.stats.segmented, s.stats.refinement))
    (serial, *facts_a), (overlapped, *facts_b) = runs
    assert threads_seen == [0, 1]  # the forward pass had a thread of its own only when asked
    assert _forward_threads() == []
    assert len(serial) == len(overlapped) == 250
    assert sum(1 for item in serial if item.labels.any()) >= 50  # faces were tracked: a real comparison
    for a, b in zip(serial, overlapped):
        assert a.index == b.index
        assert np.array_equal(a.frame.image, b.frame.image)
        assert np.array_equal(a.labels, b.labels)
        assert a.confidence == b.confidence
        assert a.detections == b.detections
    assert facts_a == facts_b
    assert facts_a[0]  # bikes has cuts: both passes ended tracks at them alike


def test_a_failure_in_the_forward_pass_reaches_the_consumer(bikes: tuple[Path, object], tmp_path: Path) -> None:
    clip, found = bikes

    def failing() -> Iterator[Frame]:
        for frame in iter_frames(clip, deep=True):
            if frame.index == 120:
                raise OSError("the second reading broke")
            yield frame

    with _session(clip, found, tmp_path) as s:
        with pytest.raises(OSError, match="second reading broke"):
            for _ in s.stream(iter_frames(clip, deep=True), bidirectional=True, replay=failing):
                pass
    assert _forward_threads() == []


def test_a_consumer_that_stops_leaves_no_thread(bikes: tuple[Path, object], tmp_path: Path) -> None:
    """A failing sink or Ctrl-C closes the stream after a few items: the forward pass's
    thread (running ahead) and its decoding thread are stopped and joined."""
    clip, found = bikes
    with _session(clip, found, tmp_path) as s:
        stream = s.stream(iter_frames(clip, deep=True), bidirectional=True,
                          replay=lambda: iter_frames(clip, deep=True))
        for _ in range(3):
            next(stream)
        assert len(_forward_threads()) == 1
        stream.close()
    assert _forward_threads() == []
