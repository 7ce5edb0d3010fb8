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
