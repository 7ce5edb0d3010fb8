"""XMem video object segmentation (Cheng & Schwing, ECCV 2022), checkpoint-compatible.

A from-scratch re-implementation of the XMem network and of its per-frame inference engine
(working, long-term and sensory memory) that loads the original checkpoints strictly and
reproduces the original outputs (see ``tests/test_xmem_parity.py``). Nothing is downloaded.

* :class:`XMem` - the network; :meth:`XMem.from_state_dict` or :func:`load_checkpoint`.
* :class:`XMemConfig` - inference settings (original names and ``eval.py`` defaults).
* :class:`InferenceCore` - ``set_all_labels`` / ``step`` / ``clear_memory``.
"""
from __future__ import annotations

from editor.backends.xmem.checkpoint import load_checkpoint, read_state_dict
from editor.backends.xmem.config import XMemConfig
from editor.backends.xmem.errors import CheckpointError
from editor.backends.xmem.inference_core import InferenceCore
from editor.backends.xmem.network import XMem
from editor.backends.xmem.ops import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    aggregate,
    normalize_image,
    pad_to_multiple,
    unpad,
)
from editor.backends.xmem.state_dict import ModelDims

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "CheckpointError",
    "InferenceCore",
    "ModelDims",
    "XMem",
    "XMemConfig",
    "aggregate",
    "load_checkpoint",
    "normalize_image",
    "pad_to_multiple",
    "read_state_dict",
    "unpad",
]
