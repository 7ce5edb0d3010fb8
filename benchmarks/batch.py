"""Batch throughput (``python -m benchmarks.batch``): eight short clips, one local worker vs two,
local worker processes vs Ray tasks on a Ray runtime started in-process (``--ray local``).

Two presets: ``blur`` from precomputed masks (decode → blur → encode, no tracking: the
lightest job, meant as the I/O-bound case — on a local disk it is CPU-bound too, since the
codecs' threads keep both cores busy) and ``blur`` tracked from one click (classical
backends: CPU-bound). Each
configuration runs the same eight jobs into a fresh folder through the library's executors
(what ``trackedit batch`` runs). ``wall`` is the time from submitting the first job to the last
result, worker start included; Ray's own start (``ray.init``) is listed apart, since a batch pays
it once. Per-video overhead: ``(wall × concurrency − Σ video seconds) / videos``, where a video's
seconds are measured inside its worker around the pipeline; Ray's overhead over local workers:
``(wall Ray − wall local, same concurrency) / videos``. ``load avg``: the machine's 1-minute load
average before and after each configuration (other work on a shared machine skews the ratios).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from .__main__ import ROOT
from .inputs import make_clip

CLIPS = 8


def _inputs(height: int, frames: int) -> tuple[list[Path], Path, Path]:
    """Eight copies of the looped bunny clip, its prompts and its tracked masks (tracked once)."""
    from editor.api.prompts import load_prompts
    from editor.pipeline.orchestrator import Pipeline, RunRequest

    clip, prompts = make_clip(ROOT / "results" / "inputs", height, frames)
    work = ROOT / "results" / "work" / f"batch-{height}p-{frames}"
    (work / "in").mkdir(parents=True, exist_ok=True)
    clips = []
    for k in range(CLIPS):
        dst = work / "in" / f"clip{k}.mp4"
        if not dst.exists():
            shutil.copyfile(clip, dst)
        clips.append(dst)
    masks = work / "masks"
    if not (masks / "objects.json").exists():
        shutil.rmtree(masks, ignore_errors=True)
        Pipeline().track(RunRequest(input=clip, prompts=load_prompts(prompts)), masks)
    return clips, prompts, masks


def _jobs(clips: list[Path], out: Path, prompts: Path | None, masks: Path | None) -> list[Any]:
    from editor.backends.assembly import BackendChoice
    from editor.batch import BatchJob, JobOptions, decide

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    options = JobOptions("blur", backends=BackendChoice("classic", "classic", "cpu"), external_plugins=False)
    jobs = []
    for clip in clips:
        job, result = decide(BatchJob(clip, out / clip.name, options, prompts, masks, cwd=Path.cwd()))
        assert result is None, result
        jobs.append(job)
    return jobs


def _measure(executor: Any, jobs: list[Any]) -> tuple[float, float, list[Any]]:
    start = time.perf_counter()
    with executor:
        opened = time.perf_counter()
        results = list(executor.run(jobs))
        end = time.perf_counter()
    failed = [r.error for r in results if r.status != "done"]
    assert not failed, failed
    return opened - start, end - opened, results


def collect(height: int = 240, frames: int = 48) -> list[dict[str, object]]:
    """One row per (preset, executor)."""
    from editor.batch import LocalExecutor, RayExecutor

    clips, prompts, masks = _inputs(height, frames)
    work = ROOT / "results" / "work" / f"batch-{height}p-{frames}"
    rows: list[dict[str, object]] = []
    for preset, kw in (("blur from masks (no tracking)", {"masks": masks}), ("blur tracked (CPU-bound)",
                                                                          {"prompts": prompts})):
        configs = [("local", 1, lambda: LocalExecutor(1)), ("local", 2, lambda: LocalExecutor(2)),
                   ("ray local", 2, lambda: RayExecutor("local", num_cpus=2))]
        base: dict[str, float] = {}
        for name, concurrency, make in configs:
            jobs = _jobs(clips, work / "out", kw.get("prompts"), kw.get("masks"))
            load = os.getloadavg()[0]
            startup, wall, results = _measure(make(), jobs)
            busy = sum(r.seconds for r in results)
            row: dict[str, object] = {
                "preset": preset, "executor": name, "concurrency": concurrency, "videos": len(results),
                "frames": sum(r.frames for r in results), "startup_s": startup, "wall_s": wall,
                "video_s": busy / len(results), "overhead_per_video_s": (wall * concurrency - busy) / len(results),
                "workers": len({r.worker for r in results}), "load_before": load, "load_after": os.getloadavg()[0]}
            if name == "local" and concurrency == 1:
                base["one"] = wall
            if name == "local" and concurrency == 2:
                base["two"] = wall
                row["speedup_vs_one"] = base["one"] / wall
            if name == "ray local":
                row["speedup_vs_one"] = base["one"] / wall
                row["ray_overhead_per_video_s"] = (wall - base["two"]) / len(results)
            rows.append(row)
            print(f"{preset:>28} {name:>9} ×{concurrency}: wall {wall:6.2f} s (+{startup:.2f} s start), "
                  f"{row['overhead_per_video_s']:.2f} s overhead/video", file=sys.stderr)
    shutil.rmtree(work / "out", ignore_errors=True)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| preset | executor | at a time | videos | frames | start s | wall s | s / video inside | "
             "overhead s / video | × one worker | Ray − local s / video | load avg |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        speed = f"{r['speedup_vs_one']:.2f}" if "speedup_vs_one" in r else ""
        ray = f"{r['ray_overhead_per_video_s']:+.2f}" if "ray_overhead_per_video_s" in r else ""
        lines.append(f"| {r['preset']} | {r['executor']} | {r['concurrency']} | {r['videos']} | {r['frames']} | "
                     f"{r['startup_s']:.2f} | {r['wall_s']:.2f} | {r['video_s']:.2f} | "
                     f"{r['overhead_per_video_s']:.2f} | {speed} | {ray} | "
                     f"{r['load_before']:.1f}–{r['load_after']:.1f} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.batch")
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--frames", type=int, default=48, help="frames per clip")
    ap.add_argument("--json", type=Path, help="also write the rows as JSON")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    rows = collect(args.height, args.frames)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
