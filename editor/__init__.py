"""trackedit: edit videos around objects picked with a few clicks.

Plugin authors need only::

    from editor import hookimpl

and the types they receive (``editor.api.stages``, ``editor.api.frames``).
"""
from __future__ import annotations

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "trackedit"
"""pluggy project name and entry-point group of plugins."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Decorator marking a plugin's hook implementations."""

__all__ = ["hookimpl", "__version__", "PROJECT_NAME"]
