"""remove: temporal fill beats spatial fill on a panning shot with known background; pixels
outside the hole are bit-identical. (Inpainters registered by plugins: test_plugins.py.)"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.imaging.compositing import grow
from editor.evaluation.metrics import psnr, ssim
from editor.pipeline.presets import apply_overrides, build_stages, load_preset
from editor.api.stages import StageContext
from editor.evaluation.synthetic import PastedObjectClip, face_sprite
from editor.api.frames import VideoInfo
from editor.video.reader import iter_frames


@pytest.fixture(scope="module")
def clip(footage: Path) -> PastedObjectClip:
    bg = next(f.image for f in iter_frames(footage / "bigbuckbunny.mp4") if f.index == 5)
    bg = cv2.resize(bg, (640, 360), interpolation=cv2.INTER_AREA)
    face = next(iter(iter_frames(footage / "carphone_pristine.mp4"))).image
    sprite, mask = face_sprite(face)
    return PastedObjectClip(bg, sprite, mask, frames=30, pan=4.0)


def _run(clip: PastedObjectClip, plugin_manager, overrides: list[str]):  # noqa: ANN001, ANN202
    video = VideoInfo("s", clip.width, clip.height, 0, clip.frames, clip.frames, Fraction(25), Fraction(1, 25),
                      clip.frames / 25, "raw", "rgb24")
    (stage,) = build_stages(apply_overrides(load_preset("remove"), overrides), plugin_manager,
                            StageContext(video, {1: "face"}))
    return list(stage.run(clip.items())), stage


def _quality(clip: PastedObjectClip, items) -> tuple[float, float]:  # noqa: ANN001
    ps, ss = [], []
    for it in items:
        hole = clip.frame(it.index)[1] > 0
        if hole.sum() > 100:
            truth = clip.true_background(it.index)
            ps.append(psnr(it.frame.image, truth, hole))
            ss.append(ssim(it.frame.image, truth, hole))
    return float(np.mean(ps)), float(np.mean(ss))


def test_temporal_fill_clearly_beats_spatial_on_a_pan(clip, plugin_manager) -> None:  # noqa: ANN001
    temporal, stage = _run(clip, plugin_manager, [])
    spatial, _ = _run(clip, plugin_manager, ["remove.window=0"])
    pt, st = _quality(clip, temporal)
    ps, ss = _quality(clip, spatial)
    assert pt > ps + 10, (pt, ps)
    assert pt > 35 and st > 0.9, (pt, st)
    assert np.mean(stage.temporal_fractions) > 0.9


def test_outside_the_hole_is_bit_identical_and_full_resolution(clip, plugin_manager) -> None:  # noqa: ANN001
    items, _ = _run(clip, plugin_manager, ["remove.dilate=4", "remove.feather=3"])
    for it in items:
        img, labels = clip.frame(it.index)
        assert it.frame.image.shape == img.shape
        reach = grow(labels > 0, 4 + 3 * 2 + 2)
        assert np.array_equal(it.frame.image[~reach], img[~reach])


def test_fill_at_reduced_resolution_still_composites_at_full(clip, plugin_manager) -> None:  # noqa: ANN001
    items, _ = _run(clip, plugin_manager, ["remove.fill_max_side=160", "remove.dilate=4", "remove.feather=3"])
    quality, _ = _quality(clip, items)
    assert quality > 28, quality  # upscaled fill: softer, still the true background
    for it in items:
        img, labels = clip.frame(it.index)
        assert it.frame.image.shape == img.shape
        reach = grow(labels > 0, 4 + 3 * 2 + 2)
        assert np.array_equal(it.frame.image[~reach], img[~reach])
