"""Click/box → mask without model weights: GrabCut seeded by the prompts.

* Include points become certain-foreground disks, exclude points certain-background
  disks; a box bounds the object (outside = background).
* Without a box, the search region starts as a square around the include points and
  grows while the result still touches its edge (the object is bigger than the region),
  so one click on a large object works.
* A given mask initialises GrabCut as probable foreground (with points it is refined;
  alone it is returned as is).
* Only connected parts containing an include point are kept (or, for a box alone, the
  largest part); holes are filled.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from editor.api.backends import Segmentation
from editor.api.errors import PromptError
from editor.api.masks import union
from editor.api.prompts import Prompt
from editor.backends.classic.grabcut import grab_cut
from editor.backends.classic.morphology import (
    components_touching,
    disk,
    fill_holes,
    largest_component,
    resize_mask,
    working_scale,
)

GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD = cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD


@dataclass
class GrabCutSegmenter:
    max_side: int = 400
    """Work at most at this resolution (longer side); masks come back at full size."""
    iterations: int = 3
    margins: tuple[float, ...] = (0.06, 0.1, 0.16, 0.25, 0.4)
    """Search margins around the include points (fraction of the longer side) tried without a box."""

    def segment(self, image: np.ndarray, frame_index: int, prompts: list[Prompt],
                masks: list[np.ndarray] | None = None) -> Segmentation:
        h, w = image.shape[:2]
        pos = [p for pr in prompts for p in pr.positive_points]
        neg = [p for pr in prompts for p in pr.negative_points]
        boxes = [pr.box for pr in prompts if pr.box is not None]
        given = None
        if masks:
            given = union(masks)
        if given is not None and not pos and not neg and not boxes:
            return Segmentation(given, 1.0)
        if not pos and not boxes and given is None:
            raise PromptError("only exclude points were given; add an include point, a box or a mask")

        s = working_scale(w, h, self.max_side)
        small = cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))),
                           interpolation=cv2.INTER_AREA) if s < 1 else image
        sh, sw = small.shape[:2]
        pos_s = [(x * s, y * s) for x, y in pos]
        neg_s = [(x * s, y * s) for x, y in neg]
        given_s = resize_mask(given, (sw, sh)) if given is not None else None
        radius = max(2, round(0.012 * max(sw, sh)))

        if boxes:
            x0 = min(b[0] for b in boxes) * s
            y0 = min(b[1] for b in boxes) * s
            x1 = max(b[2] for b in boxes) * s
            y1 = max(b[3] for b in boxes) * s
            rect = (x0, y0, x1, y1)
            result = self._grabcut(small, rect, pos_s, neg_s, given_s, radius)
        else:
            if given_s is not None and given_s.any():
                ys, xs = np.nonzero(given_s)
                cx0, cy0, cx1, cy1 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
            else:
                xs_p = [p[0] for p in pos_s]
                ys_p = [p[1] for p in pos_s]
                cx0, cy0, cx1, cy1 = min(xs_p), min(ys_p), max(xs_p), max(ys_p)
            result = self._best_scale(small, (cx0, cy0, cx1, cy1), pos_s, neg_s, given_s, radius)
        mask = resize_mask(result, (w, h))
        if not mask.any() and boxes and not pos:
            # GrabCut found no colour difference (e.g. a flat region): the box is the
            # user's own statement of the object's extent, so fall back to it.
            mask = np.zeros((h, w), bool)
            for b in boxes:
                mask[int(b[1]):int(np.ceil(b[3])), int(b[0]):int(np.ceil(b[2]))] = True
            return Segmentation(mask, score=0.0)
        if not mask.any():
            raise PromptError(f"frame {frame_index}: the prompts gave an empty mask; "
                              "add include points or a box")
        area = float(mask.mean())
        return Segmentation(mask, score=float(np.clip(1.0 - area, 0.0, 1.0)) if area > 0.9 else 1.0)

    def _best_scale(self, img: np.ndarray, core: tuple[float, float, float, float],
                    pos: list[tuple[float, float]], neg: list[tuple[float, float]],
                    given: np.ndarray | None, radius: int) -> np.ndarray:
        """Without a box: try growing search regions, keep the most stable closed result.

        A result is *closed* when it does not run into its region's edge (the region
        was big enough); among closed results, the one that changes least when the
        region grows (highest IoU with the next larger one) wins.
        """
        h, w = img.shape[:2]
        cx0, cy0, cx1, cy1 = core
        seed_area = max(1.0, len(pos) * np.pi * radius ** 2)
        results: list[tuple[np.ndarray, bool]] = []
        for m in self.margins:
            margin = m * max(w, h)
            rect = (cx0 - margin, cy0 - margin, cx1 + margin, cy1 + margin)
            mask = self._grabcut(img, rect, pos, neg, given, radius)
            closed = not self._touches_rect(mask, rect, w, h) and mask.sum() > 3 * seed_area
            results.append((mask, closed))
        nontrivial = [(i, m) for i, (m, closed) in enumerate(results) if m.sum() > 3 * seed_area]
        for i, (mask, closed) in enumerate(results):
            if closed:
                return mask  # the smallest region that contains the whole object
        best, best_score = results[-1][0], -1.0
        for i, mask in nontrivial[:-1]:
            nxt = results[i + 1][0]
            union = np.logical_or(mask, nxt).sum()
            score = np.logical_and(mask, nxt).sum() / union if union else 0.0
            if score > best_score:
                best, best_score = mask, score
        return best

    @staticmethod
    def _touches_rect(mask: np.ndarray, rect: tuple[float, float, float, float], w: int, h: int) -> bool:
        x0, y0, x1, y1 = (int(round(v)) for v in rect)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        edges = []
        if x0 > 0:
            edges.append(mask[y0:y1, x0])
        if y0 > 0:
            edges.append(mask[y0, x0:x1])
        if x1 < w:
            edges.append(mask[y0:y1, x1 - 1])
        if y1 < h:
            edges.append(mask[y1 - 1, x0:x1])
        if not edges:
            return False
        touching = sum(int(e.sum()) for e in edges)
        return touching > 0.03 * sum(e.size for e in edges)

    def _grabcut(self, img: np.ndarray, rect: tuple[float, float, float, float],
                 pos: list[tuple[float, float]], neg: list[tuple[float, float]],
                 given: np.ndarray | None, radius: int) -> np.ndarray:
        h, w = img.shape[:2]
        x0, y0, x1, y1 = (int(round(v)) for v in rect)
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        gc = np.full((h, w), GC_BGD, np.uint8)
        gc[y0:y1, x0:x1] = GC_PR_FGD if given is None else GC_PR_BGD
        if given is not None:
            gc[given & (gc != GC_BGD)] = GC_PR_FGD
        seeds = np.zeros((h, w), np.uint8)
        for x, y in pos:
            cv2.circle(seeds, (int(round(x)), int(round(y))), radius, 1, -1)
        gc[seeds > 0] = GC_FGD
        for x, y in neg:
            cv2.circle(gc, (int(round(x)), int(round(y))), radius, int(GC_BGD), -1)
        if not (gc == GC_BGD).any() or not np.isin(gc, (GC_FGD, GC_PR_FGD)).any():
            fg = np.isin(gc, (GC_FGD, GC_PR_FGD))
        else:
            # A degenerate colour model (e.g. flat image) keeps the initial labelling.
            grab_cut(img[..., ::-1], gc, self.iterations)
            fg = np.isin(gc, (GC_FGD, GC_PR_FGD))
        if pos:
            keep = components_touching(fg, seeds > 0)
        else:
            keep = largest_component(fg)
        keep = cv2.morphologyEx(keep.astype(np.uint8), cv2.MORPH_OPEN, disk(1)) > 0
        return fill_holes(keep)
