"""Web UI API: every endpoint, the full click → track → correct → render loop on a clip, replay
of the saved prompts through the CLI, security (traversal, uploads), errors as JSON lines.
The client here is a browser's: it opened the tokenised URL (cookie) and sends its Origin;
forged requests are in test_ui_security.py."""
from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from clips import write_clip
from editor.cli.main import main
from editor.api.masks import read_label_png
from editor.ui.server import UiConfig, create_app
from editor.video.reader import probe
from test_tracking import T, _iou, _scene


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "scene.mp4", [_scene(t)[0] for t in range(T)], pix_fmt="yuv444p",
                      options={"crf": "0"})


TOKEN = "test-token"
ORIGIN = "http://127.0.0.1:8765"  # UiConfig's default allow-list: loopback names, port 8765


@pytest.fixture
def client(clip: Path, tmp_path: Path, plugin_manager):  # noqa: ANN001, ANN201
    app = create_app(UiConfig(clip, max_upload_bytes=200_000, work_root=tmp_path / "ui", token=TOKEN),
                     plugin_manager)
    with TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN}) as c:
        assert c.get(f"/?token={TOKEN}").status_code == 200  # the cookie, then the page
        assert c.cookies.get("trackedit_token_8765") == TOKEN
        yield c


def _wait(client: TestClient, sid: str) -> dict:
    for _ in range(600):
        job = client.get(f"/api/sessions/{sid}/job").json()
        if job["state"] != "running":
            return job
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_full_loop_and_replay(client: TestClient, clip: Path, tmp_path: Path) -> None:
    assert "trackedit" in client.get("/").text
    info = client.get("/api/info").json()
    assert info["classic"] is True and "blur" in info["presets"]
    s = client.post("/api/sessions", json={}).json()
    sid = s["id"]
    assert (s["frames"], s["width"], s["height"]) == (T, 160, 120)
    frame = client.get(f"/api/sessions/{sid}/frames/3.jpg?width=80")
    assert frame.headers["content-type"] == "image/jpeg" and frame.content[:2] == b"\xff\xd8"
    obj = client.post(f"/api/sessions/{sid}/objects", json={"name": "disc"}).json()
    assert obj["id"] == 1
    r = client.post(f"/api/sessions/{sid}/prompts", json={"frame": 10, "object": 1, "points": [[50, 48]],
                                                          "labels": [1]})
    assert r.status_code == 200 and r.json()["area"] > 300
    assert client.post(f"/api/sessions/{sid}/track", json={"direction": "both", "start": 10}).status_code == 200
    events = client.get(f"/api/sessions/{sid}/events")
    assert events.headers["content-type"].startswith("text/event-stream") and "data:" in events.text
    job = _wait(client, sid)
    assert job["state"] == "done" and job["done"] == job["total"] == T  # frame 10, where both runs start, counts once
    # correction on a later frame, resume forward from there
    client.post(f"/api/sessions/{sid}/prompts", json={"frame": 22, "object": 1, "points": [[30 + 44, 45 + 7]]})
    client.post(f"/api/sessions/{sid}/track", json={"direction": "forward", "start": 22})
    assert _wait(client, sid)["state"] == "done"
    client.patch(f"/api/sessions/{sid}/objects/1", json={"name": "ball"})
    prompts = client.get(f"/api/sessions/{sid}/download/prompts.json").json()
    assert prompts["objects"][0]["name"] == "ball" and len(prompts["objects"][0]["prompts"]) == 2
    masks = zipfile.ZipFile(io.BytesIO(client.get(f"/api/sessions/{sid}/download/masks.zip").content))
    assert len([n for n in masks.namelist() if n.endswith(".png")]) == T
    labels_ui = {n: np.array(Image.open(io.BytesIO(masks.read(n)))) for n in masks.namelist() if n.endswith(".png")}
    for t in (0, 5, 15):
        assert _iou(labels_ui[f"{t:05d}.png"] == 1, _scene(t)[1] == 1) > 0.7
    # render with a preset and download the video
    assert client.post(f"/api/sessions/{sid}/render", json={"preset": "blur"}).status_code == 200
    assert _wait(client, sid)["state"] == "done"
    video = client.get(f"/api/sessions/{sid}/download/render.mp4")
    out = tmp_path / "render.mp4"
    out.write_bytes(video.content)
    assert probe(out).frame_count == T
    # the saved prompts replay headless through the CLI; a single prompt frame gives identical masks
    first_only = {"version": 1, "objects": [dict(prompts["objects"][0], prompts=prompts["objects"][0]["prompts"][:1])]}
    pfile = tmp_path / "prompts.json"
    pfile.write_text(json.dumps(first_only))
    s2 = client.post("/api/sessions", json={}).json()["id"]
    client.post(f"/api/sessions/{s2}/prompts", json={"frame": 10, "object": 1, "points": [[50, 48]], "labels": [1]})
    client.post(f"/api/sessions/{s2}/track", json={"direction": "both", "start": 10})
    _wait(client, s2)
    ui_masks = zipfile.ZipFile(io.BytesIO(client.get(f"/api/sessions/{s2}/download/masks.zip").content))
    assert main(["-q", "track", str(clip), "--prompts", str(pfile), "-o", str(tmp_path / "cli")]) == 0
    for t in range(T):
        ui = np.array(Image.open(io.BytesIO(ui_masks.read(f"{t:05d}.png"))))
        assert np.array_equal(ui, read_label_png(tmp_path / "cli" / f"{t:05d}.png")), t
    # the correction on frame 22 edited the tracked mask: the download carries that mask inside
    # itself (the session's folder is gone once the session ends) and replays it with the click
    correction = prompts["objects"][0]["prompts"][1]
    assert correction["frame"] == 22 and correction["mask"].startswith("data:image/png;base64,")
    full = tmp_path / "full.json"
    full.write_text(json.dumps(prompts))
    assert main(["-q", "track", str(clip), "--prompts", str(full), "-o", str(tmp_path / "cli-full")]) == 0
    for t in range(22, T):
        assert np.array_equal(labels_ui[f"{t:05d}.png"], read_label_png(tmp_path / "cli-full" / f"{t:05d}.png")), t


def test_pause_undo_delete_and_errors(client: TestClient) -> None:
    sid = client.post("/api/sessions", json={}).json()["id"]
    r = client.post(f"/api/sessions/{sid}/track", json={"direction": "forward"})
    assert r.status_code == 400 and "add a prompt" in r.json()["error"]
    client.post(f"/api/sessions/{sid}/prompts", json={"frame": 0, "object": 1, "points": [[30, 45]]})
    r = client.post(f"/api/sessions/{sid}/prompts", json={"frame": 0, "object": 1, "points": [[500, 45]]})
    assert r.status_code == 400 and "outside" in r.json()["error"]
    client.post(f"/api/sessions/{sid}/track", json={"direction": "forward"})
    paused = client.post(f"/api/sessions/{sid}/pause", json={}).json()
    assert paused["state"] in ("paused", "done")
    assert client.post(f"/api/sessions/{sid}/undo", json={"object": 1}).json()["undone"] is True
    assert client.delete(f"/api/sessions/{sid}/objects/1").status_code == 200  # created by its first click
    assert client.delete(f"/api/sessions/{sid}/objects/1").status_code == 404
    assert client.get("/api/sessions/nope/job").status_code == 404
    assert client.post(f"/api/sessions/{sid}/render", json={"preset": "../../etc/passwd"}).status_code == 400
    assert client.post(f"/api/sessions/{sid}/track", json={"direction": "sideways"}).status_code == 400


@pytest.mark.parametrize("path", ["/static/../pyproject.toml", "/static/%2e%2e/%2e%2e/pyproject.toml",
                                  "/static//etc/passwd", "/api/sessions/{sid}/download/..%2f..%2fpyproject.toml",
                                  "/api/sessions/{sid}/download/%2Fetc%2Fpasswd",
                                  "/api/sessions/{sid}/download/..%5C..%5Cpyproject.toml",
                                  "/api/sessions/{sid}/download/pyproject.toml", "/../../etc/passwd"])
def test_no_path_traversal(client: TestClient, path: str) -> None:
    sid = client.post("/api/sessions", json={}).json()["id"]  # a real session: the session lookup passes
    assert client.get(f"/api/sessions/{sid}/download/prompts.json").status_code == 200
    r = client.get(path.format(sid=sid))
    assert r.status_code in (400, 404) and "root:" not in r.text and "[build-system]" not in r.text
    assert "unknown session" not in r.text


def test_uploads_are_checked(client: TestClient, clip: Path) -> None:
    video = {"Content-Type": "video/mp4"}
    r = client.post("/api/upload?name=evil.sh", content=b"#!/bin/sh\n", headers=video)
    assert r.status_code == 415 and "not a video file type" in r.json()["error"]
    r = client.post("/api/upload?name=fake.mp4", content=b"not a video at all" * 10, headers=video)
    assert r.status_code == 415 and "fake.mp4" in r.json()["error"]
    r = client.post("/api/upload?name=big.mp4", content=b"0" * 300_000, headers=video)
    assert r.status_code == 413
    r = client.post("/api/upload?name=clip.mp4", content=clip.read_bytes(),
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200
    s = client.post("/api/sessions", json={"upload": r.json()["upload"]}).json()
    assert s["frames"] == T


@pytest.mark.timeout(120)
def test_concurrent_requests_do_not_block_the_event_loop(clip: Path, tmp_path: Path, plugin_manager) -> None:  # noqa: ANN001
    """A click being segmented while the page asks for frames and sends another click (what a
    browser does): every request must finish. Holding the session's thread lock on the event
    loop used to deadlock the server here."""
    import asyncio

    import httpx

    app = create_app(UiConfig(clip, work_root=tmp_path / "ui", token=TOKEN), plugin_manager)

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        # a script's client: the token header, no cookie and no Origin
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN,
                                     headers={"X-Trackedit-Token": TOKEN}) as c:
            sid = (await c.post("/api/sessions", json={})).json()["id"]
            await c.post(f"/api/sessions/{sid}/objects", json={"name": "disc"})
            click = {"frame": 10, "object": 1, "points": [[50, 48]], "labels": [1]}
            calls = [c.post(f"/api/sessions/{sid}/prompts", json=click),
                     c.get(f"/api/sessions/{sid}/frames/10.jpg"),
                     c.post(f"/api/sessions/{sid}/prompts", json={**click, "points": [[52, 50]]}),
                     c.get(f"/api/sessions/{sid}/frames/11.jpg")]
            responses = await asyncio.wait_for(asyncio.gather(*calls), timeout=60)
            return [r.status_code for r in responses]

    assert asyncio.run(scenario()) == [200, 200, 200, 200]


def test_undo_redo_and_preset_preview(client: TestClient) -> None:
    sid = client.post("/api/sessions", json={}).json()["id"]
    client.post(f"/api/sessions/{sid}/objects", json={"name": "disc"})
    first = client.post(f"/api/sessions/{sid}/prompts", json={"frame": 10, "object": 1, "points": [[50, 48]],
                                                              "labels": [1]}).json()["area"]
    second = client.post(f"/api/sessions/{sid}/prompts", json={"frame": 10, "object": 1, "points": [[5, 5]],
                                                               "labels": [0]}).json()
    assert client.post(f"/api/sessions/{sid}/undo", json={"object": 1}).json() == {"undone": True}
    assert client.post(f"/api/sessions/{sid}/redo", json={"object": 1}).json() == {"redone": True}
    assert client.post(f"/api/sessions/{sid}/redo", json={"object": 1}).json() == {"redone": False}
    saved = client.get(f"/api/sessions/{sid}/download/prompts.json").json()
    assert [p["labels"] for p in saved["objects"][0]["prompts"]] == [[1], [0]]  # redo restored the exclude click
    assert second["area"] > 0 and first > 0

    def jpeg(path: str) -> np.ndarray:
        r = client.get(path)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg", r.text
        return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)

    raw = jpeg(f"/api/sessions/{sid}/frames/10.jpg")
    solid = jpeg(f"/api/sessions/{sid}/preview/10.jpg?preset=solid")
    mask = _scene(10)[1] == 1
    inner = mask.copy()
    for shift in (-4, 4):
        inner &= np.roll(mask, shift, 0) & np.roll(mask, shift, 1)
    outside = ~mask
    for shift in (-6, 6):
        outside &= ~np.roll(mask, shift, 0) & ~np.roll(mask, shift, 1)
    # the preview paints the object (solid black) and leaves the rest alone; the plain view
    # only tints it
    assert solid[inner].mean() < 30 and raw[inner].mean() > 60
    assert np.abs(solid[outside] - raw[outside]).mean() < 4
    remove = jpeg(f"/api/sessions/{sid}/preview/10.jpg?preset=remove&width=80")
    assert remove.shape[:2] == (60, 80)
    assert client.get(f"/api/sessions/{sid}/preview/10.jpg?preset=nope").status_code == 400
    assert client.get(f"/api/sessions/{sid}/preview/10.jpg?preset=export-masks").status_code == 400
    assert client.get(f"/api/sessions/{sid}/preview/999.jpg?preset=blur").status_code == 404


INTERNAL = {"error": "internal error (see the server log)"}


def _session_with_prompt(client: TestClient) -> str:
    sid = client.post("/api/sessions", json={}).json()["id"]
    assert client.post(f"/api/sessions/{sid}/objects", json={"name": "disc"}).json()["id"] == 1
    r = client.post(f"/api/sessions/{sid}/prompts", json={"frame": 10, "object": 1, "points": [[50, 48]]})
    assert r.status_code == 200, r.text
    return sid


def _server_errors(caplog: pytest.LogCaptureFixture) -> list:
    return [r for r in caplog.records if r.name.startswith("editor.ui") and r.levelno >= 40]


@pytest.mark.parametrize("patch, method, path", [
    ("label_map", "GET", "/frames/10.jpg"),
    ("label_map", "GET", "/preview/10.jpg?preset=solid"),
    ("prompt_set", "GET", "/download/prompts.json"),
    ("objects", "POST", "/track"),
    ("undo", "POST", "/undo"),
    ("add_prompt", "POST", "/prompts"),
])
def test_a_bug_is_a_500_and_one_log_record(client: TestClient, caplog: pytest.LogCaptureFixture,
                                           monkeypatch: pytest.MonkeyPatch, patch: str, method: str,
                                           path: str) -> None:
    """A programming error (here a KeyError/ValueError/IndexError the engine should never
    raise) is not the user's to fix: 500, one generic line, the traceback in the server log."""
    from editor.tracking.engine import TrackingSession

    sid = _session_with_prompt(client)
    bug = {"label_map": KeyError(7), "prompt_set": IndexError("list index out of range"),
           "objects": AttributeError("'NoneType' object has no attribute 'id'"),
           "undo": ValueError("too many values to unpack"), "add_prompt": ValueError("bad shape")}[patch]

    def broken(*args: object, **kwargs: object) -> None:
        raise bug

    monkeypatch.setattr(TrackingSession, patch, broken)
    body = {"object": 1, "frame": 10, "points": [[50, 48]]} if method == "POST" else None
    caplog.clear()
    r = client.request(method, f"/api/sessions/{sid}{path}", json=body)
    assert r.status_code == 500 and r.json() == INTERNAL and len(r.text.splitlines()) == 1
    [record] = _server_errors(caplog)
    assert record.exc_info is not None and record.exc_info[1] is bug
    assert path.split("?")[0] in record.getMessage()


def test_a_bug_in_a_job_fails_it_with_the_generic_line(client: TestClient, caplog: pytest.LogCaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from editor.tracking.engine import TrackingSession

    sid = _session_with_prompt(client)

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("oops")

    monkeypatch.setattr(TrackingSession, "export_masks", broken)
    caplog.clear()
    assert client.post(f"/api/sessions/{sid}/render", json={"preset": "blur"}).status_code == 200
    job = _wait(client, sid)
    assert job["state"] == "failed" and job["error"] == INTERNAL["error"]
    [record] = _server_errors(caplog)
    assert isinstance(record.exc_info[1], KeyError)


BAD_REQUESTS = [  # (method, path, JSON body or raw bytes, status, part of the message)
    ("POST", "/prompts", {"frame": 10, "object": 0, "points": [[50, 48]]}, 400, "object: input should be greater"),
    ("POST", "/prompts", {"frame": 10, "object": 256, "points": [[50, 48]]}, 400, "object: input should be less"),
    ("POST", "/prompts", {"frame": 999, "object": 1, "points": [[50, 48]]}, 400, "frame 999 is outside 0..29"),
    ("POST", "/prompts", {"object": 1, "points": [[50, 48]]}, 400, "frame: field required"),
    ("POST", "/prompts", {"frame": "ten", "object": 1, "points": [[50, 48]]}, 400, "frame: input should be a valid"),
    ("POST", "/prompts", {"frame": 10, "object": 1, "points": [[50]]}, 400, "points.0"),
    ("POST", "/prompts", {"frame": 10, "object": 1, "points": [[50, 48]], "labels": [1, 0]}, 400,
     "labels: 2 labels for 1 points"),
    ("POST", "/prompts", {"frame": 10, "object": 1, "points": [[50, 48]], "labels": [2]}, 400, "labels.0"),
    ("POST", "/prompts", {"frame": 10, "object": 1, "box": [90, 20, 10, 80]}, 400, "box: must be"),
    ("POST", "/prompts", {"frame": 10, "object": 1}, 400, "give points or a box"),
    ("POST", "/prompts", b'{"frame": 10, "object": ', 400, "not valid JSON"),
    ("POST", "/prompts", b"[10, 1]", 400, "must be a JSON object"),
    ("POST", "/undo", {}, 400, "object: field required"),
    ("POST", "/redo", {"object": "first"}, 400, "object: input should be a valid integer"),
    ("POST", "/objects", {"name": 5}, 400, "name: input should be a valid string"),
    ("PATCH", "/objects/1", {"name": ["a"]}, 400, "name: input should be a valid string"),
    ("PATCH", "/objects/7", {"name": "ghost"}, 404, "no object 7"),
    ("DELETE", "/objects/7", None, 404, "no object 7"),
    ("POST", "/track", {"direction": "sideways"}, 400, "direction: input should be 'forward', 'backward' or 'both'"),
    ("POST", "/track", {"direction": "forward", "start": 999}, 400, "start: frame 999 is outside 0..29"),
    ("POST", "/render", {"preset": 3}, 400, "preset: input should be a valid string"),
    ("POST", "/render", {"preset": "nope"}, 400, "unknown preset 'nope'"),
    # render options are flat "stage.option": "text" pairs (as --set); a nested object says so
    ("POST", "/render", {"options": {"blur": {"sigma": -1}}}, 400,
     'options: give "stage.option": "value" pairs, e.g. {"blur.sigma": "-1"}'),
    ("POST", "/render", {"options": ["blur.sigma=12"]}, 400, 'options: give "stage.option": "value" pairs'),
    ("GET", "/frames/999.jpg", None, 400, "frame 999 is outside 0..29"),
    ("GET", "/frames/3.jpg?width=wide", None, 400, "width must be a whole number of pixels"),
    ("GET", "/preview/3.jpg?preset=blur&width=-5", None, 400, "width must be a whole number of pixels"),
    ("GET", "/download/nothing.txt", None, 404, "not found"),
]


@pytest.mark.parametrize("method, path, body, status, message", BAD_REQUESTS,
                         ids=[f"{m} {p} {i}" for i, (m, p, *_) in enumerate(BAD_REQUESTS)])
def test_a_bad_request_is_a_4xx_naming_the_problem(client: TestClient, caplog: pytest.LogCaptureFixture,
                                                   method: str, path: str, body: object, status: int,
                                                   message: str) -> None:
    sid = _session_with_prompt(client)
    before = client.get(f"/api/sessions/{sid}/download/prompts.json").json()
    caplog.clear()
    if isinstance(body, bytes):
        r = client.request(method, f"/api/sessions/{sid}{path}", content=body,
                           headers={"Content-Type": "application/json"})
    else:
        r = client.request(method, f"/api/sessions/{sid}{path}", json=body)
    assert r.status_code == status and set(r.json()) == {"error"}, r.text
    assert message in r.json()["error"] and len(r.text.splitlines()) == 1
    assert _server_errors(caplog) == []  # the user's mistake, not a bug: no traceback in the log
    assert client.get(f"/api/sessions/{sid}/download/prompts.json").json() == before  # nothing changed


def test_nested_settings_name_the_flat_form(client: TestClient) -> None:
    """``{"options": {"blur": {"sigma": -1}}}`` was "options.blur: input should be a valid
    string": the render and the settings check now say which form to send."""
    r = client.post("/api/settings/check", json={"preset": "blur", "options": {"blur": {"sigma": 12}}})
    assert r.status_code == 400
    assert r.json()["error"] == 'options: give "stage.option": "value" pairs, e.g. {"blur.sigma": "12"}'
    flat = client.post("/api/settings/check", json={"preset": "blur", "options": {"blur.sigma": "12"}})
    assert flat.status_code == 200 and flat.json() == {"errors": {}}
    number = client.post("/api/settings/check", json={"preset": "blur", "options": {"blur.sigma": 12}})
    assert number.status_code == 400 and "options.blur.sigma: input should be a valid string" in number.json()["error"]


LOCKED = [  # every request that reads or changes the session waits for the session lock
    ("PATCH", "/objects/1", {"name": "ball"}),
    ("DELETE", "/objects/1", None),
    ("POST", "/objects", {"name": "another"}),
    ("POST", "/prompts", {"frame": 10, "object": 1, "points": [[52, 50]]}),
    ("POST", "/undo", {"object": 1}),
    ("POST", "/redo", {"object": 1}),
    ("POST", "/track", {"direction": "forward", "start": 27}),
    ("GET", "/frames/10.jpg", None),
    ("GET", "/preview/10.jpg?preset=solid", None),
    ("GET", "/download/prompts.json", None),
    ("GET", "/download/masks.zip", None),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("method, path, body", LOCKED, ids=[f"{m} {p}" for m, p, _ in LOCKED])
def test_session_calls_wait_for_the_session_lock(clip: Path, tmp_path: Path, plugin_manager,  # noqa: ANN001
                                                 method: str, path: str, body: object) -> None:
    """While the lock is held (a tracking step, another click), the request waits for it,
    off the event loop: other requests are still answered meanwhile."""
    import asyncio
    import threading

    import httpx

    app = create_app(UiConfig(clip, work_root=tmp_path / "ui", token=TOKEN), plugin_manager)

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=ORIGIN,
                                     headers={"X-Trackedit-Token": TOKEN}, timeout=60) as c:
            sid = (await c.post("/api/sessions", json={})).json()["id"]
            await c.post(f"/api/sessions/{sid}/objects", json={"name": "disc"})
            click = {"frame": 10, "object": 1, "points": [[50, 48]]}
            assert (await c.post(f"/api/sessions/{sid}/prompts", json=click)).status_code == 200
            lock: threading.Lock = app.state.ui.get(sid).lock
            assert lock.acquire(blocking=False)
            try:
                call = asyncio.ensure_future(c.request(method, f"/api/sessions/{sid}{path}", json=body))
                await asyncio.sleep(0.5)
                assert not call.done(), "answered without waiting for the session lock"
                job = await asyncio.wait_for(c.get(f"/api/sessions/{sid}/job"), 10)  # the loop is free
                assert job.status_code == 200
            finally:
                lock.release()
            r = await asyncio.wait_for(call, 60)
            assert r.status_code == 200, r.text
            ui = app.state.ui.get(sid)
            if ui.job is not None:
                await asyncio.to_thread(ui.job.join, 60)
                assert ui.job.state == "done", ui.job.error

    try:
        asyncio.run(scenario())
    finally:
        app.state.ui.close()


def test_frame_view_draws_masks_as_the_overlay_stage_does(client: TestClient) -> None:
    """The page's frame and a review copy (``overlay`` stage, ids off) colour and outline an
    object identically: the same drawing code on the same label map."""
    from fractions import Fraction

    import cv2

    from editor.api.frames import Frame
    from editor.api.stages import FrameItem, StageContext
    from trackedit_plugins.overlay import OverlayOptions, OverlayStage

    sid = _session_with_prompt(client)
    session = client.app.state.ui.get(sid).session
    labels = session.prompt_label_map(10)
    assert labels is not None and (labels == 1).sum() > 300
    image = session.frames[10].image
    stage = OverlayStage(OverlayOptions(labels=False), StageContext(session.info, {1: "disc"}))
    drawn = stage.process(FrameItem(Frame(10, image, 10, Fraction(1, 25), 0.4), labels)).frame.image
    ok, expected = cv2.imencode(".jpg", np.ascontiguousarray(drawn[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    r = client.get(f"/api/sessions/{sid}/frames/10.jpg")
    assert r.status_code == 200 and r.content == expected.tobytes()


def test_a_frame_shows_its_prompts_over_the_tracked_masks(client: TestClient) -> None:
    """After tracking, a correction on a frame replaces that object's tracked mask there (in
    the label map directly), other objects keep theirs; the smaller object stays in front."""
    from editor.api.masks import compose_label_map, split_label_map
    from editor.ui.routes.frames import page_labels

    sid = _session_with_prompt(client)
    client.post(f"/api/sessions/{sid}/prompts", json={"frame": 10, "object": 2, "box": [76, 73, 106, 107]})
    assert client.post(f"/api/sessions/{sid}/track", json={"direction": "forward", "start": 10}).status_code == 200
    assert _wait(client, sid)["state"] == "done"
    session = client.app.state.ui.get(sid).session
    tracked = session.label_map(22)
    assert tracked is not None and set(np.unique(tracked)) == {0, 1, 2}
    r = client.post(f"/api/sessions/{sid}/prompts", json={"frame": 22, "object": 1, "box": [2, 2, 40, 30]})
    assert r.status_code == 200  # a deliberately different mask for the disc
    shown = page_labels(session, 22)
    masks = split_label_map(tracked)
    masks[1] = session.mask_from_prompts(22, 1)
    assert np.array_equal(shown, compose_label_map(masks, tracked.shape))
    assert not np.array_equal(shown, tracked)
    assert page_labels(session, 23) is not None and np.array_equal(page_labels(session, 23), session.label_map(23))
    assert page_labels(session, 5) is None  # neither tracked nor prompted
