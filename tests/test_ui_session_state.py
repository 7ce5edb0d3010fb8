"""The web UI's server owns a session's work (issue #26): a second page on the same session
gets the same objects, prompts and masks; the prompts are autosaved to the session folder;
the page's goodbye closes a session only when it holds no work; a click is taken back
wherever it is; the videos this server can open are listed; render settings come from each
stage's options model and are checked with the CLI's own messages; a setting changes the
render, measured in the output; the chosen container is what is written and served."""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from clips import write_clip
from editor.cli.main import main
from editor.ui.server import UiConfig, create_app
from editor.video.reader import iter_frames, probe
from test_ui_api import _wait

TOKEN = "test-token"
ORIGIN = "http://127.0.0.1:8765"
@dataclass(frozen=True)
class SquareClip:
    """A square with a fixed random texture moving right over a static textured background
    (the texture makes blur measurable): frame size (px), frames, the square's side, its
    first top-left corner and its step per frame (px)."""

    w: int = 160
    h: int = 96
    n: int = 10
    side: int = 40
    x0: int = 30
    y0: int = 30
    step: int = 4

    def write(self, path: Path) -> Path:
        rng = np.random.default_rng(7)
        background = (rng.integers(0, 60, (self.h, self.w, 1))
                      + np.linspace(40, 120, self.w)[None, :, None]).astype(np.uint8)
        texture = rng.integers(0, 256, (self.side, self.side, 3)).astype(np.uint8)
        texture[..., 0] = np.maximum(texture[..., 0], 160)  # reddish

        def images():  # noqa: ANN202
            for t in range(self.n):
                img = np.repeat(background, 3, axis=2)
                img[self.square(t)] = texture
                yield img
        return write_clip(path, images(), pix_fmt="yuv444p", options={"crf": "0"})

    def square(self, t: int) -> tuple[slice, slice]:
        x = self.x0 + self.step * t
        return slice(self.y0, self.y0 + self.side), slice(x, x + self.side)

    def detail(self, video: Path, inside: bool) -> float:
        """Mean absolute vertical gradient over ``video``, in the middle of the square
        (``inside``) or in the background below it (texture → high, blurred → low)."""
        m = self.side // 5
        values = []
        for t, f in enumerate(iter_frames(video)):
            ys, xs = self.square(t)
            region = (f.image[ys.start + m:ys.stop - m, xs.start + m:xs.stop - m] if inside
                      else f.image[ys.stop + self.side // 4:, :])
            values.append(np.abs(np.diff(region.astype(float), axis=0)).mean())
        return float(np.mean(values))


SQUARE = SquareClip()
W, H, N = SQUARE.w, SQUARE.h, SQUARE.n


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return SQUARE.write(tmp_path / "clip.mp4")


@pytest.fixture
def client(clip: Path, tmp_path: Path, plugin_manager):  # noqa: ANN001, ANN201
    app = create_app(UiConfig(clip, work_root=tmp_path / "ui", token=TOKEN), plugin_manager)
    with TestClient(app, base_url=ORIGIN, headers={"Origin": ORIGIN, "X-Trackedit-Token": TOKEN}) as c:
        yield c


def _png(data: bytes) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


def test_work_belongs_to_the_server(client: TestClient, tmp_path: Path) -> None:
    sid = client.post("/api/sessions", json={}).json()["id"]
    s = f"/api/sessions/{sid}"
    assert client.post(f"{s}/objects", json={"name": "square"}).json()["id"] == 1
    for point, label in (((50, 50), 1), ((45, 35), 1), ((10, 10), 0)):
        assert client.post(f"{s}/prompts", json={"frame": 0, "object": 1, "points": [point], "labels": [label]}
                           ).status_code == 200
    saved = json.loads((tmp_path / "ui" / sid / "prompts.json").read_text())  # autosaved after each change
    [obj] = saved["objects"]
    assert obj["name"] == "square" and [p["points"] for p in obj["prompts"]] == [[[50, 50]], [[45, 35]], [[10, 10]]]
    markers = client.get(f"{s}/prompts?frame=0").json()["prompts"]
    assert [(m["object"], m["index"], m["points"], m["labels"]) for m in markers] == [
        (1, 0, [[50.0, 50.0]], [1]), (1, 1, [[45.0, 35.0]], [1]), (1, 2, [[10.0, 10.0]], [0])]
    assert client.get(f"{s}/prompts?frame=1").json()["prompts"] == []
    # a click taken back wherever it is (the second one), not only the latest
    assert client.delete(f"{s}/prompts/0/1/1").status_code == 200
    assert [m["points"] for m in client.get(f"{s}/prompts?frame=0").json()["prompts"]] == [[[50.0, 50.0]],
                                                                                         [[10.0, 10.0]]]
    assert len(json.loads((tmp_path / "ui" / sid / "prompts.json").read_text())["objects"][0]["prompts"]) == 2
    r = client.delete(f"{s}/prompts/0/1/5")
    assert r.status_code == 400 and r.json() == {"error": "object 1 has no prompt 5 on frame 0"}
    # the square again, with a box (what the classical segmenter gets right on stripes)
    assert client.delete(f"{s}/objects/1").status_code == 200
    assert client.post(f"{s}/objects", json={"name": "square"}).json()["id"] == 1
    client.post(f"{s}/prompts", json={"frame": 0, "object": 1, "box": [28, 28, 72, 72]})
    client.post(f"{s}/track", json={"direction": "forward", "start": 0})
    assert _wait(client, sid)["state"] == "done"
    labels = _png(client.get(f"{s}/labels/{N - 1}.png").content)
    assert labels.shape == (H, W) and labels.dtype == np.uint8
    square = np.zeros((H, W), bool)
    square[SQUARE.square(N - 1)] = True
    iou = ((labels == 1) & square).sum() / ((labels == 1) | square).sum()
    assert iou > 0.5, iou  # the tracked square (the classical tracker trims its edges)
    with zipfile.ZipFile(io.BytesIO(client.get(f"{s}/download/masks.zip").content)) as z:
        exported = np.array(Image.open(io.BytesIO(z.read(f"{N - 1:05d}.png"))))
    assert np.array_equal(labels, exported)  # what the page reads under the pointer is what renders use
    # a reload or a second tab: the same session, objects and masks from the server
    again = client.get(s).json()
    assert again["id"] == sid and again["frames"] == N and again["job"]["state"] == "done"
    assert again["job"]["elapsed"] >= 0 and again["job"]["eta"] is None
    assert [o["name"] for o in client.get(f"{s}/objects").json()["objects"]] == ["square"]
    assert np.array_equal(_png(client.get(f"{s}/labels/{N - 1}.png").content), labels)
    # the page's goodbye (pagehide) keeps a session with work; an explicit close ends it
    assert client.delete(f"{s}?unless_work=1").json() == {"closed": False}
    assert client.get(s).status_code == 200
    empty = client.post("/api/sessions", json={}).json()["id"]
    assert client.delete(f"/api/sessions/{empty}?unless_work=1").json() == {"closed": True}
    assert client.delete(s).json() == {"closed": True} and not (tmp_path / "ui" / sid).exists()


def test_recent_videos_and_a_second_video(client: TestClient, clip: Path) -> None:
    assert client.get("/api/videos").json()["videos"] == [
        {"upload": None, "name": "clip.mp4", "bytes": clip.stat().st_size, "sessions": 0, "earlier": []}]
    first = client.post("/api/sessions", json={}).json()
    up = client.post("/api/upload?name=holiday%20clip.mp4", content=clip.read_bytes(),
                     headers={"Content-Type": "video/mp4"}).json()
    assert up["name"] == "holiday clip.mp4"
    second = client.post("/api/sessions", json={"upload": up["upload"]}).json()
    assert second["id"] != first["id"] and second["name"] == "holiday clip.mp4" and second["upload"] == up["upload"]
    assert [(v["name"], v["sessions"]) for v in client.get("/api/videos").json()["videos"]] == [
        ("holiday clip.mp4", 1), ("clip.mp4", 1)]
    assert client.get(f"/api/sessions/{first['id']}").status_code == 200  # the first session is still there
    # a session with work is offered as an earlier session of its video
    assert [v["earlier"] for v in client.get("/api/videos").json()["videos"]] == [[], []]
    oid = client.post(f"/api/sessions/{first['id']}/objects", json={"name": "a"}).json()["id"]
    client.post(f"/api/sessions/{first['id']}/prompts", json={"frame": 0, "object": oid, "points": [[5, 5]], "labels": [1]})
    assert [v["earlier"] for v in client.get("/api/videos").json()["videos"]] == [[], [first["id"]]]


def _cli_error(capsys, clip: Path, tmp_path: Path, *args: str) -> str:  # noqa: ANN001
    assert main(["run", str(clip), "--preset", "blur", "--masks", str(tmp_path), "-o", str(tmp_path / "never.mp4"), *args]) == 1
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("trackedit: error: ")
    return line.removeprefix("trackedit: error: ")


def test_settings_form_and_its_messages(client: TestClient, clip: Path, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    form = client.get("/api/settings").json()
    assert "export-masks" not in form["presets"] and "libx264" in form["codecs"]
    blur = {f["name"]: f for f in form["presets"]["blur"]["stages"][0]["fields"]}
    assert blur["sigma"]["kind"] == "number" and blur["sigma"]["minimum"] == 0 and blur["dilate"]["value"] == 6
    assert blur["shape"]["kind"] == "choice" and blur["shape"]["choices"] == ["mask", "box"]
    assert "objects" not in blur  # left to presets and the CLI
    solid = {f["name"]: f for f in form["presets"]["solid"]["stages"][0]["fields"]}
    assert solid["color"]["kind"] == "color" and solid["color"]["value"] == [0, 0, 0]
    remove = {f["name"]: f for f in form["presets"]["remove"]["stages"][0]["fields"]}
    assert remove["window"]["value"] == 10 and remove["window"]["maximum"] == 100
    sid = client.post("/api/sessions", json={}).json()["id"]
    (tmp_path / "masks").mkdir()
    for options, flag in (({"blur.sigma": "-3"}, "blur.sigma=-3"), ({"blur.sigma": "lots"}, "blur.sigma=lots"),
                          ({"blur.size": "3"}, "blur.size=3")):
        r = client.post(f"/api/sessions/{sid}/render", json={"preset": "blur", "options": options})
        assert r.status_code == 400
        assert r.json()["error"] == _cli_error(capsys, clip, tmp_path / "masks", "--set", flag)
    r = client.get(f"/api/sessions/{sid}/preview/0.jpg?preset=blur&set=blur.sigma=-3")
    assert r.status_code == 400 and r.json()["error"] == _cli_error(capsys, clip, tmp_path / "masks", "--set",
                                                                     "blur.sigma=-3")
    # no text from the page becomes a path: options that take one are neither offered nor taken
    background = {f["name"] for f in form["presets"]["background"]["stages"][0]["fields"]}
    assert "mode" in background and "path" not in background
    secret = tmp_path / "secret.png"
    r = client.post(f"/api/sessions/{sid}/render", json={"preset": "background", "options": {
        "background.mode": "image", "background.path": str(secret)}})
    assert r.status_code == 400 and r.json()["error"] == (f"--set background.path={secret}: the web UI takes no "
                                                          "file paths (use `trackedit run --set`)")
    r = client.get(f"/api/sessions/{sid}/preview/0.jpg?preset=background&set=background.path={secret}")
    assert r.status_code == 400 and "takes no file paths" in r.json()["error"]
    r = client.post(f"/api/sessions/{sid}/render", json={"preset": "blur", "output": {"crf": 99}})
    assert r.status_code == 400 and r.json()["error"].startswith("output.crf: input should be less than or equal")


def test_a_setting_changes_the_render(client: TestClient, clip: Path, tmp_path: Path) -> None:
    sid = client.post("/api/sessions", json={}).json()["id"]
    s = f"/api/sessions/{sid}"
    client.post(f"{s}/objects", json={"name": "square"})
    client.post(f"{s}/prompts", json={"frame": 0, "object": 1, "box": [28, 28, 72, 72]})
    client.post(f"{s}/track", json={"direction": "forward"})
    assert _wait(client, sid)["state"] == "done"
    outs = {}
    for sigma, container in ((1, "mp4"), (30, "webm")):
        r = client.post(f"{s}/render", json={"preset": "blur", "options": {"blur.sigma": str(sigma)},
                                              "output": {"container": container, "crf": 10}})
        assert r.status_code == 200, r.text
        job = _wait(client, sid)
        assert job["state"] == "done", job
        assert client.get(s).json()["render"] == container
        got = client.get(f"{s}/result")
        assert got.status_code == 200 and got.headers["content-type"] == f"video/{container}"
        path = tmp_path / f"sigma{sigma}.{container}"
        path.write_bytes(got.content)
        assert probe(path).frame_count == N
        outs[sigma] = path
    source = SQUARE.detail(clip, True)
    weak, strong = SQUARE.detail(outs[1], True), SQUARE.detail(outs[30], True)
    assert strong < 0.3 * weak < 0.3 * source, (source, weak, strong)  # stronger blur: the texture is gone
    assert abs(SQUARE.detail(outs[1], False) - SQUARE.detail(outs[30], False)) < 1  # outside the mask: the same
    ranged = client.get(f"{s}/result", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100  # the player can seek
    assert len(list((tmp_path / "ui" / sid).glob("render.*"))) == 1  # the last render only


def test_job_time_left_from_the_rate_so_far() -> None:
    from editor.ui.jobs import Job

    job = Job("render", started=100.0)
    assert job.eta(now=101.0) is None  # nothing counted yet: the page says "estimating"
    job.progress(10, 40, 9)
    assert job.eta(now=102.0) == pytest.approx(6.0)  # 10 frames in 2 s, 30 to go
    job.state = "done"
    assert job.eta(now=103.0) is None


def test_hidden_objects_are_not_drawn(client: TestClient) -> None:
    import cv2

    sid = client.post("/api/sessions", json={}).json()["id"]
    s = f"/api/sessions/{sid}"
    bare = client.get(f"{s}/frames/0.jpg").content  # before any object
    for box in ([28, 28, 72, 72], [100, 50, 150, 90]):
        oid = client.post(f"{s}/objects", json={}).json()["id"]
        client.post(f"{s}/prompts", json={"frame": 0, "object": oid, "box": box})

    def image(query: str) -> np.ndarray:
        r = client.get(f"{s}/frames/0.jpg{query}")
        assert r.status_code == 200, r.text
        return cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR).astype(float)

    labels = _png(client.get(f"{s}/labels/0.png").content)
    assert (labels == 1).sum() > 500 and (labels == 2).sum() > 500
    plain, both, one = image(""), image("?hide=1,2"), image("?hide=2")
    original = cv2.imdecode(np.frombuffer(bare, np.uint8), cv2.IMREAD_COLOR).astype(float)
    assert np.abs(both - original).mean() < 1  # every object hidden: the video's own frame
    first, second = labels == 1, labels == 2
    assert np.abs(one[first] - plain[first]).mean() < 1 and np.abs(one[second] - original[second]).mean() < 1
    assert np.abs(plain[second] - original[second]).mean() > 15  # (drawn when shown)
    for bad in ("x", "1;2", "99999", "-1"):
        r = client.get(f"{s}/frames/0.jpg?hide={bad}")
        assert r.status_code == 400 and r.json()["error"].startswith("hide must be object ids"), bad
