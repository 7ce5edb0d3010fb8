"""export-masks: every format round-trips losslessly to the label maps that went in."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from clips import write_clip

from editor.api.masks import MaskFolderWriter, read_label_png
from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.pipeline.presets import apply_overrides, load_preset
from editor.video.reader import iter_frames

W, H, T = 96, 64, 10


def _labels(t: int) -> np.ndarray:
    lab = np.zeros((H, W), np.uint8)
    cv2.circle(lab, (20 + 4 * t, 30), 12, 3, -1)
    lab[40:60, 60 - 3 * t:80 - 3 * t] = 7
    if t > 6:
        lab[:] = np.where(lab == 3, 0, lab)  # object 3 leaves
    return lab


@pytest.fixture
def clip_and_masks(tmp_path: Path) -> tuple[Path, Path]:
    clip = write_clip(tmp_path / "clip.mp4", (np.full((H, W, 3), 20 * t, np.uint8) for t in range(T)))
    writer = MaskFolderWriter(tmp_path / "masks", {3: "ball", 7: "brick"}, str(clip))
    for t in range(T):
        writer.write(t, _labels(t))
    writer.close()
    return clip, tmp_path / "masks"


def test_all_formats_round_trip(clip_and_masks: tuple[Path, Path], tmp_path: Path) -> None:
    import pycocotools.mask as cocomask

    clip, masks = clip_and_masks
    out_dir = tmp_path / "export"
    preset = apply_overrides(load_preset("export-masks"), [f'export-masks.folder="{out_dir}"'])
    req = RunRequest(input=clip, output=tmp_path / "out.mp4", preset=preset, masks_dir=masks)
    Pipeline().run(req)
    assert sorted(p.name for p in out_dir.iterdir()) == ["coco.json", "davis", "matte.mp4", "png"]
    assert not list(tmp_path.glob(".export*"))
    coco = json.loads((out_dir / "coco.json").read_text())
    assert {c["id"]: c["name"] for c in coco["categories"]} == {3: "ball", 7: "brick"}
    assert len(coco["images"]) == T
    matte = [f.image[..., 0] > 127 for f in iter_frames(out_dir / "matte.mp4")]
    assert len(matte) == T
    for t in range(T):
        truth = _labels(t)
        assert np.array_equal(read_label_png(out_dir / "davis" / f"{t:05d}.png"), truth)
        for oid, name in ((3, "ball"), (7, "brick")):
            png = cv2.imread(str(out_dir / "png" / f"{oid}-{name}" / f"{t:05d}.png"), cv2.IMREAD_GRAYSCALE)
            assert np.array_equal(png > 0, truth == oid)
        rebuilt = np.zeros((H, W), np.uint8)
        for ann in (a for a in coco["annotations"] if a["image_id"] == t):
            seg = dict(ann["segmentation"], counts=ann["segmentation"]["counts"].encode())
            m = cocomask.decode(seg).astype(bool)
            assert ann["area"] == int(cocomask.area(seg)) and ann["bbox"] == list(cocomask.toBbox(seg))
            rebuilt[m] = ann["category_id"]
        assert np.array_equal(rebuilt, truth)
        assert np.array_equal(matte[t], truth > 0)


def test_selected_objects_only_and_existing_folder(clip_and_masks: tuple[Path, Path], tmp_path: Path) -> None:
    from editor.api.errors import PresetError

    clip, masks = clip_and_masks
    out_dir = tmp_path / "only7"
    preset = apply_overrides(load_preset("export-masks"),
                             [f'export-masks.folder="{out_dir}"', 'export-masks.formats=["davis"]',
                              "export-masks.objects=[\"brick\"]"])
    Pipeline().run(RunRequest(input=clip, output=tmp_path / "o.mp4", preset=preset, masks_dir=masks))
    assert np.array_equal(read_label_png(out_dir / "davis" / "00002.png"),
                          np.where(_labels(2) == 7, 7, 0).astype(np.uint8))
    with pytest.raises(PresetError, match="already exists"):
        Pipeline().run(RunRequest(input=clip, output=tmp_path / "o2.mp4", preset=preset, masks_dir=masks))
    assert not (tmp_path / "o2.mp4").exists()
