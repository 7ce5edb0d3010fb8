"""A real person pasted over a moving real clip and removed from one click (#28: the streaky
fill and the ghost) — ``python -m benchmarks.removal_walker tune|held [--keep DIR]
[--set STAGE.OPTION=VALUE …]``.

Cases (:data:`editor.evaluation.removal.WALKER_CASES`): bikes.mp4's man or cyclist cut along
his hand-drawn outline and slid across 48 frames of bigbuckbunny.mp4 or bikes.mp4 (the true
background of every frame is known). Each composite is encoded (libx264 CRF 12), one click
is put on the walker on frame 0 (his truth's innermost point), and ``trackedit run --preset
remove`` removes him (the default backends, as a user's run). Scores
(:func:`~editor.evaluation.removal.score_walker`) where he was: PSNR against the true
background, the ghost share (pixels off by more than 40 levels) and the streaks (the fill's
row/column anisotropy against the background's); also the input's (the walker left) and the
run's CPU seconds (its process, children included). ``--keep``: the composites, prompts and
output frames are kept there (else a temporary folder).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from editor.evaluation.faces import write_video
from editor.evaluation.removal import WALKER_CASES, score_walker, walker_clip

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
PEOPLE_GT = ROOT / "tests" / "data" / "people_gt.json"


def click(label: np.ndarray) -> tuple[int, int]:
    """The walker's innermost pixel (x, y): the maximum of the distance to his outline."""
    inside = cv2.copyMakeBorder((label > 0).astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    d = cv2.distanceTransform(inside, cv2.DIST_L2, 5)[1:-1, 1:-1]  # the frame's edge is an outline too
    y, x = np.unravel_index(int(np.argmax(d)), d.shape)
    return int(x), int(y)


def run_case(case, folder: Path, overrides: list[str]) -> dict[str, object]:  # noqa: ANN001
    images, backgrounds, labels = walker_clip(case, SAMPLES, PEOPLE_GT)
    slug = case.name.replace(" ", "_").replace(",", "")
    clip = folder / f"{slug}.mp4"
    write_video(clip, images, 25, audio=False, crf=12)
    x, y = click(labels[0])
    prompts = folder / f"{slug}.json"
    prompts.write_text(json.dumps({"version": 1, "objects": [
        {"id": 1, "name": "walker", "prompts": [{"frame": 0, "points": [[x, y]], "labels": [1]}]}]}))
    out = folder / slug
    out.mkdir(exist_ok=True)
    for old in out.glob("f_*.png"):
        old.unlink()
    cmd = [sys.executable, "-m", "editor.cli.main", "run", str(clip), "-o", str(out / "f_%05d.png"),
           "--preset", "remove", "--prompts", str(prompts)]
    for o in overrides:
        cmd += ["--set", o]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    outputs = [cv2.cvtColor(cv2.imread(str(out / f"f_{i:05d}.png")), cv2.COLOR_BGR2RGB) for i in range(len(images))]
    s, s0 = score_walker(outputs, backgrounds, labels), score_walker(images, backgrounds, labels)
    return {"case": case.name, "psnr_db": s.psnr_db, "ghost": s.ghost, "streaks": s.streaks,
            "input_psnr_db": s0.psnr_db, "input_ghost": s0.ghost, "cpu_seconds": cpu}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", choices=sorted(WALKER_CASES))
    ap.add_argument("--keep", type=Path, help="keep the clips, prompts and output frames in this folder")
    ap.add_argument("--set", action="append", default=[], help="a preset override, as `trackedit run --set`")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print("| case | PSNR where he was (dB) | ghost share | streaks | input PSNR | input ghost | CPU s |")
        print("|---|---|---|---|---|---|---|")
        for case in WALKER_CASES[args.split]:
            r = run_case(case, folder, args.set)
            print(f"| {r['case']} | {r['psnr_db']:.1f} | {r['ghost']:.3f} | {r['streaks']:.2f} | "
                  f"{r['input_psnr_db']:.1f} | {r['input_ghost']:.3f} | {r['cpu_seconds']:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
