"""The streaming pipeline: decode → segment/track → edit stages → sink.

Frames travel at the source's depth (uint8, or uint16 for sources above 8 bits) from the
decoder to the sink, which writes the source's depth by default. Decode, tracking, edits
and encoding run in separate threads joined by bounded queues, so the slowest stage sets
the pace and memory is bounded by the queue sizes (plus the windows stages ask for and
the tracker's on-disk frame cache).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from editor.backends.assembly import BackendChoice, select_backends
from editor.backends.device import check_device_name
from editor.api.errors import InputError, OutputError, TrackeditError
from editor.api.files import AtomicOutput, check_output, scratch_dir
from editor.api.masks import MaskFolderWriter, MasksManifest, iter_mask_folder
from editor.pipeline.plugin_manager import PluginManager
from editor.pipeline.presets import Preset, build_stages
from editor.api.prompts import PromptSet
from editor.api.stages import FrameItem, Stage, StageContext
from editor.pipeline.threads import threaded
from editor.api.run import RunInfo, RunSummary
from editor.tracking.confidence import write_confidence
from editor.tracking.engine import Progress, TrackingSession
from editor.api.frames import VideoInfo
from editor.video.reader import iter_frames, probe
from editor.video.writer import EncodeOptions


@dataclass
class RunRequest:
    """Everything a run needs; the CLI and the web UI fill this in."""

    input: Path
    output: Path | None = None
    preset: Preset | None = None
    prompts: PromptSet | None = None
    masks_dir: Path | None = None
    backends: BackendChoice = field(default_factory=BackendChoice)
    """Segmenter, tracker, device, checkpoints, backend options and weak-mask refinement
    (see :mod:`editor.backends.assembly`); the device is also the stages' device."""
    encode: EncodeOptions = field(default_factory=EncodeOptions)
    overwrite: bool = False
    detect_cuts: bool = True
    bidirectional: bool = False
    queue_size: int = 4


class Pipeline:
    """Runs requests with the plugins of one :class:`PluginManager`."""

    def __init__(self, plugins: PluginManager | None = None) -> None:
        self.plugins = plugins or PluginManager()

    # -- shared setup --------------------------------------------------------------------
    def _items(self, req: RunRequest, video: VideoInfo, work: Path, progress: Progress | None, *,
               deep: bool = True) -> tuple[Iterator[FrameItem], TrackingSession | None, str | None, str | None]:
        # deep: the source's depth, uint16 RGB for sources above 8 bits (stages that take
        # only 8-bit frames get them through build_stages; tracking works on an 8-bit view)
        frames = threaded(iter_frames(video.path, deep=deep), req.queue_size, "decode")
        shape = (video.height, video.width)
        if req.masks_dir is not None:
            manifest = MasksManifest.load(req.masks_dir)
            masks = iter_mask_folder(req.masks_dir, manifest.frame_count, video.size)

            def from_masks() -> Iterator[FrameItem]:
                n = 0
                for frame in frames:
                    labels = next(masks, None)
                    if labels is None:
                        raise InputError(f"masks cover {manifest.frame_count} frames but the video has more",
                                         req.masks_dir)
                    n += 1
                    yield FrameItem(frame, labels)
                if n != manifest.frame_count:
                    raise InputError(f"masks cover {manifest.frame_count} frames, the video has {n}",
                                     req.masks_dir)
            return from_masks(), None, None, None
        if req.prompts is None:
            return (FrameItem(f, np.zeros(shape, np.uint8)) for f in frames), None, None, None
        selection = select_backends(self.plugins, req.backends)
        seg_spec, trk_spec = selection.segmenter_spec, selection.tracker_spec
        backends = selection.build()
        segmenter, tracker, refine = backends.segmenter, backends.tracker, backends.refine_options
        tracking = TrackingSession(video, segmenter, tracker, work_dir=work, detect_cuts=req.detect_cuts,
                                   refine=refine)
        tracking.add_prompts(req.prompts)
        items = threaded(tracking.stream(frames, bidirectional=req.bidirectional, progress=progress),
                         req.queue_size, "track")
        return items, tracking, seg_spec.name, trk_spec.name

    def _object_names(self, req: RunRequest) -> dict[int, str]:
        if req.masks_dir is not None:
            return MasksManifest.load(req.masks_dir).objects
        return req.prompts.names() if req.prompts else {}

    # -- commands ------------------------------------------------------------------------
    def run(self, req: RunRequest, *, on_frame: Callable[[int], None] | None = None,
            progress: Progress | None = None) -> RunSummary:
        """Edit ``req.input`` with ``req.preset`` into ``req.output``."""
        if req.output is None or req.preset is None:
            raise TrackeditError("run needs an output path and a preset")
        video = probe(req.input)
        if req.prompts is not None:
            req.prompts.validate_for_video(video.width, video.height, video.frame_count)
        sink_spec = next((s for s in self.plugins.sinks if s.accepts(req.output)), None)
        if sink_spec is None:
            raise OutputError("no sink can write this kind of output", req.output)
        start = time.perf_counter()
        with scratch_dir("run") as work:
            context = StageContext(video, self._object_names(req), check_device_name(req.backends.device),
                                   req.output, work)
            stages = build_stages(req.preset, self.plugins, context)
            n = 0
            try:
                sink = sink_spec.factory(req.output, video, req.encode, req.overwrite)  # checks the path
                try:
                    items, tracking, seg_name, trk_name = self._items(req, video, work, progress)
                    info = RunInfo(req.input, req.output, video, [s.id for s in req.preset.stages], seg_name, trk_name)
                    self.plugins.run_started(info)
                    for item in threaded(_chain(items, stages), req.queue_size, "edit"):
                        sink.write(item.frame)
                        n += 1
                        if on_frame is not None:
                            on_frame(n)
                    sink.close()
                    for stage in stages:
                        stage.finish()
                except BaseException:
                    sink.abort()
                    raise
            finally:
                for stage in stages:
                    stage.close()
        summary = RunSummary(n, time.perf_counter() - start, req.output, seg_name, trk_name,
                             tracking.stats if tracking else None)
        self.plugins.run_finished(info, summary)
        return summary

    def track(self, req: RunRequest, masks_out: Path, *, on_frame: Callable[[int], None] | None = None,
              progress: Progress | None = None) -> RunSummary:
        """Write the tracked label maps of ``req.input`` as a DAVIS-layout masks folder."""
        if req.prompts is None:
            raise TrackeditError("track needs a prompts file")
        video = probe(req.input)
        check_output(masks_out, [Path(req.input)], req.overwrite, directory=True)
        req.prompts.validate_for_video(video.width, video.height, video.frame_count)
        start = time.perf_counter()
        n = 0
        with AtomicOutput(masks_out, directory=True) as out, scratch_dir("track") as work:
            items, tracking, seg_name, trk_name = self._items(req, video, work, progress, deep=False)
            writer = MaskFolderWriter(out.path, req.prompts.names(), str(req.input))
            for item in items:
                writer.write(item.index, item.labels)
                n += 1
                if on_frame is not None:
                    on_frame(n)
            writer.close()
            if tracking is not None:  # confidence.json beside the masks
                write_confidence(out.path, tracking.stats, req.prompts.names(), n)
        return RunSummary(n, time.perf_counter() - start, masks_out, seg_name, trk_name,
                          tracking.stats if tracking else None)


def _chain(items: Iterator[FrameItem], stages: list[Stage]) -> Iterator[FrameItem]:
    for stage in stages:
        items = stage.run(items)
    return items
