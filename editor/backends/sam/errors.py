"""Errors of the SAM backend (one line, naming the file)."""
from __future__ import annotations

from editor.api.errors import BackendUnavailable, TrackeditError


class SamCheckpointError(TrackeditError):
    """A SAM checkpoint is missing, unreadable, truncated or of another variant."""


__all__ = ["BackendUnavailable", "SamCheckpointError"]
