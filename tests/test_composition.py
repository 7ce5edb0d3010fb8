"""A preset chaining stages in its own order: remove one object, blur another, overlay."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from clips import write_clip
from editor.api.masks import MaskFolderWriter
from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.pipeline.presets import load_preset
from editor.video.reader import iter_frames
from editor.video.writer import EncodeOptions


def test_chained_preset(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    bg = cv2.resize(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), (128, 96), interpolation=cv2.INTER_CUBIC)
    frames, labels = [], []
    for t in range(12):
        img, lab = bg.copy(), np.zeros((96, 128), np.uint8)
        x = 10 + 5 * t
        img[20:40, x:x + 20] = (250, 250, 250)  # object 1 ("car"): removed
        lab[20:40, x:x + 20] = 1
        img[60:90, 90:120] = np.where((np.indices((30, 30)).sum(0) % 4 < 2)[..., None], 255, 0)  # 2: "sign", blurred
        lab[60:90, 90:120] = 2
        frames.append(img)
        labels.append(lab)
    clip = write_clip(tmp_path / "in.mp4", frames, pix_fmt="yuv444p", options={"crf": "0"})
    masks = MaskFolderWriter(tmp_path / "masks", {1: "car", 2: "sign"})
    for t, lab in enumerate(labels):
        masks.write(t, lab)
    masks.close()
    preset_file = tmp_path / "chain.toml"
    preset_file.write_text('stages = ["erase", "hide", "review"]\n'
                           '[erase]\nuse = "remove"\nobjects = ["car"]\nwindow = 6\n'
                           '[hide]\nuse = "blur"\nobjects = ["sign"]\n'
                           '[review]\nuse = "overlay"\nobjects = ["sign"]\nlabels = false\noutline = 0\n')
    out = tmp_path / "out.mkv"
    lossless = EncodeOptions(codec="ffv1", pix_fmt="yuv444p", preset=None, crf=None)
    Pipeline().run(RunRequest(input=clip, output=out, preset=load_preset(preset_file), masks_dir=tmp_path / "masks",
                              encode=lossless))
    result = [f.image for f in iter_frames(out)]
    assert len(result) == 12
    t = 6
    car = labels[t] == 1
    # removed: the white car is replaced by (close to) the true background
    assert np.abs(result[t][car].astype(int) - bg[car]).mean() < 25
    sign = labels[t] == 2
    inner = cv2.erode(sign.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    # blurred (checkerboard gone), then tinted by the overlay (green channel pulled to 128 for id 2)
    assert result[t][inner][:, 0].std() < 20
    assert abs(result[t][inner][:, 1].mean() - (127.5 * 0.5 + 64)) < 30


def test_blend_is_the_formula_within_a_level_and_exact_at_zero_and_one() -> None:
    """The shared blend (stages' compositing): 8-bit through OpenCV's blendLinear, 16-bit by
    the arithmetic on the soft pixels; both within one level of ``alpha·top + (1−alpha)·base``
    rounded, bit-identical to the base where alpha is 0 and to the top where it is 1."""
    from editor.imaging.compositing import blend

    rng = np.random.default_rng(3)
    for dtype, top_value in ((np.uint8, 255), (np.uint16, 65535)):
        base = rng.integers(0, top_value + 1, (40, 64, 3)).astype(dtype)
        top = rng.integers(0, top_value + 1, (40, 64, 3)).astype(dtype)
        alpha = rng.random((40, 64)).astype(np.float32)
        alpha[:8], alpha[-8:] = 0.0, 1.0
        out = blend(base, top, alpha)
        assert out.dtype == dtype and out.shape == base.shape
        exact = np.floor(base * (1.0 - alpha[..., None]) + top.astype(np.float64) * alpha[..., None] + 0.5)
        assert np.abs(out.astype(np.int64) - exact).max() <= 1
        assert (out[:8] == base[:8]).all() and (out[-8:] == top[-8:]).all()
