"""What plugins and library users program against: hook specifications, the stage and
backend protocols, frames, prompts, label maps, errors, safe output files and safe file
names (``safe_name``: user text → one file-name component).

Nothing in ``editor.api`` imports from the rest of ``editor`` (the pipeline, tracking,
backends, UI and CLI all build on it), so a plugin that imports only ``editor`` and
``editor.api`` depends on the stable surface alone::

    from editor import hookimpl
    from editor.api import FrameItem, Stage, StageOptions, StageSpec
"""
from editor.api.backends import (BackendContext, BackendOptions, BackendSpec, Review, ReviewableTracker,
                                 ReviewableTrackPass, Segmentation, Segmenter, SegmenterSpec, Sink, SinkSpec, Tracker,
                                 TrackerSpec, TrackPass)
from editor.api.detectors import Detection, Detector, DetectorSpec, FrameDetection
from editor.api.errors import (BackendOptionError, BackendUnavailable, InputError, Interrupted, OutputError,
                               PluginError, PresetError, PromptError, TrackeditError)
from editor.api.files import AtomicOutput, check_output, scratch_dir
from editor.api.frames import AudioStreamInfo, ColorInfo, Frame, VideoInfo
from editor.api.names import safe_name
from editor.api.prompts import ObjectPrompts, Prompt, PromptSet, load_prompts
from editor.api.run import RefineCounts, RunInfo, RunSummary, TrackingStats
from editor.api.stages import (FrameItem, FrameWindow, Inpainter, InpainterSpec, Selection, Stage, StageContext,
                               StageOptions, StageSpec, redaction_region)

__all__ = [
    "AtomicOutput", "AudioStreamInfo", "BackendContext", "BackendOptionError", "BackendOptions", "BackendSpec",
    "BackendUnavailable", "ColorInfo", "Detection", "Detector", "DetectorSpec", "Frame", "FrameDetection",
    "FrameItem", "FrameWindow", "Inpainter", "InpainterSpec",
    "InputError", "Interrupted", "ObjectPrompts", "OutputError", "PluginError", "PresetError", "Prompt",
    "PromptError", "PromptSet", "RefineCounts", "Review", "ReviewableTrackPass", "ReviewableTracker", "RunInfo",
    "RunSummary", "Segmentation", "Selection", "Segmenter", "SegmenterSpec", "Sink", "SinkSpec", "Stage", "StageContext",
    "StageOptions", "StageSpec", "TrackPass", "TrackeditError", "Tracker", "TrackerSpec", "TrackingStats",
    "VideoInfo", "check_output", "load_prompts", "redaction_region", "safe_name", "scratch_dir",
]
