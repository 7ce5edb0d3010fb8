"""An interactive tracking session (the API the web UI drives), in the spirit of SAM 2's
video predictor: add prompts for objects on any frame, propagate forward or backward from
any frame as a generator, correct and resume, remove objects, reset.

State lives in dataclasses; frames are fetched by index (:class:`FrameSource`); label maps
of propagated frames are kept as indexed PNGs in the session folder (DAVIS layout, usable
as ``trackedit run --masks``). Progress reporting is the caller's business: propagation is
a generator that can be stopped (paused) after any frame.
"""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from editor.api.backends import Segmenter, Tracker, TrackPass
from editor.api.errors import PromptError
from editor.api.files import make_scratch_dir
from editor.api.masks import MaskFolderWriter, compose_label_map, frame_png, read_label_png, split_label_map, write_label_png
from editor.api.prompts import ObjectPrompts, Prompt, PromptSet
from editor.api.run import RefineCounts
from editor.tracking.refinement import MaskRefiner, RefineOptions, attach_refinement, resolve_refinement
from editor.tracking.shots import ShotDetector
from editor.video.random_access import FrameSource
from editor.video.reader import probe


@dataclass
class ObjectState:
    id: int
    name: str = ""
    prompts: list[Prompt] = field(default_factory=list)
    undone: list[Prompt] = field(default_factory=list)
    """Prompts taken back with :meth:`TrackingSession.undo`, latest last (for redo)."""


@dataclass
class _PassState:
    track: TrackPass
    last_frame: int
    detector: ShotDetector


@dataclass
class SessionState:
    objects: dict[int, ObjectState] = field(default_factory=dict)
    tracked_frames: set[int] = field(default_factory=set)
    prompt_masks: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    """(frame, object id) → mask from that frame's prompts (kept until the prompts change)."""


class TrackingSession:
    """Prompts, propagation and corrections on one video with one segmenter and tracker."""

    def __init__(self, video: str | Path, segmenter: Segmenter, tracker: Tracker, *,
                 work_dir: Path | None = None, detect_cuts: bool = True,
                 refine: RefineOptions | None = None) -> None:
        """``refine``: weak-mask refinement (:mod:`editor.tracking.refinement`; default ``auto``: on
        when the segmenter can refine and the tracker can take masks back)."""
        self.video_path = Path(video)
        self.refine_options = refine or RefineOptions()
        self.refine_counts = RefineCounts()
        refines = resolve_refinement(self.refine_options, segmenter, tracker)  # before opening anything
        self._refiner: MaskRefiner | None = segmenter if refines else None  # type: ignore[assignment]
        self.info = probe(self.video_path)
        self.frames = FrameSource(self.video_path)
        self.segmenter = segmenter
        self.tracker = tracker
        self.detect_cuts = detect_cuts
        self._own_dir = work_dir is None
        self.work_dir = make_scratch_dir("session") if work_dir is None else work_dir
        self.masks_dir = self.work_dir / "masks"
        self.masks_dir.mkdir(parents=True, exist_ok=True)
        self.state = SessionState()
        self._passes: dict[bool, _PassState] = {}

    # -- objects and prompts ------------------------------------------------------------
    def add_prompt(self, frame: int, object_id: int, *, points: list[tuple[float, float]] | None = None,
                   labels: list[int] | None = None, box: tuple[float, float, float, float] | None = None,
                   mask_path: Path | None = None, name: str = "") -> np.ndarray:
        """Add a prompt for an object on a frame; returns the object's mask there (bool H×W).

        Prompts on the same frame combine (each click refines). A prompt on a frame after
        propagation is a correction: it replaces the prediction there when propagation
        passes (or resumes at) that frame.
        """
        if not 0 <= frame < len(self.frames):
            raise PromptError(f"frame {frame} is outside 0..{len(self.frames) - 1}")
        points = list(points or [])
        prompt = Prompt(frame, tuple((float(x), float(y)) for x, y in points),
                        tuple(labels if labels is not None else [1] * len(points)), box, mask_path)
        PromptSet((ObjectPrompts(object_id, name, (prompt,)),)).validate_for_video(
            self.info.width, self.info.height, len(self.frames))
        is_new = object_id not in self.state.objects
        obj = self.state.objects.setdefault(object_id, ObjectState(object_id, name))
        if name:
            obj.name = name
        mask = self._append(obj, prompt, is_new)
        obj.undone.clear()  # a new prompt ends the redo history
        return mask

    def _append(self, obj: ObjectState, prompt: Prompt, is_new: bool = False) -> np.ndarray:
        obj.prompts.append(prompt)
        self.state.prompt_masks.pop((prompt.frame, obj.id), None)
        try:
            return self.mask_from_prompts(prompt.frame, obj.id)
        except Exception:
            obj.prompts.pop()
            if is_new:
                del self.state.objects[obj.id]
            raise

    def undo(self, object_id: int) -> Prompt | None:
        """Remove the object's latest prompt (returns it)."""
        obj = self.state.objects.get(object_id)
        if obj is None or not obj.prompts:
            return None
        prompt = obj.prompts.pop()
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

    def rename(self, object_id: int, name: str) -> None:
        self.state.objects[object_id].name = name

    def remove_object(self, object_id: int) -> None:
        """Forget an object: its prompts, its masks and its track in running passes."""
        self.state.objects.pop(object_id, None)
        self.state.prompt_masks = {k: v for k, v in self.state.prompt_masks.items() if k[1] != object_id}
        for p in self._passes.values():
            p.track.end_objects([object_id])
        for f in sorted(self.state.tracked_frames):
            path = frame_png(self.masks_dir, f)
            labels = read_label_png(path)
            if (labels == object_id).any():
                labels[labels == object_id] = 0
                write_label_png(path, labels)

    def reset(self) -> None:
        """Drop every object, prompt, mask and tracker memory."""
        for p in self._passes.values():
            p.track.close()
        self._passes.clear()
        self.state = SessionState()
        shutil.rmtree(self.masks_dir, ignore_errors=True)
        self.masks_dir.mkdir(parents=True)

    def mask_from_prompts(self, frame: int, object_id: int) -> np.ndarray:
        key = (frame, object_id)
        if key not in self.state.prompt_masks:
            from editor.api.prompts import load_mask_file

            prompts = [p for p in self.state.objects[object_id].prompts if p.frame == frame]
            if not prompts:
                raise PromptError(f"object {object_id} has no prompt on frame {frame}")
            image = self.frames[frame].image
            masks = [load_mask_file(p.mask, object_id) for p in prompts if p.mask is not None]
            pointy = [p for p in prompts if p.points or p.box is not None]
            self.state.prompt_masks[key] = self.segmenter.segment(image, frame, pointy or prompts,
                                                                  masks or None).mask
        return self.state.prompt_masks[key]

    def prompt_set(self) -> PromptSet:
        """The session's prompts in the prompt contract (save it for ``trackedit run``)."""
        return PromptSet(tuple(ObjectPrompts(o.id, o.name, tuple(sorted(o.prompts, key=lambda p: p.frame)))
                               for _, o in sorted(self.state.objects.items()) if o.prompts))

    # -- propagation ---------------------------------------------------------------------
    def propagate(self, start_frame: int | None = None, *, reverse: bool = False,
                  max_frames: int | None = None) -> Iterator[tuple[int, list[int], list[np.ndarray]]]:
        """Yield ``(frame index, object ids, bool masks)`` frame by frame in one direction.

        Starts at ``start_frame`` (default: the earliest prompted frame going forward, the
        latest going backward). On each frame, objects prompted there enter (or are
        corrected) from their prompts. The tracker's memory of this direction is kept
        between calls, so pausing (closing the generator), correcting and resuming keeps
        what was learnt earlier. Shot cuts end all tracks.
        """
        prompted = sorted({p.frame for o in self.state.objects.values() for p in o.prompts})
        if not prompted:
            raise PromptError("add a prompt before propagating")
        if start_frame is None:
            start_frame = prompted[-1] if reverse else prompted[0]
        step = -1 if reverse else 1
        stop = -1 if reverse else len(self.frames)
        if max_frames is not None:
            stop = max(-1, start_frame - max_frames) if reverse else min(len(self.frames), start_frame + max_frames)
        state = self._passes.get(reverse)
        if state is None:
            track = self.tracker.new_pass(self.info, reverse=reverse)
            attach_refinement(track, self._refiner, self.refine_options, self.refine_counts)
            state = _PassState(track, start_frame - step, ShotDetector())
            self._passes[reverse] = state
        for f in range(start_frame, stop, step):
            frame = self.frames[f]
            if abs(f - state.last_frame) != 1:
                state.detector = ShotDetector()  # a jump: compare only consecutive frames
            is_cut = self.detect_cuts and state.detector.update(frame.image)
            if is_cut:
                state.track.end_objects(list(self.state.objects))
            here = [o.id for o in self.state.objects.values() if any(p.frame == f for p in o.prompts)]
            given = {oid: self.mask_from_prompts(f, oid) for oid in here}
            if len(given) > 1:
                given = split_label_map(compose_label_map(given, frame.image.shape[:2]), list(given))
            out = state.track.step(frame, given)
            out = {oid: m for oid, m in out.items() if oid in self.state.objects}
            state.last_frame = f
            self._store(f, out)
            ids = sorted(out)
            yield f, ids, [out[i] for i in ids]

    def _store(self, frame: int, masks: dict[int, np.ndarray]) -> None:
        labels = compose_label_map(masks, (self.info.height, self.info.width)) if masks else \
            np.zeros((self.info.height, self.info.width), np.uint8)
        write_label_png(frame_png(self.masks_dir, frame), labels)
        self.state.tracked_frames.add(frame)

    def label_map(self, frame: int) -> np.ndarray | None:
        """The last propagated label map of ``frame`` (None if never propagated)."""
        return read_label_png(frame_png(self.masks_dir, frame)) if frame in self.state.tracked_frames else None

    def export_masks(self, folder: Path) -> Path:
        """Write every frame's label map (empty where never propagated) as a masks folder."""
        writer = MaskFolderWriter(folder, {o.id: o.name for o in self.state.objects.values()}, str(self.video_path))
        empty = np.zeros((self.info.height, self.info.width), np.uint8)
        for f in range(len(self.frames)):
            labels = self.label_map(f)
            writer.write(f, labels if labels is not None else empty)
        return writer.close()

    def close(self) -> None:
        for p in self._passes.values():
            p.track.close()
        self._passes.clear()
        self.frames.close()
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    def __enter__(self) -> "TrackingSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
