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

Endpoints are plain functions, grouped by concern in :mod:`editor.ui.routes` (sessions, objects and prompts;
frames and previews; jobs and their events; files), that reach the :class:`UiState` through
``request.app.state.ui`` and the tracking session only through its public methods, each
call under the session's lock (:meth:`UiSession.locked`). Request bodies are checked by
small models (:func:`read_body`); :func:`api` turns what the user can act on into a 4xx
line and anything else into a logged 500. :func:`_routes` is the table of every URL.

Modules: :mod:`editor.ui.state` (config, sessions), :mod:`editor.ui.handlers` (what every
endpoint shares), :mod:`editor.ui.routes` (the endpoints by concern); here the app and
:func:`_routes`, the table of every URL.
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from editor.pipeline.plugin_manager import PluginManager
from editor.ui.handlers import Endpoint, api
from editor.ui.routes.files import check, download, info, page, result, settings, upload, videos
from editor.ui.routes.frames import confidence, frame, labels, preview, preview_progress
from editor.ui.routes.jobs import detect, events, job, pause, render, track
from editor.ui.routes.sessions import (add_object, add_prompt, close_session, delete_object, list_objects,
    list_prompts, new_session, redo, remove_prompt, rename_object, session_info, undo)
from editor.ui.security import UiGuard
from editor.ui.state import STATIC, UiConfig, UiState, expire_idle


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
    expiry = asyncio.create_task(expire_idle(app.state.ui))
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
