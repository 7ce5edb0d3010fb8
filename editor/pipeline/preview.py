"""Preview of an edit preset on one frame (what the web UI shows before rendering).

The preset's stages run on a short stretch of frames around the wanted one, long enough
for every stage's look-behind/look-ahead window, so temporal stages (object removal) see
the neighbours they would see in a full render; only that stretch is decoded and edited.
The result is for display: 8-bit, whatever the depth of the frames it was made from.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from editor.pipeline.plugin_manager import PluginManager
from editor.pipeline.presets import Preset, build_stages
from editor.api.detectors import FrameDetection
from editor.api.stages import FrameItem, StageContext
from editor.api.frames import Frame


def preview_frame(preset: Preset, plugins: PluginManager, context: StageContext, index: int, count: int,
                  frame_at: Callable[[int], Frame], labels_at: Callable[[int], np.ndarray],
                  progress: Callable[[int, int], None] | None = None,
                  confidence_at: Callable[[int], dict[int, float]] | None = None,
                  detections_at: Callable[[int], tuple[FrameDetection, ...]] | None = None) -> Frame:
    """Frame ``index`` (of ``count``) as ``preset`` renders it, from ``frame_at``/``labels_at``
    (and ``confidence_at``: object id → the tracker's confidence, which a render's masks folder
    carries and ``remove`` holds weak frames' masks by; ``detections_at``: the frame's
    detections, which redaction covers whatever tracking did, as in a render — with
    ``context.kept`` and ``context.instances`` what keep leaves, :func:`editor.api.stages.redaction_layers`),
    as an 8-bit frame for display
    (:meth:`Frame.as_8bit`). ``progress(done, total)`` is
    called as each frame of the stretch is taken by the stages (``total``: the stretch's
    frames)."""
    stages = build_stages(preset, plugins, context)
    try:
        before = sum(s.window[0] for s in stages)
        after = sum(s.window[1] for s in stages)
        lo, hi = max(0, index - before), min(count - 1, index + after)
        def taken(i: int) -> FrameItem:
            item = FrameItem(frame_at(i), labels_at(i), confidence_at(i) if confidence_at is not None else {},
                             detections_at(i) if detections_at is not None else ())
            if progress is not None:
                progress(i - lo + 1, hi - lo + 1)
            return item

        items = (taken(i) for i in range(lo, hi + 1))
        for stage in stages:
            items = stage.run(items)
        for item in items:
            if item.index == index:
                return item.frame.as_8bit()
        raise LookupError(f"frame {index} did not come out of the preset's stages")
    finally:
        for stage in stages:
            stage.close()
