"""``--preset background --detect people`` against a plain transcode, side by side on a clip
with a real person (``python -m benchmarks.people_speed``).

The clip is bikes.mp4's cyclist at 720p (:func:`benchmarks.inputs.make_people_clip`: frames
100–136 scaled to 720 rows, cropped to 1280×720, ping-pong looped): a person the detector
keeps (a face on most frames), unlike the bunny clip of the main benchmark, where nobody is
detected. Each scenario runs in its own process (``benchmarks.scenarios``), alternating
transcode and people run ``--repeat`` times; the ratios are of the medians, wall-clock time
and CPU time (user + system of the process: the steadier figure on a shared machine).
``--before DIR``: the people run of another checkout (an older commit, ``git worktree add``
or ``git archive``) interleaved with this one's, as ``people_background_before``, so a
change is measured side by side in one run. Prints one markdown table; ``--json PATH``
writes the medians.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from .__main__ import run_scenario
from .inputs import make_people_clip


def run_before(checkout: Path, clip: Path, prompts: Path, work: Path) -> dict[str, object]:
    """``people_background`` run by ``checkout``'s code (its folder first on ``PYTHONPATH``,
    with its ``.shim`` folder of plugin links where it has one)."""
    paths = [str(checkout)] + ([str(checkout / ".shim")] if (checkout / ".shim").is_dir() else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
    out = subprocess.run([sys.executable, "-m", "benchmarks.scenarios", "people_background", str(clip), str(prompts),
                          str(work)], capture_output=True, text=True, cwd=checkout, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(height: int, frames: int, repeat: int, work: Path,
            before: Path | None = None) -> dict[str, dict[str, float]]:
    """Median seconds, CPU seconds and peak RSS (MiB) of ``transcode`` and ``people_background``
    (and ``people_background_before``: ``before``'s code, when given)."""
    clip = make_people_clip(work, height, frames)
    prompts = work / "no-prompts.json"
    prompts.write_text("{}")
    runs: dict[str, list[dict[str, object]]] = {"transcode": [], "people_background": []}
    if before is not None:
        runs = {"transcode": [], "people_background_before": [], "people_background": []}
    for _ in range(repeat):
        for name in runs:
            runs[name].append(run_before(before, clip, prompts, work) if name.endswith("_before") and before
                              else run_scenario(name, clip, prompts, work))
    return {name: {key: statistics.median(float(r[key]) for r in rows)
                   for key in ("seconds", "cpu_seconds", "peak_rss_mib")} for name, rows in runs.items()}


def table(result: dict[str, dict[str, float]], height: int, frames: int) -> str:
    base = result["transcode"]
    lines = ["| clip | scenario | seconds | CPU seconds | × transcode time | × transcode CPU | peak RSS MiB |",
             "|---|---|---|---|---|---|---|"]
    for name, r in result.items():
        ratio = "" if name == "transcode" else f"{r['seconds'] / base['seconds']:.2f}"
        cpu = "" if name == "transcode" else f"{r['cpu_seconds'] / base['cpu_seconds']:.2f}"
        lines.append(f"| cyclist {height}p × {frames} | {name} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                     f"{ratio} | {cpu} | {r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line (also parsed by the README test)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.people_speed")
    ap.add_argument("--height", type=int, default=720)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--before", type=Path, help="another checkout whose people run is interleaved")
    ap.add_argument("--json", type=Path, help="write the medians here")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = measure(args.height, args.frames, args.repeat, Path(tmp), args.before)
    print(table(result, args.height, args.frames))
    if args.json is not None:
        args.json.write_text(json.dumps({"height": args.height, "frames": args.frames, "repeat": args.repeat,
                                         "medians": result}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
