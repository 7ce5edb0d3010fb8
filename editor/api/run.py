"""What observers of a run see: :class:`RunInfo` before the first frame, :class:`RunSummary`
after the output is complete (the ``editor_run_*`` hooks), with tracking statistics."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from editor.api.frames import VideoInfo


@dataclass
class RefineCounts:
    """Weak tracked masks seen by weak-mask refinement, and what became of them."""

    weak: int = 0
    refined: int = 0
    """Re-segmented by the segmenter and accepted (memorised like a correction)."""
    rejected: int = 0
    """Re-segmented but not accepted (the tracked mask was kept)."""


SMALL_CLICK_SHARE = 0.001
"""Share of the frame under which a mask made from clicks is listed for review
(:attr:`TrackingStats.small_prompts`): 174 px of a 640×272 frame, 2 074 of a 1080p one —
below a 14×14 px patch of bikes.mp4, where a new user's click on a van's rear window gave
152 px of reflection (the van: about 65 000). A note, never a change to the mask."""


@dataclass
class TrackingStats:
    """Counts of one tracking run."""

    frames: int = 0
    cuts: list[int] = field(default_factory=list)
    """Frame indices (0-based, display order) that start a new shot."""
    segmented: int = 0
    """Number of (frame, object) segmentations from prompts."""
    cached_frames: int = 0
    """Frames kept on disk for the backward pass."""
    refinement: RefineCounts = field(default_factory=RefineCounts)
    confidence: dict[int, dict[int, float]] = field(default_factory=dict)
    """Frame → object id → confidence in [0, 1] of what tracking output there (1 for
    prompts; see :mod:`editor.tracking.evidence`)."""
    states: dict[int, dict[int, str]] = field(default_factory=dict)
    """Frame → object id → ``prompt``, ``tracked``, ``found`` (re-acquired), ``held`` or
    ``lost`` (nothing output)."""
    review_below: float = 0.5
    """Frames with a confidence below this are weak: the ones to review."""
    damaged: set[int] = field(default_factory=set)
    """Frames decoded with errors or predicted from such frames (:attr:`Frame.damaged`):
    tracked without learning from them, and to review."""
    small_prompts: dict[tuple[int, int], int] = field(default_factory=dict)
    """(frame, object id) → pixels of the mask a person's clicks gave there, where it covers
    less than :data:`SMALL_CLICK_SHARE` of the frame (nothing at all included): a click on
    part of an object — a window, a reflection — may give that part alone, and then only
    that part is tracked and edited, with full confidence. Listed for review."""

    def weak_frames(self, below: float | None = None) -> dict[int, list[int]]:
        """Object id → frames (ascending) with a confidence below ``below`` (default
        :attr:`review_below`); objects without weak frames are left out."""
        limit = self.review_below if below is None else below
        out: dict[int, list[int]] = {}
        for frame in sorted(self.confidence):
            for oid, c in self.confidence[frame].items():
                if c < limit:
                    out.setdefault(oid, []).append(frame)
        return dict(sorted(out.items()))


@dataclass
class DetectionSummary:
    """What automatic detection (``--detect``) found in a run."""

    detectors: tuple[str, ...]
    objects: dict[int, str]
    """Id → name of each detected object (``face-1``…); empty when nothing was found."""
    every: int
    """The detectors ran on every ``every``-th frame (and the first frame of every shot)."""
    detected_frames: int
    detections: int
    """Detections kept (score at least ``min_score``)."""
    seconds: float
    """Wall-clock time of the detection pass."""


@dataclass
class RunInfo:
    """A run about to start: input and output paths, the probed video, the preset's stage
    ids in order, and the backend names (``None`` when masks come from a folder)."""

    input: Path
    output: Path | None
    video: VideoInfo
    stages: list[str]
    segmenter: str | None
    tracker: str | None


@dataclass
class RunSummary:
    """A finished run: frames written, wall-clock seconds, the output path, backends and
    tracking statistics (``None`` without tracking)."""

    frames: int
    seconds: float
    output: Path | None
    segmenter: str | None = None
    tracker: str | None = None
    tracking: TrackingStats | None = None
    detection: DetectionSummary | None = None
    """Set when the run detected objects automatically."""
    side_outputs: tuple[Path, ...] = ()
    """What stages wrote beside the output (an ``export-masks`` folder), as they committed it."""
    frames_in_file: int | None = None
    """Frames the output file holds, where the sink counts them (its ``frames_in_file``): a
    constant-rate output (AVI) of a variable-rate source repeats and drops frames, so it
    can differ from ``frames`` (the frames edited and handed to the sink)."""

    @property
    def fps(self) -> float:
        """Frames per second of wall-clock time (0 for an instant run)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0
