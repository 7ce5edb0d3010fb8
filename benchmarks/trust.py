"""Masks and confidence a person can trust (#25): J&F and calibration on held-out real
footage labelled by hand, beside the generated set (``python -m benchmarks.trust``).

* **real** (held out; the headline) — ``tests/data/real_gt``: the bunny with its ears
  (bigbuckbunny.mp4, every 10th frame 40–130), the carphone head (every 10th frame 0–110)
  and the cyclist in bikes.mp4 (frames 80–130, hidden by a car on 90 and 100, gone after
  the cut on 140 and 160; clicks on 120), labelled by hand (README there). No constant was
  chosen on it.
* **generated** (the tuning split) — :mod:`editor.evaluation.groundtruth` (the default and
  hard sets of ``benchmarks.quality``).

Protocols: 1 click, 3 clicks, 3 clicks + 2 correction rounds (one click on the worst
labelled frame, editing the tracked mask there). Real clips are tracked both ways from the
first labelled frame and scored on the labelled frames without a prompt; generated clips by
``evaluate_sequence_with_clicks`` (first and last frames excluded). Calibration
(:mod:`editor.evaluation.calibration`) from the 1-click runs: reliability table of the
confidence against P(IoU ≥ 0.5), ECE, Brier score, review recall (bad frames listed) and
the share of good frames listed. Prints a table; ``--json`` writes the rows.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from editor.backends.assembly import BackendChoice, select_backends
from editor.evaluation.calibration import Calibration, calibration
from editor.evaluation.datasets import davis_sequences, sparse_labels
from editor.evaluation.groundtruth import DEFAULT_SET, HARD_SET
from editor.evaluation.runner import evaluate_sequence_with_clicks, evaluate_video_with_clicks
from editor.pipeline.plugin_manager import PluginManager

from .quality import PROTOCOLS, ROOT as GENERATED_ROOT, dataset

REPO = Path(__file__).resolve().parent.parent
REAL = REPO / "tests" / "data" / "real_gt"
REAL_SET = (("bunny", REPO / "samples" / "bigbuckbunny.mp4", REAL / "bunny", None),
            ("carphone-head", REPO / "samples" / "carphone_pristine.mp4", REAL / "carphone", None),
            ("bikes-cyclist", REPO / "samples" / "bikes.mp4", REAL / "bikes_cyclist", 120))
"""name, video, labelled masks, frame of the clicks (None: the first labelled frame)."""


def real_rows(selection, protocols=PROTOCOLS) -> tuple[list[dict[str, object]], list[tuple[float | None, float]]]:  # noqa: ANN001
    rows, pairs = [], []
    for label, clicks, rounds in protocols:
        per, start = {}, time.process_time()
        for name, video, folder, first in REAL_SET:
            b = selection.build()
            r = evaluate_video_with_clicks(video, sparse_labels(folder), b.segmenter, b.tracker, clicks=clicks,
                                           rounds=rounds, first=first, refine=b.refine_options, name=name)
            if clicks == 1 and rounds == 0:
                print(f"{name}: frames {r.frames} J {[round(j, 3) for j in r.j]} confidence {r.confidence} "
                      f"area/true {[round(a, 2) for a in r.area_ratio]}", file=sys.stderr)
            per[name] = round(r.jf, 4)
            if clicks == 1 and rounds == 0:
                pairs += list(zip(r.confidence, r.j))
        rows.append({"set": "real", "protocol": label, "J&F": float(np.mean(list(per.values()))),
                     "per_clip": per, "cpu_s": round(time.process_time() - start, 1)})
    return rows, pairs


def generated_rows(selection, protocols=PROTOCOLS) -> tuple[list[dict[str, object]], list[tuple[float | None, float]]]:  # noqa: ANN001
    root = dataset(root=GENERATED_ROOT)
    sequences = {s.name: s for s in davis_sequences(root, "val")}
    rows, pairs = [], []
    for label, clicks, rounds in protocols:
        per, start, objects = {}, time.process_time(), []
        for spec in DEFAULT_SET + HARD_SET:
            seq = sequences[spec.name]
            b = selection.build()
            first = clicks == 1 and rounds == 0
            r = evaluate_sequence_with_clicks(seq, b.segmenter, b.tracker, clicks=clicks, rounds=rounds,
                                              refine=b.refine_options, keep_predictions=first)
            per[spec.name] = round(r.jf, 4)
            objects += [o.jf for o in r.objects]
            if first:
                conf = r.confidence or {}
                for o in r.objects:
                    for t, j in zip(range(1, r.frames - 1), o.j_per_frame):
                        pairs.append((conf.get(t, {}).get(o.object_id), j))
        rows.append({"set": "generated", "protocol": label, "J&F": float(np.mean(objects)),
                     "per_clip": per, "cpu_s": round(time.process_time() - start, 1)})
    return rows, pairs


def calibration_lines(name: str, c: Calibration) -> list[str]:
    lines = [f"**{name}**: {c.frames} frames with a confidence ({c.unscored} without), {c.bad} with IoU < 0.5; "
             f"ECE {c.ece:.3f}, Brier {c.brier:.3f}; review recall {100 * c.recall:.0f} % of the bad frames listed, "
             f"{100 * c.flagged_good:.0f} % of the good frames listed.", "",
             "| confidence | frames | mean confidence | observed P(IoU ≥ 0.5) |", "|---|---|---|---|"]
    for b in c.bins:
        pred = "–" if not b.count else f"{b.predicted:.2f}"
        obs = "–" if not b.count else f"{b.observed:.2f}"
        lines.append(f"| {b.lo:.2f}–{b.hi:.2f} | {b.count} | {pred} | {obs} |")
    return lines


def table(rows: list[dict[str, object]], cal: dict[str, Calibration]) -> str:
    lines = ["| set | protocol | J&F | per clip J&F | CPU s |", "|---|---|---|---|---|"]
    for r in rows:
        per = ", ".join(f"{k} {v:.3f}" for k, v in r["per_clip"].items())  # type: ignore[union-attr]
        lines.append(f"| {r['set']} | {r['protocol']} | {r['J&F']:.3f} | {per} | {r['cpu_s']} |")
    for name, c in cal.items():
        lines += [""] + calibration_lines(f"Calibration, {name} set (1 click)", c)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.trust")
    ap.add_argument("--segmenter", default="classic")
    ap.add_argument("--tracker", default="classic")
    ap.add_argument("--sets", default="real,generated", help="real, generated or both (comma-separated)")
    ap.add_argument("--json", type=Path, help="also write the rows and calibration as JSON")
    args = ap.parse_args(argv)
    selection = select_backends(PluginManager(external=False), BackendChoice(args.segmenter, args.tracker))
    rows: list[dict[str, object]] = []
    cal: dict[str, Calibration] = {}
    sets = args.sets.split(",")
    if "real" in sets:
        r, pairs = real_rows(selection)
        rows += r
        cal["real"] = calibration(pairs)
    if "generated" in sets:
        r, pairs = generated_rows(selection)
        rows += r
        cal["generated"] = calibration(pairs)
    print(table(rows, cal))
    if args.json:
        from dataclasses import asdict

        args.json.write_text(json.dumps({"rows": rows, "calibration": {k: asdict(v) for k, v in cal.items()}},
                                        indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
