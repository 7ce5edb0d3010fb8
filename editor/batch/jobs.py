"""Batch jobs: what one video's run is (:class:`BatchJob`), what came of it (:class:`JobResult`),
whether it can be skipped (:func:`decide`) and the one function that runs it (:func:`run_job`),
used alike by the local worker processes and by Ray tasks.

Resuming: beside each output ``OUT`` a small hidden record ``.OUT.trackedit.json`` holds the
job's fingerprint (input size and mtime, preset with its overrides, prompts or masks content,
encoding and backend options, trackedit's version) and, once the output is complete, the
output's size and mtime and the side outputs the run wrote beside it (export-masks' folder).
A rerun skips a job whose output exists, unchanged since its record was written, whose side
outputs all exist, with the same fingerprint. A record also marks the output as the batch's own: a
job whose options changed replaces it without ``--overwrite``; an output that has no record
(made by something else) is only replaced with ``overwrite``.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from editor import __version__
from editor.api import limits
from editor.api.errors import OutputError, TrackeditError
from editor.api.files import before_commit, check_output, remove_stale_partials, write_text
from editor.backends.assembly import BackendChoice
from editor.batch.folders import CreatedFolders
from editor.detection.options import DetectOptions

log = logging.getLogger(__name__)

DONE, FAILED, SKIPPED = "done", "failed", "skipped"

NOTHING_TO_EDIT = ("nothing to edit: give the objects with --prompts FILE (clicks, boxes or masks; "
                   "`trackedit ui` writes one), --detect faces (found automatically) or --masks DIR "
                   "(from `trackedit track`)")
"""The error of a video without prompts or masks: the words ``trackedit run`` uses (tested)."""

RECORD_VERSION = 1


@dataclass(frozen=True)
class JobOptions:
    """The options of a run that a batch shares (and a manifest row may override): the preset
    (a built-in name or an absolute ``.toml`` path) and its ``--set`` overrides, encoding, backends."""

    preset: str
    overrides: tuple[str, ...] = ()
    codec: str = "auto"
    crf: int = 18
    encoder_preset: str = "medium"
    pix_fmt: str = "auto"
    container: str | None = None
    audio: bool = True
    subtitles: bool = True
    backends: BackendChoice = field(default_factory=BackendChoice)
    detect_cuts: bool = True
    bidirectional: bool = False
    external_plugins: bool = True
    detect: DetectOptions | None = None
    """``--detect``: objects found automatically in every video (with its prompts, if any)."""
    video_stream: int | None = None
    """``--video-stream``: the video stream edited in every video (default: each one's default)."""
    extra_video: bool = True
    """Copy the video streams that are not edited (``--no-extra-video``: drop them)."""
    deinterlace: str | None = None
    """``--deinterlace bwdif|yadif``."""
    max_pixels: int | None = None
    """The frame-size limit in force where the batch was started (``--max-pixels``,
    :mod:`editor.api.limits`), applied by every worker — a Ray node does not inherit the
    driver's environment. ``None``: the worker's own. Not part of a job's fingerprint."""

    def describe(self) -> dict[str, Any]:
        """JSON-able form (for fingerprints and records)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name not in ("backends", "detect", "max_pixels")}
        out["detect"] = self.detect.model_dump(mode="json") if self.detect is not None else None
        out["overrides"] = list(self.overrides)
        b = self.backends
        out["backends"] = {"segmenter": b.segmenter, "tracker": b.tracker, "device": b.device,
                           "sam_checkpoint": _str(b.sam_checkpoint), "xmem_checkpoint": _str(b.xmem_checkpoint),
                           "sam2_checkpoint": _str(b.sam2_checkpoint),
                           "models_dir": _str(b.models_dir), "refine": b.refine,
                           "settings": [[s.backend, s.option, repr(s.value)] for s in b.settings]}
        return out


@dataclass(frozen=True)
class BatchJob:
    """One video of a batch: paths are absolute (the cluster's nodes see the same paths).

    ``problem`` is an error known before running (nothing to edit, an output two inputs
    share): the job is a failed row without running. ``overwrite``: the output may be replaced
    (``--overwrite``/``--force``, or it is an earlier output of the batch). ``cwd``: the folder
    relative paths in stage options are read from."""

    input: Path
    output: Path
    options: JobOptions
    prompts: Path | None = None
    masks: Path | None = None
    problem: str | None = None
    overwrite: bool = False
    force: bool = False
    cwd: Path | None = None
    where: str = ""
    """Where the job was named (``manifest.csv:4``), for messages; empty for files and folders."""
    fingerprint: str = ""
    side_outputs: tuple[Path, ...] = ()
    """What the job's stages will write beside its output (export-masks' folder), resolved
    (:func:`planned_side_outputs`): until the run has recorded what it wrote, the job is
    complete only when these exist too."""


@dataclass
class JobResult:
    """What became of one job: a report row plus the log lines (warnings) the run produced.

    ``notes``: what the run asks a person to review, the lines ``trackedit run`` prints after
    its output (:func:`editor.tracking.confidence.run_review_lines`: frames to review, shots an
    object is not edited in); a skipped job's come from its record."""

    input: str
    output: str
    status: str
    error: str | None = None
    frames: int = 0
    seconds: float = 0.0
    worker: str | None = None
    notices: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        """The report row (JSON Lines)."""
        return {"input": self.input, "output": self.output, "status": self.status, "error": self.error,
                "frames": self.frames, "seconds": round(self.seconds, 3), "worker": self.worker,
                "notes": list(self.notes)}

    def to_dict(self) -> dict[str, Any]:
        return {**self.row(), "seconds": self.seconds, "notices": list(self.notices)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobResult":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


def _str(path: Path | None) -> str | None:
    return None if path is None else str(path)


def worker_name() -> str:
    """``host:pid`` of this process (the report's ``worker``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def failed(job: BatchJob, error: str, **kw: Any) -> JobResult:
    return JobResult(str(job.input), str(job.output), FAILED, error, **kw)


# -- fingerprints and records ---------------------------------------------------------------
def record_path(output: Path) -> Path:
    """The hidden record beside ``output``: ``.NAME.trackedit.json``."""
    return output.with_name(f".{output.name}.trackedit.json")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _folder_digest(folder: Path) -> str:
    """Masks folder: ``objects.json`` content and every file's name, size and mtime."""
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()) if folder.is_dir() else []:
        st = p.stat()
        h.update(f"{p.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        if p.name == "objects.json" and p.is_file():  # never a FIFO: it would block
            h.update(p.read_bytes())
    return h.hexdigest()


@functools.lru_cache(maxsize=64)
def _preset_key(name: str, overrides: tuple[str, ...]) -> tuple[str, str]:
    """The preset as loaded, with its overrides (its content, not only its name)."""
    from editor.pipeline.presets import apply_overrides, load_preset

    preset = apply_overrides(load_preset(name), list(overrides))
    return preset.name, repr(preset.stages)


def fingerprint(job: BatchJob) -> str:
    """SHA-256 over what decides the output: input size and mtime, the preset as loaded (with
    overrides), the prompts file's bytes or the masks folder, the options, trackedit's version.
    Raises :class:`TrackeditError` for an unreadable preset (the job then fails)."""
    try:
        st = job.input.stat()
        source = [st.st_size, st.st_mtime_ns]
    except OSError:
        source = None
    data = {
        "version": __version__,
        "input": source,
        "preset": list(_preset_key(job.options.preset, job.options.overrides)),
        "prompts": _file_digest(job.prompts) if job.prompts is not None and job.prompts.is_file() else None,
        "masks": _folder_digest(job.masks) if job.masks is not None else None,
        "options": job.options.describe(),
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def planned_side_outputs(options: JobOptions, output: Path, cwd: Path | None = None) -> tuple[Path, ...]:
    """What a job with ``options`` will write beside ``output`` (export-masks' folder; relative
    paths from ``cwd``), resolved: :func:`editor.pipeline.presets.side_outputs`. ``()`` when
    the preset does not load: the job then fails with that error in :func:`decide`."""
    from editor.pipeline.presets import apply_overrides, load_preset, side_outputs

    try:
        preset = apply_overrides(load_preset(options.preset), list(options.overrides))
        return tuple(p.resolve() for p in side_outputs(preset, _plugins(options.external_plugins), output, cwd))
    except TrackeditError:
        return ()


def read_record(output: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(record_path(output).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _output_stat(output: Path) -> dict[str, int] | None:
    try:
        st = output.stat()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def write_record(job: BatchJob, result: JobResult | None, output: Path | None = None,
                 side_outputs: tuple[Path, ...] | None = None) -> None:
    """The record before the run (``output: null``: the output is the batch's to replace)
    or after it (with the complete output's size and mtime: of ``output``, the finished
    temporary about to be renamed to ``job.output``, when given; and ``side_outputs``, what
    the run wrote beside it, default the job's planned :attr:`BatchJob.side_outputs`)."""
    data: dict[str, Any] = {"version": RECORD_VERSION, "trackedit": __version__, "fingerprint": job.fingerprint,
                            "input": str(job.input), "prompts": _str(job.prompts), "masks": _str(job.masks),
                            "options": job.options.describe(), "output": None}
    if result is not None:
        sides = job.side_outputs if side_outputs is None else side_outputs
        data.update(output=_output_stat(output or job.output), side_outputs=[str(p) for p in sides],
                    frames=result.frames, notes=list(result.notes),
                    seconds=round(result.seconds, 3), worker=result.worker,
                    finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_text(record_path(job.output), json.dumps(data, indent=1) + "\n")


def decide(job: BatchJob, folders: CreatedFolders | None = None) -> tuple[BatchJob, JobResult | None]:
    """Before running: the job with its fingerprint and ``overwrite`` settled, and a result when
    it need not run — ``skipped`` (output and side outputs complete, job unchanged, no ``force``) or ``failed``
    (a known problem, a preset that does not load, an output it may not replace). The
    output's folder is made here, through ``folders`` when given (which remembers the folders
    it made, to remove them if nothing is written there: :mod:`editor.batch.folders`)."""
    if job.problem is not None:
        return job, failed(job, job.problem)
    try:
        job = dataclasses.replace(job, fingerprint=fingerprint(job))
    except TrackeditError as exc:
        return job, failed(job, str(exc))
    record = read_record(job.output)
    exists = job.output.exists()
    if exists and record is not None and not job.force:
        if record.get("fingerprint") == job.fingerprint and record.get("output") == _output_stat(job.output) \
                and all(Path(p).exists() for p in record.get("side_outputs") or ()):
            notes = record.get("notes")
            return job, JobResult(str(job.input), str(job.output), SKIPPED,
                                  notes=[str(n) for n in notes] if isinstance(notes, list) else [])
    overwrite = job.overwrite or job.force or (record is not None and exists)
    job = dataclasses.replace(job, overwrite=overwrite)
    try:
        (folders or CreatedFolders()).make(job.output.parent)
        check_output(job.output, [job.input], overwrite)
    except OutputError as exc:
        return job, failed(job, str(exc))
    except OSError as exc:
        return job, failed(job, f"{job.output.parent}: cannot create the folder ({exc.strerror or exc})")
    return job, None


def cleanup_unfinished(job: BatchJob) -> None:
    """After a job's process was stopped: remove its partial output (its process no longer
    runs) and a record written before a run that never completed its output."""
    remove_stale_partials(job.output)
    record = read_record(job.output)
    if record is not None and record.get("output") is None and not job.output.exists():
        record_path(job.output).unlink(missing_ok=True)


# -- running one job ------------------------------------------------------------------------
class _ListHandler(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(" ".join(record.getMessage().split()))
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


@contextmanager
def captured_logs() -> Iterator[list[str]]:
    """Collect the warnings of trackedit's loggers (``editor``, ``trackedit_plugins``) instead
    of letting them reach a terminal: batch workers return them with the result."""
    lines: list[str] = []
    handler = _ListHandler(lines)
    saved = []
    for name in ("editor", "trackedit_plugins"):
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.level, logger.propagate))
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)
        logger.propagate = False
    try:
        yield lines
    finally:
        for logger, handlers, level, propagate in saved:
            logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


@functools.lru_cache(maxsize=None)
def _plugins(external: bool) -> Any:
    """One plugin manager per process (and per ``external`` setting): loaded once per worker."""
    from editor.pipeline.plugin_manager import PluginManager

    return PluginManager(external=external)


@functools.lru_cache(maxsize=None)
def node_models_dir(given: str | None) -> Path:
    """The models folder on this node, resolved once per worker process: ``given``
    (``--models-dir``, e.g. shared storage) or this node's ``TRACKEDIT_MODELS_DIR`` /
    ``TRACKEDIT_HOME`` / user cache folder."""
    from editor.models.registry import models_dir

    return models_dir(given).resolve()


@contextmanager
def _working_dir(path: Path | None) -> Iterator[None]:
    if path is None or not path.is_dir() or Path.cwd() == path:
        yield
        return
    before = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _message(exc: TrackeditError, job: BatchJob) -> str:
    """One line naming the file: the error's own source, else the input."""
    return str(exc) if exc.source else f"{job.input}: {exc}"


def run_job(job: BatchJob, on_frame: Callable[[int], None] | None = None) -> JobResult:
    """Run one job (decided with :func:`decide`) in this process: output written atomically,
    record beside it, every error a failed result (one line naming the file). Stop signals
    (``Interrupted``, ``KeyboardInterrupt``) propagate after the partial output and a
    never-completed record are removed."""
    worker = worker_name()
    start = time.perf_counter()
    frames = [0]

    def counted(n: int) -> None:
        frames[0] = n
        if on_frame is not None:
            on_frame(n)

    def complete(temporary: Path, final: Path) -> None:
        """The completed record, written before the output gets its name (the pair in one step:
        a signal between them leaves no record without its output, nor an output without its)."""
        if final == job.output:
            write_record(job, JobResult(str(job.input), str(job.output), DONE, None, frames[0],
                                        time.perf_counter() - start, worker), temporary)

    with captured_logs() as notices, limits.restored():
        if job.options.max_pixels is not None:
            limits.configure(max_pixels=job.options.max_pixels)
        try:
            with _working_dir(job.cwd), before_commit(complete):
                summary, notes = _run(job, counted)
        except TrackeditError as exc:
            _forget(job)
            return failed(job, _message(exc, job), seconds=time.perf_counter() - start, worker=worker,
                          notices=notices)
        except Exception as exc:  # noqa: BLE001 - any failure is this video's, not the batch's
            _forget(job)
            text = " ".join(str(exc).split()) or type(exc).__name__
            return failed(job, f"{job.input}: internal error: {text}", seconds=time.perf_counter() - start,
                          worker=worker, notices=notices)
        except BaseException:
            _forget(job)
            raise
    result = JobResult(str(job.input), str(job.output), DONE, None, summary.frames, time.perf_counter() - start,
                       worker, notices, notes)
    write_record(job, result, side_outputs=tuple(Path(p).absolute() for p in summary.side_outputs))
    return result


def _forget(job: BatchJob) -> None:
    """A failed or stopped run: drop the record written before it unless an older output of
    the batch is still there (then the record keeps marking it as the batch's to replace)."""
    record = read_record(job.output)
    if record is not None and record.get("output") is None and not job.output.exists():
        record_path(job.output).unlink(missing_ok=True)


def _run(job: BatchJob, on_frame: Callable[[int], None] | None) -> tuple[Any, list[str]]:
    """The job's run: its :class:`~editor.api.run.RunSummary` and review notes."""
    from editor.api.prompts import load_prompts
    from editor.pipeline.orchestrator import Pipeline, RunRequest
    from editor.pipeline.presets import apply_overrides, load_preset, validate_preset
    from editor.tracking.confidence import run_review_lines
    from editor.video.writer import EncodeOptions

    if job.problem is not None:
        raise TrackeditError(job.problem)
    o = job.options
    pm = _plugins(o.external_plugins)
    preset = apply_overrides(load_preset(o.preset), list(o.overrides))
    validate_preset(preset, pm)
    encode = EncodeOptions.resolve(o.codec, crf=o.crf, preset=o.encoder_preset, pix_fmt=o.pix_fmt,
                                   container=o.container, audio=o.audio, subtitles=o.subtitles,
                                   extra_video=o.extra_video)
    backends = dataclasses.replace(o.backends, models_dir=node_models_dir(_str(o.backends.models_dir)))
    req = RunRequest(input=job.input, output=job.output, preset=preset, video_stream=o.video_stream,
                     deinterlace=o.deinterlace,
                     prompts=load_prompts(job.prompts) if job.prompts is not None else None,
                     masks_dir=job.masks, backends=backends, encode=encode, overwrite=job.overwrite,
                     detect_cuts=o.detect_cuts, bidirectional=o.bidirectional, detect=o.detect)
    job.output.parent.mkdir(parents=True, exist_ok=True)
    write_record(job, None)
    summary = Pipeline(pm).run(req, on_frame=on_frame)
    return summary, run_review_lines(summary, req.prompts)
