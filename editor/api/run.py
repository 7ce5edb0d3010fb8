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

    @property
    def fps(self) -> float:
        """Frames per second of wall-clock time (0 for an instant run)."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0
