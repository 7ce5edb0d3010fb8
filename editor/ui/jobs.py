"""Long operations (tracking, rendering) off the request thread, with progress and pause."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from editor.api.errors import TrackeditError

log = logging.getLogger(__name__)

INTERNAL_ERROR = "internal error (see the server log)"
"""What the page is told of a failure that is a bug, not something the user can act on."""


@dataclass
class Job:
    """A background job; ``work(job)`` reports with ``job.progress(...)`` and checks ``job.stopped``."""

    kind: str
    state: str = "running"  # running | paused | done | failed
    done: int = 0
    total: int = 0
    frame: int | None = None
    error: str | None = None
    note: str | None = None
    """A line for the person about the result (e.g. what detection found)."""
    phase: str | None = None
    """What the job is doing before its first frame (e.g. "exporting masks"), shown with the
    elapsed time so that the page says something from the first second."""
    step: str | None = None
    """What ``done``/``total`` count, for a job of several steps (detect: "detecting", then
    "tracking"): each step counts its own frames, from 0 to its fixed total (:meth:`begin`)."""
    started: float = field(default_factory=time.monotonic)
    """When the job started (:func:`time.monotonic`, s)."""
    step_started: float | None = None
    """When the current step began (the time left is its rate's)."""
    ended: float | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def progress(self, done: int, total: int, frame: int | None = None) -> None:
        self.done, self.total, self.frame = done, total, frame
        self.phase = None

    def begin(self, step: str, total: int) -> None:
        """A new step of ``total`` frames: the count starts again at 0."""
        self.step, self.done, self.total, self.step_started = step, 0, total, time.monotonic()

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left in the step at its rate so far (``None`` before the first frame or when done)."""
        if self.state != "running" or self.done <= 0 or self.total <= self.done:
            return None
        elapsed = (time.monotonic() if now is None else now) - (self.step_started or self.started)
        return elapsed / self.done * (self.total - self.done)

    def pause(self) -> None:
        self._stop.set()

    def start(self, work: Callable[["Job"], None]) -> "Job":
        def run() -> None:
            try:
                work(self)
                self.state = "paused" if self.stopped else "done"
            except TrackeditError as exc:  # the user can act on it: shown in the page as one line
                self.error = str(exc)
                self.state = "failed"
                log.warning("%s job failed: %s", self.kind, exc)
            except Exception:  # a bug: the traceback goes to the server log
                self.error = INTERNAL_ERROR
                self.state = "failed"
                log.exception("%s job failed", self.kind)
            self.ended = time.monotonic()

        self._thread = threading.Thread(target=run, name=f"trackedit-ui-{self.kind}", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def to_json(self) -> dict[str, object]:
        """The job for the page: ``elapsed`` and ``eta`` in seconds (``eta`` ``None`` until
        the first step), ``phase`` a line while nothing is counted yet."""
        now = time.monotonic()
        eta = self.eta(now)
        return {"kind": self.kind, "state": self.state, "done": self.done, "total": self.total,
                "frame": self.frame, "error": self.error, "note": self.note, "phase": self.phase, "step": self.step,
                "elapsed": round((self.ended or now) - self.started, 1),
                "eta": None if eta is None else round(eta, 1)}
