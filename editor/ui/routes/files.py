"""Endpoints for files: the page, the video's info, output settings and their check, uploads
(size-capped, suffix-checked) and the downloads of a session's outputs (render, prompts,
masks as a zip).
"""
from __future__ import annotations

import asyncio
import io
import json
import uuid
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from editor.api.errors import TrackeditError
from editor.api.limits import current as current_limits
from editor.api.names import printable
from editor.pipeline.presets import builtin_presets
from editor.ui.handlers import Body, app_state, named_preset, read_body, request_session, require_idle
from editor.ui.routes.jobs import StageOptions
from editor.ui.settings import OutputSettings, available_codecs, check_settings, preset_forms
from editor.ui.state import MEDIA_TYPES, STATIC, UiError, UiSession, VIDEO_SUFFIXES, fresh_folder, own_file
from editor.video.reader import probe


async def page(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


async def info(request: Request) -> Response:
    state = app_state(request)
    video = state.config.video
    seg, trk = state.selection.segmenter_spec, state.selection.tracker_spec
    return JSONResponse({"video": video.name if video else None, "segmenter": seg.name, "tracker": trk.name,
                         "classic": seg.kind == "classic" or trk.kind == "classic",
                         "presets": sorted(builtin_presets()), "detectors": sorted(state.plugins.detectors),
                         "max_upload_bytes": state.config.max_upload_bytes, "video_suffixes": sorted(VIDEO_SUFFIXES)})


async def settings(request: Request) -> Response:
    """The render settings form: each built-in preset's stages and their options
    (:func:`editor.ui.settings.preset_forms`), and the output's codecs and containers."""
    state = app_state(request)
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
    state = app_state(request)
    body = await read_body(request, CheckBody)
    named_preset(body.preset, "export-masks has no settings")
    errors = await asyncio.to_thread(check_settings, body.preset, body.options, state.plugins)
    return JSONResponse({"errors": errors})


async def videos(request: Request) -> Response:
    """``GET /api/videos``: the videos this server can open (:meth:`UiState.recent`)."""
    return JSONResponse({"videos": app_state(request).recent()})


async def upload(request: Request) -> Response:
    state = app_state(request)
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




def _render_path(ui: UiSession) -> Path:
    path = ui.render if ui.render is not None else ui.folder / "render.mp4"
    if not own_file(path):  # missing, or something planted there (a symlink is never followed)
        raise UiError(404, "nothing rendered yet")
    return path


async def _download_render(ui: UiSession) -> Response:
    path = _render_path(ui)
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix[1:]], filename=path.name)


async def result(request: Request) -> Response:
    """``GET …/result``: the last render, inline (the page's player; byte ranges for seeking)."""
    path = _render_path(request_session(request))
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix[1:]],
                        headers={"Cache-Control": "no-store"})


async def _download_prompts(ui: UiSession) -> Response:
    # masks (uploaded ones, tracked masks that corrections edit) live in the session's folder:
    # the download carries them inside, so that it replays anywhere
    prompts = await ui.locked(lambda: ui.session.prompt_set().embedded())
    return Response(json.dumps(prompts.to_dict(), indent=2), media_type="application/json",
                    headers={"Content-Disposition": 'attachment; filename="prompts.json"'})


async def _download_masks(ui: UiSession) -> Response:
    require_idle(ui)
    folder = ui.folder / "masks-export"

    def export() -> bytes:  # under the lock: two downloads never share the folder
        fresh_folder(folder)
        ui.session.export_masks(folder)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
            for p in sorted(folder.iterdir()):
                if own_file(p):
                    z.write(p, p.name)
        return buf.getvalue()

    return Response(await ui.locked(export), media_type="application/zip",
                    headers={"Content-Disposition": 'attachment; filename="masks.zip"'})


DOWNLOADS: dict[str, Callable[[UiSession], Awaitable[Response]]] = {
    "render.mp4": _download_render, "render": _download_render, "prompts.json": _download_prompts, "masks.zip": _download_masks}
"""What a session offers for download, by name; nothing else is ever served from its folder."""


async def download(request: Request) -> Response:
    ui = request_session(request)
    fetch = DOWNLOADS.get(request.path_params["what"])
    if fetch is None:
        raise UiError(404, "not found")
    return await fetch(ui)


