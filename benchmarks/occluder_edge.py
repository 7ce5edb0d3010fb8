"""Redaction of faces at an occluder's edge (``python -m benchmarks.occluder_edge``, issue #22).

The clips of :mod:`editor.evaluation.occluder_faces` (a face walking behind an opaque bar:
half faces where it enters and leaves), the tuning set and the held-out set, each run
through ``trackedit run IN -o OUT --preset blur --detect faces`` and, with ``--tools
deface``, deface with its defaults (by :func:`benchmarks.redaction.run_tools`, each with
its plain re-encode). Per set and tool: the face-frames with a face in view (≥ 30 % of it
visible), the bare ones and which frames they are — the visible part of the face's core keeps
at least a tenth of the input's Laplacian-of-Gaussian energy
(:func:`editor.evaluation.occluder_faces.bare_frames`: :mod:`editor.evaluation.face_detail`'s
criterion, issue #22, restricted to what the bar leaves in view) — and the false redaction
(changed pixels against the tool's plain re-encode outside the face box grown by half its
size, :func:`editor.evaluation.redaction.score_clip`), and the commands' CPU seconds.
Prints the table and writes ``benchmarks/results/<date>-<host>-occluder-edge.json``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
from dataclasses import dataclass

from editor.evaluation.faces import load_truth
from editor.evaluation.occluder_faces import HELD_OUT_SET, TUNING_SET, EdgeClipSpec, bare_frames, write_edge_clip
from editor.evaluation.redaction import RedactionRule, score_clip
from editor.video.reader import iter_frames

from .inputs import footage
from .redaction import RESULTS, TOOLS, ToolRun, cache_dir, ensure_deface, ranges, run_tools

SETS = {"tuning": TUNING_SET, "held-out": HELD_OUT_SET}


@dataclass(frozen=True)
class EdgeResult:
    """One tool on one clip: face-frames in view, the bare ones (frame indices), the largest
    and mean false redaction (shares of a frame), the command's CPU seconds."""

    set: str
    clip: str
    tool: str
    visible: int
    bare: tuple[int, ...]
    max_false: float
    mean_false: float
    cpu_seconds: float
    error: str = ""


def run(sets: list[str], tools: tuple[str, ...], rule: RedactionRule = RedactionRule(), *,
        score_only: bool = False) -> list[EdgeResult]:
    """Write the clips (once), run every tool on each (``score_only``: score the outputs
    already in the work folder) and score them."""
    deface = ensure_deface(cache_dir() / "deface-venv") if "deface" in tools and not score_only else None
    folder = RESULTS / "occluder-edge"
    work = RESULTS / "work" / "occluder-edge"
    out = []
    for name in sets:
        spec: EdgeClipSpec
        for spec in SETS[name]:
            files = write_edge_clip(spec, folder, footage().parent)
            truths = load_truth(files.truth)
            if score_only:
                runs = {tool: (ToolRun(tool, (), work / tool / f"{spec.name}.mp4", 0.0, 0.0, 0),
                               ToolRun(tool, (), work / tool / f"{spec.name}.reference.mp4", 0.0, 0.0, 0))
                        for tool in tools}
            else:
                runs = run_tools(deface, "trackedit" in tools, files.video, spec.name, spec.frames, spec.width,
                                 spec.frame_height, work)
            for tool, (r, ref) in runs.items():
                if r.error or ref.error:
                    out.append(EdgeResult(name, spec.name, tool, 0, (), 0.0, 0.0, r.cpu_seconds, r.error or ref.error))
                    continue
                changes = score_clip((f.image for f in iter_frames(ref.output)),
                                     (f.image for f in iter_frames(r.output)), truths, rule,
                                     (spec.frame_height, spec.width))
                seen, bare = bare_frames(files.video, r.output, truths, rule.visible_share)
                out.append(EdgeResult(name, spec.name, tool, seen, bare, changes.max_false_share,
                                      changes.mean_false_share, r.cpu_seconds))
                print(f"{name:>8} {spec.name:>12} {tool:>9}: bare {len(bare):3d}/{seen:3d} "
                      f"false max {100 * changes.max_false_share:.2f} %", file=sys.stderr)
    return out


def table(results: list[EdgeResult]) -> str:
    """Per set and tool: clips, face-frames in view, bare ones, false redaction; then the bare frames."""
    lines = ["| set | tool | clips | face-frames in view | bare face-frames | false redaction max / mean | CPU s |",
             "|---|---|---|---|---|---|---|"]
    for name in SETS:
        for tool in TOOLS:
            rs = [r for r in results if r.set == name and r.tool == tool and not r.error]
            if not rs:
                continue
            lines.append(f"| {name} | {tool} | {len(rs)} | {sum(r.visible for r in rs)} | "
                         f"{sum(len(r.bare) for r in rs)} | {100 * max(r.max_false for r in rs):.2f} % / "
                         f"{100 * sum(r.mean_false for r in rs) / len(rs):.2f} % | "
                         f"{sum(r.cpu_seconds for r in rs):.0f} |")
    bare = [f"- {r.clip}, {r.tool}: frames {ranges(list(r.bare))}" for r in results if r.bare]
    failed = [f"- {r.clip}, {r.tool}: failed: {r.error}" for r in results if r.error]
    return "\n".join(lines + ([""] + bare if bare else []) + ([""] + failed if failed else []))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.occluder_edge")
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--tools", nargs="+", default=["trackedit"], choices=TOOLS)
    ap.add_argument("--score-only", action="store_true", help="run nothing: score the outputs of the last run again")
    args = ap.parse_args(argv)
    results = run(args.sets, tuple(args.tools), score_only=args.score_only)
    text = table(results)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    path = RESULTS / f"{date[:10]}-{platform.node()}-occluder-edge.json"
    path.write_text(json.dumps({"date": date, "results": [r.__dict__ for r in results]}, indent=2) + "\n")
    print(f"written {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
