"""Run batch jobs in local worker processes (``python -m editor.batch.worker``), a few at a time.

Each worker runs one video at a time and takes the next when it answers; a worker that dies
(a crash, the out-of-memory killer) fails only its own video, its partial output is removed
and a fresh worker takes its place. Closing the executor — normally, or because a stop signal
raised :class:`~editor.api.errors.Interrupted` in this process — sends SIGTERM to every
worker still running (each removes its own partial output, as ``trackedit run`` does), waits
for them (SIGKILL after :attr:`LocalExecutor.stop_timeout` seconds) and then removes whatever a
killed worker left.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from editor.api.errors import TrackeditError
from editor.api.files import make_scratch_dir
from editor.batch.jobs import BatchJob, JobResult, cleanup_unfinished, failed
from editor.batch.worker import encode_job


def default_workers() -> int:
    """``min(cores, available GiB // 3)``, at least 1: one video needs up to ~3 GiB with model backends."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    available = _available_bytes()
    by_memory = int(available / 2 ** 30 // 3) if available else cores
    return max(1, min(cores, by_memory))


def _available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


@dataclass
class _Worker:
    proc: subprocess.Popen[str]
    log: Path
    reader: threading.Thread | None = None
    job: BatchJob | None = None
    frames: int = 0
    ready: bool = False


class LocalExecutor:
    """Up to ``workers`` worker processes on this machine. Use as a context manager around
    :meth:`run`."""

    stop_timeout = 30.0

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._live: list[_Worker] = []
        self._events: queue.Queue[tuple[_Worker, dict[str, Any] | None]] = queue.Queue()
        self._scratch: Path | None = None

    def __enter__(self) -> "LocalExecutor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- workers ---------------------------------------------------------------------------
    def _start(self) -> _Worker:
        if self._scratch is None:
            self._scratch = make_scratch_dir("batch")
        log = self._scratch / f"worker-{len(os.listdir(self._scratch))}.log"
        with open(log, "w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "editor.batch.worker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=err, text=True, encoding="utf-8", bufsize=1)
        worker = _Worker(proc, log)
        worker.reader = threading.Thread(target=self._read, args=(worker, proc.stdout), name="batch-worker-reader",
                                         daemon=True)
        worker.reader.start()
        self._live.append(worker)
        return worker

    def _read(self, worker: _Worker, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            self._events.put((worker, message))
        self._events.put((worker, None))

    def _give(self, worker: _Worker, job: BatchJob) -> None:
        worker.job, worker.frames = job, 0
        assert worker.proc.stdin is not None
        try:
            worker.proc.stdin.write(encode_job(job) + "\n")
            worker.proc.stdin.flush()
        except OSError:  # it just died: its end of output follows, and the job is reported failed then
            pass

    def _died(self, worker: _Worker) -> JobResult | None:
        """A worker ended: the failed result of the job it had, if any. A worker that ended before
        it was ready is a broken installation, not a video's fault: :class:`TrackeditError`."""
        code = worker.proc.wait()
        self._live.remove(worker)
        _close(worker)
        how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        last = _last_line(worker.log)
        job = worker.job
        if not worker.ready:
            raise TrackeditError(f"a batch worker process did not start ({how}){': ' + last if last else ''}")
        if job is None:
            return None
        cleanup_unfinished(job)
        return failed(job, f"{job.input}: the worker process stopped ({how}){': ' + last if last else ''}",
                      worker=f"{socket.gethostname()}:{worker.proc.pid}")

    # -- the batch -------------------------------------------------------------------------
    def run(self, jobs: Sequence[BatchJob], on_frames: Callable[[int], None] | None = None) -> Iterator[JobResult]:
        """Run ``jobs`` and yield each result as it completes. ``on_frames(n)``: ``n`` more
        frames were written (all workers together)."""
        pending = deque(jobs)
        for _ in range(min(self.workers, len(pending))):
            self._start()
        running = 0
        while pending or running:
            try:
                worker, message = self._events.get(timeout=0.5)  # timeouts keep stop signals prompt
            except queue.Empty:
                continue
            result: JobResult | None = None
            if message is None:  # the worker's stdout closed: it ended
                was_busy = worker.job is not None
                result = self._died(worker)
                running -= was_busy
                if pending and len(self._live) < min(self.workers, len(pending) + running):
                    self._start()
            elif message.get("type") == "ready":
                worker.ready = True
            elif message.get("type") == "frames":
                n = int(message.get("n", 0))
                if on_frames is not None and n > worker.frames:
                    on_frames(n - worker.frames)
                worker.frames = max(worker.frames, n)
            elif message.get("type") == "result":
                result = JobResult.from_dict(message["result"])
                if on_frames is not None and result.frames > worker.frames:
                    on_frames(result.frames - worker.frames)
                worker.job = None
                running -= 1
            if worker.job is None and worker.ready and worker in self._live:  # next job first, then report
                if pending:
                    self._give(worker, pending.popleft())
                    running += 1
                else:
                    self._retire(worker)
            if result is not None:
                yield result

    def _retire(self, worker: _Worker) -> None:
        """No more jobs for this worker: end of input ends it."""
        try:
            assert worker.proc.stdin is not None
            worker.proc.stdin.close()
        except OSError:
            pass

    def close(self) -> None:
        """Stop every worker (SIGTERM, then SIGKILL after :attr:`stop_timeout`), wait for them and
        remove what unfinished jobs left; remove the workers' log folder."""
        import shutil
        import time

        live = [w for w in self._live if w.proc.poll() is None]
        for w in live:
            if w.job is not None:
                w.proc.send_signal(signal.SIGTERM)
            else:
                self._retire(w)
        deadline = time.monotonic() + self.stop_timeout
        for w in live:
            try:
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.proc.kill()
                w.proc.wait()
        for w in self._live:
            w.proc.wait()
            if w.job is not None:
                cleanup_unfinished(w.job)
            _close(w)
        self._live.clear()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None


def _close(worker: _Worker) -> None:
    """Close the pipes of an ended worker (its reader thread ends at end of output first)."""
    if worker.reader is not None and worker.reader is not threading.current_thread():
        worker.reader.join(5)
    for stream in (worker.proc.stdin, worker.proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


def _last_line(log: Path) -> str:
    try:
        lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return " ".join(lines[-1].split())[:300] if lines else ""
