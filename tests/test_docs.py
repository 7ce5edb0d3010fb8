"""The documentation site builds with ``mkdocs build --strict``: every page, every snippet it
includes (README.md's set-up commands, BENCHMARKS.md, ARCHITECTURE.md), every link and anchor,
and the API reference rendered from the docstrings. A broken link fails the build (checked
with a page that has one)."""
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

for _module, _package in (("mkdocs", "mkdocs"), ("material", "mkdocs-material"),
                          ("mkdocstrings", "mkdocstrings"), ("mkdocstrings_handlers.python", "mkdocstrings-python")):
    pytest.importorskip(_module, reason=f"{_package} is not installed (the docs extra: pip install -e '.[docs]')")


def _build(root: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"),
                           "-d", str(site)], cwd=root, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})


def test_site_builds_strict(tmp_path: Path) -> None:
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


def test_broken_link_fails_the_build(tmp_path: Path) -> None:
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
