"""The review list is honest (#25): where the mask is wrong, the frame is listed; an object
lost without being seen leaving is listed (a tracker that lost it cannot be sure it is gone);
one that left over the border is not. Classical backends, real pixels."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from editor.api.prompts import load_prompts, ObjectPrompts, Prompt, PromptSet
from editor.backends.classic import RegionSegmenter
from editor.backends.classic.tracker import FlowTracker
from editor.evaluation.faces import FaceClipSpec, load_truth, write_face_clip
from editor.tracking.cues.tuning import EXIT_UNSURE_FRAMES, PASS_AGREEMENT
from editor.tracking.engine import TrackingSession
from editor.video.reader import iter_frames

CASES = Path(__file__).parent / "data" / "cases"


@pytest.fixture(scope="module")
def blurred(tmp_path_factory: pytest.TempPathFactory, footage: Path):  # noqa: ANN201
    # a real face (carphone) swinging fast over real road footage with the matching motion
    # blur (up to ~50 px per frame); seed 33: not the clip the blur constants were tuned on (14)
    spec = FaceClipSpec("review-blurred", "blurred", 33, "road", frames=60)
    return write_face_clip(spec, tmp_path_factory.mktemp("blurred"), footage)


def test_blurred_clip_every_missed_frame_is_listed(blurred, tmp_path: Path) -> None:  # noqa: ANN001
    truth = load_truth(blurred.truth)
    x0, y0, x1, y1 = truth[0].faces[0].box
    s = TrackingSession(blurred.video, RegionSegmenter(), FlowTracker(), work_dir=tmp_path)
    s.add_prompts(PromptSet((ObjectPrompts(1, "face", (Prompt(0, (((x0 + x1) / 2, (y0 + y1) / 2),), (1,)),)),)))
    items = list(s.stream(iter_frames(blurred.video)))
    weak = set(s.weak_frames().get(1, []))
    missed, good = [], []
    for i, item in enumerate(items):
        face = truth[i].faces[0].frame_mask(*item.labels.shape) if truth[i].faces else None
        if face is None or not face.any():
            continue
        covered = ((item.labels == 1) & face).sum() / face.sum()
        (missed if covered < 0.5 else good).append(i)
    assert len(missed) >= 5  # the classical tracker does lose the smeared face: something to list
    assert set(missed) <= weak, sorted(set(missed) - weak)
    assert len(weak & set(good)) < len(good)  # not simply every frame


def test_an_object_seen_leaving_is_not_listed_while_away(tmp_path: Path) -> None:
    """f08: the object leaves over the right border (about frames 64–114) and comes back;
    while it is away, nothing is listed (it was seen leaving) but its first frames: the exit
    is the motion's prediction (``EXIT_UNSURE_FRAMES``)."""
    video = CASES / "f08_reenter.mp4"
    s = TrackingSession(video, RegionSegmenter(), FlowTracker(), work_dir=tmp_path)
    s.add_prompts(load_prompts(CASES / "f08_prompts.json"))
    items = list(s.stream(iter_frames(video)))
    away = [i for i, it in enumerate(items) if not (it.labels == 1).any()]
    assert len(away) >= 30
    states = {i: s.stats.states.get(i, {}).get(1) for i in away}
    assert set(states.values()) == {"lost"}
    weak = set(s.weak_frames().get(1, []))
    assert not weak & set(away[2:-2]), sorted(weak & set(away))
    assert set(away[:EXIT_UNSURE_FRAMES]) <= weak, (away[:EXIT_UNSURE_FRAMES], sorted(weak))


def test_an_object_lost_inside_the_frame_is_listed(tmp_path: Path) -> None:
    """The same object, but the clip is cut so that it vanishes mid-frame (frames 30–39 are
    replaced by the frame before it appeared: it is gone without leaving): every frame it is
    lost on is listed, however sure the search is that nothing like it is there."""
    import av

    frames = [f.image for f in iter_frames(CASES / "f08_reenter.mp4")][:40]
    background = frames[0].copy()
    first = json.loads((CASES / "f08_prompts.json").read_text())
    x, y = first["objects"][0]["prompts"][0]["points"][0]
    # a clean background: the object's box (80×80 around its first click) filled from a frame
    # where it has moved away
    ys, xs = slice(int(y) - 45, int(y) + 45), slice(int(x) - 45, int(x) + 45)
    background[ys, xs] = frames[39][ys, xs]
    clip = tmp_path / "vanish.mp4"
    with av.open(str(clip), "w") as c:
        st = c.add_stream("libx264", rate=30)
        st.width, st.height, st.pix_fmt = 640, 360, "yuv420p"
        st.codec_context.options = {"crf": "12"}
        for i in range(40):
            img = frames[i] if i < 30 else frames[29].copy()
            if i >= 30:
                img[:] = background
            for p in st.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")):
                c.mux(p)
        for p in st.encode(None):
            c.mux(p)
    s = TrackingSession(clip, RegionSegmenter(), FlowTracker(), work_dir=tmp_path / "w")
    s.add_prompts(load_prompts(CASES / "f08_prompts.json"))
    items = list(s.stream(iter_frames(clip)))
    lost = [i for i in range(30, 40) if s.stats.states.get(i, {}).get(1) in ("lost", "held")]
    assert len(lost) >= 5
    assert set(lost) <= set(s.weak_frames().get(1, []))
    assert len(items) == 40


def _two_prompts(tmp_path: Path, footage: Path, second: tuple[float, float]) -> tuple[TrackingSession, list[int]]:
    """bikes.mp4's van clicked on frame 80 (its deepest point in the hand-labelled tuning
    mask) and again on frame 95 at ``second``, tracked both ways over frames 0–100 (each
    frame between takes the nearer prompt's pass, both being sure); the frames 81–94 both passes reach."""
    video = footage / "bikes.mp4"
    s = TrackingSession(video, RegionSegmenter(), FlowTracker(), work_dir=tmp_path)
    s.add_prompts(PromptSet((ObjectPrompts(1, "van", (Prompt(80, ((108, 177),), (1,)),
                                                      Prompt(95, (second,), (1,)))),)))
    items = list(s.stream((f for f in iter_frames(video) if f.index <= 100), bidirectional=True))
    assert len(items) == 101
    return s, list(range(81, 95))


def test_frames_where_the_two_passes_disagree_are_listed(tmp_path: Path, footage: Path) -> None:
    """The correction on frame 95 clicks the tree trunk instead of the van: the forward pass
    follows the van, the backward one the trunk, each sure of itself; every frame between is
    listed. With the click on the van (its deepest point on 95), the passes agree and none
    of those frames is listed."""
    wrong, between = _two_prompts(tmp_path / "wrong", footage, (322, 150))
    assert max(wrong.pass_agreement[f][1] for f in between) < PASS_AGREEMENT, wrong.pass_agreement
    assert set(between) <= set(wrong.weak_frames().get(1, []))
    right, between = _two_prompts(tmp_path / "right", footage, (91, 179))
    agree = [right.pass_agreement[f][1] for f in between]
    assert min(agree) > 0.7, agree  # well above PASS_AGREEMENT
    assert not set(between) & set(right.weak_frames().get(1, []))
