"""Classical (weight-free) backends: region segmenter (the ``classic`` segmenter; plain GrabCut
for boxes and mask prompts) and optical-flow tracker."""
from editor.backends.classic.region_segmenter import RegionSegmenter, RegionSegmenterConfig
from editor.backends.classic.segmenter import GrabCutSegmenter
from editor.backends.classic.tracker import FlowTracker, FlowTrackerConfig, FlowTrackPass

__all__ = ["FlowTrackPass", "FlowTracker", "FlowTrackerConfig", "GrabCutSegmenter", "RegionSegmenter",
           "RegionSegmenterConfig"]
