"""The tracking engine: one :class:`TrackingSession` turns prompts into masks and propagates
them, for the web UI, the Python API and headless runs alike (in the spirit of SAM 2's
video predictor, which drives both of its modes from one inference state).

One session holds the objects and their prompts, the masks segmented from them, the
tracker's propagation passes (one per direction, with their memory), what is known about
shot cuts, weak-mask refinement and statistics. Two drivers use the same steps:

* :meth:`TrackingSession.propagate` — interactive: from any frame, in one direction, as a
  generator that can be stopped (pause) and resumed after corrections; frames are fetched
  by index; label maps are kept in the session folder (DAVIS layout).
* :meth:`TrackingSession.stream` — headless, over frames decoded once in order: each
  object is segmented on its first prompted frame and tracked **backward** to frame 0 and
  **forward** to the end; prompts on later frames are corrections. Frames up to the last
  first prompt are cached losslessly on disk for the backward pass; everything else
  streams, so memory does not grow with the video. ``bidirectional=True`` also starts the
  backward pass from every later prompt, and each frame between two prompts of an object
  takes the prediction propagated from the nearer one — unless the other pass is surer
  of its track there (the higher weakest confidence since its prompt, :meth:`_surer_pass`).

Rules shared by both (each implemented once, here):

* Prompts → mask: the segmenter gets an object's points/boxes on a frame together with its
  mask prompts (image files, resolved against the prompts file's folder and checked
  against the frame size); the mask is computed once per (frame, object) and reused by
  both directions until that frame's prompts change.
* Overlaps: where objects' masks overlap, the smaller object wins (ties: lower id), both
  for prompt masks handed to the tracker and for the label maps produced.
* Shot cuts end every track, in both directions; objects come back only when prompted
  again in the new shot. Cuts are detected once on frames visited in display order; a
  pass that walks backward over frames seen in order uses those cuts, otherwise it detects
  on its own frames in its order.
* Weak-mask refinement is attached to every pass (:mod:`editor.tracking.refinement`).
* Evidence (:mod:`editor.tracking.evidence`), the same for every tracker: each mask the
  tracker reports is compared with the object's confident views; masks that grew without
  evidence are trimmed, inconsistent ones are replaced by the last good mask moved by the
  motion (held) or the object is lost (nothing output, the tracker stops tracking it);
  lost objects are searched for on every frame and re-acquired, once verified, like a
  prompt. Trackers whose passes take a review (:class:`~editor.api.backends.ReviewableTrackPass`:
  the classical tracker and XMem) are judged before they memorise a frame, so they continue
  from the engine's decision (masks the review did not see, e.g. XMem's on a prompted frame,
  are judged after the step, and a tracker that dropped an object gets the engine's mask on
  the next step). Other trackers cannot continue from a decision: their masks are only
  scored (kept as they are, with their confidence). Passes whose model judges presence
  itself (:class:`~editor.api.backends.ScoredTrackPass`: SAM 2's occlusion head) give the
  state, combined with that score (:mod:`editor.tracking.model_confidence`).
* Confidence: every (frame, object) the passes produce gets a confidence in [0, 1] and a
  state (:meth:`TrackingSession.confidence`, ``stats.confidence`` and ``stats.states``);
  frames below the review threshold are the ones to look at (:meth:`TrackingSession.weak_frames`).
"""
from __future__ import annotations

import bisect
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from editor.api.backends import ReviewableTrackPass, ScoredTrackPass, Segmenter, Tracker, TrackPass
from editor.api.detectors import FrameDetection
from editor.api.errors import PromptError
from editor.api.files import make_scratch_dir
from editor.api.frames import Frame, VideoInfo
from editor.api.limits import check_prompt_counts
from editor.api.masks import MaskFolderWriter, bbox, compose_label_map, frame_png, read_label_png, resolve_overlaps, \
    split_label_map, union, write_label_png
from editor.api.prompts import MAX_OBJECT_ID, ObjectPrompts, Prompt, PromptSet
from editor.api.run import SMALL_CLICK_SHARE, TrackingStats
from editor.api.stages import FrameItem
from editor.backends.classic.morphology import disk
from editor.tracking.confidence import write_confidence
from editor.tracking.corrections import erases, include_spots, local_exclusion, without_exclusions
from editor.tracking.cues.agreement import agreed_confidence, pass_agreement
from editor.tracking.cues.calibration import probability
from editor.tracking.cues.tuning import LOST_UNSEEN_SHARE
from editor.tracking.model_confidence import judge_by_model
from editor.tracking.evidence import Evidence, EvidenceOptions, Verdict
from editor.tracking.frame_cache import FrameCache
from editor.tracking.refinement import MaskRefiner, Refinement, RefineOptions, \
    resolve_refinement
from editor.tracking.shots import ShotDetector
from editor.video.random_access import FrameSource
from editor.video.reader import probe

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)`` of :meth:`TrackingSession.stream`; phases ``cache``,
``backward``, ``forward``."""

_CACHED = object()
"""Stands for a frame the decoded cache holds whose cuts are known (not read in step 1)."""

BACKWARD_HISTORY: int | None = None
"""Frames of an object's dense run of prompts the backward pass of a bidirectional
:meth:`TrackingSession.stream` hands it before each frame it must track back from (see
:func:`backward_prompts`); ``None``: every prompt (the whole pass). 8 (the evidence's motion
memory: velocity blended with weight 0.6, 0.4⁸ ≈ 0.07 % left) cut the crowd's tracking CPU by
40 %, but it moves where the backward pass starts, and the classical tracker's backward masks
depend on that: the generated motion-blurred face (``benchmarks.redaction``), which the
detector never finds on its first 14 frames, was left bare on frames 0–2 (covered with every
prompt). Until what covers frames before a first detection is part of the floor rather than
of the tracker, every prompt is given."""


def backward_prompts(frames: Sequence[int], history: int | None = BACKWARD_HISTORY) -> set[int]:
    """The prompt frames (``frames``: one object's, ascending) a bidirectional backward pass
    gives the object: each frame it must be tracked back from — its first prompt, and every
    prompt that ends a gap of 3 or more frames (the gap's frames nearer that prompt come
    from the backward pass) — and the prompts at most ``history`` frames above such a frame.

    The backward pass's masks are used only before an object's first prompt and in the
    later half of its gaps; along a dense run of prompts (a detection on every frame) the
    forward pass gives the masks. Handing the object only these prompts lets the backward
    pass start at the highest of them instead of at the last prompt: frames above it are
    neither cached nor stepped backward. With ``history`` at least the span of ``frames``
    every prompt is given (the pass as before, up to its starting frame)."""
    if history is None:
        return set(frames)
    starts = [f for i, f in enumerate(frames) if i == 0 or f - frames[i - 1] >= 3]
    out: set[int] = set()
    for f in frames:
        i = bisect.bisect_right(starts, f) - 1
        if f - starts[i] <= history:
            out.add(f)
    return out


def needs_backward(frames: Sequence[int]) -> bool:
    """Whether a bidirectional backward pass gives an object with prompts on ``frames``
    (ascending, distinct) anything: masks before its first prompt (it is not frame 0), or
    masks, confidences or the passes' agreement on a frame between two of its prompts (one
    frame or more missing). ``False`` for a prompt on every frame from frame 0 to the last
    (a person detected on every frame from the first): the forward pass gives every frame."""
    return bool(frames) and (frames[0] > 0 or frames[-1] - frames[0] + 1 != len(frames))


@dataclass
class ObjectState:
    id: int
    name: str = ""
    keep: bool = False
    """Never redacted, nor the faces on it (:attr:`editor.api.prompts.ObjectPrompts.keep`)."""
    prompts: list[Prompt] = field(default_factory=list)
    """In the order given; changed only through :meth:`add` and :meth:`pop` (they keep the
    index by frame)."""
    undone: list[Prompt] = field(default_factory=list)
    """Prompts taken back with :meth:`TrackingSession.undo`, latest last (for redo)."""
    _by_frame: dict[int, list[Prompt]] = field(default_factory=dict, repr=False)

    def add(self, *prompts: Prompt) -> None:
        for p in prompts:
            self.prompts.append(p)
            self._by_frame.setdefault(p.frame, []).append(p)

    def pop(self) -> Prompt:
        """Remove and return the latest prompt."""
        p = self.prompts.pop()
        here = self._by_frame[p.frame]
        here.pop()  # the latest prompt is the last one of its frame
        if not here:
            del self._by_frame[p.frame]
        return p

    def discard(self, prompt: Prompt) -> None:
        """Remove ``prompt`` (the very object, wherever it is in the order given)."""
        self.prompts = [p for p in self.prompts if p is not prompt]
        here = [p for p in self._by_frame.get(prompt.frame, ()) if p is not prompt]
        if here:
            self._by_frame[prompt.frame] = here
        else:
            self._by_frame.pop(prompt.frame, None)

    def on(self, frame: int) -> list[Prompt]:
        """Its prompts on ``frame``, in the order given (a long video with a detector's prompts
        on most frames is not scanned per frame)."""
        return list(self._by_frame.get(frame, ()))


@dataclass(frozen=True)
class StoredMask:
    """A prompt mask kept small: the crop of its bounding box and where it lies (an object
    of a long video prompted on many frames — detections — costs kilobytes per prompt, not
    a full frame). ``crop`` is bool, ``shape`` the frame's (height, width)."""

    shape: tuple[int, int]
    y0: int
    x0: int
    crop: np.ndarray

    @classmethod
    def of(cls, mask: np.ndarray) -> "StoredMask":
        box = bbox(mask)
        if box is None:
            return cls(mask.shape, 0, 0, np.zeros((0, 0), bool))
        x0, y0, x1, y1 = box
        return cls(mask.shape, y0, x0, mask[y0:y1, x0:x1].astype(bool, copy=True))

    @property
    def box(self) -> tuple[int, int, int, int] | None:
        """The mask's :func:`~editor.api.masks.bbox` (x0, y0, x1, y1; ``None``: empty)."""
        h, w = self.crop.shape
        return (self.x0, self.y0, self.x0 + w, self.y0 + h) if h and w else None

    def full(self) -> np.ndarray:
        """The mask at the frame's size (bool H×W, a new array)."""
        out = np.zeros(self.shape, bool)
        h, w = self.crop.shape
        out[self.y0:self.y0 + h, self.x0:self.x0 + w] = self.crop
        return out


@dataclass
class SessionState:
    objects: dict[int, ObjectState] = field(default_factory=dict)
    tracked_frames: set[int] = field(default_factory=set)
    prompt_masks: dict[tuple[int, int], StoredMask] = field(default_factory=dict)
    """(frame, object id) → mask from that frame's prompts (kept until the prompts change)."""


@dataclass(frozen=True)
class ObjectInfo:
    """A read-only snapshot of one object of a session (:meth:`TrackingSession.objects`)."""

    id: int
    name: str
    prompt_frames: tuple[int, ...]
    """The frames with at least one of its prompts, ascending."""
    prompts: int
    """How many prompts it has (several on one frame combine)."""
    undone: int
    """How many prompts :meth:`TrackingSession.redo` can put back."""
    keep: bool = False
    """Kept visible by redaction (:meth:`TrackingSession.set_keep`)."""


class _Cuts:
    """Shot cuts found by one detector fed frames in display order.

    Boundary ``f`` lies between frames f-1 and f; it is *known* when both were fed in one
    consecutive run. Frames are remembered as runs ``[first, last]`` (a handful: a new run
    starts only where an interactive pass jumps), so memory does not grow with the video.
    A frame that does not continue the current run restarts the detector."""

    def __init__(self, found: list[int], enabled: bool = True) -> None:
        self.enabled = enabled
        self.found = found
        """Cut boundaries in the order found (the session's ``stats.cuts``)."""
        self._runs: list[list[int]] = []
        self._detector = ShotDetector()

    def known(self, boundary: int) -> bool:
        return any(a < boundary <= b for a, b in self._runs)

    def covers(self, frame: int) -> bool:
        """Whether frame ``frame`` was fed (or is part of a :meth:`preset` run)."""
        return any(a <= frame <= b for a, b in self._runs)

    def preset(self, frames: int, cuts: Sequence[int]) -> bool:
        """Take the ``cuts`` a :class:`ShotDetector` found fed frames ``0 … frames − 1`` in
        order (the detection pass's, :attr:`editor.detection.DetectedObjects.cuts`) as if
        those frames had been fed here: the same detector on the same frames finds the same
        cuts, without looking at them again. Only before any frame was fed (``False``
        otherwise, and nothing changes; nor when cut detection is off)."""
        if not self.enabled or self._runs or frames <= 0:
            return False
        self._runs.append([0, frames - 1])
        self.found.extend(c for c in cuts if 0 < c < frames)
        return True

    def is_cut(self, boundary: int) -> bool:
        return boundary in self.found

    def observe(self, frame: Frame) -> None:
        f = frame.index
        if not self.enabled or self.covers(f):
            return
        run = self._runs[-1] if self._runs else None
        if run is not None and f == run[1] + 1:
            if self._detector.update(frame.image):
                self.found.append(f)
            run[1] = f
        else:
            self._detector = ShotDetector()
            self._detector.update(frame.image)
            self._runs.append([f, f])


class _Review:
    """What a :class:`~editor.api.backends.ReviewableTrackPass` runs on each frame it
    segments, before it memorises the frame: weak-mask refinement (when on), then the
    evidence checks. Replacements (trimmed, held, found masks; empty masks for lost
    objects) enter the tracker like prompts; the verdicts wait for the engine."""

    def __init__(self, evidence: Evidence, refinement: Refinement | None) -> None:
        self.evidence = evidence
        self.refinement = refinement
        self.given: set[int] = set()
        self.verdicts: dict[int, Verdict] = {}

    def start(self, given: set[int]) -> None:
        self.given = given
        self.verdicts = {}

    def __call__(self, frame: Frame, masks: dict[int, np.ndarray],
                 probabilities: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        refined = self.refinement(frame, masks, probabilities) if self.refinement is not None else {}
        if refined:  # the segmenter re-segmented them: taken like corrections
            self.evidence.learn(frame, refined, "tracked", colours=False)
            self.verdicts.update({oid: Verdict("tracked", 0.8, m, replaced=True) for oid, m in refined.items()})
        shape = frame.image.shape[:2]
        rest = {oid: m for oid, m in masks.items() if oid not in refined and oid not in self.given}
        for oid in self.evidence.tracked() - set(masks) - self.given:
            rest[oid] = np.zeros(shape, bool)  # the tracker has nothing for it: judged too
        verdicts = self.evidence.judge(frame, rest, probabilities, occupied=masks)
        self.verdicts.update(verdicts)
        out = dict(refined)
        for oid, v in verdicts.items():
            if v.replaced:
                out[oid] = v.mask if v.mask is not None else np.zeros(shape, bool)
        return out

    def forget(self, ids: list[int]) -> None:
        if self.refinement is not None:
            self.refinement.forget(ids)


@dataclass
class _Pass:
    """One direction's tracker pass, its evidence and the frame it last stepped."""

    track: TrackPass
    reverse: bool
    last_frame: int
    evidence: Evidence
    review: _Review | None = None
    """Set when the pass takes a review (the evidence judges inside its step)."""
    reseed: dict[int, np.ndarray] = field(default_factory=dict)
    """Masks to give the tracker on the next step (objects it dropped that the evidence kept)."""
    confidence: dict[int, float] = field(default_factory=dict)
    states: dict[int, str] = field(default_factory=dict)
    """Confidence and state of each object on the frame stepped last."""
    detector: ShotDetector = field(default_factory=ShotDetector)
    """For boundaries no in-order visit has seen (an interactive backward pass)."""
    shown: dict[int, int] = field(default_factory=dict)
    """Object id → the last frame of this run of consecutive steps it was output on (held
    masks aside)."""
    recall: Callable[[int], Frame | None] | None = None
    """Frames this pass stepped before, by index (``None`` where no longer at hand), for
    the look-back from a re-acquisition; set by the driver (no look-back without it)."""
    recovered: dict[int, dict[int, tuple[np.ndarray, float, str]]] = field(default_factory=dict)
    """Frame → object id → (mask, confidence, state) found by looking back from a re-acquisition
    on frames this pass output nothing for the object; the driver takes them (:meth:`take`)."""

    def take(self) -> dict[int, dict[int, tuple[np.ndarray, float, str]]]:
        out, self.recovered = self.recovered, {}
        return out


@dataclass
class _Output:
    """One frame's output of a headless run, until it is yielded."""

    frame: Frame
    masks: dict[int, np.ndarray] = field(default_factory=dict)
    confidence: dict[int, float] = field(default_factory=dict)
    states: dict[int, str] = field(default_factory=dict)
    boxes: dict[int, tuple[np.ndarray, tuple[int, int, int, int] | None]] = field(default_factory=dict)
    """Prompt masks handed on as they were made, with their stored box (:class:`_Masks`)."""


class _Masks(dict):
    """A step's masks by object id, and ``boxes``: for the prompt masks handed on unchanged,
    (that very array, its stored box) — a box is used only for the array it was made with."""

    boxes: dict[int, tuple[np.ndarray, tuple[int, int, int, int] | None]]


class TrackingSession:
    """Prompts, propagation and corrections on one video with one segmenter and tracker.

    ``video`` is a file (frames are then fetched by index for :meth:`propagate`) or a
    :class:`VideoInfo` for a session that only streams (:meth:`stream`, e.g. frames from
    an image sequence). ``refine``: weak-mask refinement (default ``auto``: on when the
    segmenter can refine and the tracker can take masks back). ``detect_cuts=False`` never
    ends tracks at shot cuts. ``work_dir`` holds label maps and the backward frame cache (a
    private scratch folder, removed by :meth:`close`, when not given). ``evidence``: the
    thresholds of the evidence checks (:mod:`editor.tracking.evidence`). ``video_stream``: the
    video stream of a file to use (default: the default-disposition one;
    :func:`editor.video.reader.video_stream`).
    """

    def __init__(self, video: str | Path | VideoInfo, segmenter: Segmenter, tracker: Tracker, *,
                 work_dir: Path | None = None, detect_cuts: bool = True,
                 refine: RefineOptions | None = None, evidence: EvidenceOptions | None = None,
                 video_stream: int | None = None) -> None:
        self.refine_options = refine or RefineOptions()
        self.evidence_options = evidence or EvidenceOptions()
        refines = resolve_refinement(self.refine_options, segmenter, tracker)  # before opening anything
        self._refiner: MaskRefiner | None = segmenter if refines else None  # type: ignore[assignment]
        if isinstance(video, VideoInfo):
            self.info = video
            self.frames: FrameSource | None = None
        else:
            self.info = probe(Path(video), video_stream)
            self.frames = FrameSource(self.info.path, stream=self.info.index)
        self.video_path = self.info.path
        self.segmenter = segmenter
        self.tracker = tracker
        self.detect_cuts = detect_cuts
        self._own_dir = work_dir is None
        self.work_dir = make_scratch_dir("session") if work_dir is None else work_dir
        self.masks_dir = self.work_dir / "masks"
        self.masks_dir.mkdir(parents=True, exist_ok=True)
        self.state = SessionState()
        self.stats = TrackingStats(review_below=self.evidence_options.review_below)
        self._prompt_source: Path | None = None
        self._passes: dict[bool, _Pass] = {}
        self._cuts = _Cuts(self.stats.cuts, detect_cuts)
        self.spans: dict[int, tuple[int, int]] = {}
        """Object id → the frames (first, last) it may be tracked on; outside them the
        tracker forgets it and nothing is output for it (a detected object the detector
        stopped seeing, :attr:`editor.detection.DetectedObjects.spans`). Objects not listed
        are tracked wherever the tracker follows them; :meth:`add_prompt` outside an
        object's span removes it (a person's correction overrides the detector)."""
        self.pass_agreement: dict[int, dict[int, float]] = {}
        """Frame → object id → IoU of the forward and backward passes' masks, on the frames
        between two of the object's prompts that both passes reached in the last
        bidirectional :meth:`stream` (:mod:`editor.tracking.cues.agreement`)."""
        self.detections: dict[int, tuple[FrameDetection, ...]] = {}
        """Frame → every detection there (:attr:`editor.detection.DetectedObjects.floor`):
        attached to the frames :meth:`stream` yields and written beside the label maps by
        :meth:`export_masks`, so redaction covers them whatever tracking made of them."""

    @property
    def frame_count(self) -> int | None:
        """Frames of the video: the decodable ones when opened from a file, else what the
        container says (``None`` when it does not say)."""
        return len(self.frames) if self.frames is not None else self.info.frame_count

    # -- objects and prompts ------------------------------------------------------------
    def add_prompt(self, frame: int, object_id: int, *, points: Sequence[tuple[float, float]] | None = None,
                   labels: Sequence[int] | None = None, box: tuple[float, float, float, float] | None = None,
                   mask_path: Path | None = None, name: str = "") -> np.ndarray:
        """Add a prompt for an object on a frame; returns the object's mask there (bool H×W).

        Prompts on the same frame combine (each click refines). A prompt on a frame after
        propagation is a correction: it replaces the prediction there when propagation
        passes (or resumes at) that frame; clicks where the object was tracked edit the
        tracked mask (it is kept as a mask file in the session's folder and given with
        them). A prompt outside the object's span (:attr:`spans`) lifts the span. Raises
        :class:`PromptError` for a frame outside the video, a point outside the frame, a bad
        label, a missing mask file, or more points or prompts than :mod:`editor.api.limits`
        allows.
        """
        if self.frames is None:
            raise PromptError("this session streams frames; give prompts with add_prompts()")
        if not 0 <= frame < len(self.frames):
            raise PromptError(f"frame {frame} is outside 0..{len(self.frames) - 1}")
        if not 1 <= object_id <= MAX_OBJECT_ID:
            raise PromptError(f"object id {object_id} is outside 1..{MAX_OBJECT_ID}")
        points = list(points or [])
        given = self.state.objects.get(object_id)
        over = check_prompt_counts(len(points), len(given.prompts) + 1 if given is not None else 1, 0)
        if over is not None:  # before any work: a segmenter given 100 000 points takes minutes
            raise PromptError(f"too many: {over}")
        labels = list(labels) if labels is not None else [1] * len(points)
        if len(labels) != len(points) or any(lab not in (0, 1) for lab in labels):
            raise PromptError("labels must be one 0 (exclude) or 1 (include) per point")
        if points and box is None and mask_path is None:
            mask_path = self._correction_base(frame, object_id)
        prompt = Prompt(frame, tuple((float(x), float(y)) for x, y in points), tuple(labels), box, mask_path)
        PromptSet((ObjectPrompts(object_id, name, (prompt,)),)).validate_for_video(
            self.info.width, self.info.height, self.frame_count)
        is_new = object_id not in self.state.objects
        obj = self.state.objects.setdefault(object_id, ObjectState(object_id, name))
        if name:
            obj.name = name
        mask = self._append(obj, prompt, is_new)
        obj.undone.clear()  # a new prompt ends the redo history
        lo, hi = self.spans.get(object_id, (frame, frame))
        if not lo <= frame <= hi:  # a person shows it where the detector had ended it: theirs now
            del self.spans[object_id]
        return mask

    def _correction_base(self, frame: int, object_id: int) -> Path | None:
        """Clicks on a frame where the object was tracked and has no prompt yet correct the
        tracked mask (as SAM 2 gives its previous mask with new clicks): the mask is kept as
        a file in the session's folder and given with the clicks (the segmenter edits it).
        ``None`` where there is nothing to correct (never tracked, not there, or prompted)."""
        obj = self.state.objects.get(object_id)
        if obj is None or obj.on(frame):
            return None
        labels = self.label_map(frame)
        if labels is None or not (labels == object_id).any():
            return None
        path = self.work_dir / "corrections" / f"{frame:05d}-{object_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_label_png(path, np.where(labels == object_id, object_id, 0).astype(np.uint8))
        return path

    def add_prompts(self, prompts: PromptSet) -> None:
        """Take every object and prompt of a prompts file (as ``trackedit run`` does); masks
        are segmented lazily, when a pass reaches each prompted frame. Mask files are
        resolved against the prompts file's folder."""
        prompts.validate_for_video(self.info.width, self.info.height, self.frame_count)
        self._prompt_source = prompts.source
        for obj in prompts.objects:
            state = self.state.objects.setdefault(obj.id, ObjectState(obj.id, obj.name))
            state.keep = state.keep or obj.keep
            state.add(*obj.prompts)
            for p in obj.prompts:
                self.state.prompt_masks.pop((p.frame, obj.id), None)

    def add_object(self, name: str = "", object_id: int | None = None) -> int:
        """A new object without prompts yet; returns its id: ``object_id`` (a session reopened
        with its objects' ids) or the next free one, 1…255."""
        oid = max(self.state.objects, default=0) + 1 if object_id is None else object_id
        if oid in self.state.objects:
            raise PromptError(f"object {oid} exists already")
        if not 1 <= oid <= 255:
            raise PromptError("at most 255 objects (ids are the pixel values of the masks)")
        self.state.objects[oid] = ObjectState(oid, name)
        return oid

    def _append(self, obj: ObjectState, prompt: Prompt, is_new: bool = False) -> np.ndarray:
        obj.add(prompt)
        self.state.prompt_masks.pop((prompt.frame, obj.id), None)
        try:
            return self.mask_from_prompts(prompt.frame, obj.id)
        except Exception:
            obj.pop()
            if is_new:
                del self.state.objects[obj.id]
            raise

    def undo(self, object_id: int) -> Prompt | None:
        """Remove the object's latest prompt (returns it; ``None`` if it has none)."""
        obj = self.state.objects.get(object_id)
        if obj is None or not obj.prompts:
            return None
        prompt = obj.pop()
        obj.undone.append(prompt)
        self.state.prompt_masks.pop((prompt.frame, object_id), None)
        return prompt

    def redo(self, object_id: int) -> Prompt | None:
        """Put back the object's latest undone prompt (returns it; ``None`` if nothing to redo)."""
        obj = self.state.objects.get(object_id)
        if obj is None or not obj.undone:
            return None
        prompt = obj.undone.pop()
        self._append(obj, prompt)
        return prompt

    def remove_prompt(self, object_id: int, frame: int, index: int) -> Prompt:
        """Remove the ``index``-th prompt (0-based, in the order given) of the object on
        ``frame`` — a click taken back wherever it is, not only the latest (:meth:`redo`
        puts it back). Returns it; :class:`PromptError` when there is no such prompt."""
        obj = self.state.objects.get(object_id)
        here = obj.on(frame) if obj is not None else []
        if not 0 <= index < len(here):
            raise PromptError(f"object {object_id} has no prompt {index} on frame {frame}")
        prompt = here[index]
        obj.discard(prompt)  # type: ignore[union-attr]
        obj.undone.append(prompt)  # type: ignore[union-attr]
        self.state.prompt_masks.pop((frame, object_id), None)
        return prompt

    def rename(self, object_id: int, name: str) -> None:
        """Rename an object; :class:`PromptError` if there is no such object."""
        if object_id not in self.state.objects:
            raise PromptError(f"no object {object_id}")
        self.state.objects[object_id].name = name

    def set_keep(self, object_id: int, keep: bool) -> None:
        """Mark an object as kept visible by redaction (a person whose face stays, or a
        detected face; :attr:`editor.api.prompts.ObjectPrompts.keep`) or not;
        :class:`PromptError` if there is no such object."""
        if object_id not in self.state.objects:
            raise PromptError(f"no object {object_id}")
        self.state.objects[object_id].keep = bool(keep)

    def kept(self) -> set[int]:
        """Ids of the objects marked keep."""
        return {oid for oid, o in self.state.objects.items() if o.keep}

    def remove_object(self, object_id: int) -> None:
        """Forget an object: its prompts, its masks and its track in running passes."""
        self.state.objects.pop(object_id, None)
        self.spans.pop(object_id, None)
        self.state.prompt_masks = {k: v for k, v in self.state.prompt_masks.items() if k[1] != object_id}
        for p in self._passes.values():
            p.track.end_objects([object_id])
            p.evidence.end([object_id])
            p.reseed.pop(object_id, None)
        for per_frame in (*self.stats.confidence.values(), *self.stats.states.values()):
            per_frame.pop(object_id, None)
        for f in sorted(self.state.tracked_frames):
            path = frame_png(self.masks_dir, f)
            labels = read_label_png(path)
            if (labels == object_id).any():
                labels[labels == object_id] = 0
                write_label_png(path, labels)

    def reset(self) -> None:
        """Drop every object, prompt, mask and tracker memory."""
        self._close_passes()
        self.state = SessionState()
        self.spans.clear()
        self.detections.clear()
        self.stats.confidence.clear()
        self.stats.states.clear()
        shutil.rmtree(self.masks_dir, ignore_errors=True)
        self.masks_dir.mkdir(parents=True)

    def mask_from_prompts(self, frame: int, object_id: int, image: Frame | None = None) -> np.ndarray:
        """The object's mask from its prompts on ``frame`` (bool H×W), segmenting on demand.
        ``image``: that frame, decoded by the caller (a session that streams frames cannot
        fetch it by index)."""
        if image is None and self.frames is None and (frame, object_id) not in self.state.prompt_masks:
            raise PromptError(f"this session streams frames; it cannot fetch frame {frame} by index")
        if image is None and self.frames is not None:
            image = self.frames[frame]
        return self._prompt_mask(image, frame, object_id)

    def _prompt_mask(self, frame: Frame | None, index: int, object_id: int) -> np.ndarray:
        key = (index, object_id)
        if key not in self.state.prompt_masks:
            assert frame is not None
            prompts = self.state.objects[object_id].on(index)
            if not prompts:
                raise PromptError(f"object {object_id} has no prompt on frame {index}")
            masks = [p.mask_image(object_id, self._prompt_source) for p in prompts if p.has_mask]
            for m in masks:
                if m.shape != frame.image.shape[:2]:
                    raise PromptError(f"object {object_id}, frame {index}: mask is {m.shape[1]}x{m.shape[0]}, "
                                      f"the video is {frame.width}x{frame.height}", self._prompt_source)
            # shape prompts (a detector's box or ellipse) are masks, given like mask files
            masks += [p.shape_mask(frame.height, frame.width) for p in prompts if p.shape is not None]
            pointy = [p for p in prompts if p.segments]
            given = [p for p in prompts if p.shape is None]
            try:
                result = self.segmenter.segment(frame.rgb8, index, pointy or given, masks or None)
            except PromptError as exc:
                if exc.source is not None:
                    raise
                obj = self.state.objects[object_id]  # what the segmenter cannot use: which object, where
                label = f"object {object_id}" + (f" ({obj.name!r})" if obj.name else "")
                raise PromptError(f"{label}, frame {index}: {exc.message}", self._prompt_source) from exc
            mask = self._never_erase(frame, index, pointy or given, masks, result.mask.astype(bool))
            self.state.prompt_masks[key] = StoredMask.of(mask)
            self.stats.segmented += 1
            if pointy and not masks:  # clicks alone: a mask of a tiny part is listed for review
                area = int(np.count_nonzero(mask))
                if area < SMALL_CLICK_SHARE * mask.size:
                    self.stats.small_prompts[key] = area
                else:
                    self.stats.small_prompts.pop(key, None)
        return self.state.prompt_masks[key].full()

    def _never_erase(self, frame: Frame, index: int, prompts: list[Prompt], masks: list[np.ndarray],
                     mask: np.ndarray) -> np.ndarray:
        """The segmenter's ``mask`` held to :mod:`editor.tracking.corrections`: exclude clicks
        that would remove more than half of what the other prompts give remove only the
        region around them (the segmenter is asked again without them); include clicks the
        mask misses are added."""
        negatives = [pt for p in prompts for pt in p.negative_points]
        if negatives and not (masks and not erases(mask, union(masks))):
            others = [p for p in without_exclusions(prompts) if p.segments]
            reference = None
            if others:
                reference = self.segmenter.segment(frame.rgb8, index, others, masks or None).mask.astype(bool)
                self.stats.segmented += 1
            elif masks:
                reference = union(masks)
            if reference is not None and erases(mask, reference):
                mask = local_exclusion(frame.rgb8, mask, reference, negatives)
        positives = [pt for p in prompts for pt in p.positive_points]
        return include_spots(mask, positives, negatives) if positives else mask

    def prompt_set(self) -> PromptSet:
        """The session's prompts in the prompt contract (save it for ``trackedit run``)."""
        return PromptSet(tuple(ObjectPrompts(o.id, o.name, tuple(sorted(o.prompts, key=lambda p: p.frame)), o.keep)
                               for _, o in sorted(self.state.objects.items()) if o.prompts))

    def objects(self) -> list[ObjectInfo]:
        """Every object, prompted or not yet, as read-only snapshots in id order."""
        return [ObjectInfo(o.id, o.name, tuple(sorted({p.frame for p in o.prompts})), len(o.prompts), len(o.undone),
                           o.keep)
                for _, o in sorted(self.state.objects.items())]

    def prompts_on(self, frame: int) -> dict[int, tuple[Prompt, ...]]:
        """The prompts on ``frame`` by object id, in the order given (objects without a
        prompt there are left out)."""
        out = {o.id: tuple(o.on(frame)) for _, o in sorted(self.state.objects.items())}
        return {oid: ps for oid, ps in out.items() if ps}

    def prompt_label_map(self, frame: int) -> np.ndarray | None:
        """The label map of the masks from the prompts on ``frame`` alone (segmented on
        demand, as :meth:`mask_from_prompts`; overlaps resolved as everywhere: the smaller
        object wins); ``None`` when no object has a prompt there."""
        ids = self._prompted_on(frame)
        return self._labels({oid: self.mask_from_prompts(frame, oid) for oid in ids}) if ids else None

    def _prompted_on(self, index: int, only: set[int] | None = None) -> list[int]:
        return [o.id for o in self.state.objects.values()
                if (only is None or o.id in only) and o.on(index)]

    # -- one step of a pass (both drivers) ------------------------------------------------
    def _pass(self, reverse: bool, start: int) -> _Pass:
        state = self._passes.get(reverse)
        if state is None:
            state = self._passes[reverse] = self._new_pass(reverse, start)
        return state

    def _new_pass(self, reverse: bool, start: int, evidence: Evidence | None = None) -> _Pass:
        """A tracker pass in one direction, about to step ``start``, with its judge (a new
        one, or ``evidence``: a look-back's fork, whose pass is not refined)."""
        track = self.tracker.new_pass(self.info, reverse=reverse)
        reviewable = isinstance(track, ReviewableTrackPass)
        refines = evidence is None and self._refiner is not None
        evidence = evidence or Evidence(self.evidence_options, acts=reviewable)
        evidence.acts = evidence.acts and reviewable
        review = None
        if reviewable:
            refinement = Refinement(self._refiner, self.refine_options, self.stats.refinement) if refines else None
            review = _Review(evidence, refinement)
            track.set_review(review)
        return _Pass(track, reverse, start + (1 if reverse else -1), evidence, review)

    def _is_cut(self, state: _Pass, frame: Frame) -> bool:
        """Whether a shot cut separates ``frame`` from the frame this pass stepped before."""
        if not self.detect_cuts:
            return False
        f = frame.index
        boundary = f + 1 if state.reverse else f  # the cut between f and its predecessor in the pass
        if abs(f - state.last_frame) != 1:
            state.detector = ShotDetector()  # a jump: compare only consecutive frames
        if self._cuts.known(boundary):
            state.detector = ShotDetector()
            return self._cuts.is_cut(boundary)
        return state.detector.update(frame.image)

    @staticmethod
    def _forget(state: _Pass, ids: list[int]) -> None:
        """End ``ids`` in ``state``'s pass: the tracker and the evidence forget them."""
        state.track.end_objects(ids)
        state.evidence.end([oid for oid in ids if oid in state.evidence.objects])
        for oid in ids:
            state.reseed.pop(oid, None)

    def _step(self, state: _Pass, frame: Frame, prompted: list[int],
              seeds: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
        """Advance ``state`` to ``frame``: end tracks at a cut, look for lost objects, hand
        the tracker the masks of the objects prompted or re-acquired there (overlaps
        resolved), judge what it reports (:mod:`editor.tracking.evidence`) and record each
        object's confidence; keep only known objects. Objects back after frames without a
        mask are looked back from (:meth:`_look_back`). ``seeds``: masks handed to the
        tracker as the evidence already knows them (a look-back's first frame)."""
        frame = frame.as_8bit()  # backends, cut detection and evidence work on 8-bit RGB
        if frame.damaged:  # the reader's mark, kept by the frame cache: trackers predict, never learn
            self.stats.damaged.add(frame.index)
        if not state.reverse:
            self._cuts.observe(frame)
        evidence = state.evidence
        evidence.begin(frame)
        if abs(frame.index - state.last_frame) != 1:
            state.reseed.clear()
            state.shown.clear()
        if self._is_cut(state, frame) and (abs(frame.index - state.last_frame) == 1):
            state.track.end_objects(list(self.state.objects))
            evidence.end(list(evidence.objects))
            state.reseed.clear()
        outside = [oid for oid, (lo, hi) in self.spans.items() if not lo <= frame.index <= hi]
        prompted = [oid for oid in prompted if oid not in outside]
        outside = [oid for oid in outside if oid in evidence.objects]
        if outside:  # past the span of frames they may be on: forgotten (once)
            self._forget(state, outside)
        given = {oid: self._prompt_mask(frame, frame.index, oid) for oid in prompted}
        was_lost = evidence.lost()
        found = {oid: m for oid, m in evidence.search(frame, skip=given, occupied=given).items()
                 if oid in self.state.objects}
        # seeds (a look-back's start) enter like masks the evidence kept: known, not learnt
        reseed = {oid: m for oid, m in {**state.reseed, **(seeds or {})}.items() if oid not in given and oid not in found}
        state.reseed.clear()
        handed = {**reseed, **found, **given}
        given_boxes = {oid: self.state.prompt_masks[(frame.index, oid)].box for oid in given}
        if len(handed) > 1:
            handed = resolve_overlaps(handed, frame.image.shape[:2], given_boxes)
        if state.review is not None:
            state.review.start(set(handed))
        out = state.track.step(frame, handed)
        state.last_frame = frame.index
        verdicts = dict(state.review.verdicts) if state.review is not None else {}
        evidence.learn(frame, {oid: handed[oid] for oid in given if handed[oid].any()}, "prompt",
                       boxes={oid: given_boxes[oid] for oid in given if handed[oid] is given[oid]})
        evidence.learn(frame, {oid: handed[oid] for oid in found if handed[oid].any()}, "found", colours=False)
        confidence: dict[int, float] = {oid: 1.0 for oid in given}
        states: dict[int, str] = {oid: self._prompt_state(frame.index, oid) for oid in given}
        for oid in found:
            confidence[oid], states[oid] = evidence.found_confidence(oid), "found"
        result = {oid: out.get(oid, handed[oid]) for oid in handed if oid not in reseed}
        shape = frame.image.shape[:2]
        late = {oid: m for oid, m in out.items() if oid not in handed and oid not in verdicts}
        for oid in evidence.tracked() - set(out) - set(handed) - set(verdicts):
            late[oid] = np.zeros(shape, bool)  # the tracker dropped it: judged too
        verdicts.update(evidence.judge(frame, late, None, occupied=out))
        for oid in reseed:
            verdicts.setdefault(oid, Verdict("held", self.evidence_options.held_confidence, out.get(oid)))
        lost = []
        for oid, v in verdicts.items():
            confidence[oid], states[oid] = v.confidence, v.state
            if v.mask is not None and v.mask.any():
                result[oid] = v.mask if v.replaced else out.get(oid, v.mask)
                if v.replaced and state.review is None or oid not in out:
                    state.reseed[oid] = v.mask  # the tracker continues from it on the next frame
            else:
                result.pop(oid, None)
                if v.state == "lost":
                    lost.append(oid)
        if lost:
            state.track.end_objects(lost)
        for oid in evidence.lost():
            if oid not in confidence:
                confidence[oid], states[oid] = evidence.absent_confidence(oid), "lost"
        if isinstance(state.track, ScoredTrackPass):  # the model saw it: its presence decides
            judge_by_model(state.track.scores(), confidence, states, state.states, skip=set(given))
        elif self.evidence_options.calibrated:  # the evidence's score → P(IoU ≥ 0.5)
            below = self.evidence_options.review_below
            confidence = {k: probability(v, states.get(k), below) for k, v in confidence.items()}
        known = self.state.objects
        state.confidence = {k: round(float(v), 4) for k, v in sorted(confidence.items()) if k in known}
        state.states = {k: v for k, v in sorted(states.items()) if k in known}
        result = {oid: m for oid, m in result.items() if oid in known}
        back = {oid: result[oid] for oid in result if states.get(oid) == "found" or oid in given and oid in was_lost}
        if back:
            self._look_back(state, frame, back)
        # held masks (the prediction, low confidence) do not count as shown: a look-back replaces them
        state.shown.update({oid: frame.index for oid, m in result.items() if m.any() and states.get(oid) != "held"})
        masks = _Masks(result)
        masks.boxes = {oid: (given[oid], given_boxes[oid]) for oid in given if result.get(oid) is given[oid]}
        return masks

    def _look_back(self, state: _Pass, frame: Frame, masks: dict[int, np.ndarray]) -> None:
        """Objects back on ``frame`` after frames with nothing output for them, or only held
        masks (re-acquired, or prompted again): track each backward from its mask here, over
        at most ``look_back`` of those frames, with a fork of its model in a pass of its own,
        while the evidence accepts what the tracker follows (an object coming in, or out from
        behind something, shows too little to be verified on its first frames, but it can be
        followed back from where it was verified) and its mask does not grow going back (it
        stays within the next frame's, moved a little, and stops where it would be more than
        15 % larger: an object coming in shows more of itself on every frame). What is
        accepted waits in ``state.recovered`` for the driver, which adds it where the object
        has no mask, with a confidence below ``review_below`` (the forward track had lost it
        there: a person should look)."""
        limit = self.evidence_options.look_back
        if not limit or state.recall is None or not state.evidence.acts:
            return
        back = 1 if state.reverse else -1  # towards the frames this pass stepped before
        for oid, mask in masks.items():
            since = state.shown.get(oid)
            if since is None:
                continue  # not output before in this run of steps: nothing to look back to
            frames = [frame.index + back * k for k in range(1, limit + 1)]
            frames = [g for g in frames if (g - since) * back < 0]
            if not frames:
                continue
            mini = self._new_pass(not state.reverse, frame.index, state.evidence.fork([oid]))
            mini.last_frame = frame.index  # a start of its own (no cut to look for before it)
            later = mask
            try:
                self._step(mini, frame, [], seeds={oid: mask})
                for g in frames:
                    earlier = state.recall(g)
                    if earlier is None:
                        break
                    m = self._step(mini, earlier, []).get(oid)
                    if m is None or mini.states.get(oid) not in ("tracked", "held"):
                        break
                    # coming back, an object shows more of itself with every frame: going back,
                    # its mask stays within the one after it (moved a little), never grows
                    # over what hides it or beyond the border
                    r = 2 + int(0.1 * np.sqrt(later.sum()))
                    m = m & (cv2.dilate(later.astype(np.uint8), disk(r)) > 0)
                    if not m.any() or m.sum() > 1.15 * later.sum():
                        break  # nothing, or more than it showed a frame later: not the object
                    # the forward track lost it here: listed for review, whatever the fork says
                    unsure = min(mini.confidence[oid], LOST_UNSEEN_SHARE * self.evidence_options.review_below)
                    state.recovered.setdefault(g, {})[oid] = (m, unsure, mini.states[oid])
                    later = m
            finally:
                mini.track.close()

    @staticmethod
    def _merge(recovered: dict[int, tuple[np.ndarray, float, str]], masks: dict[int, np.ndarray],
               confidence: dict[int, float], states: dict[int, str],
               takes: Callable[[int], bool] = lambda oid: True) -> bool:
        """Add a look-back's masks to one frame's output, for objects without a mask there
        or only a held one (and that ``takes`` accepts); whether anything was added."""
        added = False
        for oid, (mask, conf, state) in recovered.items():
            if oid in masks and states.get(oid) != "held" or not takes(oid):
                continue
            masks[oid], confidence[oid], states[oid] = mask, conf, state
            added = True
        return added

    @staticmethod
    def _chain(running: dict[int, float], frame: int, confidence: dict[int, float],
               prompt_frames: dict[int, list[int]]) -> dict[int, float]:
        """One pass's weakest confidence per object since its last prompt, updated with
        ``frame``'s (``running`` is kept between frames; a prompt starts it at 1; an object
        the pass gives no verdict on counts 0). Returns a copy."""
        for oid, fs in prompt_frames.items():
            if frame in fs:
                running[oid] = 1.0
            elif oid in running:
                running[oid] = min(running[oid], float(confidence.get(oid, 0.0)))
        return dict(running)

    @staticmethod
    def _surer_pass(frame: int, forward: dict[int, float], backward: dict[int, float],
                    prompt_frames: dict[int, list[int]]) -> dict[int, bool]:
        """Between two prompts of an object both passes reach ``frame``; the one whose track
        from its prompt to here is surer — the higher of the two passes' weakest confidence
        since their prompts (:meth:`_chain`) — is output (``True``: the backward pass), the
        nearer prompt's on a tie. The confidences are P(IoU ≥ 0.5)
        (:mod:`editor.tracking.cues.calibration`), and a track is as good as its weakest
        frame: a pass that lost, held or re-acquired the object on the way gives way to one
        that tracked it throughout (the early bunny of the real tuning split, corrected on
        frame 5: the forward pass from there re-acquires him on 9 at 0.4, the backward pass
        from frame 20 tracks him throughout)."""
        out = {}
        for oid, fs in prompt_frames.items():
            if not fs[0] < frame < fs[-1] or frame in fs:
                continue
            f_conf, b_conf = forward.get(oid), backward.get(oid)
            if f_conf is not None and b_conf is not None and f_conf != b_conf:
                out[oid] = b_conf > f_conf
        return out

    def _compare_passes(self, frame: int, item: _Output, forward: tuple[dict[int, np.ndarray], dict[int, float]],
                        backward: tuple[dict[int, np.ndarray], dict[int, float]],
                        prompt_frames: dict[int, list[int]]) -> None:
        """Between two prompts of an object both passes reach ``frame``: record their
        agreement (:attr:`pass_agreement`) and list the frame for review where they disagree
        (:mod:`editor.tracking.cues.agreement`). Only objects both passes have a verdict on
        (tracked, held or lost there; not ended by a cut) are compared."""
        below = self.evidence_options.review_below
        for oid, fs in prompt_frames.items():
            if not fs[0] < frame < fs[-1] or frame in fs or oid not in forward[1] or oid not in backward[1] \
                    or oid not in item.confidence:
                continue
            agreement = pass_agreement(forward[0].get(oid), backward[0].get(oid))
            self.pass_agreement.setdefault(frame, {})[oid] = round(agreement, 4)
            item.confidence[oid] = agreed_confidence(item.confidence[oid], agreement, below)

    def _record(self, frame: int, confidence: dict[int, float], states: dict[int, str]) -> None:
        self.stats.confidence[frame] = dict(sorted(confidence.items()))
        self.stats.states[frame] = dict(sorted(states.items()))

    # -- confidence ----------------------------------------------------------------------
    def confidence(self, frame: int) -> dict[int, float]:
        """Object id → confidence in [0, 1] of what the last propagation output on ``frame``
        (empty if never propagated): 1 for prompts, the weakest evidence for tracked masks,
        the verification score for re-acquisitions, low for held masks, and for lost objects
        how sure the frame holds nothing like them (:mod:`editor.tracking.evidence`)."""
        return dict(self.stats.confidence.get(frame, {}))

    def states(self, frame: int) -> dict[int, str]:
        """Object id → ``prompt``, ``tracked``, ``found``, ``held`` or ``lost`` on ``frame``."""
        return dict(self.stats.states.get(frame, {}))

    def weak_frames(self, below: float | None = None) -> dict[int, list[int]]:
        """Object id → the frames (ascending) whose confidence is below ``below`` (default:
        the evidence's ``review_below``): where a person should look and correct."""
        return self.stats.weak_frames(below)

    def _close_passes(self) -> None:
        for p in self._passes.values():
            p.track.close()
        self._passes.clear()

    # -- interactive driver --------------------------------------------------------------
    def propagate(self, start_frame: int | None = None, *, reverse: bool = False,
                  max_frames: int | None = None) -> Iterator[tuple[int, list[int], list[np.ndarray]]]:
        """Yield ``(frame index, object ids, bool masks)`` frame by frame in one direction.

        Starts at ``start_frame`` (default: the earliest prompted frame going forward, the
        latest going backward). On each frame, objects prompted there enter (or are
        corrected) from their prompts. The tracker's memory of this direction is kept
        between calls, so pausing (closing the generator), correcting and resuming keeps
        what was learnt earlier. Shot cuts end all tracks.
        """
        if self.frames is None:
            raise PromptError("this session streams frames; use stream()")
        prompted = sorted({p.frame for o in self.state.objects.values() for p in o.prompts})
        if not prompted:
            raise PromptError("add a prompt before propagating")
        if start_frame is None:
            start_frame = prompted[-1] if reverse else prompted[0]
        step = -1 if reverse else 1
        stop = -1 if reverse else len(self.frames)
        if max_frames is not None:
            stop = max(-1, start_frame - max_frames) if reverse else min(len(self.frames), start_frame + max_frames)
        state = self._pass(reverse, start_frame)
        frames = self.frames
        state.recall = lambda g: frames[g] if 0 <= g < len(frames) else None
        for f in range(start_frame, stop, step):
            out = self._step(state, self.frames[f], self._prompted_on(f))
            self._store(f, out)
            self._record(f, state.confidence, state.states)
            for g, recovered in state.take().items():  # frames before, where it was coming back
                labels = self.label_map(g)
                masks = split_label_map(labels) if labels is not None else {}
                confidence, states = self.confidence(g), self.states(g)
                if self._merge(recovered, masks, confidence, states):
                    self._store(g, masks)
                    self._record(g, confidence, states)
            ids = sorted(out)
            yield f, ids, [out[i] for i in ids]

    def _prompt_state(self, frame: int, object_id: int) -> str:
        """``interpolated`` where every prompt of the object on ``frame`` is (bridged
        detections), else ``prompt``."""
        obj = self.state.objects.get(object_id)
        here = obj.on(frame) if obj is not None else []
        return "interpolated" if here and all(p.interpolated for p in here) else "prompt"

    def _store(self, frame: int, masks: dict[int, np.ndarray]) -> None:
        write_label_png(frame_png(self.masks_dir, frame), self._labels(masks))
        self.state.tracked_frames.add(frame)

    def _labels(self, masks: dict[int, np.ndarray],
                boxes: Mapping[int, tuple[np.ndarray, tuple[int, int, int, int] | None]] | None = None) -> np.ndarray:
        """The label map of ``masks``; ``boxes``: (array, its box) of some of them (:class:`_Masks`),
        used where ``masks`` still holds that very array."""
        shape = (self.info.height, self.info.width)
        if not masks:
            return np.zeros(shape, np.uint8)
        boxes = getattr(masks, "boxes", {}) if boxes is None else boxes
        known = {oid: box for oid, (array, box) in boxes.items() if masks.get(oid) is array}
        return compose_label_map(masks, shape, known)

    def label_map(self, frame: int) -> np.ndarray | None:
        """The last propagated label map of ``frame`` (None if never propagated)."""
        return read_label_png(frame_png(self.masks_dir, frame)) if frame in self.state.tracked_frames else None

    def reopen(self, confidence: Mapping[int, Mapping[int, float]], states: Mapping[int, Mapping[int, str]]) -> list[int]:
        """Take the label maps already in :attr:`masks_dir` as tracked (a session reopened on
        the work folder it left: the web UI after a server restart), with the confidence and
        states recorded for them; returns those frames. The tracker's memory is not kept: the
        next :meth:`propagate` starts afresh from its prompts and frame."""
        count = self.frame_count or 0
        found = sorted(f for f in range(count)  # its own files only: a planted link is never followed
                       if (p := frame_png(self.masks_dir, f)).is_file() and not p.is_symlink())
        self.state.tracked_frames.update(found)
        for f in found:
            if f in confidence:
                self.stats.confidence[f] = {int(k): float(v) for k, v in confidence[f].items()}
            if f in states:
                self.stats.states[f] = {int(k): str(v) for k, v in states[f].items()}
        return found

    def export_masks(self, folder: Path) -> Path:
        """Write every frame's label map (empty where never propagated) as a masks folder,
        with ``confidence.json`` (:mod:`editor.tracking.confidence`)."""
        names = {o.id: o.name for o in self.state.objects.values()}
        writer = MaskFolderWriter(folder, names, str(self.video_path), kept=frozenset(self.kept()))
        empty = np.zeros((self.info.height, self.info.width), np.uint8)
        count = self.frame_count or self.stats.frames
        for f in range(count):
            labels = self.label_map(f)
            writer.write(f, labels if labels is not None else empty, self.detections.get(f, ()))
        out = writer.close()
        write_confidence(out, self.stats, names, count)
        return out

    # -- headless driver -----------------------------------------------------------------
    def stream(self, frames: Iterator[Frame], *, bidirectional: bool = False,
               progress: Progress | None = None,
               replay: Callable[[], Iterator[Frame]] | None = None,
               decoded: FrameCache | None = None, cuts: Sequence[int] | None = None) -> Iterator[FrameItem]:
        """Track the prompted objects through ``frames`` (every frame of the video, in
        display order, read once) and yield a :class:`FrameItem` per frame, in order.

        ``replay``: a function giving the same frames again from the first (the video decoded
        once more). With it, the frames the backward pass needs are cached as raw decoded
        planes (the 8-bit view made of them again, or held in memory) and the frames yielded
        up to the backward pass's start are made again from those planes
        (:meth:`~editor.tracking.frame_cache.FrameCache.get_output`: the frames the reader
        gave, without decoding them again: at 720p 2–3 ms a frame against 6–7), then ``frames``
        go on. ``replay()`` decodes them again only where a cached frame has no planes
        (packed RGB sources). Either costs far less than writing and reading whole frames
        (image, alpha, planes) as PNG — at 1080p some 20 ms against 300 and more per frame.
        Without it, ``frames`` are cached whole. Where no backward pass runs (not
        ``bidirectional``, or no object needs one: :func:`needs_backward`) nothing is cached
        and ``frames`` themselves are yielded: ``replay`` is not called.

        ``decoded``: a frame cache already holding every frame of the video, tracking-only
        (the detection pass's, :func:`editor.detection.detect.detect_objects` with ``keep``):
        the backward pass reads its frames there and every frame yielded is made again from
        its planes (:meth:`~editor.tracking.frame_cache.FrameCache.get_output`); ``frames``
        are not read (``replay()`` gives the output where a cached frame has no planes). The
        frames are dropped from it as they are yielded, and the label maps of the backward
        pass kept there. ``cuts``: the cuts found on those frames in order (the detection
        pass's), taken instead of looking at the frames for them again (:meth:`_Cuts.preset`).

        Raises :class:`PromptError` when a prompt lies past the last frame.
        """
        progress = progress or (lambda phase, done, total: None)
        prompt_frames = {o.id: sorted({p.frame for p in o.prompts}) for o in self.state.objects.values() if o.prompts}
        if not prompt_frames:
            raise PromptError("add a prompt before tracking")
        first = {oid: fs[0] for oid, fs in prompt_frames.items()}
        f_min = min(first.values())
        # the backward pass covers frames up to the last first prompt (bidirectional: the
        # last prompt it is given, backward_prompts); they are cached on disk for it
        # an object prompted on every frame from frame 0 to its last (a face detected on
        # every frame) takes its masks and verdicts from the forward pass everywhere: it joins
        # the backward pass only at frame 0, where its prompt is (not at all when no object
        # needs the pass: nothing is cached, the pass is not run)
        backward = {oid: backward_prompts(fs, BACKWARD_HISTORY) if bidirectional and needs_backward(fs) else {fs[0]}
                    for oid, fs in prompt_frames.items()}
        horizon = max(max(fs) for fs in backward.values())

        def from_backward(oid: int, f: int) -> bool:
            """Frame ``f`` of ``oid`` comes from the backward pass: before its first prompt,
            and (bidirectional) between two of its prompts when the later one is nearer
            (the default; :func:`backward_at` decides where the passes' confidences differ)."""
            fs = prompt_frames[oid]
            if f < fs[0]:
                return True
            if not bidirectional or f >= fs[-1]:
                return False
            i = bisect.bisect_left(fs, f)  # fs[i - 1] < f <= fs[i] (or f is a prompt frame)
            if fs[i] == f:
                return False
            return fs[i] - f < f - fs[i - 1]

        surer: dict[tuple[int, int], bool] = {}  # (object, frame) between two prompts → the backward pass is surer

        def backward_at(oid: int, f: int) -> bool:
            """The pass output for ``oid`` on ``f``: :func:`from_backward`, except between two
            prompts where one pass is surer of its verdict than the other (:meth:`_surer_pass`)."""
            return surer.get((oid, f), from_backward(oid, f))

        self._close_passes()
        self.pass_agreement.clear()
        cache = decoded if decoded is not None else FrameCache(self.work_dir / "tracking-cache")
        if decoded is not None and cuts is not None:
            n = 0
            while n in decoded:
                n += 1
            self._cuts.preset(n, cuts)
        source = iter(frames)
        pending: Frame | None = None
        for f in range(horizon + 1):  # 1. read (and cache) frames 0..horizon in order
            frame = next(source, None) if decoded is None else \
                (None if f not in decoded else cache.get(f) if self._cuts.enabled and not self._cuts.covers(f)
                 else _CACHED)
            if frame is None:
                oid, where = max(((o, p) for o, fs in prompt_frames.items() for p in fs), key=lambda x: x[1])
                raise PromptError(f"object {oid}: frame {where} is past the end (the video has {f} frames)",
                                  self._prompt_source)
            if frame is not _CACHED:
                self._cuts.observe(frame)
            if horizon > 0:
                if decoded is None:
                    cache.put(frame, tracking_only=replay is not None)
                self.stats.cached_frames += 1
            elif decoded is None:
                pending = frame
            progress("cache", f + 1, horizon + 1)
        back_scores: dict[int, tuple[dict[int, float], dict[int, str]]] = {}
        # each pass's weakest confidence since the object's last prompt (bidirectional runs)
        back_running: dict[int, float] = {}
        back_chain: dict[int, dict[int, float]] = {}
        fwd_running: dict[int, float] = {}
        if horizon > 0:  # 2. backward from the horizon to 0
            back = self._pass(True, horizon)
            back.recall = lambda g: cache.get(g) if g <= horizon else None
            inside: set[int] = set()
            for f in range(horizon, -1, -1):
                here = [o for o, fs in backward.items() if f in fs]
                # prompted here but not given: the forward pass has it from here on down to
                # its next frame to track back from, so the backward pass forgets it till then
                done = [o for o in inside if o not in here and f in prompt_frames[o]]
                if done:
                    self._forget(back, done)
                    inside.difference_update(done)
                inside.update(here)
                cache.put_labels(f, self._labels(self._step(back, cache.get(f), here)))
                back_scores[f] = (back.confidence, back.states)
                if bidirectional:
                    back_chain[f] = self._chain(back_running, f, back.confidence, prompt_frames)
                for g, recovered in back.take().items():  # later frames, where it was coming back
                    masks = split_label_map(cache.get_labels(g))
                    if self._merge(recovered, masks, *back_scores[g]):
                        cache.put_labels(g, self._labels(masks))
                progress("backward", horizon - f + 1, horizon + 1)
        fwd = self._pass(False, f_min)  # 3. forward, merged with the backward results
        # frames up to the horizon for the output: made again from the cache's planes where
        # every one kept them (no second decode; ``frames`` go on past the horizon), else
        # decoded again by ``replay``; nothing cached (horizon 0): ``frames`` go on
        if decoded is None:
            rebuilt = replay is not None and horizon > 0 and all(cache.rebuilds(g) for g in range(horizon + 1))
            replaying = replay is not None and horizon > 0 and not rebuilt
        else:  # every frame from the cache, or (frames without planes) every frame decoded again
            g = 0
            while g in decoded and decoded.rebuilds(g):
                g += 1
            rebuilt = g not in decoded
            replaying = not rebuilt
            if replaying and replay is None:
                raise ValueError("stream: a decoded cache of frames without planes needs replay")
        if replaying:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # stop the first reading (and its decode thread)
            source = iter(replay())
        # output waits ``look_back`` frames: a re-acquisition may still add masks to them
        delay = self.evidence_options.look_back if self.evidence_options.enabled else 0
        waiting: dict[int, _Output] = {}
        fwd.recall = lambda g: waiting[g].frame if g in waiting else None

        def release(item: _Output) -> FrameItem:
            self._record(item.frame.index, item.confidence, item.states)
            return FrameItem(item.frame, self._labels(item.masks, item.boxes), dict(item.confidence),
                             self.detections.get(item.frame.index, ()))

        f = 0
        try:
            while True:
                if decoded is not None and not replaying:
                    if f not in cache:
                        break
                    frame = cache.get_output(f)
                elif f <= horizon and not replaying:
                    frame = (cache.get_output(f) if rebuilt else cache.get(f)) if horizon > 0 else pending
                else:
                    frame = next(source, None)
                    if frame is None:
                        break
                assert frame is not None
                item = _Output(frame)
                if f >= f_min:
                    out = self._step(fwd, frame, self._prompted_on(f))
                    if bidirectional:
                        chain = self._chain(fwd_running, f, fwd.confidence, prompt_frames)
                        surer.update({(oid, f): b for oid, b in
                                      self._surer_pass(f, chain, back_chain.get(f, {}), prompt_frames).items()})
                    item.masks.update({oid: m for oid, m in out.items() if not backward_at(oid, f)})
                    item.boxes.update(out.boxes)
                    item.confidence.update({o: c for o, c in fwd.confidence.items() if not backward_at(o, f)})
                    item.states.update({o: c for o, c in fwd.states.items() if not backward_at(o, f)})
                    for g, recovered in fwd.take().items():
                        if g in waiting:
                            self._merge(recovered, waiting[g].masks, waiting[g].confidence, waiting[g].states,
                                        lambda oid, g=g: not backward_at(oid, g))
                else:
                    self._cuts.observe(frame)
                back_masks: dict[int, np.ndarray] = {}
                if f < horizon:
                    back_masks = split_label_map(cache.get_labels(f))
                    item.masks.update({oid: m for oid, m in back_masks.items() if backward_at(oid, f)})
                if f in back_scores:
                    b_conf, b_states = back_scores.pop(f)
                    item.confidence.update({o: c for o, c in b_conf.items() if backward_at(o, f)})
                    item.states.update({o: c for o, c in b_states.items() if backward_at(o, f)})
                    if bidirectional and f >= f_min:
                        self._compare_passes(f, item, (out, fwd.confidence), (back_masks, b_conf), prompt_frames)
                if decoded is not None or horizon > 0 and f <= horizon:
                    cache.drop(f)
                progress("forward", f + 1, self.info.frame_count_estimate)
                waiting[f] = item
                if f - delay in waiting:
                    yield release(waiting.pop(f - delay))
                f += 1
            for g in sorted(waiting):
                yield release(waiting.pop(g))
        finally:
            self._close_passes()
        self.stats.frames = f
        late = [(o, p.frame) for o in self.state.objects.values() for p in o.prompts if p.frame >= f]
        if late:
            obj, frame_no = late[0]
            label = f"object {obj.id}" + (f" ({obj.name!r})" if obj.name else "")
            raise PromptError(f"{label}: frame {frame_no} is past the end (the video has {f} frames)",
                              self._prompt_source)

    # -- lifetime ------------------------------------------------------------------------
    def close(self) -> None:
        self._close_passes()
        if self.frames is not None:
            self.frames.close()
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> "TrackingSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
