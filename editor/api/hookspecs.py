"""Every hook trackedit calls, in one place. This file is the plugin author's reference.

Write a plugin as a module (or object) with functions decorated by
``editor.hookimpl`` whose names and argument names match the specs below, and expose
it through the ``trackedit`` entry-point group in your package metadata::

    [project.entry-points.trackedit]
    spotlight = "my_package.spotlight"

Registration hooks receive a ``register`` callback and are called once, the first time
the plugin manager is asked for that kind of item; the manager remembers which plugin
called ``register`` for each item (``trackedit plugins`` shows it). Frame edits are done by the stages a plugin registers
(:class:`editor.api.stages.Stage`): the pipeline calls ``Stage.process`` (or
``process_window``) for every frame, in the order the preset lists the stages.
Event hooks (``editor_run_*``) observe a run and must not modify it.

All hooks are optional; a plugin implements the ones it needs. Hook names start
with ``editor_``; a misspelled hook name is an error when the plugin loads. Hooks are
called through pluggy, so ``@hookimpl(wrapper=True)`` (or ``hookwrapper=True``),
``tryfirst``/``trylast`` and pluggy's tracing work as pluggy documents them; an exception
raised by an implementation stops the run with a one-line error naming its plugin.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

from editor import PROJECT_NAME

if TYPE_CHECKING:
    from editor.api.backends import SegmenterSpec, SinkSpec, TrackerSpec
    from editor.api.detectors import DetectorSpec
    from editor.api.run import RunInfo, RunSummary
    from editor.api.stages import InpainterSpec, StageSpec

hookspec = pluggy.HookspecMarker(PROJECT_NAME)


@hookspec
def editor_register_stages(register: Callable[[StageSpec], None]) -> None:
    """Register edit stages.

    Call ``register(StageSpec(name, options_model, factory, description))`` once per
    stage. ``name`` is what presets refer to (``use = "blur"``); it must be unique
    across all plugins (a clash is reported naming both plugins). ``options_model``
    is a subclass of :class:`editor.api.stages.StageOptions` (pydantic; unknown keys are
    rejected, so presets are validated before any frame is decoded).
    ``factory(options, context)`` returns a :class:`editor.api.stages.Stage` for one run.

    Return value: ignored.
    """


@hookspec
def editor_register_segmenters(register: Callable[[SegmenterSpec], None]) -> None:
    """Register segmenter backends (prompts on one frame → object mask).

    Call ``register(SegmenterSpec(name, options_model, factory, ...))``. ``options_model``
    is a subclass of :class:`editor.api.backends.BackendOptions` (pydantic; ``--backend-set
    NAME.OPTION=VALUE`` values are validated against it, unknown keys rejected);
    ``factory(context, options)`` gets a :class:`editor.api.backends.BackendContext` and an
    ``options_model`` instance and returns a :class:`editor.api.backends.Segmenter`.
    ``--segmenter NAME`` picks one by name; ``auto`` picks the available spec with the
    highest priority, model backends (``kind="model"``) before classical ones.

    Return value: ignored.
    """


@hookspec
def editor_register_trackers(register: Callable[[TrackerSpec], None]) -> None:
    """Register tracker backends (masks propagated through the video).

    Call ``register(TrackerSpec(name, options_model, factory, ...))`` (options and factory
    as for segmenters). The factory returns an :class:`editor.api.backends.Tracker` whose
    ``new_pass(video, reverse=...)`` gives a :class:`editor.api.backends.TrackPass`; the
    core drives it frame by frame, forward and backward, handing it prompt masks and shot
    cuts, and marking damaged frames (``Frame.damaged``), which a tracker predicts on but
    never learns from (:meth:`editor.api.backends.TrackPass.step`). A
    :class:`editor.api.backends.ReviewableTracker` also takes refined masks back
    (weak-mask refinement).

    Return value: ignored.
    """


@hookspec
def editor_register_sinks(register: Callable[[SinkSpec], None]) -> None:
    """Register output sinks (where edited frames go: a video file, an image sequence…).

    Call ``register(SinkSpec(name, accepts, factory))``. For an output path the first sink
    whose ``accepts(path)`` is true is used, asking sinks in the order pluggy calls this
    hook's implementations (the plugin registered last first, so a third-party plugin is
    asked before the built-in ones; ``tryfirst``/``trylast`` adjust it) and ``fallback``
    sinks last: the built-in video encoder accepts everything else.

    Return value: ignored.
    """


@hookspec
def editor_register_inpainters(register: Callable[[InpainterSpec], None]) -> None:
    """Register spatial inpainters for the ``remove`` stage (learned ones: LaMa,
    ProPainter-style models with a user-supplied checkpoint).

    Call ``register(InpainterSpec(name, factory, description))``; a preset selects one with
    ``inpainter = "<name>"`` in the ``remove`` stage's options. ``factory(context)`` gets the
    run's :class:`editor.api.stages.StageContext` and returns the
    :data:`editor.api.stages.Inpainter` (``inpainter(image, hole, avoid) -> filled image``)
    that fills what no neighbouring frame shows; ``avoid`` marks pixels it must not copy
    from (every other tracked object, things moving against the background). Names are unique across plugins (a clash is
    reported naming both); the built-in ``telea`` is registered the same way.

    Return value: ignored.
    """


@hookspec
def editor_register_detectors(register: Callable[[DetectorSpec], None]) -> None:
    """Register detectors (objects found automatically: faces, licence plates…).

    Call ``register(DetectorSpec(name, options_model, factory, labels=(...), ...))``
    (options, ``factory`` and ``unavailable`` as for segmenters). ``factory(context,
    options)`` returns an :class:`editor.api.detectors.Detector`, whose
    ``detect(image, frame_index)`` returns :class:`editor.api.detectors.Detection` boxes with
    score and class label. ``--detect NAME[,NAME]`` picks detectors by name (built-ins:
    ``faces``, ``plates``); their detections become tracked objects named
    ``<label>-<n>``, and a preset selects all of them with ``objects = ["<name>"]``.
    ``unavailable`` should name how to get a missing model (``trackedit models download …``).
    Names are unique across plugins.

    Return value: ignored.
    """


@hookspec
def editor_run_started(run: RunInfo) -> None:
    """Called once before the first frame is decoded; ``run`` describes input, output,
    stages and backends. Observers only: raising aborts the run with the plugin named.

    Return value: ignored.
    """


@hookspec
def editor_run_finished(run: RunInfo, summary: RunSummary) -> None:
    """Called once after the output file is complete with the run's summary
    (frames, timings, backends used). Not called when the run fails.

    Return value: ignored.
    """
