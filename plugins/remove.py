"""``remove``: erase the selected objects by video inpainting (see :mod:`editor.inpaint`).

Options: ``window`` (frames before and after used as sources), ``dilate`` (grow the hole,
px, to cover edges and shadows), ``feather`` (seam width, px), ``flow`` (refine alignment
with optical flow), ``inpainter`` (the spatial fallback for pixels never seen: ``telea``
or a learned inpainter a plugin registers with ``register_inpainter``).
Memory is bounded by the window; output is full resolution and pixels outside the
dilated, feathered hole are bit-identical to the input.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import Field

from editor import hookimpl
from editor.compositing import blend, feathered_alpha, grow
from editor.errors import PresetError
from editor.inpaint import Inpainter, TemporalInpainter, telea
from editor.stages import FrameItem, FrameWindow, Stage, StageContext, StageOptions, StageSpec

#: Spatial inpainters by name. Plugins bringing learned inpainters (LaMa, ProPainter-style
#: models with a user-supplied checkpoint) add theirs with ``register_inpainter``.
INPAINTERS: dict[str, Callable[[StageContext], Inpainter]] = {"telea": lambda context: telea}


def register_inpainter(name: str, factory: Callable[[StageContext], Inpainter]) -> None:
    """Make ``inpainter = "<name>"`` available to the remove stage."""
    INPAINTERS[name] = factory


class RemoveOptions(StageOptions):
    window: int = Field(10, ge=0, le=100, description="frames before and after used as sources")
    dilate: int = Field(8, ge=0, le=200)
    feather: int = Field(6, ge=0, le=200)
    flow: bool = True
    inpainter: str = "telea"


class RemoveStage(Stage):
    def __init__(self, options: RemoveOptions, context: StageContext) -> None:
        if options.inpainter not in INPAINTERS:
            raise PresetError(f"remove: unknown inpainter {options.inpainter!r} (available: {sorted(INPAINTERS)})")
        self.options = options
        self.ids = context.resolve_objects(options.objects)
        self.window = (options.window, options.window)
        self.engine = TemporalInpainter(flow_refine=options.flow,
                                        spatial=INPAINTERS[options.inpainter](context))
        self.temporal_fractions: list[float] = []

    def _hole(self, item: FrameItem) -> np.ndarray:
        return grow(item.mask_of(self.ids), self.options.dilate)

    def process(self, item: FrameItem) -> FrameItem:  # window = 0: spatial fill only
        return self.process_window(FrameWindow((item,), 0))

    def process_window(self, window: FrameWindow) -> FrameItem:
        current = window.current
        holes = [self._hole(it) for it in window.items]
        hole = holes[window.center]
        self.engine.forget_before(window.items[0].index)
        if not hole.any():
            return current
        filled = self.engine.fill([it.frame.image for it in window.items], holes,
                                  [it.index for it in window.items], window.center)
        self.temporal_fractions.append(self.engine.last_temporal_fraction)
        alpha = feathered_alpha(hole, self.options.feather)
        image = blend(current.frame.image, filled, alpha)
        return FrameItem(current.frame.replace(image), current.labels)


@hookimpl
def editor_register_stages(register):  # noqa: ANN001
    register(StageSpec("remove", RemoveOptions, RemoveStage,
                       "erase objects: fill from neighbouring frames (homography + flow), spatial fallback"))
