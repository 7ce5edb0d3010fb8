"""Mask quality (J&F) of the selected backends on the generated ground-truth clips
(``python -m benchmarks.quality``): 1 and 3 simulated clicks, one-pass propagation."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from editor.backends.assembly import BackendChoice, select_backends
from editor.evaluation.datasets import davis_sequences
from editor.evaluation.groundtruth import write_dataset
from editor.evaluation.runner import DatasetResult, evaluate_sequence_with_clicks
from editor.pipeline.plugin_manager import PluginManager

from .inputs import footage

ROOT = Path(__file__).resolve().parent / "results" / "gtset"


def evaluate(segmenter: str = "auto", tracker: str = "auto") -> list[dict[str, object]]:
    if not (ROOT / "ImageSets").exists():
        write_dataset(ROOT, footage().parent)
    selection = select_backends(PluginManager(external=False), BackendChoice(segmenter, tracker))
    rows = []
    for clicks in (1, 3):
        result = DatasetResult()
        start = time.perf_counter()
        for seq in davis_sequences(ROOT, "val"):
            backends = selection.build()
            result.sequences.append(evaluate_sequence_with_clicks(seq, backends.segmenter, backends.tracker,
                                                                  clicks=clicks, refine=backends.refine_options))
        rows.append({"segmenter": selection.segmenter_spec.name, "tracker": selection.tracker_spec.name,
                     "clicks": clicks,
                     "J": result.j, "F": result.f, "J&F": result.jf,
                     "per_sequence": {s.name: round(s.jf, 4) for s in result.sequences},
                     "seconds": time.perf_counter() - start})
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| segmenter | tracker | clicks | J | F | J&F | per clip J&F |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        per = ", ".join(f"{k} {v:.3f}" for k, v in r["per_sequence"].items())  # type: ignore[union-attr]
        lines.append(f"| {r['segmenter']} | {r['tracker']} | {r['clicks']} | {r['J']:.3f} | {r['F']:.3f} | "
                     f"{r['J&F']:.3f} | {per} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(evaluate()))
    sys.exit(0)
