"""Weight-free segmenter (GrabCut) and tracker (optical flow + GrabCut refinement)."""
from __future__ import annotations

from editor import hookimpl
from editor.api.backends import BackendOptions, SegmenterSpec, TrackerSpec
from editor.backends.classic import FlowTracker, GrabCutSegmenter


def _segmenter(options: BackendOptions) -> GrabCutSegmenter:
    return GrabCutSegmenter()


def _tracker(options: BackendOptions) -> FlowTracker:
    return FlowTracker()


@hookimpl
def editor_register_segmenters(register):  # noqa: ANN001
    register(SegmenterSpec("classic", _segmenter, kind="classic",
                           description="GrabCut seeded by clicks/boxes (no weights needed)"))


@hookimpl
def editor_register_trackers(register):  # noqa: ANN001
    register(TrackerSpec("classic", _tracker, kind="classic",
                         description="optical flow (DIS) + GrabCut boundary refinement (no weights needed)"))
