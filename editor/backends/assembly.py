"""The one place that turns a backend choice into built backends.

The CLI (``run``, ``track``, ``eval``, ``ui``), the pipeline, the web UI and the benchmarks
all describe what they want as a :class:`BackendChoice` and call
:func:`select_backends`, then :meth:`BackendSelection.build`:

1. every ``--backend-set NAME.OPTION=VALUE`` is checked against the options model of the
   backends called ``NAME`` (or :class:`~editor.tracking.refinement.RefineOptions` for
   ``refine``); a wrong name, option or value is a one-line :class:`BackendOptionError`
   that quotes the flag;
2. the segmenter and tracker specs are chosen: by name, or for ``auto`` the best available
   one (model backends before classical ones), with one log line when ``auto`` falls back
   to a classical backend;
3. :meth:`BackendSelection.build` creates the segmenter and the tracker with the device and
   their validated options, and decides weak-mask refinement
   (:func:`~editor.tracking.refinement.resolve_refinement`).

Selecting is cheap and done once; building loads model weights and may be repeated (the web
UI builds fresh backends for every session).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from editor.api.backends import (BackendContext, BackendOptions, BackendSpec, Segmenter, SegmenterSpec, Tracker,
                                 TrackerSpec)
from editor.api.errors import BackendOptionError, BackendUnavailable
from editor.backends.device import check_device_name
from editor.tracking.refinement import MaskRefiner, RefineOptions, resolve_refinement

if TYPE_CHECKING:
    from editor.pipeline.plugin_manager import PluginManager

log = logging.getLogger(__name__)

MODEL_HINTS = {
    "segmenter": "trackedit models download sam_vit_b",
    "tracker": "trackedit models download xmem",
}

REFINE = "refine"
"""The ``--backend-set`` name of the weak-mask refinement thresholds."""


@dataclass(frozen=True)
class BackendSetting:
    """One ``--backend-set BACKEND.OPTION=VALUE``: ``value`` is already parsed (TOML literal or text)."""

    backend: str
    option: str
    value: Any

    def __str__(self) -> str:
        """The flag as the user would type it (for messages)."""
        value = str(self.value).lower() if isinstance(self.value, bool) else self.value
        return f"--backend-set {self.backend}.{self.option}={value}"


@dataclass(frozen=True)
class BackendChoice:
    """What the user asked for: backends by name (``auto``: the best available), the device
    (``auto``, ``cpu``, ``cuda[:N]``, ``mps``), checkpoints given explicitly (``sam_checkpoint``
    goes to the segmenter, ``xmem_checkpoint`` to the tracker), the models folder (``None``:
    the default), the backend settings in command-line order (a later one wins), and the
    weak-mask refinement mode. ``sam2_checkpoint`` (a transformers checkpoint folder) goes to
    both kinds, for the SAM 2-family backends (``sam2``, ``edgetam``)."""

    segmenter: str = "auto"
    tracker: str = "auto"
    device: str = "auto"
    sam_checkpoint: Path | None = None
    xmem_checkpoint: Path | None = None
    models_dir: Path | None = None
    settings: tuple[BackendSetting, ...] = ()
    refine: Literal["auto", "on", "off"] = "auto"
    sam2_checkpoint: Path | None = None


@dataclass(frozen=True)
class Backends:
    """Built backends for one run or session.

    ``refiner`` is the segmenter when weak tracked masks are refined in this run (it is a
    :class:`~editor.tracking.refinement.MaskRefiner` and the tracker a
    :class:`~editor.api.backends.ReviewableTracker`), else ``None``; the tracking engine
    takes ``refine_options``, which carry the mode. ``device`` is the checked device name
    (``auto`` stays ``auto``: each backend resolves it)."""

    segmenter: Segmenter
    tracker: Tracker
    refiner: MaskRefiner | None
    refine_options: RefineOptions
    device: str
    segmenter_name: str
    tracker_name: str


@dataclass(frozen=True)
class BackendSelection:
    """The chosen specs with their contexts and validated options; :meth:`build` makes backends."""

    segmenter_spec: SegmenterSpec
    tracker_spec: TrackerSpec
    segmenter_context: BackendContext
    tracker_context: BackendContext
    segmenter_options: BackendOptions
    tracker_options: BackendOptions
    refine_options: RefineOptions
    detector_options: Mapping[str, BackendOptions] = field(default_factory=dict)
    """Every registered detector's validated options (``--backend-set faces.min_face=24``),
    by name, for :func:`editor.detection.detect.resolve_detectors`."""
    notices: tuple[str, ...] = ()
    """What the choice says to the user (a classical fallback and why, a model chosen by
    ``auto``); logged by :func:`select_backends` unless it was asked not to, then by
    :meth:`announce` once the run has checked everything else."""

    def announce(self) -> None:
        """Log :attr:`notices` (warnings), each on one line."""
        for line in self.notices:
            log.warning("%s", line)

    @property
    def device(self) -> str:
        """The checked device name (``auto``, ``cpu``, ``cuda:1``…)."""
        return self.segmenter_context.device

    def build(self) -> Backends:
        """Create a fresh segmenter and tracker (loads weights) and decide refinement; ``--refine
        on`` with backends that cannot refine is a one-line :class:`BackendUnavailable`."""
        segmenter = self.segmenter_spec.factory(self.segmenter_context, self.segmenter_options)
        tracker = self.tracker_spec.factory(self.tracker_context, self.tracker_options)
        refines = resolve_refinement(self.refine_options, segmenter, tracker)
        return Backends(segmenter, tracker, segmenter if refines else None,  # type: ignore[arg-type]
                        self.refine_options, self.device, self.segmenter_spec.name, self.tracker_spec.name)


def detector_options(pm: PluginManager, choice: BackendChoice) -> dict[str, BackendOptions]:
    """Every registered detector's options validated from ``choice``'s settings (``--backend-set
    faces.min_face=24``), by name; every setting is checked as :func:`select_backends` checks
    it (:class:`BackendOptionError`), without choosing backends or saying anything."""
    options = _Options(pm, choice.settings)
    return {name: options.of(spec) for name, spec in pm.detectors.items()}


def select_backends(pm: PluginManager, choice: BackendChoice, *, announce: bool = True) -> BackendSelection:
    """Validate ``choice``'s settings and device and choose the segmenter and tracker specs.

    ``announce=False`` keeps the notices (:attr:`BackendSelection.notices`) for the caller to
    log with :meth:`BackendSelection.announce` after its own checks, so that a run that
    then fails says one line, its error.

    Raises :class:`BackendOptionError` for a setting naming no backend or option or with an
    invalid value, :class:`BackendUnavailable` for a named backend that does not exist or
    cannot run (or when no backend of a kind can), ``TrackeditError`` for a bad device name.
    """
    device = check_device_name(choice.device)
    options = _Options(pm, choice.settings)
    refine = options.refine(choice.refine)
    named = {"sam2": choice.sam2_checkpoint} if choice.sam2_checkpoint is not None else {}
    seg_context = BackendContext(device, choice.sam_checkpoint, choice.models_dir, named)
    trk_context = BackendContext(device, choice.xmem_checkpoint, choice.models_dir, named)
    seg, seg_why = _select("segmenter", pm.segmenters, choice.segmenter, seg_context, options)
    trk, trk_why = _select("tracker", pm.trackers, choice.tracker, trk_context, options)
    fallbacks = [(k, s, why) for k, s, why in (("segmenter", seg, seg_why), ("tracker", trk, trk_why)) if why]
    notices: list[str] = []
    if fallbacks:
        used = " and ".join(f"classical {k} {s.name!r}" for k, s, _ in fallbacks)
        # the segmenter's and the tracker's reasons name the same model backends once each
        why = "; ".join(dict.fromkeys(part for _, _, w in fallbacks for part in w.split("; ")))
        hint = " ".join(MODEL_HINTS[k].split()[-1] for k, _, _ in fallbacks)
        notices.append(f"using the {used} ({why}); optional, for model quality: `trackedit models download {hint}`")
    auto = [(k, s) for k, s, asked in (("segmenter", seg, choice.segmenter), ("tracker", trk, choice.tracker))
            if asked == "auto" and s.kind == "model"]
    if auto:
        notices.append("using " + " and ".join(f"{k} {s.name!r} ({s.description})" for k, s in auto))
    detectors = {name: options.of(spec) for name, spec in pm.detectors.items()}
    selection = BackendSelection(seg, trk, seg_context, trk_context, options.of(seg), options.of(trk), refine,
                                 detectors, tuple(notices))
    if announce:
        selection.announce()
    return selection


class _Options:
    """The settings checked against the options models, and each spec's validated options."""

    def __init__(self, pm: PluginManager, settings: tuple[BackendSetting, ...]) -> None:
        self._by_backend: dict[str, list[BackendSetting]] = {}
        for setting in settings:
            self._by_backend.setdefault(setting.backend, []).append(setting)
        self._specs: dict[str, list[BackendSpec[Any, Any]]] = {}
        for spec in [*pm.segmenters.values(), *pm.trackers.values(), *pm.detectors.values()]:
            self._specs.setdefault(spec.name, []).append(spec)
        self._validated: dict[int, BackendOptions] = {}
        names = sorted({*self._specs, REFINE})
        for backend, given in self._by_backend.items():
            if backend == REFINE:
                known = sorted(set(RefineOptions.model_fields) - {"mode"})  # the mode is --refine
                what = "refine"
            elif backend in self._specs:
                known = sorted({f for s in self._specs[backend] for f in s.options_model.model_fields})
                what = f"backend {backend}"
            else:
                raise BackendOptionError(f"{given[0]}: no backend {backend!r} (backends: {', '.join(names)})")
            for setting in given:
                if setting.option not in known:
                    raise BackendOptionError(f"{setting}: {what} has no option {setting.option!r} "
                                             f"(options: {', '.join(known) or 'none'})")
        for backend, specs in self._specs.items():  # values are checked even for backends not chosen
            if backend in self._by_backend:
                for spec in specs:
                    self.of(spec)

    def _validate(self, backend: str, model: type[BackendOptions], **fixed: Any) -> Any:
        given = [s for s in self._by_backend.get(backend, []) if s.option in model.model_fields]
        values = {s.option: s.value for s in given}  # a later setting wins
        try:
            return model(**values, **fixed)
        except ValidationError as exc:
            err = exc.errors()[0]
            context_error = (err.get("ctx") or {}).get("error")
            message = str(context_error) if err.get("type") == "value_error" and context_error else err["msg"]
            loc = [str(p) for p in err.get("loc", ())]
            blamed = [s for s in given if loc and s.option == loc[0]][-1:] or given
            flags = " ".join(str(s) for s in blamed) or backend
            where = f"{loc[0]}: " if loc else ""
            raise BackendOptionError(f"{flags}: {where}{message}") from exc

    def of(self, spec: BackendSpec[Any, Any]) -> BackendOptions:
        """``spec``'s options: its model validated from the settings for its name (defaults otherwise)."""
        key = id(spec)
        if key not in self._validated:
            self._validated[key] = self._validate(spec.name, spec.options_model)
        return self._validated[key]

    def refine(self, mode: str) -> RefineOptions:
        """The refinement options: ``mode`` from ``--refine``, thresholds from ``refine.*`` settings."""
        return self._validate(REFINE, RefineOptions, mode=mode)


def _select(kind: str, specs: dict[str, Any], name: str, context: BackendContext,
            options: _Options) -> tuple[Any, str | None]:
    """Pick a backend spec by name, or the best available for ``auto``.

    Returns the spec and, when ``auto`` fell back to a classical backend, why.
    """
    if name != "auto":
        spec = specs.get(name)
        if spec is None:
            raise BackendUnavailable(f"unknown {kind} {name!r} (available: {', '.join(sorted(specs))})")
        reason = spec.unavailable(context, options.of(spec))
        if reason:
            hint = MODEL_HINTS.get(kind, "")
            raise BackendUnavailable(f"{kind} {name!r} cannot run: {reason}; get it with `{hint}` or pass a checkpoint")
        return spec, None
    ranked = sorted(specs.values(), key=lambda s: (s.kind == "model", s.priority), reverse=True)
    skipped: list[str] = []
    for spec in ranked:
        reason = spec.unavailable(context, options.of(spec))
        if reason is None:
            fallback = None
            if spec.kind == "classic":
                fallback = "; ".join(skipped) if skipped else f"no model-based {kind} installed"
            return spec, fallback
        skipped.append(f"{spec.name}: {reason}")
    raise BackendUnavailable(f"no {kind} can run here ({'; '.join(skipped)})")
