"""Weight-free segmenter (region hierarchy + GrabCut) and tracker (optical flow + GrabCut refinement).

The segmenter's options are :class:`editor.backends.classic.RegionSegmenterConfig`, the
tracker's :class:`editor.backends.classic.FlowTrackerConfig` (``--backend-set classic.OPTION=VALUE``).
"""
from __future__ import annotations

from editor import hookimpl
from editor.api.backends import BackendContext, SegmenterSpec, TrackerSpec
from editor.backends.classic import FlowTracker, FlowTrackerConfig, RegionSegmenter, RegionSegmenterConfig


def _segmenter(context: BackendContext, options: RegionSegmenterConfig) -> RegionSegmenter:
    return RegionSegmenter(options)


def _tracker(context: BackendContext, options: FlowTrackerConfig) -> FlowTracker:
    return FlowTracker(options)


@hookimpl
def editor_register_segmenters(register):  # noqa: ANN001
    register(SegmenterSpec("classic", RegionSegmenterConfig, _segmenter, kind="classic",
                           description="clicks read against a hierarchy of image regions (no weights needed)"))


@hookimpl
def editor_register_trackers(register):  # noqa: ANN001
    register(TrackerSpec("classic", FlowTrackerConfig, _tracker, kind="classic",
                         description="optical flow (DIS) + GrabCut boundary refinement (no weights needed)"))
