"""Removal quality on synthetic clips with known background (``python -m benchmarks.removal``).

Cases (:mod:`editor.evaluation.removal`): **held in frame** (a camera following the object:
the background pans 2 px per frame behind a face held at the centre, about half of what it
hides is shown by no frame) and **panning** (4 px per frame, the face moving against it:
every hidden pixel is shown by some frame), each on a brick wall made in code and on a real
frame (bigbuckbunny frame 5 at 640×360, natural texture). Methods: trackedit's fill (the
``remove`` preset), OpenCV Telea alone (window 0, no memory) and the window alone (memory off, Telea for what the window
does not see: the engine before issue #28 with today's sub-pixel alignment; the code of
038ed4b itself scores lower on the pans, BENCHMARKS.md). Scores: PSNR / SSIM inside
the object's mask, PSNR where the background is seen / never seen, flicker (mean change of
the fill's error between frames along the background's motion, levels of 255), fps.
"""
from __future__ import annotations

import json
import sys
import time
from fractions import Fraction

import cv2
import numpy as np

from editor.api.frames import VideoInfo
from editor.api.stages import StageContext
from editor.evaluation.removal import held_in_frame_clip, panning_clip, score_removal
from editor.pipeline.plugin_manager import PluginManager
from editor.pipeline.presets import apply_overrides, build_stages, load_preset
from editor.video.reader import iter_frames

from .inputs import footage

METHODS = {"trackedit": [], "Telea": ["remove.window=0", "remove.memory=false", "remove.inpainter=telea"],
           "window only": ["remove.memory=false", "remove.inpainter=telea"]}


def evaluate() -> list[dict[str, object]]:
    src = footage()
    frame = next(f.image for f in iter_frames(src) if f.index == 5)
    real = cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA)
    face = next(iter(iter_frames(src.with_name("carphone_pristine.mp4")))).image
    pm = PluginManager(external=False)
    cases = {"held in frame, bricks": held_in_frame_clip(face), "panning, bricks": panning_clip(face),
             "held in frame, real": held_in_frame_clip(face, real), "panning, real": panning_clip(face, real)}
    rows = []
    for case, clip in cases.items():
        video = VideoInfo("synthetic", clip.width, clip.height, 0, clip.frames, clip.frames, Fraction(25),
                          Fraction(1, 25), clip.frames / 25, "raw", "rgb24")
        for method, overrides in METHODS.items():
            (stage,) = build_stages(apply_overrides(load_preset("remove"), overrides), pm,
                                    StageContext(video, {1: "object"}))
            start = time.perf_counter()
            items = list(stage.run(clip.items()))
            seconds = time.perf_counter() - start
            stage.close()
            s = score_removal(clip, items)
            rows.append({"case": case, "method": method, "psnr_db": s.psnr_db, "ssim": s.ssim,
                         "psnr_seen_db": s.psnr_seen_db, "psnr_never_seen_db": s.psnr_never_seen_db,
                         "never_seen_share": s.never_seen_share, "flicker": s.flicker,
                         "fps": clip.frames / seconds, "resolution": f"{clip.width}x{clip.height}"})
    return rows


def _db(v: object) -> str:
    return "-" if not np.isfinite(float(v)) else f"{float(v):.1f}"


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| case | method | PSNR in hole (dB) | SSIM in hole | PSNR seen (dB) | PSNR never seen (dB) "
             "| never seen | flicker (levels/frame) | fps |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} ({r['resolution']}) | {r['method']} | {_db(r['psnr_db'])} | {r['ssim']:.3f} | "
              f"{_db(r['psnr_seen_db'])} | {_db(r['psnr_never_seen_db'])} | {r['never_seen_share']:.0%} | "
              f"{r['flicker']:.2f} | {r['fps']:.1f} |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    rows = evaluate()
    print(table(rows))
    print(json.dumps(rows), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
