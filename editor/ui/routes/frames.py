"""Endpoints for frames and previews: a frame as JPEG, its label map, the rendered preview of
one frame with a preset's stages, and the per-frame confidence and review list.
"""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
import cv2
import numpy as np

from editor.api.files import scratch_dir
from editor.api.masks import replace_objects
from editor.api.merges import merged_frames
from editor.api.stages import StageContext, instances_in
from editor.imaging.overlay import draw_overlay
from editor.pipeline.preview import preview_frame
from editor.tracking.confidence import confidence_document, review_lines
from editor.tracking.engine import TrackingSession
from editor.ui.handlers import app_state, named_preset, request_session, requested_width
from editor.ui.jobs import Job
from editor.ui.settings import settings_preset
from editor.ui.state import UiError, UiSession


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


def checked_frame_index(ui: UiSession, index: int, status: int) -> int:
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
    ui = request_session(request)
    width = requested_width(request)
    hidden = _hidden(request)
    index = checked_frame_index(ui, request.path_params["index"], 400)
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
    ui = request_session(request)
    index = checked_frame_index(ui, request.path_params["index"], 400)
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
    state, ui = app_state(request), request_session(request)
    width = requested_width(request)
    name = request.query_params.get("preset", "blur")
    named_preset(name, "export-masks has no picture to preview")
    preset = settings_preset(name, _settings(request), state.plugins)
    s = ui.session
    index = checked_frame_index(ui, request.path_params["index"], 404)
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
    ui = request_session(request)
    return JSONResponse(ui.preview_job.to_json() if ui.preview_job else {"state": "idle"})


async def confidence(request: Request) -> Response:
    """The tracker's confidence per frame and object (``confidence.json``'s content, see
    :mod:`editor.tracking.confidence`), ``weak``: every frame some object is weak on — the
    strip under the timeline and its "next weak" navigation — and ``review``: ``frames`` (how
    many of them), ``object_frames`` and ``objects`` (the CLI's per-object lists summed, from
    the same :meth:`~editor.api.run.TrackingStats.weak_frames`) and the CLI's ``lines``."""
    ui = request_session(request)

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


