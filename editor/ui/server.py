"""The web UI's server: a small Starlette app over :class:`editor.tracking.session.TrackingSession`.

One tracking session per browser tab; long operations (tracking, rendering) run in
background jobs and report progress over server-sent events. Only the video given on the
command line (or an uploaded one) and each session's own outputs are ever served: no
endpoint takes a file path. Every request first passes :class:`editor.ui.security.UiGuard`
(Host allow-list, origin checks, the per-launch token, content types).
"""
from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from editor.api.backends import BackendOptions
from editor.api.errors import TrackeditError
from editor.api.files import make_scratch_dir, scratch_dir
from editor.api.masks import PALETTE
from editor.pipeline.orchestrator import Pipeline, RunRequest, select_backends
from editor.pipeline.plugin_manager import PluginManager
from editor.pipeline.presets import builtin_presets, load_preset
from editor.tracking.refinement import RefineOptions
from editor.tracking.session import TrackingSession
from editor.video.reader import probe
from editor.ui.jobs import Job
from editor.ui.security import UiGuard, host_allow_list, new_token

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg", ".mpeg", ".ts"}

T = TypeVar("T")


@dataclass
class UiConfig:
    video: Path | None = None
    segmenter: str = "auto"
    tracker: str = "auto"
    device: str = "auto"
    max_upload_bytes: int = 512 * 2 ** 20
    work_root: Path | None = None
    sam_checkpoint: Path | None = None
    xmem_checkpoint: Path | None = None
    models_dir: Path | None = None
    backend_options: dict = field(default_factory=dict)
    #: The secret every API request must present (cookie or header); ``None`` only for
    #: ``trackedit ui --no-token``. A fresh one by default.
    token: str | None = field(default_factory=new_token)
    #: The ``(name, port)`` pairs a request's Host header may name (see ``host_allow_list``).
    allowed_hosts: frozenset[tuple[str, int]] = field(default_factory=lambda: host_allow_list("127.0.0.1", 8765))


@dataclass
class UiSession:
    id: str
    session: TrackingSession
    folder: Path
    job: Job | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def busy(self) -> bool:
        return self.job is not None and self.job.state == "running"

    async def locked(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` under the session lock in a worker thread. The lock is a thread lock:
        waiting for it on the event loop would block the loop its holder needs."""
        def run() -> T:
            with self.lock:
                return fn(*args, **kwargs)

        return await asyncio.to_thread(run)


class UiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UiState:
    def __init__(self, config: UiConfig, plugins: PluginManager) -> None:
        self.config = config
        self.plugins = plugins
        self.root = config.work_root or make_scratch_dir("ui")
        self.sessions: dict[str, UiSession] = {}
        self.uploads: dict[str, Path] = {}
        seg = BackendOptions(config.device, config.sam_checkpoint, config.models_dir, config.backend_options)
        trk = BackendOptions(config.device, config.xmem_checkpoint, config.models_dir, config.backend_options)
        self.seg_spec, self.trk_spec = select_backends(plugins, config.segmenter, config.tracker, seg, trk)
        self._seg_options, self._trk_options = seg, trk

    def video_for(self, key: str | None) -> Path:
        if key and key in self.uploads:
            return self.uploads[key]
        if self.config.video is None:
            raise UiError(400, "no video is open: start with `trackedit ui VIDEO` or upload one")
        return self.config.video

    def new_session(self, video: Path) -> UiSession:
        sid = uuid.uuid4().hex
        folder = self.root / sid
        folder.mkdir(parents=True)
        session = TrackingSession(video, self.seg_spec.factory(self._seg_options),
                                  self.trk_spec.factory(self._trk_options),
                                  refine=RefineOptions.from_dict(self.config.backend_options.get("refine", {})),
                                  work_dir=folder / "work")
        ui = UiSession(sid, session, folder)
        self.sessions[sid] = ui
        return ui

    def get(self, sid: str) -> UiSession:
        ui = self.sessions.get(sid)
        if ui is None:
            raise UiError(404, "unknown session")
        return ui

    def close(self) -> None:
        """Stop jobs, close sessions and remove the scratch folder (safe to call twice)."""
        sessions, self.sessions = list(self.sessions.values()), {}
        for ui in sessions:
            if ui.job is not None:
                ui.job.pause()
                ui.job.join(5)
            ui.session.close()
        shutil.rmtree(self.root, ignore_errors=True)


def _error(exc: Exception) -> JSONResponse:
    status = exc.status if isinstance(exc, UiError) else 400
    return JSONResponse({"error": " ".join(str(exc).split())}, status_code=status)


def _handler(fn):  # noqa: ANN001, ANN202
    async def wrapped(request: Request) -> Response:
        try:
            return await fn(request)
        except (UiError, TrackeditError, ValueError, KeyError, IndexError) as exc:
            return _error(exc)
    return wrapped


def _labels(ui: UiSession, index: int) -> np.ndarray | None:
    """What the page shows on a frame: masks from its prompts where it has some, else the
    last propagated label map (``None`` if never tracked). Call with ``ui.lock`` held."""
    s = ui.session
    labels = s.label_map(index)
    prompted = {oid: s.mask_from_prompts(index, oid)
                for oid, o in s.state.objects.items() if any(p.frame == index for p in o.prompts)}
    if prompted:
        from editor.api.masks import compose_label_map, split_label_map

        masks = split_label_map(labels) if labels is not None else {}
        masks.update(prompted)  # this frame's prompts replace those objects' tracked masks
        labels = compose_label_map(masks, (s.info.height, s.info.width))
    return labels


def _overlay(image: np.ndarray, labels: np.ndarray | None, width: int | None) -> bytes:
    out = image
    if labels is not None and labels.any():
        out = image.copy()
        for oid in np.unique(labels):
            if oid == 0:
                continue
            m = labels == oid
            out[m] = (out[m] * 0.5 + PALETTE[oid] * 0.5).astype(np.uint8)
            contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(out, contours, -1, tuple(int(c) for c in PALETTE[oid]), 2)
    if width and width < out.shape[1]:
        out = cv2.resize(out, (width, round(out.shape[0] * width / out.shape[1])), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", out[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    return buf.tobytes()


def create_app(config: UiConfig, plugins: PluginManager | None = None) -> Starlette:
    state = UiState(config, plugins or PluginManager())

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    @_handler
    async def info(request: Request) -> Response:
        return JSONResponse({"video": config.video.name if config.video else None,
                             "segmenter": state.seg_spec.name, "tracker": state.trk_spec.name,
                             "classic": state.seg_spec.kind == "classic" or state.trk_spec.kind == "classic",
                             "presets": sorted(builtin_presets())})

    @_handler
    async def upload(request: Request) -> Response:
        size = int(request.headers.get("content-length", "0") or 0)
        if size > config.max_upload_bytes:
            raise UiError(413, f"upload too large (limit {config.max_upload_bytes // 2 ** 20} MiB)")
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
                if written > config.max_upload_bytes:
                    f.close()
                    path.unlink(missing_ok=True)
                    raise UiError(413, f"upload too large (limit {config.max_upload_bytes // 2 ** 20} MiB)")
                f.write(chunk)
        try:
            probe(path)
        except TrackeditError as exc:
            path.unlink(missing_ok=True)
            raise UiError(415, f"{name}: {exc.message}") from exc
        state.uploads[key] = path
        return JSONResponse({"upload": key})

    @_handler
    async def new_session(request: Request) -> Response:
        body = await request.json() if await request.body() else {}
        ui = state.new_session(state.video_for(body.get("upload")))
        i = ui.session.info
        return JSONResponse({"id": ui.id, "frames": len(ui.session.frames), "width": i.width, "height": i.height,
                             "fps": float(i.average_rate), "name": Path(i.path).name})

    @_handler
    async def frame(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        index = int(request.path_params["index"])
        width = int(request.query_params.get("width", "0") or 0) or None
        def render() -> bytes:
            with ui.lock:
                image = ui.session.frames[index].image
                labels = _labels(ui, index)
            return _overlay(image, labels, width)

        # The session lock is a thread lock: only ever take it off the event loop, or a
        # request waiting for it would block the loop that the holder needs to finish.
        data = await asyncio.to_thread(render)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @_handler
    async def preview(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        index = int(request.path_params["index"])
        width = int(request.query_params.get("width", "0") or 0) or None
        name = request.query_params.get("preset", "blur")
        if name not in builtin_presets():
            raise UiError(400, f"unknown preset {name!r}")
        preset = load_preset(name)
        if any(c.use == "export-masks" for c in preset.stages):
            raise UiError(400, "export-masks has no picture to preview")
        s = ui.session
        if not 0 <= index < len(s.frames):
            raise UiError(404, f"frame {index} is outside 0..{len(s.frames) - 1}")

        def labels_at(i: int) -> np.ndarray:
            with ui.lock:
                labels = _labels(ui, i)
            return labels if labels is not None else np.zeros((s.info.height, s.info.width), np.uint8)

        def make() -> bytes:
            from editor.pipeline.preview import preview_frame
            from editor.api.stages import StageContext

            with scratch_dir("preview") as tmp:
                context = StageContext(s.info, {o.id: o.name for o in s.state.objects.values()}, state.config.device,
                                       None, Path(tmp))
                frame = preview_frame(preset, state.plugins, context, index, len(s.frames),
                                      lambda i: s.frames[i], labels_at)
            return _overlay(frame.image[..., :3], None, width)

        data = await asyncio.to_thread(make)
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @_handler
    async def redo(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        _idle(ui)
        oid = int((await request.json())["object"])
        return JSONResponse({"redone": await ui.locked(ui.session.redo, oid) is not None})

    def _idle(ui: UiSession) -> None:
        if ui.busy():
            raise UiError(409, "busy: pause the running job first")

    @_handler
    async def objects(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        _idle(ui)
        body = await request.json()
        oid = max(ui.session.state.objects, default=0) + 1
        from editor.tracking.session import ObjectState

        ui.session.state.objects[oid] = ObjectState(oid, str(body.get("name", "")))
        return JSONResponse({"id": oid, "color": [int(c) for c in PALETTE[oid]]})

    @_handler
    async def object_item(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        _idle(ui)
        oid = int(request.path_params["oid"])
        if oid not in ui.session.state.objects:
            raise UiError(404, f"no object {oid}")
        if request.method == "DELETE":
            ui.session.remove_object(oid)
        else:
            ui.session.rename(oid, str((await request.json()).get("name", "")))
        return JSONResponse({"ok": True})

    @_handler
    async def prompt(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        _idle(ui)
        body = await request.json()
        points = [(float(x), float(y)) for x, y in body.get("points", [])]
        box = tuple(float(v) for v in body["box"]) if body.get("box") else None
        mask = await ui.locked(ui.session.add_prompt, int(body["frame"]), int(body["object"]),
                               points=points, labels=body.get("labels"), box=box)
        return JSONResponse({"area": int(mask.sum())})

    @_handler
    async def undo(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        _idle(ui)
        oid = int((await request.json())["object"])
        return JSONResponse({"undone": await ui.locked(ui.session.undo, oid) is not None})

    @_handler
    async def track(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        _idle(ui)
        body = await request.json()
        direction = body.get("direction", "both")
        if direction not in ("forward", "backward", "both"):
            raise UiError(400, f"direction must be forward, backward or both, not {direction!r}")
        start = body.get("start")
        s = ui.session
        if not s.prompt_set().objects:
            raise UiError(400, "add a prompt before tracking")

        def work(job: Job) -> None:
            first = min(p.frame for o in s.prompt_set().objects for p in o.prompts)
            begin = first if start is None else int(start)
            runs = []
            if direction in ("backward", "both"):
                runs.append((begin, True, begin + 1))
            if direction in ("forward", "both"):
                runs.append((begin, False, len(s.frames) - begin))
            total = sum(n for _, _, n in runs)
            done = 0
            for f0, reverse, _ in runs:
                steps = s.propagate(f0, reverse=reverse)
                while True:
                    with ui.lock:  # each step sees whole prompts, never one half-added
                        f = next(steps, None)
                    if f is None:
                        break
                    done += 1
                    job.progress(done, total, f[0])
                    if job.stopped:
                        steps.close()
                        return

        ui.job = Job("track").start(work)
        return JSONResponse(ui.job.to_json())

    @_handler
    async def pause(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        if ui.job is not None:
            ui.job.pause()
            await asyncio.to_thread(ui.job.join, 30)
        return JSONResponse(ui.job.to_json() if ui.job else {"state": "idle"})

    @_handler
    async def job(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        return JSONResponse(ui.job.to_json() if ui.job else {"state": "idle"})

    async def events(request: Request) -> Response:
        try:
            ui = state.get(request.path_params["sid"])
        except UiError as exc:
            return _error(exc)

        async def stream():  # noqa: ANN202
            last = None
            while True:
                payload = json.dumps(ui.job.to_json() if ui.job else {"state": "idle"})
                if payload != last:
                    yield f"data: {payload}\n\n"
                    last = payload
                if ui.job is None or ui.job.state != "running":
                    break
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream")

    @_handler
    async def render(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        _idle(ui)
        name = str((await request.json()).get("preset", "blur"))
        if name not in builtin_presets():
            raise UiError(400, f"unknown preset {name!r}")
        preset = load_preset(name)
        if any(c.use == "export-masks" for c in preset.stages):
            raise UiError(400, "use the masks download for exporting masks")
        out = ui.folder / "render.mp4"

        def work(job: Job) -> None:
            masks = ui.folder / "masks"
            if masks.exists():
                shutil.rmtree(masks)
            ui.session.export_masks(masks)
            total = len(ui.session.frames)
            req = RunRequest(input=ui.session.video_path, output=out, preset=preset, masks_dir=masks,
                             overwrite=True)
            Pipeline(state.plugins).run(req, on_frame=lambda n: job.progress(n, total, n - 1))

        ui.job = Job("render").start(work)
        return JSONResponse(ui.job.to_json())

    @_handler
    async def download(request: Request) -> Response:
        ui = state.get(request.path_params["sid"])
        what = request.path_params["what"]
        if what == "render.mp4":
            path = ui.folder / "render.mp4"
            if not path.exists():
                raise UiError(404, "nothing rendered yet")
            return FileResponse(path, media_type="video/mp4", filename="render.mp4")
        if what == "prompts.json":
            return Response(json.dumps(ui.session.prompt_set().to_dict(), indent=2), media_type="application/json",
                            headers={"Content-Disposition": 'attachment; filename="prompts.json"'})
        if what == "masks.zip":
            _idle(ui)
            folder = ui.folder / "masks-export"
            if folder.exists():
                shutil.rmtree(folder)
            ui.session.export_masks(folder)
            buf = io.BytesIO()
            import zipfile

            with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
                for p in sorted(folder.iterdir()):
                    z.write(p, p.name)
            return Response(buf.getvalue(), media_type="application/zip",
                            headers={"Content-Disposition": 'attachment; filename="masks.zip"'})
        raise UiError(404, "not found")

    routes = [
        Route("/", index),
        Route("/api/info", info),
        Route("/api/upload", upload, methods=["POST"]),
        Route("/api/sessions", new_session, methods=["POST"]),
        Route("/api/sessions/{sid}/frames/{index:int}.jpg", frame),
        Route("/api/sessions/{sid}/objects", objects, methods=["POST"]),
        Route("/api/sessions/{sid}/objects/{oid:int}", object_item, methods=["PATCH", "DELETE"]),
        Route("/api/sessions/{sid}/prompts", prompt, methods=["POST"]),
        Route("/api/sessions/{sid}/undo", undo, methods=["POST"]),
        Route("/api/sessions/{sid}/redo", redo, methods=["POST"]),
        Route("/api/sessions/{sid}/preview/{index:int}.jpg", preview),
        Route("/api/sessions/{sid}/track", track, methods=["POST"]),
        Route("/api/sessions/{sid}/pause", pause, methods=["POST"]),
        Route("/api/sessions/{sid}/job", job),
        Route("/api/sessions/{sid}/events", events),
        Route("/api/sessions/{sid}/render", render, methods=["POST"]),
        Route("/api/sessions/{sid}/download/{what}", download),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):  # noqa: ANN202
        yield
        state.close()

    guard = Middleware(UiGuard, hosts=config.allowed_hosts, token=config.token)
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[guard])
    app.state.ui = state
    return app
