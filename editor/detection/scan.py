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

import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np

from editor.api.detectors import Detection, Detector
from editor.api.errors import PluginError, TrackeditError
from editor.api.frames import Frame, VideoInfo
from editor.api.masks import encode_mask_png
from editor.detection.association import (
    Associator,
    Observation,
    Track,
    WeakRuns,
    appearance,
    clip_box,
    contained_share,
    iou,
    suppress,
)
from editor.detection.options import DetectOptions
from editor.detection.schedule import Cadence, Schedule
from editor.tracking.shots import ShotDetector

log = logging.getLogger(__name__)

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
    clipping; and the weak ones, score ≥ ``weak_score``, that continued a track) with the
    name of the detector that found it, tracks or not — except those that need evidence and
    joined no kept track (:func:`without_unverified`), unless
    :attr:`DetectOptions.unverified_floor`."""
    cuts: list[int] = field(default_factory=list)
    """Frames that start a new shot."""
    detector_seconds: float = 0.0
    """Time spent in the detectors, in seconds."""
    unverified_frames: int = 0
    """Frames holding a detection that needs evidence whose track was dropped (a person
    region never confirmed by a face, :func:`without_unverified`): in :attr:`detections`
    (the floor) only with :attr:`DetectOptions.unverified_floor`."""

    @property
    def detection_count(self) -> int:
        return sum(len(v) for v in self.detections.values())


def _finite(d: Detection) -> bool:
    return all(math.isfinite(v) for v in d.box) and d.box[2] > d.box[0] and d.box[3] > d.box[1] \
        and math.isfinite(d.score)


WORKERS = 2
"""Detection threads of a pass whose detectors can ``fork()`` (see :func:`scan`). Not taken
from the machine: the detections depend only on the chunks, whichever thread takes them.
On bikes.mp4 (2 busy cores) two one-thread onnxruntime sessions took half the wall-clock
time and half the CPU time of one two-thread session (CenterFace's small per-layer work
does not split well over threads)."""
CHUNK_FRAMES = 16
"""Frames a detection thread takes at a time (a multiple of the face detector's
``fine_every``: its whole-frame fine search falls on a chunk's first frame anyway). Short:
a 90-frame clip splits 48/42 between the threads (with 32: 58/32)."""
CHUNK_BYTES = 192 << 20
"""At most this many bytes of 8-bit RGB frames per chunk: large frames get shorter chunks
(at least 8 frames), which bounds the frames waiting for a thread (about two chunks)."""


def chunk_frames(width: int, height: int) -> int:
    """Frames per chunk for ``width``×``height`` frames: :data:`CHUNK_FRAMES`, fewer (a
    multiple of 8, at least 8) where a chunk would hold more than :data:`CHUNK_BYTES`."""
    fit = CHUNK_BYTES // max(1, width * height * 3)
    return max(8, min(CHUNK_FRAMES, fit - fit % 8))


PARALLEL_BYTES = 512 << 20
"""Frames waiting for the detection threads (about two chunks) may take this much memory
(a detected frame then waits, with its detections, for the in-order stitch: about one chunk
more);
larger frames (above 4K) are detected by one thread, chunk after chunk — the same
detections, since a chunk starts afresh whichever thread takes it."""


def workers_for(width: int, height: int, chunk: int) -> int:
    """Detection threads for ``width``×``height`` frames in chunks of ``chunk``: :data:`WORKERS`,
    or 1 where their waiting frames would pass :data:`PARALLEL_BYTES`."""
    return WORKERS if WORKERS * (chunk + 1) * width * height * 3 <= PARALLEL_BYTES else 1


@dataclass
class _Found:
    """One frame's detections after the filters (what the association needs)."""

    observations: list[Observation]
    names: list[str]
    looks: list
    seconds: float
    weak: list[Observation] = field(default_factory=list)
    """Detections scored in ``[weak_score, min_score)`` that overlap none of the above: they
    may only continue a track (:meth:`~editor.detection.association.Associator.extend`)."""
    weak_names: list[str] = field(default_factory=list)
    weak_looks: list = field(default_factory=list)


def _detect(detectors: Mapping[str, Detector], frame: Frame, options: DetectOptions) -> _Found:
    """Run ``detectors`` on ``frame``: score floor, finite boxes, duplicate suppression,
    clipping, and each kept detection's appearance. Raises what :func:`scan` documents."""
    f, image = frame.index, frame.rgb8
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
    seconds = time.perf_counter() - start
    a = options.association
    found = [d for d in found if _finite(d)]
    kept = suppress([d for d in found if d.score >= options.min_score], a.nms_iou, a.nms_contained)
    weak = [] if options.weak_score >= options.min_score else [
        d for d in suppress([d for d in found if options.weak_score <= d.score < options.min_score],
                            a.nms_iou, a.nms_contained)
        if not any(k.label == d.label and (iou(k.box, d.box) > a.nms_iou
                                           or contained_share(k.box, d.box) >= a.nms_contained) for k in kept)]

    def observe(detections: list[Detection]) -> tuple[list[Observation], list[str]]:
        observations: list[Observation] = []
        names: list[str] = []
        for d in detections:
            box = clip_box(d.box, frame.width, frame.height)
            if box is not None:
                own = d.mask is not None and d.mask.shape == image.shape[:2]
                png = encode_mask_png(d.mask) if own else None
                observations.append(Observation(f, box, tuple(map(float, d.box)), float(d.score), d.label, png,
                                                d.verified, int(np.count_nonzero(d.mask)) if own else None))
                names.append(owner.get(id(d), next(iter(detectors), "")))
        return observations, names

    observations, names = observe(kept)
    weak_obs, weak_names = observe(weak)
    return _Found(observations, names, [appearance(image, o.box) for o in observations], seconds,
                  weak_obs, weak_names, [appearance(image, o.box) for o in weak_obs])


STITCH_IOU = 0.25
"""A detection of the previous frame that no detection of this frame (same detector and
label) overlaps by this much (intersection over union) is looked for again (:func:`_stitch`):
half of :data:`editor.detection.centerface.KNOWN_IOU`, the overlap from which the face
detector takes two boxes on consecutive frames for the same face."""


def _stitch(here: _Found, previous: _Found, frame: Frame, lookers: Mapping[str, Detector],
            options: DetectOptions) -> None:
    """Add to ``here`` (a frame's detections) what ``previous`` (the frame before's, same
    shot) had and ``here`` lacks, where a detector with ``look_again`` finds it again on
    ``frame`` (:class:`~editor.api.detectors.Detector`): the detectors of a parallel pass
    start afresh on each chunk of frames, and a small face their first search misses there
    (where it lies on the network's input grid decides its peak) was bare for the whole
    chunk (a newcomer's clip: 13–16 px faces on frames 16–19 and 64–74) though found on the
    frame before. Stitched in display order on the calling thread, from the detections
    already final, so the result depends on the frames only. Found again with a score of at
    least ``min_score`` they join the kept detections, from ``weak_score`` the weak ones."""
    for name, looker in lookers.items():
        before = [o for o, n in zip(previous.observations + previous.weak, previous.names + previous.weak_names)
                  if n == name]
        now = [o for o, n in zip(here.observations + here.weak, here.names + here.weak_names) if n == name]
        missing = [o for o in before
                   if not any(o.label == m.label and iou(o.box, m.box) >= STITCH_IOU for m in now)]
        if not missing:
            continue
        start = time.perf_counter()
        image = frame.rgb8
        try:
            again = looker.look_again(image, [Detection(o.raw_box, o.score, o.label) for o in missing])  # type: ignore[attr-defined]
        except TrackeditError:
            raise
        except Exception as exc:  # noqa: BLE001 - name the detector
            raise PluginError(f"detector {name!r} failed on frame {frame.index} "
                              f"({' '.join(str(exc).split()) or type(exc).__name__})") from exc
        here.seconds += time.perf_counter() - start
        for d in again:
            if not _finite(d) or d.score < min(options.weak_score, options.min_score):
                continue
            box = clip_box(d.box, frame.width, frame.height)
            if box is None or any(d.label == m.label and iou(box, m.box) >= STITCH_IOU for m in now):
                continue
            o = Observation(frame.index, box, tuple(map(float, d.box)), float(d.score), d.label, None, d.verified)
            now.append(o)
            if d.score >= options.min_score:
                here.observations.append(o)
                here.names.append(name)
                here.looks.append(appearance(image, box))
            else:
                here.weak.append(o)
                here.weak_names.append(name)
                here.weak_looks.append(appearance(image, box))


def _restart(detectors: Mapping[str, Detector]) -> None:
    """A detector that follows frames starts afresh (a cut, or a chunk's first frame)."""
    for detector in detectors.values():
        reset = getattr(detector, "new_shot", None)
        if callable(reset):
            reset()


def _forks(detectors: Mapping[str, Detector]) -> list[dict[str, Detector]] | None:
    """:data:`WORKERS` independent sets of the detectors when every one can ``fork()``."""
    if not detectors or not all(callable(getattr(d, "fork", None)) for d in detectors.values()):
        return None
    return [{name: d.fork() for name, d in detectors.items()} for _ in range(WORKERS)]  # type: ignore[attr-defined]


def _warn_limits(detectors: Mapping[str, Detector], video: VideoInfo) -> None:
    """One warning per detector that says it cannot find everything on frames of this size
    (``limits(width, height)``, :class:`~editor.api.detectors.Detector`)."""
    for name, detector in detectors.items():
        limits = getattr(detector, "limits", None)
        line = limits(video.width, video.height) if callable(limits) else None
        if line:
            log.warning("--detect %s: %s", name, line)


def scan(frames: Iterable[Frame], video: VideoInfo, detectors: Mapping[str, Detector],
         options: DetectOptions | None = None, *, progress: ScanProgress | None = None) -> ScanResult:
    """Run ``detectors`` (name → detector) over ``frames`` (every frame of ``video`` in
    display order; deep frames are seen 8-bit) and return the tracks and every frame's
    detections.

    Detectors that can ``fork()`` (an independent instance with the same model and options,
    see :class:`~editor.api.detectors.Detector`) run on :data:`WORKERS` threads, each taking
    chunks of :func:`chunk_frames` consecutive frames in turn and starting each chunk afresh
    (``new_shot()``, as at a cut): which frames a detector sees in sequence is fixed by the
    video, never by the machine's speed, so two runs give the same detections. Cuts,
    association, the noise rule and the stitch across chunk starts (:func:`_stitch`: what
    the frame before had and a frame lacks, looked for again by a detector's ``look_again``)
    stay in display order on the calling thread. Other detectors run on the calling thread,
    frame after frame.

    A detector raising :class:`~editor.api.errors.TrackeditError` stops the pass with it;
    any other exception becomes a :class:`~editor.api.errors.PluginError` naming the
    detector and the frame.
    """
    options = options or DetectOptions()
    _warn_limits(detectors, video)
    schedule = Schedule(options.every)
    assoc = Associator(options.association, every=options.every)
    shots = ShotDetector()
    result = ScanResult([], Cadence(options.every))
    total = video.frame_count or video.frame_count_estimate
    forks = _forks(detectors)

    def marked() -> Iterator[tuple[Frame, bool, bool]]:
        """(frame, a cut before it, detectors due) in display order."""
        for frame in frames:
            cut = shots.update(frame.rgb8)
            if cut:
                result.cuts.append(frame.index)
            yield frame, cut, schedule.due(frame.index, cut)

    if forks is None:
        def found_frames() -> Iterator[tuple[int, bool, _Found | None, Frame]]:
            for frame, cut, due in marked():
                if cut:
                    _restart(detectors)
                yield frame.index, cut, _detect(detectors, frame, options) if due else None, frame
        stream = found_frames()
        lookers = {name: d for name, d in detectors.items() if callable(getattr(d, "look_again", None))}
    else:
        chunk = chunk_frames(video.width, video.height)
        stream = _parallel(marked(), forks[:workers_for(video.width, video.height, chunk)], options, chunk)
        lookers = {name: d.fork() for name, d in detectors.items()  # type: ignore[attr-defined]
                   if callable(getattr(d, "look_again", None))}
    runs = WeakRuns(options.every)
    previous: _Found | None = None
    try:
        for f, cut, here, frame in stream:
            if cut:
                assoc.cut()
                runs.cut()
                previous = None
            if here is not None and previous is not None and lookers:
                _stitch(here, previous, frame, lookers, options)
            previous = here
            if here is not None:
                result.detector_seconds += here.seconds
                result.detected_frames.append(f)
                assoc.update(f, here.observations, here.looks)
                taken = assoc.extend(f, here.weak, here.weak_looks)
                kept = list(zip(here.observations, here.names)) + [
                    (o, name) for o, name, track in zip(here.weak, here.weak_names, taken) if track]
                if kept:
                    result.detections[f] = kept
                untaken = [(o, name) for o, name, track in zip(here.weak, here.weak_names, taken) if not track]
                for o, name in runs.update(f, untaken):  # a steady weak face joins the floor
                    result.detections.setdefault(o.frame, []).append((o, name))
            result.frames = f + 1
            if progress is not None:
                progress(f + 1, max(total, f + 1))
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    result.tracks = assoc.tracks()
    verified = without_unverified(result.detections, result.tracks)
    result.unverified_frames = sum(len(found) != len(verified.get(f, ())) for f, found in result.detections.items())
    if not options.unverified_floor:
        result.detections = verified
    return result


def without_unverified(detections: dict[int, list[tuple[Observation, str]]],
                       tracks: list[Track]) -> dict[int, list[tuple[Observation, str]]]:
    """``detections`` (frame → (observation, detector name)) less those that need evidence
    (:attr:`Observation.verified` not ``None``) and belong to none of ``tracks`` (the kept
    ones): a person instance never confirmed by a face is no detection at all, not even for
    redaction's floor."""
    kept = {id(o) for t in tracks for o in t.observations}
    out = {f: [(o, name) for o, name in found if o.verified is None or id(o) in kept]
           for f, found in detections.items()}
    return {f: found for f, found in out.items() if found}


_END = object()


def _parallel(marked: Iterator[tuple[Frame, bool, bool]], forks: list[dict[str, Detector]], options: DetectOptions,
              chunk: int) -> Iterator[tuple[int, bool, _Found | None, Frame]]:
    """The detections of ``marked`` frames (with each frame), in display order, found by one thread per set
    of ``forks``: chunk ``k`` (frames ``k·chunk`` … ``(k+1)·chunk − 1``) goes to thread
    ``k mod len(forks)``, which restarts its detectors at the chunk's first frame and at
    cuts. A feeding thread reads the frames; a failure anywhere stops every thread and is
    raised here; closing the generator stops them too."""
    from editor.pipeline.threads import offer  # here: the pipeline package imports the engine, which imports this

    workers = len(forks)
    stop = threading.Event()
    # a thread's inbox holds the rest of its chunk while the other thread's chunk is fed
    inbox: list[queue.Queue] = [queue.Queue(maxsize=chunk + 1 if workers > 1 else 2) for _ in range(workers)]
    outbox: list[queue.Queue] = [queue.Queue() for _ in range(workers)]
    order: queue.Queue = queue.Queue()
    """Which thread has each frame, in display order (the feeder's record)."""
    failure: list[BaseException] = []

    def put(q: queue.Queue, item: object) -> bool:
        return offer(q, item, stop)

    def feed() -> None:
        try:
            for frame, cut, due in marked:
                k = (frame.index // chunk) % workers
                if not put(inbox[k], (frame, cut, due)):
                    return
                order.put(k)
        except BaseException as exc:  # noqa: BLE001 - raised in the consumer
            failure.append(exc)
            stop.set()
        finally:
            order.put(_END)
            for q in inbox:
                put(q, _END)

    def work(k: int) -> None:
        detectors = forks[k]
        current = None
        try:
            while not stop.is_set():
                try:
                    item = inbox[k].get(timeout=0.1)
                except queue.Empty:
                    continue
                if item is _END:
                    break
                frame, cut, due = item
                if cut or frame.index // chunk != current:
                    _restart(detectors)
                    current = frame.index // chunk
                outbox[k].put((frame.index, cut, _detect(detectors, frame, options) if due else None, frame))
        except BaseException as exc:  # noqa: BLE001 - raised in the consumer
            failure.append(exc)
            stop.set()

    def take(q: queue.Queue) -> object:
        while True:
            try:
                return q.get(timeout=0.1)
            except queue.Empty:
                if failure:
                    raise failure[0] from None

    threads = [threading.Thread(target=feed, name="trackedit-detect-feed", daemon=True)]
    threads += [threading.Thread(target=work, args=(k,), name=f"trackedit-detect-{k}", daemon=True)
                for k in range(workers)]
    for t in threads:
        t.start()
    try:
        while True:
            k = take(order)
            if k is _END:
                if failure:
                    raise failure[0]
                return
            yield take(outbox[k])  # type: ignore[arg-type, index]
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
