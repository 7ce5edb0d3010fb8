"""Reading checkpoint files with ``torch.load`` safely: tensors only, one-line errors.

Shared by the XMem and SAM loaders. ``weights_only=True`` accepts tensors and plain
containers, never pickled code; every failure (missing file, truncated download, a pickle
of something else) becomes one ``error`` line naming the file.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from editor.api.errors import TrackeditError


def describe_load_error(exc: BaseException) -> str:
    """A short one-line reason for a failed ``torch.load``."""
    text = " ".join(str(exc).split())
    if text.startswith("Weights only load failed"):
        return "not a tensors-only PyTorch file (unreadable, or it holds pickled objects)"
    if isinstance(exc, EOFError):
        return "unexpected end of file"
    text = text or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def load_tensor_file(path: str | os.PathLike[str], map_location: object,
                     error: type[TrackeditError] = TrackeditError) -> object:
    """``torch.load(path, map_location, weights_only=True)``; problems raise ``error(message, path)``."""
    import torch

    p = Path(path)
    if not p.exists():
        raise error("checkpoint file not found", p)
    if not p.is_file():
        raise error("not a file", p)
    try:
        with warnings.catch_warnings():
            # Raised for files that are then refused anyway (plain pickles of other protocols).
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(p, map_location=map_location, weights_only=True)
    except MemoryError:
        raise
    except Exception as exc:  # torch.load raises many types on bad input
        raise error(f"cannot read checkpoint (truncated or not a PyTorch file?): {describe_load_error(exc)}",
                    p) from exc
