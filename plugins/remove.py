"""``remove``: erase the selected objects by video inpainting (see :mod:`editor.imaging.inpaint`).

Options: ``window`` (frames before and after used as sources), ``dilate`` (grow the hole,
px, to cover edges and shadows), ``feather`` (seam width, px), ``flow`` (refine alignment
with optical flow), ``inpainter`` (the spatial fallback for pixels never seen: ``telea``,
registered here, or a learned inpainter another plugin registers through the
``editor_register_inpainters`` hook).
Memory is bounded by the window; output is full resolution and pixels outside the
dilated, feathered hole are bit-identical to the input. 8- and 16-bit frames
(``deep=True``): alignment on an 8-bit view, the fill sampled and composited at the
frame's depth (the spatial fallback in 8 bits, scaled).
"""
from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from editor import hookimpl
from editor.imaging.compositing import blend, feathered_alpha, grow
from editor.api.errors import PresetError
from editor.imaging.inpaint import TemporalInpainter, telea
from editor.api.stages import (FrameItem, FrameWindow, Inpainter, InpainterSpec, Stage, StageContext, StageOptions,
                               StageSpec)


class RemoveOptions(StageOptions):
    window: int = Field(10, ge=0, le=100, description="frames before and after used as sources")
    dilate: int = Field(8, ge=0, le=200)
    feather: int = Field(6, ge=0, le=200)
    flow: bool = True
    inpainter: str = "telea"
    fill_max_side: int = Field(1280, ge=64, le=16384,
                               description="compute the fill at most at this size (longer side); only "
                                           "the hole is replaced in the full-resolution frame")


class RemoveStage(Stage):
    def __init__(self, options: RemoveOptions, context: StageContext) -> None:
        spec = context.inpainters.get(options.inpainter)
        if spec is None:
            raise PresetError(f"remove: unknown inpainter {options.inpainter!r} "
                              f"(available: {', '.join(sorted(context.inpainters))})")
        self.options = options
        self.ids = context.resolve_objects(options.objects)
        self.window = (options.window, options.window)
        self.engine = TemporalInpainter(flow_refine=options.flow,
                                        spatial=spec.factory(context))
        self.temporal_fractions: list[float] = []
        self._small: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _hole(self, item: FrameItem) -> np.ndarray:
        return grow(item.mask_of(self.ids), self.options.dilate)

    def process(self, item: FrameItem) -> FrameItem:  # window = 0: spatial fill only
        return self.process_window(FrameWindow((item,), 0))

    def _scaled(self, item: FrameItem) -> tuple[np.ndarray, np.ndarray]:
        """(image, hole) at the fill resolution, cached per frame while it is in the window."""
        cached = self._small.get(item.index)
        if cached is None:
            image, hole = item.frame.image, self._hole(item)
            h, w = hole.shape
            s = min(1.0, self.options.fill_max_side / float(max(h, w)))
            if s < 1.0:
                size = (max(1, round(w * s)), max(1, round(h * s)))
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
                hole = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
            cached = self._small[item.index] = (image, hole)
        return cached

    def process_window(self, window: FrameWindow) -> FrameItem:
        current = window.current
        first = window.items[0].index
        for k in [k for k in self._small if k < first]:
            del self._small[k]
        self.engine.forget_before(first)
        hole = self._hole(current)
        if not hole.any():
            return current
        scaled = [self._scaled(it) for it in window.items]
        filled = self.engine.fill([im for im, _ in scaled], [hl for _, hl in scaled],
                                  [it.index for it in window.items], window.center)
        if filled.shape != current.frame.image.shape:
            filled = cv2.resize(filled, (hole.shape[1], hole.shape[0]), interpolation=cv2.INTER_CUBIC)
        self.temporal_fractions.append(self.engine.last_temporal_fraction)
        alpha = feathered_alpha(hole, self.options.feather)
        image = blend(current.frame.image, filled, alpha)
        return current.with_frame(current.frame.replace(image))


def _telea(context: StageContext) -> Inpainter:
    return telea


@hookimpl
def editor_register_inpainters(register):  # noqa: ANN001
    register(InpainterSpec("telea", _telea, "OpenCV Telea (fast marching), at reduced resolution for large holes"))


@hookimpl
def editor_register_stages(register):  # noqa: ANN001
    register(StageSpec("remove", RemoveOptions, RemoveStage,
                       "erase objects: fill from neighbouring frames (homography + flow), spatial fallback",
                       deep=True))
