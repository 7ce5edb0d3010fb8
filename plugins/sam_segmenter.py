"""Segment Anything segmenter backend (needs a SAM checkpoint; `trackedit models download sam_vit_b`).

Checkpoint: ``--sam-checkpoint PATH`` (or ``TRACKEDIT_SAM_CHECKPOINT``), validated by its keys
and shapes; otherwise the best downloaded official model: vit_h, vit_l, vit_b on a GPU,
vit_b first on a CPU (vit_h costs ~10 s per frame there). Options: :class:`SamOptions`
(``--backend-set sam.OPTION=VALUE``).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from pydantic import Field

from editor import hookimpl
from editor.api.backends import BackendContext, BackendOptions, SegmenterSpec


class SamOptions(BackendOptions):
    """Settings of the SAM segmenter (engine: ``precision`` … ``fused_attention``; masks: the rest)."""

    variant: Literal["vit_b", "vit_l", "vit_h"] | None = None
    """Expected model variant: picks that downloaded model, and a given checkpoint must be one."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """Image-encoder precision (``auto``: bf16 autocast on CUDA, float32 elsewhere)."""
    cache_size: int = Field(4, ge=1)
    """Frames whose image embeddings are kept (LRU), so further clicks only run the decoder."""
    compile: bool = False
    """Compile the image encoder with ``torch.compile``."""
    fused_attention: bool = True
    """Scaled-dot-product attention with the relative-position terms as bias (same math)."""
    multimask: bool = True
    """Decode three candidates and keep the best predicted IoU (single-click ambiguity)."""
    refine_masks: bool = False
    """Send a mask prompt given alone through SAM (with its box) instead of keeping it as given."""
    fill_holes: int = Field(0, ge=0)
    """Fill holes smaller than this many pixels (0: off)."""
    min_island: int = Field(0, ge=0)
    """Drop islands smaller than this many pixels (0: off; never the whole mask)."""


def _gpu_first(device: str) -> bool:
    if device.startswith("cuda"):
        return True
    if device != "auto":
        return False
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def find_sam_checkpoint(context: BackendContext, variant: str | None) -> Path | None:
    """The checkpoint the user named, else the best downloaded official model (of ``variant``
    when given), else ``None``."""
    if context.checkpoint is not None:
        return context.checkpoint
    from editor.models import find_checkpoint

    names = [f"sam_{variant}"] if variant else ["sam_vit_h", "sam_vit_l", "sam_vit_b"]
    found = [p for p in (find_checkpoint(n, context.models_dir) for n in names) if p is not None]
    if len(found) > 1 and not _gpu_first(context.device):  # torch is imported only to choose
        found.reverse()
    return found[0] if found else None


def _unavailable(context: BackendContext, options: SamOptions) -> str | None:
    if importlib.util.find_spec("segment_anything") is None or importlib.util.find_spec("torch") is None:
        return "segment-anything is not installed (pip install 'trackedit[models]')"
    if find_sam_checkpoint(context, options.variant) is None:
        return "no SAM checkpoint found"
    return None


def _factory(context: BackendContext, options: SamOptions):  # noqa: ANN202
    from editor.backends.device import pick_device
    from editor.backends.sam import SamEngine, SamSegmenter, SamSegmenterOptions, load_sam

    device = pick_device(context.device)
    path = find_sam_checkpoint(context, options.variant)
    assert path is not None
    model, _ = load_sam(path, device, expected=options.variant)
    engine = SamEngine(model, device, precision=options.precision, cache_size=options.cache_size,
                       compile=options.compile, fused_attention=options.fused_attention)
    return SamSegmenter(engine, SamSegmenterOptions(multimask=options.multimask, refine_masks=options.refine_masks,
                                                    fill_holes=options.fill_holes, min_island=options.min_island))


@hookimpl
def editor_register_segmenters(register):  # noqa: ANN001
    register(SegmenterSpec("sam", SamOptions, _factory, kind="model", priority=10, unavailable=_unavailable,
                           description="Segment Anything (vit_b/l/h), embeddings cached per frame"))
