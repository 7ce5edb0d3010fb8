"""Real footage labelled by hand (tests/data/real_gt, #25): the held-out set as fixtures.

One click on the first labelled frame, tracked both ways with the classical backends, J per
labelled frame against the hand-made masks: a regression on real footage fails here. The
thresholds sit a little under what the code measured when they were set (BENCHMARKS.md,
"Masks and confidence on real footage"); they were not used to choose any constant.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from editor.api.masks import read_label_png
from editor.backends.classic import RegionSegmenter
from editor.backends.classic.tracker import FlowTracker
from editor.evaluation.calibration import calibration
from editor.evaluation.datasets import sparse_labels
from editor.evaluation.runner import evaluate_video_with_clicks
from editor.video.random_access import FrameSource

REAL = Path(__file__).parent / "data" / "real_gt"
TUNE = Path(__file__).parent / "data" / "real_tune"
SAMPLES = Path(__file__).resolve().parent.parent / "samples"
# clip → (video, folder, minimum mean J with 1 click, minimum J on every scored frame);
# clicks on the first labelled frame, the cyclist's on frame 120 (the sample's prompt frame)
FIRST = {"bikes_cyclist": 120}
CLIPS = {
    "bunny": (SAMPLES / "bigbuckbunny.mp4", REAL / "bunny", 0.82, 0.70),  # measured 0.852, min 0.742
    "carphone": (SAMPLES / "carphone_pristine.mp4", REAL / "carphone", 0.60, 0.55),  # 0.636, min 0.584
    # the cyclist: lost behind a car, re-acquired on the car (frame 100: J 0); measured 0.613
    "bikes_cyclist": (SAMPLES / "bikes.mp4", REAL / "bikes_cyclist", 0.55, 0.0),
}


@pytest.fixture(scope="module")
def one_click() -> dict[str, object]:
    out = {}
    for name, (video, folder, *_) in CLIPS.items():
        out[name] = evaluate_video_with_clicks(video, sparse_labels(folder), RegionSegmenter(), FlowTracker(),
                                               clicks=1, first=FIRST.get(name), name=name)
    return out


def test_the_labels_are_masks_of_the_video() -> None:
    for name, (video, folder, *_) in CLIPS.items():
        truth = sparse_labels(folder)
        assert len(truth) >= 8, name
        shown = {f: m for f, m in truth.items() if m.any()}
        assert len(shown) >= 4, name
        for f, m in shown.items():
            assert read_label_png(folder / f"{f:05d}.png").max() == 1
            assert 0.02 < m.mean() < 0.5, (name, f, m.mean())  # one object, not the frame or a speck


def test_the_tuning_split_is_apart_from_the_held_out_one() -> None:
    """The tuning split (tests/data/real_tune: what constants are fitted on) holds masks of the
    video too, and none of its frames of the bunny is a held-out one."""
    tune = {"bikes_van": SAMPLES / "bikes.mp4", "bunny_early": SAMPLES / "bigbuckbunny.mp4",
            "bikes_walker": SAMPLES / "bikes.mp4"}
    for name, video in tune.items():
        truth = sparse_labels(TUNE / name)
        shown = {f: m for f, m in truth.items() if m.any()}
        assert len(shown) >= 6, name
        first = read_label_png(TUNE / name / f"{min(shown):05d}.png")
        assert first.shape == FrameSource(video)[min(shown)].rgb8.shape[:2], name
        for f, m in shown.items():
            assert 0.02 < m.mean() < 0.5, (name, f, m.mean())
    assert not set(sparse_labels(TUNE / "bunny_early")) & set(sparse_labels(REAL / "bunny"))


@pytest.mark.parametrize("name", list(CLIPS))
def test_one_click_tracks_the_real_object(one_click: dict[str, object], name: str) -> None:
    r = one_click[name]
    _, _, mean_j, min_j = CLIPS[name]
    assert len(r.frames) >= 7
    assert float(np.mean(r.j)) >= mean_j, (name, [round(j, 3) for j in r.j])
    assert min(r.j) >= min_j, (name, dict(zip(r.frames, [round(j, 3) for j in r.j])))
    truth = sparse_labels(CLIPS[name][1])
    runaway = [f for f, a in zip(r.frames, r.area_ratio) if a > 2.0]  # more than twice the object edited
    listed = [f for f, c in zip(r.frames, r.confidence) if c is not None and c < 0.5]
    assert set(runaway) <= set(listed), (name, runaway, listed)  # where it happens, it is listed
    assert all(not truth[f].any() for f in runaway), (name, runaway)  # only where the object is hidden


def test_confidence_is_calibrated_on_real_footage(one_click: dict[str, object]) -> None:
    """Every frame whose mask is wrong (IoU < 0.5) is listed for review, and most good ones are not."""
    pairs = [(c, j) for r in one_click.values() for c, j in zip(r.confidence, r.j)]
    cal = calibration(pairs)
    # frames without a verdict: only after the cut in bikes, where the track ended and nothing is shown
    assert all(j == 1.0 for c, j in pairs if c is None) and cal.unscored <= 2
    if cal.bad:
        assert cal.recall >= 0.9, cal
    assert cal.flagged_good <= 0.25, cal
    # the confidence is a probability (the table fitted on the tuning split, never on these
    # clips): frames said to be right 97 % of the time are right at least 87 % of the time,
    # and the expected calibration error is small (measured: ECE 0.033, 31 frames at 0.97
    # all right; the 3 below 0.5 are listed by the evidence's rules, 1 of them right)
    confident = [(c, j) for c, j in pairs if c is not None and c >= 0.5]
    assert len(confident) >= 20
    predicted = float(np.mean([c for c, _ in confident]))
    observed = float(np.mean([j >= 0.5 for _, j in confident]))
    assert 0.8 <= predicted < 1.0 and abs(observed - predicted) <= 0.1, (predicted, observed)
    assert cal.ece <= 0.1, cal


def test_a_mask_cut_by_the_border_does_not_grow_past_the_object() -> None:
    """The van in bikes.mp4 (tuning split) is cut by the frame's left and bottom borders: the
    tracker no longer holds the mask's border side as certain foreground nor widens its
    band as for an object coming in, so the track does not take the dark façade above the
    roof up to the frame's top. Measured (1 click on frame 80): area 1.07–1.28 × the van's,
    J 0.767–0.919, mean 0.869 on the 11 frames that show it; before: up to 1.45 ×, J down
    to 0.689, mean 0.785."""
    truth = sparse_labels(TUNE / "bikes_van")
    r = evaluate_video_with_clicks(SAMPLES / "bikes.mp4", truth, RegionSegmenter(), FlowTracker(), clicks=1,
                                   first=80, name="bikes-van")
    shown = [(f, j, a) for f, j, a in zip(r.frames, r.j, r.area_ratio) if truth[f].any()]
    assert len(shown) >= 10
    assert max(a for *_, a in shown) <= 1.35, shown
    assert min(j for _, j, _ in shown) >= 0.74, shown
    assert float(np.mean([j for _, j, _ in shown])) >= 0.85, shown
