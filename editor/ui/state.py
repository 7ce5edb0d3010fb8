"""The web UI's state: its configuration (:class:`UiConfig`), each open session (:class:`UiSession`:
the tracking session, its lock, its job, render and folder) and the sessions of one server
(:class:`UiState`: opening, expiring and closing them, uploads and their quota), with the
small rules they share (what is a session's own file, whether a session has work to keep).
"""
from __future__ import annotations

import asyncio
import logging
import os
import shutil
import stat
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from editor.api.errors import TrackeditError
from editor.api.files import make_scratch_dir
from editor.backends.assembly import BackendChoice, select_backends
from editor.pipeline.plugin_manager import PluginManager
from editor.tracking.engine import TrackingSession
from editor.ui import persistence
from editor.ui.jobs import Job
from editor.ui.persistence import file_size
from editor.ui.security import host_allow_list, new_token

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
                if key in names and named and named.group(2) in VIDEO_SUFFIXES and own_file(path):
                    self.add_upload(key, path, names[key])
                elif named and (own_file(path) or path.is_symlink()):  # an upload no session uses
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
            worked = [(ui.upload, sid) for sid, ui in self.sessions.items() if not ui.closed and has_work(ui)]
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
            keep = self.config.keep_sessions and has_work(ui)
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


def own_file(path: Path) -> bool:
    """Whether ``path`` is a regular file itself, not a symlink (a link planted in a session's
    folder is never followed)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def fresh_folder(folder: Path) -> None:
    """Remove whatever is at ``folder`` (a folder, a file, a planted symlink: never followed)."""
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.exists():
        shutil.rmtree(folder)


async def expire_idle(state: UiState) -> None:
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


MEDIA_TYPES = {"mp4": "video/mp4", "mov": "video/quicktime", "mkv": "video/x-matroska", "webm": "video/webm"}


def has_work(ui: UiSession) -> bool:
    return ui.busy() or ui.render is not None or any(o.prompts for o in ui.session.objects())


def autosave(state: UiState, ui: UiSession) -> None:
    """Write the session's prompts to ``prompts.json`` in its folder
    (:func:`editor.ui.persistence.save_prompts`), and with ``keep_sessions`` its record. Call
    with the session lock held, after every change and when a job ends."""
    persistence.save_prompts(ui.session, ui.folder)
    if state.config.keep_sessions:
        state.record(ui)


def job_json(ui: UiSession) -> dict[str, object]:
    return ui.job.to_json() if ui.job else {"state": "idle"}
