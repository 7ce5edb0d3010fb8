"""Segment Anything segmenter backend (needs a SAM checkpoint; `trackedit models download sam_vit_b`).

Checkpoint: ``--sam-checkpoint PATH`` (or ``TRACKEDIT_SAM_CHECKPOINT``), validated by its keys
and shapes; otherwise the best downloaded official model: vit_h, vit_l, vit_b on a GPU,
vit_b first on a CPU (vit_h costs ~10 s per frame there). Options, through
``BackendOptions.extra["sam"]`` (``--backend-set sam.KEY=VALUE`` on the CLI): ``variant``
(expected variant, checked against the file), ``precision`` (auto/fp32/bf16/fp16),
``cache_size`` (embeddings kept, default 4), ``compile``, ``fused_attention``, ``multimask``,
``refine_masks``, ``fill_holes``, ``min_island``.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from editor import hookimpl
from editor.api.backends import BackendOptions, SegmenterSpec

ENGINE_KEYS = ("precision", "cache_size", "compile", "fused_attention")
SEGMENTER_KEYS = ("multimask", "refine_masks", "fill_holes", "min_island")


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


def find_sam_checkpoint(options: BackendOptions) -> Path | None:
    if options.checkpoint is not None:
        return options.checkpoint
    from editor.models import find_checkpoint

    wanted = options.extra.get("sam", {}).get("variant")
    names = [f"sam_{wanted}"] if wanted else ["sam_vit_h", "sam_vit_l", "sam_vit_b"]
    found = [p for p in (find_checkpoint(n, options.models_dir) for n in names) if p is not None]
    if len(found) > 1 and not _gpu_first(options.device):  # torch is imported only to choose
        found.reverse()
    return found[0] if found else None


def _unavailable(options: BackendOptions) -> str | None:
    if importlib.util.find_spec("segment_anything") is None or importlib.util.find_spec("torch") is None:
        return "segment-anything is not installed (pip install 'trackedit[models]')"
    if find_sam_checkpoint(options) is None:
        return "no SAM checkpoint found"
    return None


def _factory(options: BackendOptions):  # noqa: ANN202
    from editor.backends.device import pick_device
    from editor.backends.sam import SamEngine, SamSegmenter, SamSegmenterOptions, load_sam

    extra = dict(options.extra.get("sam", {}))
    unknown = set(extra) - {"variant", *ENGINE_KEYS, *SEGMENTER_KEYS}
    if unknown:
        from editor.api.errors import BackendUnavailable

        raise BackendUnavailable(f"unknown SAM option(s): {', '.join(sorted(unknown))}")
    device = pick_device(options.device)
    path = find_sam_checkpoint(options)
    assert path is not None
    model, _ = load_sam(path, device, expected=extra.get("variant"))
    engine = SamEngine(model, device, **{k: extra[k] for k in ENGINE_KEYS if k in extra})
    return SamSegmenter(engine, SamSegmenterOptions(**{k: extra[k] for k in SEGMENTER_KEYS if k in extra}))


@hookimpl
def editor_register_segmenters(register):  # noqa: ANN001
    register(SegmenterSpec("sam", _factory, kind="model", priority=10, unavailable=_unavailable,
                           description="Segment Anything (vit_b/l/h), embeddings cached per frame"))
