"""One loaded SAM 2-family model shared by the segmenter and the tracker of a build.

The ``sam2``/``edgetam`` segmenter and tracker are built separately (one factory each) but
are one model: :func:`shared_model` keeps each loaded model (by folder, family, device and
compilation; a folder whose files changed is loaded again) for as long as a backend holds it, so the second factory gets the first one's
model instead of a second copy.
"""
from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

from editor.backends.sam2.checkpoint import load_model

_LOADED: weakref.WeakValueDictionary[tuple[Any, ...], Any] = weakref.WeakValueDictionary()


def shared_model(folder: Path, family: str, device: str, *, compile: bool = False) -> Any:
    """The model in ``folder`` (checked to be of ``family``) on ``device``, loaded once while in
    use; ``compile``: the image encoder wrapped in ``torch.compile``. Raises
    :class:`~editor.backends.sam2.checkpoint.Sam2CheckpointError`."""
    folder = Path(folder)
    stamps = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.glob("*")) if p.is_file()) \
        if folder.is_dir() else ()
    key = (str(folder.resolve()), stamps, family, device, compile)  # a changed file is loaded (checked) again
    model = _LOADED.get(key)
    if model is None:
        model = load_model(folder, family, device)
        if compile:
            import torch

            model.vision_encoder = torch.compile(model.vision_encoder)
        _LOADED[key] = model
    return model
