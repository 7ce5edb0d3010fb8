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
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .backends import Segmenter, Tracker, TrackPass
from .errors import PromptError
from .masks import compose_label_map, read_label_png, split_label_map, write_label_png
from .prompts import PromptSet, load_mask_file
from .shots import ShotDetector
from .stages import FrameItem
from .video.frames import Frame, VideoInfo

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``; phases: ``cache``, ``backward``, ``forward``."""


@dataclass
class TrackingStats:
    frames: int = 0
    cuts: list[int] = field(default_factory=list)
    """Frame indices that start a new shot."""
    segmented: int = 0
    """Number of (frame, object) segmentations from prompts."""
    cached_frames: int = 0


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
                 work_dir: Path, *, detect_cuts: bool = True, progress: Progress | None = None) -> None:
        self.video = video
        self.prompts = prompts
        self.segmenter = segmenter
        self.tracker = tracker
        self.work_dir = work_dir
        self.detect_cuts = detect_cuts
        self.progress = progress or (lambda phase, done, total: None)
        self.stats = TrackingStats()
        self._first = {o.id: o.first_frame for o in prompts.objects}
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
    def items(self, frames: Iterator[Frame]) -> Iterator[FrameItem]:
        first = self._first
        f_max = max(first.values())
        f_min = min(first.values())
        cache = _FrameCache(self.work_dir / "tracking-cache")
        source = iter(frames)
        shape = (self.video.height, self.video.width)

        # 1. cache frames 0..f_max for the backward pass
        for f in range(f_max + 1):
            frame = next(source, None)
            if frame is None:
                oid = max(first, key=lambda i: first[i])
                raise PromptError(f"object {oid}: frame {first[oid]} is past the end "
                                  f"(the video has {f} frames)", self.prompts.source)
            self._observe(frame)
            if f_max > 0:
                cache.put(frame)
                self.stats.cached_frames += 1
            else:
                pending = frame
            self.progress("cache", f + 1, f_max + 1)

        # 2. backward from f_max to 0
        if f_max > 0:
            self._backward(cache, f_max)

        # 3. forward from 0 to the end
        fwd: TrackPass = self.tracker.new_pass(self.video, reverse=False)
        try:
            f = 0
            while True:
                if f <= f_max:
                    frame = cache.get(f) if f_max > 0 else pending
                else:
                    frame = next(source, None)
                    if frame is None:
                        break
                    self._observe(frame)
                masks: dict[int, np.ndarray] = {}
                if f >= f_min:
                    if f in self._cut_before:
                        fwd.end_objects(list(first))
                    prompted = [o for o in self.prompts.on_frame(f)]
                    out = fwd.step(frame, self._segment(frame, prompted) if prompted else {})
                    masks.update({oid: m for oid, m in out.items() if first.get(oid, f) <= f})
                if f < f_max:
                    back = split_label_map(cache.get_labels(f))
                    masks.update({oid: m for oid, m in back.items() if first[oid] > f})
                if f <= f_max and f_max > 0:
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

    def _backward(self, cache: _FrameCache, f_max: int) -> None:
        first = self._first
        bwd = self.tracker.new_pass(self.video, reverse=True)
        try:
            for f in range(f_max, -1, -1):
                frame = cache.get(f)
                if f + 1 in self._cut_before:
                    bwd.end_objects(list(first))
                starting = [oid for oid, ff in first.items() if ff == f]
                out = bwd.step(frame, self._segment(frame, starting) if starting else {})
                keep = {oid: m for oid, m in out.items() if first[oid] > f}
                cache.put_labels(f, compose_label_map(keep, frame.image.shape[:2]) if keep
                                 else np.zeros(frame.image.shape[:2], np.uint8))
                self.progress("backward", f_max - f + 1, f_max + 1)
        finally:
            bwd.close()
