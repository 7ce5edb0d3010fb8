"""pytest fixtures for plugin authors (and trackedit's own tests).

Use them from your plugin's ``conftest.py``::

    from editor.testing import plugin_manager, registered_plugin  # noqa: F401

* ``plugin_manager`` — a fresh :class:`~editor.pipeline.plugin_manager.PluginManager` with the
  built-in plugins only (no other installed plugins interfere).
* ``registered_plugin`` — a function ``registered_plugin(obj, name)`` that registers a
  throwaway plugin object/module on that manager and unregisters it after the test.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from editor.pipeline.plugin_manager import PluginManager


@pytest.fixture
def plugin_manager() -> PluginManager:
    return PluginManager(external=False)


@pytest.fixture
def registered_plugin(plugin_manager: PluginManager) -> Iterator[Callable[[Any, str], PluginManager]]:
    names: list[str] = []

    def register(plugin: Any, name: str = "throwaway") -> PluginManager:
        plugin_manager.register(plugin, name)
        names.append(name)
        return plugin_manager

    yield register
    for name in names:
        if name in plugin_manager.infos:
            plugin_manager.unregister(name)
