"""The documentation site builds with ``mkdocs build --strict``: every page, every snippet it
includes (README.md's set-up commands, BENCHMARKS.md, ARCHITECTURE.md), every link and anchor,
and the API reference rendered from the docstrings. A broken link fails the build (checked
with a page that has one). docs/ui.md's HTTP API table lists every route of the web UI's
server (checked without mkdocs)."""
from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

API_SECTION = "## HTTP API (scripting the UI)"
METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE"}


@pytest.fixture
def mkdocs_installed() -> None:
    for module, package in (("mkdocs", "mkdocs"), ("material", "mkdocs-material"),
                            ("mkdocstrings", "mkdocstrings"), ("mkdocstrings_handlers.python", "mkdocstrings-python")):
        pytest.importorskip(module, reason=f"{package} is not installed (the docs extra: pip install -e '.[docs]')")


def _api_rows(text: str) -> set[tuple[str, str]]:
    """(method, path) of each row of docs/ui.md's route table: its first cell a method, its
    second the path in backticks."""
    section = text.split(API_SECTION, 1)[1].split("\n## ", 1)[0]
    rows = set()
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) > 2 and cells[0] in METHODS and re.fullmatch(r"`[^`]+`", cells[1]):
            rows.add((cells[0], cells[1].strip("`")))
    return rows


def _ui_routes() -> set[tuple[str, str]]:
    """(method, path) of every route of the web UI's server (``_routes()``) but the page
    ("/") and the static files' mount, with path converters dropped (``{oid:int}`` → ``{oid}``)."""
    from starlette.routing import Route

    from editor.ui.server import _routes
    out = set()
    for route in _routes():
        if isinstance(route, Route) and route.path != "/":
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            out.update((method, path) for method in route.methods or () if method != "HEAD")
    return out


def test_every_ui_route_is_in_the_http_api_docs() -> None:
    """A new route of the UI's server without a row in docs/ui.md's HTTP API table fails, and
    so does a row for a route that is gone (scripts read that table, not static/app.js)."""
    text = (REPO / "docs" / "ui.md").read_text()
    assert API_SECTION in text
    routes, rows = _ui_routes(), _api_rows(text)
    assert len(routes) > 25  # the table is read, not skipped
    assert not routes - rows, f"routes missing from docs/ui.md's HTTP API table: {sorted(routes - rows)}"
    assert not rows - routes, f"rows of docs/ui.md's HTTP API table that are no route: {sorted(rows - routes)}"



def test_the_curl_example_calls_only_routes() -> None:
    """Every request of docs/ui.md's curl example (its ``sh`` block: a script against a running
    server, not run here) is a route of the UI's server with that method: ``-X METHOD`` or
    GET, the path after ``$URL`` with ``$SID`` for the session id. Renaming a route or a
    method fails here (the README test checks the ``bash`` blocks; this one is ``sh``)."""
    text = (REPO / "docs" / "ui.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 1
    routes = {(method, re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"))
              for method, path in _ui_routes()}
    calls = []
    for line in blocks[0].splitlines():
        for request in re.findall(r"curl [^;|)]*", line):
            url = re.search(r"\$URL(/\S*)", request)
            assert url, f"no $URL in {request!r}"
            method = re.search(r"-X (\w+)", request)
            path = url[1].strip("'\"").replace("$SID", "s1")
            calls.append((method[1] if method else "GET", path))
    assert len(calls) >= 10
    for method, path in calls:
        assert any(m == method and pattern.match(path) for m, pattern in routes), \
            f"docs/ui.md's curl example calls {method} {path}, which is no route of the UI's server"

def _build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"),
                           "-d", str(site)], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def test_site_builds_strict(tmp_path: Path, mkdocs_installed: None) -> None:
    result = _build(REPO, tmp_path / "site")
    assert result.returncode == 0, result.stderr[-3000:]
    site = tmp_path / "site"
    plugins = (site / "plugins" / "index.html").read_text()
    for hook in ("editor_register_stages", "editor_register_sinks", "editor_run_finished"):
        assert f'id="editor.api.hookspecs.{hook}"' in plugins, hook  # the hook reference, from the docstrings
    mattes = (site / "mattes" / "index.html").read_text()
    assert "DaVinci Resolve" in mattes and "--8&lt;--" not in mattes
    index = html.unescape(re.sub(r"<[^>]+>", "", (site / "index.html").read_text()))
    assert "--8<--" not in index and "./setup.sh && . .venv/bin/activate" in index  # README's set-up commands
    assert 'id="editor.moviepy.TrackedEdit"' in (site / "moviepy" / "index.html").read_text()
    assert "Latest figures" in (site / "benchmarks" / "index.html").read_text()
    assert (site / "images" / "before-after.jpg").is_file() and not (site / "make_figures.py").exists()


def test_broken_link_fails_the_build(tmp_path: Path, mkdocs_installed: None) -> None:
    root = tmp_path / "repo"
    for folder in ("docs", "editor"):
        shutil.copytree(REPO / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("mkdocs.yml", "README.md", "BENCHMARKS.md", "ARCHITECTURE.md"):
        shutil.copy(REPO / name, root / name)
    (root / "docs" / "redaction.md").write_text((root / "docs" / "redaction.md").read_text()
                                               + "\nSee [the missing page](no-such-page.md).\n")
    result = _build(root, tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr
