"""The output folders a batch creates, and their removal when nothing was written in them.

A batch makes each output's folder before its job runs (:func:`editor.batch.jobs.decide`),
so a batch stopped after its first video (Ctrl-C, SIGTERM) would leave the folders of the
videos it never wrote, empty. :class:`CreatedFolders` remembers the folders it made itself
— never one that was there before — and :meth:`CreatedFolders.remove_empty` removes those
still empty at the end (``rmdir``: a folder with anything in it stays).
"""
from __future__ import annotations

from pathlib import Path


class CreatedFolders:
    """Folders made for a batch's outputs, in the order made."""

    def __init__(self) -> None:
        self.made: list[Path] = []

    def make(self, folder: Path) -> None:
        """``folder`` and its missing parents (``mkdir -p``), remembering each one this call
        created. Raises ``OSError`` as ``Path.mkdir`` does (permission, a file in the way)."""
        missing = []
        for path in (folder, *folder.parents):
            if path.is_dir():
                break
            missing.append(path)
        for path in reversed(missing):  # outermost first
            try:
                path.mkdir()
            except FileExistsError:
                if not path.is_dir():
                    raise
                continue  # made by someone else meanwhile: not ours to remove
            self.made.append(path)

    def remove_empty(self) -> list[Path]:
        """Remove the folders made here that are empty, innermost first (a folder emptied by
        removing its empty subfolders goes too); returns them. A folder with anything in it,
        or already gone, is left as it is."""
        removed = []
        for path in sorted(self.made, key=lambda p: len(p.parts), reverse=True):
            try:
                path.rmdir()
            except OSError:
                continue
            removed.append(path)
        self.made = [p for p in self.made if p not in removed]
        return removed
