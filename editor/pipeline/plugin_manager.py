"""A typed facade over pluggy: loads plugins, collects what they register.

Built-in stages and backends are ordinary plugins in the ``trackedit`` entry-point
group of this distribution; third-party plugins use the same group. Set
``TRACKEDIT_DISABLE_PLUGINS=1`` (or pass ``external=False``) to load only the built-in
ones, or ``TRACKEDIT_PLUGINS=name1,name2`` to load only those external plugins.
"""
from __future__ import annotations

import importlib
import importlib.metadata as md
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar

import pluggy

from editor import PROJECT_NAME
from editor.api import hookspecs
from editor.api.backends import SegmenterSpec, SinkSpec, TrackerSpec
from editor.api.errors import PluginError
from editor.api.stages import StageSpec

log = logging.getLogger(__name__)

#: Built-in plugins (entry-point name → module). Mirrors pyproject's entry points so a
#: source checkout without installed metadata still works.
BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("video", "editor.video.plugin"),  # essential: the encoder sink
    ("classic", "trackedit_plugins.classic_backends"),
    ("redact", "trackedit_plugins.redact"),
    ("overlay", "trackedit_plugins.overlay"),
    ("png_sequence", "trackedit_plugins.png_sequence"),
    ("export_masks", "trackedit_plugins.export_masks"),
    ("background", "trackedit_plugins.background"),
    ("remove", "trackedit_plugins.remove"),
    ("xmem", "trackedit_plugins.xmem_backend"),
    ("sam", "trackedit_plugins.sam_segmenter"),
)
DISTRIBUTION = "trackedit"

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


class PluginManager:
    """Load plugins and give typed access to what they registered."""

    def __init__(self, *, external: bool | None = None, only: Iterable[str] | None = None,
                 builtins: bool = True) -> None:
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
        self._owners: dict[str, str] = {}
        if builtins:
            self._load_builtins()
        if external:
            self._load_external()

    # -- loading -------------------------------------------------------------------
    def _load_builtins(self) -> None:
        for name, module in BUILTIN_PLUGINS:
            try:
                mod = importlib.import_module(module)
            except Exception as exc:  # a broken built-in is a bug: fail loudly, by name
                raise PluginError(f"built-in plugin {name!r} ({module}) failed to import: {exc}") from exc
            self.register(mod, name, origin="builtin")

    def _load_external(self) -> None:
        for ep in md.entry_points(group=PROJECT_NAME):
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else "?"
            if dist_name and dist_name.lower() == DISTRIBUTION:
                continue  # built-ins were loaded above
            if self._only is not None and ep.name not in self._only:
                continue
            origin = f"{dist_name} {dist.version}" if dist is not None else "entry point"
            try:
                plugin = ep.load()
                self.register(plugin, ep.name, origin=origin)
            except Exception as exc:  # noqa: BLE001 - report by name, keep going
                message = " ".join(str(exc).split()) or type(exc).__name__
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
        self._pm.unregister(name=name)
        self.infos.pop(name, None)
        self._invalidate()

    def _invalidate(self) -> None:
        self._stages = self._segmenters = self._trackers = None
        self._sinks = None

    # -- registries ------------------------------------------------------------------
    def _collect(self, hook_name: str, kind: str) -> list[tuple[str, Any]]:
        """Call a registration hook plugin by plugin, so failures name the plugin."""
        hook = getattr(self._pm.hook, hook_name)
        found: list[tuple[str, Any]] = []
        for impl in hook.get_hookimpls():  # registration order
            plugin_name = impl.plugin_name
            items: list[Any] = []
            try:
                impl.function(register=items.append)
            except Exception as exc:  # noqa: BLE001
                raise PluginError(f"plugin {plugin_name!r} failed while registering {kind}: {exc}") from exc
            found.extend((plugin_name, item) for item in items)
        return found

    def _named(self, hook_name: str, kind: str, cls: type[T]) -> dict[str, T]:
        out: dict[str, T] = {}
        for plugin_name, spec in self._collect(hook_name, kind):
            if not isinstance(spec, cls):
                raise PluginError(f"plugin {plugin_name!r} registered a {type(spec).__name__} "
                                  f"as {kind}; expected {cls.__name__}")
            key = f"{kind}:{spec.name}"  # type: ignore[attr-defined]
            if spec.name in out:  # type: ignore[attr-defined]
                raise PluginError(f"{kind[:-1]} {spec.name!r} is registered by both "  # type: ignore[attr-defined]
                                  f"{self._owners[key]!r} and {plugin_name!r}")
            self._owners[key] = plugin_name
            out[spec.name] = spec  # type: ignore[attr-defined]
        return out

    def owner(self, kind: str, name: str) -> str | None:
        """Plugin that registered ``name`` of ``kind`` (``stages``, ``segmenters``…)."""
        return self._owners.get(f"{kind}:{name}")

    @property
    def stages(self) -> dict[str, StageSpec]:
        if self._stages is None:
            self._stages = self._named("editor_register_stages", "stages", StageSpec)
        return self._stages

    @property
    def segmenters(self) -> dict[str, SegmenterSpec]:
        if self._segmenters is None:
            self._segmenters = self._named("editor_register_segmenters", "segmenters", SegmenterSpec)
        return self._segmenters

    @property
    def trackers(self) -> dict[str, TrackerSpec]:
        if self._trackers is None:
            self._trackers = self._named("editor_register_trackers", "trackers", TrackerSpec)
        return self._trackers

    @property
    def sinks(self) -> list[SinkSpec]:
        """Sinks in lookup order: registration order, fallback sinks (the encoder) last."""
        if self._sinks is None:
            named = list(self._named("editor_register_sinks", "sinks", SinkSpec).values())
            self._sinks = [s for s in named if not s.fallback] + [s for s in named if s.fallback]
        return self._sinks

    # -- events ----------------------------------------------------------------------
    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call an event hook; an exception is re-raised naming the plugin."""
        hook = getattr(self._pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            try:
                impl.function(**{k: kwargs[k] for k in impl.argnames})
            except Exception as exc:  # noqa: BLE001
                raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook_name}: {exc}") from exc

    def plugin_names(self) -> list[str]:
        return list(self.infos)


def hook_names() -> list[str]:
    """Names of all hooks declared in :mod:`editor.api.hookspecs`."""
    return sorted(n for n in dir(hookspecs) if n.startswith("editor_"))


Register = Callable[[Any], None]
