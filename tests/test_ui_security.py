"""Web UI security (issue #12): forged requests (foreign Host, foreign or missing Origin,
missing or wrong token, cross-site simple POSTs and uploads, cross-site reads of the event
stream and frames) are refused through the ASGI app and through a live uvicorn server on
127.0.0.1, with no side effect; what a browser or a script legitimately sends still works.
The real `trackedit ui` command prints a tokenised URL whose cookie is HttpOnly and
SameSite=Strict; `--no-token` warns and is refused off loopback."""
from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from editor.backends.assembly import BackendChoice
from editor.cli.main import main
from editor.ui.security import cookie_name, host_allow_list, is_loopback, ui_url
from editor.ui.server import UiConfig, UiState, create_app
from live_server import free_port, serving

CLASSIC = BackendChoice(segmenter="classic", tracker="classic")

TOKEN = "issue-12-token"
VIDEO_NAME = "carphone_pristine.mp4"
FOREIGN = "http://evil.example.com"
OTHER_PORT = "http://127.0.0.1:1"  # another local site: same *site* as the UI, so SameSite cookies go along
JSON_BODY, VIDEO_BODY = "json", "video"

# (id, method, path, headers, body, status). "{own}" is the UI's origin, "{port}" its port,
# "{cookie}" the cookie that opening the tokenised URL set, "{sid}" a real session's id.
COOKIE = {"Cookie": "{cookie}"}
REFUSED = [
    ("foreign-host", "GET", "/api/info", {"Host": "evil.example.com", "X-Trackedit-Token": TOKEN}, None, 400),
    ("foreign-host-with-port", "GET", "/api/info", {"Host": "evil.example.com:{port}", **COOKIE}, None, 400),
    ("foreign-host-page", "GET", f"/?token={TOKEN}", {"Host": "evil.example.com:{port}"}, None, 400),
    ("loopback-wrong-port", "GET", "/api/info", {"Host": "127.0.0.1:1", **COOKIE}, None, 400),
    ("foreign-origin-post", "POST", "/api/sessions",
     {**COOKIE, "Origin": FOREIGN, "Content-Type": "application/json"}, JSON_BODY, 403),
    ("missing-origin-post", "POST", "/api/sessions", {**COOKIE, "Content-Type": "application/json"}, JSON_BODY, 403),
    ("cross-site-simple-post", "POST", "/api/sessions",
     {"Origin": FOREIGN, "Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"}, JSON_BODY, 403),
    ("other-port-simple-post", "POST", "/api/sessions",
     {**COOKIE, "Origin": OTHER_PORT, "Content-Type": "text/plain", "Sec-Fetch-Site": "same-site"}, JSON_BODY, 403),
    ("null-origin-post", "POST", "/api/sessions",
     {**COOKIE, "Origin": "null", "Content-Type": "application/json"}, JSON_BODY, 403),
    ("cross-site-upload", "POST", f"/api/upload?name={VIDEO_NAME}",
     {"Origin": FOREIGN, "Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"}, VIDEO_BODY, 403),
    ("other-port-upload", "POST", f"/api/upload?name={VIDEO_NAME}",
     {**COOKIE, "Origin": OTHER_PORT, "Content-Type": "video/mp4"}, VIDEO_BODY, 403),
    ("missing-token", "GET", "/api/info", {}, None, 401),
    ("missing-token-post", "POST", "/api/sessions", {"Origin": "{own}", "Content-Type": "application/json"},
     JSON_BODY, 401),
    ("missing-token-frame", "GET", "/api/sessions/{sid}/frames/0.jpg", {}, None, 401),
    ("wrong-token-header", "GET", "/api/info", {"X-Trackedit-Token": "wrong"}, None, 403),
    ("wrong-token-cookie", "GET", "/api/info", {"Cookie": "trackedit_token_{port}=wrong"}, None, 403),
    ("wrong-token-script-post", "POST", "/api/sessions",
     {"X-Trackedit-Token": TOKEN + "x", "Content-Type": "application/json"}, JSON_BODY, 403),
    ("events-foreign-origin", "GET", "/api/sessions/{sid}/events", {**COOKIE, "Origin": FOREIGN}, None, 403),
    ("events-cross-site", "GET", "/api/sessions/{sid}/events", {**COOKIE, "Sec-Fetch-Site": "cross-site"}, None, 403),
    ("events-same-site", "GET", "/api/sessions/{sid}/events", {**COOKIE, "Sec-Fetch-Site": "same-site"}, None, 403),
    ("frame-cross-site", "GET", "/api/sessions/{sid}/frames/0.jpg", {**COOKIE, "Sec-Fetch-Site": "cross-site"},
     None, 403),
    ("download-same-site", "GET", "/api/sessions/{sid}/download/prompts.json",
     {**COOKIE, "Sec-Fetch-Site": "same-site"}, None, 403),
    ("own-origin-text-plain", "POST", "/api/sessions", {**COOKIE, "Origin": "{own}", "Content-Type": "text/plain"},
     JSON_BODY, 415),
    ("own-origin-form-upload", "POST", f"/api/upload?name={VIDEO_NAME}",
     {**COOKIE, "Origin": "{own}", "Content-Type": "multipart/form-data; boundary=x"}, VIDEO_BODY, 415),
    ("page-without-token", "GET", "/", {}, None, 401),
    ("page-wrong-token", "GET", "/?token=wrong", {}, None, 403),
    ("page-wrong-cookie", "GET", "/", {"Cookie": "trackedit_token_{port}=wrong"}, None, 401),
]
ALLOWED = [
    ("info-cookie", "GET", "/api/info", COOKIE, None),
    ("info-script-header", "GET", "/api/info", {"X-Trackedit-Token": TOKEN}, None),
    ("info-localhost", "GET", "/api/info", {"Host": "LOCALHOST:{port}", **COOKIE}, None),
    ("info-ipv6-loopback", "GET", "/api/info", {"Host": "[::1]:{port}", **COOKIE}, None),
    ("session-browser", "POST", "/api/sessions", {**COOKIE, "Origin": "{own}", "Content-Type": "application/json"},
     JSON_BODY),
    ("session-script", "POST", "/api/sessions", {"X-Trackedit-Token": TOKEN, "Content-Type": "application/json"},
     JSON_BODY),
    ("events-same-origin", "GET", "/api/sessions/{sid}/events", {**COOKIE, "Sec-Fetch-Site": "same-origin"}, None),
    ("frame-same-origin", "GET", "/api/sessions/{sid}/frames/0.jpg", {**COOKIE, "Sec-Fetch-Site": "same-origin"},
     None),
    ("upload-browser", "POST", f"/api/upload?name={VIDEO_NAME}",
     {**COOKIE, "Origin": "{own}", "Content-Type": "video/mp4", "Sec-Fetch-Site": "same-origin"}, VIDEO_BODY),
    ("page-with-cookie", "GET", "/", {**COOKIE, "Sec-Fetch-Site": "none"}, None),
]


class Ui:
    """A running UI (in-process ASGI or live uvicorn) and a plain HTTP client to it."""

    def __init__(self, client: httpx.Client, state: UiState, port: int, video: Path) -> None:
        self.client, self.state, self.port, self.video = client, state, port, video
        self.sid = ""

    def open_session(self) -> None:
        r = self.send("POST", "/api/sessions", {"X-Trackedit-Token": TOKEN, "Content-Type": "application/json"},
                      JSON_BODY)
        assert r.status_code == 200, r.text
        self.sid = r.json()["id"]

    def uploaded_files(self) -> int:
        folder = self.state.root / "uploads"
        return len(list(folder.iterdir())) if folder.exists() else 0

    def send(self, method: str, path: str, headers: dict[str, str], body: str | None) -> httpx.Response:
        fill = {"own": f"http://127.0.0.1:{self.port}", "port": self.port, "sid": self.sid,
                "cookie": f"{cookie_name(self.port)}={TOKEN}"}
        content = {None: None, JSON_BODY: b"{}", VIDEO_BODY: self.video.read_bytes()}[body]
        return self.client.request(method, path.format(**fill), content=content,
                                   headers={k: v.format(**fill) for k, v in headers.items()})


@pytest.fixture(scope="module", params=["asgi", "uvicorn"])
def ui(request: pytest.FixtureRequest, footage: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ui]:
    video = footage / VIDEO_NAME
    work = tmp_path_factory.mktemp("ui")
    if request.param == "asgi":
        app = create_app(UiConfig(video, CLASSIC, work_root=work, token=TOKEN))
        with TestClient(app, base_url="http://127.0.0.1:8765", follow_redirects=False) as client:
            ui = Ui(client, app.state.ui, 8765, video)
            ui.open_session()
            yield ui
        return
    port = free_port()
    app = create_app(UiConfig(video, CLASSIC, work_root=work, token=TOKEN,
                              allowed_hosts=host_allow_list("127.0.0.1", port)))
    with serving(app, port) as base, httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
        ui = Ui(client, app.state.ui, port, video)
        ui.open_session()
        yield ui


@pytest.mark.parametrize("case", REFUSED, ids=[c[0] for c in REFUSED])
def test_forged_request_is_refused(ui: Ui, case: tuple) -> None:
    _, method, path, headers, body, status = case
    before = len(ui.state.sessions), len(ui.state.uploads), ui.uploaded_files()
    r = ui.send(method, path, headers, body)
    assert r.status_code == status, r.text
    assert VIDEO_NAME not in r.text and "set-cookie" not in r.headers
    assert len(r.text.strip().splitlines()) == 1  # one line, for the page or the terminal
    if path.startswith("/api/") and status != 400:
        assert set(r.json()) == {"error"}
    # nothing happened: no session, no upload kept or even written
    assert (len(ui.state.sessions), len(ui.state.uploads), ui.uploaded_files()) == before


@pytest.mark.parametrize("case", ALLOWED, ids=[c[0] for c in ALLOWED])
def test_legitimate_request_is_served(ui: Ui, case: tuple) -> None:
    _, method, path, headers, body = case
    r = ui.send(method, path, headers, body)
    assert r.status_code == 200, r.text
    if path == "/api/info":
        assert r.json()["video"] == VIDEO_NAME
    if path == "/":
        assert '<script src="/static/app.js">' in r.text


def test_token_url_opened_from_another_site(ui: Ui) -> None:
    """Clicked on another site's page, a redirect would reach "/" without the SameSite=Strict
    cookie (the chain counts as cross-site; tests/test_ui_browser.py shows it in Chromium):
    the cookie comes with a page of our own that goes on to the clean address."""
    r = ui.send("GET", f"/?token={TOKEN}", {"Sec-Fetch-Site": "cross-site"}, None)
    assert r.status_code == 200 and '<meta http-equiv="refresh" content="0; url=/">' in r.text
    assert r.headers["set-cookie"].lower().startswith(f"trackedit_token_{ui.port}={TOKEN};".lower())
    assert {"httponly", "samesite=strict"} <= {f.strip().lower() for f in r.headers["set-cookie"].split(";")}
    r = ui.send("GET", f"/?token={TOKEN}", {"Sec-Fetch-Site": "none"}, None)  # typed, or from a terminal
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_host_allow_list_and_urls() -> None:
    hosts = host_allow_list("127.0.0.1", 8765)
    assert hosts == {("127.0.0.1", 8765), ("localhost", 8765), ("::1", 8765)}
    assert ("studio.lan", 9000) in host_allow_list("studio.lan", 9000)
    wide = host_allow_list("0.0.0.0", 9000)
    assert (socket.gethostname().lower(), 9000) in wide and ("0.0.0.0", 9000) not in wide
    assert ui_url("::1", 8765, "abc") == "http://[::1]:8765/?token=abc"
    assert ui_url("127.0.0.1", 8765, None) == "http://127.0.0.1:8765/"
    assert cookie_name(8765) != cookie_name(8766)  # cookies ignore ports: two UIs keep their own
    assert [is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost", "0.0.0.0", "::", "studio.lan")] \
        == [True, True, True, True, False, False, False]


def test_no_token_is_refused_off_loopback(footage: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for host in ("0.0.0.0", "192.168.1.10"):
        assert main(["ui", str(footage / VIDEO_NAME), "--host", host, "--no-token"]) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("trackedit: error: --no-token needs a loopback --host")


class Cli:
    """`trackedit ui` in a subprocess; its stderr is collected line by line."""

    def __init__(self, *args: str) -> None:
        exe = Path(sys.executable).with_name("trackedit")
        command = [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from editor.cli.main import main; "
                                                                          "sys.exit(main())"]
        self.proc = subprocess.Popen([*command, "ui", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def url(self, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if m := re.search(r"(http://\S+)", line):
                    return m.group(1)
            assert self.proc.poll() is None, "\n".join(self.lines)
            time.sleep(0.1)
        raise AssertionError(f"no URL printed: {self.lines}")

    def wait_listening(self, port: int) -> None:
        for _ in range(200):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            assert self.proc.poll() is None, "\n".join(self.lines)
            time.sleep(0.05)
        raise AssertionError("the server did not start listening")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("`trackedit ui` did not stop on SIGINT") from None


@pytest.mark.timeout(180)
def test_cli_prints_a_tokenised_url_that_opens_the_ui(footage: Path) -> None:
    port = free_port()
    cli = Cli(str(footage / VIDEO_NAME), "--port", str(port), "--segmenter", "classic", "--tracker", "classic")
    try:
        url = cli.url()
        m = re.fullmatch(rf"http://127\.0\.0\.1:{port}/\?token=([A-Za-z0-9_-]{{40,}})", url)
        assert m, url
        token = m.group(1)
        cli.wait_listening(port)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
            assert client.get("/").status_code == 401
            assert client.get("/api/info").status_code == 401
            opened = client.get(url)  # what the browser does with the printed URL
            assert opened.status_code == 303 and opened.headers["location"] == "/"
            cookie = opened.headers["set-cookie"]
            flags = {f.strip().lower() for f in cookie.split(";")[1:]}
            assert cookie.startswith(f"trackedit_token_{port}={token};")
            assert {"httponly", "samesite=strict", "path=/"} <= flags
            assert client.cookies.get(f"trackedit_token_{port}") == token
            assert '<script src="/static/app.js">' in client.get("/").text
            assert client.get("/api/info").json()["video"] == VIDEO_NAME
            s = client.post("/api/sessions", json={}, headers={"Origin": base})
            assert s.status_code == 200 and s.json()["name"] == VIDEO_NAME
            frame = client.get(f"/api/sessions/{s.json()['id']}/frames/0.jpg")
            assert frame.status_code == 200 and frame.content[:2] == b"\xff\xd8"
            assert client.post("/api/sessions", json={}, headers={"Origin": FOREIGN}).status_code == 403
        # a script with the token header, no cookie
        r = httpx.get(f"{base}/api/info", headers={"X-Trackedit-Token": token})
        assert r.status_code == 200
        assert httpx.get(f"{base}/api/info", headers={"Host": f"evil.example.com:{port}",
                                                      "X-Trackedit-Token": token}).status_code == 400
    finally:
        code = cli.stop()
    assert code == 130, "\n".join(cli.lines)  # 128 + SIGINT, as the CLI reports every stop signal
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # the server is gone


@pytest.mark.timeout(180)
def test_cli_no_token_warns_and_keeps_the_other_checks(footage: Path) -> None:
    port = free_port()
    cli = Cli(str(footage / VIDEO_NAME), "--port", str(port), "--segmenter", "classic", "--tracker", "classic",
              "--no-token")
    try:
        url = cli.url()
        assert url == f"http://127.0.0.1:{port}/"
        assert any(line.startswith("trackedit: --no-token:") and "any user or program" in line for line in cli.lines)
        cli.wait_listening(port)
        base = url.rstrip("/")
        with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
            assert '<script src="/static/app.js">' in client.get("/").text
            assert client.get("/api/info").json()["video"] == VIDEO_NAME
            assert client.post("/api/sessions", json={}, headers={"Origin": base}).status_code == 200
            forged = {"Origin": FOREIGN, "Content-Type": "text/plain"}
            assert client.post("/api/sessions", content=b"{}", headers=forged).status_code == 403
            assert client.post("/api/sessions", json={}).status_code == 403  # no Origin, no token header
            assert client.get("/api/info", headers={"Host": "evil.example.com"}).status_code == 400
    finally:
        code = cli.stop()
    assert code == 130, "\n".join(cli.lines)
