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
    assert job["state"] == "done" and job["done"] == job["total"] == T + 1  # frame 10 starts both directions
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
