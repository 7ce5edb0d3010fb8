"""The example third-party plugin in samples/: installed with pip, it appears in
`trackedit plugins` and works from a preset — without touching trackedit's code."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from clips import write_clip

REPO = Path(__file__).resolve().parents[1]
PLUGIN = REPO / "samples" / "spotlight-plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict[str, str]:  # noqa: ANN001
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PLUGIN)], check=True, capture_output=True, timeout=300)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(target), env.get("PYTHONPATH", "")])
    return env


def _trackedit(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "editor", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_installed_plugin_is_listed_and_can_be_disabled(installed: dict[str, str]) -> None:
    r = _trackedit(["plugins"], installed)
    assert r.returncode == 0, r.stderr
    line = next(line for line in r.stdout.splitlines() if line.startswith("spotlight "))
    assert "trackedit-spotlight 0.1.0" in line and "editor_register_stages" in line
    assert "stage      spotlight" in r.stdout
    off = _trackedit(["--no-external-plugins", "plugins"], installed)
    assert "spotlight" not in off.stdout


def test_installed_plugin_runs_from_a_preset(installed: dict[str, str], tmp_path: Path) -> None:
    img = np.full((48, 64, 3), (40, 160, 60), np.uint8)
    img[10:30, 10:30] = (230, 40, 40)
    clip = write_clip(tmp_path / "in.mp4", [img] * 5, pix_fmt="yuv444p", options={"crf": "0"})
    prompts = tmp_path / "p.json"
    prompts.write_text('{"version": 1, "objects": [{"id": 1, "prompts": [{"frame": 0, "box": [8, 8, 32, 32]}]}]}')
    out = tmp_path / "out.mkv"
    r = _trackedit(["-q", "run", str(clip), "-o", str(out), "--preset", str(PLUGIN / "spotlight.toml"),
                    "--prompts", str(prompts), "--codec", "ffv1", "--pix-fmt", "yuv444p"], installed)
    assert r.returncode == 0, r.stderr
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 5
    inside, outside = frames[2][18, 18].astype(int), frames[2][40, 55].astype(int)
    assert inside[0] > 180 and inside[1] < 90  # the object keeps its red
    assert abs(outside[0] - outside[1]) <= 3 and outside[1] < 90  # the rest is grey and dim


def test_the_plugins_own_tests_pass_with_the_shipped_fixtures(installed: dict[str, str]) -> None:
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(PLUGIN / "tests")],
                       capture_output=True, text=True, env=installed, cwd=PLUGIN, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed" in r.stdout
