"""Tests of the example plugin, written with the fixtures trackedit ships for plugin authors."""
from __future__ import annotations

from fractions import Fraction

import numpy as np

import trackedit_spotlight
from editor.pipeline.presets import parse_preset, build_stages
from editor.api.stages import FrameItem, StageContext
from editor.api.frames import Frame, VideoInfo


def test_spotlight_dims_outside_only(registered_plugin) -> None:  # noqa: ANN001
    pm = registered_plugin(trackedit_spotlight, "spotlight")
    assert "spotlight" in pm.stages
    preset = parse_preset({"stages": ["spotlight"], "spotlight": {"feather": 0}}, "test")
    video = VideoInfo("x", 8, 6, 0, 1, 1, Fraction(25), Fraction(1, 25), 0.04, "raw", "rgb24")
    (stage,) = build_stages(preset, pm, StageContext(video, {1: "ball"}))
    image = np.full((6, 8, 3), (200, 100, 50), np.uint8)
    labels = np.zeros((6, 8), np.uint8)
    labels[2:4, 2:4] = 1
    out = stage.process(FrameItem(Frame(0, image, 0, Fraction(1, 25), 0.0), labels)).frame.image
    assert (out[2:4, 2:4] == (200, 100, 50)).all()  # the object keeps its colour
    assert (out[0, 0] == round(350 / 3 * 0.6)).all()  # elsewhere: grey, dimmed
