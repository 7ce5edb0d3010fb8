"""A plugin's stage that fails or returns frames of another size: one line naming it, nothing
written (editor.pipeline.stage_guard). A new user's stage that returned frames 2 px smaller
made a 174×142 video from a 176×144 one with exit 0; one that raised printed "internal
error: boom at frame 6"."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from editor.api.errors import PluginError, TrackeditError
from editor.api.stages import FrameItem, Stage, StageOptions, StageSpec
from editor import hookimpl
from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.pipeline.presets import parse_preset


class _Options(StageOptions):
    mode: str = "ok"
    at: int = 6


class _Odd(Stage):
    """Crops 2 px off each side (``small``), raises at frame ``at`` (``boom``), returns a
    float image (``float``), or raises the user-facing error of a missing file (``missing``)."""

    def __init__(self, options: _Options, context) -> None:  # noqa: ANN001
        self.options = options

    def process(self, item: FrameItem) -> FrameItem:
        image, mode = item.frame.image, self.options.mode
        if mode == "small":
            return FrameItem(item.frame.replace(np.ascontiguousarray(image[1:-1, 1:-1])), item.labels)
        if mode == "float" and item.index == self.options.at:
            return FrameItem(item.frame.replace(image.astype(np.float32)), item.labels)
        if mode == "boom" and item.index == self.options.at:
            raise RuntimeError(f"boom at frame {item.index}")
        if mode == "missing":
            raise TrackeditError("lut.cube: no such file")
        if mode == "full":
            raise OSError(28, "No space left on device", "/media/full/side.bin")
        return FrameItem(item.frame.replace(255 - image), item.labels)


class _Plugin:
    @hookimpl
    def editor_register_stages(self, register):  # noqa: ANN001
        register(StageSpec("odd", _Options, _Odd, "a stage that misbehaves on request"))


def _clip(path: Path, frames: int = 12) -> Path:
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 176, 144, "yuv420p"
        for _ in range(frames):
            image = rng.integers(0, 255, (144, 176, 3), np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


def _run(pm, tmp_path: Path, mode: str, *stages: str) -> Path:  # noqa: ANN001
    modes = stages or (mode,)
    preset = parse_preset({"stages": [f"odd{i}" for i in range(len(modes))],
                           **{f"odd{i}": {"use": "odd", "mode": m} for i, m in enumerate(modes)}}, "odd-test")
    out = tmp_path / "out.mp4"
    Pipeline(pm).run(RunRequest(input=_clip(tmp_path / "in.mp4"), output=out, preset=preset))
    return out


@pytest.fixture
def pm(registered_plugin):  # noqa: ANN001, ANN201
    return registered_plugin(_Plugin(), "oddities")


def test_a_stage_returning_smaller_frames_is_named_and_nothing_is_written(pm, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(PluginError) as err:
        _run(pm, tmp_path, "small")
    line = str(err.value)
    assert "stage 'odd0'" in line and "'oddities'" in line and "(142, 174, 3)" in line and "(144, 176, 3)" in line
    assert "\n" not in line
    assert not (tmp_path / "out.mp4").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_a_stage_returning_another_dtype_is_named(pm, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(PluginError, match=r"stage 'odd0'.*float32 \(144, 176, 3\) image for frame 6"):
        _run(pm, tmp_path, "float")


def test_a_stage_raising_is_named_with_its_frame(pm, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(PluginError) as err:
        _run(pm, tmp_path, "boom")
    assert str(err.value) == "preset 'odd-test', stage 'odd0' (plugin 'oddities') failed at frame 6: boom at frame 6"
    assert isinstance(err.value.__cause__, RuntimeError)
    assert not (tmp_path / "out.mp4").exists()


def test_an_error_from_an_earlier_stage_is_not_blamed_on_the_next(pm, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(PluginError) as err:
        _run(pm, tmp_path, "", "boom", "ok")
    assert "stage 'odd0'" in str(err.value) and "odd1" not in str(err.value)


def test_a_stages_own_user_error_is_kept(pm, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(TrackeditError) as err:
        _run(pm, tmp_path, "missing")
    assert type(err.value) is TrackeditError and str(err.value) == "lut.cube: no such file"


def test_a_refused_file_is_kept_for_the_command_lines_message(pm, tmp_path: Path) -> None:  # noqa: ANN001
    """A full disk is the user's to act on: the command line names the file and the folder
    (not the plugin's failure)."""
    with pytest.raises(OSError) as err:
        _run(pm, tmp_path, "full")
    assert type(err.value) is OSError and err.value.filename == "/media/full/side.bin"


def test_well_behaved_stages_run_as_before(pm, tmp_path: Path) -> None:  # noqa: ANN001
    out = _run(pm, tmp_path, "", "ok", "ok")  # inverted twice: the input again, to encoder noise
    with av.open(str(tmp_path / "in.mp4")) as a, av.open(str(out)) as b:
        before = [f.to_ndarray(format="rgb24") for f in a.decode(video=0)]
        after = [f.to_ndarray(format="rgb24") for f in b.decode(video=0)]
    assert len(after) == len(before) == 12
    assert all(np.abs(x.astype(int) - y.astype(int)).mean() < 6 for x, y in zip(before, after))


_PLUGIN_SOURCE = '''
from editor import hookimpl
from editor.api.stages import FrameItem, Stage, StageOptions, StageSpec


class BoomOptions(StageOptions):
    at: int = 6


class Boom(Stage):
    def __init__(self, options, context):
        self.at = options.at

    def process(self, item):
        if item.index == self.at:
            raise RuntimeError("kaboom")
        return item


@hookimpl
def editor_register_stages(register):
    register(StageSpec("boom", BoomOptions, Boom, "raises"))
'''


def test_a_failing_stage_ends_the_process_cleanly_while_tracking_runs(tmp_path: Path, samples_dir: Path) -> None:
    """The command line, an installed plugin's stage raising on frame 6 of a run that tracks
    clicked objects (decode and tracking threads upstream): one line, exit 1 — the first
    guard kept the stage's input alive through the exception's traceback, the threads
    upstream ran on, and the process aborted at exit ("terminate called without an active
    exception", exit 134)."""
    import os
    import subprocess
    import sys

    site = tmp_path / "site"
    (site / "boomplugin").mkdir(parents=True)
    (site / "boomplugin" / "__init__.py").write_text(_PLUGIN_SOURCE)
    info = site / "boomplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: boomplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[trackedit]\nboomplugin = boomplugin\n")
    preset = tmp_path / "boom.toml"
    preset.write_text('description = "boom"\nstages = ["boom"]\n')
    out = tmp_path / "out.mp4"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    env.pop("TRACKEDIT_DISABLE_PLUGINS", None)
    proc = subprocess.run([sys.executable, "-m", "editor", "run", str(samples_dir / "carphone_pristine.mp4"),
                           "-o", str(out), "--preset", str(preset), "--prompts",
                           str(samples_dir / "carphone_face.json")],
                          capture_output=True, text=True, timeout=300, env=env)
    errors = [line for line in proc.stderr.splitlines() if "error" in line or "terminate" in line]
    assert proc.returncode == 1, proc.stderr
    assert errors == ["trackedit: error: preset 'boom', stage 'boom' (plugin 'boomplugin') failed at frame 6: "
                      "kaboom"], proc.stderr
    assert not out.exists()
