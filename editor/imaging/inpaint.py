"""Video inpainting that uses the video itself (the ``remove`` stage's engine).

For each frame, hole pixels are filled, in this order of trust:

1. from the next frames of the window where that background is visible: each neighbour is
   aligned to the current frame by a homography (camera motion; ORB features matched
   outside the holes, those the previous pair's motion predicts — a passing car that fills
   the view is no camera motion —, chained frame to frame), optionally refined by the median dense
   optical flow around the hole (local motion / parallax), gain-matched on a ring around
   the hole, nearest frames first (with ``memory`` off: all neighbours, before and after);
2. from the shot's background memory (:mod:`editor.imaging.background_memory`): every
   pixel any earlier frame of the shot showed (outside all objects, and still: unchanged
   since the previous frame once the camera's motion is undone), then what was synthesised
   for earlier frames, carried along the camera's motion so a fill does not change from
   frame to frame;
3. what is still missing is synthesised spatially (the ``spatial`` inpainter: by default
   exemplar-based completion, :mod:`editor.imaging.patch_synthesis`) and remembered.

A pixel some frame shows replaces its synthesised value from then on. Alignment is computed
at a reduced resolution (≤ ``max_side``); the fill is sampled from the full-resolution frames.

Frames may be uint8 or uint16: features and flow are computed on an 8-bit view (ORB and
DIS take 8-bit images), warping, gain matching, the memory and compositing run at the
frame's depth, and the spatial fill (which takes 8-bit RGB) is computed in 8 bits and
scaled back for the pixels no frame sees.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from editor.api.stages import Inpainter
from editor.imaging.background_memory import OBSERVED, SYNTHETIC, BackgroundMemory
from editor.imaging.compositing import grow
from editor.imaging.depth import peak, rgb8, to_depth
from editor.tracking.shots import ShotDetector

#: Mean grey difference (8-bit levels) of two consecutive frames, aligned by their
#: homography, above which they are taken as a cut: the window's frames beyond it are not used.
CUT_DIFFERENCE = 25.0
#: A homography moving a frame corner by more than this share of the frame's longer side, or
#: scaling its area out of [1/AREA_CHANGE, AREA_CHANGE], is not camera motion between two
#: neighbouring frames (a false match): it is not used.
MAX_CORNER_SHIFT, AREA_CHANGE = 0.35, 1.5
#: Camera motion is smooth: a feature's position predicted by the previous pair's homography
#: (frame a - 1 to a, applied to frame a to a + 1) is within this share of the alignment
#: image's longer side (5 px at 640) of where it is matched when it is background. Only such
#: matches are fitted, so a passing car that fills most of the view, whose features would win
#: RANSAC, is no camera motion. Set from bikes.mp4 (frames 76–84 and 101–135, the camera's
#: frame-to-frame change ≤ 1.2 px at 640; the car passing on 85–100 moves ≥ 10 px against it)
#: with a margin of four.
MOTION_GATE = 0.008
#: Fewer than 12 matches where the prior predicts them, and a fit of all of them that moves a
#: corner of the frame beyond the gate from the prior: the moving object has covered the
#: background's features, and the prior is taken as the camera's motion — for at most this
#: many pairs in a row (0.5 s at 24 fps), after which the fit of all matches is believed (a
#: camera that really changed its motion).
MAX_COAST = 12
#: The memory starts over when a frame's footprint in the shot's first frame has grown or
#: shrunk beyond this factor (a zoom, or drift of the chained homographies).
MAX_FOOTPRINT_CHANGE = 3.0
#: With a memory, a window frame is used only if it shows more than this share of the hole
#: still to fill (and more than 32 px).
MIN_REVEAL = 0.01
#: Change of any RGB channel (8-bit levels, after a σ 1.5 px blur, at ≤ ``FLOW_SIDE`` px)
#: between a frame and a neighbour aligned to it above which a pixel has changed.
STILL_DIFFERENCE = 20
#: Residual motion (px at ≤ ``FLOW_SIDE`` px, DIS optical flow between a frame and a neighbour
#: aligned to it by the camera's motion) above which a pixel moves against the background:
#: catches the flat inside of a passing car, which no colour difference shows. Chosen on
#: bikes.mp4 (the car passing the cyclist, frames 88–102: its side panel ≥ 3 px, the still
#: shop front ≤ 0.5 px after alignment).
MOVING_FLOW, FLOW_SIDE = 1.0, 320
#: A pixel something unmasked moved over within this many frames is not taken as background
#: (bikes.mp4: the passing car's flat panel shows as moving on one frame in two or three).
MOVING_REACH = 2


def unknown_region(hole: np.ndarray, avoid: np.ndarray | None, reach: int = 3) -> np.ndarray:
    """H×W bool: ``hole`` with every connected region of ``avoid`` (H×W bool) that comes
    within ``reach`` px of it — what an inpainter that takes a single mask must fill so that
    nothing is copied from the avoided pixels (their regions are filled too, from their own
    background edge, and only the hole is kept). ``avoid`` ``None`` or empty: ``hole``."""
    if avoid is None or not avoid.any():
        return hole
    near = cv2.dilate(hole.view(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    count, labels = cv2.connectedComponents((avoid & ~hole).view(np.uint8), connectivity=8)
    touching = np.unique(labels[near & avoid])
    touching = touching[touching > 0]
    if len(touching) == 0:
        return hole
    return hole | np.isin(labels, touching)


def telea(image: np.ndarray, hole: np.ndarray, avoid: np.ndarray | None = None, max_side: int = 320) -> np.ndarray:
    """OpenCV's Telea inpainting (Telea, J. Graphics Tools 9(1), 2004) on a region of
    interest around the hole. ``image``: H×W×3 uint8; ``hole``, ``avoid``: H×W bool. The
    avoided regions touching the hole are filled with it (:func:`unknown_region`), so none
    of their colour diffuses into the hole.

    Large holes are filled at a reduced resolution (Telea's cost grows with the hole's
    area, and a fill no frame could see is a smooth guess anyway); only hole pixels of
    the full-resolution image are replaced.
    """
    target = hole
    hole = unknown_region(hole, avoid)
    x, y, w, h = cv2.boundingRect(hole.view(np.uint8))
    if w == 0:
        return image
    pad = 16
    H, W = hole.shape
    x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + w + pad), min(H, y + h + pad)
    roi, roi_hole = image[y0:y1, x0:x1], hole[y0:y1, x0:x1]
    s = min(1.0, max_side / float(max(roi.shape[:2])))
    if s < 1.0:
        size = (max(1, round(roi.shape[1] * s)), max(1, round(roi.shape[0] * s)))
        small = cv2.resize(roi, size, interpolation=cv2.INTER_AREA)
        small_hole = cv2.resize(roi_hole.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
        small_hole = cv2.dilate(small_hole, np.ones((3, 3), np.uint8))
        filled = cv2.resize(cv2.inpaint(small, small_hole, 3, cv2.INPAINT_TELEA), (roi.shape[1], roi.shape[0]),
                            interpolation=cv2.INTER_LINEAR)
    else:
        filled = cv2.inpaint(roi, roi_hole.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    out = image.copy()
    region = out[y0:y1, x0:x1]
    keep = roi_hole & target[y0:y1, x0:x1]
    region[keep] = filled[keep]
    return out


@dataclass
class _Features:
    keypoints: tuple
    descriptors: np.ndarray | None
    grey: np.ndarray


@dataclass
class FillPlan:
    """One frame's fill between :meth:`TemporalInpainter.prepare` and
    :meth:`TemporalInpainter.complete` (ROI: the region of interest around the hole)."""

    t: int
    image: np.ndarray
    hole: np.ndarray
    blocked: np.ndarray | None = None  # not background: masks, other objects, moving pixels
    scale: np.ndarray | None = None  # full → alignment coordinates
    inv_scale: np.ndarray | None = None
    box: tuple[int, int, int, int] = (0, 0, 0, 0)  # the ROI: x0, y0, x1, y1
    shift: np.ndarray | None = None  # frame → ROI coordinates
    roi_img: np.ndarray | None = None
    roi_hole: np.ndarray | None = None
    roi_out: np.ndarray | None = None  # filled so far
    remaining: np.ndarray | None = None  # ROI bool: still to fill
    past: list[int] = field(default_factory=list)  # window positions of the earlier frames, nearest first
    frames: list[np.ndarray] = field(default_factory=list)
    holes: list[np.ndarray | None] = field(default_factory=list)  # not background, for the past frames
    indices: list[int] = field(default_factory=list)
    temporal_fraction: float = 0.0  # share of the hole filled from frames and the memory (complete)

    @property
    def size(self) -> tuple[int, int]:
        x0, y0, x1, y1 = self.box
        return (x1 - x0, y1 - y0)


@dataclass
class TemporalInpainter:
    """Fill holes from a window of frames and the shot's memory; reuse across frames
    (features are cached). Frames are given in order; ``memory`` ``None``: no memory and no
    carried fill (each frame filled on its own from its window)."""

    max_side: int = 640
    flow_refine: bool = True
    spatial: Inpainter = telea
    memory: BackgroundMemory | None = None
    _last: int | None = None  # the last frame filled (its features are kept for the next pair)
    _to_ref: np.ndarray = field(default_factory=lambda: np.eye(3))  # last frame → shot's first (small coords)
    _shots: ShotDetector = field(default_factory=ShotDetector)
    _broken: set[int] = field(default_factory=set)  # pairs (by first frame) with a cut between them
    _features: dict[int, _Features] = field(default_factory=dict)
    _homography: dict[int, np.ndarray] = field(default_factory=dict)  # i → H mapping frame i to i+1 (small coords)
    _previous: tuple[int, np.ndarray, int] | None = None  # the last pair estimated (its first frame, H, pairs
    # in a row taken from the prior): the motion prior
    _moving: dict[int, tuple[np.ndarray, int]] = field(default_factory=dict)  # i → (moving pixels, neighbours used)
    _near_moving: dict[int, tuple[np.ndarray, int]] = field(default_factory=dict)  # i → (union, frames used)
    _dis: cv2.DISOpticalFlow = field(
        default_factory=lambda: cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST))
    _orb: cv2.ORB = field(default_factory=lambda: cv2.ORB_create(1000))
    _matcher: cv2.BFMatcher = field(default_factory=lambda: cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True))
    last_temporal_fraction: float = 0.0

    def _scale(self, shape: tuple[int, ...]) -> float:
        return min(1.0, self.max_side / float(max(shape[:2])))

    def _feat(self, index: int, image: np.ndarray, hole: np.ndarray) -> _Features:
        f = self._features.get(index)
        if f is None:
            s = self._scale(image.shape)
            size = (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s)))
            grey = cv2.cvtColor(rgb8(cv2.resize(image, size, interpolation=cv2.INTER_AREA)), cv2.COLOR_RGB2GRAY)
            valid = cv2.resize((~hole).astype(np.uint8) * 255, size, interpolation=cv2.INTER_NEAREST)
            valid = cv2.erode(valid, np.ones((7, 7), np.uint8))
            kp, des = self._orb.detectAndCompute(grey, valid)
            f = _Features(tuple(kp), des, grey)
            self._features[index] = f
        return f

    def _pair(self, a: int, b: int) -> np.ndarray:
        """Homography mapping frame a's (small) coordinates to frame b's, b = a + 1: ORB
        matches outside the holes, RANSAC, refined (:meth:`_subpixel`). When the pair before
        (a - 1 to a) was estimated just before this one, only the matches its motion predicts
        within ``MOTION_GATE`` are fitted, if at least 12 are (the camera's motion is smooth;
        a large moving object's features are not background); else all are, and where their
        fit disagrees with the prior the prior is kept (``MAX_COAST``)."""
        key = a
        if key not in self._homography:
            fa, fb = self._features[a], self._features[b]
            prior, coasted, coast = None, 0, False
            if self._previous is not None and self._previous[0] == a - 1 and a - 1 not in self._broken:
                _, prior, coasted = self._previous
            h, mover = np.eye(3), None
            if fa.descriptors is not None and fb.descriptors is not None and len(fa.keypoints) >= 8:
                matches = self._matcher.match(fa.descriptors, fb.descriptors)
                if len(matches) >= 12:
                    src = np.float32([fa.keypoints[m.queryIdx].pt for m in matches])
                    dst = np.float32([fb.keypoints[m.trainIdx].pt for m in matches])
                    if prior is not None:
                        gate = MOTION_GATE * max(fa.grey.shape)
                        predicted = cv2.perspectiveTransform(src.reshape(-1, 1, 2), prior).reshape(-1, 2)
                        near = np.sum((predicted - dst) ** 2, axis=1) < gate ** 2
                        mover = src[~near], dst[~near]
                        if near.sum() >= 12:
                            src, dst = src[near], dst[near]
                        else:
                            coast = coasted < MAX_COAST
                    est, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 2.0)
                    if est is not None and inliers is not None and inliers.sum() >= 10:
                        h = self._subpixel(fa.grey, fb.grey, src[inliers.ravel() > 0], est)
                    if coast and _corner_shift(h, prior, fa.grey.shape) <= MOTION_GATE * max(fa.grey.shape):
                        coast = False  # the fit agrees with the prior: believed
                    if coast:
                        h = prior.copy()
            # no plausible camera motion (a false match): taken as none; a motion that leaves
            # the frames far apart is a cut, which no chain of homographies may cross
            if _change(h, fa.grey.shape) is None:
                h = np.eye(3)
            if _difference(fa.grey, fb.grey, h) > CUT_DIFFERENCE and not (
                    mover is not None and self._two_layers(fa.grey, fb.grey, h, *mover)):
                # a cut: the camera's motion does not align the frames, nor does it together
                # with the motion of what moves against it (a large passing car)
                self._broken.add(key)
            self._homography[key] = h
            self._previous = (a, h, coasted + 1 if coast else 0)
        return self._homography[key]

    @staticmethod
    def _two_layers(a: np.ndarray, b: np.ndarray, camera: np.ndarray, src: np.ndarray, dst: np.ndarray) -> bool:
        """Whether grey frames ``a`` and ``b`` are one shot seen as two layers: each pixel
        aligned by the camera's homography or by the RANSAC fit of the matches it leaves out
        (``src`` → ``dst``: a large moving object), the smaller difference averaging within
        ``CUT_DIFFERENCE``."""
        if len(src) < 12:
            return False
        est, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 2.0)
        if est is None or inliers is None or inliers.sum() < 10 or _change(est, a.shape) is None:
            return False
        size = (b.shape[1], b.shape[0])
        diffs = [cv2.absdiff(cv2.warpPerspective(a, m, size, flags=cv2.INTER_LINEAR,
                                                 borderMode=cv2.BORDER_REPLICATE), b) for m in (camera, est)]
        return float(np.mean(cv2.min(*diffs))) <= CUT_DIFFERENCE

    @staticmethod
    def _subpixel(a: np.ndarray, b: np.ndarray, points: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        """The RANSAC homography refined to sub-pixel accuracy: its inlier features followed
        from ``a`` to ``b`` by pyramidal Lucas–Kanade (started at the estimate's prediction),
        then fitted again (RANSAC at 1 px, least squares on the inliers). Chained over a
        window, ORB's whole-pixel keypoints would drift by pixels."""
        predicted = cv2.perspectiveTransform(points.reshape(-1, 1, 2), estimate).astype(np.float32)
        tracked, status, _ = cv2.calcOpticalFlowPyrLK(a, b, points.reshape(-1, 1, 2), predicted.copy(),
                                                      winSize=(15, 15), maxLevel=1,
                                                      flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
        ok = status.ravel() == 1
        if ok.sum() < 10:
            return estimate
        src, dst = points[ok], tracked.reshape(-1, 2)[ok]
        est, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 1.0)
        if est is None or inliers is None or inliers.sum() < 10:
            return estimate
        keep = inliers.ravel() > 0
        refined, _ = cv2.findHomography(src[keep], dst[keep], 0)
        return refined if refined is not None else est

    def _to(self, s: int, t: int) -> np.ndarray | None:
        """Homography (small coords) mapping frame s to frame t by chaining neighbours;
        ``None`` across a cut."""
        pairs = [self._pair(i, i + 1) for i in range(min(s, t), max(s, t))]  # estimated in order (the prior)
        h = np.eye(3)
        if s < t:
            for p in pairs:
                h = p @ h
        else:
            for p in reversed(pairs):
                h = np.linalg.inv(p) @ h
        if any(i in self._broken for i in range(min(s, t), max(s, t))):
            return None
        return h

    def forget_before(self, index: int) -> None:
        keep = self._last if self._last is not None else index
        for k in [k for k in self._features if k < index and k != keep]:
            del self._features[k]
        for k in [k for k in self._homography if k < index]:
            del self._homography[k]
            self._broken.discard(k)
        for cache in (self._moving, self._near_moving):
            for k in [k for k in cache if k < index]:
                del cache[k]

    def _follow_shot(self, t: int, image: np.ndarray) -> None:
        """Move the memory's pose to frame ``t`` (chained homography from the last frame),
        starting a new shot at a cut (:class:`~editor.tracking.shots.ShotDetector`), a gap,
        or where the chain has drifted (the frame's footprint ``MAX_FOOTPRINT_CHANGE``)."""
        last, self._last = self._last, t
        cut = self._shots.update(image)
        if cut or last is None or t != last + 1 or last not in self._features:
            self._start_shot()
            return
        to_ref = self._to_ref @ np.linalg.inv(self._pair(last, t))
        if last in self._broken:
            self._start_shot()
            return
        area = _change(to_ref, self._features[t].grey.shape, max_shift=None)
        if area is None or not 1 / MAX_FOOTPRINT_CHANGE <= area <= MAX_FOOTPRINT_CHANGE:
            self._start_shot()
            return
        self._to_ref = to_ref

    def _start_shot(self) -> None:
        self.memory.reset()
        self._to_ref = np.eye(3)

    def close(self) -> None:
        if self.memory is not None:
            self.memory.close()

    def fill(self, frames: Sequence[np.ndarray], holes: Sequence[np.ndarray], indices: Sequence[int],
             center: int, others: Sequence[np.ndarray] | None = None) -> np.ndarray:
        """Fill ``holes[center]`` in ``frames[center]`` using the other frames of the window
        and the memory. Frames: H×W×3 uint8 or uint16, all the same size; holes: H×W bool.
        ``others``: per frame, H×W bool pixels that are not background either (objects kept
        in the picture, e.g. a tracked car): never copied into a hole, remembered or used for
        alignment, and not filled. Pixels that move against the camera's motion though no
        mask covers them (:meth:`_near_moving_pixels`) are treated the same way. The spatial
        inpainter gets both as its ``avoid`` mask. With a memory every frame of the shot must
        be given in order (also those without a hole: they are remembered).

        The same as :meth:`complete` of :meth:`prepare`, which a caller may run on two threads."""
        return self.complete(self.prepare(frames, holes, indices, center, others))

    def prepare(self, frames: Sequence[np.ndarray], holes: Sequence[np.ndarray], indices: Sequence[int],
                center: int, others: Sequence[np.ndarray] | None = None) -> FillPlan:
        """The part of :meth:`fill` that does not touch the memory: features, homographies,
        moving pixels and the fill from the window's later frames (arguments as :meth:`fill`).
        :meth:`complete` does the rest, in frame order. Plans are prepared in frame order, and
        the plan of frame t + 1 may be prepared while frame t is completed on another thread:
        ``complete`` only reads what ``prepare`` computed for its own frame (call
        :meth:`forget_before` only with the first frame of the window before the one being
        completed)."""
        if others is not None:  # "not background": the hole and the other objects
            blocked = [h | o for h, o in zip(holes, others)]
            return self._prepare(frames, blocked, indices, center, holes[center])
        return self._prepare(frames, holes, indices, center, holes[center])

    def _prepare(self, frames: Sequence[np.ndarray], holes: Sequence[np.ndarray], indices: Sequence[int],
                 center: int, target: np.ndarray) -> FillPlan:
        """``holes``: per frame what is not background; ``target``: the centre frame's pixels
        to fill (within ``holes[center]``)."""
        image, hole = frames[center], target
        t = indices[center]
        plan = FillPlan(t=t, image=image, hole=hole)
        if self.memory is None and not hole.any():
            return plan
        for img, hl, idx in zip(frames, holes, indices):
            self._feat(idx, img, hl)
        if self.memory is not None and center > 0 and indices[center - 1] == t - 1:
            self._pair(t - 1, t)  # for following the shot (complete)
        # what moves against the camera's motion is no background either (computed for the
        # frames used only: the centre, and the neighbours it takes pixels from)
        masks = holes
        moving = _Lazy(len(frames), lambda k: self._moving_small(frames, masks, indices, k))
        # a neighbour's pixels are no source where something moves on it; the centre's are
        # not remembered, nor synthesised from, where something moved within MOVING_REACH frames
        holes = _Lazy(len(frames), lambda k: masks[k] | _at(moving[k], masks[k].shape))
        plan.blocked = masks[center] | self._near_moving_pixels(moving, indices, center, masks[center].shape)
        s_small = self._scale(image.shape)
        plan.scale = np.diag([s_small, s_small, 1.0])
        plan.inv_scale = np.diag([1 / s_small, 1 / s_small, 1.0])
        if not hole.any():
            return plan
        H, W = hole.shape
        if self.memory is None:
            order = sorted((k for k in range(len(frames)) if k != center), key=lambda k: abs(indices[k] - t))
        else:  # the past is in the memory; its frames only for what the memory lacks
            order = sorted((k for k in range(len(frames)) if indices[k] > t), key=lambda k: indices[k])
        # Everything happens in a region of interest around the hole (plus margin for the
        # gain ring and the flow refinement); the warps are computed into that region only.
        bx, by, bw, bh = cv2.boundingRect(hole.view(np.uint8))
        margin = max(32, (bw + bh) // 4)
        x0, y0 = max(0, bx - margin), max(0, by - margin)
        x1, y1 = min(W, bx + bw + margin), min(H, by + bh + margin)
        plan.box = (x0, y0, x1, y1)
        plan.shift = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
        plan.roi_img, plan.roi_hole = image[y0:y1, x0:x1], hole[y0:y1, x0:x1]
        plan.roi_out = plan.roi_img.copy()
        plan.remaining = plan.roi_hole.copy()
        self._from_neighbours(frames, holes, indices, order, t, plan.shift @ plan.inv_scale, plan.scale,
                              plan.roi_img, plan.roi_hole, plan.roi_out, plan.remaining, plan.size)
        if self.memory is not None:
            # the past frames, for what the memory lacks: their moving pixels and alignment
            # now, so that completing needs nothing more from this thread's caches
            plan.past = sorted((k for k in range(len(frames)) if indices[k] < t), key=lambda k: t - indices[k])
            for k in plan.past:
                holes[k]
                self._to(indices[k], t)
            plan.frames, plan.holes, plan.indices = list(frames), [holes[k] if k in plan.past else None
                                                                   for k in range(len(frames))], list(indices)
        return plan

    def complete(self, plan: FillPlan) -> np.ndarray:
        """Finish :meth:`prepare`'s ``plan``: follow the shot, fill from the memory (and the
        past frames), synthesise the rest, remember the frame. Plans are completed in frame
        order."""
        image, hole, t = plan.image, plan.hole, plan.t
        if self.memory is None and not hole.any():
            return image
        blocked = plan.blocked
        to_ref = None
        if self.memory is not None:
            self._follow_shot(t, image)
            to_ref = plan.inv_scale @ self._to_ref @ plan.scale
        if not hole.any():
            self.memory.write(image, ~blocked, to_ref, OBSERVED)
            return image
        x0, y0, x1, y1 = plan.box
        shift, size, roi_out, remaining = plan.shift, plan.size, plan.roi_out, plan.remaining
        carried = np.zeros_like(remaining)
        if self.memory is not None and remaining.any():
            colour, state = self.memory.read(shift @ np.linalg.inv(to_ref), size)
            use = remaining & (state == OBSERVED)
            roi_out[use] = colour[use]
            remaining &= ~use
            if remaining.any():  # what the past frames show but the memory lost (its edges)
                self._from_neighbours(plan.frames, plan.holes, plan.indices, plan.past, t,
                                      shift @ plan.inv_scale, plan.scale, plan.roi_img, plan.roi_hole, roi_out,
                                      remaining, size)
            carried = remaining & (state == SYNTHETIC)
            roi_out[carried] = colour[carried]
            remaining &= ~carried
        out = image.copy()
        out[y0:y1, x0:x1] = roi_out
        self.last_temporal_fraction = plan.temporal_fraction = \
            1.0 - (remaining.sum() + carried.sum()) / max(1, hole.sum())
        if remaining.any():
            full_remaining = np.zeros_like(hole)
            full_remaining[y0:y1, x0:x1] = remaining
            avoid = blocked & ~hole  # other objects and moving things; the hole's filled pixels are context
            if out.dtype == np.uint8:
                filled = self.spatial(out, full_remaining, avoid)
                out[full_remaining] = filled[full_remaining]
            else:  # inpainters take 8-bit RGB: fill in 8 bits, scale only the filled pixels back
                filled = self.spatial(rgb8(out), full_remaining, avoid)
                out[full_remaining] = to_depth(filled[full_remaining], out.dtype)
        if self.memory is not None:
            self.memory.write(image, ~blocked, to_ref, OBSERVED)
            self.memory.write(out, grow(hole, 2), to_ref, SYNTHETIC)  # only where nothing is stored
        return out

    def _from_neighbours(self, frames: Sequence[np.ndarray], holes: Sequence[np.ndarray], indices: Sequence[int],
                         order: Sequence[int], t: int, to_roi: np.ndarray, scale: np.ndarray,
                         roi_img: np.ndarray, roi_hole: np.ndarray, roi_out: np.ndarray, remaining: np.ndarray,
                         size: tuple[int, int]) -> None:
        """Fill ``remaining`` (ROI bool, updated in place) in ``roi_out`` from the frames
        ``order`` (window positions), each aligned to frame ``t``; ``to_roi`` maps the
        small (alignment) coordinates of frame ``t`` to the ROI's pixels."""
        ring = None
        # with a memory, a frame that reveals only a sliver is not worth its warp and flow:
        # the memory has those pixels as soon as the frame that shows them is filled
        min_reveal = 0 if self.memory is None else max(32, int(MIN_REVEAL * roi_hole.sum()))
        for k in order:
            if not remaining.any():
                break
            chain = self._to(indices[k], t)
            if chain is None:
                continue  # another shot
            h_roi = to_roi @ chain @ scale
            seen = self._seen(holes[k], h_roi, size)
            if np.count_nonzero(remaining & seen) <= min_reveal:
                continue  # this frame sees (almost) none of what is left: skip the warp and the refinement
            warped = cv2.warpPerspective(frames[k], h_roi, size, flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT)
            if self.flow_refine:
                shift_xy = self._residual_shift(roi_img, roi_hole, warped, seen)
                if shift_xy is not None and max(abs(shift_xy[0]), abs(shift_xy[1])) > 0.25:
                    # warped(x + d) ≈ image(x): fold the translation into the homography
                    fix = np.array([[1, 0, -shift_xy[0]], [0, 1, -shift_xy[1]], [0, 0, 1]], np.float64)
                    h_roi = fix @ h_roi
                    warped = cv2.warpPerspective(frames[k], h_roi, size, flags=cv2.INTER_LINEAR,
                                                 borderMode=cv2.BORDER_CONSTANT)
                    seen = self._seen(holes[k], h_roi, size)
            use = remaining & seen
            if not use.any():
                continue
            if ring is None:
                ring = (cv2.dilate(roi_hole.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0) & ~roi_hole
            ring_ok = ring & seen
            values = warped[use]
            if ring_ok.sum() > 50:  # exposure / gain matching on the hole's surroundings
                gain = (roi_img[ring_ok].astype(np.float32).mean(0) + 1) / (warped[ring_ok].astype(np.float32).mean(0) + 1)
                values = np.clip(values.astype(np.float32) * np.clip(gain, 0.8, 1.25), 0,
                                 peak(warped.dtype)).astype(warped.dtype)
            roi_out[use] = values
            remaining &= ~use

    def _near_moving_pixels(self, moving: Sequence[np.ndarray], indices: Sequence[int], k: int,
                            shape: tuple[int, int]) -> np.ndarray:
        """H×W bool (``shape``): pixels of window frame ``k`` that something unmasked moves
        over on this frame or within ``MOVING_REACH`` frames of it (the window's frames
        there, aligned by the camera's motion) — the flat inside of a passing car, which
        neither colour nor flow shows as moving on every frame, is covered on some nearby
        one. ``moving``: per window frame, :meth:`_moving_small`."""
        t = indices[k]
        near = [j for j in range(len(indices)) if 0 < abs(indices[j] - t) <= MOVING_REACH]
        small, used = self._near_moving.get(t, (None, -1))
        if small is None or used < len(near):
            small = moving[k].copy()
            size = (small.shape[1], small.shape[0])
            for j in near:
                if not moving[j].any():
                    continue
                h = self._to(indices[j], t)
                if h is not None:
                    f = self._features[t].grey
                    h = _rescaled(h, (f.shape[1], f.shape[0]), size)
                    small |= cv2.warpPerspective(moving[j].view(np.uint8), h, size, flags=cv2.INTER_NEAREST,
                                                 borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
            self._near_moving[t] = (small, len(near))
        return _at(small, shape)

    def _moving_small(self, frames: Sequence[np.ndarray], holes: Sequence[np.ndarray], indices: Sequence[int],
                      k: int) -> np.ndarray:
        """Bool at the alignment's resolution: pixels of window frame ``k`` that move against
        the camera's motion though no mask covers them (a passing car nobody tracked, an ear
        the mask missed).

        Three-frame differencing after the camera's motion is undone: a pixel has changed
        towards a neighbour aligned to it (by the chained homographies) when its colour (any
        RGB channel, σ 1.5 px blur) differs by more than ``STILL_DIFFERENCE`` or the dense
        optical flow between them (DIS, Kroeger et al., ECCV 2016, at ≤ ``FLOW_SIDE`` px,
        masked pixels first filled from their surroundings) is longer than ``MOVING_FLOW``
        in a connected region of such flow that also holds a colour change (flow extends
        what colour finds — a car's flat panel inside its edges — and is not believed alone:
        on flat background an alignment texture could not pin down leaves spurious flow). It moves when it has changed towards the previous
        frame *and* towards the next one (where a neighbour shows a mask or nothing, it
        cannot say no), and towards one that shows background there — so the background a
        moving mask has just uncovered, which changed towards one neighbour only, is not
        taken. One neighbour only at the window's ends (and across a cut: none). Computed at
        ≤ ``FLOW_SIDE`` px, grown by 2 px, closed over 7 px and its enclosed gaps filled (at
        that resolution), cached per frame. ``holes``: per window frame, what the masks
        already say is no background."""
        t = indices[k]
        neighbours = sum(1 for j in (k - 1, k + 1) if 0 <= j < len(frames) and abs(indices[j] - t) == 1)
        small, used = self._moving.get(t, (None, 0))
        if small is None or used < neighbours:  # once more when the window has grown around it
            f = self._features[t]
            aligned = (f.grey.shape[1], f.grey.shape[0])
            fs = min(1.0, FLOW_SIDE / float(max(aligned)))
            size = (max(8, round(aligned[0] * fs)), max(8, round(aligned[1] * fs)))
            view = self._blurred(frames[k], size)
            mask = self._small_mask(holes[k], size)
            grey = cv2.resize(f.grey, size, interpolation=cv2.INTER_AREA)
            changed, unknown = [], []
            for j in (k - 1, k + 1):
                if not 0 <= j < len(frames) or abs(indices[j] - t) != 1:
                    continue
                h = self._to(indices[j], t)
                if h is None:
                    continue
                h = _rescaled(h, aligned, size)
                other = cv2.warpPerspective(self._blurred(frames[j], size), h, size, flags=cv2.INTER_LINEAR,
                                            borderMode=cv2.BORDER_REPLICATE)
                shows = cv2.warpPerspective((~self._small_mask(holes[j], size)).view(np.uint8), h, size,
                                            flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
                other_grey = cv2.warpPerspective(cv2.resize(self._features[indices[j]].grey, size,
                                                            interpolation=cv2.INTER_AREA), h, size,
                                                 flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                # the flow smears a masked object's motion onto the background beside it (far
                # across flat background: DIS's smoothness term): the masked pixels are filled
                # from their surroundings first (Telea, at this size), so only what is not
                # masked moves, and flow within 4 px of a mask is not taken (the colour test
                # still is)
                hidden = (shows == 0).view(np.uint8)
                flow = self._dis.calc(cv2.inpaint(grey, mask.view(np.uint8), 3, cv2.INPAINT_TELEA),
                                      cv2.inpaint(other_grey, hidden, 3, cv2.INPAINT_TELEA), None)
                beside = cv2.dilate((mask | (shows == 0)).view(np.uint8), np.ones((9, 9), np.uint8)) > 0
                fast = (flow[..., 0] ** 2 + flow[..., 1] ** 2 > MOVING_FLOW ** 2) & ~beside
                colour = _channel_max(cv2.absdiff(view, other)) > STILL_DIFFERENCE
                if fast.any():  # flow counts where it extends a colour change (a car's flat
                    # panel inside its changing edges), not alone: on flat background, after
                    # an alignment that texture could not pin down, DIS returns motion nothing has
                    n, regions = cv2.connectedComponents(fast.view(np.uint8), connectivity=8)
                    seeds = np.unique(regions[fast & colour])
                    fast = np.isin(regions, seeds[seeds > 0])
                changed.append(colour | fast)
                unknown.append(shows == 0)
            if not changed:
                small = np.zeros(mask.shape, bool)
            else:
                small = ~mask
                seen_to_change = np.zeros(mask.shape, bool)
                for c, u in zip(changed, unknown):
                    small &= c | u
                    seen_to_change |= c & ~u
                small &= seen_to_change
                if small.any():
                    grown = cv2.dilate(small.view(np.uint8), np.ones((5, 5), np.uint8))
                    small = _fill_enclosed(cv2.morphologyEx(grown, cv2.MORPH_CLOSE, np.ones((7, 7), np.uint8)) > 0)
            self._moving[t] = (small, neighbours)
        return small

    @staticmethod
    def _blurred(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        small = rgb8(image) if (image.shape[1], image.shape[0]) == size else \
            rgb8(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
        return cv2.GaussianBlur(small, (0, 0), 1.5)

    @staticmethod
    def _small_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        if (mask.shape[1], mask.shape[0]) == size:
            return mask
        return cv2.resize(mask.view(np.uint8), size, interpolation=cv2.INTER_AREA) > 0

    @staticmethod
    def _seen(hole: np.ndarray, h_roi: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """ROI bool: pixels a neighbour shows (outside its hole and its frame), eroded by one."""
        seen = cv2.warpPerspective((~hole).view(np.uint8), h_roi, size, flags=cv2.INTER_NEAREST,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return cv2.erode(seen, np.ones((3, 3), np.uint8)) > 0

    def _residual_shift(self, image: np.ndarray, hole: np.ndarray, warped: np.ndarray,
                        seen: np.ndarray) -> tuple[float, float] | None:
        """Residual (parallax / local) motion between the aligned neighbour and the frame,
        as the median dense-flow vector of the hole's surroundings, measured at ≤ 256 px.
        Flow inside the hole is unreliable (it sees the object), so a translation is used."""
        band = (cv2.dilate(hole.astype(np.uint8), np.ones((31, 31), np.uint8)) > 0) & ~hole & seen
        if band.sum() < 200:
            return None
        s = min(1.0, 256.0 / max(hole.shape))
        size = (max(8, round(hole.shape[1] * s)), max(8, round(hole.shape[0] * s)))
        a = rgb8(cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA))
        b = rgb8(cv2.resize(cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA))
        flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST).calc(a, b, None)
        small_band = cv2.resize(band.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
        if small_band.sum() < 20:
            return None
        dx, dy = np.median(flow[small_band], axis=0) / s
        return float(dx), float(dy)


def _at(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Bool ``mask`` resized (nearest) to ``shape`` (H, W)."""
    if mask.shape == shape[:2]:
        return mask
    return cv2.resize(mask.view(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0


def _rescaled(h: np.ndarray, size: tuple[int, int], to: tuple[int, int]) -> np.ndarray:
    """Homography ``h`` between images of ``size`` (w, h) as one between images of ``to``."""
    scale = np.diag([to[0] / size[0], to[1] / size[1], 1.0])
    return scale @ h @ np.linalg.inv(scale)


def _channel_max(image: np.ndarray) -> np.ndarray:
    """H×W: the largest of an H×W×3 image's channels (OpenCV's, several times NumPy's speed)."""
    a, b, c = cv2.split(image)
    return cv2.max(cv2.max(a, b), c)


class _Lazy(Sequence):
    """A sequence whose items are computed on first use (``item(k)``) and kept."""

    def __init__(self, length: int, item: Callable[[int], np.ndarray]) -> None:
        self._length, self._item, self._done = length, item, {}

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, k: int) -> np.ndarray:
        if not 0 <= k < self._length:
            raise IndexError(k)
        if k not in self._done:
            self._done[k] = self._item(k)
        return self._done[k]


def _fill_enclosed(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bool) with the gaps it encloses filled (what the frame's border cannot reach
    without crossing it)."""
    h, w = mask.shape
    outside = np.zeros((h + 2, w + 2), np.uint8)
    outside[1:-1, 1:-1] = mask.view(np.uint8)
    cv2.floodFill(outside, None, (0, 0), 2)
    return outside[1:-1, 1:-1] != 2


def _difference(a: np.ndarray, b: np.ndarray, h: np.ndarray) -> float:
    """Mean absolute difference (levels) of grey frames ``a``, aligned to ``b`` by ``h``, and ``b``."""
    aligned = cv2.warpPerspective(a, h, (b.shape[1], b.shape[0]), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
    return float(np.mean(cv2.absdiff(aligned, b)))


def _corner_shift(h: np.ndarray, g: np.ndarray, shape: tuple[int, ...]) -> float:
    """Largest distance (px) between where homographies ``h`` and ``g`` map the corners of a
    frame of ``shape`` (its H, W)."""
    H, W = shape[:2]
    corners = np.float64([[0, 0], [W, 0], [W, H], [0, H]]).reshape(-1, 1, 2)
    return float(np.abs(cv2.perspectiveTransform(corners, h) - cv2.perspectiveTransform(corners, g)).max())


def _change(h: np.ndarray, shape: tuple[int, ...], max_shift: float | None = MAX_CORNER_SHIFT) -> float | None:
    """Area ratio of a frame (``shape``: its H, W) mapped by homography ``h``, or ``None``
    when that is no plausible camera motion: a fold (a non-convex or flipped quadrilateral),
    a corner moved by more than ``max_shift`` × the longer side (unless ``None``), or — with
    ``max_shift`` given — an area change beyond ``AREA_CHANGE``."""
    H, W = shape[:2]
    corners = np.float64([[0, 0], [W, 0], [W, H], [0, H]])
    moved = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), h).reshape(-1, 2)
    if not np.isfinite(moved).all() or not cv2.isContourConvex(moved.astype(np.float32).reshape(-1, 1, 2)):
        return None
    x, y = moved[:, 0], moved[:, 1]
    area = 0.5 * (np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))  # > 0: same orientation
    ratio = area / float(W * H)
    if ratio <= 0:
        return None
    if max_shift is not None:
        if np.abs(moved - corners).max() > max_shift * max(H, W):
            return None
        if not 1 / AREA_CHANGE <= ratio <= AREA_CHANGE:
            return None
    return float(ratio)
