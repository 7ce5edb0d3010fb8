"""Plugin manager: built-ins declared once as entry points, hooks called through pluggy
(wrappers, tracing), throwaway plugins, failures reported by name, hook docs, inpainters."""
from __future__ import annotations

import importlib.metadata as md
import inspect
import tomllib
from collections import Counter
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from editor import hookimpl
from editor.api import hookspecs
from editor.api.errors import PluginError
from editor.api.frames import Frame, VideoInfo
from editor.api.stages import FrameItem, InpainterSpec, Stage, StageContext, StageOptions, StageSpec
from editor.pipeline.plugin_manager import PluginManager, hook_names
from editor.pipeline.presets import apply_overrides, build_stages, load_preset

REPO = Path(__file__).resolve().parents[1]


def test_every_hook_is_documented_with_arguments_and_return() -> None:
    names = hook_names()
    assert {"editor_register_stages", "editor_register_segmenters", "editor_register_trackers",
            "editor_register_sinks", "editor_register_inpainters", "editor_register_detectors",
            "editor_run_started", "editor_run_finished"} <= set(names)
    for name in names:
        fn = getattr(hookspecs, name)
        doc = inspect.getdoc(fn) or ""
        assert len(doc) > 80, name
        assert "Return value" in doc, name
        assert all(p.annotation is not inspect.Parameter.empty
                   for p in inspect.signature(fn).parameters.values()), name


def _pyproject_entry_points() -> dict[str, str]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["entry-points"]["trackedit"]


class _EntryPoint:
    """An entry point of a given distribution whose loads are counted."""

    def __init__(self, name: str, value: str, dist: str, loads: Counter, load=None) -> None:  # noqa: ANN001
        self.name, self.value, self.group = name, value, "trackedit"
        self.dist = SimpleNamespace(metadata={"Name": dist}, version="0.1")
        self._loads, self._load = loads, load

    def load(self):  # noqa: ANN201
        self._loads[self.name] += 1
        if self._load is not None:
            return self._load()
        import importlib

        return importlib.import_module(self.value)


def _with_entry_points(monkeypatch: pytest.MonkeyPatch, extra: list[_EntryPoint]) -> Counter:
    """Installed ``trackedit`` entry points, each load counted, plus ``extra`` ones."""
    loads: Counter = Counter()
    real = [_EntryPoint(ep.name, ep.value, ep.dist.metadata["Name"], loads)
            for ep in md.entry_points(group="trackedit")]
    monkeypatch.setattr(md, "entry_points", lambda group=None: [*real, *extra])
    return loads


def test_builtins_are_the_distributions_entry_points_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    declared = _pyproject_entry_points()
    loads = _with_entry_points(monkeypatch, [])
    pm = PluginManager(external=False)
    assert {name: info.module for name, info in pm.infos.items()} == declared  # pyproject is the one list
    assert all(info.origin == "builtin" for info in pm.infos.values())
    assert loads == Counter(list(declared))  # each imported once


def test_an_entry_point_of_this_distribution_is_a_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    loads = Counter()
    extra = _EntryPoint("extra_builtin", "extra.builtin", "trackedit", loads,
                        load=lambda: SimpleNamespace(__name__="extra_builtin"))
    _with_entry_points(monkeypatch, [extra])
    pm = PluginManager(external=False)  # built-ins load even with external plugins off
    assert pm.infos["extra_builtin"].origin == "builtin" and loads["extra_builtin"] == 1

    def broken():  # noqa: ANN202
        raise ImportError("No module named 'gone'")

    monkeypatch.setattr(md, "entry_points", lambda group=None: [_EntryPoint("broken", "gone", "trackedit", loads,
                                                                            load=broken)])
    with pytest.raises(PluginError, match="built-in plugin 'broken' \\(gone\\) failed to import: No module named"):
        PluginManager(external=False)


def test_builtins_register_through_hooks(plugin_manager: PluginManager) -> None:
    assert {"blur", "pixelate", "solid", "image", "overlay"} <= set(plugin_manager.stages)
    assert "classic" in plugin_manager.segmenters and "classic" in plugin_manager.trackers
    assert [s.name for s in plugin_manager.sinks][-1] == "video"  # built-in encoder asked last
    assert plugin_manager.owner("stages", "blur") == "redact"
    assert {"faces", "plates"} <= set(plugin_manager.detectors)
    assert plugin_manager.owner("detectors", "faces") == "detectors"
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


def test_external_entry_point_failure_is_reported_not_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken():  # noqa: ANN202
        raise ImportError("No module named 'nonexistent_module_xyz'")

    loads = Counter()
    _with_entry_points(monkeypatch, [_EntryPoint("badplugin", "nonexistent_module_xyz", "bad-dist", loads,
                                                 load=broken)])
    pm = PluginManager(external=True)
    assert pm.infos["badplugin"].error and "nonexistent_module_xyz" in pm.infos["badplugin"].error
    assert pm.infos["badplugin"].origin == "bad-dist 0.1"
    assert "blur" in pm.stages  # built-ins still work
    pm_off = PluginManager(external=False)
    assert "badplugin" not in pm_off.infos
    monkeypatch.setenv("TRACKEDIT_PLUGINS", "someother")
    assert "badplugin" not in PluginManager(external=True).infos  # not selected: not even loaded


def test_event_hooks_are_called_and_failures_named(plugin_manager: PluginManager) -> None:
    seen = []

    class Observer:
        @hookimpl
        def editor_run_started(self, run):  # noqa: ANN001
            seen.append(run)

    plugin_manager.register(Observer(), "observer")
    plugin_manager.run_started("RUN")  # type: ignore[arg-type]
    assert seen == ["RUN"]

    class Failing:
        @hookimpl
        def editor_run_finished(self, run, summary):  # noqa: ANN001
            raise ValueError("nope")

    plugin_manager.register(Failing(), "failing")
    with pytest.raises(PluginError, match="plugin 'failing' failed in editor_run_finished: nope"):
        plugin_manager.run_finished(1, 2)  # type: ignore[arg-type]


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


# -- hooks are called through pluggy -------------------------------------------------------------
def _stage(name: str) -> StageSpec:
    return StageSpec(name, StageOptions, lambda options, context: Stage())


@pytest.mark.parametrize("style", ["wrapper", "hookwrapper"])
def test_wrapper_on_a_registration_hook_wraps_the_others(plugin_manager: PluginManager, style: str) -> None:
    events: list[str] = []

    class Inner:
        @hookimpl
        def editor_register_stages(self, register):  # noqa: ANN001
            events.append("inner")
            register(_stage("inner-stage"))

    if style == "wrapper":
        class Wrapper:
            @hookimpl(wrapper=True)
            def editor_register_stages(self, register):  # noqa: ANN001, ANN202
                events.append("before")
                result = yield
                events.append("after")
                register(_stage("wrapped-stage"))  # registered after every other plugin's
                return result
    else:
        class Wrapper:  # type: ignore[no-redef]
            @hookimpl(hookwrapper=True)
            def editor_register_stages(self, register):  # noqa: ANN001, ANN202
                events.append("before")
                yield
                events.append("after")
                register(_stage("wrapped-stage"))

    plugin_manager.register(Inner(), "inner")
    plugin_manager.register(Wrapper(), "wrapper")
    stages = plugin_manager.stages
    assert events == ["before", "inner", "after"]
    assert list(stages)[-1] == "wrapped-stage"
    assert plugin_manager.owner("stages", "wrapped-stage") == "wrapper"
    assert plugin_manager.owner("stages", "inner-stage") == "inner"
    assert plugin_manager.owner("stages", "blur") == "redact"


def test_wrapper_on_run_started_wraps_and_sees_failures(plugin_manager: PluginManager) -> None:
    events: list[object] = []

    class Outer:
        @hookimpl(wrapper=True)
        def editor_run_started(self, run):  # noqa: ANN001, ANN202
            events.append(("before", run))
            try:
                return (yield)
            except ValueError as exc:
                events.append(("saw", str(exc)))
                raise
            finally:
                events.append("after")

    class Observer:
        fail = False

        @hookimpl
        def editor_run_started(self, run):  # noqa: ANN001
            events.append("inner")
            if self.fail:
                _deep_failure()

    observer = Observer()
    plugin_manager.register(observer, "observer")
    plugin_manager.register(Outer(), "outer")
    plugin_manager.run_started("RUN")  # type: ignore[arg-type]
    assert events == [("before", "RUN"), "inner", "after"]
    events.clear()
    observer.fail = True
    with pytest.raises(PluginError, match="^plugin 'observer' failed in editor_run_started: deep down$"):
        plugin_manager.run_started("RUN")  # type: ignore[arg-type]
    assert events == [("before", "RUN"), "inner", ("saw", "deep\n down"), "after"]  # the wrapper saw it pass


def _deep_failure() -> None:
    raise ValueError("deep\n down")


def test_pluggy_tracing_sees_the_hook_calls(plugin_manager: PluginManager) -> None:
    lines: list[str] = []
    plugin_manager.pluggy.trace.root.setwriter(lines.append)
    undo = plugin_manager.pluggy.enable_tracing()
    try:
        assert "blur" in plugin_manager.stages
        plugin_manager.run_started("RUN")  # type: ignore[arg-type]
    finally:
        undo()
    text = "".join(lines)
    assert "editor_register_stages [hook]" in text and "editor_run_started [hook]" in text, text
    assert "finish editor_run_started -->" in text


def test_failures_and_items_are_attributed_to_the_right_instance(plugin_manager: PluginManager) -> None:
    """One class registered twice: the call stack (code object + ``self``) tells the two apart."""
    class Twin:
        def __init__(self, stage: str, fail: bool) -> None:
            self.stage, self.fail = stage, fail

        @hookimpl
        def editor_register_stages(self, register):  # noqa: ANN001
            if self.fail:
                raise RuntimeError("twin broke")
            register(_stage(self.stage))

    plugin_manager.register(Twin("first-twin", False), "twin-a")
    plugin_manager.register(Twin("second-twin", False), "twin-b")
    _ = plugin_manager.stages
    assert (plugin_manager.owner("stages", "first-twin"), plugin_manager.owner("stages", "second-twin")) == \
        ("twin-a", "twin-b")
    plugin_manager.register(Twin("third-twin", True), "twin-c")
    with pytest.raises(PluginError, match="^plugin 'twin-c' failed while registering stages: twin broke$"):
        _ = plugin_manager.stages


def test_register_outside_the_hook_call_is_refused(plugin_manager: PluginManager) -> None:
    kept = []

    class Hoarder:
        @hookimpl
        def editor_register_stages(self, register):  # noqa: ANN001
            kept.append(register)

    plugin_manager.register(Hoarder(), "hoarder")
    _ = plugin_manager.stages
    with pytest.raises(PluginError, match="called outside a editor_register_stages implementation"):
        kept[0](_stage("late"))


# -- inpainters ----------------------------------------------------------------------------------
def _square_clip(n: int = 4) -> tuple[VideoInfo, list[FrameItem]]:
    video = VideoInfo("s", 64, 48, 0, n, n, Fraction(25), Fraction(1, 25), n / 25, "raw", "rgb24")
    labels = np.zeros((48, 64), np.uint8)
    labels[16:32, 20:40] = 1
    rng = np.random.default_rng(0)
    items = [FrameItem(Frame(i, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8), i, Fraction(1, 25), i / 25),
                       labels.copy()) for i in range(n)]
    return video, items


def test_inpainter_registered_by_a_plugin_is_used_by_remove(registered_plugin) -> None:  # noqa: ANN001
    calls: list[int] = []

    def magenta(context: StageContext):  # noqa: ANN202
        assert context.object_names == {1: "box"}

        def fill(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
            calls.append(int(hole.sum()))
            out = image.copy()
            out[hole] = (255, 0, 255)
            return out
        return fill

    class Magenta:
        @hookimpl
        def editor_register_inpainters(self, register):  # noqa: ANN001
            register(InpainterSpec("magenta", magenta, "paints holes magenta"))

    pm = registered_plugin(Magenta(), "magenta-plugin")
    assert pm.owner("inpainters", "magenta") == "magenta-plugin" and pm.owner("inpainters", "telea") == "remove"
    video, items = _square_clip()
    preset = apply_overrides(load_preset("remove"), ["remove.window=0", "remove.memory=false",
                                                     'remove.inpainter="magenta"', "remove.feather=0", "remove.dilate=0"])
    (stage,) = build_stages(preset, pm, StageContext(video, {1: "box"}))
    out = list(stage.run(iter(items)))
    assert calls == [16 * 20] * len(items)
    assert all((o.frame.image[16:32, 20:40] == (255, 0, 255)).all() for o in out)
    assert all(np.array_equal(o.frame.image[:16], i.frame.image[:16]) for o, i in zip(out, items, strict=True))
    from editor.api.errors import PresetError

    nope = apply_overrides(load_preset("remove"), ['remove.inpainter="nope"'])
    with pytest.raises(PresetError, match="unknown inpainter 'nope' \\(available: magenta, patch, telea\\)"):
        build_stages(nope, pm, StageContext(video, {1: "box"}))


def test_inpainter_name_clash_names_both_plugins(plugin_manager: PluginManager) -> None:
    class Clash:
        @hookimpl
        def editor_register_inpainters(self, register):  # noqa: ANN001
            register(InpainterSpec("telea", lambda context: None))

    plugin_manager.register(Clash(), "clash")
    with pytest.raises(PluginError, match="inpainter 'telea' is registered by both 'remove' and 'clash'"):
        _ = plugin_manager.inpainters


def test_a_plugin_name_nothing_installed_has_is_warned_about(monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("TRACKEDIT_PLUGINS", "nosuch")
    monkeypatch.delenv("TRACKEDIT_DISABLE_PLUGINS", raising=False)
    with caplog.at_level("WARNING"):
        pm = PluginManager(external=True)
    assert "blur" in pm.stages  # the built-ins still load
    lines = [r.getMessage() for r in caplog.records if "TRACKEDIT_PLUGINS" in r.getMessage()]
    assert len(lines) == 1 and "'nosuch'" in lines[0], lines
