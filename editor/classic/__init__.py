"""Classical (weight-free) backends: GrabCut segmenter and optical-flow tracker."""
from .segmenter import GrabCutSegmenter
from .tracker import FlowTracker, FlowTrackerConfig, FlowTrackPass

__all__ = ["FlowTrackPass", "FlowTracker", "FlowTrackerConfig", "GrabCutSegmenter"]
