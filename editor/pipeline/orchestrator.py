"""The streaming pipeline: decode → segment/track → edit stages → sink.

Frames travel at the source's depth (uint8, or uint16 for sources above 8 bits) from the
decoder to the sink, which writes the source's depth by default. Decode, tracking, edits
and encoding run in separate threads joined by bounded queues, so the slowest stage sets
the pace and memory is bounded by the queue sizes (plus the windows stages ask for and
the tracker's on-disk frame cache).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import av.error
import numpy as np

from editor.backends.assembly import BackendChoice, Backends, detector_options, select_backends
from editor.backends.device import check_device_name
from editor.api.errors import InputError, OutputError, PromptError, TrackeditError
from editor.api.files import AtomicOutput, check_output, require_space, scratch_dir
from editor.api.detectors import FrameDetection
from editor.api.limits import queue_frames
from editor.api.masks import (OBJECTS_FILE, MaskFolderWriter, MasksManifest, foreign_entries, iter_mask_folder,
                               load_frame_detections)
from editor.pipeline.keep_continuation import continued_tracks
from editor.pipeline.pictures import picture_redactor
from editor.pipeline.plugin_manager import PluginManager
from editor.pipeline.presets import Preset, build_stages, check_object_selections
from editor.api.prompts import ObjectPrompts, PromptSet
from editor.api.merges import merged_frames
from editor.api.stages import FrameItem, Stage, StageContext, instances_in
from editor.pipeline.threads import raise_if_stopped, threaded
from editor.api.run import DetectionSummary, RunInfo, RunSummary
from editor.detection.association import Track
from editor.detection.person_ids import LABEL as PERSON_LABEL
from editor.detection.objects import combine
from editor.detection.options import DetectOptions, redaction_floor, with_face_floor
from editor.tracking.confidence import read_confidence, write_confidence
from editor.tracking.evidence import EvidenceOptions
from editor.tracking.frame_cache import FrameCache
from editor.tracking.engine import Progress, TrackingSession
from editor.api.frames import Frame, VideoInfo
from editor.video.filters import DEINTERLACERS, is_interlaced
from editor.video.random_access import FrameSource
from editor.video.reader import iter_frames, probe
from editor.video.writer import EncodeOptions, check_output_format

log = logging.getLogger(__name__)

REDACTION_STAGES = frozenset({"blur", "pixelate", "solid", "image"})
"""Built-in stages that hide what they cover: a detection cadence above 1 warns for them."""


@dataclass
class RunRequest:
    """Everything a run needs; the CLI and the web UI fill this in."""

    input: Path
    output: Path | None = None
    source_name: str | None = None
    """What the user named as the input when :attr:`input` is a file made from it (an image
    sequence's pattern, a URL, ``-`` for standard input: :func:`editor.video.inputs.input_file`),
    recorded as a masks folder's ``source``; ``None``: :attr:`input` itself."""
    video_stream: int | None = None
    """The video stream to edit (the container's stream number, ``--video-stream``); default:
    the default-disposition one (:func:`editor.video.reader.video_stream`)."""
    deinterlace: str | None = None
    """``bwdif`` or ``yadif`` (``--deinterlace``): deinterlace the frames before anything sees
    them; the output is progressive. Default: an interlaced source stays interlaced."""
    preset: Preset | None = None
    prompts: PromptSet | None = None
    masks_dir: Path | None = None
    backends: BackendChoice = field(default_factory=BackendChoice)
    """Segmenter, tracker, device, checkpoints, backend options and weak-mask refinement
    (see :mod:`editor.backends.assembly`); the device is also the stages' device."""
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    overwrite: bool = False
    detect_cuts: bool = True
    bidirectional: bool = False
    queue_size: int | None = None
    """Frames each queue between the pipeline's threads holds; ``None``: by frame size
    (:func:`editor.api.limits.queue_frames`)."""
    keep: tuple[str, ...] = ()
    """Names of objects to keep visible (``--keep NAME``): a prompted object (a person whose
    face stays) or a detected one (``face-3``); marked keep
    (:attr:`editor.api.prompts.ObjectPrompts.keep`) like ``"keep": true`` in a prompts file."""
    detect: DetectOptions | None = None
    """Find objects automatically before tracking (``--detect``; :mod:`editor.detection`):
    they join ``prompts`` (ids after the user's), and every object is then tracked in both
    directions (bidirectional). Nothing found and no prompts: the output is a plain
    transcode, with one logged warning."""


@dataclass
class _Objects:
    """What a run tracks: the prompts (the user's and the detected ones; ``None``: nothing
    to track), the backends built for them, and what detection found."""

    prompts: PromptSet | None
    backends: Backends | None = None
    detection: DetectionSummary | None = None
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Detected objects' spans of frames (:attr:`editor.detection.DetectedObjects.spans`)."""
    floor: dict[int, tuple[FrameDetection, ...]] = field(default_factory=dict)
    """Every frame's detections (:attr:`editor.detection.DetectedObjects.floor`): they travel
    with their frames to the stages, which cover them whatever tracking did."""
    tracking: TrackingSession | None = None
    """The session tracking :attr:`prompts` (:meth:`Pipeline._with_session`)."""
    decoded: FrameCache | None = None
    """Every frame the detection pass read, kept for tracking and the output (one decode for
    both: :func:`_shares_decode`); ``None``: they decode the video again."""
    cuts: list[int] = field(default_factory=list)
    """The cuts the detection pass found on those frames."""
    tracks: dict[int, Track] = field(default_factory=dict)
    """Each detected object's track (:attr:`editor.detection.DetectedObjects.tracks`), by id."""
    notices: tuple[str, ...] = ()
    """The backend choice's notices (:attr:`editor.backends.assembly.BackendSelection.notices`),
    logged after the stages are made: a stage that cannot be made is the run's one line."""


class Pipeline:
    """Runs requests with the plugins of one :class:`PluginManager`."""

    def __init__(self, plugins: PluginManager | None = None) -> None:
        self.plugins = plugins or PluginManager()

    # -- shared setup --------------------------------------------------------------------
    def _objects(self, req: RunRequest, video: VideoInfo, progress: Progress | None,
                 work: Path | None = None) -> _Objects:
        """The objects to track: ``req.prompts`` plus, with ``req.detect``, the detected ones
        and every frame's detections (the detection pass reads the video once; with ``work``,
        where :func:`_shares_decode`, its frames are kept there for tracking and the output).
        Backends are built only when there is something to track."""
        if req.masks_dir is not None and req.detect is not None:
            raise TrackeditError("masks_dir renders masks already tracked and detect tracks: give one of them")
        if req.masks_dir is not None:  # --keep names the folder's objects (:meth:`_kept`)
            return _Objects(req.prompts)
        if req.prompts is None and req.detect is None:
            return _Objects(_mark_kept(req.prompts, req.keep, None))
        from editor.detection.detect import detect_objects, resolve_detectors

        detectors = None
        if req.detect is not None:  # an unknown or unavailable detector: one line, before anything else
            req = dataclasses.replace(req, detect=_for_redaction(req))
            detectors = resolve_detectors(req.detect.detectors, self.plugins, device=req.backends.device,
                                          models_dir=req.backends.models_dir,
                                          options=detector_options(self.plugins, req.backends))
        selection = select_backends(self.plugins, req.backends, announce=False)  # said once the stages are made
        backends = selection.build()
        if req.detect is None:
            return _Objects(_mark_kept(req.prompts, req.keep, req.prompts.source if req.prompts else None), backends,
                            notices=selection.notices)
        assert detectors is not None
        scan_progress = (lambda done, total: progress("detect", done, total)) if progress is not None else None
        decoded = None
        if work is not None and _shares_decode(req, video):
            require_space(work, _cache_bytes(video), "the decoded frames kept for tracking "
                          f"({video.frame_count_estimate} frames of {video.width}x{video.height} {video.pix_fmt})")
            decoded = FrameCache(work / "decoded")
        found = detect_objects(video, detectors, req.detect, existing=req.prompts.names() if req.prompts else None,
                               progress=scan_progress, keep=decoded)
        summary = DetectionSummary(found.detectors, found.names, found.cadence.every,
                                   found.detected_frames, found.detections, found.seconds)
        if not found.prompts.objects:
            what = " or ".join(found.detectors)
            floor = sum(1 for dets in found.floor.values() if dets)
            redacts = req.preset is not None and any(s.use in REDACTION_STAGES for s in req.preset.stages)
            rest = f"detections on {floor} frames are redacted on their own frames" if floor and redacts else \
                "only the prompted objects are edited" if req.prompts is not None else \
                "nothing to edit: the output is a plain transcode"
            log.warning("no objects found by %s in %s (%d frames detected, minimum score %g); %s",
                        what, Path(video.path).name, found.detected_frames, req.detect.min_score, rest)
        if found.unverified_frames and req.detect.unverified_floor:
            log.info("person regions no face was seen on, on %d frames of %s, are redacted on their own frames "
                     "(not tracked as people)", found.unverified_frames, Path(video.path).name)
        prompts = _mark_kept(combine(req.prompts, found.prompts.objects), req.keep,
                             req.prompts.source if req.prompts else None)
        return _Objects(prompts, backends if prompts is not None else None, summary, found.spans, found.floor,
                        tracks={o.id: t for o, t in zip(found.prompts.objects, found.tracks)},
                        notices=selection.notices if prompts is not None else (),
                        decoded=decoded if prompts is not None else None, cuts=list(found.cuts))

    def _items(self, req: RunRequest, video: VideoInfo, work: Path, progress: Progress | None,
               objects: _Objects, *, deep: bool = True
               ) -> tuple[Iterator[FrameItem], TrackingSession | None, str | None, str | None]:
        # deep: the source's depth, uint16 RGB for sources above 8 bits (stages that take
        # only 8-bit frames get them through build_stages; tracking works on an 8-bit view)
        frames = _decode(req, video, deep)
        shape = (video.height, video.width)
        if req.masks_dir is not None:
            manifest = MasksManifest.load(req.masks_dir)
            masks = iter_mask_folder(req.masks_dir, manifest.frame_count, video.size)
            floor = load_frame_detections(req.masks_dir)
            confidence = read_confidence(req.masks_dir)  # stages that hide objects hold weak frames' masks

            def from_masks() -> Iterator[FrameItem]:
                n = 0
                for frame in frames:
                    labels = next(masks, None)
                    if labels is None:
                        raise InputError(f"masks cover {manifest.frame_count} frames but the video has more",
                                         req.masks_dir)
                    n += 1
                    yield FrameItem(frame, labels, confidence.get(frame.index, {}), floor.get(frame.index, ()))
                if n != manifest.frame_count:
                    raise InputError(f"masks cover {manifest.frame_count} frames, the video has {n}",
                                     req.masks_dir)
            return from_masks(), None, None, None
        if objects.prompts is None:
            return (FrameItem(f, np.zeros(shape, np.uint8), detections=objects.floor.get(f.index, ()))
                    for f in frames), None, None, None
        assert objects.tracking is not None and objects.backends is not None  # made by _with_session
        tracking, backends = objects.tracking, objects.backends
        bidirectional = req.bidirectional or req.detect is not None
        if bidirectional and objects.decoded is None:  # the backward pass keeps frames on disk: check the space
            require_space(work, _cache_bytes(video), "the frame cache of the backward pass "
                          f"({video.frame_count_estimate} frames of {video.width}x{video.height} {video.pix_fmt})")
        # frames up to where the backward pass starts are read for tracking (cached as raw
        # planes) and made again from those planes for the output; decoded again (replay)
        # only where they have none (see TrackingSession.stream)
        first = _decode(req, video, deep)

        def replay() -> Iterator[Frame]:
            return _decode(req, video, deep)

        tracking.detections = objects.floor
        # with the detection pass's frames kept (objects.decoded) ``first`` is never read
        items = threaded(tracking.stream(first, bidirectional=bidirectional, progress=_stoppable(progress),
                                         replay=replay, decoded=objects.decoded, cuts=objects.cuts),
                         _queue_size(req, video), "track")
        return items, tracking, backends.segmenter_name, backends.tracker_name

    def _with_session(self, req: RunRequest, video: VideoInfo, work: Path, objects: _Objects) -> _Objects:
        """``objects`` with the tracking session made for its prompts (none for a masks folder or
        nothing to track) and, with detection, every detected object lying on a kept object
        on one of its prompted frames kept too (:func:`_kept_faces`): decided once, by the
        face's track, not frame by frame by where the kept object's mask happens to be."""
        if req.masks_dir is not None or objects.prompts is None:
            return objects
        backends = objects.backends or select_backends(self.plugins, req.backends).build()
        evidence = EvidenceOptions(hold_frames=req.detect.hold) \
            if req.detect is not None and req.detect.hold is not None else None
        tracking = TrackingSession(video, backends.segmenter, backends.tracker, work_dir=work,
                                   detect_cuts=req.detect_cuts, refine=backends.refine_options, evidence=evidence)
        tracking.add_prompts(objects.prompts)
        tracking.spans = dict(objects.spans)
        prompts = objects.prompts
        if objects.detection is not None:
            faces = _kept_faces(tracking, objects, req.video_stream)
            if faces:
                prompts = dataclasses.replace(prompts, objects=tuple(
                    dataclasses.replace(o, keep=True) if o.id in faces else o for o in prompts.objects))
        return dataclasses.replace(objects, prompts=prompts, backends=backends, tracking=tracking)

    def _object_names(self, req: RunRequest, objects: _Objects) -> dict[int, str]:
        if req.masks_dir is not None:
            return MasksManifest.load(req.masks_dir).objects
        return objects.prompts.names() if objects.prompts else {}

    def _kept(self, req: RunRequest, objects: _Objects) -> set[int]:
        if req.masks_dir is not None:  # kept in the folder, and by name with --keep
            manifest = MasksManifest.load(req.masks_dir)
            return set(manifest.kept) | {oid for oid, name in manifest.objects.items() if name and name in req.keep}
        return objects.prompts.kept() if objects.prompts else set()

    def _floor(self, req: RunRequest, objects: _Objects) -> dict[int, tuple[FrameDetection, ...]]:
        """Every frame's detections: the masks folder's, or the detection pass's."""
        return load_frame_detections(req.masks_dir) if req.masks_dir is not None else objects.floor

    # -- commands ------------------------------------------------------------------------
    def run(self, req: RunRequest, *, on_frame: Callable[[int], None] | None = None,
            progress: Progress | None = None) -> RunSummary:
        """Edit ``req.input`` with ``req.preset`` into ``req.output``."""
        if req.output is None or req.preset is None:
            raise TrackeditError("run needs an output path and a preset")
        video = _probe(req)
        if req.prompts is not None:
            req.prompts.validate_for_video(video.width, video.height, video.frame_count)
        sink_spec = next((s for s in self.plugins.sinks if s.accepts(req.output)), None)
        if sink_spec is None:
            raise OutputError("no sink can write this kind of output", req.output)
        if sink_spec.name == "video":
            check_output_format(Path(req.output), req.encode.container)
        if req.masks_dir is None:  # a stage selecting an object that cannot exist: before detection
            check_object_selections(req.preset, self.plugins, req.prompts.names() if req.prompts else {},
                                    req.detect.detectors if req.detect is not None else ())
        _check_keep_names(req, self.plugins)
        if req.detect is not None and req.detect.every > 1 and \
                any(s.use in REDACTION_STAGES for s in req.preset.stages):
            log.warning("detecting on every %d%s frame only (--detect-every): between detections only tracking "
                        "covers what the detectors find, and a face the tracker loses there stays visible; "
                        "leave --detect-every out to detect on every frame", req.detect.every,
                        {2: "nd", 3: "rd"}.get(req.detect.every, "th"))
        start = time.perf_counter()
        with scratch_dir("run") as work:
            device = check_device_name(req.backends.device)
            stages: list[Stage] = []
            side_outputs: list[Path] = []
            n = 0
            try:
                # the sink first: it checks the output path before a long detection pass
                encode = req.encode if req.detect is None else dataclasses.replace(
                    req.encode, redacts=True, pictures=picture_redactor(req.detect, self.plugins, req.backends))
                sink = sink_spec.factory(req.output, video, encode, req.overwrite)
                try:
                    objects = self._with_session(req, video, work, self._objects(req, video, progress, work))
                    kept, floor = self._kept(req, objects), self._floor(req, objects)
                    instances = instances_in(floor)
                    context = StageContext(video, self._object_names(req, objects), device, req.output, work,
                                           kept=kept, instances=instances,
                                           merged=merged_frames(floor, kept & instances), overwrite=req.overwrite)
                    stages = build_stages(req.preset, self.plugins, context)
                    for line in objects.notices:
                        log.warning("%s", line)
                    items, tracking, seg_name, trk_name = self._items(req, video, work, progress, objects)
                    info = RunInfo(req.input, req.output, video, [s.id for s in req.preset.stages], seg_name, trk_name)
                    self.plugins.run_started(info)
                    edited = threaded(_chain(items, stages), _queue_size(req, video), "edit")
                    with contextlib.closing(edited):  # a failing sink stops the threads before it
                        for item in edited:
                            sink.write(item.frame)
                            n += 1
                            if on_frame is not None:
                                on_frame(n)
                    sink.close()
                    in_file = getattr(sink, "frames_in_file", None)
                    for stage in stages:
                        side_outputs.extend(Path(p) for p in stage.finish() or ())
                except BaseException:
                    sink.abort()
                    raise
            finally:
                for stage in stages:
                    stage.close()
        summary = RunSummary(n, time.perf_counter() - start, req.output, seg_name, trk_name,
                             tracking.stats if tracking else None, objects.detection, tuple(side_outputs),
                             in_file if isinstance(in_file, int) else None)
        self.plugins.run_finished(info, summary)
        return summary

    def track(self, req: RunRequest, masks_out: Path, *, on_frame: Callable[[int], None] | None = None,
              progress: Progress | None = None) -> RunSummary:
        """Write the tracked label maps of ``req.input`` as a DAVIS-layout masks folder."""
        if req.prompts is None and req.detect is None:
            raise TrackeditError("track needs a prompts file or detection")
        _check_keep_names(req, self.plugins)
        video = _probe(req)
        check_output(masks_out, [Path(req.input)], req.overwrite, directory=True)
        if masks_out.is_dir():  # --overwrite replaces a masks folder, not a folder of other files
            foreign = foreign_entries(masks_out)
            if foreign == [OBJECTS_FILE]:
                raise OutputError(f"is not a masks folder trackedit wrote (no readable {OBJECTS_FILE}); --overwrite "
                                  "replaces only a masks folder: give a new or empty folder", masks_out)
            if foreign:
                listed = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
                raise OutputError(f"holds files a masks folder does not ({listed}); --overwrite replaces only a "
                                  "masks folder: give a new or empty folder", masks_out)
        if req.prompts is not None:
            req.prompts.validate_for_video(video.width, video.height, video.frame_count)
        start = time.perf_counter()
        n = 0
        with AtomicOutput(masks_out, directory=True) as out, scratch_dir("track") as work:
            objects = self._with_session(req, video, work, self._objects(req, video, progress, work))
            for line in objects.notices:
                log.warning("%s", line)
            names = self._object_names(req, objects)
            items, tracking, seg_name, trk_name = self._items(req, video, work, progress, objects, deep=False)
            writer = MaskFolderWriter(out.path, names, req.source_name or str(req.input),
                                      kept=frozenset(self._kept(req, objects)))
            with contextlib.closing(items):  # a failing write stops the decode and tracking threads
                for item in items:
                    writer.write(item.index, item.labels, item.detections)
                    n += 1
                    if on_frame is not None:
                        on_frame(n)
            writer.close()
            if tracking is not None:  # confidence.json beside the masks
                write_confidence(out.path, tracking.stats, names, n)
        return RunSummary(n, time.perf_counter() - start, masks_out, seg_name, trk_name,
                          tracking.stats if tracking else None, objects.detection)


def _natural(name: str) -> tuple:
    """Sort key putting ``face-2`` before ``face-10``."""
    import re

    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name))


def _check_keep_names(req: RunRequest, plugins: PluginManager) -> None:
    """Before any detection: every ``--keep`` name is a prompted object's or one detection can
    give (``face-<n>`` for ``--detect faces``); else a one-line
    :class:`~editor.api.errors.PromptError`. A detected person (``person-<n>``, from
    ``--detect people`` or a masks folder) cannot be kept by name: where two people cross, the
    person model gives both one region and association may hand the id to the other one when
    they part (a newcomer's crossing: the person not kept bare on 50 frames after it) — keep
    is decided by a click's tracking or a face track, never by a person id."""
    import re

    names = MasksManifest.load(req.masks_dir).objects if req.masks_dir is not None else \
        req.prompts.names() if req.prompts else {}
    known = {n for n in names.values() if n}
    labels = [label for d in (req.detect.detectors if req.detect else ()) if d in plugins.detectors
              for label in plugins.detectors[d].labels]
    prompted = set() if req.masks_dir is not None else known  # a masks folder's person-<n> were detected
    for name in req.keep:
        if re.fullmatch(rf"{re.escape(PERSON_LABEL)}-\d+", name) and name not in prompted:
            raise PromptError(f"--keep {name!r}: a detected person's name can pass to someone else where people "
                              "cross (their regions merge into one), so keeping it could show the wrong person: "
                              "click the person and keep that object (--keep NAME, \"keep\": true), or keep "
                              "their face (face-<n>)", req.prompts.source if req.prompts else None)
        if name in known or any(re.fullmatch(rf"{re.escape(label)}-\d+", name) for label in labels):
            continue
        listed = ", ".join(sorted(known, key=_natural)) or "none"
        detected = f"; detection names its objects {', '.join(f'{label}-<n>' for label in labels)}" if labels else ""
        raise PromptError(f"--keep {name!r}: no object of that name (objects: {listed}{detected})",
                          req.prompts.source if req.prompts else None)




def _for_redaction(req: RunRequest) -> DetectOptions:
    """``req.detect`` as a run that redacts (a blur, pixelate, solid or image stage) or keeps
    someone (``--keep``, ``"keep": true``) needs it (:func:`editor.detection.options.redaction_floor`):

    * the face detector added to people: faces are the floor of redaction, and a face the
      person model does not mark as a person (a face with no body under it) was bare on every
      frame of its shot (a newcomer's clip: a pasted face sharp on 29 frames of ``--preset
      blur --detect people``); with keep, a neighbour whose face lies on the kept person
      stays covered only by the face detections (a crossing: the other face bare on 19 of 72
      frames);
    * person regions no face was seen on stay in the floor (detection is the floor; the
      evidence rule only decides which regions become tracked people): a newcomer's 3- and
      4-frame clips left both people bare, and a second person the model saw on a few
      frames only was bare there."""
    assert req.detect is not None
    keeps = bool(req.keep) or (req.prompts is not None and any(o.keep for o in req.prompts.objects))
    redacts = req.preset is not None and any(s.use in REDACTION_STAGES for s in req.preset.stages)
    if req.preset is None:  # track: the masks folder's floor is what a later `run --masks` redaction covers
        return req.detect.model_copy(update={"unverified_floor": True})
    if not (keeps or redacts):
        return req.detect
    if with_face_floor(req.detect) is not req.detect:
        log.info("redacting people: faces are detected too, so that a face the person model misses is covered "
                 "and nobody else's face shows on a kept person")
    return redaction_floor(req.detect)


def _mark_kept(prompts: PromptSet | None, names: tuple[str, ...], source: Path | None) -> PromptSet | None:
    """``prompts`` with the objects named in ``names`` marked keep. Raises
    :class:`~editor.api.errors.PromptError` (one line) for a name no object has."""
    if not names:
        return prompts
    known = {o.name for o in prompts.objects} if prompts is not None else set()
    unknown = [n for n in names if n not in known]
    if unknown or prompts is None:
        listed = ", ".join(sorted((n for n in known if n), key=_natural)) or "none"
        raise PromptError(f"--keep {unknown[0] if unknown else names[0]!r}: no object of that name "
                          f"(objects: {listed})", source)
    wanted = set(names)
    return dataclasses.replace(prompts, objects=tuple(
        dataclasses.replace(o, keep=True) if o.name in wanted else o for o in prompts.objects))


def _kept_faces(tracking: TrackingSession, objects: _Objects, stream: int | None = None) -> set[int]:
    """The detected objects (face tracks) that lie on a kept object on one of its prompted
    frames (:func:`editor.api.stages.lies_on`): that person's face, kept on every frame of
    its track; and the person instance holding that face there alone, their body (:func:`_body`). A face track that ends (hidden while someone crosses in front) is continued only
    by tracking evidence (:func:`editor.pipeline.keep_continuation.continued_tracks`: the kept
    object's own tracked mask, followed without a loss, on the lost track's last detection and
    on the new track's first, no other new face there), never by look: a lookalike coming out
    where the kept person would (a newcomer's copy of the same man behind a pillar) was kept
    bare on 16 frames. Otherwise the kept person is covered from there unless clicked again on
    a later frame. A face kept by name is continued past a split of its track by the same
    evidence (its own tracked mask). Decided by track, once: a face
    lying on the kept object's mask on some other frame may be a neighbour's passing in front
    of them, and stays covered (:func:`editor.api.stages.redaction_layers`). A kept object that is not itself detected and has no detection on it on any of
    its prompted frames is a one-line :class:`~editor.api.errors.PromptError` — keeping a
    person no detector sees there keeps nothing, and most likely the clicks are on someone
    else. (A newcomer's run: one click on a face marked keep, the face blurred on 30 of 120
    frames where the classical tracker's mask of the click slid off the detection; a click
    on face and chest, blurred on all 120: the detected face's mask took those pixels.)"""
    assert objects.prompts is not None
    detected = set(objects.detection.objects) if objects.detection is not None else set()
    kept = [o for o in objects.prompts.objects if o.keep and o.id not in detected]
    faces: set[int] = set()
    if kept:
        with FrameSource(tracking.video_path, cache_size=2, stream=stream) as source:
            own = {obj.id: _faces_on(tracking, objects, obj, source) for obj in kept}
        for obj in kept:
            faces |= own[obj.id] | continued_tracks(tracking, obj, own[obj.id], objects.tracks, objects.floor,
                                                    tracking.work_dir / f"keep-{obj.id}", objects.prompts.source,
                                                    stream)
    # a detected face kept by name (--keep face-3): its track, and the track continuing it where
    # association split the face in two (its box jumped a detector's scale step, or it was
    # missed longer than association waits) — by the same tracking evidence: the kept face's
    # own mask followed without a loss onto the new track's first detection (issue 22)
    for obj in objects.prompts.objects:
        if obj.keep and obj.id in detected and obj.id in objects.tracks:
            faces |= continued_tracks(tracking, obj, {obj.id}, objects.tracks, objects.floor,
                                      tracking.work_dir / f"keep-{obj.id}", objects.prompts.source, stream)
    return faces


def _faces_on(tracking: TrackingSession, objects: _Objects, obj: ObjectPrompts, source: FrameSource) -> set[int]:
    """:func:`_kept_faces` for one kept object (frames decoded from ``source``)."""
    from editor.api.stages import lies_on

    assert objects.prompts is not None
    frames = sorted({p.frame for p in obj.prompts})
    faces: set[int] = set()
    any_found = False
    for f in frames:
        found = objects.floor.get(f, ())
        if not found:
            continue
        mask = tracking.mask_from_prompts(f, obj.id, source[f])
        on = [d for d in found if lies_on(mask, d) and d.object_id != obj.id]
        any_found = any_found or bool(on)
        clicks = [pt for p in obj.prompts if p.frame == f for pt in p.positive_points]
        picked = _one_per_label(on, clicks, obj, f, mask.shape)
        faces |= {d.object_id for d in picked if d.object_id is not None}
        faces |= _body(picked, found, obj.id, mask.shape)
    if not any_found:
        where = f"frame {frames[0]}" if len(frames) == 1 else f"frames {', '.join(map(str, frames[:5]))}"
        raise PromptError(f"{obj.label} is marked keep but no face (or other detection) lies on it at "
                          f"{where}: click the person whose face should stay visible", objects.prompts.source)
    return faces


def _body(picked: list[FrameDetection], found: tuple[FrameDetection, ...], own: int,
          shape: tuple[int, int]) -> set[int]:
    """The person instance holding a kept object's face on one of its prompted frames (frame
    ``shape`` H, W): of the frame's detections ``found``, the one instance (a detection with
    its own mask) on which the kept face — ``picked``, the detections decided to be the kept
    object's there (:func:`_one_per_label`) — lies, when no instance of them does already (a
    click on the face alone: the person around it does not lie on so small a mask). Exactly one
    instance must hold the face, and hold nobody else (:func:`editor.api.stages.alone`: no
    other face near it, no other instance on it); else none (the body stays covered). The
    frames it is then uncovered on are decided frame by frame (:func:`editor.api.stages.kept_pixels`).
    A click on the cyclist's face in the people crossing kept his face, his body blurred on
    every frame (``tests/test_keep_crossing.py``)."""
    from editor.api.stages import alone, lies_on

    faces = [d for d in picked if d.mask_png is None]
    if not faces or any(d.mask_png is not None for d in picked):
        return set()
    h, w = shape
    regions = {id(d): d.region(h, w) for d in found if d.mask_png is not None and d.object_id not in (None, own)}
    holders = [d for d in found if id(d) in regions and any(lies_on(regions[id(d)], face) for face in faces)]
    if len(holders) != 1:
        return set()
    body = holders[0]
    kept = {d.object_id for d in picked if d.object_id is not None} | {body.object_id, own}
    return {body.object_id} if alone(regions[id(body)], found, None, kept) else set()


def _one_per_label(on: list[FrameDetection], clicks: list[tuple[float, float]], obj: ObjectPrompts,
                   frame: int, shape: tuple[int, int]) -> list[FrameDetection]:
    """Of the detections lying on a kept object's mask on ``frame`` (frame ``shape`` H, W), at
    most one per label (a person has one face, is one person instance): where several lie on
    it, only the one whose region holds an include click — and none when no click, or a click
    in several, says which (a box or mask prompt, a click beside the faces). A mask that spread
    over a neighbour (two people side by side taken as one by a person-aware click) kept the
    neighbour's face bare on every frame; a click on the background beside two faces kept the
    wrong one (newcomers' runs). The others stay covered, with one warning naming what is kept."""
    out: list[FrameDetection] = []
    h, w = shape
    for label in sorted({d.label for d in on}):
        group = [d for d in on if d.label == label]
        if len(group) == 1:
            out.extend(group)
            continue
        holding = []
        for d in group:
            region = d.region(h, w) if d.mask_png is not None else None
            x0, y0, x1, y1 = d.box
            if any((region[int(y), int(x)] if region is not None and 0 <= int(y) < h and 0 <= int(x) < w
                    else x0 <= x <= x1 and y0 <= y <= y1) for x, y in clicks):
                holding.append(d)
        what = label or "other"
        if len(holding) == 1:
            out.append(holding[0])
            x0, y0, x1, y1 = holding[0].box
            log.warning("%s is marked keep, and %d %s detections lie on its mask on frame %d: only the one at its "
                        "click (box %d,%d–%d,%d) is kept, the others stay covered", obj.label, len(group), what,
                        frame, x0, y0, x1, y1)
        else:
            log.warning("%s is marked keep, and %d %s detections lie on its mask on frame %d, %s: none of them is "
                        "kept there (click on the face to keep)", obj.label, len(group), what, frame,
                        "with a click in more than one" if holding else "with no click in one")
    return out


def _stoppable(progress: Progress | None) -> Progress:
    """``progress`` (called by tracking once a frame in every phase), then an end of the work
    when the run has been stopped (:func:`editor.pipeline.threads.raise_if_stopped`): a stop
    signal during the backward pass — many frames before the first one is handed on — ends it
    at the next frame, not after the whole pass."""
    def report(phase: str, done: int, total: int) -> None:
        if progress is not None:
            progress(phase, done, total)
        raise_if_stopped()
    return report


def _probe(req: RunRequest) -> VideoInfo:
    """The edited video stream of ``req.input``; deinterlaced on request (then progressive for the writer)."""
    video = probe(req.input, req.video_stream)
    if req.deinterlace is None:
        return video
    if req.deinterlace not in DEINTERLACERS:
        raise TrackeditError(f"--deinterlace takes {' or '.join(DEINTERLACERS)}, not {req.deinterlace!r}")
    if is_interlaced(video.field_order):
        log.warning("deinterlacing the interlaced source (field order %s) with %s: the output is progressive",
                    video.field_order, req.deinterlace)
    else:
        log.info("--deinterlace: %s is progressive; frames flagged interlaced only are deinterlaced",
                 Path(video.path).name)
    return dataclasses.replace(video, field_order="progressive")


def _shares_decode(req: RunRequest, video: VideoInfo) -> bool:
    """Whether the detection pass's frames (8-bit, not deinterlaced) are the very frames
    tracking and the output read (``_decode``), so they can be kept for them instead of
    decoding the video twice: detection on a source of 8 bits or fewer, no deinterlacing,
    no masks folder."""
    return req.detect is not None and req.masks_dir is None and req.deinterlace is None and video.bit_depth <= 8


def _cache_bytes(video: VideoInfo) -> int:
    """Bytes the backward pass's frame cache takes at most: every frame's decoded planes, raw
    (:mod:`editor.tracking.frame_cache`)."""
    try:
        frame = av.VideoFrame(video.width, video.height, video.pix_fmt)
        per_frame = sum(plane.buffer_size for plane in frame.planes)
    except (ValueError, av.error.FFmpegError):
        per_frame = video.width * video.height * 3 * (2 if video.bit_depth > 8 else 1)
    return per_frame * video.frame_count_estimate


def _queue_size(req: RunRequest, video: VideoInfo) -> int:
    return req.queue_size or queue_frames(video.width, video.height, video.bit_depth > 8)


def _decode(req: RunRequest, video: VideoInfo, deep: bool) -> Iterator[Frame]:
    """The frames of ``video`` as the request reads them, from a decoding thread."""
    return threaded(iter_frames(video.path, deep=deep, stream=video.index, deinterlace=req.deinterlace),
                    _queue_size(req, video), "decode")


def _chain(items: Iterator[FrameItem], stages: list[Stage]) -> Iterator[FrameItem]:
    for stage in stages:
        items = stage.run(items)
    return items
