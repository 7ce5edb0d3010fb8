"""The detection pass: frames in display order → detections every N frames → tracks.

One pass over 8-bit frames, each read once: shot cuts are detected on every frame (the
engine's :class:`~editor.tracking.shots.ShotDetector`, so the cuts are the ones tracking
will find), the detectors run on the frames :class:`~editor.detection.schedule.Schedule`
says, detections below ``min_score`` are dropped, boxes with non-finite or empty
coordinates are ignored, same-label duplicates suppressed, boxes clipped to the frame, and
the rest associated into tracks (:class:`~editor.detection.association.Associator`).
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from editor.api.backends import Tracker
from editor.api.detectors import Detection, Detector
from editor.api.errors import PluginError, TrackeditError
from editor.api.frames import Frame, VideoInfo
from editor.detection.association import Associator, Observation, Track, appearance, clip_box, suppress
from editor.detection.options import DetectOptions
from editor.detection.schedule import WARMUP, Cadence, Schedule, choose_every, time_tracker
from editor.tracking.shots import ShotDetector

ScanProgress = Callable[[int, int], None]
"""``progress(frames done, frames in the video (estimate))``."""


@dataclass
class ScanResult:
    """What a detection pass found."""

    tracks: list[Track]
    """Tracks after the noise rule, by first frame then left to right."""
    cadence: Cadence
    frames: int = 0
    """Frames read."""
    detected_frames: list[int] = field(default_factory=list)
    """Frames the detectors ran on, ascending."""
    detections: int = 0
    """Detections kept (score ≥ ``min_score``, after suppression and clipping)."""
    cuts: list[int] = field(default_factory=list)
    """Frames that start a new shot."""
    detector_seconds: float = 0.0
    """Time spent in the detectors, in seconds."""


def _finite(d: Detection) -> bool:
    return all(math.isfinite(v) for v in d.box) and d.box[2] > d.box[0] and d.box[3] > d.box[1] \
        and math.isfinite(d.score)


def scan(frames: Iterable[Frame], video: VideoInfo, detectors: Mapping[str, Detector],
         options: DetectOptions | None = None, *, tracker: Tracker | None = None,
         progress: ScanProgress | None = None) -> ScanResult:
    """Run ``detectors`` (name → detector) over ``frames`` (every frame of ``video`` in
    display order; deep frames are seen 8-bit) and return the tracks.

    ``tracker``: timed on the first frames for the automatic cadence (``options.every``
    ``None``; see :mod:`editor.detection.schedule`). A detector raising
    :class:`~editor.api.errors.TrackeditError` stops the pass with it; any other exception
    becomes a :class:`~editor.api.errors.PluginError` naming the detector and the frame.
    """
    options = options or DetectOptions()
    automatic = options.every is None
    schedule = Schedule(options.every, WARMUP if automatic else 0)
    assoc = Associator(options.association, every=options.every or 1)
    shots = ShotDetector()
    result = ScanResult([], Cadence(options.every or 1, None, None, automatic))
    warm: list[Frame] = []
    timings: list[float] = []
    first_box: tuple[float, float, float, float] | None = None
    most = 0
    total = video.frame_count or video.frame_count_estimate

    def settle() -> None:
        nonlocal first_box
        detector_s = min(timings) if timings else 0.0
        tracker_s = time_tracker(tracker, video, warm, first_box) if tracker is not None else None
        every = choose_every(detector_s, tracker_s, objects=most, max_share=options.max_share,
                             max_every=options.max_every)
        schedule.every = assoc.every = every
        result.cadence = Cadence(every, detector_s, tracker_s, True)
        warm.clear()

    for frame in frames:
        f = frame.index
        image = frame.rgb8
        if shots.update(image):
            result.cuts.append(f)
            assoc.cut()
        new_shot = bool(result.cuts) and result.cuts[-1] == f
        if automatic and f < WARMUP:
            warm.append(frame.as_8bit())
        if schedule.due(f, new_shot):
            start = time.perf_counter()
            found: list[Detection] = []
            for name, detector in detectors.items():
                try:
                    found += detector.detect(image, f)
                except TrackeditError:
                    raise
                except Exception as exc:  # noqa: BLE001 - name the detector
                    raise PluginError(f"detector {name!r} failed on frame {f} "
                                      f"({' '.join(str(exc).split()) or type(exc).__name__})") from exc
            spent = time.perf_counter() - start
            result.detector_seconds += spent
            result.detected_frames.append(f)
            if automatic and f < WARMUP:
                timings.append(spent)
            kept = suppress([d for d in found if _finite(d) and d.score >= options.min_score],
                            options.association.nms_iou, options.association.nms_contained)
            observations = []
            for d in kept:
                box = clip_box(d.box, frame.width, frame.height)
                if box is not None:
                    observations.append(Observation(f, box, tuple(map(float, d.box)), float(d.score), d.label))
            result.detections += len(observations)
            if observations and first_box is None:
                first_box = observations[0].box
            most = max(most, len(observations)) if f < WARMUP else most
            assoc.update(f, observations, [appearance(image, o.box) for o in observations])
        if automatic and f == WARMUP - 1:
            settle()
        result.frames = f + 1
        if progress is not None:
            progress(f + 1, max(total, f + 1))
    if automatic and result.frames < WARMUP:
        settle()
    result.tracks = assoc.tracks()
    return result
