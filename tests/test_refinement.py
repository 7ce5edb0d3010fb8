"""Weak-mask refinement (SAM refines XMem's weak masks, accepted masks enter XMem's memory):
the weakness rules, acceptance, the core's review hook (a refined frame is memorised exactly
like a correction; a kept prediction changes nothing), the tracker pass, SAM's refine
prompts, and `trackedit track --refine` end to end on random/synthetic weights."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from editor.api.backends import Segmentation
from editor.api.errors import BackendUnavailable
from editor.api.run import RefineCounts
from editor.tracking.refinement import Refinement, RefineOptions, fragments, resolve_refinement, weakness
from editor.api.frames import Frame
from editor.backends.xmem import InferenceCore, XMemConfig
from editor.backends.xmem.synthetic import synthetic_clip, synthetic_network

OPTS = RefineOptions()


def _disc(h: int = 60, w: int = 80, cx: int = 40, cy: int = 30, r: int = 12) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def test_weakness_rules() -> None:
    m = _disc()
    area = int(m.sum())
    assert weakness(m, area, 0.95, OPTS) is None
    assert weakness(m, area, 0.5, OPTS) == "confidence"
    assert weakness(m, None, None, OPTS) is None  # no probability, no history: nothing to judge
    assert weakness(m, area * 3, 0.95, OPTS) == "area"
    assert weakness(m, int(area * 0.8), 0.95, OPTS) is None
    three = _disc(cx=15, r=8) | _disc(cx=40, r=8) | _disc(cx=65, r=8)
    assert fragments(three, 0.05) == 3 and weakness(three, None, None, OPTS) == "fragments"
    speck = m.copy()
    speck[0, 0] = speck[59, 79] = True  # specks below 5 % of the area do not count
    assert fragments(speck, 0.05) == 1


class _Refiner:
    def __init__(self, answer: np.ndarray | None, score: float) -> None:
        self.answer, self.score, self.calls = answer, score, 0

    def refine(self, image, frame_index, mask, probability=None):  # noqa: ANN001, ANN201
        self.calls += 1
        return None if self.answer is None else Segmentation(self.answer, self.score)


def test_refinement_accepts_only_confident_overlapping_answers() -> None:
    frame = Frame(0, np.zeros((60, 80, 3), np.uint8), 0, 1, 0.0)
    weak = {1: _disc()}
    probs = {1: np.full((60, 80), 0.5, np.float32)}
    better = _disc(r=13)
    for answer, score, accepted in [(better, 0.9, True), (better, 0.5, False), (_disc(cx=10, r=5), 0.95, False),
                                    (None, 1.0, False)]:
        counts = RefineCounts()
        out = Refinement(_Refiner(answer, score), OPTS, counts)(frame, weak, probs)
        assert (1 in out) == accepted and counts.weak == 1
        assert (counts.refined, counts.rejected) == ((1, 0) if accepted else (0, 1))
    refiner = _Refiner(better, 0.9)
    counts = RefineCounts()
    Refinement(refiner, OPTS, counts)(frame, weak, {1: np.full((60, 80), 0.99, np.float32)})
    assert refiner.calls == 0 and counts.weak == 0  # confident masks are not touched


def test_mode_resolution(plugin_manager) -> None:  # noqa: ANN001
    from pydantic import ValidationError

    from editor.api.backends import ReviewableTracker
    from editor.backends.classic import FlowTracker

    class CanReview:
        supports_review = True

        def new_pass(self, video, *, reverse):  # noqa: ANN001, ANN201
            raise NotImplementedError

    assert isinstance(CanReview(), ReviewableTracker) and not isinstance(FlowTracker(), ReviewableTracker)
    refiner = _Refiner(None, 0)
    assert resolve_refinement(RefineOptions(mode="auto"), refiner, CanReview()) is True
    assert resolve_refinement(RefineOptions(mode="auto"), object(), CanReview()) is False
    assert resolve_refinement(RefineOptions(mode="auto"), refiner, FlowTracker()) is False
    assert resolve_refinement(RefineOptions(mode="off"), refiner, CanReview()) is False
    with pytest.raises(BackendUnavailable, match="segmenter cannot refine"):
        resolve_refinement(RefineOptions(mode="on"), object(), CanReview())
    with pytest.raises(BackendUnavailable, match="tracker cannot take refined masks"):
        resolve_refinement(RefineOptions(mode="on"), refiner, FlowTracker())
    with pytest.raises(ValidationError, match="min_confidense"):
        RefineOptions(min_confidense=0.5)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def network():  # noqa: ANN201
    torch.manual_seed(0)
    return synthetic_network()


def _clip(n: int = 9) -> tuple[list[torch.Tensor], np.ndarray]:
    rgb, labels = synthetic_clip(n, 64, 96)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    images = [(torch.from_numpy(f).permute(2, 0, 1).float() / 255 - mean) / std for f in rgb]
    return images, labels


def _onehot(labels: np.ndarray, n: int) -> torch.Tensor:
    return torch.stack([torch.from_numpy(labels == k + 1).float() for k in range(n)])


@pytest.mark.parametrize("deep_update_every", [-1, 3])
def test_core_review_equals_giving_the_mask(network, deep_update_every: int) -> None:  # noqa: ANN001
    images, labels = _clip()
    n = int(labels.max())
    cfg = XMemConfig(mem_every=3, deep_update_every=deep_update_every)
    fix_at, fix = 4, _onehot(labels[4], n)[:1]  # object 1 replaced on frame 4, others keep predictions

    def run(mode: str) -> list[torch.Tensor]:
        core = InferenceCore(network, cfg)
        core.set_all_labels(range(1, n + 1))
        out = [core.step(images[0], _onehot(labels[0], n))]
        for t in range(1, len(images)):
            if t == fix_at and mode == "given":
                full = torch.zeros((n, *fix.shape[1:]))
                full[0] = fix[0]
                out.append(core.step(images[t], full, valid_labels=[1]))
            elif t == fix_at and mode == "review":
                seen = []

                def review(prob: torch.Tensor):  # noqa: ANN202
                    seen.append(prob.shape)
                    full = torch.zeros((n, *fix.shape[1:]))
                    full[0] = fix[0]
                    return full, [1]

                out.append(core.step(images[t], review=review))
                assert seen == [(n + 1, 64, 96)]
            elif mode == "keep":
                out.append(core.step(images[t], review=lambda prob: None))
            else:
                out.append(core.step(images[t]))
        return out

    plain, kept = run("plain"), run("keep")
    assert all(torch.equal(a, b) for a, b in zip(plain, kept, strict=True))  # reviewing alone changes nothing
    given, reviewed = run("given"), run("review")
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(given, reviewed, strict=True))
    assert not torch.allclose(given[-1], plain[-1], atol=1e-4)  # and the correction did matter


def test_tracker_pass_memorises_refined_masks(network) -> None:  # noqa: ANN001
    from editor.api.frames import VideoInfo  # noqa: F401
    from editor.backends.xmem.tracker import XMemTracker
    from test_tracking import _frames, _scene, _video

    frames = list(_frames())[:6]
    gt = [_scene(t)[1] == 1 for t in range(6)]
    from editor.api.backends import ReviewableTracker, ReviewableTrackPass

    tracker = XMemTracker(network, internal_size=None)
    assert isinstance(tracker, ReviewableTracker)

    def run(refine_at: int | None) -> list[dict[int, np.ndarray]]:
        p = tracker.new_pass(_video(), reverse=False)
        assert isinstance(p, ReviewableTrackPass)
        calls = []
        if refine_at is not None:
            class Review:
                def __call__(self, frame, masks, probs):  # noqa: ANN001, ANN204
                    calls.append(frame.index)
                    assert set(masks) == set(probs) and all(m.shape == (120, 160) for m in masks.values())
                    assert all(0 <= p.min() and p.max() <= 1 for p in probs.values())
                    return {1: gt[frame.index]} if frame.index == refine_at else {}

                def forget(self, ids: list[int]) -> None:
                    raise AssertionError("no object ends in this pass")
            p.set_review(Review())
        out = [p.step(frames[0], {1: gt[0]})]
        for t in range(1, 6):
            out.append(p.step(frames[t], {1: gt[t]} if refine_at is None and t == 3 else {}))
        if refine_at is not None:
            assert calls == [1, 2, 3, 4, 5]  # every segmented frame, not the prompted one
        return out

    corrected, refined = run(None), run(3)
    assert np.array_equal(refined[3][1], gt[3])
    for a, b in zip(corrected, refined, strict=True):
        assert np.array_equal(a[1], b[1])


def test_sam_refine_prompts_from_the_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    from editor.backends.sam import SamEngine, SamSegmenter, build_sam
    from test_sam import TINY, _randomise

    engine = SamEngine(_randomise(build_sam(TINY), 0))
    seen = {}
    real = engine.predict

    def spy(emb, points, labels, box, mask_logits=None, **kw):  # noqa: ANN001, ANN003, ANN202
        seen.update(points=points, labels=labels, box=box, logits=mask_logits, kw=kw)
        return real(emb, points, labels, box, mask_logits, **kw)

    monkeypatch.setattr(engine, "predict", spy)
    image = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    mask = _disc(cx=30, cy=25, r=10)
    result = SamSegmenter(engine).refine(image, 7, mask)
    assert result is not None and result.mask.shape == mask.shape
    assert seen["box"].tolist() == [20, 15, 41, 36]
    assert seen["points"].tolist() == [[30, 25]] and seen["labels"].tolist() == [1]
    assert seen["logits"].shape == (64, 64) and seen["kw"]["multimask"] is False
    assert SamSegmenter(engine).refine(image, 7, np.zeros_like(mask)) is None


def test_cli_refine_with_sam_and_xmem(network, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                      monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from clips import write_clip
    from editor.cli.main import main
    from editor.backends.sam import build_sam
    from test_sam import TINY, _randomise
    from test_tracking import _scene

    monkeypatch.setenv("TRACKEDIT_MODELS_DIR", str(tmp_path / "no-models"))
    sam = tmp_path / "sam.pth"
    torch.save(_randomise(build_sam(TINY), 0).state_dict(), sam)
    xmem = tmp_path / "xmem.pth"
    torch.save(network.state_dict(), xmem)
    clip = write_clip(tmp_path / "c.mp4", [_scene(t)[0] for t in range(8)])
    p = tmp_path / "p.json"
    p.write_text('{"objects": [{"id": 1, "prompts": [{"frame": 0, "mask": "m.png"}]}]}')
    from editor.api.masks import write_label_png

    write_label_png(tmp_path / "m.png", (_scene(0)[1] == 1).astype(np.uint8))
    args = ["track", str(clip), "--prompts", str(p), "--sam-checkpoint", str(sam), "--xmem-checkpoint", str(xmem)]
    # every mask counts as weak, every SAM answer is accepted: 7 segmented frames refined
    # (random SAM weights give logits just below 0: cut at -inf so its answers are not empty)
    from segment_anything.modeling import Sam

    monkeypatch.setattr(Sam, "mask_threshold", -1e9)
    always = ["--backend-set", "refine.min_confidence=1.01", "--backend-set", "refine.min_score=0",
              "--backend-set", "refine.min_overlap=0"]
    capsys.readouterr()
    assert main([*args, "-o", str(tmp_path / "m1"), "--refine", "on", *always]) == 0
    err = capsys.readouterr().err
    assert "weak masks 7: 7 refined by the segmenter, 0 kept" in err, err
    assert main([*args, "-o", str(tmp_path / "m2"), "--refine", "off", *always]) == 0
    assert "weak masks" not in capsys.readouterr().err
    from editor.api.masks import read_label_png

    for t in range(1, 8):  # SAM's (full-frame) answers replaced XMem's masks
        assert (read_label_png(tmp_path / "m1" / f"{t:05d}.png") == 1).all()
        assert not (read_label_png(tmp_path / "m2" / f"{t:05d}.png") == 1).all()
    rc = main([*args, "-o", str(tmp_path / "m3"), "--refine", "on", "--segmenter", "classic"])
    err = capsys.readouterr().err
    assert rc != 0 and "segmenter cannot refine masks" in err and "Traceback" not in err
    assert not (tmp_path / "m3").exists()
