"""What a removal hides where the tracker is unsure (#28): the held extent
(:mod:`editor.imaging.held_extent`) against the tracker's masks alone
(``python -m benchmarks.removal_hold tune|held``).

* **tune** — the generated clips (:mod:`editor.evaluation.groundtruth`, default and hard
  sets, the tuning split of #25), tracked from one click on the first frame (as ``benchmarks.trust``'s 1-click protocol) with
  the classic backends; every frame labelled. The held extent's constants are chosen here:
  ``VELOCITY_FRAMES`` and ``MARGIN_PER_FRAME`` (least leak with excess ≤ 2, uncapped; the
  grid with ``MARGIN_PER_SPEED`` picks a margin by speed, left off: its docstring), then
  ``MARGIN_CAP`` at those (the least excess among the caps whose leak is within 0.001 of
  the least; left off: its docstring).
* **held** — bikes.mp4, the cyclist (held out for #25): the masks and ``confidence.json``
  of ``trackedit track samples/bikes.mp4`` with the cyclist's box of ``samples/bikes.json``
  (folder given as ``--masks``), scored on the hand-labelled frames of
  ``tests/data/real_gt/bikes_cyclist``.

Per (frame, object) where the object's confidence is below
:data:`~editor.imaging.held_extent.CONFIDENT` and the truth shows it: the hole is the mask
(tracker's, or held) grown by the ``remove`` preset's ``dilate`` (8 px); **leak** = truth
pixels outside the hole ÷ truth pixels (summed over those frames); **excess** = hole pixels
outside the truth grown by 8 px ÷ truth pixels (what is removed that need not be).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from editor.api.masks import read_label_png
from editor.api.stages import FrameItem
from editor.imaging.compositing import grow
from editor.imaging.held_extent import CONFIDENT, MARGIN_PER_FRAME, MARGIN_PER_SPEED, VELOCITY_FRAMES, HeldExtent
from editor.tracking.confidence import read_confidence

DILATE = 8
"""The ``remove`` preset's ``dilate``."""
VELOCITY = (2, 4)
"""Round 5's grid also had 0 (no motion) and 8: both lost to 2 at every margin. Without a
speed term the rows are round 5's model (velocity 2, margin 0.02 chosen there)."""
MARGINS = (0.0, 0.0025, 0.005, 0.01, 0.02)
SPEEDS = (0.0, 0.25, 0.375, 0.5, 0.625, 0.75, 1.0)
CAPS = (0.05, 0.1, 0.2, 0.3, 0.5, 1.0, float("inf"))
"""``MARGIN_CAP`` grid, at the chosen velocity frames and margins."""


class _Index:
    def __init__(self, index: int) -> None:
        self.index = index


def _items(labels: list[np.ndarray], confidence: dict[int, dict[int, float]]) -> list[FrameItem]:
    return [FrameItem(_Index(f), lab, dict(confidence.get(f, {}))) for f, lab in enumerate(labels)]  # type: ignore[arg-type]


def score(items: list[FrameItem], truth: dict[int, np.ndarray], ids: list[int],
          held: HeldExtent | None) -> tuple[float, float, int, int]:
    """(truth px outside the hole, hole px outside the grown truth, truth px, frames) over
    the weak frames with a truth."""
    if held is not None:
        held.observe(items, ids)
    out = excess = total = frames = 0
    for item in items:
        t = truth.get(item.index)
        if t is None:
            continue
        for oid in ids:
            c = item.confidence.get(oid)
            tm = t == oid
            if c is None or c >= CONFIDENT or not tm.any():
                continue
            m = held.mask(item, oid) if held is not None else item.labels == oid
            hole = grow(m, DILATE)
            out += int((tm & ~hole).sum())
            excess += int((hole & ~grow(tm, DILATE)).sum())
            total += int(tm.sum())
            frames += 1
    return out, excess, total, frames


def _tune_clips() -> list[tuple[str, list[FrameItem], dict[int, np.ndarray], list[int]]]:
    from editor.backends.assembly import BackendChoice, select_backends
    from editor.evaluation.datasets import davis_sequences
    from editor.evaluation.runner import evaluate_sequence_with_clicks
    from editor.pipeline.plugin_manager import PluginManager

    from .quality import dataset
    selection = select_backends(PluginManager(external=False), BackendChoice("classic", "classic"))
    clips = []
    for seq in davis_sequences(dataset(), "val"):
        b = selection.build()
        r = evaluate_sequence_with_clicks(seq, b.segmenter, b.tracker, refine=b.refine_options, keep_predictions=True)
        gt = list(seq.labels())
        ids = sorted(int(v) for v in np.unique(gt[0]) if v not in (0, 255))
        clips.append((seq.name, _items(r.predictions, r.confidence), dict(enumerate(gt)), ids))
    return clips


def _held_clip(masks: Path) -> list[tuple[str, list[FrameItem], dict[int, np.ndarray], list[int]]]:
    doc = json.loads((masks / "confidence.json").read_text())
    n = int(doc["frame_count"])
    conf = read_confidence(masks)
    labels = [read_label_png(masks / f"{f:05d}.png") for f in range(n)]
    truth_dir = Path(__file__).resolve().parent.parent / "tests" / "data" / "real_gt" / "bikes_cyclist"
    oid = int(doc["objects"][0]["id"])
    truth = {int(p.stem): (read_label_png(p) == 1).astype(np.uint8) * oid for p in sorted(truth_dir.glob("*.png"))}
    return [("bikes-cyclist", _items(labels, conf), truth, [oid])]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", choices=("tune", "held"))
    ap.add_argument("--masks", type=Path, help="held: the masks folder of `trackedit track` (cyclist's box)")
    args = ap.parse_args(argv)
    clips = _tune_clips() if args.split == "tune" else _held_clip(args.masks)
    rows = [("tracker's masks", None)] + [(f"held, velocity {v}, margin {m} × size + {a} × speed",
                                           (v, m, a, float("inf")))
                                          for v in VELOCITY for m in MARGINS for a in SPEEDS]
    rows += [(f"held, velocity {VELOCITY_FRAMES}, margin {MARGIN_PER_FRAME} × size + {MARGIN_PER_SPEED} × "
              f"speed, cap {c} × size", (VELOCITY_FRAMES, MARGIN_PER_FRAME, MARGIN_PER_SPEED, c)) for c in CAPS]
    print("| masks | leak (truth px outside the hole) | excess (÷ truth px) | weak frames |")
    print("|---|---|---|---|")
    for name, setting in rows:
        out = excess = total = frames = 0
        for _, items, truth, ids in clips:
            held = None if setting is None else HeldExtent(25, velocity_frames=setting[0], margin=setting[1],
                                                           margin_per_speed=setting[2], margin_cap=setting[3])
            o, e, t, f = score(items, truth, ids, held)
            out, excess, total, frames = out + o, excess + e, total + t, frames + f
        print(f"| {name} | {out / max(total, 1):.3f} | {excess / max(total, 1):.2f} | {frames} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
