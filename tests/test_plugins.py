"""Plugin manager: built-ins as plugins, throwaway plugins, failures reported by name, hook docs."""
from __future__ import annotations

import inspect
import tomllib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from editor import hookimpl
from editor.api import hookspecs
from editor.api.errors import PluginError
from editor.pipeline.plugin_manager import BUILTIN_PLUGINS, PluginManager, hook_names
from editor.api.stages import FrameItem, Stage, StageOptions, StageSpec

REPO = Path(__file__).resolve().parents[1]


def test_every_hook_is_documented_with_arguments_and_return() -> None:
    names = hook_names()
    assert {"editor_register_stages", "editor_register_segmenters", "editor_register_trackers",
            "editor_register_sinks", "editor_run_started", "editor_run_finished"} <= set(names)
    for name in names:
        fn = getattr(hookspecs, name)
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 80, name
        assert "Return value" in doc, name
        assert all(p.annotation is not inspect.Parameter.empty
                   for p in inspect.signature(fn).parameters.values()), name


def test_builtin_plugins_match_pyproject_entry_points() -> None:
    eps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["trackedit"]
    assert dict(BUILTIN_PLUGINS) == eps


def test_builtins_register_through_hooks(plugin_manager: PluginManager) -> None:
    assert {"blur", "pixelate", "solid", "image", "overlay"} <= set(plugin_manager.stages)
    assert "classic" in plugin_manager.segmenters and "classic" in plugin_manager.trackers
    assert [s.name for s in plugin_manager.sinks][-1] == "video"  # built-in encoder asked last
    assert plugin_manager.owner("stages", "blur") == "redact"
    assert all(i.origin == "builtin" for i in plugin_manager.infos.values())


class _InvertOptions(StageOptions):
    amount: int = 255


class _Invert(Stage):
    def __init__(self, options: _InvertOptions, context) -> None:  # noqa: ANN001
        self.amount = options.amount

    def process(self, item: FrameItem) -> FrameItem:
        return FrameItem(item.frame.replace(self.amount - item.frame.image), item.labels)


class _ThrowawayPlugin:
    @hookimpl
    def editor_register_stages(self, register):  # noqa: ANN001
        register(StageSpec("invert", _InvertOptions, _Invert, "invert colours"))


def test_throwaway_plugin_registers_a_stage(registered_plugin) -> None:  # noqa: ANN001
    pm = registered_plugin(_ThrowawayPlugin(), "throwaway")
    assert "invert" in pm.stages
    assert pm.owner("stages", "invert") == "throwaway"
    assert pm.infos["throwaway"].hooks == ["editor_register_stages"]


def test_misspelled_hook_fails_loudly(plugin_manager: PluginManager) -> None:
    class Typo:
        @hookimpl
        def editor_register_stagez(self, register):  # noqa: ANN001
            pass

    with pytest.raises(PluginError, match="plugin 'typo'"):
        plugin_manager.register(Typo(), "typo")
    assert "typo" not in plugin_manager.infos


def test_plugin_raising_is_named(plugin_manager: PluginManager) -> None:
    class Broken:
        @hookimpl
        def editor_register_stages(self, register):  # noqa: ANN001
            raise RuntimeError("boom")

    plugin_manager.register(Broken(), "broken")
    with pytest.raises(PluginError, match="plugin 'broken' failed while registering stages: boom"):
        _ = plugin_manager.stages


def test_duplicate_stage_names_name_both_plugins(plugin_manager: PluginManager) -> None:
    class Clash:
        @hookimpl
        def editor_register_stages(self, register):  # noqa: ANN001
            register(StageSpec("blur", StageOptions, lambda o, c: Stage()))

    plugin_manager.register(Clash(), "clash")
    with pytest.raises(PluginError, match="'blur' is registered by both 'redact' and 'clash'"):
        _ = plugin_manager.stages


def test_wrong_spec_type_is_rejected(plugin_manager: PluginManager) -> None:
    class Wrong:
        @hookimpl
        def editor_register_stages(self, register):  # noqa: ANN001
            register({"name": "dict-stage"})

    plugin_manager.register(Wrong(), "wrong")
    with pytest.raises(PluginError, match="plugin 'wrong' registered a dict"):
        _ = plugin_manager.stages


def test_external_entry_point_failure_is_reported_not_fatal(monkeypatch) -> None:  # noqa: ANN001
    import importlib.metadata as md

    class EP:
        name, value, group = "badplugin", "nonexistent_module_xyz", "trackedit"
        dist = SimpleNamespace(metadata={"Name": "bad-dist"}, version="0.1")

        def load(self):  # noqa: ANN201
            raise ImportError("No module named 'nonexistent_module_xyz'")

    monkeypatch.setattr(md, "entry_points", lambda group=None: [EP()])
    pm = PluginManager(external=True)
    assert pm.infos["badplugin"].error and "nonexistent_module_xyz" in pm.infos["badplugin"].error
    assert "blur" in pm.stages  # built-ins still work
    pm_off = PluginManager(external=False)
    assert "badplugin" not in pm_off.infos


def test_event_hooks_are_called_and_failures_named(plugin_manager: PluginManager) -> None:
    seen = []

    class Observer:
        @hookimpl
        def editor_run_started(self, run):  # noqa: ANN001
            seen.append(run)

    plugin_manager.register(Observer(), "observer")
    plugin_manager.notify("editor_run_started", run="RUN")
    assert seen == ["RUN"]

    class Failing:
        @hookimpl
        def editor_run_finished(self, run, summary):  # noqa: ANN001
            raise ValueError("nope")

    plugin_manager.register(Failing(), "failing")
    with pytest.raises(PluginError, match="plugin 'failing' failed in editor_run_finished: nope"):
        plugin_manager.notify("editor_run_finished", run=1, summary=2)


def test_window_stage_buffering_is_bounded() -> None:
    """A stage asking for (2, 3) neighbours sees correct windows and holds ≤ 6 items."""
    from fractions import Fraction

    from editor.api.stages import FrameWindow
    from editor.api.frames import Frame

    seen: list[tuple[int, list[int]]] = []
    live = {"max": 0}

    class Win(Stage):
        window = (2, 3)

        def process_window(self, window: FrameWindow) -> FrameItem:
            seen.append((window.current.index, [i.index for i in window.items]))
            live["max"] = max(live["max"], len(window.items))
            return window.current

    def items():  # noqa: ANN202
        for i in range(10):
            yield FrameItem(Frame(i, np.zeros((2, 2, 3), np.uint8), i, Fraction(1, 25), i / 25),
                            np.zeros((2, 2), np.uint8))

    out = [it.index for it in Win().run(items())]
    assert out == list(range(10))
    assert seen[0] == (0, [0, 1, 2, 3])
    assert seen[5] == (5, [3, 4, 5, 6, 7, 8])
    assert seen[9] == (9, [7, 8, 9])
    assert live["max"] == 6
