"""SAM 2-family tracker speed and memory (``python -m benchmarks.sam2_speed``).

Random weights of the published shapes (:func:`editor.backends.sam2.synthetic.published_config`:
SAM 2.1 tiny…large, EdgeTAM; speed does not depend on weight values), the looped bunny clip
at 854×480 (or ``--height``), one object, through the tracker backend exactly as the engine
drives it (frames streamed one at a time). Every model runs in its own process, so each row's
peak RSS is its own; rows run side by side in one invocation, so their ratios hold on a busy
machine (CPU seconds per frame are reported besides wall-clock fps).

``--long N…``: one object over ``max(N)`` frames, recording after each N frames the process
RSS (and GPU memory) and what the streaming session keeps (tensors, bytes, frame entries):
flat from the first few frames on. On a CPU this uses the small 128 px test config
(``--long-model small``); the published shapes need a GPU for 10k frames
(``benchmarks/sam2_gpu.sh``).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import cv2
import numpy as np
import torch

from editor.backends.device import pick_device
from editor.backends.sam2.synthetic import PUBLISHED, published_config, random_model, small_config
from editor.backends.sam2.tracker import Sam2Tracker
from editor.video.reader import iter_frames, probe

from .__main__ import ROOT
from .inputs import make_clip
from .scenarios import peak_rss_kib
from .xmem_speed import current_rss_kib


def _object(h: int, w: int) -> dict[int, np.ndarray]:
    m = np.zeros((h, w), np.uint8)
    cv2.circle(m, (w // 2, h // 2), max(8, h // 6), 1, -1)
    return {1: m > 0}


def _model(name: str, device: str, compile: bool) -> object:
    config = small_config("sam2") if name == "small" else published_config(name)
    model = random_model(config, device=device)
    if compile:
        model.vision_encoder = torch.compile(model.vision_encoder)
    return model


def run(name: str, frames: int, height: int, device: str, precision: str, compile: bool) -> dict[str, object]:
    """One model: fps over ``frames`` frames after the prompted one (and a warm-up frame)."""
    clip, _ = make_clip(ROOT / "results" / "inputs", height, max(frames + 2, 30))
    model = _model(name, device, compile)
    track = Sam2Tracker(model, device, precision).new_pass(probe(clip), reverse=False)
    it = iter_frames(clip, keep_planes=False)
    first = next(it).as_8bit()
    track.step(first, _object(*first.image.shape[:2]))
    track.step(next(it).as_8bit(), {})  # warm-up (compilation, allocator)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start, cpu = time.perf_counter(), time.process_time()
    n = 0
    for frame in it:
        track.step(frame.as_8bit(), {})
        n += 1
        if n >= frames:
            break
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"model": name, "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "frames": n, "height": height, "device": device, "precision": precision, "compile": compile,
            "fps": n / seconds, "cpu_s_per_frame": (time.process_time() - cpu) / n,
            "peak_rss_mib": peak_rss_kib() / 1024,
            "peak_vram_mib": torch.cuda.max_memory_allocated() / 2 ** 20 if device.startswith("cuda") else None}


def long_run(checkpoints: list[int], name: str, height: int, device: str, precision: str) -> list[dict[str, object]]:
    """One object over ``max(checkpoints)`` frames of a looped clip; memory after each checkpoint."""
    clip, _ = make_clip(ROOT / "results" / "inputs", height, 300)
    frames = [f.as_8bit() for f in iter_frames(clip, keep_planes=False)]
    model = _model(name, device, False)
    track = Sam2Tracker(model, device, precision).new_pass(probe(clip), reverse=False)
    track.step(frames[0], _object(*frames[0].image.shape[:2]))
    rows = []
    start = time.perf_counter()
    for n in range(1, max(checkpoints) + 1):
        track.step(frames[n % len(frames)], {})
        if n in checkpoints:
            size = track.session.state_size()
            rows.append({"model": name, "frames": n, "height": height, "device": device,
                         "fps": n / (time.perf_counter() - start), "rss_mib": current_rss_kib() / 1024,
                         "peak_rss_mib": peak_rss_kib() / 1024,
                         "vram_mib": torch.cuda.memory_allocated() / 2 ** 20 if device.startswith("cuda") else None,
                         "state_tensors": size.tensors, "state_mib": size.bytes / 2 ** 20,
                         "state_frames": size.frames})
    return rows


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sam2_speed")
    ap.add_argument("--models", nargs="+", default=["sam2.1-tiny", "edgetam"], choices=[*PUBLISHED, "small"])
    ap.add_argument("--frames", type=int, default=5)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "fp16"])
    ap.add_argument("--compile", action="store_true", help="torch.compile the image encoder")
    ap.add_argument("--long", type=int, nargs="+", default=None, metavar="N",
                    help="instead: one object over max(N) frames, memory recorded after each N frames")
    ap.add_argument("--long-model", default="small", choices=[*PUBLISHED, "small"])
    ap.add_argument("--long-height", type=int, default=96)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a row in this process
    ap.add_argument("--json", type=str, default=None, help="also write the rows here")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = pick_device(args.device)
    if args.long:
        rows = long_run(sorted(args.long), args.long_model, args.long_height, device, args.precision)
        print(long_table(rows))
    elif args.one:
        rows = [run(args.models[0], args.frames, args.height, device, args.precision, args.compile)]
    else:
        rows = []
        for name in args.models:  # each in its own process: its own peak RSS
            cmd = [sys.executable, "-m", "benchmarks.sam2_speed", "--one", "--models", name, "--frames",
                   str(args.frames), "--height", str(args.height), "--device", device, "--precision", args.precision]
            out = subprocess.run(cmd + (["--compile"] if args.compile else []), capture_output=True, text=True,
                                 check=True)
            rows.append(json.loads(out.stderr.strip().splitlines()[-1])[0])
        print(table(rows))
    print(json.dumps(rows), file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f)
    return 0


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| model | params (M) | device | precision | compiled | height | frames | fps | CPU s/frame | "
             "peak RSS MiB | peak VRAM MiB |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        vram = f"{r['peak_vram_mib']:.0f}" if r["peak_vram_mib"] is not None else "-"
        lines.append(f"| {r['model']} | {r['params_m']} | {r['device']} | {r['precision']} | {r['compile']} | "
                     f"{r['height']} | {r['frames']} | {r['fps']:.2f} | {r['cpu_s_per_frame']:.2f} | "
                     f"{r['peak_rss_mib']:.0f} | {vram} |")
    return "\n".join(lines)


def long_table(rows: list[dict[str, object]]) -> str:
    lines = ["| model | device | height | frames | fps so far | RSS MiB | VRAM MiB | session tensors | "
             "session MiB | frame entries |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        vram = f"{r['vram_mib']:.0f}" if r["vram_mib"] is not None else "-"
        lines.append(f"| {r['model']} | {r['device']} | {r['height']} | {r['frames']:,} | {r['fps']:.1f} | "
                     f"{r['rss_mib']:.0f} | {vram} | {r['state_tensors']} | {r['state_mib']:.2f} | "
                     f"{r['state_frames']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
