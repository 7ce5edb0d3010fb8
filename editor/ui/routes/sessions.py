"""Endpoints for sessions, objects and prompts: open, attach to and close a session; add,
rename, keep, delete objects; add, undo, redo and remove prompts (each change under the
session's lock, the prompts autosaved).
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from editor.api.limits import current as current_limits
from editor.api.prompts import MAX_OBJECT_ID
from editor.api.stages import instances_in
from editor.imaging.overlay import object_color
from editor.tracking.engine import TrackingSession
from editor.ui.handlers import Body, app_state, read_body, request_session, require_idle
from editor.ui.routes.frames import checked_frame_index
from editor.ui.state import T, UiError, UiSession, UiState, autosave, has_work, job_json


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
            "render": ui.render.suffix[1:] if ui.render is not None else None, "job": job_json(ui)}


async def new_session(request: Request) -> Response:
    state = app_state(request)
    body = await read_body(request, NewSessionBody)
    ui = await asyncio.to_thread(state.new_session, state.video_for(body.upload), body.upload)
    return JSONResponse(_session_json(state, ui))


async def session_info(request: Request) -> Response:
    """``GET /api/sessions/ID``: what a page needs to show a session it did not open (a
    reload, a second tab, a restarted browser on the same URL): the video's facts, the last
    render's container (``None`` before one) and the job."""
    state = app_state(request)
    ui = await asyncio.to_thread(state.reopen, request.path_params["sid"])
    return JSONResponse(_session_json(state, ui))




async def close_session(request: Request) -> Response:
    """``DELETE /api/sessions/ID``: everything the session holds is released and its folder
    and upload removed. ``?unless_work=1`` (what the page sends on ``pagehide``): only a
    session without prompts, render or running job closes; one with work stays for a reload,
    another tab or a restarted browser, until it is idle for ``idle_seconds``
    (``{"closed": false}``)."""
    state = app_state(request)
    sid = request.path_params["sid"]
    if request.query_params.get("unless_work") == "1":
        ui = request_session(request)
        if await ui.locked(has_work, ui):
            return JSONResponse({"closed": False})
    if not await asyncio.to_thread(state.close_session, sid):
        raise UiError(404, "unknown session")
    return JSONResponse({"closed": True})




async def _change(state: UiState, ui: UiSession, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn`` under the session lock, then the prompts autosaved (:func:`autosave`)."""
    def run() -> T:
        result = fn(*args, **kwargs)
        autosave(state, ui)
        return result
    return await ui.locked(run)


async def add_object(request: Request) -> Response:
    ui = request_session(request)
    require_idle(ui)
    body = await read_body(request, ObjectBody)
    oid = await _change(app_state(request), ui, ui.session.add_object, body.name)
    return JSONResponse({"id": oid, "color": list(object_color(oid))})


def _known_object(session: TrackingSession, oid: int) -> None:
    if all(o.id != oid for o in session.objects()):
        raise UiError(404, f"no object {oid}")


async def rename_object(request: Request) -> Response:
    ui = request_session(request)
    require_idle(ui)
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

    await _change(app_state(request), ui, rename)
    return JSONResponse({"ok": True})


def _detected_person(session: TrackingSession, oid: int) -> bool:
    """Whether object ``oid`` is a detected person instance (its detections carry their own
    masks, :func:`editor.api.stages.instances_in`): never kept by itself
    (:func:`editor.pipeline.orchestrator._check_keep_names` says why)."""
    return oid in instances_in(session.detections)


async def delete_object(request: Request) -> Response:
    ui = request_session(request)
    require_idle(ui)
    oid = request.path_params["oid"]

    def remove() -> None:
        _known_object(ui.session, oid)
        ui.session.remove_object(oid)

    await _change(app_state(request), ui, remove)
    return JSONResponse({"ok": True})


async def list_objects(request: Request) -> Response:
    """Every object of the session: id, name, colour and the frames it has prompts on (the
    page reloads its list from here after "Detect faces")."""
    ui = request_session(request)
    objects = await ui.locked(ui.session.objects)
    return JSONResponse({"objects": [{"id": o.id, "name": o.name, "color": list(object_color(o.id)),
                                      "prompt_frames": list(o.prompt_frames), "keep": o.keep} for o in objects]})


async def add_prompt(request: Request) -> Response:
    ui = request_session(request)
    require_idle(ui)
    body = await read_body(request, PromptBody)
    mask = await _change(app_state(request), ui, ui.session.add_prompt, body.frame, body.object, points=body.points, labels=body.labels,
                           box=body.box)
    return JSONResponse({"area": int(mask.sum())})


async def undo(request: Request) -> Response:
    ui = request_session(request)
    require_idle(ui)
    body = await read_body(request, ObjectRef)
    return JSONResponse({"undone": await _change(app_state(request), ui, ui.session.undo, body.object) is not None})


async def redo(request: Request) -> Response:
    ui = request_session(request)
    require_idle(ui)
    body = await read_body(request, ObjectRef)
    return JSONResponse({"redone": await _change(app_state(request), ui, ui.session.redo, body.object) is not None})


def _prompt_json(oid: int, index: int, p: Any) -> dict[str, object]:
    return {"object": oid, "index": index, "frame": p.frame, "points": [list(xy) for xy in p.points],
            "labels": list(p.labels), "box": list(p.box) if p.box is not None else None,
            "detected": p.shape is not None}


async def list_prompts(request: Request) -> Response:
    """``GET …/prompts?frame=N``: the prompts on frame N (the page draws them as markers:
    points in video pixels, labels 1 include / 0 exclude, boxes as ``[x0, y0, x1, y1]``;
    ``index``: the prompt's place on that frame, for removing it)."""
    ui = request_session(request)
    raw = request.query_params.get("frame", "")
    if not (raw.isascii() and raw.isdigit()):
        raise UiError(400, f"frame must be a frame number, not {raw!r}")
    index = checked_frame_index(ui, int(raw), 400)
    on = await ui.locked(ui.session.prompts_on, index)
    return JSONResponse({"frame": index, "prompts": [_prompt_json(oid, i, p) for oid, ps in on.items()
                                                     for i, p in enumerate(ps)]})


async def remove_prompt(request: Request) -> Response:
    """``DELETE …/prompts/FRAME/OBJECT/INDEX``: a click or box taken back (a marker clicked)."""
    ui = request_session(request)
    require_idle(ui)
    p = request.path_params
    await _change(app_state(request), ui, ui.session.remove_prompt, p["oid"], p["frame"], p["prompt"])
    return JSONResponse({"ok": True})


