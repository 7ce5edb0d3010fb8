"""Stop signals: SIGINT/SIGTERM/SIGHUP stop `run`, `track` and `eval` with 130/143/129, one
line, and nothing half-written beside the output or in the temporary folder; after SIGKILL
only a dot-prefixed partial remains, and the next run to the same output removes it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from clips import write_clip

EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 640×360 clip long enough that a render is still running when the signal comes."""
    folder = tmp_path_factory.mktemp("signals")
    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (360, 640, 3), np.uint8)

    def images():  # noqa: ANN202
        for i in range(400):
            img = background.copy()
            img[100:200, 50 + i:150 + i] = (230, 40, 40)
            yield img
    clip = write_clip(folder / "long.mp4", images(), audio_seconds=1.0)
    prompts = folder / "p.json"
    prompts.write_text(json.dumps({"version": 1, "objects": [
        {"id": 1, "name": "block", "prompts": [{"frame": 0, "box": [45, 95, 155, 205]}]}]}))
    return clip, prompts


_STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_leftover_processes():  # noqa: ANN202
    """A failed check must not leave a run or a server behind."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "editor", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _STARTED.append(proc)
    return proc


def _wait_for(cond, proc: subprocess.Popen[str], timeout: float = 120) -> None:  # noqa: ANN001
    end = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, f"finished before the signal: {proc.communicate()}"
        assert time.monotonic() < end, "timed out waiting for the run to start writing"
        time.sleep(0.05)


def _scratch(pid: int) -> list[str]:
    return [p.name for p in Path(tempfile.gettempdir()).glob(f"trackedit-{pid}-*")]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_stops_run_and_removes_partial_output(sig: signal.Signals, long_clip: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    clip, prompts = long_clip
    proc = _start(["run", str(clip), "-o", "out.mp4", "--preset", "blur", "--prompts", str(prompts)], tmp_path)
    _wait_for(lambda: any(p.name.startswith(".out.") and p.stat().st_size > 0 for p in tmp_path.iterdir()), proc)
    assert _scratch(proc.pid), "the run has a scratch folder while it runs"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == EXIT[sig], err
    assert list(tmp_path.iterdir()) == []
    assert _scratch(proc.pid) == []
    lines = err.strip().splitlines()
    assert lines[-1] == f"trackedit: stopped by {sig.name}; partial outputs removed"
    assert "Traceback" not in err


def test_signal_stops_track_and_removes_partial_folder(long_clip: tuple[Path, Path], tmp_path: Path) -> None:
    clip, prompts = long_clip
    proc = _start(["track", str(clip), "--prompts", str(prompts), "-o", "masks"], tmp_path)
    _wait_for(lambda: any(p.name.startswith(".masks.") and any(p.glob("*.png")) for p in tmp_path.iterdir()), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert list(tmp_path.iterdir()) == []
    assert _scratch(proc.pid) == []


def test_signal_stops_eval(tmp_path: Path, footage: Path) -> None:
    # A one-sequence dataset in the DAVIS layout, evaluated with the click protocol.
    from editor.evaluation.groundtruth import write_dataset

    write_dataset(tmp_path / "gt", footage)
    proc = _start(["eval", "--dataset", str(tmp_path / "gt"), "--clicks", "3", "--rounds", "2"], tmp_path)
    _wait_for(lambda: bool(_scratch(proc.pid)), proc)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert _scratch(proc.pid) == []


def test_after_sigkill_only_a_hidden_partial_remains_and_the_next_run_removes_it(
        long_clip: tuple[Path, Path], tmp_path: Path) -> None:
    clip, prompts = long_clip
    args = ["run", str(clip), "-o", "out.mp4", "--preset", "blur", "--prompts", str(prompts)]
    proc = _start(args, tmp_path)
    _wait_for(lambda: any(p.name.startswith(".out.") and p.stat().st_size > 0 for p in tmp_path.iterdir()), proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(f".out.{proc.pid}-") and ".partial" in left[0], left
    for p in Path(tempfile.gettempdir()).glob(f"trackedit-{proc.pid}-*"):
        assert p.is_dir()  # the killed run's scratch folder: removed by the next run below
    done = subprocess.run([sys.executable, "-m", "editor", "-q", "run", str(clip), "-o", "out.mp4", "--preset",
                           "solid", "--masks", str(_masks(clip, prompts, tmp_path.parent / f"m-{os.getpid()}"))],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]
    assert _scratch(proc.pid) == []


def _masks(clip: Path, prompts: Path, folder: Path) -> Path:
    """A masks folder for ``clip`` (a box on every frame), so the rerun needs no tracking."""
    from editor.api.masks import MaskFolderWriter

    if (folder / "objects.json").exists():
        return folder
    writer = MaskFolderWriter(folder, {1: "block"}, str(clip))
    labels = np.zeros((360, 640), np.uint8)
    labels[100:200, 50:150] = 1
    for i in range(400):
        writer.write(i, labels)
    writer.close()
    return folder


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda s: s.name)
def test_signal_stops_the_ui_and_removes_its_scratch_folder(sig: signal.Signals, long_clip: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    import socket

    clip, _ = long_clip
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = _start(["ui", str(clip), "--port", str(port)], tmp_path)
    assert proc.stderr is not None
    for line in proc.stderr:  # the backend notice, then the URL
        if "UI on http://127.0.0.1:" in line:
            break
    else:
        raise AssertionError(proc.communicate())
    time.sleep(0.5)  # serving
    assert _scratch(proc.pid), "the UI keeps its sessions in a scratch folder"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT[sig], err
    assert _scratch(proc.pid) == []
    assert err.strip().splitlines()[-1] == f"trackedit: stopped by {sig.name}; partial outputs removed"


def test_a_stop_during_the_backward_pass_ends_it_at_the_next_frame(long_clip: tuple[Path, Path],
                                                                   tmp_path: Path) -> None:
    """A stop signal while tracking's backward pass runs (frames cached, none handed on yet: the
    main thread waits, the tracking thread works) ends the pass at its next frame — not after
    the whole pass, which a batch worker told to stop used to finish first (a Ctrl-C that took
    27 s). The signal is raised from the pass's own progress callback at its third frame,
    which then waits until the stop has reached the tracking thread."""
    import _thread
    import threading

    from editor.api.errors import Interrupted
    from editor.api.prompts import load_prompts
    from editor.pipeline.orchestrator import Pipeline, RunRequest
    from editor.pipeline.presets import load_preset
    from editor.pipeline.threads import stop_requested

    clip, _ = long_clip
    prompts = tmp_path / "late.json"  # prompted at frame 300: the backward pass covers 301 frames
    prompts.write_text(json.dumps({"version": 1, "objects": [
        {"id": 1, "name": "block", "prompts": [{"frame": 300, "box": [345, 95, 455, 205]}]}]}))
    seen: list[int] = []
    reached = []

    def progress(phase: str, done: int, total: int) -> None:
        if phase != "backward":
            return
        seen.append(done)
        if done == 3:
            _thread.interrupt_main(signal.SIGTERM)  # as the signal arriving in the main thread
            end = time.monotonic() + 60
            while not stop_requested() and time.monotonic() < end:
                time.sleep(0.01)
            reached.append(stop_requested())

    def on_signal(signum: int, frame: object) -> None:  # the CLI's handler
        raise Interrupted(signum)

    before = signal.signal(signal.SIGTERM, on_signal)
    try:
        with pytest.raises(Interrupted):
            Pipeline().run(RunRequest(input=clip, output=tmp_path / "out.mp4", preset=load_preset("blur"),
                                      prompts=load_prompts(prompts)), progress=progress)
    finally:
        signal.signal(signal.SIGTERM, before)
    assert reached == [True] and seen == [1, 2, 3]
    assert [t.name for t in threading.enumerate() if t.name.startswith("trackedit-")] == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["late.json"]
