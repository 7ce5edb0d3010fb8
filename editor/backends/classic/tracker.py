"""Mask propagation without model weights: optical flow + GrabCut refinement.

Per frame (at a working resolution, longer side ≤ ``max_side``):

1. Dense optical flow (OpenCV DIS) from the new frame back to the previous one; each
   object's previous mask is warped along it (backward warping, no holes).
2. The warped mask is refined by GrabCut in a band around its boundary: the eroded
   interior stays foreground, far outside stays background, and the band is decided
   by colour models learnt from this frame, so the outline follows deforming objects.
3. Guards: if refinement changes the area by more than ``max_area_change`` relative to
   the warped mask, the warped mask is kept (flow is trusted over a colour leak); only
   components connected to the warped mask's body are kept; holes are filled.

Objects given a mask on a frame restart from it. An object that leaves the frame is
looked for in later frames by masked template matching of its last full view (3 scales,
mean-subtracted normalised correlation ≥ ``reacquire_score``, not on top of another
tracked object) and re-acquired there. Shot cuts are handled by the core (it ends objects
at a cut, which also stops the search). Masks are returned at the source resolution.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from editor.api.frames import Frame, VideoInfo
from editor.backends.classic.grabcut import grab_cut
from editor.backends.classic.morphology import (
    bbox,
    components_touching,
    disk,
    fill_holes,
    resize_mask,
    working_scale,
)

GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD = cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD


@dataclass
class FlowTrackerConfig:
    max_side: int = 480
    band: float = 0.08
    """Half-width of the refinement band, as a fraction of the object's size (sqrt of area)."""
    min_band_px: int = 3
    iterations: int = 2
    max_area_change: float = 0.35
    refine: bool = True
    reacquire: bool = True
    """Look for objects that left the frame (template matching of their last full view)."""
    reacquire_score: float = 0.85
    """Minimum normalised correlation (mean-subtracted, masked) to re-acquire an object."""
    reacquire_frames: int = 250
    """Give up looking for an object after this many frames."""


@dataclass
class _Appearance:
    """The last full (not cut by the image border) view of an object, for re-acquisition."""

    patch: np.ndarray  # RGB crop, working resolution
    mask: np.ndarray  # bool crop
    lost_for: int = 0


@dataclass
class _Object:
    mask: np.ndarray  # bool, working resolution
    appearance: _Appearance | None = None


@dataclass
class FlowTrackPass:
    """One direction of propagation over consecutive frames."""

    video: VideoInfo
    config: FlowTrackerConfig = field(default_factory=FlowTrackerConfig)
    _objects: dict[int, _Object] = field(default_factory=dict)
    _lost: dict[int, _Appearance] = field(default_factory=dict)
    _prev_grey: np.ndarray | None = None
    _scale: float = 1.0
    _flow: cv2.DISOpticalFlow | None = None

    def __post_init__(self) -> None:
        self._scale = working_scale(self.video.width, self.video.height, self.config.max_side)
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def _small(self, image: np.ndarray) -> np.ndarray:
        if self._scale >= 1.0:
            return image
        h, w = image.shape[:2]
        return cv2.resize(image, (max(1, round(w * self._scale)), max(1, round(h * self._scale))),
                          interpolation=cv2.INTER_AREA)

    def step(self, frame: Frame, prompts: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        small = self._small(frame.image)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        sh, sw = grey.shape
        if self._objects and self._prev_grey is not None:
            assert self._flow is not None
            flow = self._flow.calc(grey, self._prev_grey, None)
            gx, gy = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
            map_x, map_y = gx + flow[..., 0], gy + flow[..., 1]
            for oid, obj in list(self._objects.items()):
                if oid in prompts:
                    continue
                warped = cv2.remap(obj.mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= 0.5
                if not warped.any():
                    self._lose(oid)  # left the frame
                    continue
                obj.mask = self._refine(small, warped) if self.config.refine else warped
                if not obj.mask.any():
                    self._lose(oid)
        if self.config.reacquire and self._lost:
            self._search(small, skip=set(prompts))
        for oid, mask in prompts.items():
            self._objects[oid] = _Object(resize_mask(mask, (sw, sh)))
            self._lost.pop(oid, None)
        for obj in self._objects.values():
            self._remember(small, obj)
        self._prev_grey = grey
        size = (frame.width, frame.height)
        return {oid: resize_mask(o.mask, size) for oid, o in self._objects.items()}

    def _refine(self, img: np.ndarray, warped: np.ndarray) -> np.ndarray:
        cfg = self.config
        h, w = warped.shape
        area = int(warped.sum())
        band = max(cfg.min_band_px, int(round(cfg.band * np.sqrt(area))))
        box = bbox(warped)
        assert box is not None
        pad = 3 * band + (int(0.35 * np.sqrt(area)) if self._touches_border(warped) else 0)
        x0, y0 = max(0, box[0] - pad), max(0, box[1] - pad)
        x1, y1 = min(w, box[2] + pad), min(h, box[3] + pad)
        roi = img[y0:y1, x0:x1]
        wm = warped[y0:y1, x0:x1].astype(np.uint8)
        inner = cv2.erode(wm, disk(band)) > 0
        outer = cv2.dilate(wm, disk(band)) > 0
        # An object touching the image border may be entering the frame: newly visible
        # parts lie beyond the warped mask, so widen the uncertain zone there.
        entering = self._touches_border(warped)
        if entering:
            outer = cv2.dilate(wm, disk(max(band, int(0.35 * np.sqrt(area))))) > 0
        gc = np.full(wm.shape, GC_BGD, np.uint8)
        gc[outer] = GC_PR_BGD
        gc[wm > 0] = GC_PR_FGD
        gc[inner] = GC_FGD
        if not (gc == GC_BGD).any() or not (gc == GC_FGD).any():
            return warped
        if not grab_cut(roi[..., ::-1], gc, cfg.iterations):
            return warped
        refined_roi = np.isin(gc, (GC_FGD, GC_PR_FGD))
        refined_roi = components_touching(refined_roi, inner if inner.any() else wm > 0)
        refined_roi = cv2.morphologyEx(refined_roi.astype(np.uint8), cv2.MORPH_OPEN, disk(1)) > 0
        refined = np.zeros_like(warped)
        refined[y0:y1, x0:x1] = fill_holes(refined_roi)
        new_area = int(refined.sum())
        limit = cfg.max_area_change * area
        if entering:
            limit = max(limit, 0.8 * area) if new_area > area else limit
        if area and abs(new_area - area) > limit:
            return warped
        return refined

    @staticmethod
    def _touches_border(mask: np.ndarray) -> bool:
        return bool(mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any())

    def _lose(self, oid: int) -> None:
        obj = self._objects.pop(oid)
        if obj.appearance is not None:
            self._lost[oid] = obj.appearance

    def _remember(self, img: np.ndarray, obj: _Object) -> None:
        """Keep the object's latest view while it is wholly inside the frame."""
        if not self.config.reacquire or self._touches_border(obj.mask):
            return
        box = bbox(obj.mask)
        if box is None or (box[2] - box[0]) < 8 or (box[3] - box[1]) < 8:
            return
        x0, y0, x1, y1 = box
        obj.appearance = _Appearance(img[y0:y1, x0:x1].copy(), obj.mask[y0:y1, x0:x1].copy())

    def _search(self, img: np.ndarray, skip: set[int]) -> None:
        """Re-acquire lost objects whose last view matches somewhere in this frame."""
        h, w = img.shape[:2]
        occupied = np.zeros((h, w), bool)
        for obj in self._objects.values():
            occupied |= obj.mask
        for oid, app in list(self._lost.items()):
            app.lost_for += 1
            if oid in skip or app.lost_for > self.config.reacquire_frames:
                if app.lost_for > self.config.reacquire_frames:
                    del self._lost[oid]
                continue
            best = (-1.0, (0, 0), app.mask)
            for s in (0.85, 1.0, 1.18):
                pw = max(8, round(app.patch.shape[1] * s))
                ph = max(8, round(app.patch.shape[0] * s))
                if pw >= w or ph >= h:
                    continue
                patch = cv2.resize(app.patch, (pw, ph), interpolation=cv2.INTER_AREA)
                pmask = cv2.resize(app.mask.astype(np.uint8), (pw, ph), interpolation=cv2.INTER_NEAREST)
                if pmask.sum() < 30:
                    continue
                score = cv2.matchTemplate(img, patch, cv2.TM_CCOEFF_NORMED, mask=np.dstack([pmask] * 3))
                score = np.nan_to_num(score, nan=-1.0, posinf=-1.0, neginf=-1.0)
                _, peak, _, loc = cv2.minMaxLoc(score)
                if peak > best[0]:
                    best = (float(peak), loc, pmask > 0)
            peak, (x, y), pmask = best
            if peak < self.config.reacquire_score:
                continue
            mask = np.zeros((h, w), bool)
            mask[y:y + pmask.shape[0], x:x + pmask.shape[1]] = pmask
            if (mask & occupied).sum() > 0.3 * mask.sum():
                continue  # that is another tracked object
            refined = self._refine(img, mask) if self.config.refine else mask
            self._objects[oid] = _Object(refined if refined.any() else mask, app)
            del self._lost[oid]
            occupied |= self._objects[oid].mask

    def end_objects(self, ids: Iterable[int]) -> None:
        for oid in list(ids):
            self._objects.pop(oid, None)
            self._lost.pop(oid, None)

    def close(self) -> None:
        self._objects.clear()
        self._lost.clear()
        self._prev_grey = None


@dataclass
class FlowTracker:
    """Tracker backend: hands out :class:`FlowTrackPass` objects."""

    config: FlowTrackerConfig = field(default_factory=FlowTrackerConfig)

    def new_pass(self, video: VideoInfo, *, reverse: bool) -> FlowTrackPass:
        return FlowTrackPass(video, self.config)
