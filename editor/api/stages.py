"""Edit stages: the types a stage plugin implements and receives.

A stage transforms a stream of :class:`FrameItem` (a decoded frame plus the label map
of tracked objects). Most stages look at one frame at a time and implement
:meth:`Stage.process`; stages that need neighbouring frames (video inpainting) declare
``window = (before, after)`` and implement :meth:`Stage.process_window`. The pipeline
buffers at most ``before + after + 1`` items for such a stage, so memory never grows
with the video's length.

Pixel depth: a stage registered with ``StageSpec(..., deep=True)`` receives frames at the
source's depth — ``item.frame.image`` is RGB uint8 (0–255) for 8-bit sources and uint16
(0–65535, white = 65535) for 10-, 12- and 16-bit sources — and returns the dtype it was
given (alpha of the same dtype). A stage without ``deep`` always receives uint8 and returns
uint8: the pipeline converts deep frames for it (rounding to the nearest 8-bit level) and
takes its output back to 16 bits, keeping the original 16-bit value of every pixel the
stage left unchanged. The helpers in :mod:`editor.imaging.depth` scale 8-bit constants and
pictures to a frame's dtype.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict

from editor.api.detectors import FrameDetection
from editor.api.errors import PresetError
from editor.api.frames import Frame, VideoInfo
from editor.api.masks import box_of_each, present_ids
from editor.api.prompts import paint_shape

log = logging.getLogger(__name__)


class StageOptions(BaseModel):
    """Base class of every stage's typed options. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    objects: Literal["all"] | list[int | str] = "all"
    """Which tracked objects the stage acts on: ``"all"`` or ids / names / classes (a
    detector's name, e.g. ``"faces"``: every object it found)."""


def select_objects(selector: Literal["all"] | list[int | str], names: Mapping[int, str],
                   groups: Mapping[str, Iterable[int]] | None = None) -> set[int]:
    """The one rule for choosing objects (a stage's ``objects`` option, ``--set
    blur.objects=[…]``): ``"all"`` is every object of the run (every id 1…255 when the run
    has no object table); a list takes ids (ints or digit strings), names from ``names``
    (id → name) and, for an item that names no object, the ids of the group of that name in
    ``groups`` (a class: the detector ``faces`` → every ``face-<n>``; possibly none). Raises
    :class:`~editor.api.errors.PresetError` for an item that is neither."""
    if selector == "all":
        return set(names) if names else set(range(1, 256))
    by_name = {n: i for i, n in names.items() if n}
    groups = groups or {}
    out: set[int] = set()
    for item in selector:
        if isinstance(item, int) or item.isdigit():
            out.add(int(item))
        elif item in by_name:
            out.add(by_name[item])
        elif item in groups:
            out.update(groups[item])
        else:
            known = f"known: {sorted(by_name)}" + (f"; classes: {sorted(groups)}" if groups else "")
            raise PresetError(f"objects: no object named {item!r} ({known})")
    return out


@dataclass
class FrameItem:
    """A frame travelling through the edit stages with its object label map.

    ``frame.image`` is RGB H×W×3 at the source's depth for stages that declare
    ``StageSpec.deep`` (uint8 0–255 for 8-bit sources, uint16 0–65535 for deeper ones),
    always uint8 for stages that do not (see the module docstring).
    ``labels`` is H×W uint8 at the frame's size: 0 = background, else the object id.
    ``confidence``: object id → the tracker's confidence in [0, 1] on this frame, when the
    labels come from tracking (see :mod:`editor.tracking.evidence`); empty otherwise.
    ``detections``: every detection of this frame when the run detects objects
    (``--detect``): redaction stages cover them whatever the label map says
    (:func:`redaction_region`); empty otherwise.
    """

    frame: Frame
    labels: np.ndarray
    confidence: dict[int, float] = field(default_factory=dict)
    detections: tuple[FrameDetection, ...] = ()

    @property
    def index(self) -> int:
        return self.frame.index

    def with_frame(self, frame: Frame) -> "FrameItem":
        """This item with ``frame`` instead (an edited image): labels, confidence and
        detections travel on to the next stage."""
        return FrameItem(frame, self.labels, self.confidence, self.detections)

    def mask_of(self, ids: Iterable[int]) -> np.ndarray:
        """Bool H×W mask of the given object ids."""
        ids = list(ids)
        if not ids:
            return np.zeros(self.labels.shape, bool)
        if len(ids) == 1:
            return self.labels == ids[0]
        return np.isin(self.labels, ids)


@dataclass(frozen=True)
class Selection:
    """What a stage's ``objects`` option selects, for stages that also cover a frame's
    detections (:func:`redaction_region`): ``ids`` the selected objects, ``classes`` the
    selected detector names (``None``: every detector, ``objects = "all"``), ``detected``
    the ids of every detected object of the run (``face-1``…), ``kept`` the objects marked
    keep (:attr:`editor.api.prompts.ObjectPrompts.keep`), ``instances`` the detected objects
    with their own masks (person instances, ``person-1``…; the rest of ``detected`` are faces,
    plates: boxes and ellipses), ``merged`` the frames on which each kept instance's area
    jumps (:func:`editor.api.merges.merged_frames`: never uncovered whole there)."""

    ids: frozenset[int]
    classes: frozenset[str] | None = None
    detected: frozenset[int] = frozenset()
    kept: frozenset[int] = frozenset()
    instances: frozenset[int] = frozenset()
    merged: Mapping[int, frozenset[int]] = field(default_factory=dict)

    def takes(self, detection: FrameDetection) -> bool:
        """Whether a frame's detection is selected: its object is, or — a detection that joined
        no object — its detector's class is."""
        if detection.object_id is not None:
            return detection.object_id in self.ids
        return self.classes is None or detection.detector in self.classes


KEEP_TOUCH = 0.4
"""On a kept object's prompted frames (:func:`editor.pipeline.orchestrator._faces_on`: which
detected tracks are the kept person's), a detection lies on the kept object when at least this share of the ring
of pixels just around it belongs to the kept object (a face on the head it belongs to is
surrounded by it — or, at the top of the head, half-bordered by it; a face beside a kept
person touches them on one side at most), or its centre lies inside it. Chosen by
construction (the geometry of a face on its own head), not tuned on footage."""


def _on_kept(kept: np.ndarray, shape: np.ndarray, x0: int, y0: int) -> bool:
    """Whether ``shape`` (bool, a crop of the frame at (``x0``, ``y0``)) lies on ``kept``
    (bool H×W): its centre is inside, or :data:`KEEP_TOUCH` of its surrounding ring is."""
    ys, xs = np.nonzero(shape)
    if not len(ys):
        return False
    h, w = kept.shape
    cy, cx = int(ys.mean()) + y0, int(xs.mean()) + x0
    if 0 <= cy < h and 0 <= cx < w and kept[cy, cx]:
        return True
    pad = 3
    grown = cv2.dilate(np.pad(shape, pad).astype(np.uint8), np.ones((2 * pad + 1, 2 * pad + 1), np.uint8)) > 0
    ring = grown & ~np.pad(shape, pad)
    ry, rx = np.nonzero(ring)
    ry, rx = ry + y0 - pad, rx + x0 - pad
    inside = (ry >= 0) & (ry < h) & (rx >= 0) & (rx < w)
    if not inside.any():
        return False
    return float(kept[ry[inside], rx[inside]].mean()) >= KEEP_TOUCH


def lies_on(kept: np.ndarray, detection: FrameDetection) -> bool:
    """Whether ``detection`` (its ellipse or box) lies on the kept pixels ``kept`` (bool H×W;
    the rule of :data:`KEEP_TOUCH`)."""
    d = detection
    if d.mask_png is not None:
        return _on_kept(kept, d.region(*kept.shape), 0, 0)
    x0, y0 = int(np.floor(d.box[0])), int(np.floor(d.box[1]))
    crop = np.zeros((int(np.ceil(d.box[3])) - y0 + 1, int(np.ceil(d.box[2])) - x0 + 1), bool)
    paint_shape(crop, (d.box[0] - x0, d.box[1] - y0, d.box[2] - x0, d.box[3] - y0), d.shape)
    return _on_kept(kept, crop, x0, y0)


def redaction_region(item: FrameItem, selection: Selection, *, box: bool = False) -> np.ndarray:
    """The pixels a redaction stage edits on ``item``'s frame (bool H×W): the selected
    objects' masks in the label map (each one's bounding box with ``box``) **united with**
    the frame's selected detections (their ellipse, box or own mask) — detection is the floor,
    tracking only adds: a detection is covered on its frame whatever the tracker did.
    (:attr:`RedactionLayers.mask` of :func:`redaction_layers`, which says what keep means.)"""
    return redaction_layers(item, selection, box=box).mask


@dataclass(frozen=True)
class RedactionLayers:
    """What a redaction stage edits on one frame (:func:`redaction_layers`): ``mask`` (bool
    H×W) the pixels to edit; with a kept object on the frame, ``kept`` (bool H×W) the kept
    pixels — a stage that grows or feathers ``mask`` leaves them unedited — and ``hard``
    (bool H×W) the coverage keep never uncovers (faces and plates that are not kept: a stage
    grows it as usual, into the kept pixels too); ``None`` without a kept object."""

    mask: np.ndarray
    kept: np.ndarray | None = None
    hard: np.ndarray | None = None


def redaction_layers(item: FrameItem, selection: Selection, *, box: bool = False) -> RedactionLayers:
    """:func:`redaction_region`'s pixels, and what keep leaves (:class:`RedactionLayers`).

    Kept objects (``selection.kept``: the prompted people marked keep and the detected tracks
    decided to be theirs, :func:`editor.pipeline.orchestrator._kept_faces`) and their own
    detections are never covered — but for kept person instances, which are soft coverage
    like any other (a region that may hold a neighbour the person model merged with them),
    left only on the kept pixels. Keeping someone uncovers nothing else but the **kept
    pixels** (:func:`kept_pixels`) of *soft* coverage — tracked masks of the user's objects
    and of person instances (``selection.instances``), and person-instance detections, which
    a neighbour's region spreads over the kept person when two people touch. A detected face
    or plate that is not kept (its detection, or its tracked object) is always covered, even
    on the kept pixels: which face is the kept person's is decided by its track, never by
    where the kept mask lies on one frame (a neighbour's face passing in front of the kept
    person lies on their mask). A detection that joined no track cannot be told apart and
    is covered. So the kept face is blurred wherever another face's detection overlaps it
    (two faces crossing): safe, and the price of never showing someone else.
    """
    labels = item.labels
    present = set(present_ids(labels))
    kept_instances = set(selection.kept) & set(selection.instances)
    ids = (present & set(selection.ids)) - (set(selection.kept) - kept_instances)
    detections = [d for d in item.detections if selection.takes(d) and
                  (d.object_id is None or d.object_id not in selection.kept or d.object_id in kept_instances or
                   d.mask_png is not None)]
    kept = kept_pixels(item, selection.kept, selection.instances, selection.merged)
    if kept is None:
        mask = box_of_each(labels, ids) if box else item.mask_of(ids)
        _paint(mask, detections, box)
        return RedactionLayers(mask)
    hard_ids = ids & (selection.detected - selection.instances)  # faces, plates
    soft_ids = ids - hard_ids
    instance = [d.mask_png is not None or d.object_id in selection.instances for d in detections]
    mask = box_of_each(labels, soft_ids) if box else item.mask_of(soft_ids)
    _paint(mask, [d for d, person in zip(detections, instance) if person], box)
    mask &= ~kept
    hard = box_of_each(labels, hard_ids) if box else item.mask_of(hard_ids)
    _paint(hard, [d for d, person in zip(detections, instance) if not person], box)
    return RedactionLayers(mask | hard, kept & ~hard, hard)


def kept_pixels(item: FrameItem, kept_ids: Iterable[int], instances: Iterable[int] = (),
                merged: Mapping[int, Iterable[int]] | None = None) -> np.ndarray | None:
    """The kept person's pixels on ``item``'s frame (bool H×W), ``None`` when no kept object
    is on it: the label map's kept objects and the kept tracks' own detections (a kept face's
    ellipse where the tracker's mask slid off it). A kept person instance (one of
    ``instances``, the detected objects with their own masks, or a detection with its own
    mask) is the kept person's body, uncovered whole, only where it holds them alone
    (:func:`holds_alone`; ``merged``: instance → the frames its area jumps,
    :func:`editor.api.merges.merged_frames`). Elsewhere it counts only where it lies on the
    prompted kept objects' masks, and not at all when they are not on the frame — but for a
    run that keeps nothing but instances (``--keep person-2``): when two people touch the
    person model gives both one region, which may be the kept person's track, and the
    neighbour's part of it is not theirs."""
    kept_ids = set(kept_ids)
    every_instance = set(instances)
    present = set(present_ids(item.labels)) & kept_ids
    own = [d for d in item.detections if d.object_id is not None and d.object_id in kept_ids]
    if not present and not own:
        return None
    instances = (every_instance | {d.object_id for d in own if d.mask_png is not None}) & kept_ids
    persons = kept_ids - instances
    prompted = np.isin(item.labels, list(present - instances)) if present - instances else None
    out = np.zeros(item.labels.shape, bool)
    _paint(out, [d for d in own if d.mask_png is None], False)
    if prompted is not None:
        out |= prompted
    for i in sorted((present & instances) | {d.object_id for d in own if d.mask_png is not None}):
        body = item.labels == i
        _paint(body, [d for d in own if d.object_id == i and d.mask_png is not None], False)
        if not persons or (item.index not in set((merged or {}).get(i, ())) and
                           holds_alone(item, body, kept_ids, every_instance | instances)):
            out |= body
        elif prompted is not None:
            out |= body & prompted
    return out


def holds_alone(item: FrameItem, body: np.ndarray, kept_ids: Iterable[int], instances: Iterable[int]) -> bool:
    """Whether a kept person instance's pixels ``body`` (bool H×W) on ``item``'s frame hold the
    kept person (a kept face's detection that is not an instance lies on it, :func:`lies_on`,
    or a kept object's tracked mask does) and nobody else (:func:`alone`)."""
    kept_ids, instances = set(kept_ids), set(instances)
    held = any(d.object_id in kept_ids and d.mask_png is None and d.object_id not in instances and lies_on(body, d)
               for d in item.detections) or \
        any(_on_kept(body, item.labels == k, 0, 0) for k in set(present_ids(item.labels)) & kept_ids - instances)
    return held and alone(body, item.detections, item.labels, kept_ids)


def alone(body: np.ndarray, detections: Iterable[FrameDetection], labels: np.ndarray | None,
          kept_ids: Iterable[int]) -> bool:
    """Whether a person instance's pixels ``body`` (bool H×W) hold nobody but the kept person
    (``kept_ids``: the kept objects and tracks): no other detection without a mask of its own
    (a face or plate of another track, or of none) touches the box around ``body`` by one
    pixel, no other person instance's detection touches ``body``, and no other object's
    tracked mask in ``labels`` (a face track, another person's instance, a user's object) lies
    in it. A merge of the kept person with a neighbour shows that way even where the
    neighbour's face is outside the merged region (the person in front hiding the other's
    torso: the region took the visible legs)."""
    kept_ids = set(kept_ids)
    ys, xs = np.nonzero(body.any(axis=1))[0], np.nonzero(body.any(axis=0))[0]
    if not len(ys):
        return True
    around = np.zeros(body.shape, bool)
    around[ys[0]:ys[-1] + 1, xs[0]:xs[-1] + 1] = True
    for d in detections:
        if d.object_id is not None and d.object_id in kept_ids:
            continue
        if d.mask_png is None and touches(around, d) or \
                d.mask_png is not None and touches(around, d) and (d.region(*body.shape) & body).any():
            return False
    if labels is None:
        return True
    others = set(present_ids(labels)) - kept_ids
    return not (others and np.isin(labels[body], list(others)).any())


def touches(mask: np.ndarray, detection: FrameDetection) -> bool:
    """Whether ``detection``'s ellipse or box (its bounding box for one with its own mask)
    shares a pixel with ``mask`` (bool H×W)."""
    h, w = mask.shape
    x0, y0, x1, y1 = detection.box
    c0, r0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    c1, r1 = min(w, int(np.ceil(x1)) + 1), min(h, int(np.ceil(y1)) + 1)
    if c1 <= c0 or r1 <= r0:
        return False
    crop = np.zeros((r1 - r0, c1 - c0), bool)
    paint_shape(crop, (x0 - c0, y0 - r0, x1 - c0, y1 - r0), "ellipse" if detection.shape == "ellipse" else "box")
    return bool((crop & mask[r0:r1, c0:c1]).any())


def instances_in(floor: Mapping[int, Iterable[FrameDetection]]) -> set[int]:
    """The detected objects with their own masks (person instances, :attr:`Selection.instances`,
    :attr:`StageContext.instances`) among every frame's detections ``floor`` (frame → its
    detections): those whose detections carry masks. The one rule for a run, a render from a
    masks folder and the web UI's preview."""
    return {d.object_id for found in floor.values() for d in found
            if d.mask_png is not None and d.object_id is not None}


def _paint(mask: np.ndarray, detections: Iterable[FrameDetection], box: bool) -> None:
    """Add each detection's region (ellipse, box or own mask; its bounding box with ``box``) to ``mask``."""
    for d in detections:
        if d.mask_png is not None:
            mask |= d.region(*mask.shape, box=box)
        else:
            paint_shape(mask, d.box, "box" if box else d.shape)


@dataclass(frozen=True)
class FrameWindow:
    """``items[center]`` is the frame to produce; neighbours before/after it (fewer at the ends)."""

    items: Sequence[FrameItem]
    center: int

    @property
    def current(self) -> FrameItem:
        return self.items[self.center]


@dataclass
class StageContext:
    """What a stage knows about the run when it is created."""

    video: VideoInfo
    object_names: dict[int, str] = field(default_factory=dict)
    device: str = "auto"
    """Requested device; stages using PyTorch resolve it with ``editor.backends.device.pick_device``."""
    output: Path | None = None
    work_dir: Path | None = None
    """A scratch folder for this run (deleted afterwards)."""
    inpainters: Mapping[str, InpainterSpec] = field(default_factory=dict)
    """Inpainters registered through ``editor_register_inpainters``, by name (filled in by
    :func:`editor.pipeline.presets.build_stages` from the plugin manager)."""
    object_groups: Mapping[str, set[int]] = field(default_factory=dict)
    """Classes of objects a stage may select by name: each detector's name → the ids of the
    objects named after its labels (``faces`` → ``face-1``, ``face-2``…; filled in by
    :func:`editor.pipeline.presets.build_stages` from the object names and the registered
    detectors)."""
    kept: set[int] = field(default_factory=set)
    """Objects marked keep (:attr:`editor.api.prompts.ObjectPrompts.keep`): redaction stages
    never cover them nor the faces decided to be theirs (:func:`redaction_region`)."""
    instances: set[int] = field(default_factory=set)
    """Detected objects with their own masks (person instances, :attr:`Selection.instances`)."""
    merged: dict[int, frozenset[int]] = field(default_factory=dict)
    """Kept person instances → the frames on which their area jumps (a merge with a
    neighbour, :func:`editor.api.merges.merged_frames`): :attr:`Selection.merged`."""
    overwrite: bool = False
    """The run may replace existing outputs (``--overwrite``): a stage replaces what it wrote
    beside the output in an earlier run of the same command (export-masks' default folder)."""

    def resolve_selection(self, selector: Literal["all"] | list[int | str]) -> Selection:
        """:meth:`resolve_objects` with what covering a frame's detections needs
        (:class:`Selection`): the detector classes selected (every one for ``"all"``; the
        classes named in the list otherwise), the detected objects and the kept ones."""
        ids = self.resolve_objects(selector)
        classes = None if selector == "all" else frozenset(str(x) for x in selector if str(x) in self.object_groups)
        detected = frozenset(i for group in self.object_groups.values() for i in group)
        return Selection(frozenset(ids), classes, detected, frozenset(self.kept), frozenset(self.instances),
                         dict(self.merged))

    def resolve_objects(self, selector: Literal["all"] | list[int | str]) -> set[int]:
        """Ids selected by a stage's ``objects`` option (:func:`select_objects`). A selection
        that takes none of the run's objects (a class that found nothing) is logged as a
        warning: that stage edits nothing, which a person redacting footage must know."""
        ids = select_objects(selector, self.object_names, self.object_groups)
        if selector != "all" and self.object_names and not ids & set(self.object_names):
            names = ", ".join(n or str(i) for i, n in sorted(self.object_names.items()))
            log.warning("objects = %s selects none of this run's objects (%s): that stage edits nothing",
                        list(selector), names)
        return ids


class Stage:
    """Base class of edit stages. Subclasses override ``process`` (or ``process_window``).

    ``process`` returns a new :class:`FrameItem` (``item.frame.replace(new_image)``), or
    ``item`` itself when nothing changes; it does not modify ``item.frame.image`` in place.
    The image's dtype is the source's depth when the stage's spec says ``deep=True``
    (uint8 or uint16, white = 255 or 65535), else always uint8; the result keeps it.
    """

    window: tuple[int, int] = (0, 0)
    """Frames needed (before, after) the current one; (0, 0) = one frame at a time."""

    def process(self, item: FrameItem) -> FrameItem:
        raise NotImplementedError

    def process_window(self, window: FrameWindow) -> FrameItem:
        return self.process(window.current)

    def finish(self) -> Sequence[Path] | None:
        """Commit side outputs (e.g. rename a masks folder into place); called once after the
        run's output was written successfully, before :meth:`close`. Returns the paths it
        committed (the CLI names them), or ``None``."""

    def close(self) -> None:
        """Release resources and drop unfinished side outputs; called once at the end of
        every run, also after errors."""

    def run(self, items: Iterator[FrameItem]) -> Iterator[FrameItem]:
        """Stream ``items`` through the stage with bounded look-behind/look-ahead."""
        before, after = self.window
        if before == 0 and after == 0:
            for item in items:
                yield self.process(item)
            return
        for window in self.windows(items):
            yield self.process_window(window)

    def windows(self, items: Iterator[FrameItem]) -> Iterator[FrameWindow]:
        """The windows :meth:`run` gives :meth:`process_window`, one per item in order: each
        item with up to ``window`` (before, after) neighbours, as soon as its after-neighbours
        have arrived (fewer at the ends)."""
        before, after = self.window
        buf: deque[FrameItem] = deque()
        pos = 0  # index in buf of the next item to produce
        for item in items:
            buf.append(item)
            if len(buf) - 1 - pos >= after:
                yield FrameWindow(tuple(buf), pos)
                pos += 1
                while pos > before:
                    buf.popleft()
                    pos -= 1
        while pos < len(buf):
            yield FrameWindow(tuple(buf), pos)
            pos += 1
            while pos > before:
                buf.popleft()
                pos -= 1


StageFactory = Callable[[Any, StageContext], Stage]

Inpainter = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``inpainter(image, hole, avoid)`` → ``image`` with the ``hole`` pixels filled: ``image`` is
RGB uint8 H×W×3 (also in a deep run: the ``remove`` stage hands it an 8-bit view and scales
the filled pixels back), ``hole`` bool H×W, ``avoid`` bool H×W (disjoint from ``hole``): pixels
that are no background — every tracked object of the run, not only the removed ones, and
what moves against the camera's motion though no mask covers it (a passing car). An
inpainter must not copy from them: treat them as unknown (a model that takes one mask can be
given ``hole`` ∪ the ``avoid`` regions touching it, :func:`editor.imaging.inpaint.unknown_region`).
The result has ``image``'s shape and dtype (pixels outside the hole may be returned
unchanged or not; the caller composites only the hole back). Inpainters written for the
two-argument form ``inpainter(image, hole)`` still work: the ``remove`` stage then hands
them ``hole`` ∪ the avoided regions touching it as the hole."""


@dataclass(frozen=True)
class InpainterSpec:
    """A registered spatial inpainter (``inpainter = "<name>"`` in the ``remove`` stage's options).

    ``factory(context)`` returns the :data:`Inpainter` for one run (load a model here; use
    ``context.device``). The ``remove`` stage fills from neighbouring frames first and asks
    the inpainter for what no frame shows.
    """

    name: str
    factory: Callable[[StageContext], Inpainter]
    description: str = ""


@dataclass(frozen=True)
class StageSpec:
    """A registered stage type: its name, typed options and factory.

    ``factory(options, context)`` builds the stage for one run; ``options`` is an
    instance of ``options_model`` validated from the preset.
    """

    name: str
    options_model: type[StageOptions]
    factory: StageFactory
    description: str = ""
    deep: bool = False
    """The stage accepts uint16 frames (sources above 8 bits are then edited at 16 bits per
    channel). ``False``: it gets uint8 frames (converted by the pipeline, rounding) and its
    output is taken back to 16 bits, pixels it did not change keeping their exact values."""
    side_outputs: Callable[[Any, Path], Sequence[Path]] | None = None
    """``side_outputs(options, output)``: what a stage with these options will write beside
    the run's output ``output`` (export-masks: its folder; a relative path is relative to the
    current folder), known before the run, so that ``trackedit batch`` can refuse two videos
    writing the same one. The stage's :meth:`Stage.finish` returns the same paths. ``None``:
    the stage writes nothing beside the output."""
