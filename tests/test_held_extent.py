"""The held extent (#28): what ``remove`` hides on frames where the tracker is unsure."""
from __future__ import annotations

import json
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from editor.api.frames import Frame
from editor.api.stages import FrameItem
from editor.imaging.held_extent import HeldExtent
from editor.tracking.confidence import read_confidence


def _items(boxes: list[tuple[int, int, int, int] | None], confidence: list[float | None]) -> list[FrameItem]:
    """A 120×160 clip of one object (id 1), a box per frame (None: not masked)."""
    items = []
    for t, (box, c) in enumerate(zip(boxes, confidence)):
        labels = np.zeros((120, 160), np.uint8)
        if box is not None:
            y0, x0, y1, x1 = box
            labels[y0:y1, x0:x1] = 1
        image = np.zeros((120, 160, 3), np.uint8)
        items.append(FrameItem(Frame(t, image, t, Fraction(1, 25), t / 25), labels, {} if c is None else {1: c}))
    return items


def test_a_lost_object_is_held_where_its_motion_takes_it() -> None:
    # moving 3 px a frame to the right; lost (no mask, confidence 0.3) on frames 4-7
    boxes = [(40, 10 + 3 * t, 70, 40 + 3 * t) if not 4 <= t <= 7 else None for t in range(12)]
    items = _items(boxes, [0.3 if 4 <= t <= 7 else 0.97 for t in range(12)])
    held = HeldExtent(reach=10)
    held.observe(items, [1])
    for t in range(4, 8):
        m = held.mask(items[t], 1)
        truth = np.zeros_like(m)
        truth[40:70, 10 + 3 * t:40 + 3 * t] = True
        assert (truth & ~m).sum() == 0, t  # the whole object is hidden
        assert m.sum() < 3 * truth.sum()
    assert (held.mask(items[2], 1) == (items[2].labels == 1)).all()  # confident frames as they are


def test_no_hold_across_frames_without_a_track_nor_out_of_the_frame() -> None:
    # confident on 0-3; frame 4 has no confidence (a cut: the track ended); weak on 5-6
    boxes = [(40, 10, 70, 40)] * 4 + [None] * 3
    items = _items(boxes, [0.97] * 4 + [None, 0.3, 0.3])
    held = HeldExtent(reach=10)
    held.observe(items, [1])
    assert not held.mask(items[5], 1).any()
    # an object leaving over the right border (10 px a frame): held where it still is partly
    # inside (frame 3: x 140-170), nothing once its extent moved out of the frame (frame 7)
    boxes = [(40, 110 + 10 * t, 70, 140 + 10 * t) for t in range(3)] + [None] * 5
    items = _items(boxes, [0.97] * 3 + [0.3] * 5)
    held = HeldExtent(reach=10)
    held.observe(items, [1])
    assert held.mask(items[3], 1).any()  # still partly inside
    assert not held.mask(items[7], 1).any()


def test_masks_folder_confidence_is_read(tmp_path: Path) -> None:
    (tmp_path / "confidence.json").write_text(json.dumps(
        {"version": 1, "frame_count": 3, "review_below": 0.5, "damaged": [],
         "objects": [{"id": 2, "name": "cyclist", "confidence": [None, 0.4, 0.97], "review": [1]}]}))
    assert read_confidence(tmp_path) == {1: {2: 0.4}, 2: {2: 0.97}}
    (tmp_path / "confidence.json").write_text("not json")
    assert read_confidence(tmp_path) == {}
    assert read_confidence(tmp_path / "missing") == {}
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "confidence.json")  # never opened: a read would block
    assert read_confidence(fifo) == {}


def test_the_look_ahead_is_bounded_by_the_frame_size(plugin_manager) -> None:  # noqa: ANN001
    from editor.api.frames import VideoInfo
    from editor.api.stages import StageContext
    from editor.pipeline.presets import load_preset, build_stages

    def window(w: int, h: int) -> tuple[int, int]:
        video = VideoInfo("s", w, h, 0, 10, 10, Fraction(25), Fraction(1, 25), 0.4, "raw", "rgb24")
        (stage,) = build_stages(load_preset("remove"), plugin_manager, StageContext(video, {1: "x"}))
        stage.close()
        return stage.window

    assert window(640, 272) == (1, 10 + 25)  # the preset's window and hold_reach
    assert window(3840, 2160) == (1, 10 + 4)  # 256 MiB of frames at about 8 bytes a pixel


def test_an_outlier_anchor_neither_anchors_nor_sets_the_margin() -> None:
    """A confident mask that jumps against its own track (frame 12: the object and a large
    blob beside it, as a tracker that took a passing car in) is no anchor: the weak frames
    before it hold the next confident mask's extent, grown for the object's usual size."""
    # a 20×16 object standing still at (50, 60); weak and lost on 4-11; frame 12 a blob
    boxes: list[tuple[int, int, int, int] | None] = [(50, 60, 70, 76)] * 20
    for t in range(4, 12):
        boxes[t] = None
    boxes[12] = (10, 20, 118, 158)
    items = _items(boxes, [0.3 if 4 <= t <= 11 else 0.97 for t in range(20)])
    held = HeldExtent(reach=10)
    held.observe(items, [1])
    truth = np.zeros((120, 160), bool)
    truth[50:70, 60:76] = True
    for t in range(4, 12):
        m = held.mask(items[t], 1)
        assert (truth & ~m).sum() == 0, t  # still hidden
        assert m.sum() < 4 * truth.sum(), (t, int(m.sum()))  # not the blob's extent (68 % of the frame)


def test_a_long_weak_stretch_holds_a_bounded_extent() -> None:
    """With a bound (``margin_cap``, off by default: its docstring) the margin for the
    motion's uncertainty stops at that share of the object's size: 12 frames from its
    anchors, an object lost while moving 2 px a frame is held in a box grown by at most that
    much (uncapped: 5 px each way)."""
    cap = 0.2
    boxes: list[tuple[int, int, int, int] | None] = [(50, 10 + 2 * t, 70, 30 + 2 * t) for t in range(30)]
    for t in range(3, 27):
        boxes[t] = None
    items = _items(boxes, [0.3 if 3 <= t < 27 else 0.97 for t in range(30)])
    held = HeldExtent(reach=25, margin_cap=cap)
    held.observe(items, [1])
    m = held.mask(items[15], 1)
    r = round(20 * cap)
    assert m[50:70, 40:60].all()  # where the motion takes it
    ys, xs = np.nonzero(m)
    assert ys.max() + 1 - ys.min() <= 20 + 2 * r and xs.max() + 1 - xs.min() <= 20 + 2 * r


def test_a_still_object_is_held_where_it_stands() -> None:
    """A still object lost for 8 frames is held around where it stands, not moved: the masks'
    phase correlation reads no motion whatever their size (on a window 26 px wide OpenCV's
    alone read half a pixel a frame)."""
    for w in range(12, 24):
        boxes: list[tuple[int, int, int, int] | None] = [(50, 60, 70, 60 + w)] * 16
        for t in range(4, 12):
            boxes[t] = None
        items = _items(boxes, [0.3 if 4 <= t < 12 else 0.97 for t in range(16)])
        held = HeldExtent(reach=10)
        held.observe(items, [1])
        for t in range(4, 12):
            ys, xs = np.nonzero(held.mask(items[t], 1))
            assert (ys.min() + ys.max() + 1) / 2 == 60 and (xs.min() + xs.max() + 1) / 2 == 60 + w / 2, (w, t)
