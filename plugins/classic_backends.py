"""Weight-free segmenter (GrabCut) and tracker (optical flow + GrabCut refinement).

The tracker's options are :class:`editor.backends.classic.FlowTrackerConfig`
(``--backend-set classic.OPTION=VALUE``); the segmenter has none.
"""
from __future__ import annotations

from editor import hookimpl
from editor.api.backends import BackendContext, BackendOptions, SegmenterSpec, TrackerSpec
from editor.backends.classic import FlowTracker, FlowTrackerConfig, GrabCutSegmenter


def _segmenter(context: BackendContext, options: BackendOptions) -> GrabCutSegmenter:
    return GrabCutSegmenter()


def _tracker(context: BackendContext, options: FlowTrackerConfig) -> FlowTracker:
    return FlowTracker(options)


@hookimpl
def editor_register_segmenters(register):  # noqa: ANN001
    register(SegmenterSpec("classic", BackendOptions, _segmenter, kind="classic",
                           description="GrabCut seeded by clicks/boxes (no weights needed)"))


@hookimpl
def editor_register_trackers(register):  # noqa: ANN001
    register(TrackerSpec("classic", FlowTrackerConfig, _tracker, kind="classic",
                         description="optical flow (DIS) + GrabCut boundary refinement (no weights needed)"))
