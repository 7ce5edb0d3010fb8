"""Every import of the project resolves to a distribution that pyproject.toml declares, so a
fresh environment built from pyproject alone has everything (no module that only happens to
be installed on a developer's machine)."""
from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("editor", "plugins", "benchmarks", "tests", "samples/make_samples.py")
#: Import names that are the project's own (packages and the tests' helper modules).
OWN = {"editor", "trackedit_plugins", "trackedit_presets", "benchmarks", "trackedit_spotlight"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    names = {_canonical(re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0]) for r in reqs}
    return names - {"trackedit"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def _files() -> list[Path]:
    files: list[Path] = []
    for folder in FOLDERS:
        p = REPO / folder
        files += [p] if p.is_file() else sorted(p.rglob("*.py"))
    # tests/data holds scripts that made the golden files inside the original XMem code
    # base (they import its modules); they are provenance, not part of the test suite.
    return [f for f in files if (REPO / "tests" / "data") not in f.parents]


def test_every_import_is_declared_in_pyproject() -> None:
    local = {p.stem for p in (REPO / "tests").rglob("*.py")} | {p.stem for p in (REPO / "benchmarks").glob("*.py")}
    distributions = importlib.metadata.packages_distributions()
    declared = _declared()
    missing: dict[str, set[str]] = {}
    for path in _files():
        for name in _imports(path):
            if name in sys.stdlib_module_names or name in OWN or name in local or name == "__future__":
                continue
            dists = {_canonical(d) for d in distributions.get(name, [])}
            if not dists & declared and _canonical(name) not in declared:  # e.g. tomli, only below 3.11
                missing.setdefault(f"{name} ({', '.join(sorted(dists)) or 'not installed'})", set()).add(
                    str(path.relative_to(REPO)))
    assert not missing, "imports not declared in pyproject.toml: " + "; ".join(
        f"{k} in {', '.join(sorted(v))}" for k, v in sorted(missing.items()))


def test_the_check_sees_imports() -> None:
    """The scan is not vacuous: it finds the project's real third-party imports."""
    found = set().union(*(_imports(p) for p in _files()))
    assert {"av", "numpy", "pluggy", "cv2", "torch", "pytest", "click"} <= found
