"""Masks a person can trust without model weights (classical backends): no growth without
evidence, lost and found, confidence beside the masks.

* f08 (a field case): the object leaves the frame and comes back — blurred in ≥ 95 % of the
  frames where it is visible, nothing blurred while it is away, and lost there.
* Generated clips with exact masks (:mod:`editor.evaluation.groundtruth`): occlusion by a
  foreground object and a look-alike on a busy background. The objects are given by their
  true mask on frame 0, so the tracker is measured, not the click segmenter.
* bikes.mp4: no frame's mask exceeds twice the object's extent (generous boxes, checked by
  looking at the frames), nothing on the car that hides the cyclist.
* Confidence: ``confidence.json`` beside the masks, the CLI's review summary, the session API;
  a lost object has nothing edited.
"""
from __future__ import annotations

import dataclasses

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.api.frames import Frame, VideoInfo
from editor.api.masks import read_label_png, write_label_png
from editor.api.prompts import parse_prompts
from editor.api.run import TrackingStats
from editor.backends.classic import FlowTracker
from editor.cli.main import main
from editor.evaluation.groundtruth import ClipSpec, render
from editor.tracking.confidence import frame_ranges, review_lines
from editor.tracking.engine import TrackingSession
from editor.video.reader import iter_frames

pytestmark = pytest.mark.slow
CASES = Path(__file__).resolve().parent / "data" / "cases"


class _MaskOnly:
    """A segmenter for mask prompts only: the tracker is measured, not the clicks."""

    def segment(self, image, frame_index, prompts, masks=None):  # noqa: ANN001, ANN201
        from editor.api.backends import Segmentation

        assert masks, "these tests prompt with masks"
        return Segmentation(np.logical_or.reduce(masks), 1.0)


def _red(image: np.ndarray) -> np.ndarray:
    """The f08 object: a red / dark-red checker on a grey background."""
    im = image.astype(np.int16)
    return (im[..., 0] > im[..., 1] + 40) & (im[..., 0] > im[..., 2] + 40)


def _laplacian_energy(image: np.ndarray, region: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    return float((lap[region] ** 2).mean())


@pytest.fixture(scope="module")
def f08_masks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import logging

    out = tmp_path_factory.mktemp("f08") / "masks"
    # the CLI sets up the `editor` loggers for a terminal; a module fixture runs outside the
    # per-test restore of conftest.py, so restore them here
    saved = {n: (lg.handlers[:], lg.level, lg.propagate)
             for n in ("editor", "trackedit_plugins") for lg in [logging.getLogger(n)]}
    try:
        assert main(["-q", "track", str(CASES / "f08_reenter.mp4"), "--prompts",
                     str(CASES / "f08_prompts.json"), "-o", str(out)]) == 0
    finally:
        for n, (handlers, level, propagate) in saved.items():
            lg = logging.getLogger(n)
            lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
    return out


def test_f08_reenter_blurred_where_visible_and_nothing_while_away(f08_masks: Path, tmp_path: Path) -> None:
    out = tmp_path / "blurred.mp4"
    assert main(["-q", "run", str(CASES / "f08_reenter.mp4"), "--preset", "blur", "--masks", str(f08_masks),
                 "-o", str(out), "--crf", "12"]) == 0
    visible, blurred, away_masked = [], [], []
    for src, dst in zip(iter_frames(CASES / "f08_reenter.mp4"), iter_frames(out), strict=True):
        obj = _red(src.image)
        mask = read_label_png(f08_masks / f"{src.index:05d}.png") == 1
        if obj.sum() < 200:  # away (or a sliver of a few pixels: nothing to judge)
            if not obj.any() and mask.any():
                away_masked.append(src.index)
            continue
        visible.append(src.index)
        inner = cv2.erode(obj.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if _laplacian_energy(dst.image, inner) <= 0.1 * _laplacian_energy(src.image, inner):
            blurred.append(src.index)
    assert len(visible) > 100
    assert len(blurred) >= 0.95 * len(visible), sorted(set(visible) - set(blurred))
    assert away_masked == []  # nothing blurred while it is away


def test_f08_lost_while_away_and_confidence_beside_the_masks(f08_masks: Path) -> None:
    doc = json.loads((f08_masks / "confidence.json").read_text())
    assert doc["frame_count"] == 180 and doc["review_below"] == 0.5
    [obj] = doc["objects"]
    assert obj["id"] == 1 and obj["name"] == "box" and len(obj["confidence"]) == 180
    assert all(c is not None and 0.0 <= c <= 1.0 for c in obj["confidence"])
    assert obj["review"] == [f for f, c in enumerate(obj["confidence"]) if c < 0.5]
    assert obj["state"][0] == "prompt"
    away = [f.index for f in iter_frames(CASES / "f08_reenter.mp4") if not _red(f.image).any()]
    assert len(away) > 30
    for f in away:  # lost: decided by appearance, and nothing is edited
        assert obj["state"][f] == "lost", (f, obj["state"][f])
        assert not (read_label_png(f08_masks / f"{f:05d}.png") == 1).any()
    back = [s for s in obj["state"][away[-1] + 1:] if s is not None]
    assert {"found", "tracked"} & set(back)  # re-acquired after it came back


# -- generated clips: occlusion, a look-alike --------------------------------------------------
def _track_clip(spec: ClipSpec, footage: Path, tmp_path: Path) -> tuple[list[np.ndarray], list[np.ndarray],
                                                                         TrackingSession]:
    frames, labels = render(spec, footage)
    write_label_png(tmp_path / "first.png", labels[0])
    ids = sorted(int(v) for v in np.unique(labels[0]) if v)
    prompts = parse_prompts({"objects": [{"id": i, "prompts": [{"frame": 0, "mask": str(tmp_path / "first.png")}]}
                                         for i in ids]})
    n = len(frames)
    info = VideoInfo(spec.name, spec.width, spec.height, 0, n, n, Fraction(25), Fraction(1, 25), n / 25, "raw",
                     "rgb24")
    session = TrackingSession(info, _MaskOnly(), FlowTracker(), work_dir=tmp_path / "work")
    session.add_prompts(prompts)
    pred = [it.labels for it in session.stream(Frame(t, im, t, Fraction(1, 25), t / 25)
                                                for t, im in enumerate(frames))]
    return pred, labels, session


def _robustness(pred: list[np.ndarray], gt: list[np.ndarray], oid: int) -> tuple[float, int, float, float]:
    """Share of visible frames edited, frames edited while away, max area ÷ true area where
    visible, mean IoU."""
    true = np.array([(g == oid).sum() for g in gt], float)
    mask = np.array([(p == oid).sum() for p in pred], float)
    hit = np.array([((p == oid) & (g == oid)).sum() for p, g in zip(pred, gt)], float)
    visible = true >= 0.05 * true.max()
    edited = visible & (hit >= 0.5 * np.maximum(true, 1))
    away = int(((true == 0) & (mask > 0)).sum())
    ratio = float((mask[visible] / true[visible]).max())
    iou = float(np.mean(hit / np.maximum(mask + true - hit, 1)))
    return float(edited.sum() / visible.sum()), away, ratio, iou


def test_occlusion_by_a_foreground_object(footage: Path, tmp_path: Path) -> None:
    pred, gt, session = _track_clip(ClipSpec("occlusion", 6, "static", frames=56, scenario="occlusion"), footage,
                                    tmp_path)
    hidden = [t for t, g in enumerate(gt) if not (g == 1).any()]
    assert len(hidden) >= 3  # the clip hides object 1 completely for a while
    edited, away, ratio, iou = _robustness(pred, gt, 1)
    assert edited >= 0.9 and ratio <= 2.0 and iou >= 0.6, (edited, ratio, iou)
    assert away <= 1, away  # behind the occluder: nothing edited (the mask does not ride on it)
    assert all(session.states(t).get(1) == "lost" for t in hidden[1:])
    for oid in (1, 2):  # never more than twice the object, in any frame
        assert _robustness(pred, gt, oid)[2] <= 2.0


def test_lookalike_on_a_busy_background(footage: Path, tmp_path: Path) -> None:
    pred, gt, _ = _track_clip(ClipSpec("distractor", 9, "pan", frames=56, scenario="distractor"), footage,
                              tmp_path)
    edited, away, ratio, iou = _robustness(pred, gt, 1)
    assert edited >= 0.95 and ratio <= 2.0 and iou >= 0.7, (edited, ratio, iou)
    for t, (p, g) in enumerate(zip(pred, gt)):  # never on the look-alike: what is masked is the object
        m = p == 1
        assert (m & (g == 1)).sum() >= 0.5 * m.sum(), t


# -- bikes: no runaway masks -------------------------------------------------------------------
# generous boxes (x0, y0, x1, y1) around each object in shot 2 (frames 76..136) of bikes.mp4
# (640x272), looked at frame by frame: the van's rear fills the left; the cyclist with his bike
# stands right of the pole; a white car passes in front of him from frame ~84 to ~101
VAN = (0, 40, 330, 272)
CYCLIST = (330, 20, 560, 272)
CYCLIST_HIDDEN = range(88, 99)


def test_bikes_masks_never_run_away(footage: Path, samples_dir: Path, tmp_path: Path) -> None:
    assert main(["-q", "track", str(footage / "bikes.mp4"), "--prompts", str(samples_dir / "bikes.json"),
                 "-o", str(tmp_path / "m")]) == 0
    frame_px = 640 * 272
    for t in range(250):
        labels = read_label_png(tmp_path / "m" / f"{t:05d}.png")
        for oid, (x0, y0, x1, y1) in ((1, VAN), (2, CYCLIST)):
            mask = labels == oid
            if not 76 <= t <= 136:
                assert not mask.any(), (t, oid)  # other shots: the tracks end at the cuts
                continue
            box_area = (x1 - x0) * (y1 - y0)
            if oid == 2 and t in CYCLIST_HIDDEN:
                assert mask.sum() <= 0.02 * frame_px, (t, mask.mean())  # behind the car: no mask on it
                continue
            assert mask.sum() <= 2 * box_area, (t, oid, mask.sum())
            outside = mask.sum() - mask[y0:y1, x0:x1].sum()
            assert outside <= 0.25 * box_area, (t, oid, outside)


# -- confidence: API, summary, lost → nothing edited ------------------------------------------
def test_review_summary_lines() -> None:
    assert frame_ranges([97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108]) == "97–108"
    assert frame_ranges([3, 5, 4, 9]) == "3–5, 9"
    stats = TrackingStats(confidence={f: {1: 0.2 if 97 <= f <= 108 else 0.9, 2: 0.9} for f in range(132)})
    assert review_lines(stats, {1: "bunny", 2: "car"}) == ['12 frames to review for "bunny": 97–108']
    assert stats.weak_frames() == {1: list(range(97, 109))}
    assert review_lines(stats, {}, below=0.1) == []
    # a clicked object tracked in one shot of three: the others named (a newcomer's clip, the
    # face bare after the cuts with nothing said); a detected object (not prompted) is not
    shots = TrackingStats(frames=150, cuts=[30, 76, 137], confidence={f: {1: 0.9, 2: 0.9} for f in range(30, 76)})
    assert review_lines(shots, {1: "man", 2: "face-1"}, prompted=[1]) == [
        '"man" is not edited in shots 0–29, 76–136, 137–149: tracking ends at shot cuts; prompt it in those '
        'shots to edit it there (or --no-cuts)']
    assert review_lines(dataclasses.replace(shots, cuts=[]), {1: "man"}, prompted=[1]) == []


def test_cli_prints_the_frames_to_review(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clips import write_clip

    images = []
    for t in range(24):  # a disc that vanishes (frames 8..15) and comes back elsewhere
        img = np.full((96, 128, 3), 90, np.uint8)
        img[::8] = 110
        if not 8 <= t < 16:
            cx = 30 + t if t < 8 else 90
            cv2.circle(img, (cx, 48), 12, (220, 40, 40), -1)
            cv2.circle(img, (cx, 48), 5, (250, 230, 60), -1)
        images.append(img)
    clip = write_clip(tmp_path / "vanish.mp4", images, pix_fmt="yuv444p", options={"crf": "0"})
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps({"objects": [{"id": 1, "name": "disc",
                                                "prompts": [{"frame": 0, "box": [14, 32, 46, 64]}]}]}))
    capsys.readouterr()
    assert main(["track", str(clip), "--prompts", str(prompts), "-o", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    doc = json.loads((tmp_path / "m" / "confidence.json").read_text())
    [obj] = doc["objects"]
    for t in range(8, 16):  # lost → nothing edited
        assert obj["state"][t] == "lost" and not (read_label_png(tmp_path / "m" / f"{t:05d}.png") == 1).any()
    assert obj["state"][16] == "found" and obj["state"][23] == "tracked"  # back, elsewhere: re-acquired
    # it vanished inside the frame (not seen leaving): every frame it is lost on is listed, and
    # so are its re-acquisition elsewhere and the frame after (#25: a tracker that lost it
    # cannot be sure); nothing later
    assert obj["review"] == list(range(8, 18)), obj["review"]
    lines = [line for line in err.splitlines() if "to review" in line]
    n = len(obj["review"])
    assert lines == [f'trackedit: {n} frame{"s" if n > 1 else ""} to review for "disc": '
                     f'{frame_ranges(obj["review"])}'], err
    # the export-masks stage's davis format carries the same confidence
    out = tmp_path / "export"
    assert main(["-q", "run", str(clip), "--prompts", str(prompts), "--preset", "export-masks", "-o",
                 str(tmp_path / "pass.mp4"), "--set", f'export-masks.folder="{out}"',
                 "--set", 'export-masks.formats=["davis"]']) == 0
    exported = json.loads((out / "davis" / "confidence.json").read_text())
    assert exported["objects"][0]["confidence"] == obj["confidence"]


def test_session_confidence_api(tmp_path: Path) -> None:
    from clips import write_clip
    from editor.backends.classic import GrabCutSegmenter
    from test_tracking import T, _scene

    clip = write_clip(tmp_path / "scene.mp4", [_scene(t)[0] for t in range(T)], pix_fmt="yuv444p",
                      options={"crf": "0"})
    with TrackingSession(clip, GrabCutSegmenter(), FlowTracker()) as s:
        s.add_prompt(10, 1, points=[(50, 48)], name="disc")
        assert s.confidence(12) == {}
        for f, ids, _ in s.propagate(10, max_frames=8):
            conf = s.confidence(f)
            assert set(conf) == {1} and 0.0 <= conf[1] <= 1.0
        assert s.confidence(10) == {1: 1.0} and s.states(10) == {1: "prompt"}
        assert s.states(15)[1] in ("tracked", "held", "found")
        assert s.stats.confidence[15] == s.confidence(15)
        doc = json.loads((s.export_masks(tmp_path / "masks") / "confidence.json").read_text())
        assert doc["objects"][0]["confidence"][10] == 1.0 and doc["objects"][0]["confidence"][5] is None


def test_ui_confidence_endpoint(tmp_path: Path, plugin_manager) -> None:  # noqa: ANN001
    """The strip under the timeline reads ``/confidence``: per object and frame, and the weak
    frames; empty before tracking."""
    import time

    from starlette.testclient import TestClient

    from clips import write_clip
    from editor.ui.server import UiConfig, create_app
    from test_tracking import T, _scene

    clip = write_clip(tmp_path / "scene.mp4", [_scene(t)[0] for t in range(T)], pix_fmt="yuv444p",
                      options={"crf": "0"})
    origin = "http://127.0.0.1:8765"
    app = create_app(UiConfig(clip, work_root=tmp_path / "ui", token="t"), plugin_manager)
    with TestClient(app, base_url=origin, headers={"Origin": origin}) as c:
        assert c.get("/?token=t").status_code == 200
        sid = c.post("/api/sessions", json={}).json()["id"]
        empty = c.get(f"/api/sessions/{sid}/confidence").json()
        assert empty["frame_count"] == T and empty["objects"] == [] and empty["weak"] == []
        c.post(f"/api/sessions/{sid}/objects", json={"name": "disc"})
        assert c.post(f"/api/sessions/{sid}/prompts", json={"frame": 10, "object": 1, "points": [[50, 48]]}
                      ).status_code == 200
        assert c.post(f"/api/sessions/{sid}/track", json={"direction": "forward", "start": 10}).status_code == 200
        for _ in range(600):
            if c.get(f"/api/sessions/{sid}/job").json()["state"] != "running":
                break
            time.sleep(0.05)
        doc = c.get(f"/api/sessions/{sid}/confidence").json()
        [obj] = doc["objects"]
        assert obj["name"] == "disc" and obj["confidence"][:10] == [None] * 10 and obj["confidence"][10] == 1.0
        assert all(0 <= v <= 1 for v in obj["confidence"][10:]) and obj["state"][10] == "prompt"
        assert doc["weak"] == obj["review"] == [f for f, v in enumerate(obj["confidence"]) if v is not None
                                                and v < doc["review_below"]]


# -- coming back: followed back to the first frames it shows ---------------------------------
def _returning(gt: list[np.ndarray], oid: int, frames: int = 8) -> list[int]:
    """The first ``frames`` frames after each absence where the object is visible (≥ 5 % of
    its largest area): it is coming in, or out from behind something."""
    true = np.array([(g == oid).sum() for g in gt], float)
    visible = true >= 0.05 * true.max()
    out: list[int] = []
    for t in range(1, len(gt)):
        if visible[t] and not visible[t - 1] and (~visible[:t]).sum() and visible[:t].any():
            out += [u for u in range(t, min(len(gt), t + frames)) if visible[u]]
    return out


def _edited(pred: list[np.ndarray], gt: list[np.ndarray], oid: int, t: int) -> bool:
    g = gt[t] == oid
    return bool(((pred[t] == oid) & g).sum() >= 0.5 * g.sum())


@pytest.mark.parametrize("seed,motion,scenario", [(11, "static", "exit"), (12, "pan", "exit"),
                                                  (16, "static", "occlusion")])
def test_an_object_coming_back_is_masked_from_its_first_frames(footage: Path, tmp_path: Path, seed: int,
                                                               motion: str, scenario: str) -> None:
    """An object re-entering the frame or coming out from behind an occluder shows too little
    of itself on its first frames to be re-acquired there; once it is, the engine tracks it
    back over them (the headless run holds its output back for that). Clips of seeds not in
    the benchmark."""
    spec = ClipSpec(f"back-{seed}", seed, motion, frames=64 if scenario == "exit" else 56, scenario=scenario)
    pred, gt, session = _track_clip(spec, footage, tmp_path)
    assert len(pred) == len(gt)  # every frame, once (the held-back ones too)
    returning = _returning(gt, 1)
    assert len(returning) >= 6, returning
    missed = [t for t in returning if not _edited(pred, gt, 1, t)]
    assert missed == [], (missed, [session.states(t).get(1) for t in missed])
    for t in returning:  # what was added is the object: inside it, never twice its area
        m, g = pred[t] == 1, gt[t] == 1
        assert (m & g).sum() >= 0.7 * m.sum() and m.sum() <= 2 * g.sum(), (t, m.sum(), g.sum())
        assert session.states(t)[1] in ("tracked", "found", "held") and 0 <= session.confidence(t)[1] <= 1
    edited, away, _, _ = _robustness(pred, gt, 1)
    assert away == 0 and edited >= 0.95, (away, edited)


def test_an_object_coming_back_is_masked_from_its_first_frames_interactively(footage: Path,
                                                                              tmp_path: Path) -> None:
    """The same in the web UI's driver (:meth:`TrackingSession.propagate`): the frames before
    the re-acquisition are given the mask afterwards (their label maps and confidences)."""
    from editor.evaluation.faces import write_video

    spec = ClipSpec("back-ui", 12, "pan", frames=64, scenario="exit")
    frames, gt = render(spec, footage)
    video = tmp_path / "clip.mp4"
    write_video(video, frames, 25, audio=False, crf=10)
    write_label_png(tmp_path / "first.png", np.where(gt[0] == 1, 1, 0).astype(np.uint8))
    with TrackingSession(video, _MaskOnly(), FlowTracker(), work_dir=tmp_path / "work") as session:
        session.add_prompt(0, 1, mask_path=tmp_path / "first.png")
        assert [f for f, _, _ in session.propagate()] == list(range(len(frames)))
        pred = [session.label_map(t) for t in range(len(frames))]
        returning = _returning(gt, 1)
        assert len(returning) >= 6
        missed = [t for t in returning if not _edited(pred, gt, 1, t)]
        assert missed == [], missed
        assert all(session.states(t)[1] != "lost" for t in returning)
        away = [t for t, g in enumerate(gt) if not (g == 1).any()]
        assert away and not any((pred[t] == 1).any() for t in away)


def test_a_reacquired_object_is_followed_whole(footage: Path, tmp_path: Path) -> None:
    """One click on each object of an occlusion clip (seed 21, not in the benchmark):
    object 2 comes out from behind the occluder, where a shrunken view of its texture
    correlates well on a part of it. The re-acquisition takes the larger view that matches
    nearly as well, so the tracker follows the whole object (it used to follow a third of
    it, covering less than half on 15 of its 45 visible frames)."""
    from editor.backends.classic import RegionSegmenter
    from editor.evaluation.datasets import davis_sequences
    from editor.evaluation.groundtruth import write_dataset
    from editor.evaluation.runner import evaluate_sequence_with_clicks

    root = write_dataset(tmp_path / "set", footage, (ClipSpec("occ-21", 21, "static", frames=56,
                                                                scenario="occlusion"),))
    (seq,) = davis_sequences(root, "val")
    result = evaluate_sequence_with_clicks(seq, RegionSegmenter(), FlowTracker(), clicks=1, keep_predictions=True)
    assert result.predictions is not None
    gt = list(seq.labels())
    hidden = [t for t, g in enumerate(gt) if not (g == 2).any()]
    assert hidden, "object 2 is hidden for a while"
    after = [t for t in range(hidden[-1] + 1, len(gt)) if (gt[t] == 2).sum() >= 0.05 * max((g == 2).sum() for g in gt)]
    missed = [t for t in after if not _edited(result.predictions, gt, 2, t)]
    assert len(after) >= 10 and missed == [], missed
    edited, away, ratio, _ = _robustness(result.predictions, gt, 2)
    assert away == 0 and edited >= 0.95, (edited, away)


def test_looking_back_never_grows_onto_the_border(footage: Path, tmp_path: Path) -> None:
    """One click on an exit clip (seed 23, panning, not in the benchmark): the object is
    re-acquired when most of it is back, and tracked back from there. Going back it shows
    less of itself on every frame; the evidence's held masks (its predicted region) there
    were up to 6 × its visible area and one lay on the frame before it entered. Now the
    look-back stops where a mask would grow."""
    from editor.backends.classic import RegionSegmenter
    from editor.evaluation.datasets import davis_sequences
    from editor.evaluation.groundtruth import write_dataset
    from editor.evaluation.runner import evaluate_sequence_with_clicks

    root = write_dataset(tmp_path / "set", footage, (ClipSpec("exit-23", 23, "pan", frames=64, scenario="exit"),))
    (seq,) = davis_sequences(root, "val")
    result = evaluate_sequence_with_clicks(seq, RegionSegmenter(), FlowTracker(), clicks=1, keep_predictions=True)
    assert result.predictions is not None
    gt = list(seq.labels())
    edited, away, ratio, _ = _robustness(result.predictions, gt, 1)
    assert away == 0 and ratio <= 2.0 and edited >= 0.9, (away, ratio, edited)
    assert _returning(gt, 1), "object 1 leaves and comes back"


def test_a_mask_leaves_the_frame_with_its_object(footage: Path, tmp_path: Path) -> None:
    """An object leaving at the border (seed 33, panning, not in the benchmark): the
    tracker's mask kept its trailing edge on the background while the object went out, and
    that edge dragged the predicted motion back with it, so the evidence expected the object
    to be still in view (3.2 × its visible area on its last frames). A trailing edge that lags
    behind the motion no longer slows the object down."""
    pred, gt, _ = _track_clip(ClipSpec("exit-33", 33, "pan", frames=64, scenario="exit"), footage, tmp_path)
    edited, away, ratio, _ = _robustness(pred, gt, 1)
    assert ratio <= 2.0 and away == 0 and edited >= 0.95, (ratio, away, edited)


def test_a_click_that_gives_a_tiny_mask_is_listed(samples_dir: Path) -> None:
    """A new user's click on the rear window of the van in bikes.mp4 (frame 110) gave 152 px of
    reflection — the van is about 65 000 — tracked and blurred with full confidence and
    nothing said. Now one line names the click's frame, the object and the mask's size; a
    click that gives the cyclist's body says nothing of the kind."""
    from editor.backends.classic import FlowTracker, RegionSegmenter
    from editor.tracking.engine import TrackingSession

    with TrackingSession(samples_dir / "bikes.mp4", RegionSegmenter(), FlowTracker()) as session:
        van = session.add_prompt(110, 1, points=[(120, 150)], name="van")
        cyclist = session.add_prompt(110, 2, points=[(420, 100)], name="cyclist")
        lines = review_lines(session.stats, {1: "van", 2: "cyclist"})
    assert 0 < van.sum() < 0.001 * van.size  # the segmenter's choice here: the reflection alone
    assert cyclist.sum() > 5000
    assert lines == [f'the clicks on frame 110 gave "van" a mask of {int(van.sum())} px: a click on part of an '
                     'object (a window, a reflection) may give that part alone, and only that is edited; check it '
                     '(trackedit track … or the web UI), or add clicks or a box']
