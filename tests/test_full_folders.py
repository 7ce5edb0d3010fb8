"""Full and read-only folders — the output's, the scratch folder (TMPDIR) and a masks
folder's — are one line naming the folder and the cause, and leave nothing half-written; the
scratch space the backward pass's frame cache needs is checked before the run starts.

Each case runs the CLI in a user and mount namespace (``unshare -rm``) with a small or
read-only tmpfs mounted where the folder is: real ENOSPC / EROFS from the kernel."""
from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clips import write_clip

PROMPTS = '{"version":1,"objects":[{"id":1,"name":"a","prompts":[{"frame":0,"box":[20,20,80,80]}]}]}'
CLASSIC = ["--segmenter", "classic", "--tracker", "classic"]


def _namespaces_work() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


pytestmark = pytest.mark.skipif(not _namespaces_work(), reason="needs unshare -rm (user and mount namespaces)")


def _run_with_mount(folder: Path, options: str, args: list[str], env: str = "") -> subprocess.CompletedProcess[str]:
    """``trackedit ARGS`` with a tmpfs (``options``: size=…, ro) mounted on ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    command = (f"mount -t tmpfs -o {options} tmpfs {shlex.quote(str(folder))} && "
               f"{env} {shlex.quote(sys.executable)} -m editor {' '.join(map(shlex.quote, args))}; "
               f"echo LEFT: $(ls -A {shlex.quote(str(folder))})")
    return subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=300)


@pytest.fixture()
def clip(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    src = write_clip(tmp_path / "in.mp4", (rng.integers(0, 255, (120, 160, 3), np.uint8) for _ in range(40)),
                     options={"crf": "0"})
    prompts = tmp_path / "p.json"
    prompts.write_text(PROMPTS)
    return src, prompts


def _one_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in r.stderr.strip().splitlines() if not line.startswith("trackedit: using")]
    assert r.returncode == 0 and len(lines) == 1, r.stderr  # the shell's status: the echo after
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr
    return lines[0]


@pytest.mark.parametrize("options,cause", [("size=64k", "no space left"), ("ro", "read-only file system")])
def test_output_folder(tmp_path: Path, clip: tuple[Path, Path], options: str, cause: str) -> None:
    src, prompts = clip
    folder = tmp_path / "out"
    r = _run_with_mount(folder, options, ["run", str(src), "-o", str(folder / "o.mp4"), "--preset", "blur",
                                          "--prompts", str(prompts), *CLASSIC])
    line = _one_line(r)
    assert str(folder) in line and cause in line
    assert r.stdout.strip().endswith("LEFT:")  # nothing half-written


@pytest.mark.parametrize("options,cause", [("size=64k", "no space left"), ("ro", "read-only file system")])
def test_masks_folder(tmp_path: Path, clip: tuple[Path, Path], options: str, cause: str) -> None:
    src, prompts = clip
    folder = tmp_path / "out"
    r = _run_with_mount(folder, options, ["track", str(src), "-o", str(folder / "masks"), "--prompts", str(prompts),
                                          *CLASSIC])
    line = _one_line(r)
    assert str(folder) in line and cause in line
    assert r.stdout.strip().endswith("LEFT:")


def test_batch_output_folder_read_only(tmp_path: Path, clip: tuple[Path, Path]) -> None:
    """``trackedit batch -o FOLDER`` on a read-only folder: one line naming it before any video
    is read (a newcomer's batch said ``internal error: [Errno 30] …partial.json`` per video)."""
    src, prompts = clip
    folder = tmp_path / "out"
    r = _run_with_mount(folder, "ro", ["batch", str(src), "-o", str(folder), "--preset", "blur",
                                       "--prompts-dir", str(prompts.parent), *CLASSIC])
    lines = [line for line in r.stderr.strip().splitlines() if not line.startswith("trackedit: using")]
    assert lines == [f"trackedit: error: {folder}: cannot write files into it: read-only file system"], r.stderr
    assert r.stdout.strip().endswith("LEFT:")


def test_scratch_space_is_checked_up_front(tmp_path: Path, clip: tuple[Path, Path]) -> None:
    src, prompts = clip
    scratch = tmp_path / "scratch"
    r = _run_with_mount(scratch, "size=256k", ["run", str(src), "-o", str(tmp_path / "o.mp4"), "--preset", "blur",
                                               "--prompts", str(prompts), "--bidirectional", *CLASSIC],
                        env=f"TMPDIR={shlex.quote(str(scratch))}")
    line = _one_line(r)
    assert str(scratch) in line and "not enough space for the frame cache" in line and "MB needed" in line
    assert not (tmp_path / "o.mp4").exists() and r.stdout.strip().endswith("LEFT:")


def test_a_full_scratch_folder_mid_run(tmp_path: Path) -> None:
    """The frame cache filling its folder (the space taken by something else after the check)."""
    scratch = tmp_path / "scratch"
    code = ("import numpy as np; from fractions import Fraction; from pathlib import Path; "
            "from editor.api.frames import Frame; from editor.tracking.frame_cache import FrameCache; "
            f"cache = FrameCache(Path({str(scratch)!r}) / 'cache'); "
            "rng = np.random.default_rng(0); "
            "[cache.put(Frame(i, rng.integers(0, 255, (120, 160, 3), np.uint8), i, Fraction(1, 25), i / 25)) "
            "for i in range(100)]")
    scratch.mkdir()
    command = (f"mount -t tmpfs -o size=256k tmpfs {shlex.quote(str(scratch))} && "
               f"{shlex.quote(sys.executable)} -c {shlex.quote(code)}")
    r = subprocess.run(["unshare", "-rm", "sh", "-c", command], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("editor.api.errors.OutputError: ") and str(scratch / "cache") in last
    assert "cannot write the frame cache of the backward pass: no space left on the device" in last
