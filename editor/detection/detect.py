"""The Python API of automatic detection: :func:`detect_objects` (used by the CLI's
``--detect``, the pipeline and the web UI's "Detect faces").

Example::

    from editor.detection import DetectOptions, detect_objects
    found = detect_objects("street.mp4", ["faces", "plates"], DetectOptions(min_score=0.6))
    found.prompts.save("detected.json")   # objects face-1…, plate-1…, for `trackedit run --prompts`
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from editor.api.backends import BackendContext, BackendOptions
from editor.api.detectors import Detector, FrameDetection
from editor.api.errors import BackendUnavailable, PluginError, TrackeditError
from editor.api.frames import Frame, VideoInfo
from editor.api.prompts import PromptSet
from editor.detection import person_ids
from editor.detection.association import Track
from editor.detection.objects import frame_detections, objects_from_tracks
from editor.detection.options import DetectOptions
from editor.detection.scan import ScanProgress, scan
from editor.detection.schedule import Cadence
from editor.tracking.frame_cache import FrameCache


@dataclass
class DetectedObjects:
    """What :func:`detect_objects` found."""

    prompts: PromptSet
    """The detected objects (``face-1``…) with their prompts; empty when nothing was found."""
    tracks: list[Track]
    """The track behind each object, in the same order as ``prompts.objects``."""
    cadence: Cadence
    """Every how many frames the detectors ran."""
    detectors: tuple[str, ...]
    frames: int = 0
    detected_frames: int = 0
    detections: int = 0
    """Detections kept (score ≥ ``min_score``), before the noise rule."""
    cuts: list[int] = field(default_factory=list)
    floor: dict[int, tuple[FrameDetection, ...]] = field(default_factory=dict)
    """Frame → every detection kept there, as redaction covers it (the floor; tracks or not:
    :func:`editor.detection.objects.frame_detections`); give each frame's to
    :attr:`editor.api.stages.FrameItem.detections`."""
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Object id → the frames it may be tracked on (first detection − reach … last
    detection + reach) for the objects detected reliably (:attr:`DetectOptions.reach`);
    give them to :attr:`editor.tracking.engine.TrackingSession.spans`."""
    seconds: float = 0.0
    """Wall-clock time of the detection pass (decoding, cut detection, detectors, association)."""
    detector_seconds: float = 0.0
    unverified_frames: int = 0
    """Frames where a person region never confirmed by a face was dropped (not redacted:
    :attr:`editor.detection.scan.ScanResult.unverified_frames`)."""

    @property
    def names(self) -> dict[int, str]:
        return self.prompts.names()

    def floor_only(self, detectors: Sequence[str]) -> DetectedObjects:
        """This result without the objects of ``detectors`` (their prompts, tracks and spans):
        their detections stay in :attr:`floor`, as detections that joined no track
        (``object_id`` ``None``), which a redaction covers on their own frames and keep never
        uncovers. The web UI's Detect people runs the face detector for the floor only, so
        that the person objects' masks keep their faces (one object per pixel)."""
        gone = {d.object_id for dets in self.floor.values() for d in dets
                if d.detector in detectors and d.object_id is not None}
        if not gone:
            return self
        kept = [(o, t) for o, t in zip(self.prompts.objects, self.tracks) if o.id not in gone]
        floor = {f: tuple(dataclasses.replace(d, object_id=None) if d.object_id in gone else d for d in dets)
                 for f, dets in self.floor.items()}
        return dataclasses.replace(self, prompts=dataclasses.replace(self.prompts, objects=tuple(o for o, _ in kept)),
                                   tracks=[t for _, t in kept], floor=floor,
                                   spans={i: s for i, s in self.spans.items() if i not in gone})


def available_detectors(plugins: object) -> list[str]:
    """Names of the registered detectors (sorted); ``plugins`` is a
    :class:`~editor.pipeline.plugin_manager.PluginManager`."""
    return sorted(plugins.detectors)  # type: ignore[attr-defined]


def resolve_detectors(names: Sequence[str], plugins: object, *, device: str = "auto",
                      models_dir: Path | None = None,
                      options: Mapping[str, BackendOptions] | None = None) -> dict[str, Detector]:
    """Build the named detectors, each with its ``options`` (name → its options model's
    instance, e.g. ``BackendSelection.detector_options`` from ``--backend-set
    faces.min_face=24``; default: the model's defaults). Raises
    :class:`~editor.api.errors.BackendUnavailable` (one line) for a name no plugin registers
    (listing the available ones) and for a detector that cannot run here (its reason, e.g.
    how to get a missing model); a failing factory is a
    :class:`~editor.api.errors.PluginError` naming the detector."""
    specs = plugins.detectors  # type: ignore[attr-defined]
    if not names:
        raise BackendUnavailable("no detector named (available: " + (", ".join(sorted(specs)) or "none") + ")")
    unknown = [n for n in names if n not in specs]
    if unknown:
        raise BackendUnavailable(f"no detector {unknown[0]!r} (available: {', '.join(sorted(specs)) or 'none'})")
    context = BackendContext(device, None, models_dir)
    out: dict[str, Detector] = {}
    for name in dict.fromkeys(names):
        spec = specs[name]
        given = (options or {}).get(name)
        settings = given if isinstance(given, spec.options_model) else spec.options_model()
        reason = spec.unavailable(context, settings)
        if reason:
            raise BackendUnavailable(f"detector {name!r}: {reason}")
        try:
            out[name] = spec.factory(context, settings)
        except TrackeditError:
            raise
        except Exception as exc:  # noqa: BLE001 - name the detector
            raise PluginError(f"detector {name!r} could not be created "
                              f"({' '.join(str(exc).split()) or type(exc).__name__})") from exc
    return out


def detect_objects(video: str | Path | VideoInfo, detectors: Sequence[str] | Mapping[str, Detector] | None = None,
                   options: DetectOptions | None = None, *, plugins: object | None = None,
                   existing: Mapping[int, str] | None = None, device: str = "auto",
                   models_dir: Path | None = None, progress: ScanProgress | None = None,
                   keep: FrameCache | None = None) -> DetectedObjects:
    """Find objects automatically in ``video`` and return them as tracked-object prompts.

    ``detectors``: detector names (resolved through ``plugins``, a
    :class:`~editor.pipeline.plugin_manager.PluginManager`; default: a new one with the
    installed plugins), or ready :class:`~editor.api.detectors.Detector` objects by name;
    ``None``: ``options.detectors``. ``options``: :class:`DetectOptions` (cadence, minimum
    score, shape, margin…). ``existing``: the objects already there (id → name, e.g.
    ``PromptSet.names()``) — detected ones take the ids after them and skip their names.
    ``progress(done, total)`` per frame read.

    The video is decoded once, 8-bit. ``keep``: an empty frame cache that receives every
    frame read, tracking-only with its decoded planes
    (:meth:`~editor.tracking.frame_cache.FrameCache.put`), so that tracking and the output
    need not decode the video again (:meth:`editor.tracking.engine.TrackingSession.stream`,
    ``decoded``); the frames are the pipeline's own only for a source of 8 bits or fewer read
    without deinterlacing (the caller's to check). Returns :class:`DetectedObjects` (``prompts`` empty
    when nothing was found). Raises :class:`~editor.api.errors.InputError` for an unreadable
    video and the errors of :func:`resolve_detectors`.
    """
    from editor.video.reader import iter_frames, probe

    options = options or DetectOptions()
    info = video if isinstance(video, VideoInfo) else probe(Path(video))
    if detectors is None:
        detectors = options.detectors
    if not isinstance(detectors, Mapping):
        if plugins is None:
            from editor.pipeline.plugin_manager import PluginManager

            plugins = PluginManager()
        detectors = resolve_detectors(list(detectors), plugins, device=device, models_dir=models_dir)
    start = time.perf_counter()
    frames = iter_frames(info.path, deep=False, keep_planes=keep is not None, stream=info.index)
    try:
        found = scan(frames if keep is None else _kept(frames, keep), info, detectors, options, progress=progress)
    finally:
        frames.close()
    existing = existing or {}
    first_id = max(existing, default=0) + 1
    taken = [n for n in existing.values() if n]
    bridge = options.bridge if options.bridge is not None else 2 * found.cadence.every
    tracks = found.tracks
    if any(t.label == person_ids.LABEL for t in tracks):  # people keep their ids through a long merge
        from editor.video.random_access import FrameSource

        with FrameSource(info.path, stream=info.index) as source:
            tracks = person_ids.rejoin(tracks, lambda i: source[i].rgb8, info.width)
    pairs = objects_from_tracks(tracks, options, info.width, info.height, first_id=first_id,
                                taken_names=taken, bridge=bridge)
    reach = options.reach if options.reach is not None else 2 * found.cadence.every
    spans = {o.id: span for o, t in pairs
             if (span := reliable_span(t, found.detected_frames, options.reliable, reach, width=info.width,
                                       height=info.height)) is not None}
    return DetectedObjects(PromptSet(tuple(o for o, _ in pairs)), [t for _, t in pairs], found.cadence,
                           tuple(detectors), found.frames, len(found.detected_frames), found.detection_count,
                           found.cuts, frame_detections(found.detections, pairs, options, width=info.width,
                                                        height=info.height, frames=found.frames, cuts=found.cuts),
                           spans,
                           time.perf_counter() - start, found.detector_seconds, found.unverified_frames)


def _kept(frames: Iterator[Frame], cache: FrameCache) -> Iterator[Frame]:
    """``frames``, each put in ``cache`` (tracking-only) as it passes: the cache holds its
    own copy of the image (the copy it keeps in memory is made read-only, the detectors get
    the frame as it was). The frames go on without their planes (and the reader's RGB copy
    in them): the detectors never read them, and the frames waiting for the detection
    threads take the memory :data:`~editor.detection.scan.PARALLEL_BYTES` counts on."""
    for frame in frames:
        cache.put(dataclasses.replace(frame, image=frame.image.copy()), tracking_only=True)
        yield dataclasses.replace(frame, planes=None)


def reliable_span(track: Track, detected_frames: Sequence[int], reliable: float, reach: int, *,
                  width: int = 0, height: int = 0) -> tuple[int, int] | None:
    """(0, last + ``reach``) for a track detected at least twice and on at least ``reliable``
    of the ``detected_frames`` (where the detectors ran) between its first and last
    detection; ``None`` otherwise (see :attr:`DetectOptions.reach`). No lower bound: before
    its first detection an object is tracked back as far as the tracker follows it (a small
    or half-hidden face found a few frames late; the backward pass covers those frames).

    Given the frame's ``width`` and ``height``, only a track whose last detection lies within
    one box size of the frame's border gets the bound: it left the view (the floor follows
    it out, :func:`editor.detection.objects.carried`). One that stops being detected in the
    middle of the frame may well still be there — a detector's recall on small, turned or
    blurred faces is not 1 — and is tracked on while the evidence module verifies its
    appearance where it is."""
    seen = {o.frame for o in track.observations}
    if len(seen) < 2:
        return None
    first, last = min(seen), max(seen)
    rounds = sum(1 for f in detected_frames if first <= f <= last)
    if len(seen) < reliable * max(1, rounds):
        return None
    if width > 0 and height > 0:
        x0, y0, x1, y1 = track.last.raw_box
        size = max(x1 - x0, y1 - y0)
        if x0 >= size and y0 >= size and x1 <= width - size and y1 <= height - size:
            return None
    return 0, last + reach
