"""``trackedit models download sam2.1-tiny|…|edgetam``: folders from the Hugging Face hub through
``huggingface_hub``, against a local HTTP server standing in for the hub (``HF_ENDPOINT``):
pinned revision, size and SHA-256 of every file checked, an interrupted download resumed,
a file failing its hash refused with one line and nothing installed. No weights from the
real hub: the served files are a random-weight model's ``save_pretrained`` folder."""
from __future__ import annotations

import hashlib
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("huggingface_hub")
pytest.importorskip("transformers")

from editor.cli.main import main  # noqa: E402
from editor.models import REGISTRY, ModelError, download, find_checkpoint, verify  # noqa: E402
from editor.models.hub import pinned  # noqa: E402
from editor.models.registry import HubFile  # noqa: E402

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class _Hub(http.server.ThreadingHTTPServer):
    files: dict[str, bytes]
    requests: list[tuple[str, str, str | None]]
    cut_after: int | None = None
    """Serve only this many bytes of the next whole-file GET of the weights (then drop it)."""


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Hub

    def log_message(self, *args: object) -> None:
        pass

    def _file(self) -> bytes | None:
        m = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", self.path.split("?")[0])
        if not m or m.group(2) != COMMIT:
            return None
        return self.server.files.get(f"{m.group(1)}/{m.group(3)}")

    def _headers(self, data: bytes, status: int = 200, length: int | None = None) -> None:
        self.send_response(status)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        self.send_header("Content-Length", str(len(data) if length is None else length))
        self.end_headers()

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.requests.append(("HEAD", self.path, None))
        data = self._file()
        if data is None:
            self.send_error(404)
            return
        self._headers(data)

    def do_GET(self) -> None:  # noqa: N802
        rng = self.headers.get("Range")
        self.server.requests.append(("GET", self.path, rng))
        data = self._file()
        if data is None:
            self.send_error(404)
            return
        if rng:
            start = int(re.match(r"bytes=(\d+)-", rng).group(1))
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("X-Repo-Commit", COMMIT)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self._headers(data)
        cut = self.server.cut_after
        if cut is not None and self.path.endswith("model.safetensors"):
            self.server.cut_after = None
            self.wfile.write(data[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from editor.backends.sam2.synthetic import random_model, small_config

    out = tmp_path_factory.mktemp("model") / "tiny"
    random_model(small_config("sam2", 128), seed=1).save_pretrained(out)
    return out


@pytest.fixture
def hub(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Hub]:
    server = _Hub(("127.0.0.1", 0), _Handler)
    server.files = {f"facebook/sam2.1-hiera-tiny/{p.name}": p.read_bytes() for p in folder.iterdir()}
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    yield server
    server.shutdown()
    server.server_close()


def _spec(folder: Path, corrupt: str | None = None):  # noqa: ANN202
    files = []
    for name in ("config.json", "model.safetensors"):
        data = (folder / name).read_bytes()
        sha = hashlib.sha256(data).hexdigest() if name != corrupt else "0" * 64
        files.append(HubFile(name, len(data), sha))
    return pinned(REGISTRY["sam2.1-tiny"], COMMIT, tuple(files))


def test_registry_lists_the_family() -> None:
    for name in ("sam2.1-tiny", "sam2.1-small", "sam2.1-base-plus", "sam2.1-large", "edgetam"):
        spec = REGISTRY[name]
        assert spec.hub is not None and spec.kind == "sam2" and spec.hub.licence == "Apache-2.0"
        assert [f.name for f in spec.hub.files] == ["config.json", "model.safetensors"]


def test_download_checks_every_file_and_resumes(hub: _Hub, folder: Path, tmp_path: Path) -> None:
    spec = _spec(folder)
    models = tmp_path / "models"
    size = (folder / "model.safetensors").stat().st_size
    hub.cut_after = None
    seen: list[tuple[int, int | None]] = []
    path = download(spec, models, progress=lambda done, total: seen.append((done, total)))
    assert path == models / "sam2.1-hiera-tiny" and sorted(p.name for p in path.iterdir()) == \
        ["config.json", "model.safetensors"]
    assert (path / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
    assert not (models / "sam2.1-hiera-tiny.part").exists()
    assert all(COMMIT in p for _, p, _ in hub.requests)  # the pinned revision, never a branch
    assert seen and seen[-1][0] >= size
    assert find_checkpoint(spec, models) == path and verify(spec, models).ok
    count = len(hub.requests)
    assert download(spec, models) == path and len(hub.requests) == count  # installed: no network

    from editor.backends.sam2.checkpoint import load_model

    assert type(load_model(path, "sam2")).__name__ == "Sam2VideoModel"


def test_hash_mismatch_installs_nothing(hub: _Hub, folder: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    with pytest.raises(ModelError, match=r"sam2.1-hiera-tiny/model\.safetensors: SHA-256 mismatch") as info:
        download(_spec(folder, corrupt="model.safetensors"), models)
    assert "\n" not in str(info.value)
    assert not (models / "sam2.1-hiera-tiny").exists()
    assert find_checkpoint(_spec(folder), models) is None


def test_interrupted_download_completes_checked(hub: _Hub, folder: Path, tmp_path: Path) -> None:
    """The hub drops the connection a third into the weights: huggingface_hub resumes (within
    the call, or the next call does) and the installed file is the whole, checked one."""
    models = tmp_path / "models"
    size = (folder / "model.safetensors").stat().st_size
    hub.cut_after = size // 3
    spec = _spec(folder)
    try:
        path = download(spec, models)
    except ModelError as exc:
        assert "run the command again to resume" in str(exc)
        assert not (models / "sam2.1-hiera-tiny").exists()
        path = download(spec, models)
    assert sum(1 for m, p, _ in hub.requests if m == "GET" and p.endswith("model.safetensors")) >= 2
    assert verify(spec, models).ok
    assert (path / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()


def test_cli_download_failure_is_one_line(hub: _Hub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The registry's own entry against a hub without the file: one line, exit 1, nothing written."""
    models = tmp_path / "models"
    rc = main(["models", "download", "edgetam", "--models-dir", str(models)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "edgetam" in err[0]
    assert not (models / "edgetam").exists()
