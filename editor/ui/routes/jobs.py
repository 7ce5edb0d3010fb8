"""Endpoints for the background jobs (tracking, face/people detection, rendering) and their
progress: start one, pause it, read its state or follow its server-sent events.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from editor.detection.detect import detect_objects, resolve_detectors
from editor.detection.options import DetectOptions, Shape, redaction_floor
from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.ui.handlers import Body, app_state, named_preset, read_body, request_session, require_idle
from editor.ui.jobs import Job
from editor.ui.settings import OutputSettings, encode_options, settings_preset
from editor.ui.state import UiError, UiSession, UiState, autosave, fresh_folder, job_json, own_file


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




async def track(request: Request) -> Response:
    ui = request_session(request)
    require_idle(ui)
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
    _start(app_state(request), ui, job, work)
    return JSONResponse(ui.job.to_json())


def _start(state: UiState, ui: UiSession, job: Job, work: Callable[[Job], None]) -> None:
    """Start ``job`` as the session's job; when it ends, the session's work is saved
    (:func:`autosave`: with ``keep_sessions``, what it tracked or rendered outlives the server)."""
    def run(job: Job) -> None:
        try:
            work(job)
        finally:
            if not ui.closed:
                with contextlib.suppress(UiError):  # the session closed meanwhile: nothing to save
                    ui.call(autosave, state, ui)
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
    state, ui = app_state(request), request_session(request)
    require_idle(ui)
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
        ui.call(autosave, state, ui)
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
    state, ui = app_state(request), request_session(request)
    require_idle(ui)
    body = await read_body(request, RenderBody)
    named_preset(body.preset, "use the masks download for exporting masks")
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
        fresh_folder(masks)
        ui.call(ui.session.export_masks, masks)
        job.phase = "opening the video and the stages"
        req = RunRequest(input=ui.session.video_path, output=out, preset=preset, masks_dir=masks, overwrite=True,
                         video_stream=ui.session.info.index, encode=encode)
        try:
            Pipeline(state.plugins).run(req, on_frame=frame_done)
        except _Paused:
            return
        for old in ui.folder.glob("render.*"):  # one render kept: the last one
            if old != out and own_file(old):
                old.unlink()
        ui.render = out

    job = Job("render", phase="starting")
    _start(state, ui, job, work)
    return JSONResponse(ui.job.to_json())


async def pause(request: Request) -> Response:
    ui = request_session(request)
    if ui.job is not None:
        ui.job.pause()
        await asyncio.to_thread(ui.job.join, 30)
    return JSONResponse(job_json(ui))


async def job(request: Request) -> Response:
    return JSONResponse(job_json(request_session(request)))


async def events(request: Request) -> Response:
    """The job's state as server-sent events, each change once, until it stops running."""
    ui = request_session(request)

    async def stream() -> AsyncIterator[str]:
        last = None
        while True:
            payload = json.dumps(job_json(ui))
            if payload != last:
                yield f"data: {payload}\n\n"
                last = payload
            if ui.job is None or ui.job.state != "running":
                break
            await asyncio.sleep(0.2)

    return StreamingResponse(stream(), media_type="text/event-stream")


