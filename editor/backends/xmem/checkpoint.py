"""Reading XMem checkpoint files (``XMem.pth``, ``XMem-s012.pth``, …) safely.

Files are read with ``torch.load(..., weights_only=True)``: only tensors and plain containers
are accepted, never arbitrary pickled objects. Every problem is reported as one
:class:`~editor.backends.xmem.CheckpointError` whose message is ``"<file>: <problem>"``.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from editor.backends.torch_files import load_tensor_file
from editor.backends.xmem.errors import CheckpointError
from editor.backends.xmem.network import XMem
from editor.backends.xmem.state_dict import normalize_state_dict

__all__ = ["load_checkpoint", "read_state_dict"]

MapLocation = str | torch.device | None


def read_state_dict(path: str | os.PathLike[str], map_location: MapLocation = "cpu") -> dict[str, Tensor]:
    """Load the state dict stored in ``path`` (tensors mapped to ``map_location``).

    A ``module.`` prefix is removed and a single-object (4-channel) value encoder is widened,
    see :func:`~editor.backends.xmem.state_dict.normalize_state_dict`.

    Raises:
        CheckpointError: the file is missing, unreadable, truncated or not a state dict.
    """
    p = Path(path)
    obj = load_tensor_file(p, map_location, CheckpointError)
    try:
        return normalize_state_dict(obj)
    except CheckpointError as exc:
        raise CheckpointError(exc.message, source=p) from None


def load_checkpoint(path: str | os.PathLike[str], map_location: MapLocation = "cpu") -> XMem:
    """Build an eval-mode :class:`XMem` from a checkpoint file (strict key and shape match).

    Raises:
        CheckpointError: one-line ``"<file>: <problem>"``, e.g.
            ``"XMem.pth: missing 3 keys: key_proj.d_proj.weight, …"``.
    """
    state_dict = read_state_dict(path, map_location)
    try:
        return XMem.from_state_dict(state_dict)
    except CheckpointError as exc:
        raise CheckpointError(exc.message, source=Path(path)) from None
