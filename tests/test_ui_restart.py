"""Sessions outlive the server (issue #26, ``trackedit ui --sessions DIR``): a server started
on the folder an earlier one left reopens a session with work at the same address — the same
objects, prompts, tracked masks, confidence and render — and lists its upload; sessions
without work, expired ones and unused uploads are removed; one server at a time uses the
folder; nothing read from the folder becomes a path outside it. In Chromium: make a session,
track, stop the server, start a new one on the folder, reload the address: the markers are
drawn and the mask overlay is on the frame (screenshots in test-artifacts/ui-workflow-restart-*.png)."""
from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from editor.api.errors import TrackeditError
from editor.ui.security import host_allow_list, new_token
from editor.ui.server import UiConfig, create_app
from editor.video.reader import iter_frames
from live_server import free_port, serving
from test_ui_api import _wait
from test_ui_session_state import ORIGIN, SQUARE, TOKEN, SquareClip, _png

N = SQUARE.n


def _client(app):  # noqa: ANN001, ANN202
    return TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN, "X-Trackedit-Token": TOKEN})


def _app(clip: Path | None, root: Path, **kw):  # noqa: ANN003, ANN202
    return create_app(UiConfig(clip, work_root=root, token=TOKEN, keep_sessions=True, **kw))


def test_a_restarted_server_reopens_sessions_with_work(tmp_path: Path) -> None:
    clip = SQUARE.write(tmp_path / "clip.mp4")
    root = tmp_path / "sessions"
    with _client(_app(clip, root)) as c:
        sid = c.post("/api/sessions", json={}).json()["id"]
        s = f"/api/sessions/{sid}"
        c.post(f"{s}/objects", json={"name": "square"})
        assert c.post(f"{s}/prompts", json={"frame": 0, "object": 1, "box": [28, 28, 72, 72]}).status_code == 200
        c.post(f"{s}/track", json={"direction": "forward", "start": 0})
        assert _wait(c, sid)["state"] == "done"
        c.post(f"{s}/prompts", json={"frame": 5, "object": 1, "points": [[60, 50], [5, 5]], "labels": [1, 0]})
        c.post(f"{s}/objects", json={"name": "not clicked yet"})  # an object without prompts
        assert c.post(f"{s}/render", json={"preset": "blur", "output": {"container": "webm"}}).status_code == 200
        assert _wait(c, sid)["state"] == "done"
        before = {"objects": c.get(f"{s}/objects").json(), "markers": c.get(f"{s}/prompts?frame=5").json(),
                  "labels": [_png(c.get(f"{s}/labels/{i}.png").content) for i in range(N)],
                  "confidence": c.get(f"{s}/confidence").json(), "result": c.get(f"{s}/result").content}
        assert (before["labels"][N - 1] == 1).sum() > 500
        up = c.post("/api/upload?name=holiday.mp4", content=clip.read_bytes(), headers={"Content-Type": "video/mp4"}
                    ).json()["upload"]
        other = c.post("/api/sessions", json={"upload": up}).json()["id"]
        c.post(f"/api/sessions/{other}/objects", json={})
        c.post(f"/api/sessions/{other}/prompts", json={"frame": 2, "object": 1, "points": [[40, 40]]})
        idle = c.post("/api/sessions", json={}).json()["id"]  # no work: gone with the server
        unused = c.post("/api/upload?name=unused.mp4", content=clip.read_bytes(),
                        headers={"Content-Type": "video/mp4"}).json()["upload"]
        with pytest.raises(TrackeditError, match="another `trackedit ui` uses this sessions folder"):
            _app(clip, root)
    assert (root / sid / "session.json").is_file() and (root / other / "prompts.json").is_file()
    assert not (root / idle).exists() and not list((root / "uploads").glob(f"{unused}.*"))
    # an expired session and a folder that is not a session: the one removed, the other left alone
    expired = "ab" * 16
    (root / expired).mkdir()
    record = json.loads((root / sid / "session.json").read_text())
    (root / expired / "session.json").write_text(json.dumps({**record, "seen": time.time() - 3600}))
    (root / "notes").mkdir()
    with _client(_app(clip, root)) as c:
        assert not (root / expired).exists() and (root / "notes").is_dir()
        assert c.get(f"/api/sessions/{expired}").status_code == 404
        videos = c.get("/api/videos").json()["videos"]
        assert [(v["name"], v["upload"], v["sessions"]) for v in videos] == [("holiday.mp4", up, 1),
                                                                              ("clip.mp4", None, 1)]
        assert sum(sid in v["earlier"] for v in videos) == 1  # the session left there, offered
        again = c.get(f"/api/sessions/{sid}").json()
        assert (again["id"], again["frames"], again["render"], again["job"]) == (sid, N, "webm", {"state": "idle"})
        s = f"/api/sessions/{sid}"
        assert c.get(f"{s}/objects").json() == before["objects"]
        assert c.get(f"{s}/prompts?frame=5").json() == before["markers"]
        for i in range(N):
            assert np.array_equal(_png(c.get(f"{s}/labels/{i}.png").content), before["labels"][i]), i
        assert c.get(f"{s}/confidence").json() == before["confidence"]
        assert c.get(f"{s}/result").content == before["result"]
        assert c.get(f"/api/sessions/{other}").json()["name"] == "holiday.mp4"
        assert [p["points"] for p in c.get(f"/api/sessions/{other}/prompts?frame=2").json()["prompts"]] == [[[40, 40]]]
        # the reopened session works on: a correction tracked again
        c.post(f"{s}/track", json={"direction": "forward", "start": 5})
        assert _wait(c, sid)["state"] == "done"
        assert (_png(c.get(f"{s}/labels/{N - 1}.png").content) == 1).sum() > 500
        # closed explicitly: gone for good, also for the next server
        assert c.delete(f"/api/sessions/{other}").json() == {"closed": True}
    with _client(_app(clip, root)) as c:
        assert c.get(f"/api/sessions/{other}").status_code == 404
        assert c.get(f"/api/sessions/{sid}").status_code == 200


def test_what_a_kept_folder_holds_never_leads_outside_it(tmp_path: Path) -> None:
    clip = SQUARE.write(tmp_path / "clip.mp4")
    root = tmp_path / "sessions"
    with _client(_app(clip, root)) as c:
        sid = c.post("/api/sessions", json={}).json()["id"]
        c.post(f"/api/sessions/{sid}/objects", json={})
        c.post(f"/api/sessions/{sid}/prompts", json={"frame": 0, "object": 1, "points": [[50, 50]]})
    # a mask file outside the session's folder planted in its prompts: refused, nothing read
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"\x89PNG not really")
    prompts = json.loads((root / sid / "prompts.json").read_text())
    planted = dict(prompts, objects=[dict(prompts["objects"][0], prompts=[{"frame": 0, "mask": str(secret)}])])
    (root / sid / "prompts.json").write_text(json.dumps(planted))
    with _client(_app(clip, root)) as c:
        r = c.get(f"/api/sessions/{sid}")
        assert r.status_code == 404 and r.json()["error"] == "that session could not be reopened (see the server log)"
    # a record naming another video than this server's (same name, other bytes): not reopened
    (root / sid / "prompts.json").write_text(json.dumps(prompts))
    (tmp_path / "other").mkdir()
    longer = SquareClip(n=14).write(tmp_path / "other" / "clip.mp4")
    with _client(_app(longer, root)) as c:
        r = c.get(f"/api/sessions/{sid}")
        assert r.status_code == 404 and r.json()["error"].startswith("that session edits clip.mp4, which this server")
    # a session folder that is a link: never followed, never removed; an id that is not one is a 404
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(root / sid, elsewhere)
    linked = "cd" * 16
    os.symlink(elsewhere, root / linked)
    with _client(_app(clip, root)) as c:
        assert c.get(f"/api/sessions/{linked}").status_code == 404
        assert c.get("/api/sessions/..%2F..%2Fetc").status_code == 404
        assert c.get(f"/api/sessions/{sid}").status_code == 200
    assert (elsewhere / "session.json").is_file()
    # a work folder planted as a link (the engine writes there): the session is not reopened
    # but removed, and nothing is written or removed where the link leads
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(root / sid / "work")
    os.symlink(outside, root / sid / "work")
    with _client(_app(clip, root)) as c:
        assert c.get(f"/api/sessions/{sid}").status_code == 404
    assert not (root / sid).exists() and outside.is_dir() and list(outside.iterdir()) == []


@pytest.mark.slow
def test_reload_after_a_restart_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from test_ui_workflow import ARGS, SQUARE as BIG, _chromium, _frame_loaded, _frame_pixels, _goto, _labels, \
        _markers, _shot, _to_screen

    chromium = _chromium()
    clip = BIG.write(tmp_path / "square.mp4")
    root, port = tmp_path / "sessions", free_port()
    size, last = (BIG.w, BIG.h), BIG.n - 1

    def server(token: str):  # noqa: ANN202 - `trackedit ui square.mp4 --sessions DIR`, started anew each time
        return serving(create_app(UiConfig(clip, work_root=root, keep_sessions=True, token=token,
                                           allowed_hosts=host_allow_list("127.0.0.1", port))), port)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        token = new_token()
        with server(token) as base:
            page.goto(f"{base}/?token={token}")
            _frame_loaded(page)
            sid = page.evaluate("state.sid")
            ix, iy = _to_screen(page, 90, 90, size)  # an include click on the square, an exclude beside it
            page.mouse.click(ix, iy)
            ex, ey = _to_screen(page, 20, 160, size)
            page.mouse.click(ex, ey, button="right")
            page.wait_for_function("document.querySelectorAll('#markers g.marker').length === 2")
            clicked = _markers(page)
            page.click("#track-forward")
            page.wait_for_function("document.getElementById('job-status').textContent.startsWith('track done')",
                                   timeout=120_000)
            _goto(page, last)
            tracked, labels = _frame_pixels(page), _labels(page, last)
            assert (labels == 1).sum() > 1000, (labels == 1).sum()
            _shot(page, "restart-1-tracked")
        # the server is gone: the page cannot reach it; a new server on the same folder
        assert (root / sid / "session.json").is_file()
        token = new_token()
        with server(token) as base:
            page.goto(f"{base}/?token={token}#s={sid}")  # the address the new server printed, with the session's
            page.wait_for_function(f"state.ready && state.sid === '{sid}' && state.objects.length === 1"
                                   " && state.confidence !== null")
            assert page.url.endswith(f"#s={sid}") and page.locator("#error").is_hidden()
            _frame_loaded(page)
            marks = _markers(page)  # frame 0: the two clicks, drawn where they were made
            assert [(m["kind"], round(m["x"]), round(m["y"])) for m in marks] == [
                (m["kind"], round(m["x"]), round(m["y"])) for m in clicked]
            _shot(page, "restart-2-markers")
            _goto(page, last)
            assert np.array_equal(_labels(page, last), labels)
            shown = _frame_pixels(page)
            assert np.abs(shown - tracked).mean() < 1  # the same masks, drawn the same
            # the mask overlay is on the frame: the masked pixels tinted, the rest the video's own
            source = next(f.image for i, f in enumerate(iter_frames(clip)) if i == last)
            small = np.array(Image.fromarray(source).resize(shown.shape[1::-1], Image.BILINEAR), float)
            mask = np.array(Image.fromarray((labels == 1).astype(np.uint8) * 255).resize(shown.shape[1::-1]), bool)
            inside, outside = (np.abs(shown[m] - small[m]).mean() for m in (mask, ~mask))
            assert inside > 3 * outside and inside > 15, (inside, outside)
            _shot(page, "restart-3-masks")
            assert page.evaluate("[...document.getElementById('recent').options].map(o => o.textContent)")[1] \
                .startswith("square.mp4 · ")
        # a server started on the folder with another video: the page says why, and opens a new session
        (tmp_path / "other").mkdir()
        other = SquareClip(w=BIG.w, h=BIG.h, n=BIG.n + 3).write(tmp_path / "other" / "square.mp4")  # same name
        token = new_token()
        with serving(create_app(UiConfig(other, work_root=root, keep_sessions=True, token=token,
                                         allowed_hosts=host_allow_list("127.0.0.1", port))), port) as base:
            page.goto(f"{base}/?token={token}#s={sid}")
            page.wait_for_function(f"state.ready && state.sid !== '{sid}'")
            assert page.inner_text("#error").startswith("That session edits square.mp4, which this server has not "
                                                        "opened")
            assert page.inner_text("#error").endswith("This is a new session.")
            _shot(page, "restart-4-other-video")
        assert not errors, errors
        browser.close()


def test_the_command_keeps_sessions_across_a_stop(tmp_path: Path) -> None:
    """`trackedit ui CLIP --sessions DIR` stopped by a signal and started again: the session
    is there; a second server on the same folder at the same time is refused in one line."""
    import signal
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    clip = SQUARE.write(tmp_path / "clip.mp4")
    root = tmp_path / "kept"
    started: list[subprocess.Popen[str]] = []

    def launch(port: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-m", "editor", "ui", str(clip), "--port", str(port),
                                 "--sessions", str(root)], cwd=tmp_path, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started.append(proc)
        return proc

    def serve(port: int) -> tuple[subprocess.Popen[str], Callable[..., dict]]:
        proc = launch(port)
        assert proc.stderr is not None
        token = next((line.split("?token=")[1].split()[0] for line in proc.stderr if "UI on http" in line), None)
        assert token, proc.communicate()
        origin = f"http://127.0.0.1:{port}"

        def call(path: str, body: dict | None = None) -> dict:
            req = urllib.request.Request(origin + path, None if body is None else json.dumps(body).encode(),
                                         {"X-Trackedit-Token": token, "Origin": origin,
                                          "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())

        deadline = time.monotonic() + 60
        while True:  # the URL is printed just before the server listens
            try:
                call("/api/info")
                break
            except urllib.error.URLError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
                time.sleep(0.05)
        return proc, call

    try:
        proc, call = serve(free_port())
        sid = call("/api/sessions", {})["id"]
        call(f"/api/sessions/{sid}/objects", {"name": "square"})
        call(f"/api/sessions/{sid}/prompts", {"frame": 3, "object": 1, "points": [[50, 50]]})
        other = launch(free_port())
        _, err = other.communicate(timeout=60)
        assert other.returncode == 1 and err.strip().splitlines()[-1].startswith("trackedit: error: ")
        assert "another `trackedit ui` uses this sessions folder" in err.strip().splitlines()[-1]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert proc.returncode == 143 and (root / sid / "session.json").is_file()
        proc, call = serve(free_port())
        assert call(f"/api/sessions/{sid}")["id"] == sid
        assert [o["name"] for o in call(f"/api/sessions/{sid}/objects")["objects"]] == ["square"]
        assert [p["points"] for p in call(f"/api/sessions/{sid}/prompts?frame=3")["prompts"]] == [[[50, 50]]]
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=60)
        assert proc.returncode == 143
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()
