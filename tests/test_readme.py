"""The README's first two commands are exactly what CI runs."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_commands() -> None:
    readme = (REPO / "README.md").read_text().splitlines()
    start = readme.index("```bash")
    install, test = readme[start + 1], readme[start + 2]
    assert install.startswith("./setup.sh") and "trackedit run" in install
    assert test == "python -m pytest -q"
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == [install, test]
