"""Mask propagation without model weights: optical flow + GrabCut refinement.

Per frame (at a working resolution, longer side ≤ ``max_side``):

1. Dense optical flow (OpenCV DIS) from the new frame back to the previous one; each
   object's previous mask is warped along it (backward warping, no holes). Fast motion
   defeats dense flow, so a second hypothesis moves the previous mask rigidly to where its
   previous appearance matches best (masked normalised correlation in a window that grows
   with the object's speed, coarse then fine); it wins when it explains the new frame
   clearly better than the flow does.
2. The predicted mask is refined by GrabCut in a band around its boundary: the eroded
   interior stays foreground, far outside stays background, and the band is decided
   by colour models learnt from this frame, so the outline follows deforming objects.
   Where the mask meets the frame border is not interior (the object's extent there is
   unknown), nor is what was added for an object coming in over the border.
3. Guards: if refinement changes the area by more than ``max_area_change`` relative to
   the warped mask, the warped mask is kept (flow is trusted over a colour leak); only
   components connected to the warped mask's body are kept; holes are filled. Large
   regions are cut at a reduced size (``grabcut_pixels``) and the band scaled back up.

Objects given a mask on a frame restart from it. The tracker only reports what it
measured: whether a mask is the object, lost objects and their re-acquisition are decided
by the engine for every tracker (:mod:`editor.tracking.evidence`). Its passes take the
engine's review (:class:`~editor.api.backends.ReviewableTrackPass`): each frame's masks are
judged before the pass continues from them, so a held, trimmed or re-acquired mask (or an
empty one: the object is lost) replaces its own. Shot cuts are handled by the core.
Masks are returned at the source resolution.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np
from pydantic import Field

from editor.api.backends import BackendOptions, Review
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


class FlowTrackerConfig(BackendOptions):
    """Settings of the classical tracker (``--backend-set classic.OPTION=VALUE``)."""

    max_side: int = Field(480, ge=32)
    """Track at most at this resolution (longer side, px); masks come back at full size."""
    band: float = Field(0.08, gt=0, le=1)
    """Half-width of the refinement band, as a fraction of the object's size (sqrt of area)."""
    min_band_px: int = Field(3, ge=1)
    """Smallest half-width of the refinement band (px at the working resolution)."""
    iterations: int = Field(2, ge=1, le=20)
    """GrabCut iterations per refinement."""
    max_area_change: float = Field(0.35, gt=0)
    """Keep the warped mask when refinement changes its area by more than this fraction."""
    refine: bool = True
    """Refine each warped mask with GrabCut in a band around its boundary."""
    reacquire: bool = True
    """Kept for old command lines; lost objects are re-acquired by the engine for every
    tracker (:mod:`editor.tracking.evidence`)."""
    rigid: bool = True
    """Also try moving each mask rigidly to where its appearance matches (fast motion)."""
    grabcut_pixels: int = Field(20000, ge=1000)
    """GrabCut regions larger than this (px) are cut at a reduced size."""
    keep_thin: bool = False
    """Keep the core of the warped mask's thin parts (narrower than the band: ears, limbs,
    a handle) as foreground: GrabCut decides them by colour alone, with no interior to
    anchor them, and drops them on the first frame after the prompt that showed them."""


def thin_core(mask: np.ndarray, band: int) -> np.ndarray:
    """The parts of ``mask`` (uint8) narrower than ``2 × band`` px (what an opening by a disk
    of radius ``band`` removes), less a 1 px rim: the thin parts' middle."""
    body = cv2.morphologyEx(mask, cv2.MORPH_OPEN, disk(band))
    core = cv2.erode(mask, disk(1))
    return (core > 0) & (cv2.dilate(body, disk(1)) == 0)


@dataclass
class _Object:
    mask: np.ndarray  # bool, working resolution
    velocity: tuple[float, float] = (0.0, 0.0)
    """Last displacement of the mask (px per frame, working resolution)."""


@dataclass
class FlowTrackPass:
    """One direction of propagation over consecutive frames."""

    video: VideoInfo
    config: FlowTrackerConfig = field(default_factory=FlowTrackerConfig)
    _objects: dict[int, _Object] = field(default_factory=dict)
    _prev_grey: np.ndarray | None = None
    """The previous frame at working resolution, grey; made from :attr:`_prev_image` only when
    a frame needs the flow (none while every object is prompted: detections on every frame)."""
    _prev_image: np.ndarray | None = None
    """The previous frame (a copy of its 8-bit RGB image)."""
    review: Review | None = None
    _scale: float = 1.0
    _flow: cv2.DISOpticalFlow | None = None

    def __post_init__(self) -> None:
        self._scale = working_scale(self.video.width, self.video.height, self.config.max_side)
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def _small(self, image: np.ndarray) -> np.ndarray:
        if self._scale >= 1.0:
            return image
        return cv2.resize(image, self._size(image), interpolation=cv2.INTER_AREA)

    def _size(self, image: np.ndarray) -> tuple[int, int]:
        """(width, height) of ``image`` at working resolution (what :meth:`_small` makes)."""
        h, w = image.shape[:2]
        if self._scale >= 1.0:
            return w, h
        return max(1, round(w * self._scale)), max(1, round(h * self._scale))

    def step(self, frame: Frame, prompts: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        sw, sh = self._size(frame.image)
        grey: np.ndarray | None = None
        if self._prev_image is not None and any(oid not in prompts for oid in self._objects):
            # the flow moves the masks of objects without a prompt here: none, no flow (and
            # no working-resolution frame: it is made here, the previous one too, when needed)
            assert self._flow is not None
            small = self._small(frame.image)
            grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
            if self._prev_grey is None:
                self._prev_grey = cv2.cvtColor(self._small(self._prev_image), cv2.COLOR_RGB2GRAY)
            flow = self._flow.calc(grey, self._prev_grey, None)
            gx, gy = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
            map_x, map_y = gx + flow[..., 0], gy + flow[..., 1]
            for oid, obj in list(self._objects.items()):
                if oid in prompts:
                    continue
                warped = cv2.remap(obj.mask.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0) >= 0.5
                if self.config.rigid and obj.mask.any():
                    warped = self._rigid(obj, grey, warped)
                filled = self._entering(obj.mask, warped)
                if filled.any() and self.config.refine:
                    filled = self._refine(small, filled, guessed=filled & ~warped)
                warped = filled
                obj.mask = warped
        size = (frame.width, frame.height)
        full = {oid: resize_mask(o.mask, size) for oid, o in self._objects.items() if oid not in prompts}
        if self.review is not None and full:
            for oid, mask in self.review(frame, full, {}).items():
                full[oid] = mask.astype(bool)
                self._objects[oid].mask = resize_mask(mask, (sw, sh))
        for oid, mask in prompts.items():
            self._objects[oid] = _Object(resize_mask(mask, (sw, sh)))
            full[oid] = mask if mask.dtype == bool else mask.astype(bool)  # masks are never changed in place
        for oid in [oid for oid, o in self._objects.items() if not o.mask.any()]:
            del self._objects[oid]  # gone (or lost)
            full.pop(oid, None)
        self._prev_grey = grey
        self._prev_image = frame.image.copy()  # a copy: the frame goes on to the stages
        return full

    def _rigid(self, obj: _Object, grey: np.ndarray, warped: np.ndarray) -> np.ndarray:
        """The flow-warped mask, or the previous mask moved rigidly where its appearance
        matches clearly better (and the object's velocity updated)."""
        prev = self._prev_grey
        assert prev is not None
        mask = obj.mask
        box = bbox(mask)
        assert box is not None
        x0, y0, x1, y1 = box
        bw, bh = x1 - x0, y1 - y0
        cy0, cx0 = np.argwhere(mask).mean(axis=0)
        if bw < 6 or bh < 6:
            return warped
        templ = prev[y0:y1, x0:x1]
        tmask = mask[y0:y1, x0:x1].astype(np.uint8)
        if templ[tmask > 0].std() < 3:
            return warped  # flat: nothing to match
        vx, vy = obj.velocity
        r = int(0.25 * max(bw, bh) + 1.5 * np.hypot(vx, vy)) + 4
        H, W = grey.shape
        padded = cv2.copyMakeBorder(grey, r, r, r, r, cv2.BORDER_REPLICATE)
        cx, cy = int(round(vx)), int(round(vy))  # search around the constant-velocity guess
        wx0, wy0 = x0 + cx, y0 + cy  # window origin (frame coordinates) = -r .. +r around the guess
        win = padded[wy0 + r - r:wy0 + r + bh + r, wx0 + r - r:wx0 + r + bw + r] if (
            0 <= wy0 and 0 <= wx0 and wy0 + bh + 2 * r <= H + 2 * r and wx0 + bw + 2 * r <= W + 2 * r) else None
        if win is None or win.shape[0] < bh or win.shape[1] < bw:
            return warped
        f = min(1.0, 40.0 / max(bw, bh))
        if f < 1.0:
            sz = (max(4, round(bw * f)), max(4, round(bh * f)))
            t_s = cv2.resize(templ, sz, interpolation=cv2.INTER_AREA)
            m_s = cv2.resize(tmask, sz, interpolation=cv2.INTER_NEAREST)
            w_s = cv2.resize(win, (max(sz[0], round(win.shape[1] * f)), max(sz[1], round(win.shape[0] * f))),
                             interpolation=cv2.INTER_AREA)
        else:
            t_s, m_s, w_s = templ, tmask, win
        if m_s.sum() < 8:
            return warped
        res = np.nan_to_num(cv2.matchTemplate(w_s, t_s, cv2.TM_CCOEFF_NORMED, mask=m_s), nan=-1.0,
                            posinf=-1.0, neginf=-1.0)
        _, _, _, loc = cv2.minMaxLoc(res)
        dx, dy = loc[0] / f - r + cx, loc[1] / f - r + cy  # coarse displacement
        fine = int(np.ceil(1.0 / f)) + 1

        def score_at(dx_: int, dy_: int) -> float:
            ax, ay = x0 + dx_, y0 + dy_
            if ax < 0 or ay < 0 or ax + bw > W or ay + bh > H:
                return -1.0
            v = cv2.matchTemplate(grey[ay:ay + bh, ax:ax + bw], templ, cv2.TM_CCOEFF_NORMED, mask=tmask)[0, 0]
            return float(v) if np.isfinite(v) else -1.0

        best, best_d = -1.0, (int(round(dx)), int(round(dy)))
        # fine: every offset within ±fine of the coarse one, in one correlation
        fx0, fy0 = x0 + best_d[0] - fine, y0 + best_d[1] - fine
        fx1, fy1 = x0 + best_d[0] + bw + fine, y0 + best_d[1] + bh + fine
        cx0_, cy0_ = max(0, fx0), max(0, fy0)
        cx1_, cy1_ = min(W, fx1), min(H, fy1)
        if cx1_ - cx0_ >= bw and cy1_ - cy0_ >= bh:
            res = np.nan_to_num(cv2.matchTemplate(grey[cy0_:cy1_, cx0_:cx1_], templ, cv2.TM_CCOEFF_NORMED,
                                                  mask=tmask), nan=-1.0, posinf=-1.0, neginf=-1.0)
            _, best, _, loc = cv2.minMaxLoc(res)
            best_d = (cx0_ + loc[0] - x0, cy0_ + loc[1] - y0)
        wys, wxs = np.nonzero(warped)
        flow_d = (int(round(wxs.mean() - cx0)), int(round(wys.mean() - cy0))) if wxs.size else best_d
        flow_score = score_at(*flow_d) if wxs.size and warped.sum() > 0.5 * mask.sum() else -1.0
        if best >= 0.5 and best > flow_score + 0.1:
            shifted = np.zeros_like(mask)
            sx0, sy0 = max(0, best_d[0]), max(0, best_d[1])
            sx1, sy1 = min(W, W + best_d[0]), min(H, H + best_d[1])
            shifted[sy0:sy1, sx0:sx1] = mask[sy0 - best_d[1]:sy1 - best_d[1], sx0 - best_d[0]:sx1 - best_d[0]]
            obj.velocity = (float(best_d[0]), float(best_d[1]))
            return shifted
        obj.velocity = (float(flow_d[0]), float(flow_d[1])) if wxs.size else (0.0, 0.0)
        return warped

    @staticmethod
    def _entering(prev: np.ndarray, warped: np.ndarray) -> np.ndarray:
        """An object that touched the border and moved inward is coming in: what lies
        between its moved mask and that border has just become visible, and is part of it
        (rows/columns the previous mask touched the border in)."""
        if not warped.any():
            return warped
        out = warped.copy()
        h, w = warped.shape
        for side in range(4):
            m, p = np.rot90(out, side), np.rot90(prev, side)  # the side under study is the left edge
            rows = np.flatnonzero(p[:, 0] & m.any(axis=1) & ~m[:, 0])
            for r in rows:
                first = int(np.argmax(m[r]))
                m[r, :first] = True
            out = np.rot90(m, -side)
        return out

    def set_review(self, review: Review | None) -> None:
        """Judge each frame's masks before continuing from them (the engine's evidence)."""
        self.review = review

    def _refine(self, img: np.ndarray, warped: np.ndarray, guessed: np.ndarray | None = None) -> np.ndarray:
        """``warped`` (bool H×W, working resolution) refined by GrabCut in a band around its
        boundary; ``guessed`` (bool H×W): the part of it :meth:`_entering` added (newly
        visible at the border: the object is coming in), none when not given.

        Only the eroded interior is certain foreground, and neither the frame border nor a
        guess counts as interior: erosion treats the world outside the frame as background
        (where the mask meets the border, how far the object goes is unknown), and a guessed
        strip is decided by colour. Left certain, both were kept whatever the frame showed
        and, once in the mask, carried on by the flow: a head cut by the frame's top kept a
        block of ceiling (carphone, #25) and the van a strip of façade up to the top
        (``tests/data/real_tune``: bikes-van, 1 click J&F 0.641 → 0.746). The wide uncertain
        zone and the larger growth allowed for an object coming in apply only when it is
        seen coming in (``guessed`` not empty), no longer to every object that touches the
        border."""
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
        inner = cv2.erode(wm, disk(band), borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
        entering = guessed is not None and bool(guessed.any())
        if entering:
            inner &= ~guessed[y0:y1, x0:x1]
        outer = cv2.dilate(wm, disk(band)) > 0
        # An object coming in over the image border: newly visible parts lie beyond the
        # warped mask, so widen the uncertain zone there.
        if entering:
            outer = cv2.dilate(wm, disk(max(band, int(0.35 * np.sqrt(area))))) > 0
        gc = np.full(wm.shape, GC_BGD, np.uint8)
        gc[outer] = GC_PR_BGD
        gc[wm > 0] = GC_PR_FGD
        gc[inner] = GC_FGD
        if cfg.keep_thin:  # thin parts have no interior to anchor them: their core is kept
            gc[thin_core(wm, band)] = GC_FGD
        if not (gc == GC_BGD).any() or not (gc == GC_FGD).any():
            return warped
        rh, rw = gc.shape
        f = min(1.0, float(np.sqrt(cfg.grabcut_pixels / float(rh * rw))))
        if f < 1.0:  # cut a smaller copy; certain labels stay exact, the band is scaled back
            size = (max(8, round(rw * f)), max(8, round(rh * f)))
            gc_s = cv2.resize(gc, size, interpolation=cv2.INTER_NEAREST)
            if not (gc_s == GC_BGD).any() or not (gc_s == GC_FGD).any():
                return warped
            if not grab_cut(cv2.resize(roi, size, interpolation=cv2.INTER_AREA)[..., ::-1], gc_s, cfg.iterations):
                return warped
            fg_s = np.isin(gc_s, (GC_FGD, GC_PR_FGD)).astype(np.float32)
            fg = cv2.resize(fg_s, (rw, rh), interpolation=cv2.INTER_LINEAR) >= 0.5
            refined_roi = np.where(gc == GC_FGD, True, np.where(gc == GC_BGD, False, fg))
        else:
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

    def end_objects(self, ids: Iterable[int]) -> None:
        ids = list(ids)
        for oid in ids:
            self._objects.pop(oid, None)
        if self.review is not None:
            self.review.forget(ids)

    def close(self) -> None:
        self._objects.clear()
        self._prev_grey = None
        self._prev_image = None


@dataclass
class FlowTracker:
    """Tracker backend: hands out :class:`FlowTrackPass` objects."""

    config: FlowTrackerConfig = field(default_factory=FlowTrackerConfig)

    def new_pass(self, video: VideoInfo, *, reverse: bool) -> FlowTrackPass:
        return FlowTrackPass(video, self.config)
