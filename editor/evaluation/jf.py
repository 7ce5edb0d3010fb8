"""J (region IoU) and F (boundary F-measure) exactly as the DAVIS benchmark defines them.

* ``region_j``: intersection over union; 1 when both masks are empty; ``void`` pixels
  (DAVIS value 255) are ignored.
* ``boundary_f``: boundaries by ``seg2bmap`` (a pixel is boundary when it differs from its
  right, bottom or bottom-right neighbour), matched within a tolerance of
  ``ceil(bound_th × image diagonal)`` pixels (``bound_th = 0.008``) by dilation with a disk;
  precision/recall special cases as in the DAVIS toolkit.
* ``db_statistics``: mean, recall (fraction of frames > 0.5) and decay (mean of the first
  quarter minus the last quarter, over 4 bins) of a per-frame series.
* ``evaluate_sequence``: per object, per frame; like the DAVIS-2017 semi-supervised
  evaluation it skips the first frame (the given annotation) and the last frame.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

BOUND_TH = 0.008


def region_j(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    pred, gt = pred.astype(bool), gt.astype(bool)
    if void is not None:
        keep = ~void.astype(bool)
        pred, gt = pred & keep, gt & keep
    union = np.logical_or(pred, gt).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, gt).sum() / union)


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """One-pixel-wide boundary map of a binary mask (DAVIS' ``seg2bmap`` at the same size)."""
    seg = seg.astype(bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(radius: int) -> np.ndarray:
    r = int(radius)
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y <= r * r).astype(np.uint8)


def boundary_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = BOUND_TH) -> float:
    bound_pix = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*gt.shape))
    fg_b = seg2bmap(pred)
    gt_b = seg2bmap(gt)
    kernel = _disk(int(bound_pix))
    fg_dil = cv2.dilate(fg_b.astype(np.uint8), kernel) > 0
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), kernel) > 0
    n_fg, n_gt = int(fg_b.sum()), int(gt_b.sum())
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = float((fg_b & gt_dil).sum()) / n_fg
        recall = float((gt_b & fg_dil).sum()) / n_gt
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True)
class Stats:
    mean: float
    recall: float
    decay: float


def db_statistics(per_frame: Sequence[float]) -> Stats:
    x = np.asarray(per_frame, dtype=np.float64)
    if x.size == 0:
        return Stats(float("nan"), float("nan"), float("nan"))
    mean = float(np.nanmean(x))
    recall = float(np.nanmean(x > 0.5))
    n_bins = 4
    ids = np.round(np.linspace(1, len(x), n_bins + 1) + 1e-10) - 1
    bins = [x[int(ids[i]):int(ids[i + 1]) + 1] for i in range(n_bins)]
    with np.errstate(invalid="ignore"):
        decay = float(np.nanmean(bins[0]) - np.nanmean(bins[3]))
    return Stats(mean, recall, decay)


@dataclass(frozen=True)
class ObjectScore:
    object_id: int
    j: Stats
    f: Stats
    j_per_frame: tuple[float, ...]
    f_per_frame: tuple[float, ...]

    @property
    def jf(self) -> float:
        return (self.j.mean + self.f.mean) / 2


def evaluate_sequence(pred: Sequence[np.ndarray], gt: Sequence[np.ndarray], object_ids: Sequence[int] | None = None,
                      *, skip_first_last: bool = True, void_value: int = 255) -> list[ObjectScore]:
    """Score label maps ``pred`` against ``gt`` (same length), per object id of the ground truth."""
    if len(pred) != len(gt):
        raise ValueError(f"{len(pred)} predicted frames for {len(gt)} ground-truth frames")
    if object_ids is None:
        ids: set[int] = set()
        for g in gt:
            ids.update(int(v) for v in np.unique(g) if v not in (0, void_value))
        object_ids = sorted(ids)
    frames = range(1, len(gt) - 1) if skip_first_last and len(gt) > 2 else range(len(gt))
    scores = []
    for oid in object_ids:
        js, fs = [], []
        for t in frames:
            void = gt[t] == void_value
            js.append(region_j(pred[t] == oid, gt[t] == oid, void))
            fs.append(boundary_f(pred[t] == oid, gt[t] == oid))
        scores.append(ObjectScore(oid, db_statistics(js), db_statistics(fs), tuple(js), tuple(fs)))
    return scores
