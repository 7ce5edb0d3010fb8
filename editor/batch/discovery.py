"""From the command line's INPUTs to :class:`~editor.batch.jobs.BatchJob` objects.

An INPUT is a video file, a folder (searched recursively for video files; hidden files and
the output folder are left out) or a manifest: ``.jsonl`` (one JSON object a line) or
``.csv`` (a header row), each row naming ``input`` and optionally ``output``, ``prompts``,
``masks`` and option overrides (:data:`ROW_OPTIONS`). Relative ``input``, ``prompts`` and
``masks`` are relative to the manifest's folder, a relative ``output`` to the output folder;
an output that resolves outside the output folder (``..``, an absolute path elsewhere) is a
failed row unless ``--allow-outside-outdir`` is given (:func:`make_jobs`).

Outputs: ``OUTDIR/<stem><suffix>`` for a file, ``OUTDIR/<path inside the folder>`` for a video
found in a folder. Prompts: the row's, else ``PROMPTS_DIR/<path inside the folder>/<stem>.json``
(or ``.toml``), else ``PROMPTS_DIR/<stem>.json``.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from editor.api.errors import TrackeditError
from editor.api.limits import document_problem
from editor.batch.jobs import NOTHING_TO_EDIT, BatchJob, JobOptions, planned_side_outputs

VIDEO_SUFFIXES = frozenset({
    ".mp4", ".m4v", ".mov", ".qt", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".m2v", ".ts", ".mts", ".m2ts",
    ".mxf", ".flv", ".wmv", ".asf", ".3gp", ".3g2", ".ogv", ".vob", ".dv", ".y4m", ".h264", ".hevc", ".265",
    ".264"})
MANIFEST_SUFFIXES = frozenset({".jsonl", ".csv"})
PROMPT_SUFFIXES = (".json", ".toml")


class ManifestError(TrackeditError):
    """A manifest that cannot be read, or a row with unknown keys or bad values (``file:line``)."""


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, not {value!r}")


def _text(value: Any) -> str:
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError(f"expected text, not {value!r}")
    return str(value)


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, not {value!r}")
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"expected a whole number, not {value!r}") from None


def _sets(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(";") if s.strip())
    if isinstance(value, list) and all(isinstance(s, str) for s in value):
        return tuple(value)
    raise ValueError(f"expected stage.option=value (a list, or ';' between several), not {value!r}")


def _choice(*allowed: str) -> Callable[[Any], str]:
    def convert(value: Any) -> str:
        text = _text(value)
        if text not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, not {text!r}")
        return text
    return convert


#: Row keys that override options (``-`` or ``_``, as on the command line), with their converters.
#: ``set`` adds to the command line's ``--set`` values; the rest replace the command line's.
ROW_OPTIONS: dict[str, Callable[[Any], Any]] = {
    "preset": _text, "set": _sets, "codec": _text, "crf": _int, "encoder_preset": _text, "pix_fmt": _text,
    "container": _text, "no_audio": _flag, "no_subtitles": _flag, "no_cuts": _flag, "bidirectional": _flag,
    "segmenter": _text, "tracker": _text, "device": _text, "refine": _choice("auto", "on", "off"),
}
ROW_PATHS = ("input", "output", "prompts", "masks")


@dataclass
class Source:
    """One video as named: where its output, prompts and masks are, and a row's overrides."""

    input: Path
    output: Path
    prompts: Path | None = None
    masks: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    where: str = ""


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _walk(folder: Path, skip: Path) -> list[Path]:
    """Video files under ``folder`` (sorted), without hidden entries or anything under ``skip``."""
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside((here / d).resolve(), skip))
        found += [here / f for f in sorted(files) if not f.startswith(".") and is_video(Path(f))]
    return found


def _prompts_for(rel: Path, prompts_dir: Path | None) -> Path | None:
    """``DIR/<rel without suffix>.json|.toml``, else ``DIR/<stem>.json|.toml``."""
    if prompts_dir is None:
        return None
    for base in dict.fromkeys([rel.with_suffix(""), Path(rel.stem)]):
        for suffix in PROMPT_SUFFIXES:
            candidate = prompts_dir / base.parent / (base.name + suffix)
            if candidate.is_file():
                return candidate
    return None


def read_manifest(path: Path, outdir: Path) -> list[Source]:
    """The rows of a ``.jsonl`` or ``.csv`` manifest; a bad row is a :class:`ManifestError`
    naming ``file:line`` (the whole batch stops before anything runs)."""
    base = path.parent
    rows: list[tuple[int, dict[str, Any]]] = []
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ManifestError(f"cannot read the manifest ({exc.strerror or exc})", path) from exc
    if path.suffix.lower() == ".jsonl":
        for no, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                row = json.loads(line)
            except (ValueError, RecursionError) as exc:
                raise ManifestError(f"not valid JSON ({document_problem(exc)})", f"{path}:{no}") from None
            if not isinstance(row, dict):
                raise ManifestError("expected a JSON object per line", f"{path}:{no}")
            rows.append((no, row))
    else:
        reader = csv.DictReader(text.splitlines())
        for row in reader:
            no = reader.line_num
            if None in row:
                raise ManifestError("more cells than the header has columns", f"{path}:{no}")
            rows.append((no, {k.strip(): v for k, v in row.items() if k is not None and v not in (None, "")}))
    sources = []
    for no, row in rows:
        where = f"{path}:{no}"
        row = {str(k).strip().replace("-", "_"): v for k, v in row.items()}
        unknown = sorted(set(row) - set(ROW_PATHS) - set(ROW_OPTIONS))
        if unknown:
            raise ManifestError(f"unknown column(s) {', '.join(map(repr, unknown))} (known: "
                                f"{', '.join([*ROW_PATHS, *ROW_OPTIONS])})", where)
        if not isinstance(row.get("input"), str) or not row["input"].strip():
            raise ManifestError("no input", where)
        paths = {}
        for key in ROW_PATHS:
            value = row.get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise ManifestError(f"{key}: expected a path, not {value!r}", where)
            p = Path(value).expanduser()
            paths[key] = p if p.is_absolute() else (outdir if key == "output" else base) / p
        overrides = {}
        for key, convert in ROW_OPTIONS.items():
            if key in row:
                try:
                    overrides[key] = convert(row[key])
                except ValueError as exc:
                    raise ManifestError(f"{key}: {exc}", where) from None
        src = paths["input"]
        sources.append(Source(src, paths.get("output", outdir / src.name), paths.get("prompts"), paths.get("masks"),
                              overrides, where))
    return sources


def discover(inputs: Sequence[Path], outdir: Path, prompts_dir: Path | None = None) -> list[Source]:
    """The videos named by ``inputs`` in order, each once (by resolved path and output)."""
    outdir = Path(outdir).absolute()
    skip = outdir.resolve()
    sources: list[Source] = []
    for given in inputs:
        given = Path(given).expanduser().absolute()
        if given.suffix.lower() in MANIFEST_SUFFIXES and given.is_file():
            for s in read_manifest(given, outdir):
                if s.prompts is None and s.masks is None:
                    s.prompts = _prompts_for(Path(s.input.name), prompts_dir)
                sources.append(s)
        elif given.is_dir():
            for video in _walk(given, skip):
                rel = video.relative_to(given)
                sources.append(Source(video, outdir / rel, _prompts_for(rel, prompts_dir)))
        else:  # a file, or a path that does not exist: the run says what is wrong with it
            sources.append(Source(given, outdir / given.name, _prompts_for(Path(given.name), prompts_dir)))
    seen: set[tuple[Path, Path]] = set()
    unique = []
    for s in sources:
        key = (s.input.resolve(), s.output.resolve())
        if key not in seen:
            seen.add(key)
            unique.append(s)
    return unique


def apply_row(options: JobOptions, overrides: dict[str, Any]) -> JobOptions:
    """``options`` with a manifest row's overrides."""
    changes: dict[str, Any] = {}
    backend: dict[str, Any] = {}
    for key, value in overrides.items():
        if key == "set":
            changes["overrides"] = (*options.overrides, *value)
        elif key == "preset":
            changes["preset"] = preset_ref(value)
        elif key in ("no_audio", "no_subtitles"):
            changes[key[3:]] = not value
        elif key == "no_cuts":
            changes["detect_cuts"] = not value
        elif key in ("segmenter", "tracker", "device", "refine"):
            backend[key] = value
        else:
            changes[key] = value
    if backend:
        changes["backends"] = dataclasses.replace(options.backends, **backend)
    return dataclasses.replace(options, **changes)


def preset_ref(name_or_path: str) -> str:
    """A built-in preset name as is; a preset file as an absolute path (workers may run elsewhere)."""
    from editor.pipeline.presets import builtin_presets

    p = Path(name_or_path)
    if str(name_or_path) in builtin_presets() and not p.suffix:
        return str(name_or_path)
    return str(p.expanduser().absolute())


def make_jobs(sources: Sequence[Source], options: JobOptions, *, overwrite: bool = False, force: bool = False,
              cwd: Path | None = None, outdir: Path | None = None, allow_outside: bool = False) -> list[BatchJob]:
    """Jobs for ``sources``: a video with neither prompts nor masks (nor ``--detect``), whose
    output or side output (export-masks' folder, :func:`~editor.batch.jobs.planned_side_outputs`)
    another video already has, or whose output resolves outside ``outdir`` (a
    manifest's ``..`` or absolute ``output``; unless ``allow_outside``) becomes a job with a
    ``problem`` (a failed row naming the manifest line, not a stop)."""
    jobs = []
    owners: dict[Path, Path] = {}
    inside = Path(outdir).resolve() if outdir is not None else None
    for s in sources:
        problem = None
        key = s.output.resolve()
        if inside is not None and not allow_outside and (key == inside or not _inside(key, inside)):
            problem = (f"{s.where or s.input}: output {s.output} is outside the output folder {inside} "
                       "(--allow-outside-outdir allows it)")
        elif s.prompts is None and s.masks is None and options.detect is None:
            problem = f"{s.input}: {NOTHING_TO_EDIT}"
        elif s.masks is not None and options.detect is not None:
            problem = f"{s.where or s.input}: masks are already tracked; --detect tracks: give one of them"
        elif s.prompts is not None and s.masks is not None:
            problem = f"{s.where or s.input}: give either prompts or masks, not both"
        elif key in owners:
            problem = f"{s.output}: also the output of {owners[key]} (name outputs in a manifest)"
        job_options = apply_row(options, s.overrides)
        sides = planned_side_outputs(job_options, s.output, cwd)
        shared = next((p for p in sides if p in owners), None)
        if problem is None and shared is not None:
            problem = (f"{s.where or s.input}: {shared} would also be written by {owners[shared]} (two videos cannot "
                       "share a side output folder: leave export-masks.folder out, or give each video its own)")
        owners.setdefault(key, s.input)
        if problem is None:
            for path in sides:
                owners.setdefault(path, s.input)
        jobs.append(BatchJob(s.input, s.output, job_options, s.prompts, s.masks, problem,
                             overwrite, force, cwd, s.where, side_outputs=sides))
    return jobs
