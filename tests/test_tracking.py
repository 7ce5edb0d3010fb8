"""Tracking driver on synthetic clips with exact ground truth: backward/forward, late objects,
corrections, shot cuts (classical backends)."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.backends.classic import FlowTracker, GrabCutSegmenter
from editor.api.prompts import parse_prompts
from editor.tracking.engine import TrackingSession
from editor.api.frames import Frame, VideoInfo

W, H, T = 160, 120, 30


def _background(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 255, (H // 8, W // 8, 3), dtype=np.uint8)
    bg = cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC)
    return (bg // 3 + 40).astype(np.uint8)  # dull, textured


def _scene(t: int, cut_at: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frame t and its ground-truth label map: a red disc moving right, a blue box moving left."""
    second_shot = cut_at is not None and t >= cut_at
    img = _background(1 if second_shot else 0).copy()
    labels = np.zeros((H, W), np.uint8)
    if second_shot:  # a different scene: only a green disc elsewhere
        cv2.circle(img, (120, 40), 14, (40, 200, 60), -1)
        return img, labels
    cx, cy = 30 + 2 * t, 45 + t // 3
    cv2.circle(img, (cx, cy), 16, (220, 40, 40), -1)
    cv2.circle(labels, (cx, cy), 16, 1, -1)
    x = 120 - 2 * t
    box = (x, 75, x + 26, 105)
    img[box[1]:box[3], box[0]:box[2]] = (40, 60, 220)
    labels[box[1]:box[3], box[0]:box[2]] = np.where(labels[box[1]:box[3], box[0]:box[2]] == 0, 2,
                                                    labels[box[1]:box[3], box[0]:box[2]])
    return img, labels


def _frames(cut_at: int | None = None):  # noqa: ANN202
    for t in range(T):
        yield Frame(t, _scene(t, cut_at)[0], t, Fraction(1, 25), t / 25)


def _video() -> VideoInfo:
    return VideoInfo("synthetic", W, H, 0, T, T, Fraction(25), Fraction(1, 25), T / 25, "raw", "rgb24")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _track(prompts: dict, tmp_path: Path, cut_at: int | None = None) -> tuple[list[np.ndarray], TrackingSession]:
    vt = TrackingSession(_video(), GrabCutSegmenter(), FlowTracker(), work_dir=tmp_path)
    vt.add_prompts(parse_prompts(prompts))
    return [item.labels for item in vt.stream(_frames(cut_at))], vt


def test_backward_forward_and_late_object(tmp_path: Path) -> None:
    prompts = {"objects": [
        {"id": 1, "name": "disc", "prompts": [{"frame": 12, "points": [[30 + 24, 45 + 4]]}]},
        {"id": 2, "name": "box", "prompts": [{"frame": 20, "box": [78, 73, 108, 107]}]}]}
    labels, vt = _track(prompts, tmp_path)
    assert len(labels) == T and vt.stats.cuts == []
    for t, lab in enumerate(labels):
        gt = _scene(t)[1]
        assert _iou(lab == 1, gt == 1) > 0.75, (t, _iou(lab == 1, gt == 1))
        assert _iou(lab == 2, gt == 2) > 0.75, (t, _iou(lab == 2, gt == 2))
    assert vt.stats.segmented == 2  # each object segmented once, reused by both passes
    assert not list((tmp_path / "tracking-cache").glob("*.png"))  # cache emptied as frames leave


def test_correction_replaces_prediction(tmp_path: Path) -> None:
    wrong = np.zeros((H, W), np.uint8)
    wrong[5:25, 5:25] = 255  # a deliberate, different "correction" at frame 15
    from PIL import Image

    Image.fromarray(wrong).save(tmp_path / "fix.png")
    prompts = {"objects": [{"id": 1, "prompts": [{"frame": 0, "points": [[30, 45]]},
                                                 {"frame": 15, "mask": str(tmp_path / "fix.png")}]}]}
    labels, _ = _track(prompts, tmp_path)
    assert np.array_equal(labels[15] == 1, wrong > 0)
    assert _iou(labels[10] == 1, _scene(10)[1] == 1) > 0.75  # before the correction: tracked
    assert (labels[16][5:25, 5:25] == 1).mean() > 0.8  # after: continues from the correction


def test_tracks_end_at_a_cut(tmp_path: Path) -> None:
    prompts = {"objects": [{"id": 1, "prompts": [{"frame": 5, "points": [[40, 46]]}]}]}
    labels, vt = _track(prompts, tmp_path, cut_at=18)
    assert vt.stats.cuts == [18]
    assert all((lab == 1).any() for lab in labels[:18])
    assert not any((lab == 1).any() for lab in labels[18:])  # never jumps to the green disc


def test_prompt_past_the_end(tmp_path: Path) -> None:
    from editor.api.errors import PromptError

    prompts = {"objects": [{"id": 1, "prompts": [{"frame": 40, "points": [[40, 46]]}]}]}
    with pytest.raises(PromptError, match="frame 40 is past the end"):
        _track(prompts, tmp_path)


class _HoldPass:
    """A test tracker that keeps each object's last given mask (no motion model)."""

    def __init__(self) -> None:
        self.masks: dict[int, np.ndarray] = {}

    def step(self, frame, prompts):  # noqa: ANN001, ANN201
        self.masks.update(prompts)
        return dict(self.masks)

    def end_objects(self, ids) -> None:  # noqa: ANN001
        for i in ids:
            self.masks.pop(i, None)

    def close(self) -> None:
        pass


class _HoldTracker:
    def new_pass(self, video, *, reverse):  # noqa: ANN001, ANN201
        return _HoldPass()


@pytest.mark.parametrize("bidirectional", [False, True])
def test_bidirectional_takes_the_nearer_annotation(tmp_path: Path, bidirectional: bool) -> None:
    from PIL import Image

    for k in (4, 20):
        Image.fromarray((_scene(k)[1] == 1).astype(np.uint8) * 255).save(tmp_path / f"m{k}.png")
    prompts = parse_prompts({"objects": [{"id": 1, "prompts": [{"frame": 4, "mask": str(tmp_path / "m4.png")},
                                                               {"frame": 20, "mask": str(tmp_path / "m20.png")}]}]})
    vt = TrackingSession(_video(), GrabCutSegmenter(), _HoldTracker(), work_dir=tmp_path / "w")
    vt.add_prompts(prompts)
    labels = [it.labels for it in vt.stream(_frames(), bidirectional=bidirectional)]
    m4, m20 = _scene(4)[1] == 1, _scene(20)[1] == 1
    assert np.array_equal(labels[0] == 1, m4) and np.array_equal(labels[12] == 1, m4)  # nearer to 4 (or tie)
    assert np.array_equal(labels[17] == 1, m20 if bidirectional else m4)  # nearer to 20
    assert np.array_equal(labels[25] == 1, m20)
