"""Edit stages: the types a stage plugin implements and receives.

A stage transforms a stream of :class:`FrameItem` (a decoded frame plus the label map
of tracked objects). Most stages look at one frame at a time and implement
:meth:`Stage.process`; stages that need neighbouring frames (video inpainting) declare
``window = (before, after)`` and implement :meth:`Stage.process_window`. The pipeline
buffers at most ``before + after + 1`` items for such a stage, so memory never grows
with the video's length.

Pixel depth: a stage registered with ``StageSpec(..., deep=True)`` receives frames at the
source's depth — ``item.frame.image`` is RGB uint8 (0–255) for 8-bit sources and uint16
(0–65535, white = 65535) for 10-, 12- and 16-bit sources — and returns the dtype it was
given (alpha of the same dtype). A stage without ``deep`` always receives uint8 and returns
uint8: the pipeline converts deep frames for it (rounding to the nearest 8-bit level) and
takes its output back to 16 bits, keeping the original 16-bit value of every pixel the
stage left unchanged. The helpers in :mod:`editor.imaging.depth` scale 8-bit constants and
pictures to a frame's dtype.
"""
from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from editor.api.errors import PresetError
from editor.api.frames import Frame, VideoInfo

log = logging.getLogger(__name__)


class StageOptions(BaseModel):
    """Base class of every stage's typed options. Unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    objects: Literal["all"] | list[int | str] = "all"
    """Which tracked objects the stage acts on: ``"all"`` or ids / names / classes (a
    detector's name, e.g. ``"faces"``: every object it found)."""


def select_objects(selector: Literal["all"] | list[int | str], names: Mapping[int, str],
                   groups: Mapping[str, Iterable[int]] | None = None) -> set[int]:
    """The one rule for choosing objects (a stage's ``objects`` option, ``--set
    blur.objects=[…]``): ``"all"`` is every object of the run (every id 1…255 when the run
    has no object table); a list takes ids (ints or digit strings), names from ``names``
    (id → name) and, for an item that names no object, the ids of the group of that name in
    ``groups`` (a class: the detector ``faces`` → every ``face-<n>``; possibly none). Raises
    :class:`~editor.api.errors.PresetError` for an item that is neither."""
    if selector == "all":
        return set(names) if names else set(range(1, 256))
    by_name = {n: i for i, n in names.items() if n}
    groups = groups or {}
    out: set[int] = set()
    for item in selector:
        if isinstance(item, int) or item.isdigit():
            out.add(int(item))
        elif item in by_name:
            out.add(by_name[item])
        elif item in groups:
            out.update(groups[item])
        else:
            known = f"known: {sorted(by_name)}" + (f"; classes: {sorted(groups)}" if groups else "")
            raise PresetError(f"objects: no object named {item!r} ({known})")
    return out


@dataclass
class FrameItem:
    """A frame travelling through the edit stages with its object label map.

    ``frame.image`` is RGB H×W×3 at the source's depth for stages that declare
    ``StageSpec.deep`` (uint8 0–255 for 8-bit sources, uint16 0–65535 for deeper ones),
    always uint8 for stages that do not (see the module docstring).
    ``labels`` is H×W uint8 at the frame's size: 0 = background, else the object id.
    ``confidence``: object id → the tracker's confidence in [0, 1] on this frame, when the
    labels come from tracking (see :mod:`editor.tracking.evidence`); empty otherwise.
    """

    frame: Frame
    labels: np.ndarray
    confidence: dict[int, float] = field(default_factory=dict)

    @property
    def index(self) -> int:
        return self.frame.index

    def mask_of(self, ids: Iterable[int]) -> np.ndarray:
        """Bool H×W mask of the given object ids."""
        ids = list(ids)
        if not ids:
            return np.zeros(self.labels.shape, bool)
        if len(ids) == 1:
            return self.labels == ids[0]
        return np.isin(self.labels, ids)


@dataclass(frozen=True)
class FrameWindow:
    """``items[center]`` is the frame to produce; neighbours before/after it (fewer at the ends)."""

    items: Sequence[FrameItem]
    center: int

    @property
    def current(self) -> FrameItem:
        return self.items[self.center]


@dataclass
class StageContext:
    """What a stage knows about the run when it is created."""

    video: VideoInfo
    object_names: dict[int, str] = field(default_factory=dict)
    device: str = "auto"
    """Requested device; stages using PyTorch resolve it with ``editor.backends.device.pick_device``."""
    output: Path | None = None
    work_dir: Path | None = None
    """A scratch folder for this run (deleted afterwards)."""
    inpainters: Mapping[str, InpainterSpec] = field(default_factory=dict)
    """Inpainters registered through ``editor_register_inpainters``, by name (filled in by
    :func:`editor.pipeline.presets.build_stages` from the plugin manager)."""
    object_groups: Mapping[str, set[int]] = field(default_factory=dict)
    """Classes of objects a stage may select by name: each detector's name → the ids of the
    objects named after its labels (``faces`` → ``face-1``, ``face-2``…; filled in by
    :func:`editor.pipeline.presets.build_stages` from the object names and the registered
    detectors)."""

    def resolve_objects(self, selector: Literal["all"] | list[int | str]) -> set[int]:
        """Ids selected by a stage's ``objects`` option (:func:`select_objects`). A selection
        that takes none of the run's objects (a class that found nothing) is logged as a
        warning: that stage edits nothing, which a person redacting footage must know."""
        ids = select_objects(selector, self.object_names, self.object_groups)
        if selector != "all" and self.object_names and not ids & set(self.object_names):
            names = ", ".join(n or str(i) for i, n in sorted(self.object_names.items()))
            log.warning("objects = %s selects none of this run's objects (%s): that stage edits nothing",
                        list(selector), names)
        return ids


class Stage:
    """Base class of edit stages. Subclasses override ``process`` (or ``process_window``).

    ``process`` returns a new :class:`FrameItem` (``item.frame.replace(new_image)``), or
    ``item`` itself when nothing changes; it does not modify ``item.frame.image`` in place.
    The image's dtype is the source's depth when the stage's spec says ``deep=True``
    (uint8 or uint16, white = 255 or 65535), else always uint8; the result keeps it.
    """

    window: tuple[int, int] = (0, 0)
    """Frames needed (before, after) the current one; (0, 0) = one frame at a time."""

    def process(self, item: FrameItem) -> FrameItem:
        raise NotImplementedError

    def process_window(self, window: FrameWindow) -> FrameItem:
        return self.process(window.current)

    def finish(self) -> None:
        """Commit side outputs (e.g. rename a masks folder into place); called once after the
        run's output was written successfully, before :meth:`close`."""

    def close(self) -> None:
        """Release resources and drop unfinished side outputs; called once at the end of
        every run, also after errors."""

    def run(self, items: Iterator[FrameItem]) -> Iterator[FrameItem]:
        """Stream ``items`` through the stage with bounded look-behind/look-ahead."""
        before, after = self.window
        if before == 0 and after == 0:
            for item in items:
                yield self.process(item)
            return
        buf: deque[FrameItem] = deque()
        pos = 0  # index in buf of the next item to produce
        for item in items:
            buf.append(item)
            if len(buf) - 1 - pos >= after:
                yield self.process_window(FrameWindow(tuple(buf), pos))
                pos += 1
                while pos > before:
                    buf.popleft()
                    pos -= 1
        while pos < len(buf):
            yield self.process_window(FrameWindow(tuple(buf), pos))
            pos += 1
            while pos > before:
                buf.popleft()
                pos -= 1


StageFactory = Callable[[Any, StageContext], Stage]

Inpainter = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``inpainter(image, hole)`` → ``image`` with the ``hole`` pixels filled: ``image`` is RGB
uint8 H×W×3 (also in a deep run: the ``remove`` stage hands it an 8-bit view and scales the
filled pixels back), ``hole`` bool H×W; the result has ``image``'s shape and dtype (pixels outside
the hole may be returned unchanged or not; the caller composites only the hole back)."""


@dataclass(frozen=True)
class InpainterSpec:
    """A registered spatial inpainter (``inpainter = "<name>"`` in the ``remove`` stage's options).

    ``factory(context)`` returns the :data:`Inpainter` for one run (load a model here; use
    ``context.device``). The ``remove`` stage fills from neighbouring frames first and asks
    the inpainter for what no frame shows.
    """

    name: str
    factory: Callable[[StageContext], Inpainter]
    description: str = ""


@dataclass(frozen=True)
class StageSpec:
    """A registered stage type: its name, typed options and factory.

    ``factory(options, context)`` builds the stage for one run; ``options`` is an
    instance of ``options_model`` validated from the preset.
    """

    name: str
    options_model: type[StageOptions]
    factory: StageFactory
    description: str = ""
    deep: bool = False
    """The stage accepts uint16 frames (sources above 8 bits are then edited at 16 bits per
    channel). ``False``: it gets uint8 frames (converted by the pipeline, rounding) and its
    output is taken back to 16 bits, pixels it did not change keeping their exact values."""
