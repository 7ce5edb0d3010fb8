"""Mask quality of the selected backends on the generated ground-truth clips
(``python -m benchmarks.quality``).

Two sets (:mod:`editor.evaluation.groundtruth`): the original clips (``DEFAULT_SET``, kept
as they are so that old numbers stay comparable) and the hard cases (``HARD_SET``: an
object leaving the frame and coming back, occlusion by a foreground object, a look-alike
on a busy background). Protocols (:mod:`editor.evaluation.runner`): 1 click, 3 clicks, and
3 clicks then 2 correction rounds (one click on the worst frame each), one-pass tracking.

Robustness, per object of every clip, from the 1-click run:

* **visible edited** — share of the frames where the object is visible (true area at least
  5 % of its largest) in which its mask covers at least half of its visible pixels;
* **edited while away** — frames where the object is not in view at all but has a mask;
* **max area ÷ true** — the largest mask area ÷ true area over the frames where it is
  visible (runaway masks);
* **weak frames** — frames the tracker flags for review (confidence below 0.5), and how
  many of them really are bad (J < 0.5): the review list should point at the errors.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from editor.backends.assembly import BackendChoice, select_backends
from editor.evaluation.datasets import davis_sequences
from editor.evaluation.groundtruth import DEFAULT_SET, HARD_SET, ClipSpec, write_dataset
from editor.evaluation.runner import DatasetResult, SequenceResult, evaluate_sequence_with_clicks
from editor.pipeline.plugin_manager import PluginManager

from .inputs import footage

ROOT = Path(__file__).resolve().parent / "results" / "gtset"
PROTOCOLS = (("1 click", 1, 0), ("3 clicks", 3, 0), ("3 clicks + 2 rounds", 3, 2))
SETS = (("default", DEFAULT_SET), ("hard", HARD_SET))


def dataset(specs: tuple[ClipSpec, ...] = DEFAULT_SET + HARD_SET, root: Path = ROOT) -> Path:
    """The generated clips under ``root`` (written once; missing clips are added)."""
    listing = root / "ImageSets" / "2017" / "val.txt"
    have = set(listing.read_text().split()) if listing.exists() else set()
    if not {s.name for s in specs} <= have:
        write_dataset(root, footage().parent, specs)
    return root


def robustness(result: SequenceResult, gt: list[np.ndarray]) -> list[dict[str, object]]:
    """Per object: visible frames edited, frames edited while away, max area ÷ true area,
    weak frames and how many of them are bad (see the module docstring)."""
    pred = result.predictions
    assert pred is not None
    rows = []
    for score in result.objects:
        oid = score.object_id
        true = np.array([(g == oid).sum() for g in gt], float)
        mask = np.array([(p == oid).sum() for p in pred], float)
        hit = np.array([((p == oid) & (g == oid)).sum() for p, g in zip(pred, gt)], float)
        visible = true >= 0.05 * true.max()
        edited = visible & (hit >= 0.5 * np.maximum(true, 1))
        away = (true == 0) & (mask > 0)
        ratio = float((mask[visible] / true[visible]).max()) if visible.any() else 0.0
        conf = result.confidence or {}
        weak = [f for f in range(len(gt)) if conf.get(f, {}).get(oid, 1.0) < 0.5]
        j = dict(zip(range(1, len(gt) - 1), score.j_per_frame))
        bad = [f for f in weak if j.get(f, 1.0) < 0.5]
        rows.append({"clip": result.name, "object": oid, "jf": round(score.jf, 4),
                     "visible": int(visible.sum()), "visible_edited": int(edited.sum()),
                     "edited_share": round(float(edited.sum() / max(1, visible.sum())), 4),
                     "away_edited": int(away.sum()), "max_area_ratio": round(ratio, 3),
                     "weak": len(weak), "weak_bad": len(bad)})
    return rows


def evaluate(segmenter: str = "auto", tracker: str = "auto", root: Path | None = None) -> list[dict[str, object]]:
    """One row per (set, protocol): J, F, J&F, per-clip J&F; the 1-click rows carry the
    robustness rows of every object (``objects``)."""
    root = dataset(root=root or ROOT)
    selection = select_backends(PluginManager(external=False), BackendChoice(segmenter, tracker))
    sequences = {s.name: s for s in davis_sequences(root, "val")}
    rows = []
    for set_name, specs in SETS:
        for label, clicks, rounds in PROTOCOLS:
            result = DatasetResult()
            objects: list[dict[str, object]] = []
            start = time.perf_counter()
            for spec in specs:
                seq = sequences[spec.name]
                backends = selection.build()
                res = evaluate_sequence_with_clicks(seq, backends.segmenter, backends.tracker, clicks=clicks,
                                                    rounds=rounds, refine=backends.refine_options,
                                                    keep_predictions=rounds == 0 and clicks == 1)
                result.sequences.append(res)
                if res.predictions is not None:
                    objects += robustness(res, list(seq.labels()))
                    res.predictions = None
            rows.append({"set": set_name, "protocol": label, "segmenter": selection.segmenter_spec.name,
                         "tracker": selection.tracker_spec.name, "clicks": clicks, "rounds": rounds,
                         "J": result.j, "F": result.f, "J&F": result.jf,
                         "per_sequence": {s.name: round(s.jf, 4) for s in result.sequences},
                         "objects": objects, "seconds": time.perf_counter() - start})
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| set | segmenter | tracker | protocol | J | F | J&F | per clip J&F |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        per = ", ".join(f"{k} {v:.3f}" for k, v in r["per_sequence"].items())  # type: ignore[union-attr]
        lines.append(f"| {r['set']} | {r['segmenter']} | {r['tracker']} | {r['protocol']} | {r['J']:.3f} | "
                     f"{r['F']:.3f} | {r['J&F']:.3f} | {per} |")
    objects = [o for r in rows for o in r.get("objects", [])]  # type: ignore[union-attr]
    if objects:
        lines += ["", "Robustness (1 click; visible: true area ≥ 5 % of the object's largest):", "",
                  "| clip | object | J&F | visible frames edited | edited while away | max area ÷ true | "
                  "weak frames (bad) |", "|---|---|---|---|---|---|---|"]
        for o in objects:
            lines.append(f"| {o['clip']} | {o['object']} | {o['jf']:.3f} | {o['visible_edited']}/{o['visible']} "
                         f"({100 * float(o['edited_share']):.0f} %) | {o['away_edited']} | {o['max_area_ratio']:.2f} | "
                         f"{o['weak']} ({o['weak_bad']}) |")
        hard = [o for o in objects if str(o["clip"]).startswith(("gt-exit", "gt-occlusion"))]
        if hard:
            share = sum(int(o["visible_edited"]) for o in hard) / max(1, sum(int(o["visible"]) for o in hard))
            lines.append(f"\nExit/re-entry and occlusion clips: {100 * share:.1f} % of the visible frames edited; "
                         f"max area ÷ true over all clips {max(float(o['max_area_ratio']) for o in objects):.2f}; "
                         f"{sum(int(o['away_edited']) for o in objects)} frames edited while the object was away.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.quality")
    ap.add_argument("--segmenter", default="auto")
    ap.add_argument("--tracker", default="auto")
    ap.add_argument("--root", type=Path, default=ROOT, help="where the generated clips are (written if missing)")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = ap.parse_args(argv)
    rows = evaluate(args.segmenter, args.tracker, args.root)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
