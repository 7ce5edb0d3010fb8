"""Exceptions shown to users as one line (``trackedit: error: <file>: <problem>``)."""
from __future__ import annotations

from pathlib import Path

from editor.api.names import printable


class TrackeditError(Exception):
    """An error the user can act on. ``str()`` is a single line.

    ``source`` names the file (or preset, plugin, …) the problem is in. Control characters
    in either (a file name carrying terminal escape sequences) are shown escaped.
    """

    def __init__(self, message: str, source: str | Path | None = None) -> None:
        self.message = printable(" ".join(str(message).split()))  # one line, always
        self.source = printable(source) if source is not None else None
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return f"{self.source}: {self.message}" if self.source else self.message


class InputError(TrackeditError):
    """The input video cannot be read (missing, empty, truncated, not a video…)."""


class OutputError(TrackeditError):
    """The output cannot be written (exists, same as input, codec unsupported…)."""


class PromptError(TrackeditError):
    """The prompts file is invalid."""


class PresetError(TrackeditError):
    """A preset or a ``--set`` override is invalid."""


class PluginError(TrackeditError):
    """A plugin failed to load or misbehaved; the message names the plugin."""


class BackendUnavailable(TrackeditError):
    """A requested segmenter/tracker backend cannot run here (missing weights or packages)."""


class BackendOptionError(TrackeditError):
    """A backend option (``--backend-set NAME.OPTION=VALUE``) names no backend or option, or
    has an invalid value; the message quotes the flag."""


class Interrupted(BaseException):
    """A stop signal (SIGINT, SIGTERM, SIGHUP) turned into an exception by the CLI, so that
    every ``finally`` and context manager on the way out removes partial outputs and
    scratch folders. A ``BaseException``, like ``KeyboardInterrupt``: ``except Exception``
    does not swallow it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
