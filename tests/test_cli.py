"""CLI: bad inputs give one line, a non-zero exit, no traceback and no output file."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from clips import write_audio_only, write_clip
from editor.cli.main import main


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "editor", *args], capture_output=True, text=True, timeout=300)


def _clip(path: Path, frames: int = 12, size: tuple[int, int] = (96, 64), audio: bool = False) -> Path:
    def images():  # noqa: ANN202
        for i in range(frames):
            img = np.full((size[1], size[0], 3), 30, np.uint8)
            x = 10 + 3 * i
            img[10:40, x:x + 24] = (220, 60, 40)  # a red block moving right
            yield img
    return write_clip(path, images(), audio_seconds=0.2 if audio else 0.0)


def _audio_only(path: Path) -> Path:
    return write_audio_only(path)


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    p = tmp_path / "p.json"
    p.write_text(json.dumps({"version": 1, "objects": [
        {"id": 1, "name": "bar", "prompts": [{"frame": 2, "box": [10, 5, 50, 45]}]}]}))
    return p


def _bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    good = _clip(tmp / "good.mp4", frames=40, size=(320, 240))
    data = good.read_bytes()
    (tmp / "empty.mp4").write_bytes(b"")
    (tmp / "text.mp4").write_text("this is not a video\n" * 50)
    (tmp / "truncated.mp4").write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)
    corrupt[:64] = os.urandom(64)
    (tmp / "corrupt.mp4").write_bytes(bytes(corrupt))
    (tmp / "folder.mp4").mkdir()
    return {
        "missing": (tmp / "missing.mp4", "no such file"),
        "empty": (tmp / "empty.mp4", "file is empty"),
        "text": (tmp / "text.mp4", "not a readable video file"),
        "truncated": (tmp / "truncated.mp4", ""),
        "corrupt": (tmp / "corrupt.mp4", ""),
        "audio-only": (_audio_only(tmp / "audio.m4a"), "has no video stream (audio only)"),
        "directory": (tmp / "folder.mp4", "is a directory"),
    }


def test_bad_inputs_one_line_no_traceback_no_output(tmp_path: Path, prompts: Path) -> None:
    for name, (path, expected) in _bad_inputs(tmp_path).items():
        out = tmp_path / f"out-{name}.mp4"
        r = _run(["run", str(path), "-o", str(out), "--preset", "blur", "--prompts", str(prompts)])
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0, name
        assert len(lines) == 1, (name, r.stderr)
        assert lines[0].startswith(f"trackedit: error: {path}"), (name, lines)
        assert expected in lines[0], (name, lines)
        assert "Traceback" not in r.stderr
        assert not out.exists() and not list(tmp_path.glob(f".out-{name}*")), name


@pytest.mark.parametrize("case, expected", [
    ("prompts-json", "not valid JSON"),
    ("prompts-frame", "frame 99 is past the end (the video has 12 frames)"),
    ("prompts-point", "points[0] (500, 5) is outside the 96x64 frame"),
    ("preset", "unknown preset 'nosuch'"),
    ("set", "--set blur.sigmaa=3: stage blur has no option 'sigmaa' (options: dilate, feather, hold, objects, "
            "shape, sigma)"),
    ("set-value", "--set blur.sigma=lots: sigma: Input should be a valid number"),
    ("set-stage", "--set 'pixelate.block=3': preset 'blur' has no stage 'pixelate' (stages: blur)"),
    ("exists", "already exists (use --overwrite to replace it)"),
    ("same", "output is the input file"),
    ("outdir", "does not exist"),
    ("segmenter", "unknown segmenter 'magic'"),
    ("crf", "--crf 99: the encoder takes 0–63 (lower = better)"),
    ("stdout", "-: writing to standard output is not supported"),
    ("crf-codec", "--crf 55: libx264 takes 0–51 (lower = better)"),
    ("extension", "out.txt: cannot tell the container format from the extension '.txt'"),
])
def test_bad_arguments(tmp_path: Path, prompts: Path, case: str, expected: str, capsys) -> None:  # noqa: ANN001
    clip = _clip(tmp_path / "clip.mp4")
    out = tmp_path / "out.mp4"
    args = ["run", str(clip), "-o", str(out), "--preset", "blur", "--prompts", str(prompts)]
    bad = tmp_path / "bad.json"
    if case == "prompts-json":
        bad.write_text("{")
        args[args.index(str(prompts))] = str(bad)
    elif case == "prompts-frame":
        bad.write_text(json.dumps({"objects": [{"id": 1, "prompts": [{"frame": 99, "points": [[5, 5]]}]}]}))
        args[args.index(str(prompts))] = str(bad)
    elif case == "prompts-point":
        bad.write_text(json.dumps({"objects": [{"id": 1, "prompts": [{"frame": 0, "points": [[500, 5]]}]}]}))
        args[args.index(str(prompts))] = str(bad)
    elif case == "preset":
        args[args.index("blur")] = "nosuch"
    elif case == "set":
        args += ["--set", "blur.sigmaa=3"]
    elif case == "set-value":
        args += ["--set", "blur.sigma=lots"]
    elif case == "set-stage":
        args += ["--set", "pixelate.block=3"]
    elif case == "exists":
        out.write_bytes(b"keep me")
    elif case == "same":
        args[args.index(str(out))] = str(tmp_path / "." / "clip.mp4")
    elif case == "outdir":
        args[args.index(str(out))] = str(tmp_path / "nodir" / "o.mp4")
    elif case == "stdout":
        args[args.index(str(out))] = "-"
    elif case == "extension":  # before: failed at the first encoded frame, after tracking
        args[args.index(str(out))] = str(tmp_path / "out.txt")
        out = tmp_path / "out.txt"
    elif case == "crf":
        args += ["--crf", "99"]
    elif case == "crf-codec":
        args += ["--crf", "55", "--codec", "libx264"]
    elif case == "segmenter":
        args += ["--segmenter", "magic"]
    before = clip.read_bytes()
    rc = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0
    assert err[-1].startswith("trackedit: error: ") and expected in err[-1], err
    if case.startswith("set"):
        assert "blur.toml" not in err[-1]  # the flag is to blame, not the preset file
    assert clip.read_bytes() == before  # the input is never touched
    if case == "exists":
        assert out.read_bytes() == b"keep me"
    elif case != "same":
        assert not out.exists()


def test_a_misspelled_preset_is_a_wrong_command_line(tmp_path: Path, prompts: Path, capsys) -> None:  # noqa: ANN001
    """A preset name that is neither built in nor a file: exit 2 like every other wrong
    command line, one line naming the closest built-in preset; a missing .toml is a bad file
    (exit 1)."""
    clip = _clip(tmp_path / "clip.mp4")
    rc = main(["run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "pixelat", "--prompts", str(prompts)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "did you mean 'pixelate'?" in err[0], err
    rc = main(["run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", str(tmp_path / "mine.toml"),
               "--prompts", str(prompts)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and "no such preset file" in err[-1], err
    assert not (tmp_path / "o.mp4").exists()


def test_overwrite_replaces_and_track_writes_masks(tmp_path: Path, prompts: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4", audio=True)
    out = tmp_path / "out.mp4"
    out.write_bytes(b"old")
    assert main(["-q", "run", str(clip), "-o", str(out), "--preset", "overlay", "--prompts", str(prompts),
                 "--overwrite"]) == 0
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 12 and len(c.streams.audio) == 1
    masks = tmp_path / "masks"
    assert main(["-q", "track", str(clip), "--prompts", str(prompts), "-o", str(masks)]) == 0
    assert len(list(masks.glob("*.png"))) == 12 and (masks / "objects.json").exists()
    assert main(["-q", "track", str(clip), "--prompts", str(prompts), "-o", str(masks)]) != 0  # exists
    assert main(["-q", "track", str(clip), "--prompts", str(prompts), "-o", str(masks), "--overwrite"]) == 0
    assert len(list(masks.glob("*.png"))) == 12  # a masks folder is replaced


def test_track_overwrite_never_replaces_a_folder_of_other_files(tmp_path: Path, prompts: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A new user's `track -o m --overwrite` on a folder holding notes and photos replaced it with
    masks: the notes and photos were gone. --overwrite replaces only a masks folder."""
    clip = _clip(tmp_path / "clip.mp4")
    folder = tmp_path / "m"
    (folder / "photos").mkdir(parents=True)
    (folder / "notes.txt").write_text("mine")
    (folder / "photos" / "a.jpg").write_bytes(b"jpeg")
    capsys.readouterr()
    assert main(["track", str(clip), "--prompts", str(prompts), "-o", str(folder), "--overwrite"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "notes.txt, photos" in err[0] and "masks folder" in err[0], err
    assert (folder / "notes.txt").read_text() == "mine" and (folder / "photos" / "a.jpg").read_bytes() == b"jpeg"
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "photos"]
    frames = tmp_path / "frames"  # someone's own frames, named as masks are
    frames.mkdir()
    (frames / "00000.png").write_bytes(b"png")
    assert main(["track", str(clip), "--prompts", str(prompts), "-o", str(frames), "--overwrite"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a masks folder trackedit wrote" in err[0], err
    assert [p.name for p in frames.iterdir()] == ["00000.png"] and (frames / "00000.png").read_bytes() == b"png"


def test_listing_commands(capsys) -> None:  # noqa: ANN001
    assert main(["plugins"]) == 0
    text = capsys.readouterr().out
    assert "redact" in text and "builtin" in text and "blur" in text and "classic" in text
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(set(names)) and {"blur", "pixelate", "remove"} <= set(names)  # one line per preset
    assert all(line.split()[1] != line.split()[0] for line in lines)  # the name is not repeated
    assert main(["--version"]) == 0
    r = _run(["run", "--help"])
    assert r.returncode == 0 and "--prompts" in r.stdout and "--set" in r.stdout


def test_fallback_is_one_log_line(tmp_path: Path, prompts: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    r = _run(["run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur", "--prompts", str(prompts)])
    assert r.returncode == 0, r.stderr
    notices = [line for line in r.stderr.splitlines() if "classical" in line]
    assert len(notices) == 1 and "trackedit models download" in notices[0]


def test_classical_run_does_not_import_torch(tmp_path: Path, prompts: Path) -> None:
    """Without checkpoints, choosing backends and running stays torch-free (torch costs
    seconds and ~400 MB on import)."""
    clip = _clip(tmp_path / "clip.mp4")
    code = ("import sys; from editor.cli.main import main; "
            f"rc = main(['-q', 'run', {str(clip)!r}, '-o', {str(tmp_path / 'o.mp4')!r}, '--preset', 'blur', "
            f"'--prompts', {str(prompts)!r}]); print(rc, 'torch' in sys.modules)")
    env = {**os.environ, "TRACKEDIT_MODELS_DIR": str(tmp_path / "no-models")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.stdout.split() == ["0", "False"], r.stdout + r.stderr


@pytest.mark.parametrize("where", ["before", "after"])
def test_quiet_verbose_debug_before_and_after_the_subcommand(tmp_path: Path, prompts: Path, where: str) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    run = ["run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur", "--prompts", str(prompts)]

    def call(flag: str, extra: list[str] = ()) -> subprocess.CompletedProcess[str]:  # type: ignore[assignment]
        args = [flag, *run, *extra] if where == "before" else [*run, *extra, flag]
        (tmp_path / "o.mp4").unlink(missing_ok=True)
        return _run(args)

    quiet = call("-q")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    loud = call("-v")
    assert loud.returncode == 0 and "wrote" in loud.stderr and "classical" in loud.stderr
    debug = call("--debug", ["--segmenter", "magic"])
    assert debug.returncode == 1 and "Traceback" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1].startswith("trackedit: error: unknown segmenter 'magic'")


def test_run_with_nothing_to_edit_is_an_error(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    out = tmp_path / "o.mp4"
    r = _run(["run", str(clip), "-o", str(out), "--preset", "blur"])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trackedit: error: nothing to edit")
    assert "--prompts" in lines[0] and "--masks" in lines[0]
    assert list(tmp_path.iterdir()) == [clip]


def test_unknown_option_is_one_line(tmp_path: Path) -> None:
    r = _run(["run", "x.mp4", "--bogus"])
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "trackedit: error: No such option '--bogus'. (Did you mean one of: '--no-cuts', '--verbose'?) "
        "(see `trackedit run --help`)"] or r.stderr.count("\n") == 1


@pytest.mark.parametrize("sets, expected", [
    (["background.mode=image"], "stage 'background': mode 'image' needs 'path' (given: --set background.mode=image)"),
    (["background.mode=image", "background.path=NOTE"], "background: cannot read image"),
    (["background.mode=video", "background.path=NOTE"], "not a readable video file"),
])
def test_a_stage_that_cannot_be_made_is_the_one_line(tmp_path: Path, prompts: Path, sets: list[str],
                                                    expected: str) -> None:
    """A stage whose options name a file it cannot read, or break a rule between options, is
    the run's one line: the backend notice (classical fallback) is said only once every stage
    is made (newcomer report: two lines, the notice first)."""
    clip = _clip(tmp_path / "clip.mp4")
    note = tmp_path / "note.txt"
    note.write_text("not a picture\n")
    out = tmp_path / "out.mp4"
    args = ["run", str(clip), "-o", str(out), "--preset", "background", "--prompts", str(prompts)]
    for item in sets:
        args += ["--set", item.replace("NOTE", str(note))]
    r = _run(args)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trackedit: error: "), r.stderr
    assert expected in lines[0], lines
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_notices_do_not_break_the_progress_bar(tmp_path: Path, prompts: Path) -> None:
    """On a terminal, a log line written while a bar is drawn goes through tqdm: the bar is
    cleared first, so the notice starts its own line instead of continuing the bar's."""
    import fcntl
    import pty
    import struct
    import termios

    clip = _clip(tmp_path / "clip.mp4", frames=60, size=(320, 240))
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
    proc = subprocess.Popen([sys.executable, "-m", "editor", "run", str(clip), "-o", str(tmp_path / "o.mp4"),
                             "--preset", "blur", "--prompts", str(prompts)], stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    text = b"".join(chunks).decode(errors="replace")
    assert proc.wait(60) == 0, text
    assert "frames:" in text  # a bar was drawn
    pieces = [p.strip(" ") for p in text.replace("\r", "\n").split("\n")]
    notices = [p for p in pieces if "classical segmenter" in p]
    assert notices and all(p.startswith("trackedit: using the classical") for p in notices), pieces


def test_a_prompt_of_exclude_points_only_names_the_file_object_and_frame(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    bad = tmp_path / "neg.json"
    bad.write_text(json.dumps({"objects": [{"id": 1, "name": "x", "prompts": [
        {"frame": 3, "points": [[20, 20]], "labels": [0]}]}]}))
    capsys.readouterr()
    assert main(["run", str(clip), "-o", str(tmp_path / "o.mp4"), "--preset", "blur", "--prompts", str(bad)]) == 1
    err = [line for line in capsys.readouterr().err.strip().splitlines() if "error" in line]
    assert len(err) == 1 and f"{bad}: object 1 ('x'), frame 3: only exclude points" in err[0], err
    assert not (tmp_path / "o.mp4").exists()


def test_a_preset_given_as_a_flag_points_to_preset(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """`run … --blur` (a newcomer's guess): click's closest option was `--debug`; the line now
    names `--preset blur`. Exit 2 (a wrong command line), nothing written."""
    clip = _clip(tmp_path / "clip.mp4")
    out = tmp_path / "out.mp4"
    rc = main(["run", str(clip), "-o", str(out), "--blur"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1, err
    assert "no such option: --blur (a preset is chosen with --preset blur)" in err[0], err
    assert not out.exists()
