"""Drive a segmenter and a tracker over a whole video, streaming.

``VideoTracking.items(frames)`` turns the decoded frames into :class:`FrameItem`s (frame +
label map) in display order:

* Each object is segmented from its prompts on its first prompted frame and tracked
  **backward** to frame 0 and **forward** to the end; prompts on later frames are
  corrections that replace the prediction there and continue from it.
* Frames up to the last object's first prompt are cached on disk (lossless PNG in the
  run's scratch folder) for the backward pass; everything else streams, so memory does
  not grow with the video.
* Shot cuts end every track (objects come back only when prompted again in the new
  shot), in both directions.
* ``bidirectional=True``: the backward pass also starts from every later prompt (the
  corrections), and each frame between two prompts of an object takes the prediction
  propagated from the nearer one. The frame cache then reaches the last prompt.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from editor.api.backends import Segmenter, Tracker, TrackPass
from editor.api.errors import PromptError
from editor.api.masks import compose_label_map, read_label_png, split_label_map, write_label_png
from editor.api.prompts import PromptSet, load_mask_file
from editor.api.run import TrackingStats
from editor.tracking.refinement import MaskRefiner, RefineOptions, attach_refinement
from editor.tracking.shots import ShotDetector
from editor.api.stages import FrameItem
from editor.api.frames import Frame, VideoInfo

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``; phases: ``cache``, ``backward``, ``forward``."""


class _FrameCache:
    """Lossless on-disk store of frames (and backward label maps) by index."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._meta: dict[int, Frame] = {}

    def put(self, frame: Frame) -> None:
        cv2.imwrite(str(self.folder / f"f{frame.index:06d}.png"), frame.image[..., ::-1],
                    [cv2.IMWRITE_PNG_COMPRESSION, 1])
        self._meta[frame.index] = Frame(frame.index, np.empty((0, 0, 3), np.uint8), frame.pts,
                                        frame.time_base, frame.time, None, frame.duration)

    def get(self, index: int) -> Frame:
        meta = self._meta[index]
        image = cv2.imread(str(self.folder / f"f{index:06d}.png"), cv2.IMREAD_COLOR)[..., ::-1]
        return meta.replace(np.ascontiguousarray(image))

    def put_labels(self, index: int, labels: np.ndarray) -> None:
        write_label_png(self.folder / f"b{index:06d}.png", labels)

    def get_labels(self, index: int) -> np.ndarray:
        return read_label_png(self.folder / f"b{index:06d}.png")

    def drop(self, index: int) -> None:
        for prefix in ("f", "b"):
            (self.folder / f"{prefix}{index:06d}.png").unlink(missing_ok=True)


class VideoTracking:
    """Segment prompts and propagate them through one video."""

    def __init__(self, video: VideoInfo, prompts: PromptSet, segmenter: Segmenter, tracker: Tracker,
                 work_dir: Path, *, detect_cuts: bool = True, progress: Progress | None = None,
                 bidirectional: bool = False, refiner: MaskRefiner | None = None,
                 refine_options: RefineOptions | None = None) -> None:
        self.video = video
        self.refiner = refiner
        self.refine_options = refine_options or RefineOptions()
        self.prompts = prompts
        self.segmenter = segmenter
        self.tracker = tracker
        self.work_dir = work_dir
        self.detect_cuts = detect_cuts
        self.progress = progress or (lambda phase, done, total: None)
        self.stats = TrackingStats()
        self.bidirectional = bidirectional
        self._first = {o.id: o.first_frame for o in prompts.objects}
        self._prompt_frames = {o.id: sorted({p.frame for p in o.prompts}) for o in prompts.objects}
        self._seg_cache: dict[tuple[int, int], np.ndarray] = {}
        self._cut_before: set[int] = set()
        self._detector = ShotDetector()

    # -- helpers ------------------------------------------------------------------------
    def _observe(self, frame: Frame) -> None:
        if self.detect_cuts and self._detector.update(frame.image):
            self._cut_before.add(frame.index)
            self.stats.cuts.append(frame.index)

    def _segment(self, frame: Frame, object_ids: list[int]) -> dict[int, np.ndarray]:
        """Masks for the objects prompted on ``frame`` (overlaps resolved, cached)."""
        masks: dict[int, np.ndarray] = {}
        on_frame = self.prompts.on_frame(frame.index)
        for oid in object_ids:
            key = (frame.index, oid)
            if key not in self._seg_cache:
                prompts = on_frame[oid]
                mask_prompts = [load_mask_file(p.mask, oid, self.prompts.source)
                                for p in prompts if p.mask is not None]
                for m in mask_prompts:
                    if m.shape != frame.image.shape[:2]:
                        raise PromptError(f"object {oid}, frame {frame.index}: mask is "
                                          f"{m.shape[1]}x{m.shape[0]}, the video is "
                                          f"{frame.width}x{frame.height}", self.prompts.source)
                point_prompts = [p for p in prompts if p.points or p.box is not None]
                result = self.segmenter.segment(frame.image, frame.index, point_prompts or prompts,
                                                mask_prompts or None)
                self._seg_cache[key] = result.mask.astype(bool)
                self.stats.segmented += 1
            masks[oid] = self._seg_cache[key]
        if len(masks) > 1:
            labels = compose_label_map(masks, frame.image.shape[:2])
            masks = split_label_map(labels, list(masks))
        return masks

    # -- the passes ---------------------------------------------------------------------
    def _use_backward(self, oid: int, f: int) -> bool:
        """Whether frame ``f`` of object ``oid`` comes from the backward pass.

        Before the object's first prompt: always. Otherwise only in bidirectional mode,
        between two of its prompted frames, when the later prompt is nearer than the
        earlier one (each frame follows the nearest annotation).
        """
        frames = self._prompt_frames[oid]
        if f < frames[0]:
            return True
        if not self.bidirectional or f >= frames[-1]:
            return False
        before = max(p for p in frames if p <= f)
        after = min(p for p in frames if p >= f)
        return after - f < f - before

    def items(self, frames: Iterator[Frame]) -> Iterator[FrameItem]:
        first = self._first
        f_min = min(first.values())
        # the backward pass covers frames up to the last first-prompt (or, bidirectional,
        # the last prompt of any kind); they are cached on disk for it
        horizon = max(max(fs) if self.bidirectional else fs[0] for fs in self._prompt_frames.values())
        cache = _FrameCache(self.work_dir / "tracking-cache")
        source = iter(frames)
        shape = (self.video.height, self.video.width)

        # 1. cache frames 0..horizon for the backward pass
        pending: Frame | None = None
        for f in range(horizon + 1):
            frame = next(source, None)
            if frame is None:
                oid, where = max(((o, p) for o, fs in self._prompt_frames.items() for p in fs), key=lambda x: x[1])
                raise PromptError(f"object {oid}: frame {where} is past the end "
                                  f"(the video has {f} frames)", self.prompts.source)
            self._observe(frame)
            if horizon > 0:
                cache.put(frame)
                self.stats.cached_frames += 1
            else:
                pending = frame
            self.progress("cache", f + 1, horizon + 1)

        # 2. backward from the horizon to 0
        if horizon > 0:
            self._backward(cache, horizon)

        # 3. forward from the first prompt to the end, merged with the backward results
        fwd: TrackPass = self._new_pass(reverse=False)
        try:
            f = 0
            while True:
                if f <= horizon:
                    frame = cache.get(f) if horizon > 0 else pending
                else:
                    frame = next(source, None)
                    if frame is None:
                        break
                    self._observe(frame)
                assert frame is not None
                masks: dict[int, np.ndarray] = {}
                if f >= f_min:
                    if f in self._cut_before:
                        fwd.end_objects(list(first))
                    prompted = list(self.prompts.on_frame(f))
                    out = fwd.step(frame, self._segment(frame, prompted) if prompted else {})
                    masks.update({oid: m for oid, m in out.items()
                                  if oid in first and not self._use_backward(oid, f)})
                if f < horizon:
                    back = split_label_map(cache.get_labels(f))
                    masks.update({oid: m for oid, m in back.items() if self._use_backward(oid, f)})
                if f <= horizon and horizon > 0:
                    cache.drop(f)
                labels = compose_label_map(masks, shape) if masks else np.zeros(shape, np.uint8)
                self.progress("forward", f + 1, self.video.frame_count_estimate)
                yield FrameItem(frame, labels)
                f += 1
        finally:
            fwd.close()
        self.stats.frames = f
        late = [(o, p.frame) for o in self.prompts.objects for p in o.prompts if p.frame >= f]
        if late:
            obj, frame_no = late[0]
            raise PromptError(f"{obj.label}: frame {frame_no} is past the end (the video has {f} frames)",
                              self.prompts.source)

    def _new_pass(self, *, reverse: bool) -> TrackPass:
        track = self.tracker.new_pass(self.video, reverse=reverse)
        attach_refinement(track, self.refiner, self.refine_options, self.stats.refinement)
        return track

    def _backward(self, cache: _FrameCache, horizon: int) -> None:
        first = self._first
        bwd = self._new_pass(reverse=True)
        try:
            for f in range(horizon, -1, -1):
                frame = cache.get(f)
                if f + 1 in self._cut_before:
                    bwd.end_objects(list(first))
                if self.bidirectional:  # objects join at their last prompt; earlier ones correct
                    here = [oid for oid, fs in self._prompt_frames.items() if f in fs]
                else:
                    here = [oid for oid, ff in first.items() if ff == f]
                out = bwd.step(frame, self._segment(frame, here) if here else {})
                cache.put_labels(f, compose_label_map(out, frame.image.shape[:2]) if out
                                 else np.zeros(frame.image.shape[:2], np.uint8))
                self.progress("backward", horizon - f + 1, horizon + 1)
        finally:
            bwd.close()
