"""Segmenter, tracker and sink backends: the interfaces plugins implement.

* A **segmenter** turns the prompts of one object on one frame into a mask.
* A **tracker** propagates object masks from frame to frame, in one direction per pass.
* A **sink** receives the edited frames (the video encoder is the built-in one).

Backends are registered through the hooks in :mod:`editor.api.hookspecs`; the core picks
one by name or, for ``auto``, the best available (model backends before classical ones).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

import numpy as np

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
class Sink(Protocol):
    """Receives the edited frames in display order."""

    def write(self, frame: Frame) -> None: ...

    def close(self) -> Path: ...

    def abort(self) -> None: ...


Kind = Literal["model", "classic"]


@dataclass(frozen=True)
class BackendOptions:
    """Settings every backend factory receives.

    ``device`` is the user's request (``auto``, ``cpu``, ``cuda:1``…); a backend that
    uses PyTorch resolves it with :func:`editor.backends.device.pick_device`.
    """

    device: str = "auto"
    checkpoint: Path | None = None
    models_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


B = TypeVar("B")


@dataclass(frozen=True)
class BackendSpec(Generic[B]):
    """A registered backend.

    ``unavailable(options)`` returns ``None`` when the backend can run, else a one-line
    reason (e.g. "no SAM checkpoint found"). ``auto`` takes the available spec with the
    highest ``priority``, model backends before classical ones.
    """

    name: str
    factory: Callable[[BackendOptions], B]
    kind: Kind = "model"
    priority: int = 0
    description: str = ""
    unavailable: Callable[[BackendOptions], str | None] = lambda options: None


class SegmenterSpec(BackendSpec[Segmenter]):
    """A registered segmenter (``factory`` returns a :class:`Segmenter`)."""


class TrackerSpec(BackendSpec[Tracker]):
    """A registered tracker (``factory`` returns a :class:`Tracker`)."""


@dataclass(frozen=True)
class SinkSpec:
    """A registered output sink.

    ``accepts(path)`` says whether it writes this kind of output path (by extension or
    pattern); the first accepting sink in registration order wins, except that
    ``fallback`` sinks (the built-in video encoder, which accepts every path) are asked
    last. ``factory(path, video, encode_options, overwrite)``.
    """

    name: str
    accepts: Callable[[Path], bool]
    factory: Callable[..., Sink]
    description: str = ""
    fallback: bool = False
