"""Same masks before and after a refactor (``python -m benchmarks.mask_parity``).

``snapshot OUT``: tracks short spans of the real sample clips and field cases with the
classical backends (bidirectional, ``trackedit track``) into ``OUT/<clip>/`` (masks, and
``confidence.json`` with states and the review list). ``compare A B``: byte-compares two
snapshots and prints one row per clip (frames, differing masks, same confidence.json).
Used for the split of the evidence module (#25): identical on all clips below.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPANS = (  # name, source, first frame, frames (0: all), prompts (frames relative to the span)
    ("bunny", ROOT / "samples/bigbuckbunny.mp4", 30, 60,
     [{"id": 1, "name": "bunny", "prompts": [{"frame": 10, "points": [[480, 380]], "labels": [1]}]}]),
    ("bikes", ROOT / "samples/bikes.mp4", 100, 60,
     [{"id": 1, "name": "van", "prompts": [{"frame": 20, "points": [[120, 150]], "labels": [1]}]},
      {"id": 2, "name": "cyclist", "prompts": [{"frame": 20, "box": [330, 15, 480, 272]}]}]),
    ("bikesfull", ROOT / "samples/bikes.mp4", 0, 0, json.loads((ROOT / "samples/bikes.json").read_text())["objects"]),
    ("carphone", ROOT / "samples/carphone_pristine.mp4", 0, 60,
     json.loads((ROOT / "samples/carphone_face.json").read_text())["objects"]),
    ("f08", ROOT / "tests/data/cases/f08_reenter.mp4", 0, 0, None),
    ("f25", ROOT / "tests/data/cases/f25_badsector.mp4", 0, 0, None),
    ("obs", ROOT / "tests/data/cases/obs_bunny720.mp4", 0, 0, None),
)


def _cut(src: Path, first: int, frames: int, out: Path) -> Path:
    if not frames:
        return src
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), "-vf",
                    f"select='between(n,{first},{first + frames - 1})',setpts=N/25/TB", "-an",
                    "-c:v", "libx264", "-crf", "12", "-preset", "veryfast", str(out)], check=True)
    return out


def snapshot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, src, first, frames, objects in SPANS:
            clip = _cut(src, first, frames, Path(tmp) / f"{name}.mp4")
            prompts = Path(tmp) / f"{name}.json"
            if objects is None:
                prompts = src.with_name(src.name.split("_")[0] + "_prompts.json")
                if not prompts.exists():
                    prompts = src.with_name(src.stem + "_prompts.json")
            else:
                prompts.write_text(json.dumps({"version": 1, "objects": objects}))
            subprocess.run([sys.executable, "-m", "editor", "-q", "track", str(clip), "--prompts", str(prompts),
                            "-o", str(out / name), "--segmenter", "classic", "--tracker", "classic",
                            "--bidirectional", "--overwrite"], check=True)


def compare(a: Path, b: Path) -> bool:
    same = True
    print(f"{'clip':10} {'frames':>6} {'masks differ':>12} {'confidence.json':>16}")
    for name, *_ in SPANS:
        pa, pb = sorted((a / name).glob("*.png")), sorted((b / name).glob("*.png"))
        differ = sum(x.read_bytes() != (b / name / x.name).read_bytes() for x in pa if (b / name / x.name).exists())
        differ += abs(len(pa) - len(pb))
        conf = (a / name / "confidence.json").read_bytes() == (b / name / "confidence.json").read_bytes()
        same &= differ == 0 and conf
        print(f"{name:10} {len(pa):6d} {differ:12d} {'same' if conf else 'DIFFERS':>16}")
    return same


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("snapshot").add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args()
    if args.cmd == "snapshot":
        snapshot(args.out)
        return 0
    return 0 if compare(args.a, args.b) else 1


if __name__ == "__main__":
    sys.exit(main())
