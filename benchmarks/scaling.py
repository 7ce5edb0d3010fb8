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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.scaling")
    ap.add_argument("--lengths", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--scenarios", nargs="+", default=["decode", "transcode", "edit_blur"])
    args = ap.parse_args(argv)
    clip_300, prompts = make_clip(ROOT / "results" / "inputs", args.height, 300)
    rows = []
    for n in args.lengths:
        clip, _ = make_clip(ROOT / "results" / "inputs", args.height, n)
        work = ROOT / "results" / "work" / f"scaling-{args.height}p-{n}"
        if any(s.startswith("edit_") for s in args.scenarios):
            _masks(work, clip_300, prompts, n)
        for name in args.scenarios:
            r = run_scenario(name, clip, prompts, work)
            r["frames_in_video"] = n
            r["ms_per_frame"] = 1000 * float(r["seconds"]) / int(r["frames"])
            rows.append(r)
            print(f"{n:>6} frames {name:>10}: {r['ms_per_frame']:6.2f} ms/frame  {r['peak_rss_mib']:6.0f} MiB",
                  file=sys.stderr)
    lines = ["| scenario | frames | ms / frame | peak RSS MiB |", "|---|---|---|---|"]
    lines += [f"| {r['scenario']} | {r['frames_in_video']} | {r['ms_per_frame']:.2f} | {r['peak_rss_mib']:.0f} |"
              for r in rows]
    print("\n".join(lines))
    (ROOT / "results" / "scaling.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
