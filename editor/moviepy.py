"""trackedit from moviepy 2: an ``Effect`` that tracks and edits a clip's own frames, and
mask clips from a masks folder for compositing.

    from moviepy import VideoFileClip
    from editor.moviepy import TrackedEdit, mask_clip

    clip = VideoFileClip("in.mp4").subclipped(2, 6).resized(0.5)
    blurred = clip.with_effects([TrackedEdit(preset="blur", prompts="p.json")])

:class:`TrackedEdit` runs the same pipeline as ``trackedit run``
(:class:`editor.pipeline.orchestrator.Pipeline`: the ``TrackingSession`` engine, the preset's
stages built by :func:`editor.pipeline.presets.build_stages`) on the frames the clip gives —
its subclip, resize and speed already applied — so prompts (frame numbers, pixel
coordinates) and masks folders refer to *those* frames: frame ``i`` is ``clip.get_frame(i /
clip.fps)``, ``i < clip.n_frames``. The frames are written once, losslessly (FFV1), into a
scratch folder, edited losslessly there, and the returned clip reads the edited frames back
by number; its duration, fps, audio and mask are the clip's. The scratch folder is removed
when the last clip using it is garbage-collected (or the process ends).

:func:`mask_clip` turns one object of a masks folder (``trackedit track -o DIR``, or the
``davis`` format of ``export-masks``) into a moviepy mask clip (float 0.0/1.0 frames), e.g.
to let a title pass behind a tracked person.

moviepy is the optional ``moviepy`` extra; importing this module without it is an
:class:`~editor.api.errors.TrackeditError`.
"""
from __future__ import annotations

import json
import shutil
import threading
import weakref
from collections.abc import Mapping, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ConfigDict
from pydantic.dataclasses import dataclass

from editor.api.errors import InputError, TrackeditError
from editor.api.files import make_scratch_dir
from editor.api.masks import MasksManifest, frame_png, read_label_png
from editor.api.prompts import PromptSet, load_prompts
from editor.backends.assembly import BackendChoice
from editor.detection.options import DetectOptions
from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.pipeline.presets import Preset, apply_overrides, load_preset
from editor.video.inputs import rgb_video
from editor.video.random_access import FrameSource
from editor.video.reader import probe
from editor.video.writer import EncodeOptions

try:
    from moviepy import VideoClip
    from moviepy.Effect import Effect
except ImportError as exc:  # pragma: no cover - the moviepy extra
    raise TrackeditError("editor.moviepy needs moviepy 2 (pip install 'trackedit[moviepy]')") from exc

__all__ = ["TrackedEdit", "mask_clip"]

#: The edited copy: lossless, the input's RGB planes (FFV1 keeps ``bgr0`` as it is).
_LOSSLESS = EncodeOptions(codec="ffv1", crf=None, preset=None, audio=False, subtitles=False, other_streams=False)


def frame_index(t: float, fps: float, count: int) -> int:
    """The number of the frame shown at ``t`` seconds: moviepy's frame ``i`` is at ``i /
    fps`` (``Clip.iter_frames``), so ``floor(t · fps)`` (with a microsecond's slack for
    rounding), clamped to ``0 … count - 1``."""
    return int(min(max(np.floor(t * fps + 1e-6), 0), count - 1))


class _Frames:
    """Frames by number from a video file in a scratch folder that is removed with this
    object (every clip made from it holds it)."""

    def __init__(self, folder: Path, video: Path) -> None:
        self.source = FrameSource(video, cache_size=8)
        self._lock = threading.Lock()
        self._finalizer = weakref.finalize(self, _release, self.source, folder)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> np.ndarray:
        with self._lock:
            return self.source[index].image


def _release(source: FrameSource, folder: Path) -> None:
    source.close()
    shutil.rmtree(folder, ignore_errors=True)


def _override(stage_option: str, value: Any) -> str:
    """``stage.option`` = a Python value as a ``--set`` override (a TOML literal: JSON's
    numbers, booleans, strings and arrays are TOML's)."""
    return f"{stage_option}={json.dumps(value)}"


@dataclass(config=ConfigDict(arbitrary_types_allowed=True, extra="forbid"))
class TrackedEdit(Effect):
    """A moviepy 2 effect: track objects on the clip's frames and edit them with a preset.

    ``preset``: a built-in preset name (``blur``, ``pixelate``, ``solid``, ``remove``,
    ``background``, ``overlay``, ``export-masks``) or a ``.toml`` path, as ``--preset``.
    The objects come from one of ``prompts`` (a prompts file or a :class:`PromptSet`, frame
    numbers and coordinates of the clip's frames), ``masks`` (a masks folder of the clip's
    frames: nothing is tracked) or ``detect`` (detector names, e.g. ``["faces"]``, as
    ``--detect``; may join ``prompts``). ``set``: option overrides, ``{"blur.sigma": 12}``
    as ``--set blur.sigma=12``. ``backends``: segmenter, tracker and device
    (:class:`~editor.backends.assembly.BackendChoice`; default: the best available).
    ``bidirectional``: also track backward from each prompt (as ``--bidirectional``).

    ``clip.with_effects([TrackedEdit(...)])`` returns a clip of the same size, fps and
    duration whose frames are the edited ones (H×W×3 uint8 RGB); the clip's audio and mask
    are kept. Errors are :class:`~editor.api.errors.TrackeditError` (one line).
    """

    preset: str | Path = "blur"
    prompts: str | Path | PromptSet | None = None
    masks: str | Path | None = None
    detect: Sequence[str] | None = None
    set: Mapping[str, Any] | None = None
    backends: BackendChoice | None = None
    bidirectional: bool = False

    def _preset(self) -> Preset:
        preset = load_preset(self.preset)
        return apply_overrides(preset, [_override(k, v) for k, v in (self.set or {}).items()])

    def apply(self, clip: VideoClip) -> VideoClip:
        """Track and edit ``clip``'s frames (at ``clip.fps``); the edited clip."""
        if getattr(clip, "fps", None) in (None, 0) or clip.duration is None:
            raise InputError("TrackedEdit needs a clip with a duration and fps (set them with "
                             "with_duration / with_fps)")
        if self.prompts is None and self.masks is None and not self.detect:
            raise TrackeditError("TrackedEdit needs prompts, masks or detect")
        prompts = self.prompts if isinstance(self.prompts, PromptSet) or self.prompts is None \
            else load_prompts(self.prompts)
        preset = self._preset()
        rate = Fraction(clip.fps).limit_denominator(1001 * 1000)
        folder = make_scratch_dir("moviepy")
        try:
            source = folder / "clip.mkv"
            rgb_video(clip.iter_frames(fps=clip.fps, dtype="uint8"), rate, source)
            edited = folder / "edited.mkv"
            Pipeline().run(RunRequest(
                input=source, output=edited, preset=preset, prompts=prompts,
                masks_dir=Path(self.masks) if self.masks is not None else None,
                backends=self.backends or BackendChoice(), encode=_LOSSLESS, bidirectional=self.bidirectional,
                detect=DetectOptions(detectors=tuple(self.detect)) if self.detect else None))
            frames = _Frames(folder, edited)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        fps, count = float(clip.fps), len(frames)
        return clip.transform(lambda get_frame, t: frames[frame_index(t, fps, count)], keep_duration=True)


def mask_clip(masks_dir: str | Path, object: int | str, *, fps: float | None = None) -> VideoClip:  # noqa: A002
    """One object of a masks folder as a moviepy mask clip.

    ``object``: its id or its name (``objects.json``). ``fps``: the frames' rate; default:
    the rate of the video the masks were tracked on (``objects.json``'s ``source``).
    Frame ``i`` of the folder is shown from ``i / fps`` on; the clip lasts ``frame_count /
    fps`` seconds. Frames are H×W float64 (moviepy's masks), 1.0 on the object and 0.0
    elsewhere. Raises :class:`~editor.api.errors.InputError` naming the folder for an
    unknown object, or when no fps is given and the source video cannot be read.
    """
    folder = Path(masks_dir)
    manifest = MasksManifest.load(folder)
    if isinstance(object, str) and not object.isdigit():
        ids = [i for i, n in manifest.objects.items() if n == object]
        if not ids:
            names = ", ".join(f"{i} {n}".strip() for i, n in sorted(manifest.objects.items())) or "none"
            raise InputError(f"no object named {object!r} (objects: {names})", folder)
        oid = ids[0]
    else:
        oid = int(object)
        if oid not in manifest.objects:
            raise InputError(f"no object {oid} (objects: {', '.join(map(str, sorted(manifest.objects)))})", folder)
    if fps is None:
        if not manifest.source or not Path(manifest.source).is_file():
            raise InputError(f"mask_clip: the source video {manifest.source or '(none)'} is not here; give fps=",
                             folder)
        fps = float(probe(manifest.source).average_rate)
    count = manifest.frame_count
    last: dict[int, np.ndarray] = {}

    def frame_function(t: float) -> np.ndarray:
        index = frame_index(t, fps, count)
        if index not in last:
            last.clear()
            last[index] = (read_label_png(frame_png(folder, index)) == oid).astype(np.float64)
        return last[index]

    clip = VideoClip(frame_function=frame_function, is_mask=True, duration=count / fps)
    return clip.with_fps(fps)
