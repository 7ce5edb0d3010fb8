"""The web UI's server: a small Starlette app over :class:`editor.tracking.engine.TrackingSession`.

The server owns each session's work (objects, prompts, tracked masks, the last render; the
prompts autosaved to ``prompts.json`` in its folder); the page names its session in its
address, so a reload, a second tab or a restarted browser attaches to the same one
(``GET /api/sessions/ID``). Long operations (tracking, detection, rendering) run in
background jobs and report progress, elapsed time and an estimate of the time left over
server-sent events. Only the video given on the
command line (or an uploaded one) and each session's own outputs are ever served: no
endpoint takes a file path. Every request first passes :class:`editor.ui.security.UiGuard`
(Host allow-list, origin checks, the per-launch token, content types).

Resources are bounded (:class:`UiConfig`): at most ``max_sessions`` sessions and
``max_upload_total_bytes`` of uploads at once; a session closes when its tab closes (the page
sends ``DELETE /api/sessions/ID?unless_work=1`` on ``pagehide``: only a session without
prompts or render closes then) or after ``idle_seconds`` without a
request (the page polls while open), and closing releases its frames, threads and work
folder and deletes its upload. Nothing in a session's folder is served through a symlink.

Endpoints are plain functions, grouped below by concern (sessions, objects and prompts;
frames and previews; jobs and their events; files), that reach the :class:`UiState` through
``request.app.state.ui`` and the tracking session only through its public methods, each
call under the session's lock (:meth:`UiSession.locked`). Request bodies are checked by
small models (:func:`read_body`); :func:`api` turns what the user can act on into a 4xx
line and anything else into a logged 500. :func:`_routes` is the table of every URL.
"""
from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import logging
import os
import shutil
import stat
import threading
import time
import uuid
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import cv2
import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from editor.api.errors import TrackeditError
from editor.api.files import make_scratch_dir, scratch_dir
from editor.api.limits import current as current_limits
from editor.api.limits import document_problem
from editor.api.masks import replace_objects
from editor.api.names import printable
from editor.api.prompts import MAX_OBJECT_ID
from editor.api.merges import merged_frames
from editor.api.stages import StageContext, instances_in
from editor.backends.assembly import BackendChoice, select_backends
from editor.detection.detect import detect_objects, resolve_detectors
from editor.detection.options import DetectOptions, Shape, redaction_floor
from editor.imaging.overlay import draw_overlay, object_color
from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.pipeline.plugin_manager import PluginManager
from editor.pipeline.presets import Preset, builtin_presets, load_preset
from editor.pipeline.preview import preview_frame
from editor.tracking.confidence import confidence_document, review_lines
from editor.tracking.engine import TrackingSession
from editor.video.reader import probe
from editor.ui import persistence
from editor.ui.jobs import INTERNAL_ERROR, Job
from editor.ui.persistence import file_size
from editor.ui.security import UiGuard, host_allow_list, new_token
from editor.ui.settings import (OutputSettings, available_codecs, check_settings, encode_options, preset_forms,
                                settings_preset)

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts"}

T = TypeVar("T")


@dataclass
class UiConfig:
    video: Path | None = None
    backends: BackendChoice = field(default_factory=BackendChoice)
    """Segmenter, tracker, device and their options; every session gets freshly built backends."""
    max_upload_bytes: int = 512 * 2 ** 20
    """Bytes of one upload (413 above)."""
    max_upload_total_bytes: int = 4 * 2 ** 30
    """Bytes of all uploads kept at once (413 above): uploads go with their sessions."""
    max_sessions: int = 16
    """Sessions (open tabs) at once (503 above)."""
    idle_seconds: float = 15 * 60
    """A session without a request for this long (and without a running job) is closed; an
    upload no session uses is deleted after as long."""
    work_root: Path | None = None
    #: The secret every API request must present (cookie or header); ``None`` only for
    #: ``trackedit ui --no-token``. A fresh one by default.
    token: str | None = field(default_factory=new_token)
    #: The ``(name, port)`` pairs a request's Host header may name (see ``host_allow_list``).
    allowed_hosts: frozenset[tuple[str, int]] = field(default_factory=lambda: host_allow_list("127.0.0.1", 8765))
    video_stream: int | None = None
    """The video stream of ``video`` and uploads to edit (``--video-stream``; default: the default-disposition one)."""
    keep_sessions: bool = False
    """``trackedit ui --sessions DIR``: ``work_root`` outlives the server. Sessions with work
    (prompts, a render) and their uploads stay there when the server stops, and a server
    started on the same folder reopens them (:mod:`editor.ui.persistence`) until they have
    been idle for ``idle_seconds``; one server at a time uses the folder."""


@dataclass
class UiSession:
    id: str
    session: TrackingSession
    folder: Path
    job: Job | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    upload: str | None = None
    """The key of the upload this session edits (deleted when no session uses it)."""
    seen: float = field(default_factory=time.monotonic)
    """When the page last asked for anything (:func:`time.monotonic`, s)."""
    closed: bool = False
    """Set (under :attr:`lock`) when the session is closed: later calls are a 404."""
    render: Path | None = None
    """The last finished render (``render.mp4``, ``render.webm``…), ``None`` before one."""
    preview_job: Job | None = None
    """The progress of the preview being made (previews do not block the session)."""

    def busy(self) -> bool:
        return self.job is not None and self.job.state == "running"

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` under the session lock, in this thread (a worker thread: a job, a
        preview). Every call that reads or changes the session goes through here or
        :meth:`locked`."""
        with self.lock:
            if self.closed:  # a request that raced the tab's close
                raise UiError(404, "unknown session (closed): reload the page")
            return fn(*args, **kwargs)

    async def locked(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` under the session lock in a worker thread. The lock is a thread lock:
        waiting for it on the event loop would block the loop its holder needs."""
        return await asyncio.to_thread(self.call, fn, *args, **kwargs)


class UiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UiState:
    def __init__(self, config: UiConfig, plugins: PluginManager) -> None:
        self.config = config
        self.plugins = plugins
        if config.keep_sessions and config.work_root is None:
            raise ValueError("keep_sessions needs a work_root")
        self.root = config.work_root or make_scratch_dir("ui")
        self.dormant: dict[str, persistence.SessionRecord] = {}
        """Sessions left in ``root`` by an earlier server (``keep_sessions``), reopened when
        their page asks (:meth:`reopen`)."""
        self._folder_lock: int | None = None
        self.sessions: dict[str, UiSession] = {}
        self.uploads: dict[str, Path] = {}
        self.uploaded: dict[str, float] = {}
        """Upload key → when it arrived (:func:`time.monotonic`, s)."""
        self.upload_names: dict[str, str] = {}
        """Upload key → the file name it was uploaded as (shown in the page, never a path)."""
        self.selection = select_backends(plugins, config.backends)
        self._lock = threading.Lock()  # sessions and uploads are added and removed from worker threads
        self._reopening = threading.Lock()  # one reopen at a time: two tabs on one address get one session
        self._opening = 0
        if config.keep_sessions:
            self._take_folder()
            self._find_sessions()

    def _take_folder(self) -> None:
        """One server at a time on a kept sessions folder (another would expire its sessions)."""
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise TrackeditError("another `trackedit ui` uses this sessions folder", self.root) from None
        self._folder_lock = fd

    def _find_sessions(self) -> None:
        """The sessions an earlier server left in ``root`` (folders named by a session id with
        a record; anything else there is not this server's and is left alone), and their
        uploads. Expired sessions, folders without a record and uploads no session uses are
        removed."""
        for folder in sorted(self.root.iterdir()):
            if not persistence.SESSION_ID.fullmatch(folder.name) or folder.is_symlink() or not folder.is_dir():
                continue
            record = persistence.read(folder)
            if record is None or persistence.expired(record, self.config.idle_seconds):
                shutil.rmtree(folder, ignore_errors=True)
            else:
                self.dormant[folder.name] = record
        uploads = self.root / "uploads"
        if uploads.is_symlink():  # uploads are written there: never through a planted link
            uploads.unlink()
        if uploads.is_dir():
            names = {r.upload: r.name for r in self.dormant.values() if r.upload is not None}
            for path in uploads.iterdir():
                named = persistence.UPLOAD_NAME.fullmatch(path.name)
                key = named.group(1) if named else None
                if key in names and named and named.group(2) in VIDEO_SUFFIXES and _own_file(path):
                    self.add_upload(key, path, names[key])
                elif named and (_own_file(path) or path.is_symlink()):  # an upload no session uses
                    path.unlink()

    def video_for(self, key: str | None) -> Path:
        if key and key in self.uploads:
            return self.uploads[key]
        if key:
            raise UiError(404, "unknown upload (uploads are deleted with their session): upload it again")
        if self.config.video is None:
            raise UiError(400, "no video is open: start with `trackedit ui VIDEO` or upload one")
        return self.config.video

    def new_session(self, video: Path, upload: str | None = None, sid: str | None = None) -> UiSession:
        """A new session on ``video`` (``sid``: a kept session reopened on its folder); a 503
        when ``max_sessions`` are open."""
        limit = self.config.max_sessions
        with self._lock:
            if len(self.sessions) + self._opening >= limit:
                raise UiError(503, f"too many open sessions ({limit}): close other tabs of the UI, or wait for "
                                   f"idle ones to close after {self.config.idle_seconds / 60:g} min")
            self._opening += 1
        try:
            reopened = sid is not None
            sid = sid or uuid.uuid4().hex
            folder = self.root / sid
            folder.mkdir(parents=True, exist_ok=reopened)
            backends = self.selection.build()
            session = TrackingSession(video, backends.segmenter, backends.tracker, refine=backends.refine_options,
                                      work_dir=folder / "work", video_stream=self.config.video_stream)
            ui = UiSession(sid, session, folder, upload=upload)
            if reopened:
                try:
                    render = persistence.reopen(session, folder)
                except Exception:
                    session.close()
                    raise
                ui.render = folder / f"render.{render}" if render in MEDIA_TYPES else None
            elif self.config.keep_sessions:
                self.record(ui)
            with self._lock:
                self.sessions[sid] = ui
            return ui
        finally:
            with self._lock:
                self._opening -= 1

    def reopen(self, sid: str) -> UiSession:
        """Session ``sid``, reopened from its folder when an earlier server left it there
        (``keep_sessions``); a 404 when there is no such session, or when its video is not
        this server's (a command line's video that is not the same file)."""
        with self._reopening:
            if sid in self.sessions:
                return self.get(sid)
            record = self.dormant.get(sid)
            if record is None:
                return self.get(sid)  # the 404
            if record.upload is not None:
                video = self.uploads.get(record.upload)
            else:
                video = self.config.video
                if video is not None and (video.name != record.name or file_size(video) != record.video_bytes):
                    video = None
            if video is None:
                raise UiError(404, f"that session edits {record.name}, which this server has not opened: start "
                                   f"`trackedit ui {record.name} --sessions …` to reopen it")
            try:
                ui = self.new_session(video, record.upload, sid)
            except (TrackeditError, ValueError, KeyError, TypeError, OSError) as exc:
                log.warning("session %s could not be reopened: %s", sid, exc)
                self.dormant.pop(sid, None)
                raise UiError(404, "that session could not be reopened (see the server log)") from None
            self.dormant.pop(sid, None)
            return ui

    def record(self, ui: UiSession) -> None:
        """Write ``ui``'s record (``keep_sessions``: :func:`editor.ui.persistence.save`). Call
        under the session's lock."""
        name = self.upload_names.get(ui.upload, "") if ui.upload else Path(ui.session.video_path).name
        seen = time.time() - (time.monotonic() - ui.seen)
        persistence.save(ui.session, ui.folder, upload=ui.upload, name=name, seen=seen,
                         render=ui.render.suffix[1:] if ui.render is not None else None)

    def get(self, sid: str) -> UiSession:
        ui = self.sessions.get(sid)
        if ui is None:
            raise UiError(404, "unknown session (closed, or idle too long): reload the page")
        ui.seen = time.monotonic()
        return ui

    def add_upload(self, key: str, path: Path, name: str = "") -> None:
        with self._lock:
            self.uploads[key] = path
            self.uploaded[key] = time.monotonic()
            self.upload_names[key] = name or path.name

    def recent(self) -> list[dict[str, object]]:
        """The videos this server can open now, newest upload first, the command line's last:
        ``upload`` (its key; ``None`` for the command line's video), ``name``, ``bytes`` and
        ``sessions`` (how many sessions edit it), ``earlier``: the ids of its sessions with work
        (prompts, a render, a job; open or left by an earlier server), so that work begun on
        another visit is one click away, not only at its ``#s=`` address."""
        with self._lock:
            using = [ui.upload for ui in self.sessions.values()] + [r.upload for r in self.dormant.values()]
            worked = [(ui.upload, sid) for sid, ui in self.sessions.items() if not ui.closed and _has_work(ui)]
            worked += [(r.upload, sid) for sid, r in self.dormant.items()]

            def row(key: str | None, name: str, path: Path) -> dict[str, object]:
                return {"upload": key, "name": name, "bytes": file_size(path), "sessions": using.count(key),
                        "earlier": sorted(sid for k, sid in worked if k == key)}

            rows = [row(key, self.upload_names.get(key, path.name), path)
                    for key, path in sorted(self.uploads.items(), key=lambda kv: -self.uploaded.get(kv[0], 0))]
        if self.config.video is not None:
            rows.append(row(None, self.config.video.name, self.config.video))
        return rows

    def upload_bytes(self) -> int:
        """Bytes of the uploads kept now."""
        return sum(p.stat().st_size for p in list(self.uploads.values()) if p.exists())

    def close_session(self, sid: str, wait: float = 5.0) -> bool:
        """Close session ``sid``: stop its job, release the tracking session (frames,
        decoder threads, caches), remove its folder and the upload no other session uses.
        ``False`` when there is no such session. Blocks up to about ``wait`` seconds for a
        job's current step; call from a worker thread."""
        with self._lock:
            ui = self.sessions.pop(sid, None)
        if ui is None:
            return False
        _release(ui, time.monotonic() + wait)
        self._drop_unused_uploads(only=ui.upload)
        _return_memory()
        return True

    def expire(self, now: float | None = None) -> list[str]:
        """Close sessions idle for ``idle_seconds`` (not those running a job) and delete
        uploads that no session has used for as long; returns the sessions closed."""
        now = time.monotonic() if now is None else now
        idle = self.config.idle_seconds
        stale = [sid for sid, ui in list(self.sessions.items()) if now - ui.seen > idle and not ui.busy()]
        closed = [sid for sid in stale if self.close_session(sid)]
        with self._lock:
            gone = [sid for sid, r in self.dormant.items() if persistence.expired(r, idle)]
            for sid in gone:
                del self.dormant[sid]
        for sid in gone:
            shutil.rmtree(self.root / sid, ignore_errors=True)
        self._drop_unused_uploads(older_than=now - idle)
        return closed + gone

    def _drop_unused_uploads(self, *, only: str | None = None, older_than: float | None = None) -> None:
        with self._lock:
            used = {ui.upload for ui in self.sessions.values()} | {r.upload for r in self.dormant.values()}
            keys = [only] if only is not None else [k for k, t in self.uploaded.items()
                                                    if older_than is not None and t < older_than]
            for key in keys:
                if key in used or key not in self.uploads:
                    continue
                self.uploads.pop(key).unlink(missing_ok=True)
                self.uploaded.pop(key, None)
                self.upload_names.pop(key, None)

    def close(self, wait: float = 1.0) -> None:
        """Stop jobs, close sessions and remove the scratch folder (safe to call twice).
        Waits at most about ``wait`` seconds in all for jobs to finish their current step: a
        stop signal ends the server within 2 s whatever runs (a session still busy then is
        left to the process's exit). With ``keep_sessions`` the sessions with work stay in
        the folder, recorded, with their uploads; the rest is removed."""
        with self._lock:
            sessions, self.sessions = list(self.sessions.values()), {}
        for ui in sessions:  # every job is told first, then each gets what is left of the time
            if ui.job is not None:
                ui.job.pause()
        deadline = time.monotonic() + wait
        kept = set()
        for ui in sessions:
            keep = self.config.keep_sessions and _has_work(ui)
            _release(ui, deadline, keep=self.record if keep else None)
            if keep:
                kept.add(ui.upload)
        if not self.config.keep_sessions:
            self.uploads.clear()
            self.uploaded.clear()
            shutil.rmtree(self.root, ignore_errors=True)
            return
        kept |= {r.upload for r in self.dormant.values()}
        with self._lock:
            for key in [k for k in self.uploads if k not in kept]:
                self.uploads.pop(key).unlink(missing_ok=True)
            self.uploads.clear()
            self.uploaded.clear()
        if self._folder_lock is not None:
            os.close(self._folder_lock)  # the lock goes with it
            self._folder_lock = None


def _release(ui: UiSession, deadline: float, keep: Callable[[UiSession], None] | None = None) -> None:
    """Stop ``ui``'s job, close its tracking session and remove its folder, waiting until
    ``deadline`` (:func:`time.monotonic`) at most for a job's current step. ``keep``: the
    folder stays, and ``keep(ui)`` records it first (under the lock)."""
    if ui.job is not None:
        ui.job.pause()
        ui.job.join(max(0.0, deadline - time.monotonic()))
    held = ui.lock.acquire(timeout=max(0.0, deadline - time.monotonic()))
    try:
        if held:  # a step still running keeps the session: the process's exit releases it
            ui.closed = True
            if keep is not None:
                keep(ui)
            ui.session.close()
    finally:
        if held:
            ui.lock.release()
    if keep is None:
        shutil.rmtree(ui.folder, ignore_errors=True)


def _return_memory() -> None:
    """Give freed memory back to the system (glibc keeps freed heap pages otherwise)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _own_file(path: Path) -> bool:
    """Whether ``path`` is a regular file itself, not a symlink (a link planted in a session's
    folder is never followed)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _fresh_folder(folder: Path) -> None:
    """Remove whatever is at ``folder`` (a folder, a file, a planted symlink: never followed)."""
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)


async def _expire_idle(state: UiState) -> None:
    """Close idle sessions and unused uploads every so often, for as long as the app runs."""
    period = max(0.05, min(30.0, state.config.idle_seconds / 4))
    while True:
        await asyncio.sleep(period)
        try:
            closed = await asyncio.to_thread(state.expire)
        except Exception:  # noqa: BLE001 - a bug here must not stop the expiry
            log.exception("closing idle sessions failed")
            continue
        if closed:
            log.info("closed %d idle session(s)", len(closed))


# -- request helpers ------------------------------------------------------------------
def _state(request: Request) -> UiState:
    return request.app.state.ui


def _session(request: Request) -> UiSession:
    return _state(request).get(request.path_params["sid"])


def _idle(ui: UiSession) -> None:
    if ui.busy():
        raise UiError(409, "busy: pause the running job first")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)


Endpoint = Callable[[Request], Awaitable[Response]]


def api(fn: Endpoint) -> Endpoint:
    """Answer errors as one JSON line. Only errors the user can act on are 4xx: a
    :class:`UiError` (its status) and a :class:`TrackeditError` (400, its message); request
    bodies and query values are checked explicitly and fail as ``UiError``. Anything else
    is a bug: 500 with :data:`INTERNAL_ERROR`, and the traceback in the server log."""
    @functools.wraps(fn)
    async def endpoint(request: Request) -> Response:
        try:
            return await fn(request)
        except UiError as exc:
            return _error(exc.status, str(exc))
        except TrackeditError as exc:
            return _error(400, str(exc))
        except Exception:
            log.exception("%s %s failed", request.method, request.url.path)
            return JSONResponse({"error": INTERNAL_ERROR}, status_code=500)
    return endpoint


class Body(BaseModel):
    """A JSON request body; fields the page does not send take their defaults."""

    model_config = ConfigDict(extra="ignore", frozen=True)


B = TypeVar("B", bound=Body)


async def read_body(request: Request, model: type[B]) -> B:
    """The request's JSON object checked against ``model`` (an empty body is ``{}``); a
    400 naming the field otherwise."""
    raw = await request.body()
    try:
        data = json.loads(raw) if raw.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise UiError(400, f"the request body is not valid JSON ({document_problem(exc)})") from None
    if not isinstance(data, dict):
        raise UiError(400, "the request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            where = ".".join(str(part) for part in e["loc"])
            message = e["msg"][:1].lower() + e["msg"][1:]
            problems.append(f"{where}: {message}" if where else message)
        raise UiError(400, "; ".join(problems)) from None


def _width(request: Request) -> int | None:
    """The ``width`` query value: a whole number of pixels (``None``/0: the video's width)."""
    raw = request.query_params.get("width", "") or "0"
    if not (raw.isascii() and raw.isdigit()):
        raise UiError(400, f"width must be a whole number of pixels, not {raw!r}")
    return int(raw) or None


def _preset(name: str, exporting: str) -> Preset:
    """A built-in preset that paints frames; ``exporting``: what to say for export-masks."""
    if name not in builtin_presets():
        raise UiError(400, f"unknown preset {name!r}")
    preset = load_preset(name)
    if any(c.use == "export-masks" for c in preset.stages):
        raise UiError(400, exporting)
    return preset


# -- sessions, objects and prompts ----------------------------------------------------
class NewSessionBody(Body):
    upload: str | None = None
    """An upload's key (``POST /api/upload``); none: the video given on the command line."""


class ObjectBody(Body):
    name: str = ""

    @field_validator("name")
    @classmethod
    def _short(cls, value: str) -> str:
        limit = current_limits().max_name_chars
        if len(value) > limit:
            raise PydanticCustomError("name", f"{len(value)} characters (the limit is {limit})")
        return value


class ObjectPatch(Body):
    """``PATCH …/objects/{id}``: a new name, and/or keep (the person's face stays visible in
    redaction: :attr:`editor.api.prompts.ObjectPrompts.keep`)."""

    name: str | None = None
    keep: bool | None = None


class PromptBody(Body):
    frame: int
    object: int = Field(ge=1, le=MAX_OBJECT_ID)
    points: list[tuple[float, float]] = []
    labels: list[Literal[0, 1]] | None = None
    """One per point: 1 include, 0 exclude (default: all include)."""
    box: tuple[float, float, float, float] | None = None

    @field_validator("box", mode="before")
    @classmethod
    def _empty_box(cls, value: Any) -> Any:
        return value or None

    @field_validator("points", mode="before")
    @classmethod
    def _few_points(cls, value: Any) -> Any:  # checked before thousands of points are validated
        limit = current_limits().max_points
        if isinstance(value, list) and len(value) > limit:
            raise PydanticCustomError("points", f"{len(value)} points in one prompt (the limit is {limit})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> "PromptBody":
        if self.labels is not None and len(self.labels) != len(self.points):
            raise PydanticCustomError("prompt", f"labels: {len(self.labels)} labels for {len(self.points)} points")
        if self.box is not None and not (self.box[0] < self.box[2] and self.box[1] < self.box[3]):
            raise PydanticCustomError("prompt", "box: must be [x0, y0, x1, y1] with x0 < x1 and y0 < y1")
        if not self.points and self.box is None:
            raise PydanticCustomError("prompt", "points: give points or a box")
        return self


class ObjectRef(Body):
    object: int


def _session_json(state: UiState, ui: UiSession) -> dict[str, object]:
    s = ui.session
    name = state.upload_names.get(ui.upload, "") if ui.upload else ""
    return {"id": ui.id, "frames": s.frame_count, "width": s.info.width, "height": s.info.height,
            "fps": float(s.info.average_rate), "name": name or Path(s.info.path).name, "upload": ui.upload,
            "render": ui.render.suffix[1:] if ui.render is not None else None, "job": _job_json(ui)}


async def new_session(request: Request) -> Response:
    state = _state(request)
    body = await read_body(request, NewSessionBody)
    ui = await asyncio.to_thread(state.new_session, state.video_for(body.upload), body.upload)
    return JSONResponse(_session_json(state, ui))


async def session_info(request: Request) -> Response:
    """``GET /api/sessions/ID``: what a page needs to show a session it did not open (a
    reload, a second tab, a restarted browser on the same URL): the video's facts, the last
    render's container (``None`` before one) and the job."""
    state = _state(request)
    ui = await asyncio.to_thread(state.reopen, request.path_params["sid"])
    return JSONResponse(_session_json(state, ui))


def _has_work(ui: UiSession) -> bool:
    return ui.busy() or ui.render is not None or any(o.prompts for o in ui.session.objects())


async def close_session(request: Request) -> Response:
    """``DELETE /api/sessions/ID``: everything the session holds is released and its folder
    and upload removed. ``?unless_work=1`` (what the page sends on ``pagehide``): only a
    session without prompts, render or running job closes; one with work stays for a reload,
    another tab or a restarted browser, until it is idle for ``idle_seconds``
    (``{"closed": false}``)."""
    state = _state(request)
    sid = request.path_params["sid"]
    if request.query_params.get("unless_work") == "1":
        ui = _session(request)
        if await ui.locked(_has_work, ui):
            return JSONResponse({"closed": False})
    if not await asyncio.to_thread(state.close_session, sid):
        raise UiError(404, "unknown session")
    return JSONResponse({"closed": True})


def _autosave(state: UiState, ui: UiSession) -> None:
    """Write the session's prompts to ``prompts.json`` in its folder
    (:func:`editor.ui.persistence.save_prompts`), and with ``keep_sessions`` its record. Call
    with the session lock held, after every change and when a job ends."""
    persistence.save_prompts(ui.session, ui.folder)
    if state.config.keep_sessions:
        state.record(ui)


async def _change(state: UiState, ui: UiSession, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn`` under the session lock, then the prompts autosaved (:func:`_autosave`)."""
    def run() -> T:
        result = fn(*args, **kwargs)
        _autosave(state, ui)
        return result
    return await ui.locked(run)


async def add_object(request: Request) -> Response:
    ui = _session(request)
    _idle(ui)
    body = await read_body(request, ObjectBody)
    oid = await _change(_state(request), ui, ui.session.add_object, body.name)
    return JSONResponse({"id": oid, "color": list(object_color(oid))})


def _known_object(session: TrackingSession, oid: int) -> None:
    if all(o.id != oid for o in session.objects()):
        raise UiError(404, f"no object {oid}")


async def rename_object(request: Request) -> Response:
    ui = _session(request)
    _idle(ui)
    oid = request.path_params["oid"]
    body = await read_body(request, ObjectPatch)

    def rename() -> None:
        _known_object(ui.session, oid)
        if body.keep and _detected_person(ui.session, oid):
            raise UiError(400, "a detected person cannot be kept: where two people cross the person model gives "
                               "both one region and the object may pass to the other one; click the person as a "
                               "new object and keep that, or keep their face")
        if body.name is not None:
            ui.session.rename(oid, body.name)
        if body.keep is not None:
            ui.session.set_keep(oid, body.keep)

    await _change(_state(request), ui, rename)
    return JSONResponse({"ok": True})


def _detected_person(session: TrackingSession, oid: int) -> bool:
    """Whether object ``oid`` is a detected person instance (its detections carry their own
    masks, :func:`editor.api.stages.instances_in`): never kept by itself
    (:func:`editor.pipeline.orchestrator._check_keep_names` says why)."""
    return oid in instances_in(session.detections)


async def delete_object(request: Request) -> Response:
    ui = _session(request)
    _idle(ui)
    oid = request.path_params["oid"]

    def remove() -> None:
        _known_object(ui.session, oid)
        ui.session.remove_object(oid)

    await _change(_state(request), ui, remove)
    return JSONResponse({"ok": True})


async def list_objects(request: Request) -> Response:
    """Every object of the session: id, name, colour and the frames it has prompts on (the
    page reloads its list from here after "Detect faces")."""
    ui = _session(request)
    objects = await ui.locked(ui.session.objects)
    return JSONResponse({"objects": [{"id": o.id, "name": o.name, "color": list(object_color(o.id)),
                                      "prompt_frames": list(o.prompt_frames), "keep": o.keep} for o in objects]})


async def add_prompt(request: Request) -> Response:
    ui = _session(request)
    _idle(ui)
    body = await read_body(request, PromptBody)
    mask = await _change(_state(request), ui, ui.session.add_prompt, body.frame, body.object, points=body.points, labels=body.labels,
                           box=body.box)
    return JSONResponse({"area": int(mask.sum())})


async def undo(request: Request) -> Response:
    ui = _session(request)
    _idle(ui)
    body = await read_body(request, ObjectRef)
    return JSONResponse({"undone": await _change(_state(request), ui, ui.session.undo, body.object) is not None})


async def redo(request: Request) -> Response:
    ui = _session(request)
    _idle(ui)
    body = await read_body(request, ObjectRef)
    return JSONResponse({"redone": await _change(_state(request), ui, ui.session.redo, body.object) is not None})


def _prompt_json(oid: int, index: int, p: Any) -> dict[str, object]:
    return {"object": oid, "index": index, "frame": p.frame, "points": [list(xy) for xy in p.points],
            "labels": list(p.labels), "box": list(p.box) if p.box is not None else None,
            "detected": p.shape is not None}


async def list_prompts(request: Request) -> Response:
    """``GET …/prompts?frame=N``: the prompts on frame N (the page draws them as markers:
    points in video pixels, labels 1 include / 0 exclude, boxes as ``[x0, y0, x1, y1]``;
    ``index``: the prompt's place on that frame, for removing it)."""
    ui = _session(request)
    raw = request.query_params.get("frame", "")
    if not (raw.isascii() and raw.isdigit()):
        raise UiError(400, f"frame must be a frame number, not {raw!r}")
    index = _frame_index(ui, int(raw), 400)
    on = await ui.locked(ui.session.prompts_on, index)
    return JSONResponse({"frame": index, "prompts": [_prompt_json(oid, i, p) for oid, ps in on.items()
                                                     for i, p in enumerate(ps)]})


async def remove_prompt(request: Request) -> Response:
    """``DELETE …/prompts/FRAME/OBJECT/INDEX``: a click or box taken back (a marker clicked)."""
    ui = _session(request)
    _idle(ui)
    p = request.path_params
    await _change(_state(request), ui, ui.session.remove_prompt, p["oid"], p["frame"], p["prompt"])
    return JSONResponse({"ok": True})


# -- frames and previews --------------------------------------------------------------
def page_labels(session: TrackingSession, index: int) -> np.ndarray | None:
    """What the page shows on a frame: the last propagated label map, where the objects
    prompted on this frame take their masks from those prompts (``None``: neither).
    Call with the session lock held."""
    labels = session.label_map(index)
    prompted = session.prompt_label_map(index)
    if prompted is None or labels is None:
        return prompted if labels is None else labels
    return replace_objects(labels, prompted, session.prompts_on(index))


def _jpeg(image: np.ndarray, width: int | None) -> Response:
    if width and width < image.shape[1]:
        size = (width, round(image.shape[0] * width / image.shape[1]))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 85])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return Response(buf.tobytes(), media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _frame_index(ui: UiSession, index: int, status: int) -> int:
    count = ui.session.frame_count or 0
    if not 0 <= index < count:
        raise UiError(status, f"frame {index} is outside 0..{count - 1}")
    return index


def _hidden(request: Request) -> list[int]:
    """The ``hide`` query value: the object ids the page hides, comma-separated."""
    raw = request.query_params.get("hide", "")
    ids = [part for part in raw.split(",") if part]
    if not all(part.isascii() and part.isdigit() and len(part) < 4 for part in ids):
        raise UiError(400, f"hide must be object ids separated by commas, not {raw[:40]!r}")
    return [int(part) for part in ids]


async def frame(request: Request) -> Response:
    """A frame with the masks the page shows, drawn as the ``overlay`` stage draws them
    (without ids: the page lists the objects beside the frame), less the objects the page
    hides (``?hide=2,5``: their masks are not drawn; renders still edit them). The
    ``X-Damaged`` header is ``1`` for a frame decoded with errors (the reader's rule,
    :class:`editor.video.reader.Damage`, as in the CLI's ``confidence.json``), else ``0``."""
    ui = _session(request)
    width = _width(request)
    hidden = _hidden(request)
    index = _frame_index(ui, request.path_params["index"], 400)
    labels = await ui.locked(page_labels, ui.session, index)
    if labels is not None and hidden:
        labels = np.where(np.isin(labels, hidden), 0, labels).astype(np.uint8)

    def draw() -> Response:
        decoded = ui.session.frames[index]
        image = decoded.image
        response = _jpeg(image if labels is None else draw_overlay(image, labels, text=False), width)
        response.headers["X-Damaged"] = "1" if decoded.damaged else "0"
        return response

    return await asyncio.to_thread(draw)


async def labels(request: Request) -> Response:
    """``GET …/labels/N.png``: the label map the page shows on frame N (8-bit grey PNG at the
    video's size, pixel = object id, 0 = none): the page reads the object under the pointer
    from it. An all-zero map where nothing is tracked or prompted."""
    ui = _session(request)
    index = _frame_index(ui, request.path_params["index"], 400)
    found = await ui.locked(page_labels, ui.session, index)
    s = ui.session
    labels = found if found is not None else np.zeros((s.info.height, s.info.width), np.uint8)
    ok, buf = cv2.imencode(".png", labels)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return Response(buf.tobytes(), media_type="image/png", headers={"Cache-Control": "no-store"})


def _settings(request: Request) -> dict[str, str]:
    """The ``set`` query values (``stage.option=value``, as ``--set``) → option → text."""
    out = {}
    for item in request.query_params.getlist("set"):
        key, sep, value = item.partition("=")
        if not sep:
            raise UiError(400, f"--set {item!r}: expected stage.option=value")
        out[key] = value
    return out


async def preview(request: Request) -> Response:
    """A frame as a preset renders it (with the form's ``set=stage.option=value`` settings),
    from the labels the page shows. Its progress (frames of the stages' window read) is
    ``…/preview-progress`` while it is made."""
    state, ui = _state(request), _session(request)
    width = _width(request)
    name = request.query_params.get("preset", "blur")
    _preset(name, "export-masks has no picture to preview")
    preset = settings_preset(name, _settings(request), state.plugins)
    s = ui.session
    index = _frame_index(ui, request.path_params["index"], 404)
    objects = await ui.locked(s.objects)
    names = {o.id: o.name for o in objects}
    kept = {o.id for o in objects if o.keep}  # as a render's masks folder records them (export_masks)
    floor = await ui.locked(lambda: dict(s.detections))
    empty = np.zeros((s.info.height, s.info.width), np.uint8)
    job = Job("preview", phase="building the stages")
    ui.preview_job = job

    def labels_at(i: int) -> np.ndarray:
        labels = ui.call(page_labels, s, i)
        return labels if labels is not None else empty

    def make() -> Response:
        try:
            with scratch_dir("preview") as tmp:
                instances = instances_in(floor)
                context = StageContext(s.info, names, state.selection.device, None, Path(tmp), kept=kept,
                                       instances=instances, merged=merged_frames(floor, kept & instances))
                out = preview_frame(preset, state.plugins, context, index, s.frame_count or 0,
                                    lambda i: s.frames[i], labels_at, progress=job.progress,
                                    confidence_at=lambda i: ui.call(s.confidence, i),
                                    detections_at=lambda i: tuple(floor.get(i, ())))
            job.state = "done"
            return _jpeg(out.image[..., :3], width)
        except BaseException:
            job.state = "failed"
            raise
        finally:
            job.ended = time.monotonic()

    return await asyncio.to_thread(make)


async def preview_progress(request: Request) -> Response:
    """The progress of the session's latest preview (``{"state": "idle"}`` before one)."""
    ui = _session(request)
    return JSONResponse(ui.preview_job.to_json() if ui.preview_job else {"state": "idle"})


async def confidence(request: Request) -> Response:
    """The tracker's confidence per frame and object (``confidence.json``'s content, see
    :mod:`editor.tracking.confidence`), ``weak``: every frame some object is weak on — the
    strip under the timeline and its "next weak" navigation — and ``review``: ``frames`` (how
    many of them), ``object_frames`` and ``objects`` (the CLI's per-object lists summed, from
    the same :meth:`~editor.api.run.TrackingStats.weak_frames`) and the CLI's ``lines``."""
    ui = _session(request)

    def read() -> dict[str, object]:
        s = ui.session
        names = {o.id: o.name for o in s.objects()}
        doc = confidence_document(s.stats.confidence, s.stats.states, names, s.frame_count or 0,
                                  s.stats.review_below, s.stats.damaged)
        per_object = s.stats.weak_frames()  # the CLI's lists ("12 frames to review for …")
        weak = sorted({f for frames in per_object.values() for f in frames})
        review = {"frames": len(weak), "object_frames": sum(len(f) for f in per_object.values()),
                  "objects": len(per_object), "lines": review_lines(s.stats, names)}
        return {**doc, "weak": weak, "review": review}

    return JSONResponse(await ui.locked(read))


# -- jobs (tracking, rendering) and their events --------------------------------------
class TrackBody(Body):
    direction: Literal["forward", "backward", "both"] = "both"
    start: int | None = None
    """The frame to start from (default: the first prompted frame)."""


def _flat_options(value: Any) -> Any:
    """Stage options are flat ``"stage.option": "text"`` pairs (as ``--set stage.option=text``):
    a nested object (``{"blur": {"sigma": 12}}``) or anything but an object is refused with
    the form to send, the example made from the first nested pair when it is a plain value."""
    if isinstance(value, dict) and not any(isinstance(v, (dict, list)) for v in value.values()):
        return value  # pydantic names a value that is not text ("options.blur.sigma: …")
    example = '{"blur.sigma": "12"}'
    nested = [(stage, inner) for stage, inner in value.items() if isinstance(inner, dict) and inner] \
        if isinstance(value, dict) else []
    if nested:
        stage, inner = nested[0]
        option, text = next(iter(inner.items()))
        if isinstance(text, (str, int, float)) and not isinstance(text, bool):
            example = json.dumps({f"{stage}.{option}": str(text)}, ensure_ascii=False)
    raise PydanticCustomError("options", "{message}",
                              {"message": f'give "stage.option": "value" pairs, e.g. {example}'})


StageOptions = Annotated[dict[str, str], BeforeValidator(_flat_options)]
"""The form's stage options: ``"stage.option"`` → the text typed (read as ``--set``)."""


class RenderBody(Body):
    preset: str = "blur"
    options: StageOptions = {}
    """The form's stage options: ``"stage.option"`` → the text typed (read as ``--set``)."""
    output: OutputSettings = OutputSettings()


class DetectBody(Body):
    """``POST …/detect``: which detectors, and the :class:`DetectOptions` a person may change
    (the rest keep their defaults)."""

    detectors: list[str] = ["faces"]
    every: int | None = Field(None, ge=1)
    min_score: float | None = Field(None, ge=0, le=1)
    shape: Shape | None = None


def _job_json(ui: UiSession) -> dict[str, object]:
    return ui.job.to_json() if ui.job else {"state": "idle"}


async def track(request: Request) -> Response:
    ui = _session(request)
    _idle(ui)
    body = await read_body(request, TrackBody)
    s = ui.session
    prompted = [f for o in await ui.locked(s.objects) for f in o.prompt_frames]
    if not prompted:
        raise UiError(400, "add a prompt before tracking")
    count = s.frame_count or 0
    begin = min(prompted) if body.start is None else body.start
    if not 0 <= begin < count:
        raise UiError(400, f"start: frame {begin} is outside 0..{count - 1}")
    runs = []  # (first frame, backward?, frames)
    if body.direction in ("backward", "both"):
        runs.append((begin, True, begin + 1))
    if body.direction in ("forward", "both"):
        runs.append((begin, False, count - begin))

    def work(job: Job) -> None:
        """Every step runs under the session lock, one frame at a time: each sees whole
        prompts (never one half-added), and clicks and frame views get in between steps."""
        _propagate(ui, job, runs)

    job = Job("track", phase="segmenting the prompted frames")  # until the first frame is tracked
    _start(_state(request), ui, job, work)
    return JSONResponse(ui.job.to_json())


def _start(state: UiState, ui: UiSession, job: Job, work: Callable[[Job], None]) -> None:
    """Start ``job`` as the session's job; when it ends, the session's work is saved
    (:func:`_autosave`: with ``keep_sessions``, what it tracked or rendered outlives the server)."""
    def run(job: Job) -> None:
        try:
            work(job)
        finally:
            if not ui.closed:
                with contextlib.suppress(UiError):  # the session closed meanwhile: nothing to save
                    ui.call(_autosave, state, ui)
    ui.job = job.start(run)


def _propagate(ui: UiSession, job: Job, runs: list[tuple[int, bool, int]]) -> bool:
    """Propagate ``runs`` (first frame, backward?, frames) one frame at a time, each step
    under the session lock (clicks and frame views get in between); ``False`` when paused.
    The job counts the video's frames the runs cover, each once (both ways from a frame: the
    video's frame count; the frame both runs start on counts once)."""
    s = ui.session
    covered = set()
    for first, reverse, n in runs:
        covered.update(range(first - n + 1, first + 1) if reverse else range(first, first + n))
    if job.step is not None:  # a job of several steps (detect): tracking is the next one
        job.begin("tracking", len(covered))
    job.total = len(covered)
    seen: set[int] = set()
    for first, reverse, _ in runs:
        steps = s.propagate(first, reverse=reverse)  # a generator: nothing runs until next()
        try:
            while (step := ui.call(next, steps, None)) is not None:
                seen.add(step[0])
                job.progress(len(seen & covered), len(covered), step[0])
                if job.stopped:
                    return False
        finally:
            ui.call(steps.close)
    return True


class _Paused(Exception):
    """Raised from a detection pass's progress when the job is paused."""


async def detect(request: Request) -> Response:
    """"Detect faces": a job that finds objects with the named detectors
    (:func:`editor.detection.detect_objects`), adds them to the session as objects named
    ``face-1``, ``face-2``… (ids after the existing ones; prompts on their detection frames
    only, without the interpolated bridging prompts of headless runs)
    and tracks every object backward from the last detection to the first frame (so each is
    covered from where it appears), then forward to the end; objects detected reliably are
    tracked only a little beyond their first and last detections, as in headless runs
    (:attr:`~editor.detection.DetectedObjects.spans`; a person's prompt outside lifts that). The
    detected objects are ordinary objects: the person deletes, renames or corrects them.
    Unknown or unavailable detectors are a 400 before the job starts; nothing found ends the
    job with a note."""
    state, ui = _state(request), _session(request)
    _idle(ui)
    body = await read_body(request, DetectBody)
    available = sorted(state.plugins.detectors)
    unknown = [d for d in body.detectors if d not in available]
    if unknown or not body.detectors:
        what = f"no detector {unknown[0]!r}" if unknown else "name a detector"
        raise UiError(400, f"{what} (available: {', '.join(available) or 'none'})")
    given = {k: v for k, v in (("every", body.every), ("min_score", body.min_score), ("shape", body.shape))
             if v is not None}
    # the same options as `trackedit run/track --detect` (every frame, bridging, spans), with the
    # floor a redaction needs (a render may redact): people bring the face detector along for the
    # floor only, and person regions no face was seen on stay in the floor
    options = redaction_floor(DetectOptions(detectors=tuple(dict.fromkeys(body.detectors)), **given))
    detectors = await asyncio.to_thread(resolve_detectors, list(options.detectors), state.plugins,
                                        device=state.selection.device, models_dir=state.config.backends.models_dir,
                                        options=state.selection.detector_options)
    s = ui.session
    count = s.frame_count or 0

    def work(job: Job) -> None:
        # two steps, each counting the video's frames: detecting (the detection pass), then
        # tracking (backward from the last detection to the start, forward from it to the end)
        job.begin("detecting", count)

        def scanned(done: int, _total: int) -> None:
            job.progress(done, count, done - 1)
            if job.stopped:
                raise _Paused

        existing = {o.id: o.name for o in ui.call(s.objects)}
        try:
            found = detect_objects(s.info, detectors, options, existing=existing, progress=scanned)
        except _Paused:
            return
        found = found.floor_only([d for d in options.detectors if d not in body.detectors])
        ui.call(s.detections.update, found.floor)  # every detection is covered by renders (the floor)
        if not found.prompts.objects:
            floor = sum(1 for dets in found.floor.values() if dets)
            job.note = f"no objects found by {' or '.join(body.detectors)}" + \
                (f"; detections on {floor} frames are covered by renders that redact" if floor else "")
            job.progress(count, count, None)
            return
        ui.call(s.add_prompts, found.prompts)
        ui.call(_autosave, state, ui)
        ui.call(s.spans.update, found.spans)  # as headless runs: tracked where they were detected
        names = ", ".join(found.names.values())
        job.note = f"found {len(found.prompts.objects)}: {names}"
        # backward from the last detection (every object covered back to where it appears,
        # detections on the way are corrections), then forward from there to the end
        last = max(p.frame for o in found.prompts.objects for p in o.prompts)
        runs = [(last, True, last + 1), (last, False, count - last)]
        job.phase = "segmenting the detected objects"
        _propagate(ui, job, runs)

    _start(state, ui, Job("detect", phase=f"running {' and '.join(options.detectors)} on the first frame"), work)
    return JSONResponse(ui.job.to_json())


async def render(request: Request) -> Response:
    state, ui = _state(request), _session(request)
    _idle(ui)
    body = await read_body(request, RenderBody)
    _preset(body.preset, "use the masks download for exporting masks")
    preset = settings_preset(body.preset, body.options, state.plugins)  # the CLI's checks and messages
    encode, suffix = encode_options(body.output)
    out = ui.folder / f"render.{suffix}"
    total = ui.session.frame_count or 0

    def frame_done(n: int) -> None:
        job.progress(n, total, n - 1)
        if job.stopped:  # paused, or the session closes: the partial output is removed
            raise _Paused

    def work(job: Job) -> None:
        job.phase = "exporting the masks"
        masks = ui.folder / "masks"
        _fresh_folder(masks)
        ui.call(ui.session.export_masks, masks)
        job.phase = "opening the video and the stages"
        req = RunRequest(input=ui.session.video_path, output=out, preset=preset, masks_dir=masks, overwrite=True,
                         video_stream=ui.session.info.index, encode=encode)
        try:
            Pipeline(state.plugins).run(req, on_frame=frame_done)
        except _Paused:
            return
        for old in ui.folder.glob("render.*"):  # one render kept: the last one
            if old != out and _own_file(old):
                old.unlink()
        ui.render = out

    job = Job("render", phase="starting")
    _start(state, ui, job, work)
    return JSONResponse(ui.job.to_json())


async def pause(request: Request) -> Response:
    ui = _session(request)
    if ui.job is not None:
        ui.job.pause()
        await asyncio.to_thread(ui.job.join, 30)
    return JSONResponse(_job_json(ui))


async def job(request: Request) -> Response:
    return JSONResponse(_job_json(_session(request)))


async def events(request: Request) -> Response:
    """The job's state as server-sent events, each change once, until it stops running."""
    ui = _session(request)

    async def stream() -> AsyncIterator[str]:
        last = None
        while True:
            payload = json.dumps(_job_json(ui))
            if payload != last:
                yield f"data: {payload}\n\n"
                last = payload
            if ui.job is None or ui.job.state != "running":
                break
            await asyncio.sleep(0.2)

    return StreamingResponse(stream(), media_type="text/event-stream")


# -- files: the page, info, uploads, downloads ----------------------------------------
async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


async def info(request: Request) -> Response:
    state = _state(request)
    video = state.config.video
    seg, trk = state.selection.segmenter_spec, state.selection.tracker_spec
    return JSONResponse({"video": video.name if video else None, "segmenter": seg.name, "tracker": trk.name,
                         "classic": seg.kind == "classic" or trk.kind == "classic",
                         "presets": sorted(builtin_presets()), "detectors": sorted(state.plugins.detectors),
                         "max_upload_bytes": state.config.max_upload_bytes, "video_suffixes": sorted(VIDEO_SUFFIXES)})


async def settings(request: Request) -> Response:
    """The render settings form: each built-in preset's stages and their options
    (:func:`editor.ui.settings.preset_forms`), and the output's codecs and containers."""
    state = _state(request)
    forms = await asyncio.to_thread(preset_forms, state.plugins)
    return JSONResponse({"presets": forms, "codecs": available_codecs(), "containers": ["mp4", "webm", "mkv", "mov"],
                         "output": OutputSettings().model_dump()})


class CheckBody(Body):
    preset: str = "blur"
    options: StageOptions = {}
    """As :class:`RenderBody`'s: ``"stage.option"`` → the text typed."""


async def check(request: Request) -> Response:
    """``POST /api/settings/check``: the form's values checked as the CLI checks ``--set``,
    each refused one with its message in the page's words
    (:func:`editor.ui.settings.check_settings`): ``{"errors": {"blur.sigma": "Sigma must be ≥ 0"}}``."""
    state = _state(request)
    body = await read_body(request, CheckBody)
    _preset(body.preset, "export-masks has no settings")
    errors = await asyncio.to_thread(check_settings, body.preset, body.options, state.plugins)
    return JSONResponse({"errors": errors})


async def videos(request: Request) -> Response:
    """``GET /api/videos``: the videos this server can open (:meth:`UiState.recent`)."""
    return JSONResponse({"videos": _state(request).recent()})


async def upload(request: Request) -> Response:
    state = _state(request)
    limit = state.config.max_upload_bytes
    too_large = UiError(413, f"upload too large (limit {limit // 2 ** 20} MiB)")
    declared = request.headers.get("content-length", "") or "0"
    if not (declared.isascii() and declared.isdigit() and len(declared) < 19):
        raise UiError(400, "invalid Content-Length header")
    if int(declared) > limit:
        raise too_large
    room = state.config.max_upload_total_bytes - await asyncio.to_thread(state.upload_bytes)
    full = UiError(413, f"the server keeps {state.config.max_upload_total_bytes // 2 ** 20} MiB of uploads at "
                        "most: close other tabs of the UI (their uploads are deleted) and try again")
    if int(declared) > room:
        raise full
    limit = min(limit, room)
    name = request.query_params.get("name", "upload.mp4")
    suffix = Path(name).suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise UiError(415, f"not a video file type: {suffix or name!r}")
    key = uuid.uuid4().hex
    path = state.root / "uploads" / f"{key}{suffix}"
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with path.open("wb") as f:
        async for chunk in request.stream():
            written += len(chunk)
            if written > limit:
                f.close()
                path.unlink(missing_ok=True)
                raise too_large if limit == state.config.max_upload_bytes else full
            f.write(chunk)
    try:
        await asyncio.to_thread(probe, path)
    except TrackeditError as exc:
        path.unlink(missing_ok=True)
        raise UiError(415, f"{name}: {exc.message}") from exc
    shown = printable(Path(name).name)[:current_limits().max_name_chars]
    state.add_upload(key, path, shown)
    return JSONResponse({"upload": key, "name": shown})


MEDIA_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "mkv": "video/x-matroska", "webm": "video/webm"}


def _render_path(ui: UiSession) -> Path:
    path = ui.render if ui.render is not None else ui.folder / "render.mp4"
    if not _own_file(path):  # missing, or something planted there (a symlink is never followed)
        raise UiError(404, "nothing rendered yet")
    return path


async def _download_render(ui: UiSession) -> Response:
    path = _render_path(ui)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix[1:]], filename=path.name)


async def result(request: Request) -> Response:
    """``GET …/result``: the last render, inline (the page's player; byte ranges for seeking)."""
    path = _render_path(_session(request))
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix[1:]],
                        headers={"Cache-Control": "no-store"})


async def _download_prompts(ui: UiSession) -> Response:
    # masks (uploaded ones, tracked masks that corrections edit) live in the session's folder:
    # the download carries them inside, so that it replays anywhere
    prompts = await ui.locked(lambda: ui.session.prompt_set().embedded())
    return Response(json.dumps(prompts.to_dict(), indent=2), media_type="application/json",
                    headers={"Content-Disposition": 'attachment; filename="prompts.json"'})


async def _download_masks(ui: UiSession) -> Response:
    _idle(ui)
    folder = ui.folder / "masks-export"

    def export() -> bytes:  # under the lock: two downloads never share the folder
        _fresh_folder(folder)
        ui.session.export_masks(folder)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for p in sorted(folder.iterdir()):
                if _own_file(p):
                    z.write(p, p.name)
        return buf.getvalue()

    return Response(await ui.locked(export), media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="masks.zip"'})


DOWNLOADS: dict[str, Callable[[UiSession], Awaitable[Response]]] = {
    "render.mp4": _download_render, "render": _download_render, "prompts.json": _download_prompts, "masks.zip": _download_masks}
"""What a session offers for download, by name; nothing else is ever served from its folder."""


async def download(request: Request) -> Response:
    ui = _session(request)
    fetch = DOWNLOADS.get(request.path_params["what"])
    if fetch is None:
        raise UiError(404, "not found")
    return await fetch(ui)


# -- the app --------------------------------------------------------------------------
def _routes() -> list[BaseRoute]:
    """Every URL of the UI, in one table."""
    def get(path: str, fn: Endpoint) -> Route:
        return Route(path, api(fn), methods=["GET"])

    def post(path: str, fn: Endpoint) -> Route:
        return Route(path, api(fn), methods=["POST"])

    s = "/api/sessions/{sid}"
    return [
        get("/", page),
        get("/api/info", info),
        get("/api/settings", settings),
        post("/api/settings/check", check),
        get("/api/videos", videos),
        post("/api/upload", upload),
        # sessions, objects, prompts
        post("/api/sessions", new_session),
        get(s, session_info),
        Route(s, api(close_session), methods=["DELETE"]),
        get(f"{s}/objects", list_objects),
        post(f"{s}/objects", add_object),
        Route(f"{s}/objects/{{oid:int}}", api(rename_object), methods=["PATCH"]),
        Route(f"{s}/objects/{{oid:int}}", api(delete_object), methods=["DELETE"]),
        get(f"{s}/prompts", list_prompts),
        post(f"{s}/prompts", add_prompt),
        Route(f"{s}/prompts/{{frame:int}}/{{oid:int}}/{{prompt:int}}", api(remove_prompt), methods=["DELETE"]),
        post(f"{s}/undo", undo),
        post(f"{s}/redo", redo),
        # frames and previews
        get(f"{s}/frames/{{index:int}}.jpg", frame),
        get(f"{s}/labels/{{index:int}}.png", labels),
        get(f"{s}/preview/{{index:int}}.jpg", preview),
        get(f"{s}/preview-progress", preview_progress),
        get(f"{s}/confidence", confidence),
        # jobs
        post(f"{s}/track", track),
        post(f"{s}/detect", detect),
        post(f"{s}/render", render),
        post(f"{s}/pause", pause),
        get(f"{s}/job", job),
        get(f"{s}/events", events),
        # files
        get(f"{s}/download/{{what}}", download),
        get(f"{s}/result", result),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    expiry = asyncio.create_task(_expire_idle(app.state.ui))
    try:
        yield
    finally:
        expiry.cancel()
        app.state.ui.close()


def create_app(config: UiConfig, plugins: PluginManager | None = None) -> Starlette:
    state = UiState(config, plugins or PluginManager())
    guard = Middleware(UiGuard, hosts=config.allowed_hosts, token=config.token)
    app = Starlette(routes=_routes(), lifespan=_lifespan, middleware=[guard])
    app.state.ui = state
    return app
