"""``remove``: erase the selected objects by video inpainting (see :mod:`editor.imaging.inpaint`).

Options: ``window`` (frames after — and, without ``memory``, before — used as sources),
``dilate`` (grow the hole, px, to cover edges), ``feather`` (seam width, px), ``flow``
(refine alignment with optical flow), ``memory`` (remember the shot's background and carry
synthesised fill along the camera's motion, so it does not flicker; off: the window alone),
``shadow`` (grow the hole by the object's attached shadow, :mod:`editor.imaging.shadow`),
``hold`` (on a frame where the tracker is unsure of an object, the hole keeps at least the
extent of its nearest confident masks, moved by its motion, up to ``hold_reach`` frames away:
:mod:`editor.imaging.held_extent`; the look-ahead then holds ``window + hold_reach`` frames,
fewer for large frames: :func:`editor.api.limits.lookahead_frames`),
``inpainter`` (the spatial fill for pixels no frame shows: ``patch``, exemplar-based
completion, and ``telea``, OpenCV's fast marching, are registered here; a learned inpainter
another plugin registers through the ``editor_register_inpainters`` hook).
Memory is bounded by the window and the shot's memory canvas (2× the fill size each way,
memory-mapped in the run's scratch folder); output is full resolution and pixels outside
the dilated, feathered hole are bit-identical to the input. 8- and 16-bit frames
(``deep=True``): alignment on an 8-bit view, the fill sampled and composited at the
frame's depth (the spatial fallback in 8 bits, scaled).
"""
from __future__ import annotations

import inspect
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import cv2
import numpy as np
from pydantic import Field

from editor import hookimpl
from editor.imaging.compositing import blend, feathered_alpha, grow
from editor.api.errors import PresetError
from editor.api.limits import lookahead_frames
from editor.imaging.background_memory import BackgroundMemory
from editor.imaging.held_extent import HeldExtent
from editor.imaging.inpaint import TemporalInpainter, FillPlan, telea, unknown_region
from editor.imaging.patch_synthesis import complete
from editor.imaging.shadow import attached_shadow
from editor.api.stages import (FrameItem, FrameWindow, Inpainter, InpainterSpec, Stage, StageContext, StageOptions,
                               StageSpec)


class RemoveOptions(StageOptions):
    window: int = Field(10, ge=0, le=100, description="frames before and after used as sources")
    dilate: int = Field(8, ge=0, le=200)
    feather: int = Field(6, ge=0, le=200)
    flow: bool = True
    memory: bool = Field(True, description="remember the shot's background (everything seen, and the fill "
                                           "once synthesised, carried along the camera's motion)")
    shadow: bool = Field(False, description="also remove the object's shadow: a darker region attached to "
                                            "the mask, within shadow_reach px")
    shadow_reach: int = Field(40, ge=1, le=1000, description="how far from the mask a shadow is looked for (px)")
    hold: bool = Field(True, description="where the tracker is unsure of an object (confidence below 0.5), "
                                         "remove at least its nearest confident masks' extent, moved by its "
                                         "motion: a lost or half-masked object is not left showing")
    hold_reach: int = Field(25, ge=1, le=250, description="frames a confident mask is held over (each way)")
    inpainter: str = "patch"
    fill_max_side: int = Field(1280, ge=64, le=16384,
                               description="compute the fill at most at this size (longer side); only "
                                           "the hole is replaced in the full-resolution frame")
    workers: int = Field(2, ge=1, le=2,
                         description="threads: 2 prepares the next frame (alignment, moving pixels, the fill "
                                     "from later frames) while the current one is completed (memory, "
                                     "synthesis, compositing); the output is the same")


class RemoveStage(Stage):
    def __init__(self, options: RemoveOptions, context: StageContext) -> None:
        spec = context.inpainters.get(options.inpainter)
        if spec is None:
            raise PresetError(f"remove: unknown inpainter {options.inpainter!r} "
                              f"(available: {', '.join(sorted(context.inpainters))})")
        self.options = options
        self.ids = context.resolve_objects(options.objects)
        # with a memory the past is remembered: one frame back is enough (for the next homography)
        video = context.video
        ahead = lookahead_frames(video.width, video.height, options.hold_reach, video.bit_depth > 8) \
            if options.hold else 0
        self.window = (min(options.window, 1) if options.memory else options.window, options.window + ahead)
        # anchors before a weak frame are kept as crops (cheap): hold_reach back; after it, what
        # the look-ahead's memory bound allows
        self.held = HeldExtent(options.hold_reach, ahead=ahead) if options.hold else None
        memory = BackgroundMemory(directory=context.work_dir) if options.memory else None
        self.engine = TemporalInpainter(flow_refine=options.flow, spatial=_avoiding(spec.factory(context)),
                                        memory=memory)
        self.temporal_fractions: list[float] = []
        self._small: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def _hole(self, item: FrameItem) -> np.ndarray:
        if self.held is None:
            mask = item.mask_of(self.ids)
        else:
            mask = np.zeros(item.labels.shape, bool)
            for oid in self.ids:
                mask |= self.held.mask(item, oid)
        if self.options.shadow and mask.any():
            mask = mask | (attached_shadow(item.frame.image, mask, self.options.shadow_reach) & (item.labels == 0))
        return grow(mask, self.options.dilate)

    def process(self, item: FrameItem) -> FrameItem:  # window = 0: spatial fill only
        return self.process_window(FrameWindow((item,), 0))

    def _scaled(self, item: FrameItem) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(image, hole, other objects) at the fill resolution and the full-resolution hole,
        cached per frame while it is in the window. Other objects: the tracked objects this
        stage keeps (grown like the hole), which are no background to copy or remember."""
        cached = self._small.get(item.index)
        if cached is None:
            image, hole = item.frame.image, self._hole(item)
            others = grow((item.labels > 0) & ~hole, self.options.dilate)
            h, w = hole.shape
            s = min(1.0, self.options.fill_max_side / float(max(h, w)))
            small, small_others = hole, others
            if s < 1.0:
                size = (max(1, round(w * s)), max(1, round(h * s)))
                image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
                small = cv2.resize(hole.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
                small_others = cv2.resize(others.astype(np.uint8), size, interpolation=cv2.INTER_AREA) > 0
            cached = self._small[item.index] = (image, small, small_others, hole)
        return cached

    def process_window(self, window: FrameWindow) -> FrameItem:
        return self._complete(self._prepare(window))

    def run(self, items: Iterator[FrameItem]) -> Iterator[FrameItem]:
        """With ``workers = 2``: frame t is completed on a second thread while frame t + 1 is
        prepared on this one (:meth:`TemporalInpainter.prepare` / ``complete``), one frame in
        flight; the frames come out in order and the same as with one thread."""
        if self.options.workers < 2:
            yield from super().run(items)
            return
        with ThreadPoolExecutor(1, thread_name_prefix="trackedit-remove") as pool:
            pending: Future[FrameItem] | None = None
            try:
                for window in self.windows(items):
                    prepared = self._prepare(window, lag=1)
                    if pending is not None:
                        yield pending.result()
                    pending = pool.submit(self._complete, prepared)
                if pending is not None:
                    yield pending.result()
                    pending = None
            finally:
                if pending is not None:
                    pending.cancel()

    def _prepare(self, window: FrameWindow, lag: int = 0) -> tuple[FrameItem, FillPlan | None, np.ndarray]:
        """(the current item, the engine's plan or ``None`` when there is nothing to do, the
        full-resolution hole). ``lag``: frames whose completion may still be running (their
        caches are kept)."""
        if self.held is not None:  # the look-ahead beyond the fill's window is for the held extent only
            self.held.observe(window.items, self.ids)
            last = window.center + self.options.window + 1
            window = FrameWindow(window.items[:last], window.center)
        current = window.current
        first = window.items[0].index
        for k in [k for k in self._small if k < first]:
            del self._small[k]
        self.engine.forget_before(first - lag)
        if self.held is not None:
            self.held.forget_before(first - lag)
        _, small_hole, _, hole = self._scaled(current)
        if not small_hole.any() and self.engine.memory is None:
            return current, None, hole
        scaled = [self._scaled(it) for it in window.items]
        plan = self.engine.prepare([sc[0] for sc in scaled], [sc[1] for sc in scaled],
                                   [it.index for it in window.items], window.center, [sc[2] for sc in scaled])
        return current, plan, hole

    def _complete(self, prepared: tuple[FrameItem, FillPlan | None, np.ndarray]) -> FrameItem:
        current, plan, hole = prepared
        if plan is None:
            return current
        filled = self.engine.complete(plan)
        if not plan.hole.any():  # remembered, nothing to fill
            return current
        if filled.shape != current.frame.image.shape:
            filled = cv2.resize(filled, (hole.shape[1], hole.shape[0]), interpolation=cv2.INTER_CUBIC)
        self.temporal_fractions.append(plan.temporal_fraction)
        alpha = feathered_alpha(hole, self.options.feather)
        image = blend(current.frame.image, filled, alpha)
        return current.with_frame(current.frame.replace(image))

    def close(self) -> None:
        self.engine.close()
        self._small.clear()


def _avoiding(inpainter: Inpainter) -> Inpainter:
    """``inpainter`` as the three-argument :data:`~editor.api.stages.Inpainter`; one written for
    ``inpainter(image, hole)`` gets the hole with the avoided regions touching it
    (:func:`~editor.imaging.inpaint.unknown_region`), so it cannot copy from them either."""
    try:
        params = inspect.signature(inpainter).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): the current form
        return inpainter
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in params):
        return inpainter

    def two_arguments(image: np.ndarray, hole: np.ndarray, avoid: np.ndarray) -> np.ndarray:
        return inpainter(image, unknown_region(hole, avoid))
    return two_arguments


def _patch(context: StageContext) -> Inpainter:
    return complete


def _telea(context: StageContext) -> Inpainter:
    return telea


@hookimpl
def editor_register_inpainters(register):  # noqa: ANN001
    register(InpainterSpec("patch", _patch, "exemplar-based completion (Wexler et al. 2007 with PatchMatch, "
                                            "Barnes et al. 2009): texture and structure from around the hole"))
    register(InpainterSpec("telea", _telea, "OpenCV Telea (fast marching), at reduced resolution for large holes"))


@hookimpl
def editor_register_stages(register):  # noqa: ANN001
    register(StageSpec("remove", RemoveOptions, RemoveStage,
                       "erase objects: fill from neighbouring frames (homography + flow), spatial fallback",
                       deep=True))
