"""``trackedit batch``: many videos with one preset, on local worker processes or a Ray cluster.

The library part is :mod:`editor.batch`; this module parses the command line (reusing the
options of ``run``), draws the progress bars, prints failures and the summary, and writes the
report. A failed video never stops the others; the exit status is 0 when every video was done
or skipped, 1 otherwise, and 130/143/129 after a stop signal (outputs in progress removed).
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import click

from editor.api import limits
from editor.cli.main import backend_options, detect_options, run

log = logging.getLogger("editor.cli")

#: The options of ``run`` that ``batch`` takes as they are (the same click parameters).
RUN_OPTIONS = ("preset_name", "overrides", "no_audio", "no_subtitles", "no_extra_video", "codec", "crf",
               "encoder_preset", "pix_fmt", "container", "video_stream", "deinterlace")


def run_options(func: Any) -> Any:
    """Decorator: ``run``'s own ``--preset``, ``--set``, ``--no-audio``, ``--no-subtitles``,
    ``--no-extra-video``, ``--codec``, ``--crf``, ``--encoder-preset``, ``--pix-fmt``, ``--container``,
    ``--video-stream`` and ``--deinterlace``."""
    by_name = {p.name: p for p in run.params}
    params = func.__dict__.setdefault("__click_params__", [])
    for name in reversed(RUN_OPTIONS):  # click reverses decorator order
        params.append(by_name[name])
    return func


def _main() -> Any:
    """The CLI's main module (its state is replaced on every ``main()`` call)."""
    return importlib.import_module("editor.cli.main")


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else path.expanduser().absolute()


def _check_writable(outdir: Path) -> None:
    """A read-only or forbidden output folder is one line before any video is read (each
    job would otherwise fail on its own after its detection pass: a newcomer's report)."""
    import tempfile

    from editor.api.files import writing_in

    with writing_in(outdir, "files into it"), tempfile.TemporaryFile(dir=outdir, prefix=".trackedit-probe-"):
        pass


@click.command()
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", "outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the outputs: OUTDIR/<name of the input> (created if missing).")
@run_options
@click.option("--prompts-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Each video's prompts: DIR/<stem>.json (or .toml; for videos found in folders also "
                   "DIR/<subfolder>/<stem>.json).")
@click.option("--workers", type=click.IntRange(min=1),
              help="Videos at a time. Local: worker processes (default: min(cores, free GiB // 3)); "
                   "with --ray: tasks in flight (default: all).")
@click.option("--ray", "ray_address", metavar="local|auto|ADDRESS",
              help="Run each video as a Ray task: local (a Ray runtime started here), auto (RAY_ADDRESS or the "
                   "cluster running on this machine) or a cluster address. Needs pip install -e \".[ray]\".")
@click.option("--cpus-per-video", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Ray: CPUs each video's task reserves.")
@click.option("--gpus-per-video", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Ray: GPUs each video's task reserves (1, or 0.5 to share one); tasks then run on GPU nodes.")
@click.option("--report", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
              help="Write a JSON Lines report, one row per video (- for stdout).")
@click.option("--force", is_flag=True, help="Redo videos whose outputs are complete and whose jobs are unchanged.")
@click.option("--allow-outside-outdir", is_flag=True,
              help="Let manifest rows write outputs outside OUTDIR (.. or absolute paths); otherwise such a row fails.")
@detect_options
@backend_options
def batch(inputs: tuple[Path, ...], outdir: Path, preset_name: str, overrides: tuple[str, ...], no_audio: bool,
          no_subtitles: bool, no_extra_video: bool, codec: str, crf: int, encoder_preset: str, pix_fmt: str,
          container: str | None, video_stream: int | None, deinterlace: str | None,
          prompts_dir: Path | None, workers: int | None, ray_address: str | None, cpus_per_video: float,
          gpus_per_video: float, report: Path | None, force: bool, allow_outside_outdir: bool, **kw: Any) -> None:
    """Edit many videos with one preset: INPUTs are video files, folders (searched recursively)
    or manifests (.jsonl / .csv rows: input, output, prompts, masks, option overrides).

    Each output is OUTDIR/<name of the input>, written atomically; a rerun skips videos whose
    output is complete and whose job (input, preset, prompts, options) is unchanged."""
    from editor.api.errors import BackendUnavailable
    from editor.backends.assembly import select_backends
    from editor.api.errors import TrackeditError
    from editor.batch.discovery import ManifestError, discover, make_jobs, preset_ref
    from editor.batch.folders import CreatedFolders
    from editor.batch.jobs import DONE, FAILED, SKIPPED, JobOptions, JobResult, captured_logs, decide
    from editor.batch.ray_executor import require_ray
    from editor.pipeline.presets import apply_overrides, validate_preset
    from editor.video.writer import EncodeOptions

    m = _main()
    detect = m._detect(kw)  # detector names checked here (exit 2), availability on each node
    if ray_address is not None:
        require_ray()
    elif cpus_per_video != 1.0 or gpus_per_video != 0.0:
        raise click.UsageError("--cpus-per-video and --gpus-per-video are Ray task resources: give them with --ray")
    # The shared options are checked here, once, before any video starts (one line, exit 1).
    pm = m._plugins()
    validate_preset(apply_overrides(m.preset_option(preset_name), list(overrides)), pm)
    EncodeOptions.resolve(codec, crf=crf, preset=encoder_preset, pix_fmt=pix_fmt, container=container,
                          audio=not no_audio, subtitles=not no_subtitles)
    choice = m._backend_choice(kw)
    choice = dataclasses.replace(choice, sam_checkpoint=_absolute(choice.sam_checkpoint),
                                 xmem_checkpoint=_absolute(choice.xmem_checkpoint),
                                 sam2_checkpoint=_absolute(choice.sam2_checkpoint),
                                 models_dir=_absolute(choice.models_dir))
    with captured_logs() as notices:
        try:
            select_backends(pm, choice)  # option names and values, device name; backends by name
        except BackendUnavailable:
            if ray_address is None:
                raise
            # with Ray the nodes choose: a backend whose weights only the GPU nodes have is fine
    options = JobOptions(preset_ref(preset_name), tuple(overrides), codec, crf, encoder_preset, pix_fmt, container,
                         not no_audio, not no_subtitles, choice, not kw["no_cuts"], kw["bidirectional"],
                         m._STATE.external, detect, video_stream=video_stream, extra_video=not no_extra_video,
                         deinterlace=deinterlace, max_pixels=limits.current().max_pixels)
    outdir = outdir.expanduser().absolute()
    if outdir.exists() and not outdir.is_dir():
        raise click.BadParameter(f"{outdir} is not a folder", param_hint="--output-dir")
    folders = CreatedFolders()  # the ones left empty are removed at the end (a stopped batch)
    folders.make(outdir)
    _check_writable(outdir)
    sources = discover(inputs, outdir, _absolute(prompts_dir))
    if not sources:
        raise click.UsageError(f"no videos found in {', '.join(map(str, inputs))}")
    jobs = make_jobs(sources, options, overwrite=kw["overwrite"], force=force, cwd=Path.cwd(), outdir=outdir,
                     allow_outside=allow_outside_outdir)
    checked: set[tuple[str, tuple[str, ...]]] = {(options.preset, options.overrides)}
    for job in jobs:  # a manifest row's preset and --set values, checked as the command line's (docs/batch.md)
        key = (job.options.preset, job.options.overrides)
        if job.where and key not in checked:
            try:
                validate_preset(apply_overrides(m.preset_option(job.options.preset), list(job.options.overrides)), pm)
            except (TrackeditError, click.ClickException) as exc:
                message = exc.message if isinstance(exc, TrackeditError) else exc.format_message()
                folders.remove_empty()  # the output folder this batch made, still empty
                raise ManifestError(" ".join(str(message).split()), job.where) from exc
            checked.add(key)
    shown: set[str] = set()
    if ray_address is None:  # with Ray, the nodes choose (their weights): their notices come with results
        _notices(notices, shown)

    quiet = m._STATE.quiet
    bars = _Bars(len(jobs), quiet)
    results: dict[int, JobResult] = {}
    start = time.perf_counter()
    try:
        todo = []
        for i, job in enumerate(jobs):
            job, result = decide(job, folders)
            if result is None:
                todo.append((i, job))
            else:
                results[i] = result
                bars.video(result)
        if todo:
            index = {str(job.output): i for i, job in todo}
            with _executor(ray_address, workers, len(todo), cpus_per_video, gpus_per_video) as executor:
                for result in executor.run([job for _, job in todo], bars.frames):
                    results[index[result.output]] = result
                    bars.video(result)
                    _notices(result.notices, shown)
                    for line in result.notes:  # what `run` prints after its output, for this video
                        log.warning("%s: %s", result.input, line)
    finally:
        bars.close()
        rows = [results.get(i) or JobResult(str(j.input), str(j.output), FAILED,
                                            f"{j.input}: not done: the batch was stopped") for i, j in enumerate(jobs)]
        if report is not None:
            _write_report(report, rows)
        folders.remove_empty()  # made for outputs never written (the workers have ended)
    counts = {s: sum(r.status == s for r in rows) for s in (DONE, SKIPPED, FAILED)}
    frames = sum(r.frames for r in rows if r.status == DONE)
    where = f"; report: {report}" if report is not None and str(report) != "-" else ""
    summary = (f"batch: {counts[DONE]} done, {counts[SKIPPED]} skipped, {counts[FAILED]} failed of {len(rows)} "
               f"videos; {frames} frames in {time.perf_counter() - start:.1f} s{where}")
    if counts[FAILED]:  # the summary is then the error line (exit status 1)
        raise click.ClickException(summary)
    if not quiet:
        click.echo(f"trackedit: {summary}", err=True)


def _executor(ray_address: str | None, workers: int | None, count: int, cpus: float, gpus: float) -> Any:
    if ray_address is None:
        from editor.batch.local import LocalExecutor, default_workers

        return LocalExecutor(min(workers or default_workers(), count))
    from editor.batch.ray_executor import RayExecutor

    num_cpus = max(1, math.ceil(workers * cpus)) if ray_address == "local" and workers else None
    return RayExecutor(ray_address, cpus=cpus, gpus=gpus, max_in_flight=workers, num_cpus=num_cpus)


def _notices(lines: list[str], shown: set[str]) -> None:
    """Log lines of the workers (backend fallbacks…), each text once per batch."""
    for line in lines:
        if line not in shown:
            shown.add(line)
            log.warning("%s", line)


def _write_report(path: Path, rows: list[Any]) -> None:
    text = "".join(json.dumps(r.row()) + "\n" for r in rows)
    if str(path) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from editor.api.files import write_text

    write_text(path, text)


class _Bars:
    """An overall bar of videos and one of frames written (all workers together)."""

    def __init__(self, videos: int, quiet: bool) -> None:
        from tqdm import tqdm

        m = _main()
        self.videos = tqdm(total=videos, desc="videos", unit="video", dynamic_ncols=True, file=sys.stderr,
                           disable=quiet or not sys.stderr.isatty(), leave=False)
        self.frame_bar = m._bar(None, "frames", quiet)

    def video(self, result: Any) -> None:
        if result.status == "failed":
            log.error("error: %s", result.error)
        self.videos.update(1)

    def frames(self, n: int) -> None:
        self.frame_bar.update(n)

    def close(self) -> None:
        self.frame_bar.close()
        self.videos.close()
