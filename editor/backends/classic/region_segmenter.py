"""Click → mask without model weights: the object a click is on, read from the image's structure.

Everything happens at a working resolution (longer side ≤ ``segment_max_side``, 320 px);
masks come back at the frame's size.

**Image analysis** (once per image, cached): superpixels and two hierarchies of regions
merged by boundary strength and colour similarity (:mod:`editor.backends.classic.regions`).

**Score** of a candidate mask, "how convincing is its boundary": the mean colour gradient
along its outline (the outline follows real edges) × the colour contrast between the mask
and a ring around it (it differs from its surroundings) × (1 − the fraction of the frame's
border it covers)² (backgrounds run off the frame, objects mostly do not).

**First include click** — candidates for "the object at this click":

* the nested regions containing the click, from both hierarchies (a superpixel up to most
  of the image);
* GrabCut in squares of three sizes around the click (the click a hard foreground seed;
  colour models from the square and a band around it), which joins parts of several
  colours (a lit and a shaded side, a face and its hair);
* GrabCut in the enlarged bounding boxes of the two best-scoring candidates so far: the
  whole object around its most convincing part.

With ``segment_people`` on, a click on a person (the person segmentation model) gives that
person instead: a person is many regions of several colours (hair,
face, clothes, limbs) that the image's structure rarely joins; exclude clicks then cut
parts away as usual.

The mask is the candidate with the best score × solidity (area / convex-hull area) ×
support^¼ (support: the candidates, from any source, that coincide with it, IoU > 0.9 — an
object is what several views of the image agree on), lowered when a part of it has a more
convincing boundary inside it than its own outline (two objects, not one). Its outline is
then redecided by GrabCut in a narrow band at the full working resolution.

**Later clicks**, in the order given, edit the mask as hard constraints:

* an include click outside the mask adds the region at the click (one of its nested
  regions without exclude points, or that region's part near the click) whose union with
  the mask scores best; changes much larger than the click's distance to the outline
  suggests score lower (a click in a sliver adds the sliver, not the neighbour it belongs to);
* an exclude click inside the mask removes the region at the click (one of its nested
  regions or its part near the click, GrabCut inside the mask, or the mask's connected
  part it is on — none holding an include point), chosen the same way. Nothing grows:
  the result is a subset of the mask before (a hole where the click is enclosed). An
  exclude click outside the mask changes nothing (it still bars later regions from
  covering it). Only connected parts holding an include point are kept.

Masks after each prefix of the clicks are cached, so a new click on the same frame costs
one step.

**A mask with clicks** (a correction on a tracked frame: the tracked mask is given with the
new clicks, as SAM 2 takes its previous mask): the clicks edit the given mask as later
clicks do; its parts stay whether or not an include point is on them, and where no edit
reached, its outline is kept as given (full resolution). Clicks that change nothing (an
include click inside it) ask for its outline to be refined: GrabCut from the mask. Boxes go to
:class:`GrabCutSegmenter` (a box bounds the object); a mask alone is returned as given. Deterministic: the same
image and clicks give the same mask on any thread (no random state; GrabCut is seeded).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

import cv2
import numpy as np
from pydantic import Field

from editor.api.backends import BackendOptions, Segmentation
from editor.api.errors import PromptError
from editor.api.masks import union
from editor.api.prompts import Prompt
from editor.backends.classic.grabcut import grab_cut
from editor.backends.classic.morphology import components_touching, fill_holes, resize_mask, working_scale
from editor.backends.classic.regions import ImageRegions, analyse
from editor.backends.classic.segmenter import GrabCutSegmenter
from editor.detection.people import PersonRegions

GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD = cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD

Pixel = tuple[int, int]
"""(x, y) at the working resolution."""

# Tuned on a first-frame benchmark (generated ground-truth clips, synthetic scenes, the 720p
# bunny) with simulated clicks; tests/test_classic_segmenter.py holds its checks.
GRABCUT_MARGINS = (0.1, 0.18, 0.3)
"""First click: half-sizes of the GrabCut squares around it (fractions of the longer side)."""
GRABCUT_SCALE = 0.65
"""GrabCut candidates run at this fraction of the working resolution (speed)."""
GRABCUT_BAND = 0.3
"""A GrabCut candidate sees its box and a band of this fraction of the box's size around it
(its background model is the object's surroundings, and small boxes are cheap)."""
EXPAND_TOP = 2
"""First click: the best-scoring candidates whose enlarged bounding box seeds another GrabCut."""
EXPAND_BY = 0.35
"""… enlarged by this fraction of its size on every side."""
REFINE_BAND = 0.1
"""First click: the chosen outline is redecided by GrabCut in a band of this fraction of the
object's size (sqrt of its area) around it, at the full working resolution."""
SUPPORT_IOU = 0.9
"""First click: candidates at least this similar (IoU) support each other."""
SUPPORT_POWER = 0.25
SOLIDITY_POWER = 1.0
SEAM_POWER = 1.0
"""First click: a candidate whose strongest inner seam (the boundary of a part of it) is k times
more convincing than its outline scores ``k ** SEAM_POWER`` times lower."""
SEAM_PART = (0.1, 0.9)
"""… parts are candidates covering this range of its area."""
STEP_CACHE = 64
"""Masks after click prefixes kept (a UI session adds one click at a time)."""
LOCAL_REACH = 2.0
"""Later clicks: the change a click is expected to make reaches about this many times the
click's distance to the mask's outline (users click inside what is missing or extra)."""
LOCAL_PENALTY = 0.5
"""… and a change of k times the expected area scores ``k ** -LOCAL_PENALTY`` times lower."""


class RegionSegmenterConfig(BackendOptions):
    """Settings of the classical segmenter (``--backend-set classic.OPTION=VALUE``; the names
    start with ``segment_`` because the classical tracker shares the ``classic`` namespace)."""

    segment_max_side: int = Field(320, ge=64, le=2048)
    """Segment at most at this resolution (longer side, px); masks come back at full size."""
    segment_iterations: int = Field(2, ge=1, le=20)
    """GrabCut iterations per candidate (one more for the final outline)."""
    segment_cache_images: int = Field(4, ge=0)
    """Images whose analysis (superpixels, region hierarchies) is kept for further clicks."""
    segment_people: bool = False
    """On: a first click on a person gives that person's region (the person segmentation
    model, :class:`editor.detection.people.PersonRegions`; needs LiteRT and ``trackedit models
    download people``), so one click gives the whole person (carphone: IoU 0.86 against the
    hand-drawn masks, 0.25 without). Off by default: the model also takes some non-people for
    people — the bunny of the sample clip, with the dark burrow beside it (a click on it: IoU
    0.62 on, 0.89 off)."""


class RegionSegmenter:
    """The classical segmenter: clicks read against a hierarchy of image regions (module doc)."""

    def __init__(self, config: RegionSegmenterConfig | None = None) -> None:
        self.config = config or RegionSegmenterConfig()
        self._fallback = GrabCutSegmenter(max_side=max(self.config.segment_max_side, 400))
        self._cache: OrderedDict[bytes, ImageRegions] = OrderedDict()
        self._steps: OrderedDict[tuple[bytes, tuple[tuple[Pixel, int], ...]], np.ndarray | None] = OrderedDict()
        self._lock = threading.Lock()
        self._people = PersonRegions() if self.config.segment_people else None

    # -- protocol ----------------------------------------------------------------------
    def segment(self, image: np.ndarray, frame_index: int, prompts: list[Prompt],
                masks: list[np.ndarray] | None = None) -> Segmentation:
        points = [(p, int(lab)) for pr in prompts for p, lab in zip(pr.points, pr.labels)]
        if masks and points and not any(m.any() for m in masks):
            masks = None  # an empty mask gives the clicks nothing to edit: they define the object
        if masks and points and not any(pr.box is not None for pr in prompts):
            return self._edit_given(image, frame_index, union(masks),
                                    points)
        if masks or any(pr.box is not None for pr in prompts):
            return self._fallback.segment(image, frame_index, prompts, masks)
        if not any(lab == 1 for _, lab in points):
            raise PromptError("only exclude points were given; add an include point, a box or a mask")
        if image.dtype != np.uint8:  # the protocol's images are 8-bit; be lenient with deeper ones
            image = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image.astype(np.uint8)
        h, w = image.shape[:2]
        key, regions = self._regions(image)
        sh, sw = regions.shape
        sx, sy = sw / w, sh / h
        clicks = [((min(sw - 1, int(x * sx)), min(sh - 1, int(y * sy))), lab) for (x, y), lab in points]
        mask = self._apply_clicks(key, regions, clicks)
        full = resize_mask(mask, (w, h))
        if not full.any():  # a mask smaller than a working pixel: keep the clicked pixels
            for (x, y), lab in points:
                if lab == 1:
                    full[int(y), int(x)] = True
        return Segmentation(full, 1.0)

    def _edit_given(self, image: np.ndarray, frame_index: int, given: np.ndarray,
                    points: list[tuple[Pixel, int]]) -> Segmentation:
        """Clicks applied to a given mask (a correction of a tracked mask, as SAM 2 takes the
        previous mask with new clicks): each click edits it as a later click does (module
        doc); the given mask's parts stay, outside the edits its outline is kept at full
        resolution."""
        if image.dtype != np.uint8:
            image = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image.astype(np.uint8)
        h, w = image.shape[:2]
        key, r = self._regions(image)
        sh, sw = r.shape
        sx, sy = sw / w, sh / h
        base = resize_mask(given, (sw, sh))
        mask = base.copy()
        pos: list[Pixel] = []
        neg: list[Pixel] = []
        edits = 0
        for (x, y), lab in points:
            p = (min(sw - 1, int(x * sx)), min(sh - 1, int(y * sy)))
            if lab == 1:
                if not mask[p[1], p[0]]:
                    mask, edits = self._add(r, mask, p, pos, neg, base), edits + 1
                pos.append(p)
            else:
                if mask[p[1], p[0]]:
                    mask, edits = self._remove(r, mask, p, pos, neg, base), edits + 1
                neg.append(p)
        if not edits:  # the clicks confirm the mask: its outline is refined
            return self._fallback.segment(image, frame_index, [Prompt(frame_index, tuple(
                (float(x), float(y)) for (x, y), _ in points), tuple(lab for _, lab in points))], [given])
        if np.array_equal(mask, base):
            return Segmentation(given.copy(), 1.0)
        # at full size: the given mask where the edits did not touch it, the edits elsewhere
        added, removed = resize_mask(mask & ~base, (w, h)), resize_mask(base & ~mask, (w, h))
        return Segmentation((given & ~removed) | added, 1.0)

    # -- per-image analysis ------------------------------------------------------------
    def _regions(self, image: np.ndarray) -> tuple[bytes, ImageRegions]:
        img = np.ascontiguousarray(image)
        digest = hashlib.blake2b(str(img.shape).encode(), digest_size=16)
        digest.update(img.data)
        key = digest.digest()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return key, cached
        h, w = img.shape[:2]
        s = working_scale(w, h, self.config.segment_max_side)
        small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))),
                           interpolation=cv2.INTER_AREA) if s < 1 else img
        regions = analyse(small)
        with self._lock:
            if self.config.segment_cache_images:
                self._cache[key] = regions
                while len(self._cache) > self.config.segment_cache_images:
                    self._cache.popitem(last=False)
        return key, regions

    # -- clicks ------------------------------------------------------------------------
    def _apply_clicks(self, key: bytes, r: ImageRegions, clicks: list[tuple[Pixel, int]]) -> np.ndarray:
        """The mask after ``clicks`` in order; masks after each prefix are kept, so a new click
        on the same image costs one step."""
        mask: np.ndarray | None = None
        start = 0
        with self._lock:
            for k in range(len(clicks), 0, -1):
                cached = self._steps.get((key, tuple(clicks[:k])))
                if cached is not None:
                    mask, start = cached, k
                    break
        pos = [p for p, lab in clicks[:start] if lab == 1]
        neg = [p for p, lab in clicks[:start] if lab != 1]
        for k in range(start, len(clicks)):
            (x, y), lab = clicks[k]
            if lab == 1:
                if mask is None:
                    mask = self._first(r, (x, y), neg)
                elif not mask[y, x]:
                    mask = self._add(r, mask, (x, y), pos, neg)
                pos.append((x, y))
            else:
                if mask is not None and mask[y, x]:
                    mask = self._remove(r, mask, (x, y), pos, neg)
                neg.append((x, y))
            if mask is not None:
                mask.setflags(write=False)
            with self._lock:
                self._steps[(key, tuple(clicks[:k + 1]))] = mask
                while len(self._steps) > STEP_CACHE:
                    self._steps.popitem(last=False)
        assert mask is not None
        return mask

    def _min_px(self, r: ImageRegions) -> int:
        return max(8, r.labels.size // 2000)

    def _first(self, r: ImageRegions, p: Pixel, neg: list[Pixel]) -> np.ndarray:
        """The object at the first include click (module doc), clear of earlier exclude clicks."""
        x, y = p
        min_px = self._min_px(r)
        h, w = r.shape
        cands: list[np.ndarray] = []

        def keep(m: np.ndarray) -> None:
            if m.sum() >= min_px and not _covers(m, neg) and not any(np.array_equal(m, c) for c in cands):
                cands.append(m)

        for m in r.nested_regions(x, y, min_px=min_px):
            keep(m)
        side = max(h, w)
        for margin in GRABCUT_MARGINS:
            half = margin * side
            keep(self._grabcut(r, _box_mask(r.shape, (x - half, y - half, x + half + 1, y + half + 1)), [p], neg))
        if self._people is not None:  # the person at the click, whole (head, clothes, limbs)
            person = self._people.at(r.image, x, y)
            if person is not None and person.sum() >= min_px and not _covers(person, neg):
                return self._refine(r, person, [p], neg) if REFINE_BAND else person
        if not cands:
            return _disk_mask(r.shape, p, 2)
        # the object around the most convincing parts: GrabCut in their bounding boxes, enlarged
        base = [score(r, c) for c in cands]
        for i in np.argsort(base)[::-1][:EXPAND_TOP]:
            box = _bbox(cands[i])
            dx, dy = EXPAND_BY * (box[2] - box[0]), EXPAND_BY * (box[3] - box[1])
            keep(self._grabcut(r, _box_mask(r.shape, (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)),
                               [p], neg))
        best = cands[int(np.argmax(_consensus_scores(r, cands)))]
        return self._refine(r, best, [p], neg) if REFINE_BAND else best

    def _refine(self, r: ImageRegions, mask: np.ndarray, pos: list[Pixel], neg: list[Pixel]) -> np.ndarray:
        """Snap the outline to the image at the full working resolution: GrabCut decides a
        band around it (inside certain foreground, outside certain background)."""
        band = max(2, int(round(REFINE_BAND * np.sqrt(mask.sum()))))
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * band + 1, 2 * band + 1))
        m8 = mask.astype(np.uint8)
        outer = cv2.dilate(m8, k) > 0
        gc = np.full(mask.shape, GC_BGD, np.uint8)
        gc[outer] = GC_PR_BGD
        gc[mask] = GC_PR_FGD
        gc[cv2.erode(m8, k) > 0] = GC_FGD
        for x, y in pos:
            gc[y, x] = GC_FGD
        for x, y in neg:
            gc[y, x] = GC_BGD
        h, w = mask.shape
        x0, y0, x1, y1 = _bbox(outer)
        x0, y0, x1, y1 = max(0, x0 - 1), max(0, y0 - 1), min(w, x1 + 1), min(h, y1 + 1)
        sub = gc[y0:y1, x0:x1].copy()
        if not grab_cut(np.ascontiguousarray(r.image[y0:y1, x0:x1, ::-1]), sub, self.config.segment_iterations + 1):
            return mask
        gc[y0:y1, x0:x1] = sub
        return _clean(np.isin(gc, (GC_FGD, GC_PR_FGD)), pos, neg)

    def _add(self, r: ImageRegions, mask: np.ndarray, p: Pixel, pos: list[Pixel],
             neg: list[Pixel], base: np.ndarray | None = None) -> np.ndarray:
        """``mask`` and the region at include click ``p`` (outside ``mask``); ``base``: the
        mask being refined (its parts stay, with or without an include point)."""
        seeds = [*pos, p]
        cands = []
        d = _distance_to(mask, p)
        near = _disk_mask(r.shape, p, int(round(LOCAL_REACH * max(2.0, d))))
        for m in r.nested_regions(p[0], p[1], min_px=1):
            if _covers(m, neg):
                continue
            cands.append(_clean(mask | m, seeds, neg, base))
            cands.append(_clean(mask | (m & near), seeds, neg, base))  # its part near the click
        cands.append(_clean(mask | _small_disk(r.shape, p, mask, neg), seeds, neg, base))  # just the spot
        return _best_edit(r, cands, mask, p)

    def _remove(self, r: ImageRegions, mask: np.ndarray, q: Pixel, pos: list[Pixel],
                neg: list[Pixel], base: np.ndarray | None = None) -> np.ndarray:
        """``mask`` without the region at exclude click ``q`` (inside ``mask``): a subset;
        ``base`` as for :meth:`_add`."""
        x, y = q
        out = [*neg, q]
        cands = []
        near = _disk_mask(r.shape, q, int(round(LOCAL_REACH * max(2.0, _distance_to(mask, q)))))
        for m in r.nested_regions(x, y, min_px=1, max_fraction=1.0):
            if not _covers(m & near, pos):
                cands.append(_clean(mask & ~(m & near), pos, out, base))  # its part near the click
            if not _covers(m, pos):
                cands.append(_clean(mask & ~m, pos, out, base))
        n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        part = lab == lab[y, x]
        if not _covers(part, pos):
            cands.append(_clean(mask & ~part, pos, out, base))
        gc = self._grabcut(r, mask, pos, out)
        cands.append(_clean(gc & mask, pos, out, base))
        cands.append(_clean(mask & ~_small_disk(r.shape, q, mask, pos), pos, out, base))  # just the spot
        cands = [c for c in cands if c.any() and not c[y, x]]
        if not cands:
            return mask
        return _best_edit(r, cands, mask, q)

    def _grabcut(self, r: ImageRegions, init: np.ndarray, pos: list[Pixel], neg: list[Pixel]) -> np.ndarray:
        """GrabCut at GRABCUT_SCALE × the working resolution: ``init`` probable foreground, the
        rest background, the points hard seeds; only ``init`` and a band around it take part
        (the background model is the surroundings). Connected parts holding ``pos`` are kept."""
        h, w = r.shape
        sw, sh = max(8, round(w * GRABCUT_SCALE)), max(8, round(h * GRABCUT_SCALE))
        image = cv2.resize(r.image, (sw, sh), interpolation=cv2.INTER_AREA)
        gc = np.where(resize_mask(init, (sw, sh)), GC_PR_FGD, GC_BGD).astype(np.uint8)
        fx, fy = sw / w, sh / h
        for x, y in pos:
            gc[min(sh - 1, int(y * fy)), min(sw - 1, int(x * fx))] = GC_FGD
        for x, y in neg:
            gc[min(sh - 1, int(y * fy)), min(sw - 1, int(x * fx))] = GC_BGD
        if (gc != GC_BGD).any():
            x0, y0, x1, y1 = _bbox(gc != GC_BGD)
            bx, by = max(4, int(GRABCUT_BAND * (x1 - x0))), max(4, int(GRABCUT_BAND * (y1 - y0)))
            x0, y0, x1, y1 = max(0, x0 - bx), max(0, y0 - by), min(sw, x1 + bx), min(sh, y1 + by)
            sub = gc[y0:y1, x0:x1].copy()
            if (sub == GC_BGD).any() and grab_cut(np.ascontiguousarray(image[y0:y1, x0:x1, ::-1]), sub,
                                                  self.config.segment_iterations):
                gc[y0:y1, x0:x1] = sub
        fg = resize_mask(np.isin(gc, (GC_FGD, GC_PR_FGD)), (w, h))
        for x, y in pos:
            fg[y, x] = True
        return _clean(fg, pos, neg)


# -- scoring -------------------------------------------------------------------------
def _joint_hist(r: ImageRegions, mask: np.ndarray, normalise: bool = True) -> np.ndarray:
    """Lab histogram of the pixels of ``mask`` (:attr:`ImageRegions.colour_bins`)."""
    h = np.bincount(r.colour_bins[mask], minlength=256).astype(np.float64)
    return h / max(1.0, h.sum()) if normalise else h


def _boundary(r: ImageRegions, mask: np.ndarray) -> tuple[float, float, float, np.ndarray]:
    """(mean gradient along the outline, colour contrast with the surrounding ring,
    (1 - fraction of the frame's border covered)², outline pixels) of ``mask``."""
    area = int(mask.sum())
    m8 = mask.astype(np.uint8)
    outline = mask & (cv2.erode(m8, np.ones((3, 3), np.uint8)) == 0)
    if area == 0:
        return 0.0, 0.0, 0.0, outline
    edge = float(r.grad[outline].mean()) if outline.any() else 0.0
    reach = max(2.0, 0.15 * np.sqrt(area))
    dist = cv2.distanceTransform((1 - m8), cv2.DIST_L2, 3)
    ring = (dist > 0) & (dist <= reach)
    contrast = 0.5 * float(np.abs(_joint_hist(r, mask) - _joint_hist(r, ring)).sum()) if ring.any() else 0.0
    border = float(np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]]).mean())
    return edge, contrast, (1.0 - border) ** 2, outline


def score(r: ImageRegions, mask: np.ndarray) -> float:
    """How convincing ``mask`` is as an object (higher is better; module doc)."""
    if not mask.any():
        return -1.0
    edge, contrast, inside, _ = _boundary(r, mask)
    return edge * contrast * inside


def _solidity(mask: np.ndarray) -> float:
    cnts, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not cnts:
        return 0.0
    hull = cv2.convexHull(np.vstack(cnts))
    return min(1.0, float(mask.sum()) / max(1.0, cv2.contourArea(hull)))


def _consensus_scores(r: ImageRegions, cands: list[np.ndarray]) -> list[float]:
    """Scores of first-click candidates: boundary score × solidity × support × seam factor.

    Support counts the candidates (from any source) that nearly coincide with this one. The
    seam factor lowers a candidate that is two objects: one that contains another candidate
    (a part, 10–90 % of its area) whose boundary inside it is more convincing than its own
    outline (boundary contrast vs interior homogeneity).
    """
    flat = np.stack([c.ravel() for c in cands]).astype(np.float32)
    inter = flat @ flat.T
    area = flat.sum(axis=1)
    iou = inter / np.maximum(area[:, None] + area[None, :] - inter, 1.0)
    support = (iou > SUPPORT_IOU).sum(axis=1)
    own = [_boundary(r, c) for c in cands]
    counts: dict[int, np.ndarray] = {}

    def hists(k: int) -> np.ndarray:
        if k not in counts:
            counts[k] = _joint_hist(r, cands[k], normalise=False)
        return counts[k]

    out = []
    for i, c in enumerate(cands):
        s = own[i][0] * own[i][1] * own[i][2] * _solidity(c) ** SOLIDITY_POWER * float(support[i]) ** SUPPORT_POWER
        if SEAM_POWER:
            parts = [j for j in range(len(cands)) if j != i and inter[i, j] >= 0.95 * area[j]
                     and SEAM_PART[0] * area[i] <= area[j] <= SEAM_PART[1] * area[i]]
            if parts:
                inner = cv2.erode(c.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
                hc = hists(i)
                seam = 0.0
                for j in parts:
                    line = own[j][3] & inner
                    if line.sum() < 4:
                        continue
                    hj = hists(j)
                    rest = np.clip(hc - hj, 0, None)
                    contrast = 0.5 * float(np.abs(hj / max(1.0, hj.sum()) - rest / max(1.0, rest.sum())).sum())
                    seam = max(seam, float(r.grad[line].mean()) * contrast)
                if seam > 0:
                    s *= min(1.0, own[i][0] * own[i][1] / seam) ** SEAM_POWER
        out.append(s)
    return out


def _distance_to(mask: np.ndarray, p: Pixel) -> float:
    """Distance (px) from ``p`` to the nearest pixel of the other side of ``mask``'s boundary."""
    x, y = p
    inside = bool(mask[y, x])
    m8 = (mask if inside else ~mask).astype(np.uint8)
    return float(cv2.distanceTransform(np.pad(m8, 1, constant_values=0 if inside else 1),
                                       cv2.DIST_L2, 3)[1:-1, 1:-1][y, x])


def _best_edit(r: ImageRegions, cands: list[np.ndarray], before: np.ndarray, click: Pixel) -> np.ndarray:
    """The candidate edit of ``before`` at ``click`` with the best score, lowered for changes
    much larger than the click's distance to the outline suggests (LOCAL_REACH)."""
    expected = np.pi * (LOCAL_REACH * max(2.0, _distance_to(before, click))) ** 2
    scores = [score(r, c) * min(1.0, expected / max(1.0, float((c ^ before).sum()))) ** LOCAL_PENALTY
              for c in cands]
    return cands[int(np.argmax(scores))]


# -- small helpers -------------------------------------------------------------------
def _box_mask(shape: tuple[int, int], box: tuple[float, float, float, float]) -> np.ndarray:
    h, w = shape
    m = np.zeros(shape, bool)
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[2]))), min(h, int(np.ceil(box[3])))
    m[y0:y1, x0:x1] = True
    return m


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _covers(mask: np.ndarray, points: list[Pixel]) -> bool:
    return any(mask[y, x] for x, y in points)


def _disk_mask(shape: tuple[int, int], p: Pixel, radius: int) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.circle(m, (int(p[0]), int(p[1])), radius, 1, -1)
    return m > 0


def _small_disk(shape: tuple[int, int], p: Pixel, mask: np.ndarray, avoid: list[Pixel]) -> np.ndarray:
    """A disk at ``p`` reaching the other side of ``mask``'s outline, clear of ``avoid``."""
    radius = max(1.0, _distance_to(mask, p))
    if avoid:
        radius = min(radius, min(np.hypot(ax - p[0], ay - p[1]) for ax, ay in avoid) - 1.0)
    return _disk_mask(shape, p, max(0, int(np.ceil(radius))))


def _clean(mask: np.ndarray, seeds: list[Pixel], keep_out: Sequence[Pixel] = (),
           base: np.ndarray | None = None) -> np.ndarray:
    """Connected parts of ``mask`` holding an include point (or a pixel of ``base``, the
    mask being refined), holes filled except those holding a ``keep_out`` (exclude) point."""
    if (not seeds and base is None) or not mask.any():
        return mask
    s = np.zeros(mask.shape, bool) if base is None else base.copy()
    for x, y in seeds:
        s[y, x] = True
    kept = components_touching(mask, s)
    filled = fill_holes(kept)
    holes = filled & ~kept
    if any(holes[y, x] for x, y in keep_out):
        _, lab = cv2.connectedComponents(holes.astype(np.uint8), connectivity=4)
        for x, y in keep_out:
            if holes[y, x]:
                filled[lab == lab[y, x]] = False
    return filled
