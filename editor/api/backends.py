"""Segmenter, tracker and sink backends: the interfaces plugins implement.

* A **segmenter** turns the prompts of one object on one frame into a mask.
* A **tracker** propagates object masks from frame to frame, in one direction per pass.
* A **sink** receives the edited frames (the video encoder is the built-in one).

Backends are registered through the hooks in :mod:`editor.api.hookspecs`; the core picks
one by name or, for ``auto``, the best available (model backends before classical ones).
Each backend declares typed options (a :class:`BackendOptions` subclass), set on the command
line with ``--backend-set NAME.OPTION=VALUE``.

Optional capabilities are protocols too, checked with ``isinstance``: a tracker that is a
:class:`ReviewableTracker` hands out :class:`ReviewableTrackPass` passes, which take a
:class:`Review`: the engine's judgement of every frame's masks before the tracker continues
from them (evidence, lost and found, :mod:`editor.tracking.evidence`; weak-mask refinement,
:mod:`editor.tracking.refinement`). Trackers only report what they measured: masks, and
foreground probabilities (to the review) where they have them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np
from pydantic import BaseModel, ConfigDict

from editor.api.prompts import Prompt
from editor.api.frames import Frame, VideoInfo


@dataclass(frozen=True)
class Segmentation:
    """A segmenter's answer for one object: bool H×W mask at the frame's size and a score in [0, 1]."""

    mask: np.ndarray
    score: float = 1.0


@runtime_checkable
class Segmenter(Protocol):
    """Prompts → mask on one frame. Implementations may cache per-frame work (image embeddings)."""

    def segment(self, image: np.ndarray, frame_index: int, prompts: list[Prompt],
                masks: list[np.ndarray] | None = None) -> Segmentation:
        """Segment one object on ``image`` (RGB uint8 H×W×3, upright).

        ``prompts`` are that object's prompts on this frame (points/boxes; mask prompts
        are already loaded into ``masks`` as bool H×W arrays). Raise ``TrackeditError``
        for prompts the backend cannot use; never return an empty mask silently for a
        failure.
        """
        ...


@runtime_checkable
class TrackPass(Protocol):
    """One propagation pass over consecutive frames in one direction."""

    def step(self, frame: Frame, prompts: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Advance to ``frame`` (the next frame in this pass's direction).

        ``prompts`` maps object id → bool H×W mask given on this frame (new objects or
        corrections); those masks replace the prediction and enter the tracker's memory.
        Returns bool H×W masks at the frame's size for every object still tracked
        (objects given in ``prompts`` included).

        Damaged frames: when ``frame.damaged`` is true (decoded with errors or predicted
        from such a frame; the engine sets it on every frame it steps, frames replayed
        from its cache included) the pass predicts masks as usual but learns nothing from
        the frame: a tracker with a memory or model of the objects (XMem, SAM 2) leaves it
        as it was before the frame, except for an object that starts there (its first mask
        is all it can track from). Prompt and review masks on such a frame replace the
        prediction in the result. A tracker whose state is only the previous frame (the
        classical optical-flow tracker) keeps no model to protect.
        """
        ...

    def end_objects(self, ids: Iterable[int]) -> None:
        """Stop tracking ``ids`` (e.g. at a shot cut); they come back only when prompted again."""
        ...

    def close(self) -> None:
        """Free memory held by the pass."""
        ...


@runtime_checkable
class Tracker(Protocol):
    """Factory of propagation passes for one video."""

    def new_pass(self, video: VideoInfo, *, reverse: bool) -> TrackPass:
        ...


@runtime_checkable
class Review(Protocol):
    """The check a :class:`ReviewableTrackPass` runs on each frame it segmented, before the
    tracker memorises the frame or continues from it: the engine attaches one to every such
    pass (evidence, :mod:`editor.tracking.evidence`, after weak-mask refinement when that is
    on). Replacement masks may be empty: the object is lost there, the pass drops it (until
    it is given again)."""

    def __call__(self, frame: Frame, masks: dict[int, np.ndarray],
                 probabilities: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Review the predicted ``masks`` (object id → bool H×W at the frame's size) of ``frame``,
        with the tracker's foreground ``probabilities`` (object id → float H×W in [0, 1]).

        Returns replacement masks (object id → bool H×W, maybe empty); the pass memorises
        them exactly like prompt masks given on this frame and returns them as its result.
        """
        ...

    def forget(self, ids: list[int]) -> None:
        """The pass stopped tracking ``ids`` (:meth:`TrackPass.end_objects`): drop what the
        review remembers about them."""
        ...


@runtime_checkable
class ReviewableTrackPass(TrackPass, Protocol):
    """A pass that lets a :class:`Review` check (and replace) its predictions before they
    enter the tracker's memory (the classical tracker's and XMem's passes). The engine's
    lost/found and hold decisions act only on such passes; other passes' masks are scored."""

    def set_review(self, review: Review | None) -> None:
        """Review every frame this pass segments from now on (``None``: stop reviewing)."""
        ...


@runtime_checkable
class ScoredTrackPass(TrackPass, Protocol):
    """A pass whose model judges each object's presence itself (SAM 2's occlusion head): the
    engine takes its state (visible, hidden, back) and confidence from it, combined with the
    evidence's score (:mod:`editor.tracking.model_confidence`), instead of the evidence's
    verdict alone."""

    def scores(self) -> dict[int, float]:
        """Object id → the model's probability in [0, 1] that the object is visible on the
        frame stepped last (every object the pass tracks there, hidden ones included)."""
        ...


@runtime_checkable
class ReviewableTracker(Tracker, Protocol):
    """A tracker that declares that refined masks should enter its memory (XMem): weak-mask
    refinement needs this; it is checked before a video is opened, so the capability is
    declared on the tracker itself. (The classical tracker's passes take the engine's review
    too, but it does not ask for refinement.)"""

    supports_review: ClassVar[Literal[True]]
    """Declares the capability (a class attribute); trackers without it do not have it."""

    def new_pass(self, video: VideoInfo, *, reverse: bool) -> ReviewableTrackPass:
        ...


@runtime_checkable
class Sink(Protocol):
    """Receives the edited frames in display order. A sink whose file can hold another
    number of frames than it was given (a constant-rate container) may say how many with a
    ``frames_in_file`` attribute (``int``), read after :meth:`close`."""

    def write(self, frame: Frame) -> None: ...

    def close(self) -> Path: ...

    def abort(self) -> None: ...


Kind = Literal["model", "classic"]


@dataclass(frozen=True)
class BackendContext:
    """What every backend factory receives besides its own options.

    ``device`` is the user's request (``auto``, ``cpu``, ``cuda:1``…); a backend that uses
    PyTorch resolves it with :func:`editor.backends.device.pick_device`. ``checkpoint`` is a
    weights file the user named (``--sam-checkpoint`` for segmenters, ``--xmem-checkpoint``
    for trackers), else ``None``; ``models_dir`` is where downloaded models live (``None``:
    the default folder). ``named_checkpoints``: checkpoints the user named for a model family
    that serves both kinds (``--sam2-checkpoint DIR`` → ``{"sam2": DIR}``), the same in both
    contexts.
    """

    device: str = "auto"
    checkpoint: Path | None = None
    models_dir: Path | None = None
    named_checkpoints: Mapping[str, Path] = field(default_factory=dict)


class BackendOptions(BaseModel):
    """Base class of every backend's typed options (``--backend-set NAME.OPTION=VALUE``).

    Subclasses declare fields with types, defaults and docstrings; unknown keys are
    rejected, and values are validated before any backend is built. A backend without
    options uses this class itself.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


B = TypeVar("B")
O = TypeVar("O", bound=BackendOptions)


@dataclass(frozen=True)
class BackendSpec(Generic[B, O]):
    """A registered backend.

    ``options_model`` is its :class:`BackendOptions` subclass. ``factory(context, options)``
    builds the backend from a :class:`BackendContext` and an ``options_model`` instance.
    ``unavailable(context, options)`` returns ``None`` when the backend can run, else a
    one-line reason (e.g. "no SAM checkpoint found"). ``auto`` takes the available spec with
    the highest ``priority``, model backends before classical ones.
    """

    name: str
    options_model: type[O]
    factory: Callable[[BackendContext, O], B]
    kind: Kind = "model"
    priority: int = 0
    description: str = ""
    unavailable: Callable[[BackendContext, O], str | None] = lambda context, options: None


class SegmenterSpec(BackendSpec[Segmenter, O]):
    """A registered segmenter (``factory`` returns a :class:`Segmenter`)."""


class TrackerSpec(BackendSpec[Tracker, O]):
    """A registered tracker (``factory`` returns a :class:`Tracker`)."""


@dataclass(frozen=True)
class SinkSpec:
    """A registered output sink.

    ``accepts(path)`` says whether it writes this kind of output path (by extension or
    pattern); the first accepting sink in hook-call order wins (see
    :func:`editor.api.hookspecs.editor_register_sinks`), except that ``fallback`` sinks (the
    built-in video encoder, which accepts every path) are asked last.
    ``factory(path, video, encode_options, overwrite)``.
    """

    name: str
    accepts: Callable[[Path], bool]
    factory: Callable[..., Sink]
    description: str = ""
    fallback: bool = False
