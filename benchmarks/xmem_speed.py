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

from editor.backends.device import pick_device
from editor.video.reader import iter_frames, probe
from editor.backends.xmem.synthetic import synthetic_network
from editor.backends.xmem.tracker import XMemTracker

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


def long_run(checkpoints: list[int], height: int, device: str) -> list[dict[str, object]]:
    """One object tracked over ``max(checkpoints)`` frames of a looped low-resolution clip;
    RSS / VRAM and memory-store sizes recorded at each checkpoint (flat = bounded memory)."""
    clip, _ = make_clip(ROOT / "results" / "inputs", height, 300)
    net = synthetic_network().to(device)
    tracker = XMemTracker(net, internal_size=height)
    info = probe(clip)
    p = tracker.new_pass(info, reverse=False)
    frames = list(iter_frames(clip))  # 300 small frames, looped
    p.step(frames[0], _objects(frames[0].height, frames[0].width, 1))
    rows = []
    start = time.perf_counter()
    for n in range(1, max(checkpoints) + 1):
        p.step(frames[n % len(frames)], {})
        if n in checkpoints:
            mem = p._core.memory
            rows.append({"frames": n, "height": height, "device": device,
                         "fps": n / (time.perf_counter() - start), "rss_mib": current_rss_kib() / 1024,
                         "peak_rss_mib": peak_rss_kib() / 1024,
                         "vram_mib": torch.cuda.memory_allocated() / 2 ** 20 if device.startswith("cuda") else None,
                         "working_memory_elements": mem.work_mem.size, "long_term_elements": mem.long_mem.size})
    return rows


def current_rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def build_parser() -> argparse.ArgumentParser:
    """The command line (also parsed by the README test)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.xmem_speed")
    ap.add_argument("--objects", type=int, nargs="+", default=[1, 3, 8])
    ap.add_argument("--frames", type=int, default=30)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--long", type=int, nargs="+", default=None, metavar="N",
                    help="instead: one object over max(N) frames, memory recorded after each N frames")
    ap.add_argument("--long-height", type=int, default=96)
    ap.add_argument("--json", type=str, default=None, help="also write the rows here (the main runner uses it)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = pick_device(args.device)
    if args.long:
        rows = long_run(sorted(args.long), args.long_height, device)
        print(long_table(rows))
    else:
        rows = [run(k, args.frames, args.height, device) for k in args.objects]
        print(table(rows))
    print(json.dumps(rows), file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f)
    return 0


def long_table(rows: list[dict[str, object]]) -> str:
    lines = ["| device | height | frames | fps so far | RSS MiB | VRAM MiB | working-memory elements | "
             "long-term elements |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        vram = f"{r['vram_mib']:.0f}" if r["vram_mib"] is not None else "-"
        lines.append(f"| {r['device']} | {r['height']} | {r['frames']:,} | {r['fps']:.1f} | {r['rss_mib']:.0f} | {vram} | "
                     f"{r['working_memory_elements']} | {r['long_term_elements']} |")
    return "\n".join(lines)


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| device | objects | frames | fps | peak RSS MiB | peak VRAM MiB |", "|---|---|---|---|---|---|"]
    for r in rows:
        vram = f"{r['peak_vram_mib']:.0f}" if r["peak_vram_mib"] is not None else "-"
        lines.append(f"| {r['device']} | {r['objects']} | {r['frames']} | {r['fps']:.2f} | "
                     f"{r['peak_rss_mib']:.0f} | {vram} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
