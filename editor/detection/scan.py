"""The detection pass: frames in display order → detections on every frame → tracks.

One pass over 8-bit frames, each read once: shot cuts are detected on every frame (the
engine's :class:`~editor.tracking.shots.ShotDetector`, so the cuts are the ones tracking
will find), the detectors run on the frames :class:`~editor.detection.schedule.Schedule`
says (every frame by default), detections below ``min_score`` are dropped, boxes with
non-finite or empty coordinates are ignored, same-label duplicates suppressed, boxes
clipped to the frame, a detection's own mask (a person) kept as a 1-bit PNG, and the rest associated into tracks
(:class:`~editor.detection.association.Associator`). Every detection kept is also recorded
per frame with its detector's name (:attr:`ScanResult.detections`): the floor that
redaction covers whatever tracking makes of it.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from editor.api.detectors import Detection, Detector
from editor.api.errors import PluginError, TrackeditError
from editor.api.frames import Frame, VideoInfo
from editor.api.masks import encode_mask_png
from editor.detection.association import Associator, Observation, Track, appearance, clip_box, suppress
from editor.detection.options import DetectOptions
from editor.detection.schedule import Cadence, Schedule
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
    detections: dict[int, list[tuple[Observation, str]]] = field(default_factory=dict)
    """Frame → every detection kept there (score ≥ ``min_score``, after suppression and
    clipping) with the name of the detector that found it, tracks or not."""
    cuts: list[int] = field(default_factory=list)
    """Frames that start a new shot."""
    detector_seconds: float = 0.0
    """Time spent in the detectors, in seconds."""

    @property
    def detection_count(self) -> int:
        return sum(len(v) for v in self.detections.values())


def _finite(d: Detection) -> bool:
    return all(math.isfinite(v) for v in d.box) and d.box[2] > d.box[0] and d.box[3] > d.box[1] \
        and math.isfinite(d.score)


def scan(frames: Iterable[Frame], video: VideoInfo, detectors: Mapping[str, Detector],
         options: DetectOptions | None = None, *, progress: ScanProgress | None = None) -> ScanResult:
    """Run ``detectors`` (name → detector) over ``frames`` (every frame of ``video`` in
    display order; deep frames are seen 8-bit) and return the tracks and every frame's
    detections.

    A detector raising :class:`~editor.api.errors.TrackeditError` stops the pass with it;
    any other exception becomes a :class:`~editor.api.errors.PluginError` naming the
    detector and the frame.
    """
    options = options or DetectOptions()
    schedule = Schedule(options.every)
    assoc = Associator(options.association, every=options.every)
    shots = ShotDetector()
    result = ScanResult([], Cadence(options.every))
    total = video.frame_count or video.frame_count_estimate

    for frame in frames:
        f = frame.index
        image = frame.rgb8
        if shots.update(image):
            result.cuts.append(f)
            assoc.cut()
            for detector in detectors.values():  # a detector that follows frames starts afresh
                reset = getattr(detector, "new_shot", None)
                if callable(reset):
                    reset()
        new_shot = bool(result.cuts) and result.cuts[-1] == f
        if schedule.due(f, new_shot):
            start = time.perf_counter()
            found: list[Detection] = []
            owner: dict[int, str] = {}
            for name, detector in detectors.items():
                try:
                    here = detector.detect(image, f)
                except TrackeditError:
                    raise
                except Exception as exc:  # noqa: BLE001 - name the detector
                    raise PluginError(f"detector {name!r} failed on frame {f} "
                                      f"({' '.join(str(exc).split()) or type(exc).__name__})") from exc
                owner.update((id(d), name) for d in here)
                found += here
            result.detector_seconds += time.perf_counter() - start
            result.detected_frames.append(f)
            kept = suppress([d for d in found if _finite(d) and d.score >= options.min_score],
                            options.association.nms_iou, options.association.nms_contained)
            observations: list[Observation] = []
            names: list[str] = []
            for d in kept:
                box = clip_box(d.box, frame.width, frame.height)
                if box is not None:
                    png = encode_mask_png(d.mask) if d.mask is not None and d.mask.shape == image.shape[:2] \
                        else None
                    observations.append(Observation(f, box, tuple(map(float, d.box)), float(d.score), d.label, png))
                    names.append(owner.get(id(d), next(iter(detectors), "")))
            if observations:
                result.detections[f] = list(zip(observations, names))
            assoc.update(f, observations, [appearance(image, o.box) for o in observations])
        result.frames = f + 1
        if progress is not None:
            progress(f + 1, max(total, f + 1))
    result.tracks = assoc.tracks()
    return result
