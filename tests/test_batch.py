"""`trackedit batch`: many videos on local worker processes or Ray, each failure isolated,
resumable, stoppable. Real clips, real worker processes, a real Ray runtime and a real Ray
head on 127.0.0.1 (no mocks)."""
from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pytest

from clips import write_clip

REPO = Path(__file__).resolve().parents[1]
PROMPT = {"version": 1, "objects": [{"id": 1, "name": "bar", "prompts": [{"frame": 2, "box": [10, 5, 50, 45]}]}]}
GOOD = ("a", "b", "c")


def _images(frames: int = 12, size: tuple[int, int] = (96, 64), shift: int = 0):  # noqa: ANN202
    for i in range(frames):
        img = np.full((size[1], size[0], 3), 30, np.uint8)
        x = 10 + (3 * i + shift) % max(1, size[0] - 40)
        img[10:40, x:x + 24] = (220, 60, 40)  # a red block moving right
        yield img


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``videos/`` with three good 96×64 clips (one in a subfolder), a broken file and a clip
    without prompts; ``prompts/`` with a prompts file for each but the last."""
    root = tmp_path_factory.mktemp("batch")
    videos, prompts = root / "videos", root / "prompts"
    (videos / "sub").mkdir(parents=True)
    prompts.mkdir()
    for k, name in enumerate(GOOD):
        write_clip((videos / "sub" if name == "c" else videos) / f"{name}.mp4", _images(shift=k))
        (prompts / f"{name}.json").write_text(json.dumps(PROMPT))
    (videos / "broken.mp4").write_text("this is not a video\n" * 40)
    (prompts / "broken.json").write_text(json.dumps(PROMPT))
    write_clip(videos / "lonely.mp4", _images())  # no prompts file: nothing to edit
    (videos / "notes.txt").write_text("not a video, not looked at")
    return videos, prompts


def _batch(args: list[str], cwd: Path, env: dict[str, str] | None = None,
           timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "editor", "batch", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def _rows(report: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert all(set(r) == {"input", "output", "status", "error", "frames", "seconds", "worker", "notes"} for r in rows), rows
    return {Path(r["input"]).name: r for r in rows}


def _frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(c.streams.video[0]))


def _leftovers(folder: Path) -> list[str]:
    """Partial outputs, and records of runs that never completed their output."""
    out = [p.name for p in folder.rglob(".*.partial*")]
    for rec in folder.rglob(".*.trackedit.json"):
        data = json.loads(rec.read_text())
        if data["output"] is None:
            out.append(rec.name)
    return out


def _check_batch_with_one_broken(out: Path, report: Path, r: subprocess.CompletedProcess[str]) -> dict[str, dict]:
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    rows = _rows(report)
    assert sorted(rows) == ["a.mp4", "b.mp4", "broken.mp4", "c.mp4", "lonely.mp4"]
    for name in GOOD:
        row = rows[f"{name}.mp4"]
        assert row["status"] == "done" and row["error"] is None and row["frames"] == 12, row
        assert row["seconds"] > 0 and row["worker"].split(":")[1] != str(os.getpid()), row
        assert _frames(Path(row["output"])) == 12
    assert rows["c.mp4"]["output"] == str(out / "sub" / "c.mp4")  # the folder's layout is kept
    broken = rows["broken.mp4"]
    assert broken["status"] == "failed" and broken["error"].startswith(f"{broken['input']}: "), broken
    assert "not a readable video file" in broken["error"] and "\n" not in broken["error"]
    assert not Path(broken["output"]).exists()
    lonely = rows["lonely.mp4"]
    assert lonely["status"] == "failed" and lonely["error"].startswith(f"{lonely['input']}: nothing to edit")
    errors = [line for line in r.stderr.splitlines() if line.startswith("trackedit: error: ")]
    assert f"trackedit: error: {broken['error']}" in errors and f"trackedit: error: {lonely['error']}" in errors
    assert errors[-1].startswith("trackedit: error: batch: 3 done, 0 skipped, 2 failed of 5 videos"), errors
    assert _leftovers(out) == []
    return rows


def test_local_workers_isolate_failures_and_report(clips: tuple[Path, Path], tmp_path: Path) -> None:
    videos, prompts = clips
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    r = _batch([str(videos), "-o", str(out), "--preset", "blur", "--prompts-dir", str(prompts), "--workers", "2",
                "--report", str(report)], tmp_path)
    rows = _check_batch_with_one_broken(out, report, r)
    assert len({rows[f"{n}.mp4"]["worker"] for n in GOOD} | {rows["broken.mp4"]["worker"]}) <= 2  # two workers
    assert sorted(p.name for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")) == \
        ["a.mp4", "b.mp4", "c.mp4"]
    # the video without prompts gets the words `run` gives for the same video
    alone = subprocess.run([sys.executable, "-m", "editor", "run", str(videos / "lonely.mp4"), "-o",
                            str(tmp_path / "x.mp4"), "--preset", "blur"], capture_output=True, text=True)
    message = alone.stderr.strip().removeprefix("trackedit: error: ").split(" (see `")[0]
    assert rows["lonely.mp4"]["error"] == f"{videos / 'lonely.mp4'}: {message}"


def test_rerun_skips_changed_jobs_run_again_and_force_redoes_all(clips: tuple[Path, Path], tmp_path: Path) -> None:
    videos, prompts = clips
    own_prompts = tmp_path / "prompts"
    own_prompts.mkdir()
    for name in GOOD:
        (own_prompts / f"{name}.json").write_text(json.dumps(PROMPT))
    inputs = [str(videos / "a.mp4"), str(videos / "b.mp4"), str(videos / "sub" / "c.mp4")]
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    args = [*inputs, "-o", str(out), "--preset", "pixelate", "--prompts-dir", str(own_prompts), "--report", str(report)]
    first = _batch(args, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stderr.strip().splitlines()[-1].startswith("trackedit: batch: 3 done, 0 skipped, 0 failed of 3")
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")}
    assert sorted(stamps) == ["a.mp4", "b.mp4", "c.mp4"]  # files named on the command line: OUTDIR/<name>

    again = _batch(args, tmp_path)
    assert again.returncode == 0, again.stderr
    assert {n: r["status"] for n, r in _rows(report).items()} == dict.fromkeys(stamps, "skipped")
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.mp4")} == stamps

    changed = dict(PROMPT, objects=[dict(PROMPT["objects"][0], prompts=[{"frame": 3, "box": [12, 5, 52, 45]}])])
    (own_prompts / "b.json").write_text(json.dumps(changed))  # b's job changed; its output is the batch's own
    partly = _batch([*args, "--crf", "18"], tmp_path)  # the same value as the default: not a change
    assert partly.returncode == 0, partly.stderr
    assert {n: r["status"] for n, r in _rows(report).items()} == {"a.mp4": "skipped", "b.mp4": "done",
                                                                   "c.mp4": "skipped"}
    crf = _batch([*args, "--crf", "30"], tmp_path)  # an option changed: every job changed
    assert crf.returncode == 0, crf.stderr
    assert {r["status"] for r in _rows(report).values()} == {"done"}

    forced = _batch([*args, "--crf", "30", "--force"], tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert {r["status"] for r in _rows(report).values()} == {"done"}
    assert all(p.stat().st_mtime_ns > stamps[p.name] for p in out.glob("*.mp4"))
    assert _leftovers(out) == []


def test_an_output_the_batch_did_not_write_needs_overwrite(clips: tuple[Path, Path], tmp_path: Path) -> None:
    videos, prompts = clips
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.mp4").write_bytes(b"someone else's file")
    args = [str(videos / "a.mp4"), "-o", str(out), "--preset", "blur", "--prompts-dir", str(prompts), "-q"]
    r = _batch(args, tmp_path)
    assert r.returncode == 1
    assert f"trackedit: error: {out / 'a.mp4'}: already exists (use --overwrite to replace it)" in r.stderr
    assert (out / "a.mp4").read_bytes() == b"someone else's file"
    r = _batch([*args, "--overwrite"], tmp_path)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert _frames(out / "a.mp4") == 12


def _davis(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "davis").glob("*.png"))


def test_export_masks_folders_are_redone_tracked_and_never_shared(clips: tuple[Path, Path], tmp_path: Path) -> None:
    """A batch's export-masks folders (``OUTDIR/<stem>.masks``) are its own: a changed or forced
    job replaces them; one deleted after the batch makes the rerun redo its job (a job is
    complete only with its side outputs); one fixed folder for two videos is refused."""
    videos, prompts = clips
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    args = [str(videos / "a.mp4"), str(videos / "b.mp4"), "-o", str(out), "--preset", "export-masks",
            "--set", 'export-masks.formats=["davis"]', "--prompts-dir", str(prompts), "--report", str(report)]
    first = _batch(args, tmp_path)
    assert first.returncode == 0, first.stderr
    frames = [f"{t:05d}.png" for t in range(12)]
    assert _davis(out / "a.masks") == frames and _davis(out / "b.masks") == frames
    for redo in (["--force", "--overwrite"], ["--force"], ["--crf", "30"]):  # forced, or the job changed
        (out / "a.masks" / "davis" / "stale.png").write_bytes(b"from an older run")
        r = _batch([*args, *redo], tmp_path)
        assert r.returncode == 0, (redo, r.stderr)
        assert {n: row["status"] for n, row in _rows(report).items()} == {"a.mp4": "done", "b.mp4": "done"}
        assert _davis(out / "a.masks") == frames and _davis(out / "b.masks") == frames
    import shutil

    shutil.rmtree(out / "a.masks")
    again = _batch([*args, "--crf", "30"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert {n: row["status"] for n, row in _rows(report).items()} == {"a.mp4": "done", "b.mp4": "skipped"}
    assert _davis(out / "a.masks") == frames
    assert _leftovers(out) == []

    shared = _batch([*args, "--set", 'export-masks.folder="masks"'], tmp_path)
    assert shared.returncode == 1
    rows = _rows(report)
    assert rows["a.mp4"]["status"] == "done" and rows["b.mp4"]["status"] == "failed"
    message = (f"{videos / 'b.mp4'}: {tmp_path / 'masks'} would also be written by {videos / 'a.mp4'} (two videos "
               "cannot share a side output folder: leave export-masks.folder out, or give each video its own)")
    assert rows["b.mp4"]["error"] == message and f"trackedit: error: {message}" in shared.stderr.splitlines()
    assert rows["b.mp4"]["worker"] is None  # refused before running
    assert _davis(tmp_path / "masks") == frames


def _stopped_after_its_output(job, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Run ``job`` and stop it (SIGTERM) right after its output file is committed — before
    its record and side outputs: deterministic, no timer."""
    from editor.api.errors import Interrupted
    from editor.api.files import AtomicOutput
    from editor.batch.jobs import run_job

    commit = AtomicOutput.commit

    def stop_after(self: AtomicOutput) -> Path:
        final = commit(self)
        if final == job.output:
            raise Interrupted(signal.SIGTERM)
        return final

    monkeypatch.setattr(AtomicOutput, "commit", stop_after)
    with pytest.raises(Interrupted):
        run_job(job)
    monkeypatch.undo()


def test_a_stop_before_the_masks_folder_is_committed_leaves_the_job_to_redo(
        clips: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The stop signal arrives the instant the video has its name, before export-masks commits its
    folder: the record written with the video lists the folder the job plans, so a rerun does
    not skip the job as complete."""
    from editor.batch.discovery import discover, make_jobs
    from editor.batch.jobs import DONE, SKIPPED, JobOptions, decide, read_record, run_job

    videos, prompts = clips
    jobs = make_jobs(discover([videos / "a.mp4"], tmp_path / "out", prompts),
                     JobOptions("export-masks", ('export-masks.formats=["davis"]',)), cwd=tmp_path)
    masks = tmp_path / "out" / "a.masks"
    assert jobs[0].side_outputs == (masks,)
    job, result = decide(jobs[0])
    assert result is None
    _stopped_after_its_output(job, monkeypatch)
    assert job.output.exists() and not masks.exists()
    assert read_record(job.output)["side_outputs"] == [str(masks)]
    job, again = decide(jobs[0])
    assert again is None and job.overwrite  # to run, replacing its own output
    assert run_job(job).status == DONE and len(_davis(masks)) == 12
    _, skipped = decide(jobs[0])
    assert skipped is not None and skipped.status == SKIPPED


def test_the_lines_run_prints_to_review_reach_the_batch_output_and_report(tmp_path: Path) -> None:
    """What ``run`` prints after its output (frames to review, shots not edited) is printed by
    ``batch`` for that video, prefixed with the input, and is the row's ``notes`` — also on a
    rerun that skips the video."""
    import cv2

    images = []
    for t in range(24):  # a disc that vanishes (frames 8..15) and comes back elsewhere: frames to review
        img = np.full((96, 128, 3), 90, np.uint8)
        img[::8] = 110
        if not 8 <= t < 16:
            cx = 30 + t if t < 8 else 90
            cv2.circle(img, (cx, 48), 12, (220, 40, 40), -1)
            cv2.circle(img, (cx, 48), 5, (250, 230, 60), -1)
        images.append(img)
    videos = tmp_path / "videos"
    videos.mkdir()
    clip = write_clip(videos / "vanish.mp4", images, pix_fmt="yuv444p", options={"crf": "0"})
    write_clip(videos / "steady.mp4", _images())
    (videos / "vanish.json").write_text(json.dumps({"objects": [{"id": 1, "name": "disc", "prompts": [
        {"frame": 0, "box": [14, 32, 46, 64]}]}]}))
    (videos / "steady.json").write_text(json.dumps(PROMPT))
    alone = subprocess.run([sys.executable, "-m", "editor", "run", str(clip), "-o", str(tmp_path / "x.mp4"),
                            "--preset", "blur", "--prompts", str(videos / "vanish.json")],
                           capture_output=True, text=True, cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    said = [line.removeprefix("trackedit: ") for line in alone.stderr.splitlines()
            if "to review" in line or "is not edited" in line]
    assert said and said[0].endswith('to review for "disc": 8–17'), alone.stderr
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    args = [str(videos), "-o", str(out), "--preset", "blur", "--prompts-dir", str(videos), "--report", str(report)]
    r = _batch([*args, "--workers", "2"], tmp_path)
    assert r.returncode == 0, r.stderr
    rows = _rows(report)
    assert rows["vanish.mp4"]["notes"] == said and rows["steady.mp4"]["notes"] == []
    printed = [line for line in r.stderr.splitlines() if "to review" in line or "is not edited" in line]
    assert printed == [f"trackedit: {clip}: {line}" for line in said]
    again = _batch(args, tmp_path)
    assert again.returncode == 0, again.stderr
    rows = _rows(report)
    assert rows["vanish.mp4"]["status"] == "skipped" and rows["vanish.mp4"]["notes"] == said


def test_manifests_name_outputs_prompts_masks_and_overrides(clips: tuple[Path, Path], tmp_path: Path) -> None:
    from editor.api.masks import MaskFolderWriter

    videos, prompts = clips
    masks = tmp_path / "masks"
    writer = MaskFolderWriter(masks, {1: "bar"}, str(videos / "b.mp4"))
    labels = np.zeros((64, 96), np.uint8)
    labels[10:40, 10:40] = 1
    for i in range(12):
        writer.write(i, labels)
    writer.close()
    (tmp_path / "p.json").write_text(json.dumps(PROMPT))
    jsonl = tmp_path / "list.jsonl"
    jsonl.write_text("\n".join(json.dumps(row) for row in [
        {"input": str(videos / "a.mp4"), "output": "named/first.mkv", "prompts": "p.json", "crf": 28},
        {"input": str(videos / "b.mp4"), "masks": "masks", "preset": "solid", "set": ["solid.color=[0, 255, 0]"]},
        {"input": str(videos / "sub" / "c.mp4"), "output": "named/first.mkv", "prompts": "p.json"},
    ]) + "\n")
    table = tmp_path / "list.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["input", "output", "prompts", "no-audio", "set"])
        w.writerow([str(videos / "a.mp4"), "from_csv.mp4", "p.json", "true", "blur.sigma=9"])
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    r = _batch([str(jsonl), str(table), "-o", str(out), "--preset", "blur", "--report", str(report)], tmp_path)
    assert r.returncode == 1, r.stderr
    rows = [json.loads(line) for line in report.read_text().splitlines()]
    assert [(Path(x["output"]).relative_to(out).as_posix(), x["status"]) for x in rows] == [
        ("named/first.mkv", "done"), ("b.mp4", "done"), ("named/first.mkv", "failed"), ("from_csv.mp4", "done")]
    assert "also the output of" in rows[2]["error"]
    with av.open(str(out / "b.mp4")) as c:  # the row's preset and --set: solid green inside the mask
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24")
    assert frame[25, 25, 1] > 200 and frame[25, 25, 0] < 60
    assert _frames(out / "named" / "first.mkv") == 12

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"input": "x.mp4", "colour": "red"}) + "\n")
    r = _batch([str(bad), "-o", str(out), "--preset", "blur"], tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"trackedit: error: {bad}:1: unknown column(s) 'colour' (known: input, output, prompts, masks, preset, set, "
        "codec, crf, encoder_preset, pix_fmt, container, no_audio, no_subtitles, no_cuts, bidirectional, "
        "segmenter, tracker, device, refine)"]

    # a row's bad --set or preset stops the batch before it starts, naming file:line, as the
    # docs say (it was a failed row after the others had run: a newcomer)
    typo = tmp_path / "typo.jsonl"
    typo.write_text("\n".join(json.dumps(row) for row in [
        {"input": str(videos / "a.mp4"), "output": "t1.mp4", "prompts": "p.json"},
        {"input": str(videos / "b.mp4"), "output": "t2.mp4", "prompts": "p.json", "set": ["blur.sigmaa=9"]},
    ]) + "\n")
    fresh = tmp_path / "out-typo"
    r = _batch([str(typo), "-o", str(fresh), "--preset", "blur"], tmp_path)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith(f"trackedit: error: {typo}:2: "), r.stderr
    assert "sigmaa" in lines[0]
    assert not fresh.exists()  # nothing ran, and the output folder it made is gone again


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(x) for x in (task / "children").read_text().split()}
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _long_clips(folder: Path, count: int = 5, first: int = 160) -> Path:
    """``count`` 160×120 clips of 160 frames (the first of ``first`` frames) with prompts beside them."""
    folder.mkdir()
    for k in range(count):
        write_clip(folder / f"v{k}.mp4", _images(first if k == 0 else 160, (160, 120), shift=k))
        (folder / f"v{k}.json").write_text(json.dumps({"version": 1, "objects": [
            {"id": 1, "prompts": [{"frame": 0, "box": [5, 5, 45, 45]}]}]}))
    return folder


def _stop_midway(args: list[str], cwd: Path, out: Path, *, done: int,
                 writing: str = "v*") -> tuple[subprocess.Popen[str], str, set[int]]:
    """Start a batch, wait for ``done`` finished outputs and a partial output of ``writing`` being
    written, send SIGTERM; returns the process, its stderr and its children's pids before the signal."""
    proc = subprocess.Popen([sys.executable, "-m", "editor", "batch", *args], cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic() + 240
    while not (len(list(out.glob("v*.mp4"))) >= done
               and any(p.stat().st_size > 0 for p in out.glob(f".{writing}.*.partial.mp4"))):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < end, "no output and partial after 240 s"
        time.sleep(0.05)
    children = _children(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == "trackedit: stopped by SIGTERM; partial outputs removed"
    assert "Traceback" not in err
    assert _leftovers(out) == []
    assert not [p for p in Path(tempfile.gettempdir()).glob(f"trackedit-{proc.pid}-*")]  # no scratch folder
    return proc, err, children


def test_sigterm_midway_stops_workers_leaves_no_partials_and_a_rerun_completes(tmp_path: Path) -> None:
    videos = _long_clips(tmp_path / "long", first=500)  # v0 takes one worker far longer than the others
    out = tmp_path / "out"
    args = [str(videos), "-o", str(out), "--preset", "blur", "--prompts-dir", str(videos), "--workers", "2"]
    _, _, workers = _stop_midway(args, tmp_path, out, done=1, writing="v0")
    assert len(workers) == 2
    assert not [pid for pid in workers if _alive(pid)]
    done = sorted(p.name for p in out.glob("v*.mp4"))
    assert "v0.mp4" not in done and 1 <= len(done) < 5  # the long video was stopped, not finished
    report = tmp_path / "r.jsonl"
    rerun = _batch([*args, "--report", str(report)], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    rows = _rows(report)
    assert {n for n, r in rows.items() if r["status"] == "skipped"} == set(done)
    assert {n for n, r in rows.items() if r["status"] == "done"} == {f"v{k}.mp4" for k in range(5)} - set(done)
    assert [_frames(out / f"v{k}.mp4") for k in range(5)] == [500, 160, 160, 160, 160]


def test_a_stop_right_after_an_output_appears_leaves_its_record_complete(clips: tuple[Path, Path], tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The race behind the flaky SIGTERM test, made to happen every time: the stop signal
    arrives the instant the output has its name. The completed record was written before the
    rename, so the pair is complete and a rerun skips the job."""
    from editor.batch.discovery import discover, make_jobs
    from editor.batch.jobs import SKIPPED, JobOptions, decide, read_record

    videos, prompts = clips
    jobs = make_jobs(discover([videos / "a.mp4"], tmp_path / "out", prompts), JobOptions("blur"), cwd=tmp_path)
    job, result = decide(jobs[0])
    assert result is None
    _stopped_after_its_output(job, monkeypatch)
    st = job.output.stat()
    record = read_record(job.output)
    assert record is not None and record["output"] == {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    assert record["frames"] == 12
    _, again = decide(jobs[0])
    assert again is not None and again.status == SKIPPED


def test_a_stopped_batch_removes_the_folders_it_made_for_outputs_never_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Stopped (SIGTERM's ``Interrupted``) as the first video is reported — raised from the
    result hook, so with one worker it happens at the same point every time: the folders
    the batch made for videos it never wrote (``sub/``, ``sub/deeper/``) are removed; the
    folder holding the written output stays, and so do folders that were there before, empty
    (``keep/``) or not (``other/``)."""
    from editor.api.errors import Interrupted
    from editor.cli import batch as batch_cli
    from editor.cli.main import main

    videos, prompts, out = tmp_path / "videos", tmp_path / "prompts", tmp_path / "out"
    prompts.mkdir()
    for rel in ("a.mp4", "keep/b.mp4", "sub/c.mp4", "sub/deeper/d.mp4"):
        (videos / rel).parent.mkdir(parents=True, exist_ok=True)
        write_clip(videos / rel, _images())
        (prompts / Path(rel).with_suffix(".json").name).write_text(json.dumps(PROMPT))
    (out / "keep").mkdir(parents=True)
    (out / "other").mkdir()
    (out / "other" / "notes.txt").write_text("the user's")
    reported = batch_cli._Bars.video

    def stop_after_the_first(self, result) -> None:  # noqa: ANN001
        reported(self, result)
        if result.status == "done":
            raise Interrupted(signal.SIGTERM)

    monkeypatch.setattr(batch_cli._Bars, "video", stop_after_the_first)
    code = main(["batch", str(videos), "-o", str(out), "--preset", "blur", "--prompts-dir", str(prompts),
                 "--workers", "1"])
    assert code == 143
    assert capsys.readouterr().err.strip().splitlines()[-1] == "trackedit: stopped by SIGTERM; partial outputs removed"
    assert _frames(out / "a.mp4") == 12  # the first job, written before the stop
    assert not (out / "sub").exists()
    assert (out / "keep").is_dir() and not any((out / "keep").iterdir())
    assert (out / "other" / "notes.txt").read_text() == "the user's"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        ".a.mp4.trackedit.json", "a.mp4", "keep", "other", "other/notes.txt"]


def test_importing_editor_does_not_import_ray() -> None:
    code = ("import sys, editor, editor.batch, editor.cli.main, editor.batch.ray_executor; "
            "print('ray' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split() == ["False"], r.stdout + r.stderr


def test_without_ray_installed_ray_is_a_one_line_error(clips: tuple[Path, Path], tmp_path: Path) -> None:
    videos, prompts = clips
    code = ("import sys; sys.modules['ray'] = None; from editor.cli.main import main; "  # as if not installed
            f"sys.exit(main(['batch', {str(videos)!r}, '-o', 'out', '--preset', 'blur', '--ray', 'local']))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        'trackedit: error: --ray needs Ray, which is not installed: pip install -e ".[ray]"']
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


# -- Ray ------------------------------------------------------------------------------------
def test_ray_local(clips: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("ray")
    videos, prompts = clips
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    r = _batch([str(videos), "-o", str(out), "--preset", "blur", "--prompts-dir", str(prompts), "--ray", "local",
                "--report", str(report)], tmp_path, timeout=400)
    _check_batch_with_one_broken(out, report, r)


def test_ray_local_sigterm_cancels_tasks_and_leaves_no_partials(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    videos = _long_clips(tmp_path / "long", 3)
    out, report = tmp_path / "out", tmp_path / "r.jsonl"
    args = [str(videos), "-o", str(out), "--preset", "blur", "--prompts-dir", str(videos), "--report", str(report)]
    _stop_midway([*args, "--ray", "local"], tmp_path, out, done=0)
    stopped = _rows(report)
    assert {r["status"] for r in stopped.values()} <= {"done", "failed"}
    assert all(r["error"].endswith("not done: the batch was stopped") for r in stopped.values() if r["error"])
    rerun = _batch(args, tmp_path)  # local workers finish what Ray did not
    assert rerun.returncode == 0, rerun.stderr
    assert all(_frames(out / f"v{k}.mp4") == 160 for k in range(3))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head(tmp_path: Path):  # noqa: ANN201
    """A Ray head on 127.0.0.1 (``ray start --head --block``), stopped by its process id."""
    pytest.importorskip("ray")
    port = _free_port()
    temp = Path(tempfile.mkdtemp(prefix="rt"))  # short: Ray's socket paths must fit in 107 bytes
    log = (tmp_path / "ray-head.log").open("w")
    ray = Path(sys.executable).with_name("ray")
    head = subprocess.Popen([str(ray), "start", "--head", "--block", "--port", str(port), "--node-ip-address",
                             "127.0.0.1", "--include-dashboard=false", "--num-cpus", "2", "--disable-usage-stats",
                             "--dashboard-agent-listen-port",
                             str(_free_port()), "--temp-dir", str(temp)], stdout=log, stderr=subprocess.STDOUT,
                            cwd=tmp_path)
    try:
        end = time.monotonic() + 180
        while "Ray runtime started" not in (tmp_path / "ray-head.log").read_text():
            assert head.poll() is None, (tmp_path / "ray-head.log").read_text()
            assert time.monotonic() < end, "the Ray head did not start in 180 s"
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        log.close()
        import shutil

        shutil.rmtree(temp, ignore_errors=True)


def test_ray_address_where_nothing_listens_is_one_line_at_once(clips: tuple[Path, Path], tmp_path: Path) -> None:
    pytest.importorskip("ray")
    videos, prompts = clips
    address = f"127.0.0.1:{_free_port()}"
    start = time.monotonic()
    r = _batch([str(videos / "a.mp4"), "-o", "out", "--preset", "blur", "--prompts-dir", str(prompts), "--ray",
                address], tmp_path, timeout=120)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"trackedit: error: --ray {address}: no Ray cluster answers at")
    assert time.monotonic() - start < 60  # not Ray's minutes of retries


def test_ray_cluster_on_127_0_0_1(ray_head: str, clips: tuple[Path, Path], tmp_path: Path) -> None:
    videos, prompts = clips
    out, report = tmp_path / "out", tmp_path / "report.jsonl"
    args = [str(videos), "-o", str(out), "--preset", "blur", "--prompts-dir", str(prompts), "--report", str(report)]
    r = _batch([*args, "--ray", ray_head], tmp_path, timeout=400)
    _check_batch_with_one_broken(out, report, r)
    # `auto` finds the cluster through RAY_ADDRESS; --force redoes the finished videos there
    r = _batch([*args, "--ray", "auto", "--force"], tmp_path, env={"RAY_ADDRESS": ray_head}, timeout=400)
    assert r.returncode == 1, r.stderr
    assert {n: x["status"] for n, x in _rows(report).items()} == {
        "a.mp4": "done", "b.mp4": "done", "c.mp4": "done", "broken.mp4": "failed", "lonely.mp4": "failed"}
    assert _leftovers(out) == []
