"""A stage run around another: the base of the pipeline's stage wrappers
(:class:`~editor.pipeline.depth.EightBitStage`, :class:`~editor.pipeline.stage_guard.GuardedStage`)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from editor.api.stages import Stage


class WrappedStage(Stage):
    """``stage`` run through this one: its ``window``, and every attribute not defined here,
    are the wrapped stage's; :meth:`finish` and :meth:`close` are passed on (with what
    ``finish`` returns: the side outputs it committed)."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.window = stage.window

    def __getattr__(self, name: str) -> object:  # only called for names not found here
        if name == "stage":
            raise AttributeError(name)
        return getattr(self.stage, name)

    def finish(self) -> Sequence[Path] | None:
        return self.stage.finish()

    def close(self) -> None:
        self.stage.close()
