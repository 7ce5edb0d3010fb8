"""The SAM segmenter: one object's prompts on one frame → its mask.

Rules (the paper's interactive tool, made explicit):

* Every point, the box and any mask prompts of the object on the frame go into one
  decode; SAM returns three candidates and the one with the highest predicted IoU wins
  (``multimask=True``). Its predicted IoU is the :class:`~editor.api.backends.Segmentation`
  score.
* When the latest click is an exclude click (label 0), a second decode adds the first
  decode's best low-resolution logits as a mask prompt, so the exclusion refines the mask
  just chosen instead of starting over.
* A mask prompt becomes SAM's low-resolution mask prompt (see
  :func:`~editor.backends.sam.transforms.mask_to_prompt_logits`). A mask given *alone* on a frame is
  the user's exact answer and is kept as given, unless ``refine_masks`` is on: then SAM
  decodes it together with its bounding box.
* Optional clean-up at the source resolution: holes smaller than ``fill_holes`` pixels are
  filled and islands smaller than ``min_island`` pixels removed (0 = off).
* :meth:`SamSegmenter.refine` (weak-mask refinement while tracking, see
  :mod:`editor.tracking.refinement`) prompts SAM with the tracked mask's box, its most interior
  point (the maximum of the distance transform, weighted by the tracker's probability
  when given) and the mask itself as low-resolution logits; one output.
* One SAM call segments one object. Several objects on one frame are combined by the core
  (:func:`editor.api.masks.compose_label_map`: where masks overlap, the smaller object wins,
  the same rule for every segmenter), giving one label map.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from editor.api.backends import Segmentation
from editor.api.errors import PromptError
from editor.api.masks import union
from editor.api.prompts import Prompt, gathered
from editor.backends.sam.predictor import Prediction, SamEngine, image_key
from editor.backends.sam.transforms import mask_to_prompt_logits


@dataclass(frozen=True)
class SamSegmenterOptions:
    multimask: bool = True
    refine_masks: bool = False
    fill_holes: int = 0
    min_island: int = 0


def remove_small_regions(mask: np.ndarray, fill_holes: int, min_island: int) -> np.ndarray:
    """Fill holes < ``fill_holes`` px and drop islands < ``min_island`` px (0 disables each)."""
    out = mask.astype(bool)
    if fill_holes > 0:
        n, lab, stats, _ = cv2.connectedComponentsWithStats((~out).astype(np.uint8), connectivity=8)
        small = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] < fill_holes
                 and not _touches_border(stats[i], out.shape)]
        if small:
            out = out | np.isin(lab, small)
    if min_island > 0:
        n, lab, stats, _ = cv2.connectedComponentsWithStats(out.astype(np.uint8), connectivity=8)
        small = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] < min_island]
        keep_any = n > 1 and len(small) < n - 1
        if small and keep_any:  # never erase the whole mask
            out = out & ~np.isin(lab, small)
    return out


def _touches_border(stat: np.ndarray, shape: tuple[int, int]) -> bool:
    x, y, w, h = stat[:4]
    return x == 0 or y == 0 or x + w == shape[1] or y + h == shape[0]


class SamSegmenter:
    """:class:`~editor.api.backends.Segmenter` on a :class:`SamEngine` (embeddings cached per frame)."""

    def __init__(self, engine: SamEngine, options: SamSegmenterOptions | None = None) -> None:
        self.engine = engine
        self.options = options or SamSegmenterOptions()
        self.last_prediction: Prediction | None = None

    def segment(self, image: np.ndarray, frame_index: int, prompts: list[Prompt],
                masks: list[np.ndarray] | None = None) -> Segmentation:
        points, labels, box = gathered(prompts, frame_index, "SAM")
        boxes = [box] if box is not None else []
        given = None
        if masks:
            given = union(masks)
        if not points and not boxes:
            if given is None:
                raise PromptError(f"frame {frame_index}: no points, box or mask to segment from")
            if not self.options.refine_masks or not given.any():
                return Segmentation(given, 1.0)
            ys, xs = np.nonzero(given)
            boxes = [(float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))]
        return self.predict(image, frame_index, points, labels, boxes[0] if boxes else None, given)

    def refine(self, image: np.ndarray, frame_index: int, mask: np.ndarray,
               probability: np.ndarray | None = None) -> Segmentation | None:
        """Re-segment the object a tracked ``mask`` covers (``None`` for an empty mask)."""
        if not mask.any():
            return None
        ys, xs = np.nonzero(mask)
        box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
        inside = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]
        if probability is not None:
            inside = inside * np.clip(probability, 0.0, 1.0)
        y, x = np.unravel_index(int(np.argmax(inside)), inside.shape)
        key = (frame_index, image_key(image))
        emb = self.engine.embed(image, key)
        logits = mask_to_prompt_logits(mask, self.engine.image_size)
        pred = self.engine.predict(emb, np.array([[x, y]], np.float32), np.array([1]),
                                   np.asarray(box, np.float32), logits, multimask=False)
        return Segmentation(pred.masks[pred.best], float(np.clip(pred.scores[pred.best], 0.0, 1.0)))

    def predict(self, image: np.ndarray, frame_index: int | None, points: Sequence[tuple[float, float]],
                labels: Sequence[int], box: tuple[float, float, float, float] | None = None,
                mask: np.ndarray | None = None) -> Segmentation:
        """Decode one object's prompts (the rules in the module docstring)."""
        key = None if frame_index is None else (frame_index, image_key(image))
        emb = self.engine.embed(image, key)
        pts = np.asarray(points, np.float32).reshape(-1, 2) if len(points) else None
        lab = np.asarray(labels, np.int64) if len(points) else None
        logits = mask_to_prompt_logits(mask, self.engine.image_size) if mask is not None else None
        multi = self.options.multimask
        pred = self.engine.predict(emb, pts, lab, None if box is None else np.asarray(box, np.float32), logits,
                                   multimask=multi)
        if lab is not None and lab[-1] == 0:
            pred = self.engine.predict(emb, pts, lab, None if box is None else np.asarray(box, np.float32),
                                       pred.low_res[pred.best], multimask=multi)
        self.last_prediction = pred
        out = pred.masks[pred.best]
        o = self.options
        if o.fill_holes or o.min_island:
            out = remove_small_regions(out, o.fill_holes, o.min_island)
        return Segmentation(out, float(np.clip(pred.scores[pred.best], 0.0, 1.0)))
