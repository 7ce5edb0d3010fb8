"""Run the benchmarks: ``python -m benchmarks [--heights 480 1080] [--frames 300] [--markdown]``.

Every scenario runs in its own process (peak RSS per scenario) on the same clip, side by
side in one run, so ratios (pipeline ÷ plain transcode) are meaningful on noisy machines.
Prints a table, writes ``benchmarks/results/<date>-<host>.json`` and, with
``--markdown``, rewrites the generated section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from .inputs import make_clip, make_clip_10bit

ROOT = Path(__file__).resolve().parent
ORDER = ["decode", "transcode", "track", "edit_blur", "edit_pixelate", "edit_overlay", "edit_background",
         "edit_remove", "end_to_end", "people_background", "transcode_nvenc", "end_to_end_nvenc", "transcode_10bit",
         "edit_blur_10bit"]


def machine() -> dict[str, object]:
    import av
    import cv2
    import numpy

    info: dict[str, object] = {"host": platform.node(), "cpu": platform.processor() or platform.machine(),
                               "cores": os.cpu_count(), "python": platform.python_version(),
                               "av": av.__version__, "opencv": cv2.__version__, "numpy": numpy.__version__}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        info["gpu"] = None
    return info


def run_scenario(name: str, clip: Path, prompts: Path, work: Path) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.scenarios", name, str(clip), str(prompts), str(work)],
                         capture_output=True, text=True, cwd=ROOT.parent, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_json(module: str, args: list[str]) -> object:
    """Run a benchmark module in its own process and return what it wrote with ``--json``."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.json"
        subprocess.run([sys.executable, "-m", module, *args, "--json", str(path)], cwd=ROOT.parent, check=True,
                       stdout=subprocess.DEVNULL)
        return json.loads(path.read_text())


def run_models(frames: int) -> dict[str, object]:
    """SAM and XMem speed, each in its own process (its own peak RSS)."""
    sam = run_json("benchmarks.sam_speed", ["--repeat", "2"])
    print(f"{'SAM speed':>22}: done", file=sys.stderr)
    xmem = run_json("benchmarks.xmem_speed", ["--frames", str(frames)])
    print(f"{'XMem speed':>22}: done", file=sys.stderr)
    return {"sam": sam["rows"], "xmem": xmem}


def table(rows: list[dict[str, object]]) -> str:
    head = ("| clip | scenario | frames | seconds | fps | × transcode time | × transcode CPU | peak RSS MiB |\n"
            "|---|---|---|---|---|---|---|---|")
    lines = [head]
    for r in rows:
        ratio = f"{r['ratio_to_transcode']:.2f}" if r.get("ratio_to_transcode") is not None else ""
        cpu = f"{r['cpu_ratio_to_transcode']:.2f}" if r.get("cpu_ratio_to_transcode") is not None else ""
        lines.append(f"| {r['clip']} | {r['scenario']} | {r['frames']} | {r['seconds']:.1f} | {r['fps']:.1f} | "
                     f"{ratio} | {cpu} | {r['peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line (also parsed by the README test)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks")
    ap.add_argument("--heights", type=int, nargs="+", default=[480, 1080])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--scenarios", nargs="+", default=ORDER, choices=ORDER)
    ap.add_argument("--markdown", action="store_true", help="rewrite the generated part of BENCHMARKS.md")
    ap.add_argument("--note", default="", help="a line about the machine and run, printed under the header")
    ap.add_argument("--no-removal", dest="removal", action="store_false", help="skip the removal-quality table")
    ap.add_argument("--no-quality", dest="quality", action="store_false", help="skip the J&F table")
    ap.add_argument("--no-models", dest="models", action="store_false",
                    help="skip the SAM (stock vs ours) and XMem speed tables")
    ap.add_argument("--model-frames", type=int, default=10, help="frames per XMem speed row")
    ap.add_argument("--scaling", action="store_true",
                    help="also 1k vs 10k frames: pipeline at 480p and XMem memory at 96p (long: ~30 min on 2 cores)")
    ap.add_argument("--batch", action="store_true",
                    help="also `trackedit batch` throughput: 8 clips, 1 vs 2 local workers vs Ray local (~4 min)")
    ap.add_argument("--redaction", action="store_true",
                    help="also face redaction side by side with deface (benchmarks.redaction; ~20 min, installs deface "
                         "into its own environment under the cache folder)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results_dir = ROOT / "results"
    rows: list[dict[str, object]] = []
    for height in args.heights:
        clip, prompts = make_clip(results_dir / "inputs", height, args.frames)
        work = results_dir / "work" / f"{height}p_{args.frames}"
        bases: dict[str, float] = {}
        from editor.video.writer import nvenc_available

        from .scenarios import BASELINES, DEEP_SCENARIOS, GPU_SCENARIOS

        clip10 = make_clip_10bit(clip) if set(DEEP_SCENARIOS) & set(args.scenarios) else None
        for name in [s for s in ORDER if s in args.scenarios]:
            if name in GPU_SCENARIOS and not nvenc_available():
                continue
            deep = name in DEEP_SCENARIOS
            r = run_scenario(name, clip10 if deep and clip10 else clip, prompts, work)
            r["clip"] = f"bunny {height}p{' 10-bit' if deep else ''} × {args.frames}"
            if name.startswith("transcode"):
                bases[name] = float(r["seconds"])
                bases[name + ":cpu"] = float(r["cpu_seconds"])
            baseline = BASELINES.get(name, "transcode")
            ref, cpu_ref = bases.get(baseline), bases.get(baseline + ":cpu")
            r["ratio_to_transcode"] = (float(r["seconds"]) / ref) if ref and not name.startswith("transcode") else None
            r["cpu_ratio_to_transcode"] = (float(r["cpu_seconds"]) / cpu_ref) \
                if cpu_ref and not name.startswith("transcode") else None
            rows.append(r)
            print(f"{r['clip']:>22} {name:>11}: {r['fps']:7.1f} fps  {r['peak_rss_mib']:6.0f} MiB", file=sys.stderr)
    when = dt.datetime.now(dt.timezone.utc)
    from .removal import evaluate, table as removal_table

    removal = evaluate() if args.removal else []
    from .quality import evaluate as evaluate_quality, table as quality_table

    quality = evaluate_quality() if args.quality else []
    models = run_models(args.model_frames) if args.models else {}
    scaling: dict[str, object] = {}
    if args.scaling:
        from . import scaling as scaling_mod

        scaling["scaling"] = scaling_mod.collect([1000, 10000], 480, ["decode", "transcode", "edit_blur"])
        scaling["xmem_long"] = run_json("benchmarks.xmem_speed", ["--long", "1000", "10000"])
    batch_rows: list[dict[str, object]] = []
    if args.batch:
        from . import batch as batch_mod

        batch_rows = batch_mod.collect()
    redaction = None
    if args.redaction:
        from . import redaction as redaction_mod

        redaction = redaction_mod.collect(note=args.note)
    report = {"date": when.isoformat(timespec="seconds"), "machine": machine(), "note": args.note, "results": rows,
              "removal_quality": removal, "mask_quality": quality, **models, **scaling,
              **({"batch": batch_rows} if batch_rows else {}),
              **({"redaction": redaction_mod.to_json(redaction)} if redaction else {})}
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{when:%Y-%m-%d}-{platform.node()}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    text = table(rows)
    if removal:
        text += "\n\nObject removal quality (synthetic clips, true background known; benchmarks/removal.py):\n\n"
        text += removal_table(removal)
    if quality:
        text += "\n\nMask quality on the generated ground-truth clips (DAVIS J&F, first/last frames excluded):\n\n"
        text += quality_table(quality)
    if models:
        from . import sam_speed, xmem_speed

        text += ("\n\nSAM, stock `SamPredictor` vs trackedit on the same 1920x1080 frame (random weights of the "
                 "official shapes; click → mask includes upsampling to 1080p):\n\n" + sam_speed.table(models["sam"]))
        text += (f"\n\nXMem tracker at 854x480 (internal shorter side 480), synthetic weights, "
                 f"{args.model_frames} frames per row:\n\n" + xmem_speed.table(models["xmem"]))
    if scaling:
        from . import scaling as scaling_mod, xmem_speed

        text += ("\n\nLength scaling, looped bunny at 480p, 1k vs 10k frames, each scenario in its own process "
                 "(edit_blur uses the tracked masks of one loop period, repeated):\n\n"
                 + scaling_mod.table(scaling["scaling"]))
        text += ("\n\nXMem memory over length (one object, 96p so 10k frames fit in minutes on a CPU; memory "
                 "stores capped by the configuration):\n\n" + xmem_speed.long_table(scaling["xmem_long"]))
    if batch_rows:
        from . import batch as batch_mod

        text += ("\n\n`trackedit batch`, 8 clips of looped bunny at 240p × 48 frames, local worker processes vs Ray "
                 "tasks (`--ray local`):\n\n" + batch_mod.table(batch_rows))
    if redaction:
        text += "\n\nFace redaction vs deface (also written to its own section of BENCHMARKS.md):\n\n"
        text += redaction_mod.table(redaction)
    print(text)
    print(f"\nwritten {path}", file=sys.stderr)
    if args.markdown:
        write_markdown(report, text.split("\n\nFace redaction vs deface")[0])
        if redaction:
            redaction_mod.write_markdown(redaction, redaction_mod.table(redaction))
    return 0


BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"


def write_markdown(report: dict[str, object], text: str) -> None:
    md = ROOT.parent / "BENCHMARKS.md"
    m = report["machine"]
    note = f" {report['note']}" if report.get("note") else ""
    block = (f"{BEGIN}\nMeasured {report['date']} on {m['cpu']} ({m['cores']} cores), GPU: {m.get('gpu')}, "
             f"Python {m['python']}, PyAV {m['av']}, OpenCV {m['opencv']}.{note}\n\n{text}\n{END}")
    old = md.read_text() if md.exists() else ""
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + block + old[old.index(END) + len(END):]
    else:
        new = old + "\n" + block + "\n"
    md.write_text(new)


if __name__ == "__main__":
    sys.exit(main())
