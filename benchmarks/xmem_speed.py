"""XMem tracker speed and memory (``python -m benchmarks.xmem_speed``).

Deterministic synthetic weights (real checkpoints cannot be downloaded here; speed does not
depend on the weights), the looped bunny clip at 854x480, 1/3/8 objects, through the
tracker backend (internal shorter side 480). Also a long run at low resolution to show
memory staying flat as the video grows.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import cv2
import numpy as np
import torch

from editor.device import pick_device
from editor.video.reader import iter_frames, probe
from editor.xmem.synthetic import synthetic_network
from editor.xmem_tracker import XMemTracker

from .inputs import make_clip
from .scenarios import peak_rss_kib
from .__main__ import ROOT


def _objects(h: int, w: int, n: int) -> dict[int, np.ndarray]:
    out = {}
    for k in range(n):
        m = np.zeros((h, w), np.uint8)
        cv2.circle(m, (int(w * (k + 1) / (n + 1)), h // 2), max(8, h // (2 * n + 4)), 1, -1)
        out[k + 1] = m > 0
    return out


def run(objects: int, frames: int, height: int, device: str) -> dict[str, object]:
    clip, _ = make_clip(ROOT / "results" / "inputs", height, max(frames, 300))
    net = synthetic_network().to(device)
    tracker = XMemTracker(net)
    it = iter_frames(clip)
    first = next(it)
    p = tracker.new_pass(probe(clip), reverse=False)
    p.step(first, _objects(first.height, first.width, objects))
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    start = time.perf_counter()
    n = 0
    for frame in it:
        p.step(frame, {})
        n += 1
        if n >= frames:
            break
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"objects": objects, "frames": n, "height": height, "device": device, "fps": n / seconds,
            "peak_rss_mib": peak_rss_kib() / 1024,
            "peak_vram_mib": torch.cuda.max_memory_allocated() / 2 ** 20 if device.startswith("cuda") else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.xmem_speed")
    ap.add_argument("--objects", type=int, nargs="+", default=[1, 3, 8])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args(argv)
    device = pick_device(args.device)
    rows = [run(k, args.frames, args.height, device) for k in args.objects]
    print("| device | objects | frames | fps | peak RSS MiB | peak VRAM MiB |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['device']} | {r['objects']} | {r['frames']} | {r['fps']:.2f} | {r['peak_rss_mib']:.0f} | "
              f"{r['peak_vram_mib'] if r['peak_vram_mib'] is not None else '-'} |")
    print(json.dumps(rows), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
