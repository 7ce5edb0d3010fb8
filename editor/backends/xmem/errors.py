"""Exceptions of the XMem package."""
from __future__ import annotations

from editor.api.errors import TrackeditError

__all__ = ["CheckpointError"]


class CheckpointError(TrackeditError, ValueError):
    """An XMem checkpoint cannot be used: missing, unreadable, or not an XMem state dict.

    ``str()`` is one line, ``"<file>: <problem>"`` when the file is known
    (for example ``"XMem.pth: missing 3 keys: key_proj.d_proj.weight, …"``).
    """
