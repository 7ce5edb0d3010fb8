"""A typed facade over pluggy: loads plugins, calls their hooks, collects what they register.

Built-in stages and backends are ordinary plugins, declared once: as the ``trackedit``
entry points of the ``trackedit`` distribution (pyproject.toml). Third-party plugins use
the same entry-point group. Set ``TRACKEDIT_DISABLE_PLUGINS=1`` (or pass
``external=False``) to load only the built-in ones, or ``TRACKEDIT_PLUGINS=name1,name2``
to load only those external plugins.

Hooks are called through ``pluggy`` (``pm.hook.editor_register_stages(register=...)``), so
hook wrappers, ``tryfirst``/``trylast`` and tracing (:attr:`PluginManager.pluggy`) behave
as pluggy documents. Which plugin registered an item, or raised an exception, is read from
the call stack: the code objects of the hook's implementations map to plugin names.
"""
from __future__ import annotations

import importlib.metadata as md
import inspect
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import CodeType, FrameType, ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import pluggy

from editor import PROJECT_NAME
from editor.api import hookspecs
from editor.api.backends import SegmenterSpec, SinkSpec, TrackerSpec
from editor.api.detectors import DetectorSpec
from editor.api.errors import PluginError
from editor.api.stages import InpainterSpec, StageSpec

if TYPE_CHECKING:
    from pluggy import HookCaller, HookImpl

    from editor.api.run import RunInfo, RunSummary

log = logging.getLogger(__name__)

DISTRIBUTION = "trackedit"
"""The distribution whose ``trackedit`` entry points are the built-in plugins."""

T = TypeVar("T")


@dataclass
class PluginInfo:
    """What ``trackedit plugins`` shows for one plugin."""

    name: str
    module: str
    origin: str
    """``builtin`` or the distribution name and version providing it."""
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


def _distribution(ep: md.EntryPoint) -> tuple[str | None, str]:
    """(normalised distribution name or ``None``, ``"name version"``) of an entry point."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, "entry point"
    name = dist.metadata["Name"] or "?"
    return name.lower().replace("_", "-"), f"{name} {dist.version}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _Owners:
    """Which plugin a running hook implementation belongs to, from its code object."""

    def __init__(self, hook: HookCaller) -> None:
        self._impls: dict[CodeType, list[HookImpl]] = {}
        for impl in hook.get_hookimpls():
            fn = impl.function
            for f in {fn, inspect.unwrap(fn)}:  # a decorated impl: the wrapper's and the wrapped code
                code = getattr(getattr(f, "__func__", f), "__code__", None)
                if code is not None:
                    self._impls.setdefault(code, []).append(impl)

    def of_frame(self, frame: FrameType) -> str | None:
        """The plugin whose hook implementation ``frame`` runs, or ``None``."""
        impls = self._impls.get(frame.f_code)
        if not impls:
            return None
        if len(impls) > 1:  # one class's method registered for two plugin objects
            me = frame.f_locals.get("self")
            impls = [i for i in impls if getattr(i.function, "__self__", None) is me] or impls
        return impls[0].plugin_name

    def caller(self, frame: FrameType | None) -> str | None:
        """The innermost hook implementation on the stack from ``frame`` outwards."""
        while frame is not None:
            name = self.of_frame(frame)
            if name is not None:
                return name
            frame = frame.f_back
        return None

    def raiser(self, tb: TracebackType | None) -> str | None:
        """The innermost hook implementation in a traceback (where an exception came from)."""
        found = None
        while tb is not None:
            found = self.of_frame(tb.tb_frame) or found
            tb = tb.tb_next
        return found


class PluginManager:
    """Load plugins and give typed access to what they registered.

    ``external``: also load third-party plugins (default: unless
    ``TRACKEDIT_DISABLE_PLUGINS`` is set); ``only``: load only these external plugins
    (default: ``TRACKEDIT_PLUGINS``, comma-separated; all when unset). The built-in
    plugins are always loaded; one that fails to import raises :class:`PluginError`.
    """

    def __init__(self, *, external: bool | None = None, only: Iterable[str] | None = None) -> None:
        self._pm = pluggy.PluginManager(PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        if external is None:
            external = os.environ.get("TRACKEDIT_DISABLE_PLUGINS", "") not in ("1", "true", "yes")
        if only is None and os.environ.get("TRACKEDIT_PLUGINS"):
            only = [n.strip() for n in os.environ["TRACKEDIT_PLUGINS"].split(",") if n.strip()]
        self._only = set(only) if only is not None else None
        self._stages: dict[str, StageSpec] | None = None
        self._segmenters: dict[str, SegmenterSpec] | None = None
        self._trackers: dict[str, TrackerSpec] | None = None
        self._sinks: list[SinkSpec] | None = None
        self._inpainters: dict[str, InpainterSpec] | None = None
        self._detectors: dict[str, DetectorSpec] | None = None
        self._owners: dict[str, str] = {}
        self._load(external)

    @property
    def pluggy(self) -> pluggy.PluginManager:
        """The underlying pluggy manager, e.g. for tracing: ``pm.pluggy.trace.root.setwriter(print)``
        then ``pm.pluggy.enable_tracing()``, or ``pm.pluggy.add_hookcall_monitoring(...)``."""
        return self._pm

    # -- loading -------------------------------------------------------------------
    def _load(self, external: bool) -> None:
        """Register the built-ins (entry points of this distribution), then external plugins."""
        builtin, other = [], []
        for ep in md.entry_points(group=PROJECT_NAME):
            (builtin if _distribution(ep)[0] == DISTRIBUTION else other).append(ep)
        if not builtin:
            raise PluginError(f"the built-in plugins are not installed: no {PROJECT_NAME!r} entry points of the "
                              f"{DISTRIBUTION!r} distribution (install trackedit: pip install -e .)")
        for ep in builtin:  # a broken built-in is a bug: fail loudly, by name
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(f"built-in plugin {ep.name!r} ({ep.value}) failed to import: "
                                  f"{_one_line(exc)}") from exc
            self.register(plugin, ep.name, origin="builtin")
        if not external:
            return
        if self._only is not None:  # a name in TRACKEDIT_PLUGINS that nothing installed has: said, not silent
            missing = sorted(self._only - {ep.name for ep in other})
            if missing:
                log.warning("TRACKEDIT_PLUGINS names %s, but no installed plugin has %s (installed: %s)",
                            ", ".join(map(repr, missing)), "that name" if len(missing) == 1 else "those names",
                            ", ".join(sorted({ep.name for ep in other})) or "none besides the built-ins")
        for ep in other:
            if self._only is not None and ep.name not in self._only:
                continue
            origin = _distribution(ep)[1]
            try:
                self.register(ep.load(), ep.name, origin=origin)
            except Exception as exc:  # noqa: BLE001 - report by name, keep going
                message = _one_line(exc)
                log.warning("plugin %r (%s) failed to load and is skipped: %s", ep.name, origin, message)
                self.infos[ep.name] = PluginInfo(ep.name, ep.value, origin, error=message)

    def register(self, plugin: ModuleType | object, name: str, *, origin: str = "runtime") -> None:
        """Register a plugin object or module (tests use this for throwaway plugins)."""
        if self._pm.has_plugin(name):
            raise PluginError(f"a plugin named {name!r} is already registered")
        try:
            self._pm.register(plugin, name=name)
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self._pm.has_plugin(name):
                self._pm.unregister(name=name)
            raise PluginError(f"plugin {name!r}: {exc}") from exc
        hooks = sorted(h.name for h in self._pm.get_hookcallers(plugin) or [])
        module = getattr(plugin, "__name__", type(plugin).__name__)
        self.infos[name] = PluginInfo(name, module, origin, hooks)
        self._invalidate()

    def unregister(self, name: str) -> None:
        """Remove a plugin registered under ``name``; what it registered is forgotten."""
        self._pm.unregister(name=name)
        self.infos.pop(name, None)
        self._invalidate()

    def _invalidate(self) -> None:
        self._stages = self._segmenters = self._trackers = None
        self._sinks = None
        self._inpainters = None
        self._detectors = None

    # -- calling hooks ---------------------------------------------------------------
    def _call(self, hook: HookCaller, doing: str, owners: _Owners | None = None, **kwargs: Any) -> Any:
        """``hook(**kwargs)`` through pluggy; an exception from a plugin becomes a one-line
        :class:`PluginError` naming it (``plugin 'x' failed <doing>: <message>``)."""
        owners = owners or _Owners(hook)
        try:
            return hook(**kwargs)
        except PluginError:
            raise
        except Exception as exc:  # noqa: BLE001 - name the plugin
            name = owners.raiser(exc.__traceback__)
            who = f"plugin {name!r}" if name else "a plugin"
            raise PluginError(f"{who} failed {doing}: {_one_line(exc)}") from exc

    def _collect(self, hook: HookCaller, kind: str) -> list[tuple[str, Any]]:
        """Call a registration hook; returns (plugin name, item) for each ``register(item)``."""
        owners = _Owners(hook)
        found: list[tuple[str, Any]] = []
        open_ = True

        def register(item: Any) -> None:
            name = owners.caller(sys._getframe(1)) if open_ else None
            if name is None:
                raise PluginError(f"register({type(item).__name__}) for {kind} was called outside a "
                                  f"{hook.name} implementation")
            found.append((name, item))

        self._call(hook, f"while registering {kind}", owners, register=register)
        open_ = False
        return found

    def _named(self, hook: HookCaller, kind: str, cls: type[T]) -> dict[str, T]:
        out: dict[str, T] = {}
        for plugin_name, spec in self._collect(hook, kind):
            if not isinstance(spec, cls):
                raise PluginError(f"plugin {plugin_name!r} registered a {type(spec).__name__} "
                                  f"as {kind}; expected {cls.__name__}")
            key = f"{kind}:{spec.name}"  # type: ignore[attr-defined]
            if spec.name in out:  # type: ignore[attr-defined]
                first, second = sorted((self._owners[key], plugin_name), key=list(self.infos).index)
                raise PluginError(f"{kind[:-1]} {spec.name!r} is registered by both "  # type: ignore[attr-defined]
                                  f"{first!r} and {second!r}")
            self._owners[key] = plugin_name
            out[spec.name] = spec  # type: ignore[attr-defined]
        return out

    def owner(self, kind: Literal["stages", "segmenters", "trackers", "sinks", "inpainters", "detectors"],
              name: str) -> str | None:
        """Plugin that registered ``name`` of ``kind``, or ``None`` when nothing of that name was."""
        getattr(self, kind)  # collect that registry first
        return self._owners.get(f"{kind}:{name}")

    # -- registries ------------------------------------------------------------------
    @property
    def stages(self) -> dict[str, StageSpec]:
        """Edit stages by name (``editor_register_stages``)."""
        if self._stages is None:
            self._stages = self._named(self._pm.hook.editor_register_stages, "stages", StageSpec)
        return self._stages

    @property
    def segmenters(self) -> dict[str, SegmenterSpec]:
        """Segmenter backends by name (``editor_register_segmenters``)."""
        if self._segmenters is None:
            self._segmenters = self._named(self._pm.hook.editor_register_segmenters, "segmenters", SegmenterSpec)
        return self._segmenters

    @property
    def trackers(self) -> dict[str, TrackerSpec]:
        """Tracker backends by name (``editor_register_trackers``)."""
        if self._trackers is None:
            self._trackers = self._named(self._pm.hook.editor_register_trackers, "trackers", TrackerSpec)
        return self._trackers

    @property
    def sinks(self) -> list[SinkSpec]:
        """Sinks in lookup order: the order pluggy calls ``editor_register_sinks`` (the plugin
        registered last first), fallback sinks (the encoder) last."""
        if self._sinks is None:
            named = list(self._named(self._pm.hook.editor_register_sinks, "sinks", SinkSpec).values())
            self._sinks = [s for s in named if not s.fallback] + [s for s in named if s.fallback]
        return self._sinks

    @property
    def inpainters(self) -> dict[str, InpainterSpec]:
        """Spatial inpainters of the ``remove`` stage by name (``editor_register_inpainters``)."""
        if self._inpainters is None:
            self._inpainters = self._named(self._pm.hook.editor_register_inpainters, "inpainters", InpainterSpec)
        return self._inpainters

    @property
    def detectors(self) -> dict[str, DetectorSpec]:
        """Detectors by name (``editor_register_detectors``)."""
        if self._detectors is None:
            self._detectors = self._named(self._pm.hook.editor_register_detectors, "detectors", DetectorSpec)
        return self._detectors

    # -- events ----------------------------------------------------------------------
    def run_started(self, run: RunInfo) -> None:
        """Call ``editor_run_started(run)``; a plugin's exception becomes a :class:`PluginError` naming it."""
        hook = self._pm.hook.editor_run_started
        self._call(hook, f"in {hook.name}", run=run)

    def run_finished(self, run: RunInfo, summary: RunSummary) -> None:
        """Call ``editor_run_finished(run, summary)``; a plugin's exception becomes a :class:`PluginError`."""
        hook = self._pm.hook.editor_run_finished
        self._call(hook, f"in {hook.name}", run=run, summary=summary)


def hook_names() -> list[str]:
    """Names of all hooks declared in :mod:`editor.api.hookspecs`."""
    return sorted(n for n in dir(hookspecs) if n.startswith("editor_"))
