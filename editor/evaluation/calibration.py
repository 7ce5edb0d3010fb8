"""Is the tracker's confidence a probability? Confidence is meant as P(IoU ≥ 0.5) of the
mask on that frame (#25); these measure it on frames with a known truth.

Input: pairs (confidence in [0, 1], IoU of the mask with the truth in [0, 1]) — one per
labelled frame and object. Frames the tracker gave no confidence (``None``) are counted
apart, never guessed.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

GOOD_IOU = 0.5
"""A mask is right when its IoU with the truth is at least this."""
BINS = (0.0, 0.25, 0.5, 0.75, 0.9, 1.0001)
"""Reliability-table bins of the predicted confidence (the last one holds 1.0)."""


@dataclass(frozen=True)
class Bin:
    lo: float
    hi: float
    count: int
    predicted: float
    """Mean confidence of the frames in the bin (nan when empty)."""
    observed: float
    """Share of them whose IoU ≥ GOOD_IOU (nan when empty)."""


@dataclass(frozen=True)
class Calibration:
    frames: int
    unscored: int
    """Frames without a confidence."""
    bins: tuple[Bin, ...]
    ece: float
    """Expected calibration error: Σ count/frames × |predicted − observed| over the bins."""
    brier: float
    """Mean (confidence − [IoU ≥ GOOD_IOU])²."""
    bad: int
    """Frames with IoU < GOOD_IOU."""
    recall: float
    """Share of the bad frames listed for review (confidence < ``review_below``; nan: none bad)."""
    flagged_good: float
    """Share of the good frames listed for review (nan: none good)."""


def calibration(pairs: Iterable[tuple[float | None, float]], review_below: float = 0.5) -> Calibration:
    """Reliability table, ECE, Brier score and review recall of (confidence, IoU) ``pairs``."""
    pairs = list(pairs)
    scored = [(float(c), float(j)) for c, j in pairs if c is not None]
    conf = np.array([c for c, _ in scored], float)
    good = np.array([j >= GOOD_IOU for _, j in scored], bool)
    bins = []
    ece = 0.0
    for lo, hi in zip(BINS[:-1], BINS[1:]):
        sel = (conf >= lo) & (conf < hi)
        n = int(sel.sum())
        p = float(conf[sel].mean()) if n else float("nan")
        o = float(good[sel].mean()) if n else float("nan")
        bins.append(Bin(lo, min(hi, 1.0), n, p, o))
        if n:
            ece += n / len(conf) * abs(p - o)
    weak = conf < review_below
    bad = ~good
    return Calibration(len(scored), len(pairs) - len(scored), tuple(bins), ece if len(conf) else float("nan"),
                       float(np.mean((conf - good) ** 2)) if len(conf) else float("nan"), int(bad.sum()),
                       float(weak[bad].mean()) if bad.any() else float("nan"),
                       float(weak[good].mean()) if good.any() else float("nan"))


def fit_isotonic(scores: Iterable[float], good: Iterable[bool], weights: Iterable[float] | None = None,
                 prior: float = 1.0) -> tuple[tuple[float, float], ...]:
    """The increasing map from a raw score to P(good), fitted to examples: the weighted
    isotonic regression of ``good`` on ``scores`` (pool adjacent violators; equal scores
    always pooled), each pooled block's rate shrunk by ``prior`` pseudo-examples at the rate
    of all (so a block of three good frames says 0.94 rather than 1 when 3 in 4 are good).
    Knots (score, probability): a block's lowest and highest score (one knot where they are
    equal), increasing in both; read between them by linear interpolation
    (:func:`numpy.interp`), flat outside."""
    x = np.asarray(list(scores), float)
    y = np.asarray(list(good), float)
    w = np.ones_like(x) if weights is None else np.asarray(list(weights), float)
    if not len(x):
        return ()
    order = np.argsort(x, kind="stable")
    x, y, w = x[order], y[order], w[order]
    base = float((w * y).sum() / w.sum())
    blocks: list[list[float]] = []  # [weight, weighted good, lowest score, highest score]
    for xi, yi, wi in zip(x, y, w):
        if blocks and blocks[-1][3] == xi:
            blocks[-1][0] += wi
            blocks[-1][1] += wi * yi
        else:
            blocks.append([wi, wi * yi, xi, xi])
        while len(blocks) > 1 and blocks[-2][1] / blocks[-2][0] >= blocks[-1][1] / blocks[-1][0]:
            n, g, _, hi = blocks.pop()
            blocks[-1] = [blocks[-1][0] + n, blocks[-1][1] + g, blocks[-1][2], hi]
    knots: list[tuple[float, float]] = []
    for n, g, lo, hi in blocks:
        p = round(float((g + prior * base) / (n + prior)), 4)
        knots += [(round(float(lo), 4), p)] + ([(round(float(hi), 4), p)] if hi > lo else [])
    return tuple(knots)
