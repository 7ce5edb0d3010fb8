"""Removal quality on synthetic clips with known background (``python -m benchmarks.removal``).

Real footage (a bigbuckbunny frame as the scene, the carphone face as the pasted object)
with a static and a panning camera; PSNR/SSIM inside the object's hole against the true
background, temporal fill (window 10) vs spatial-only fill (window 0, OpenCV Telea).
"""
from __future__ import annotations

import json
import sys
import time
from fractions import Fraction

import cv2
import numpy as np

from editor.evaluation.metrics import psnr, ssim
from editor.pipeline.plugin_manager import PluginManager
from editor.pipeline.presets import apply_overrides, build_stages, load_preset
from editor.api.stages import StageContext
from editor.evaluation.synthetic import PastedObjectClip, face_sprite
from editor.api.frames import VideoInfo
from editor.video.reader import iter_frames

from .inputs import footage


def evaluate() -> list[dict[str, object]]:
    src = footage()
    bg = next(f.image for f in iter_frames(src) if f.index == 5)
    bg = cv2.resize(bg, (640, 360), interpolation=cv2.INTER_AREA)
    face = next(iter(iter_frames(src.with_name("carphone_pristine.mp4")))).image
    sprite, mask = face_sprite(face)
    pm = PluginManager(external=False)
    rows = []
    for camera, pan in (("panning", 4.0), ("static", 0.0)):
        clip = PastedObjectClip(bg, sprite, mask, frames=40, pan=pan)
        video = VideoInfo("synthetic", clip.width, clip.height, 0, clip.frames, clip.frames, Fraction(25),
                          Fraction(1, 25), clip.frames / 25, "raw", "rgb24")
        for method, window in (("temporal (window 10)", 10), ("spatial only (Telea)", 0)):
            (stage,) = build_stages(apply_overrides(load_preset("remove"), [f"remove.window={window}"]), pm,
                                    StageContext(video, {1: "object"}))
            start = time.perf_counter()
            ps, ss = [], []
            for it in stage.run(clip.items()):
                hole = clip.frame(it.index)[1] > 0
                if hole.sum() > 100:
                    truth = clip.true_background(it.index)
                    ps.append(psnr(it.frame.image, truth, hole))
                    ss.append(ssim(it.frame.image, truth, hole))
            seconds = time.perf_counter() - start
            rows.append({"camera": camera, "method": method, "psnr_db": float(np.mean(ps)),
                         "ssim": float(np.mean(ss)), "fps": clip.frames / seconds,
                         "resolution": f"{clip.width}x{clip.height}"})
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| camera | method | PSNR in hole (dB) | SSIM in hole | fps (320x180) |", "|---|---|---|---|---|"]
    lines += [f"| {r['camera']} | {r['method']} | {r['psnr_db']:.1f} | {r['ssim']:.3f} | {r['fps']:.1f} |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    rows = evaluate()
    print(table(rows))
    print(json.dumps(rows), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
