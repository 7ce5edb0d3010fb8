"""A local batch worker process: ``python -m editor.batch.worker``.

It reads jobs from stdin (one line each: base64 of a pickled :class:`~editor.batch.jobs.BatchJob`),
runs each with :func:`~editor.batch.jobs.run_job` and answers on its original stdout with JSON
lines: ``{"type": "frames", "n": N}`` while a video is written and ``{"type": "result", ...}``
when it is done. Anything else that writes to stdout is sent to stderr instead. End of stdin
ends the worker.

SIGTERM, SIGINT and SIGHUP raise :class:`~editor.api.errors.Interrupted` in the running job,
exactly as the ``trackedit`` command does, so its partial output and scratch folder are
removed on the way out; the worker then exits with 128 + the signal number.
"""
from __future__ import annotations

import base64
import json
import os
import pickle
import signal
import sys
import time
from typing import Any, TextIO

from editor.api.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
FRAME_INTERVAL = 0.2
"""Seconds between frame-count messages."""


def _on_stop_signal(signum: int, frame: Any) -> None:  # the CLI's rule: one stop, then cleanup undisturbed
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


def encode_job(job: Any) -> str:
    return base64.b64encode(pickle.dumps(job)).decode("ascii")


def decode_job(line: str) -> Any:
    return pickle.loads(base64.b64decode(line))


def _send(out: TextIO, message: dict[str, Any]) -> None:
    out.write(json.dumps(message) + "\n")
    out.flush()


def serve(jobs: TextIO, out: TextIO) -> None:
    from editor.batch.jobs import run_job

    _send(out, {"type": "ready", "pid": os.getpid()})
    for line in jobs:
        if not line.strip():
            continue
        job = decode_job(line)
        last = [0.0]

        def on_frame(n: int) -> None:
            now = time.monotonic()
            if now - last[0] >= FRAME_INTERVAL:
                last[0] = now
                _send(out, {"type": "frames", "n": n})
        result = run_job(job, on_frame)
        _send(out, {"type": "result", "result": result.to_dict()})


def main() -> int:
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_stop_signal)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints (C libraries too) go to stderr
    try:
        serve(sys.stdin, out)
    except Interrupted as exc:
        return 128 + exc.signum
    except BrokenPipeError:  # the batch is gone
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
