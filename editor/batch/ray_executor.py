"""Run batch jobs as Ray tasks: on a cluster (an address, or ``auto``: ``RAY_ADDRESS`` or the
cluster running on this machine) or on a Ray runtime started in this process (``local``).

Each video is one task running :func:`~editor.batch.jobs.run_job` with ``num_cpus`` /
``num_gpus`` resources, so Ray places model work on GPU nodes when ``gpus`` is set; a task is
never retried (a failure is the video's row). Every node must have trackedit installed and see
the inputs, prompts and output folder at the same paths (shared storage); each node resolves
the models folder itself (:func:`~editor.batch.jobs.node_models_dir`, once per worker process).

Ray is optional (``pip install -e ".[ray]"``) and imported only here, only when a Ray executor
is opened. Closing the executor after a stop signal cancels the tasks not yet finished
(running ones get ``KeyboardInterrupt`` and remove their partial output), waits for them, and
shuts down a runtime it started.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from editor.api.errors import TrackeditError
from editor.batch.jobs import BatchJob, JobResult, cleanup_unfinished, failed, run_job

INSTALL_HINT = 'pip install -e ".[ray]"'


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


def require_ray() -> None:
    """One-line :class:`TrackeditError` when Ray is not installed."""
    if not ray_available():
        raise TrackeditError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}")


def _ray_task(job: BatchJob) -> JobResult:
    """The task body (module level, so workers import it by name)."""
    return run_job(job)


def _token_available() -> bool:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(path).is_file() if path else (Path.home() / ".ray" / "auth_token").is_file()


def _unwrapped(call: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """``call(*args, **kw)``, re-raising a stop signal's exception as itself: raised by a signal
    handler inside Ray's compiled code it reaches Python as ``SystemError`` ("returned a result
    with an exception set") with the original as its cause."""
    try:
        return call(*args, **kw)
    except SystemError as exc:
        inner = exc.__cause__ or exc.__context__
        if inner is not None and not isinstance(inner, Exception):  # Interrupted, KeyboardInterrupt
            raise inner from None
        raise


class RayExecutor:
    """Ray tasks, at most ``max_in_flight`` at a time (``None``: all submitted at once; the
    cluster's resources decide how many run)."""

    cancel_timeout = 30.0

    def __init__(self, address: str = "auto", *, cpus: float = 1.0, gpus: float = 0.0,
                 max_in_flight: int | None = None, num_cpus: int | None = None) -> None:
        self.address = address
        self.cpus, self.gpus = cpus, gpus
        self.max_in_flight = max_in_flight
        self.num_cpus = num_cpus
        """CPUs of a ``local`` runtime (``None``: all of this machine's)."""
        self.started = False
        self._ray: Any = None
        self._running: dict[Any, BatchJob] = {}
        self.startup_seconds = 0.0

    def __enter__(self) -> "RayExecutor":
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        require_ray()
        if self.address != "local" and "ray" not in sys.modules and "RAY_AUTH_MODE" not in os.environ \
                and _token_available():
            # What Ray does for a cluster it starts itself: with a token at hand, use token auth
            # (a cluster without authentication accepts such clients too). Read when ray is imported.
            os.environ["RAY_AUTH_MODE"] = "token"
        import ray

        self._ray = ray
        if self.address != "local":
            self._check_reachable()
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        start = time.perf_counter()
        kw: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        try:
            if self.address == "local":
                ray.init(address="local", num_cpus=self.num_cpus, include_dashboard=False, **kw)
                self.started = True
            else:
                ray.init(address=self.address, **kw)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            if self.address == "local":
                raise TrackeditError(f"--ray local: cannot start a Ray runtime: {message}") from exc
            where = "RAY_ADDRESS or a cluster on this machine" if self.address == "auto" else self.address
            raise TrackeditError(f"--ray {self.address}: cannot connect to a Ray cluster ({where}): {message}") \
                from exc
        except BaseException:  # a stop signal while starting: leave nothing running
            if ray.is_initialized():
                ray.shutdown()
            raise
        finally:  # ray.init installs its own SIGTERM handler: the caller's rule stays in force
            for sig, handler in handlers.items():
                if handler is not None:
                    signal.signal(sig, handler)
        self.startup_seconds = time.perf_counter() - start

    def _check_reachable(self) -> None:
        """A one-line error at once when nothing listens where Ray would connect (a typo, a stopped
        cluster that ``auto`` still remembers), instead of Ray's minutes of retries."""
        import socket

        if self.address.startswith("ray://"):
            return
        try:
            from ray._private.services import canonicalize_bootstrap_address_or_die
        except ImportError:  # another Ray layout: let ray.init find out
            return
        what = "RAY_ADDRESS, else the cluster last started on this machine" if self.address == "auto" else None
        try:
            target = canonicalize_bootstrap_address_or_die(self.address)
        except (ConnectionError, ValueError) as exc:
            message = " ".join(str(exc).split())
            raise TrackeditError(f"--ray {self.address}: {message}") from exc
        host, _, port = target.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
                pass
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            where = f" ({what})" if what else ""
            raise TrackeditError(f"--ray {self.address}: no Ray cluster answers at {target}{where}: {reason}") \
                from exc

    def run(self, jobs: Sequence[BatchJob], on_frames: Callable[[int], None] | None = None) -> Iterator[JobResult]:
        """Submit ``jobs`` as tasks and yield each result as it completes; ``on_frames(n)`` when a
        video with ``n`` frames is done (tasks report no progress while they run)."""
        ray = self._ray
        task = ray.remote(_ray_task).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=0,
                                             retry_exceptions=False)
        queued = list(reversed(jobs))
        limit = self.max_in_flight or len(jobs)
        while queued or self._running:
            while queued and len(self._running) < limit:
                job = queued.pop()
                self._running[task.remote(job)] = job
            ready, _ = _unwrapped(ray.wait, list(self._running), num_returns=1, timeout=0.5)  # signals prompt
            for ref in ready:
                job = self._running.pop(ref)
                try:
                    result = _unwrapped(ray.get, ref)
                except ray.exceptions.RayError as exc:  # the worker died, the node went away…
                    cleanup_unfinished(job)
                    text = " ".join(str(exc).split())[:300] or type(exc).__name__
                    result = failed(job, f"{job.input}: the Ray task failed: {text}")
                if on_frames is not None and result.frames:
                    on_frames(result.frames)
                yield result

    def close(self) -> None:
        """Cancel unfinished tasks and wait for them (up to :attr:`cancel_timeout` s), then
        disconnect (or shut down the runtime this executor started)."""
        ray = self._ray
        if ray is None:
            return
        try:
            if self._running:
                refs = list(self._running)
                for ref in refs:
                    ray.cancel(ref, force=False)
                deadline = time.monotonic() + self.cancel_timeout
                remaining = refs
                while remaining and time.monotonic() < deadline:
                    _, remaining = ray.wait(remaining, num_returns=len(remaining), timeout=0.5)
                if remaining:  # still running after the grace period
                    for ref in remaining:
                        ray.cancel(ref, force=True)
        finally:
            ray.shutdown()
            self._ray = None
            for job in self._running.values():
                cleanup_unfinished(job)
            self._running.clear()
