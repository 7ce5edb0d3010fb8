"""Every module of the package imports on its own, first (a circular import shows only in
the order some command happens to import things: `trackedit eval` once failed with "cannot
import name 'Progress' from partially initialized module 'editor.tracking.engine'")."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_CHECK = r"""
import importlib, pkgutil, sys, traceback
import editor
names = sorted(m.name for m in pkgutil.walk_packages(editor.__path__, "editor.") if not m.name.endswith("__main__"))
failed = []
for name in names:
    for loaded in [m for m in sys.modules if m == "editor" or m.startswith(("editor.", "trackedit_plugins"))]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as exc:
        if "circular import" in str(exc) or "partially initialized" in str(exc):
            failed.append(f"{name}: {exc}")
    except Exception:
        pass  # optional dependencies and the like: not this test's concern
print(len(names))
print("\n".join(failed))
"""


def test_every_module_imports_first_without_a_cycle() -> None:
    done = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    count, *failures = done.stdout.strip().splitlines()
    assert int(count) > 50
    assert [line for line in failures if line] == []


def test_every_package_is_in_the_wheel() -> None:
    """Every package folder under ``editor/`` is listed in pyproject's ``packages`` (the list is
    explicit for the ``plugins/`` → ``trackedit_plugins`` mapping): an editable install finds
    an unlisted one, a wheel or ``pip install .`` would not ship it (``editor.tracking.cues``
    was missing so)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # pragma: no cover
        import tomli as tomllib  # type: ignore[no-redef]
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "editor").rglob("__init__.py")}
    assert len(found) > 15
    assert not found - listed, f"packages missing from pyproject.toml: {sorted(found - listed)}"
