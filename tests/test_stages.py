"""Edit stages on real pixels: redaction strength, untouched background, hold, overlay."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.pipeline.presets import apply_overrides, build_stages, load_preset
from editor.api.stages import FrameItem, StageContext
from editor.api.frames import Frame, VideoInfo
from editor.video.reader import iter_frames


def _video(w: int, h: int) -> VideoInfo:
    return VideoInfo("x.mp4", w, h, 0, 10, 10, Fraction(25), Fraction(1, 25), 0.4, "h264", "yuv420p")


@pytest.fixture(scope="module")
def face_frame(footage: Path) -> np.ndarray:
    for frame in iter_frames(footage / "carphone_pristine.mp4"):
        return frame.image
    raise AssertionError


def _face_labels(shape: tuple[int, int]) -> np.ndarray:
    labels = np.zeros(shape, np.uint8)
    cv2.ellipse(labels, (84, 64), (24, 32), 0, 0, 360, 1, -1)  # the face in carphone frame 0
    return labels


def _stage(name: str, overrides: list[str], w: int, h: int, plugin_manager):  # noqa: ANN001, ANN202
    preset = apply_overrides(load_preset(name), overrides)
    (stage,) = build_stages(preset, plugin_manager, StageContext(_video(w, h), {1: "face"}))
    return stage


def _hf_energy(img: np.ndarray, mask: np.ndarray) -> float:
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    return float(np.mean(lap[mask] ** 2))


def test_blur_kills_detail_inside_and_keeps_outside(face_frame, plugin_manager) -> None:  # noqa: ANN001
    h, w = face_frame.shape[:2]
    labels = _face_labels((h, w))
    stage = _stage("blur", [], w, h, plugin_manager)
    item = FrameItem(Frame(0, face_frame, 0, Fraction(1, 25), 0.0), labels)
    out = stage.process(item).frame.image
    inside = cv2.erode(labels, np.ones((5, 5), np.uint8)) > 0
    # documented strength: high-frequency (Laplacian) energy inside drops at least 10x
    assert _hf_energy(out, inside) < _hf_energy(face_frame, inside) / 10
    far = cv2.dilate(labels, np.ones((41, 41), np.uint8)) == 0
    assert np.array_equal(out[far], face_frame[far])  # bit-identical away from the mask


def test_pixelate_makes_uniform_blocks(face_frame, plugin_manager) -> None:  # noqa: ANN001
    h, w = face_frame.shape[:2]
    labels = _face_labels((h, w))
    stage = _stage("pixelate", ["pixelate.block=8"], w, h, plugin_manager)
    out = stage.process(FrameItem(Frame(0, face_frame, 0, Fraction(1, 25), 0.0), labels)).frame.image
    inside = cv2.erode(labels, np.ones((9, 9), np.uint8)) > 0
    pairs = inside[:, 1:] & inside[:, :-1]

    def equal_neighbours(img: np.ndarray) -> float:
        same = (img[:, 1:] == img[:, :-1]).all(axis=2)
        return float(same[pairs].mean())

    assert equal_neighbours(face_frame) < 0.2
    assert equal_neighbours(out) > 0.8  # 8-px blocks: 7 of 8 neighbours equal
    far = cv2.dilate(labels, np.ones((41, 41), np.uint8)) == 0
    assert np.array_equal(out[far], face_frame[far])


def _cells(out: np.ndarray, inside: np.ndarray) -> float:
    """The mean width of runs of equal pixels along rows inside ``inside`` (≈ the block)."""
    same = (out[:, 1:] == out[:, :-1]).all(axis=2) & inside[:, 1:] & inside[:, :-1]
    changes = (~same & inside[:, 1:] & inside[:, :-1]).sum()
    return float((inside[:, 1:] & inside[:, :-1]).sum() / max(1, changes))


def test_pixelate_cells_stay_on_the_frame_grid_as_the_mask_moves(face_frame, plugin_manager) -> None:  # noqa: ANN001
    """The mosaic's cells are fixed to the frame (newcomer report: the blocks swam and changed
    size with the mask): a still picture under a mask moving 1 px per frame gives the same
    cells where both frames' masks cover them, and the automatic block stays one size."""
    h, w = face_frame.shape[:2]
    stage = _stage("pixelate", [], w, h, plugin_manager)
    outs, masks = [], []
    for i in range(6):
        labels = np.zeros((h, w), np.uint8)
        cv2.ellipse(labels, (70 + i, 64), (24, 32), 0, 0, 360, 1, -1)
        item = FrameItem(Frame(i, face_frame, i, Fraction(1, 25), i / 25), labels)
        outs.append(stage.process(item).frame.image)
        masks.append(cv2.erode(labels, np.ones((9, 9), np.uint8)) > 0)  # inside the mask
        assert [b for _, b in stage._blocks] == [8]  # √(area of the grown mask) / 8 ≤ 8: the smallest block
    for a, b, ma, mb in zip(outs, outs[1:], masks, masks[1:]):
        both = ma & mb
        assert both.sum() > 500 and np.array_equal(a[both], b[both])
    assert 6 <= _cells(outs[0], masks[0]) <= 10  # 8-px cells


def test_pixelate_auto_block_grows_in_few_steps_and_never_flickers(face_frame, plugin_manager) -> None:  # noqa: ANN001
    h, w = face_frame.shape[:2]
    stage = _stage("pixelate", [], w, h, plugin_manager)

    def block_for(radius: float, i: int) -> int:
        labels = np.zeros((h, w), np.uint8)
        cv2.circle(labels, (88, 72), int(round(radius)), 1, -1)
        stage.process(FrameItem(Frame(i, face_frame, i, Fraction(1, 25), i / 25), labels))
        ((_, block),) = stage._blocks
        area = float(cv2.dilate(labels, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (13, 13))).sum())
        assert block >= np.sqrt(area) / 8 - 1e-6  # never fewer than 8 blocks across the region
        return block

    growing = [block_for(20 + 0.5 * i, i) for i in range(100)]  # radius 20 → 70 px
    assert growing == sorted(growing)
    assert len(set(growing)) <= 4, sorted(set(growing))  # 8·√2ᵏ steps: 16, 23, 32, 46
    wobbling = [block_for(44 + (1.5 if i % 2 else -1.5), 100 + i) for i in range(20)]
    assert len(set(wobbling)) == 1, wobbling  # a size around a step: one block, no back and forth


def test_solid_box_mode_and_feather(face_frame, plugin_manager) -> None:  # noqa: ANN001
    h, w = face_frame.shape[:2]
    labels = _face_labels((h, w))
    stage = _stage("solid", ["solid.shape=box", "solid.color=[255, 0, 0]", "solid.dilate=0"], w, h, plugin_manager)
    out = stage.process(FrameItem(Frame(0, face_frame, 0, Fraction(1, 25), 0.0), labels)).frame.image
    ys, xs = np.nonzero(labels)
    box = out[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    assert (box == [255, 0, 0]).all()  # the whole bounding box, corners included
    assert np.array_equal(out[:ys.min()], face_frame[:ys.min()])


def test_objects_selection_and_hold(face_frame, plugin_manager) -> None:  # noqa: ANN001
    h, w = face_frame.shape[:2]
    labels = _face_labels((h, w))
    stage = _stage("solid", ["solid.hold=2", "solid.feather=0", "solid.dilate=0", "solid.objects=[1]"],
                   w, h, plugin_manager)
    empty = np.zeros_like(labels)
    outs = [stage.process(FrameItem(Frame(i, face_frame, i, Fraction(1, 25), i / 25), lab)).frame.image
            for i, lab in enumerate([labels, empty, empty, empty])]
    face = labels > 0
    assert (outs[0][face] == 0).all()
    assert (outs[1][face] == 0).all() and (outs[2][face] == 0).all()  # held for 2 frames
    assert np.array_equal(outs[3], face_frame)  # then released
    other = _stage("solid", ["solid.objects=[2]"], w, h, plugin_manager)
    same = other.process(FrameItem(Frame(0, face_frame, 0, Fraction(1, 25), 0.0), labels)).frame.image
    assert np.array_equal(same, face_frame)


def test_overlay_colours_inside_only(face_frame, plugin_manager) -> None:  # noqa: ANN001
    h, w = face_frame.shape[:2]
    labels = _face_labels((h, w))
    stage = _stage("overlay", ["overlay.labels=false", "overlay.outline=0"], w, h, plugin_manager)
    out = stage.process(FrameItem(Frame(0, face_frame, 0, Fraction(1, 25), 0.0), labels)).frame.image
    inside = labels > 0
    expected = (face_frame[inside] * 0.5 + np.array([128, 0, 0]) * 0.5 + 0.5).astype(np.uint8)
    assert np.array_equal(out[inside], expected)
    assert np.array_equal(out[~inside], face_frame[~inside])
