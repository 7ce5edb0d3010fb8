"""SAM speed: the stock ``SamPredictor`` and trackedit's engine side by side on the same frames
(``python -m benchmarks.sam_speed``).

Random weights of the official shapes (checkpoints cannot be downloaded here; speed does
not depend on the weights). For each variant: image-embedding latency, and click→mask
latency on an embedded 1080p frame including upsampling the mask to 1080p. Ours is
measured in fp32 on CPU, and on CUDA in fp32, bf16 (autocast encoder) and bf16 + compile.
Prints a markdown table and writes JSON to ``benchmarks/results/sam-<date>.json``.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from editor.backends.device import pick_device
from editor.backends.sam import VARIANTS, SamEngine, build_sam

from .__main__ import ROOT


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn: Callable[[], object], device: torch.device, repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    _sync(device)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def frame_1080p() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (1080, 1920, 3), dtype=np.uint8)


def bench_variant(name: str, device: torch.device, repeat: int, modes: list[str]) -> list[dict[str, object]]:
    from segment_anything import SamPredictor

    torch.manual_seed(0)
    model = build_sam(VARIANTS[name]).to(device).eval()
    image = frame_1080p()
    point, label = np.array([[960.0, 540.0]]), np.array([1])
    rows = []

    stock = SamPredictor(copy.deepcopy(model))
    embed_ms = _time(lambda: stock.set_image(image), device, repeat)
    click_ms = _time(lambda: stock.predict(point, label, multimask_output=True), device, repeat * 3)
    rows.append({"variant": name, "impl": "stock SamPredictor fp32", "embed_ms": embed_ms, "click_ms": click_ms})
    del stock

    for mode in modes:
        precision = "fp32" if mode == "fp32" else "bf16"
        engine = SamEngine(copy.deepcopy(model), device, precision=precision, cache_size=1,
                           compile=mode == "bf16+compile")
        embed_ms = _time(lambda: (engine.clear_cache(), engine.embed(image)), device, repeat,
                         warmup=3 if "compile" in mode else 1)
        emb = engine.embed(image)
        click_ms = _time(lambda: engine.predict(emb, point, label), device, repeat * 3)
        rows.append({"variant": name, "impl": f"trackedit {mode}", "embed_ms": embed_ms, "click_ms": click_ms})
        del engine
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| variant | implementation | embedding ms | click→mask ms |", "|---|---|---|---|"]
    lines += [f"| {r['variant']} | {r['impl']} | {r['embed_ms']:.1f} | {r['click_ms']:.1f} |" for r in rows]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line (also parsed by the README test)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.sam_speed")
    ap.add_argument("--variants", nargs="+", default=None, help="default: vit_b on CPU, all three on CUDA")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=str, default=None, help="also write the rows here (the main runner uses it)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = torch.device(pick_device(args.device))
    cuda = device.type == "cuda"
    variants = args.variants or (["vit_b", "vit_l", "vit_h"] if cuda else ["vit_b"])
    modes = ["fp32", "bf16", "bf16+compile"] if cuda else ["fp32"]
    rows = []
    for name in variants:
        rows += bench_variant(name, device, args.repeat, modes)
    machine = torch.cuda.get_device_name(device) if cuda else f"{platform.processor() or platform.machine()} CPU " \
        f"({torch.get_num_threads()} threads)"
    when = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    print(f"SAM speed, {when}, {machine}, torch {torch.__version__}; 1920x1080 frame, click → mask at 1080p\n")
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"measured": when, "machine": machine, "rows": rows}, f)
    out = ROOT / "results" / f"sam-{when[:10]}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"measured": when, "machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"\nwritten {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
