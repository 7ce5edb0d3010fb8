"""Stages as the pipeline runs them: each one's failures named, its frames checked.

A stage is a plugin's code (the built-in ones too). :class:`GuardedStage` wraps every stage
:func:`editor.pipeline.presets.build_stages` makes, so that

* an exception the stage raises while editing, committing (:meth:`~editor.api.stages.Stage.finish`)
  or closing becomes one :class:`~editor.api.errors.PluginError` line naming the preset's
  stage, the plugin that registered it and the frame it was editing — not an "internal
  error"; an exception that only passed through it (the decoder's, an earlier stage's) is
  left as it is, and :class:`~editor.api.errors.TrackeditError` lines a stage raises for its
  user (a missing file, a bad option), a refused file (``OSError``) and ``MemoryError`` are
  kept as they are;
* every frame a stage returns has the size, colour channels and dtype of the frame it was
  given (the writer encodes every frame at the video's size: a stage returning a frame 2 px
  smaller made a smaller video with exit 0 — a new user's plugin); otherwise a
  :class:`PluginError` says what it returned.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from editor.api.errors import PluginError, TrackeditError
from editor.api.stages import FrameItem, FrameWindow, Stage
from editor.pipeline.wrapped import WrappedStage


_AS_THEY_ARE = (TrackeditError, OSError, MemoryError)
"""Errors a stage's own line would hide: one the user can act on as it says (a missing file,
a bad option), a file the system refused (a full or read-only folder: the command line names
the file and the folder), memory running out."""


class GuardedStage(WrappedStage):
    """``stage`` (as built, maybe an :class:`~editor.pipeline.depth.EightBitStage`) run with
    the checks of the module docstring. ``label``: how a line names it, e.g. ``stage 'blur'
    (plugin 'trackedit-builtins')``. Attributes not defined here are the wrapped stage's."""

    def __init__(self, stage: Stage, label: str) -> None:
        super().__init__(stage)
        self.label = label

    def process(self, item: FrameItem) -> FrameItem:
        return self._checked(item, self._call(lambda: self.stage.process(item), item.index))

    def process_window(self, window: FrameWindow) -> FrameItem:
        current = window.current
        return self._checked(current, self._call(lambda: self.stage.process_window(window), current.index))

    def run(self, items: Iterator[FrameItem]) -> Iterator[FrameItem]:
        given: dict[int, FrameItem] = {}  # index → the item handed to the stage, until it comes back
        passed: set[int] = set()  # ids of what the items upstream raised through the stage
        last: list[int] = []

        def feed() -> Iterator[FrameItem]:
            try:
                for item in items:
                    given[item.index] = item
                    last[:] = [item.index]
                    yield item
            except Exception as exc:
                passed.add(id(exc))  # the id only: the exception's traceback holds this frame
                raise
            finally:  # closed (a stop, a failure downstream): the items upstream stop now, not at GC
                close = getattr(items, "close", None)
                if close is not None:
                    close()

        source = feed()
        out = self.stage.run(source)
        try:
            while True:
                try:
                    item = next(out)
                except StopIteration:
                    return
                except _AS_THEY_ARE:
                    raise
                except Exception as exc:  # noqa: BLE001 - a plugin's code: name it
                    if id(exc) in passed:
                        raise
                    at = min(given) if given else (last[0] if last else None)  # the frame it was on
                    raise self._failed(exc, at) from exc
                original = given.pop(item.index, None)
                for old in [k for k in given if k < item.index]:  # a stage that dropped frames
                    del given[old]
                yield self._checked(original, item) if original is not None else item
        finally:  # the stage's generator, then what it was fed (and so the threads upstream) stop now,
            # also when the stage raised: its exception's traceback would keep them running to the exit
            close = getattr(out, "close", None)
            if close is not None:
                close()
            source.close()

    def finish(self) -> Sequence[Path] | None:
        return self._call(self.stage.finish, None, "committing its outputs")

    def close(self) -> None:
        self._call(self.stage.close, None, "closing")

    # -- the checks --------------------------------------------------------------------------
    def _call(self, fn, index: int | None, doing: str = ""):  # noqa: ANN001, ANN202
        try:
            return fn()
        except _AS_THEY_ARE:
            raise
        except Exception as exc:  # noqa: BLE001 - a plugin's code: name it
            raise self._failed(exc, index, doing) from exc

    def _failed(self, exc: Exception, index: int | None, doing: str = "") -> PluginError:
        where = doing or (f"at frame {index}" if index is not None else "")
        message = " ".join(str(exc).split()) or type(exc).__name__
        return PluginError(f"{self.label} failed{' ' + where if where else ''}: {message}")

    def _checked(self, given: FrameItem, out: FrameItem) -> FrameItem:
        """``out`` when its frame's image has ``given``'s shape and dtype, else a
        :class:`PluginError` naming what came back."""
        if not isinstance(out, FrameItem):
            raise PluginError(f"{self.label} returned {type(out).__name__} for frame {given.index}, "
                              "not a FrameItem")
        a, b = given.frame.image, out.frame.image
        if getattr(b, "shape", None) != a.shape or getattr(b, "dtype", None) != a.dtype:
            got = f"{getattr(b, 'dtype', type(b).__name__)} {tuple(getattr(b, 'shape', ()))}"
            raise PluginError(f"{self.label} returned a {got} image for frame {given.index}, which is "
                              f"{a.dtype} {tuple(a.shape)}: a stage returns frames of the size, channels "
                              "and dtype it was given")
        return out
