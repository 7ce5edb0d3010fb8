"""Masks and confidence a person can trust (#25): J&F and calibration on held-out real
footage labelled by hand, beside the generated set (``python -m benchmarks.trust``).

* **real** (held out; the headline) — ``tests/data/real_gt``: the bunny with its ears
  (bigbuckbunny.mp4, every 10th frame 40–130), the carphone head (every 10th frame 0–110)
  and the cyclist in bikes.mp4 (frames 80–130, hidden by a car on 90 and 100, gone after
  the cut on 140 and 160; clicks on 120), labelled by hand (README there). No constant was
  chosen on it.
* **tune** (real, the tuning split) — ``tests/data/real_tune``: the van and the walking man
  in bikes.mp4, the bunny's frames 0–35 (README there), labelled the same way. The
  calibration table is fitted on it and on the generated set (``--fit``).
* **generated** (the tuning split) — :mod:`editor.evaluation.groundtruth` (the default and
  hard sets of ``benchmarks.quality``).

Protocols: 1 click, 3 clicks, 3 clicks + 2 correction rounds (one click on the worst
labelled frame, editing the tracked mask there). Real clips are tracked both ways from the
first labelled frame and scored on the labelled frames without a prompt; generated clips by
``evaluate_sequence_with_clicks`` (first and last frames excluded). Calibration
(:mod:`editor.evaluation.calibration`) from the 1-click runs: reliability table of the
confidence against P(IoU ≥ 0.5), ECE, Brier score, review recall (bad frames listed) and
the share of good frames listed; on the real sets also from the 3 clicks + 2 rounds runs,
where both passes reach the frames between the prompts and disagreeing ones are listed
(:mod:`editor.tracking.cues.agreement`). Prints a table; ``--json`` writes the rows. ``--fit``
instead fits the calibration table (:data:`editor.tracking.cues.tuning.CALIBRATION`) on the
tuning splits' raw scores (1 click, ``EvidenceOptions(calibrated=False)``) and prints it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from editor.backends.assembly import BackendChoice, select_backends
from editor.evaluation.calibration import GOOD_IOU, Calibration, calibration, fit_isotonic
from editor.evaluation.datasets import davis_sequences, sparse_labels
from editor.evaluation.groundtruth import DEFAULT_SET, HARD_SET
from editor.evaluation.runner import evaluate_sequence_with_clicks, evaluate_video_with_clicks
from editor.pipeline.plugin_manager import PluginManager
from editor.tracking.evidence import EvidenceOptions

from .quality import PROTOCOLS, ROOT as GENERATED_ROOT, dataset

REPO = Path(__file__).resolve().parent.parent
REAL = REPO / "tests" / "data" / "real_gt"
TUNE = REPO / "tests" / "data" / "real_tune"
SAMPLES = REPO / "samples"
REAL_SET = (("bunny", SAMPLES / "bigbuckbunny.mp4", REAL / "bunny", None),
            ("carphone-head", SAMPLES / "carphone_pristine.mp4", REAL / "carphone", None),
            ("bikes-cyclist", SAMPLES / "bikes.mp4", REAL / "bikes_cyclist", 120))
"""The held-out split: name, video, labelled masks, frame of the clicks (None: the first
labelled frame)."""
TUNE_SET = (("bikes-van", SAMPLES / "bikes.mp4", TUNE / "bikes_van", 80),
            ("bunny-early", SAMPLES / "bigbuckbunny.mp4", TUNE / "bunny_early", 20),
            ("bikes-walker", SAMPLES / "bikes.mp4", TUNE / "bikes_walker", 192))
"""The real tuning split, the same way."""
Triple = tuple[float | None, float, str | None]
"""(confidence, J, state) of one scored frame and object."""


def real_rows(selection, protocols=PROTOCOLS, clips=REAL_SET, name_of_set: str = "real",  # noqa: ANN001
              evidence: EvidenceOptions | None = None,
              corrected: list[Triple] | None = None) -> tuple[list[dict[str, object]], list[Triple]]:
    """Rows per protocol and the 1-click (confidence, J, state) triples; ``corrected``, when
    given, receives those of the corrected protocol (rounds > 0), where both passes reach the
    frames between the prompts (:mod:`editor.tracking.cues.agreement`)."""
    rows, triples = [], []
    for label, clicks, rounds in protocols:
        per, start = {}, time.process_time()
        for name, video, folder, first in clips:
            b = selection.build()
            r = evaluate_video_with_clicks(video, sparse_labels(folder), b.segmenter, b.tracker, clicks=clicks,
                                           rounds=rounds, first=first, refine=b.refine_options, evidence=evidence,
                                           name=name)
            if clicks == 1 and rounds == 0:
                print(f"{name}: frames {r.frames} J {[round(j, 3) for j in r.j]} confidence {r.confidence} "
                      f"states {r.states} area/true {[round(a, 2) for a in r.area_ratio]}", file=sys.stderr)
                triples += list(zip(r.confidence, r.j, r.states))
            elif rounds and corrected is not None:
                corrected += list(zip(r.confidence, r.j, r.states))
            per[name] = round(r.jf, 4)
        rows.append({"set": name_of_set, "protocol": label, "J&F": float(np.mean(list(per.values()))),
                     "per_clip": per, "cpu_s": round(time.process_time() - start, 1)})
    return rows, triples


def generated_rows(selection, protocols=PROTOCOLS,  # noqa: ANN001
                   evidence: EvidenceOptions | None = None) -> tuple[list[dict[str, object]], list[Triple]]:
    root = dataset(root=GENERATED_ROOT)
    sequences = {s.name: s for s in davis_sequences(root, "val")}
    rows, triples = [], []
    for label, clicks, rounds in protocols:
        per, start, objects = {}, time.process_time(), []
        for spec in DEFAULT_SET + HARD_SET:
            seq = sequences[spec.name]
            b = selection.build()
            first = clicks == 1 and rounds == 0
            r = evaluate_sequence_with_clicks(seq, b.segmenter, b.tracker, clicks=clicks, rounds=rounds,
                                              refine=b.refine_options, evidence=evidence, keep_predictions=first)
            per[spec.name] = round(r.jf, 4)
            objects += [o.jf for o in r.objects]
            if first:
                conf, states = r.confidence or {}, r.states or {}
                for o in r.objects:
                    for t, j in zip(range(1, r.frames - 1), o.j_per_frame):
                        triples.append((conf.get(t, {}).get(o.object_id), j, states.get(t, {}).get(o.object_id)))
        rows.append({"set": "generated", "protocol": label, "J&F": float(np.mean(objects)),
                     "per_clip": per, "cpu_s": round(time.process_time() - start, 1)})
    return rows, triples


FITTED = ("tracked", "found", "held", "lost")
"""States the calibration table has a map for (prompts keep their 1)."""


def fit(selection, dump: Path | None = None) -> dict[str, tuple[tuple[float, float], ...]]:  # noqa: ANN001
    """The calibration table from the raw scores of 1-click runs on both tuning splits; the
    real split weighs as much as the generated one in all (it is the footage that matters,
    the generated set has ten times its frames)."""
    raw = EvidenceOptions(calibrated=False)
    one = PROTOCOLS[:1]
    rows, real = real_rows(selection, one, TUNE_SET, "tune", raw)
    more, gen = generated_rows(selection, one, raw)
    for r in rows + more:
        print(f"{r['set']} {r['protocol']}: J&F {r['J&F']:.3f} {r['per_clip']}", file=sys.stderr)
    if dump is not None:  # the raw scores, to read the fitted table's calibration from
        dump.write_text(json.dumps({"tune": real, "generated": gen}) + "\n")
    real = [t for t in real if t[0] is not None]
    gen = [t for t in gen if t[0] is not None]
    w_real = len(gen) / max(1, len(real))
    table = {}
    for state in FITTED:
        rows = [(c, j >= GOOD_IOU, w_real) for c, j, s in real if s == state] + \
               [(c, j >= GOOD_IOU, 1.0) for c, j, s in gen if s == state]
        if rows:
            c, g, w = zip(*rows)
            table[state] = fit_isotonic(c, g, w)
        print(f"{state}: {sum(1 for *_, s in real if s == state)} real and "
              f"{sum(1 for *_, s in gen if s == state)} generated frames", file=sys.stderr)
    return table


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
        base, _, protocol = name.partition(", ")
        lines += [""] + calibration_lines(f"Calibration, {base} set ({protocol or '1 click'})", c)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.trust")
    ap.add_argument("--segmenter", default="classic")
    ap.add_argument("--tracker", default="classic")
    ap.add_argument("--sets", default="real,tune,generated",
                    help="real (held out), tune (real tuning split), generated (comma-separated)")
    ap.add_argument("--json", type=Path, help="also write the rows and calibration as JSON")
    ap.add_argument("--fit", action="store_true", help="fit the calibration table on the tuning splits and print it")
    args = ap.parse_args(argv)
    selection = select_backends(PluginManager(external=False), BackendChoice(args.segmenter, args.tracker))
    if args.fit:
        print("CALIBRATION = {")
        for state, knots in fit(selection, args.json).items():
            print(f"    {state!r}: {knots!r},")
        print("}")
        return 0
    rows: list[dict[str, object]] = []
    cal: dict[str, Calibration] = {}
    frames: dict[str, list[Triple]] = {}
    sets = args.sets.split(",")
    for key, clips, name in (("real", REAL_SET, "real (held out)"), ("tune", TUNE_SET, "tune (real)")):
        if key not in sets:
            continue
        corrected: list[Triple] = []
        r, triples = real_rows(selection, clips=clips, name_of_set=key, corrected=corrected)
        rows += r
        cal[name] = calibration((c, j) for c, j, _ in triples)
        cal[f"{name}, 3 clicks + 2 rounds"] = calibration((c, j) for c, j, _ in corrected)
        frames[key] = triples
        frames[f"{key}-corrected"] = corrected
    if "generated" in sets:
        r, triples = generated_rows(selection)
        rows += r
        cal["generated"] = calibration((c, j) for c, j, _ in triples)
        frames["generated"] = triples
    print(table(rows, cal))
    if args.json:
        from dataclasses import asdict

        args.json.write_text(json.dumps({"rows": rows, "calibration": {k: asdict(v) for k, v in cal.items()},
                                         "frames": frames}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
