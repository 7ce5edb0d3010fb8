"""Time per frame and peak memory against video length (``python -m benchmarks.scaling``).

The same scenarios on 1k- and 10k-frame versions of the looped 480p clip, each in its own
process: if nothing holds the whole video, time per frame and peak RSS stay flat. Masks for
the edit scenario are the tracked masks of one loop period, repeated.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .__main__ import ROOT, run_scenario
from .inputs import make_clip

PERIOD = 2 * 132 - 2  # ping-pong loop of bigbuckbunny's 132 frames


def _masks(work: Path, clip_300: Path, prompts: Path, frames: int) -> None:
    base = ROOT / "results" / "work" / "scaling-base"
    if not (base / "masks" / "objects.json").exists():
        run_scenario("track", clip_300, prompts, base)
    dst = work / "masks"
    if (dst / "objects.json").exists():
        return
    dst.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        shutil.copyfile(base / "masks" / f"{i % PERIOD:05d}.png", dst / f"{i:05d}.png")
    manifest = json.loads((base / "masks" / "objects.json").read_text())
    manifest["frame_count"] = frames
    (dst / "objects.json").write_text(json.dumps(manifest))


def collect(lengths: list[int], height: int, scenarios: list[str]) -> list[dict[str, object]]:
    clip_300, prompts = make_clip(ROOT / "results" / "inputs", height, 300)
    rows = []
    for n in lengths:
        clip, _ = make_clip(ROOT / "results" / "inputs", height, n)
        work = ROOT / "results" / "work" / f"scaling-{height}p-{n}"
        if any(s.startswith("edit_") for s in scenarios):
            _masks(work, clip_300, prompts, n)
        base = None
        for name in scenarios:
            r = run_scenario(name, clip, prompts, work)
            r["frames_in_video"] = n
            r["height"] = height
            r["ms_per_frame"] = 1000 * float(r["seconds"]) / int(r["frames"])
            if name == "transcode":
                base = r["ms_per_frame"]
            r["ratio_to_transcode"] = r["ms_per_frame"] / base if base else None
            rows.append(r)
            print(f"{n:>6} frames {name:>10}: {r['ms_per_frame']:6.2f} ms/frame  {r['peak_rss_mib']:6.0f} MiB",
                  file=sys.stderr)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| scenario | frames | ms / frame | peak RSS MiB | ÷ transcode |", "|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio_to_transcode']:.2f}" if r.get("ratio_to_transcode") else ""
        lines.append(f"| {r['scenario']} | {r['frames_in_video']:,} | {r['ms_per_frame']:.2f} | "
                     f"{r['peak_rss_mib']:.0f} | {ratio} |")
    lengths = sorted({int(r["frames_in_video"]) for r in rows})
    if len(lengths) >= 2:
        lo, hi = lengths[0], lengths[-1]
        notes = []
        for name in dict.fromkeys(str(r["scenario"]) for r in rows):
            a = next(r for r in rows if r["scenario"] == name and r["frames_in_video"] == lo)
            b = next(r for r in rows if r["scenario"] == name and r["frames_in_video"] == hi)
            slope = (float(b["peak_rss_mib"]) - float(a["peak_rss_mib"])) / ((hi - lo) / 1000)
            notes.append(f"{name}: peak RSS slope {slope:+.2f} MiB per 1k frames")
        lines.append("\n" + "; ".join(notes) + ".")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line (also parsed by the README test)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.scaling")
    ap.add_argument("--lengths", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--scenarios", nargs="+", default=["decode", "transcode", "edit_blur"])
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = collect(args.lengths, args.height, args.scenarios)
    print(table(rows))
    (ROOT / "results" / "scaling.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
