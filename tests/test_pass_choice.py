"""Between two prompts of an object a bidirectional run outputs the pass whose track from
its prompt is surer (the higher of the two passes' weakest confidence since their prompts;
the nearer prompt's on a tie) — a correction must not hand frames to a pass that lost the
object on the way (#25). Real pixels: the early bunny of the real tuning split
(tests/data/real_tune/bunny_early, bigbuckbunny.mp4), classical backends."""
from __future__ import annotations

from pathlib import Path

from editor.backends.classic import RegionSegmenter
from editor.backends.classic.tracker import FlowTracker
from editor.evaluation.datasets import sparse_labels
from editor.evaluation.runner import evaluate_video_with_clicks

TUNE = Path(__file__).parent / "data" / "real_tune" / "bunny_early"


def test_a_correction_does_not_hand_frames_to_a_pass_that_lost_the_object(samples_dir: Path) -> None:
    """3 clicks on frame 20, then two correction rounds (frames 5 and 0, editing the tracked
    masks there). The forward pass from the correction on 5 re-acquires the bunny on 9
    (confidence 0.4) and follows a smaller piece of him; the backward pass from frame 20 tracks
    him throughout. Frame 10 is nearer to 5, but it takes the backward pass: J 0.83 (the
    nearer pass gave 0.63), and no scored frame is worse than with 3 clicks alone (0.78)."""
    r = evaluate_video_with_clicks(samples_dir / "bigbuckbunny.mp4", sparse_labels(TUNE), RegionSegmenter(),
                                   FlowTracker(), clicks=3, rounds=2, first=20)
    assert r.prompted == [0, 5, 20], r.prompted  # the rounds corrected frames 0 and 5
    j = dict(zip(r.frames, r.j))
    assert j[10] >= 0.8, j
    assert min(r.j) >= 0.75, j
    assert dict(zip(r.frames, r.states))[10] == "tracked"

