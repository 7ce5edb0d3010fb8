"""SAM 2-family backends through transformers: ``sam2`` (SAM 2 / 2.1, every size) and ``edgetam``.

Each is both a segmenter (clicks, boxes, masks → mask) and a tracker, on one model loaded
once per build (:mod:`editor.backends.sam2`). Checkpoint: ``--sam2-checkpoint DIR`` (or
``TRACKEDIT_SAM2_CHECKPOINT``), a folder as transformers' ``save_pretrained`` writes it, else
the best downloaded one (``trackedit models download sam2.1-tiny`` … ``edgetam``). ``auto``
prefers them to SAM + XMem. Needs the ``sam2`` extra (``pip install 'trackedit[sam2]'``).
Options: :class:`Sam2Options` (``--backend-set sam2.OPTION=VALUE`` / ``edgetam.OPTION=VALUE``).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from editor import hookimpl
from editor.api.backends import BackendContext, BackendOptions, SegmenterSpec, TrackerSpec

DOWNLOADS = {
    "sam2": ("sam2.1-large", "sam2.1-base-plus", "sam2.1-small", "sam2.1-tiny"),
    "edgetam": ("edgetam",),
}
"""The downloadable models of each backend, best first (on a CPU the list is walked backwards)."""


class Sam2Options(BackendOptions):
    """Settings of the SAM 2-family backends (the same for segmenting and tracking)."""

    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """``auto``: bf16 autocast on CUDA, float32 elsewhere."""
    compile: bool = False
    """Compile the image encoder with ``torch.compile`` (GPU; the first frames are slow)."""
    multimask: bool = True
    """With one click, decode three candidates and keep the best predicted IoU (SAM 2's rule)."""
    cache_size: int = Field(4, ge=1)
    """Frames whose image features the segmenter keeps (LRU), so further clicks only decode."""


def _gpu(device: str) -> bool:
    if device.startswith("cuda"):
        return True
    if device != "auto" or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def find_sam2_checkpoint(context: BackendContext, family: str) -> Path | None:
    """The folder the user named (``--sam2-checkpoint``), else the best downloaded model of
    ``family`` (the smallest first on a CPU), else ``None``."""
    named = context.named_checkpoints.get("sam2")
    if named is not None:
        return named
    from editor.models import find_checkpoint

    found = [p for p in (find_checkpoint(n, context.models_dir) for n in DOWNLOADS[family]) if p is not None]
    if len(found) > 1 and not _gpu(context.device):  # torch is imported only to choose
        found.reverse()
    return found[0] if found else None


def _missing_packages() -> str | None:
    for module in ("torch", "transformers", "safetensors"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'trackedit[sam2]')"
    return None


def _unavailable(family: str) -> Any:
    def unavailable(context: BackendContext, options: Sam2Options) -> str | None:
        missing = _missing_packages()
        if missing:
            return missing
        path = find_sam2_checkpoint(context, family)
        if path is None:
            return f"no {family} checkpoint found"
        if context.named_checkpoints.get("sam2") is not None:
            from editor.backends.sam2.checkpoint import family_of

            if family_of(path).name != family:
                return f"{path} holds a {family_of(path).name} model"
        return None

    return unavailable


def _model(context: BackendContext, options: Sam2Options, family: str) -> tuple[Any, str]:
    from editor.backends.device import pick_device
    from editor.backends.sam2.loading import shared_model

    device = pick_device(context.device)
    path = find_sam2_checkpoint(context, family)
    assert path is not None
    return shared_model(path, family, device, compile=options.compile), device


def _segmenter(family: str) -> Any:
    def factory(context: BackendContext, options: Sam2Options) -> Any:
        from editor.backends.sam2.segmenter import Sam2Segmenter

        model, device = _model(context, options, family)
        return Sam2Segmenter(model, device, precision=options.precision, multimask=options.multimask,
                             cache_size=options.cache_size)

    return factory


def _tracker(family: str) -> Any:
    def factory(context: BackendContext, options: Sam2Options) -> Any:
        from editor.backends.sam2.tracker import Sam2Tracker

        model, device = _model(context, options, family)
        return Sam2Tracker(model, device, options.precision)

    return factory


_DESCRIPTIONS = {"sam2": "SAM 2 / 2.1 via transformers: one model segments and tracks, streaming, flat memory",
                 "edgetam": "EdgeTAM via transformers: SAM 2's memory on a mobile encoder, streaming"}
_PRIORITY = {"sam2": 30, "edgetam": 20}  # above SAM and XMem (10)


@hookimpl
def editor_register_segmenters(register):  # noqa: ANN001
    for family in ("sam2", "edgetam"):
        register(SegmenterSpec(family, Sam2Options, _segmenter(family), kind="model", priority=_PRIORITY[family],
                               unavailable=_unavailable(family), description=_DESCRIPTIONS[family]))


@hookimpl
def editor_register_trackers(register):  # noqa: ANN001
    for family in ("sam2", "edgetam"):
        register(TrackerSpec(family, Sam2Options, _tracker(family), kind="model", priority=_PRIORITY[family],
                             unavailable=_unavailable(family), description=_DESCRIPTIONS[family]))
