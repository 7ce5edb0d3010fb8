"""Confidence as a probability (#25): the isotonic fit behind the calibration table and the
table's use in the engine (:mod:`editor.tracking.cues.calibration`)."""
from __future__ import annotations

import numpy as np

from editor.evaluation.calibration import calibration, fit_isotonic
from editor.tracking.cues.calibration import probability
from editor.tracking.cues.tuning import CALIBRATION


def test_the_fit_is_increasing_and_matches_the_rates_it_pools() -> None:
    rng = np.random.default_rng(3)
    score = rng.uniform(0, 1, 4000)
    good = rng.uniform(0, 1, 4000) < score ** 2  # P(good | score) = score²
    knots = fit_isotonic(score, good, prior=0.0)
    xs, ps = np.array(knots).T
    assert np.all(np.diff(xs) >= 0) and np.all(np.diff(ps) >= 0)
    fitted = np.interp(score, xs, ps)
    assert np.abs(fitted - score ** 2).mean() < 0.05
    # as a confidence, the fit is calibrated on the examples it was fitted on
    assert calibration(zip(fitted, good.astype(float))).ece < 0.03
    assert calibration(zip(score, good.astype(float))).ece > 0.1  # the raw score is not


def test_equal_scores_are_one_block_and_the_prior_keeps_it_off_certainty() -> None:
    knots = fit_isotonic([1.0, 1.0, 1.0, 0.2, 0.2], [1, 1, 1, 0, 1], prior=1.0)
    assert [x for x, _ in knots] == [0.2, 1.0]
    (x0, p0), (x1, p1) = knots
    base = 4 / 5
    assert p0 == round((1 + base) / 3, 4) and p1 == round((3 + base) / 4, 4) and p1 < 1


def test_the_table_never_takes_a_frame_off_the_review_list() -> None:
    """Frames the evidence's rules put below review_below (lost without being seen leaving,
    held, re-acquired, blurred) stay below it, whatever the table says."""
    for state in ("tracked", "found", "held", "lost"):
        for raw in np.linspace(0, 0.49, 12):
            assert probability(raw, state, 0.5) <= raw
        for raw in np.linspace(0.5, 1, 6):
            assert 0 <= probability(raw, state, 0.5) <= 1
    assert probability(1.0, "prompt", 0.5) == 1.0
    assert CALIBRATION, "the table is fitted (python -m benchmarks.trust --fit)"
    for knots in CALIBRATION.values():
        xs, ps = zip(*knots)
        assert list(xs) == sorted(xs) and list(ps) == sorted(ps) and all(0 < p < 1 for p in ps)
