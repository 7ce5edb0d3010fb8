"""8-bit stages in a deep pipeline.

The pipeline decodes at the source's depth (uint16 RGB for sources above 8 bits). A stage
whose :class:`~editor.api.stages.StageSpec` does not say ``deep=True`` is wrapped in
:class:`EightBitStage`: it is handed each deep frame as uint8 (rounded to the nearest
8-bit level), and what it returns is taken back to 16 bits — pixels (and alpha values) it
left unchanged keep their original 16-bit values exactly, the pixels it changed become its
8-bit values × 257. So an 8-bit stage never lowers the precision of what it did not touch,
and the writer still passes untouched pixels through from the decoded planes. 8-bit frames
go through the wrapper untouched.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np

from editor.api.stages import FrameItem, FrameWindow
from editor.imaging.depth import SCALE, to_depth
from editor.pipeline.wrapped import WrappedStage
from editor.video.pixels import changed_pixels


def _deepen(out: np.ndarray, given: np.ndarray, original: np.ndarray) -> np.ndarray:
    """``out`` (uint8, what the stage returned for ``given``, the 8-bit view of ``original``)
    at ``original``'s depth: ``original`` where the stage left a pixel as it was given."""
    if out is given:
        return original
    if out.shape != given.shape:
        return to_depth(out, original.dtype)
    changed = changed_pixels(out, given)
    result = original.copy()
    result[changed] = out[changed].astype(original.dtype) * SCALE
    return result


class EightBitStage(WrappedStage):
    """A stage that takes only uint8 frames, run in a pipeline that may carry uint16 ones
    (see the module docstring). Attributes not defined here are the wrapped stage's."""

    def process(self, item: FrameItem) -> FrameItem:
        if not item.frame.deep:
            return self.stage.process(item)
        shallow = _shallow(item)
        return _back(self.stage.process(shallow), shallow, item)

    def process_window(self, window: FrameWindow) -> FrameItem:
        current = window.current
        items = [_shallow(it) for it in window.items]
        out = self.stage.process_window(FrameWindow(tuple(items), window.center))
        return _back(out, items[window.center], current) if current.frame.deep else out

    def run(self, items: Iterator[FrameItem]) -> Iterator[FrameItem]:
        given: dict[int, tuple[FrameItem, FrameItem]] = {}  # index → (8-bit item handed over, deep original)

        def shallow() -> Iterator[FrameItem]:
            for item in items:
                if item.frame.deep:
                    handed = _shallow(item)
                    given[item.index] = (handed, item)
                    yield handed
                else:
                    yield item

        for out in self.stage.run(shallow()):
            pair = given.pop(out.index, None)
            for old in [k for k in given if k < out.index]:  # a stage that dropped frames
                del given[old]
            yield out if pair is None else _back(out, *pair)



def _shallow(item: FrameItem) -> FrameItem:
    return item.with_frame(item.frame.as_8bit())


def _back(out: FrameItem, handed: FrameItem, original: FrameItem) -> FrameItem:
    """``out`` (the stage's result for ``handed``) at the depth of ``original``."""
    frame = out.frame
    if not original.frame.deep or frame.image.dtype != np.uint8:
        return out
    if frame is handed.frame:  # nothing changed: the deep frame as it came
        return dataclasses.replace(out, frame=original.frame)
    image = _deepen(frame.image, handed.frame.image, original.frame.image)
    if frame.alpha is None:
        alpha = None
    elif original.frame.alpha is not None and handed.frame.alpha is not None:
        alpha = _deepen(frame.alpha, handed.frame.alpha, original.frame.alpha)
    else:  # alpha the stage made
        alpha = to_depth(frame.alpha, image.dtype)
    result = frame.replace(image)
    result.alpha = alpha
    return dataclasses.replace(out, frame=result)
