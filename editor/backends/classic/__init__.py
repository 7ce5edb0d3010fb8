"""Classical (weight-free) backends: GrabCut segmenter and optical-flow tracker."""
from editor.backends.classic.segmenter import GrabCutSegmenter
from editor.backends.classic.tracker import FlowTracker, FlowTrackerConfig, FlowTrackPass

__all__ = ["FlowTrackPass", "FlowTracker", "FlowTrackerConfig", "GrabCutSegmenter"]
