"""Where a scenario's CPU time goes, thread by thread (``python -m benchmarks.thread_cpu``).

Runs one scenario of :mod:`benchmarks.scenarios` in this process (after the same imports
the scenario's own process makes) while a sampler reads every thread's user + system CPU
time from ``/proc/self/task/*/stat`` every ``interval`` seconds (Linux only). Python
threads are named by their ``threading`` name (``trackedit-detect-0``, ``trackedit-track``…,
the main thread ``MainThread``); native threads by their kernel name (``av:h264:df0`` for
FFmpeg's decoder threads; x264's encoder threads, OpenCV's and LiteRT's workers inherit the
process's name, ``python``). A thread that ends between two samples loses at most one
interval of CPU time; the table gives the process's own total (``getrusage``) beside the
threads' sum.

``--profile DIR``: also a cProfile of every Python thread timed by that thread's own CPU
clock (``time.thread_time``), one ``DIR/<thread>.pstats`` each (threads of the same name
together), to read with :mod:`pstats`.

Example: ``python -m benchmarks.thread_cpu people_background --height 720 --frames 120``
(the clip of :mod:`benchmarks.people_speed`).
"""
from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import scenarios
from .inputs import make_people_clip


@dataclass
class ThreadSampler:
    """CPU seconds of every thread of this process, read every ``interval`` seconds.

    ``seconds``: thread id → (name, CPU seconds at its last sample). Names: a Python thread's
    ``threading`` name, else the kernel's (``comm``)."""

    interval: float = 0.05
    seconds: dict[int, tuple[str, float]] = field(default_factory=dict)
    _names: dict[int, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> None:
        """Read every thread's CPU time now (the sampler thread does every ``interval``)."""
        tick = os.sysconf("SC_CLK_TCK")
        for t in threading.enumerate():
            if t.native_id is not None:
                self._names[t.native_id] = t.name
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    stat = f.read()
            except OSError:  # ended meanwhile
                continue
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            cpu = (int(fields[11]) + int(fields[12])) / tick  # utime, stime (clock ticks)
            self.seconds[int(tid)] = (self._names.get(int(tid), comm), cpu)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> ThreadSampler:
        self.sample()
        self._thread = threading.Thread(target=self._run, name="thread-cpu-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sample()
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def by_name(self, since: dict[int, tuple[str, float]] | None = None) -> dict[str, float]:
        """CPU seconds per thread name (threads of one name summed; the sampler left out),
        less what each thread had at ``since`` (a copy of :attr:`seconds` taken earlier)."""
        out: dict[str, float] = {}
        for tid, (name, cpu) in self.seconds.items():
            if name == "thread-cpu-sampler":
                continue
            before = since.get(tid, (name, 0.0))[1] if since else 0.0
            out[name] = out.get(name, 0.0) + cpu - before
        return out


def _profiled_threads(profiles: dict[str, list[cProfile.Profile]]) -> None:
    """Every Python thread started from now on runs under its own cProfile (thread CPU clock)."""
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        profile = cProfile.Profile(time.thread_time)
        profile.enable()
        try:
            original(self)
        finally:
            profile.disable()
            profiles.setdefault(self.name, []).append(profile)

    threading.Thread.run = run  # type: ignore[method-assign]


def measure(name: str, clip: Path, work: Path, profile_dir: Path | None = None) -> dict[str, object]:
    """Run scenario ``name`` on ``clip`` here; its CPU seconds per thread name and in all."""
    prompts = work / "no-prompts.json"
    prompts.write_text("{}")
    scenarios._imports(name)
    profiles: dict[str, list[cProfile.Profile]] = {}
    main = cProfile.Profile(time.thread_time) if profile_dir is not None else None
    if profile_dir is not None:
        _profiled_threads(profiles)
    start = resource.getrusage(resource.RUSAGE_SELF)
    with ThreadSampler() as sampler:
        before = dict(sampler.seconds)
        if main is not None:
            main.enable()
        frames = scenarios.SCENARIOS[name](clip, prompts, work)
        if main is not None:
            main.disable()
    end = resource.getrusage(resource.RUSAGE_SELF)
    if profile_dir is not None and main is not None:
        profile_dir.mkdir(parents=True, exist_ok=True)
        profiles.setdefault("MainThread", []).append(main)
        for thread, runs in profiles.items():
            stats = pstats.Stats(runs[0])
            for extra in runs[1:]:
                stats.add(extra)
            stats.dump_stats(str(profile_dir / f"{thread}.pstats"))
    return {"scenario": name, "frames": frames,
            "cpu_seconds": (end.ru_utime - start.ru_utime) + (end.ru_stime - start.ru_stime),
            "threads": dict(sorted(sampler.by_name(before).items(), key=lambda kv: -kv[1]))}


def table(result: dict[str, object]) -> str:
    threads: dict[str, float] = result["threads"]  # type: ignore[assignment]
    total = float(result["cpu_seconds"])  # type: ignore[arg-type]
    lines = [f"{result['scenario']}: {result['frames']} frames, {total:.2f} CPU-s (getrusage), "
             f"{sum(threads.values()):.2f} summed over threads", "",
             "| thread | CPU seconds | share |", "|---|---|---|"]
    lines += [f"| {name} | {cpu:.2f} | {cpu / total:.0%} |" for name, cpu in threads.items() if cpu >= 0.01]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line (also parsed by the README test)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.thread_cpu")
    ap.add_argument("scenario", choices=sorted(scenarios.SCENARIOS))
    ap.add_argument("--clip", type=Path, help="the video (default: the cyclist clip of benchmarks.people_speed)")
    ap.add_argument("--height", type=int, default=720, help="the default clip's height")
    ap.add_argument("--frames", type=int, default=120, help="the default clip's frames")
    ap.add_argument("--profile", type=Path, help="write a cProfile per Python thread into this folder")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = args.clip or make_people_clip(work, args.height, args.frames)
        print(table(measure(args.scenario, clip, work, args.profile)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
