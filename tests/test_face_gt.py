"""The hand-checked face boxes of real footage (tests/data) and the visible-face measure
(editor.evaluation.face_detail) that scores edited videos against them."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from face_gt import CLIPS, face_gt, gt_video, visible_faces

from editor.evaluation.face_boxes import UNSURE_ID, FaceBoxes, frame_truths, load_face_boxes
from editor.evaluation.face_detail import detail_ratio, keeps_detail, score_detail
from editor.evaluation.faces import CARPHONE_FACE_BOXES, write_video
from editor.video.reader import iter_frames


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_boxes_match_the_video(name: str, footage: Path) -> None:
    """One entry per frame of the video, every box inside the frame, the stated size,
    frame count and file hash those of the video."""
    video = gt_video(name, footage)
    frames = [f.image for f in iter_frames(video)]
    height, width = frames[0].shape[:2]
    gt = face_gt(name)
    assert len(gt.frames) == len(frames)
    if gt.frame_count is not None:
        assert (gt.width, gt.height, gt.frame_count) == (width, height, len(frames))
    data = json.loads(CLIPS[name][1].read_text())
    if isinstance(data, dict):
        assert data["how"] and data["video_sha256"] == hashlib.sha256(video.read_bytes()).hexdigest()
    boxes = [b for fb in gt.frames for b in fb] + [b for ub in gt.unsure.values() for b in ub]
    assert boxes
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert all(0 <= t < len(frames) for t in gt.unsure)


def test_bikes_faces_are_where_they_were_checked() -> None:
    """The walking man on 30–44, the cyclist on 76–82 and 103–136, one face a frame; the
    out-of-focus head behind the cyclist is unsure (bikes_faces_gt.md)."""
    gt = face_gt("bikes")
    assert [t for t, boxes in enumerate(gt.frames) if boxes] == [*range(30, 45), *range(76, 83), *range(103, 137)]
    assert all(len(boxes) <= 1 for boxes in gt.frames)
    assert gt.face_frames == 56
    assert set(gt.unsure) == {*range(76, 82), 83, *range(103, 137)}


def test_carphone_boxes_are_the_generators() -> None:
    """The JSON holds the same boxes as editor.evaluation.faces.CARPHONE_FACE_BOXES."""
    assert [fb for fb in face_gt("carphone").frames] == [(b,) for b in CARPHONE_FACE_BOXES]


def test_f32_has_forty_faces_on_every_frame() -> None:
    gt = face_gt("f32")
    assert len(gt.frames) == 90 and all(len(boxes) == 40 for boxes in gt.frames)


def test_a_bad_box_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gt.json"
    path.write_text(json.dumps([[[10, 10, 5, 20]]]))
    with pytest.raises(ValueError, match="gt.json"):
        load_face_boxes(path)


def _blur_everything(image: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), 12)


def _blur_faces(image: np.ndarray, boxes: tuple[tuple[int, int, int, int], ...], grow: float = 0.25) -> np.ndarray:
    """``image`` with every box grown by ``grow`` × its size per side blurred (σ a fifth of its height)."""
    out = image.copy()
    h, w = image.shape[:2]
    for x0, y0, x1, y1 in boxes:
        gx, gy = round(grow * (x1 - x0)), round(grow * (y1 - y0))
        x0, y0, x1, y1 = max(0, x0 - gx), max(0, y0 - gy), min(w, x1 + gx), min(h, y1 + gy)
        sigma = max(2.0, (y1 - y0) / 5)
        pad = int(3 * sigma) + 1
        px0, py0 = max(0, x0 - pad), max(0, y0 - pad)
        around = cv2.GaussianBlur(image[py0:min(h, y1 + pad), px0:min(w, x1 + pad)], (0, 0), sigma)
        out[y0:y1, x0:x1] = around[y0 - py0:y1 - py0, x0 - px0:x1 - px0]
    return out


@pytest.mark.parametrize("name", sorted(CLIPS))
def test_unedited_is_all_visible_blurred_is_none(name: str, footage: Path) -> None:
    """The measure can fail both ways: the input itself leaves every face-frame visible, the
    input blurred all over none, and blurring the faces on even frames only leaves exactly
    the odd frames' faces visible."""
    gt = face_gt(name)
    frames = [f.image for f in iter_frames(gt_video(name, footage))]
    same = score_detail(frames, frames, gt)
    assert same.face_frames == gt.face_frames > 0
    assert len(same.visible) == gt.face_frames and same.coverage == 0.0
    blurred = score_detail(frames, [_blur_everything(im) for im in frames], gt)
    assert blurred.visible == () and blurred.coverage == 1.0
    half = [_blur_faces(im, boxes) if t % 2 == 0 else im for t, (im, boxes) in enumerate(zip(frames, gt.frames))]
    assert set(score_detail(frames, half, gt).visible_frames) == {t for t, b in enumerate(gt.frames) if b and t % 2}


def test_a_lossy_reencode_keeps_faces_visible_and_a_blurred_encode_does_not(footage: Path, tmp_path: Path) -> None:
    """Through the file path of the helper: carphone re-encoded at CRF 28 keeps its face
    visible on all 120 frames; the same with the face blurred on frames 0–59 leaves 60–119."""
    gt = face_gt("carphone")
    frames = [f.image for f in iter_frames(gt_video("carphone", footage))]
    plain, edited = tmp_path / "plain.mp4", tmp_path / "edited.mp4"
    write_video(plain, frames, 30, audio=False, crf=28)
    write_video(edited, [_blur_faces(im, b) if t < 60 else im for t, (im, b) in enumerate(zip(frames, gt.frames))],
                30, audio=False, crf=28)
    assert len(visible_faces("carphone", plain, footage).visible) == 120
    score = visible_faces("carphone", edited, footage)
    assert score.visible_frames == tuple(range(60, 120)) and score.frames == score.expected == 120


def test_the_criterion_on_one_face(footage: Path) -> None:
    """keeps_detail is the ratio's threshold; an edited frame of another size is scaled back."""
    image = next(iter_frames(gt_video("carphone", footage))).image
    box = CARPHONE_FACE_BOXES[0]
    assert detail_ratio(image, image, box) == pytest.approx(1.0)
    assert keeps_detail(image, cv2.resize(image, (176, 160)), box)
    assert not keeps_detail(image, _blur_faces(image, (box,)), box)
    assert detail_ratio(image, _blur_faces(image, (box,)), box) < 0.01


def test_frame_truths_carry_faces_and_unsure_boxes() -> None:
    """The bridge to the changed-pixel score: labelled faces keep their order, unsure boxes
    follow with ids from UNSURE_ID, each face's pixels are the ellipse inscribed in its box."""
    gt = face_gt("bikes")
    truths = frame_truths(gt)
    assert len(truths) == 250 and truths[10].faces == ()
    (face, unsure) = truths[110].faces
    assert (face.face, unsure.face) == (0, UNSURE_ID)
    assert face.box == tuple(float(v) for v in gt.frames[110][0])
    x0, y0, x1, y1 = gt.frames[110][0]
    assert face.origin == (x0, y0) and face.mask.shape == (y1 - y0, x1 - x0)
    assert 0.7 < face.visible_share <= 1.0 and 0.7 < face.mask.mean() < 0.85  # π/4 of the box


def test_codec_noise_on_a_blurred_dark_face_is_not_detail(footage: Path, tmp_path: Path) -> None:
    """bikes' walking man (a dark, low-contrast face), blurred and encoded by x264 at CRF 25
    (deface's rate): not visible on any of his 15 frames, though x264's noise in the blurred
    area has a tenth to a quarter of his face's plain Laplacian energy; left sharp, visible on
    all 15."""
    gt = face_gt("bikes")
    frames = [f.image for f in iter_frames(gt_video("bikes", footage))][28:47]
    part = FaceBoxes(gt.frames[28:47])
    blurred, sharp = tmp_path / "blurred.mp4", tmp_path / "sharp.mp4"
    write_video(blurred, [_blur_faces(im, b) for im, b in zip(frames, part.frames)], 25, audio=False, crf=25)
    write_video(sharp, frames, 25, audio=False, crf=25)
    assert score_detail(frames, (f.image for f in iter_frames(blurred)), part).visible == ()
    assert len(score_detail(frames, (f.image for f in iter_frames(sharp)), part).visible) == part.face_frames == 15
