"""Loading SAM checkpoints (``sam_vit_b_01ec64.pth`` …) safely and strictly.

* ``torch.load(weights_only=True, map_location=device)``: tensors only, never pickled code;
  the official files hold CPU tensors, fine-tuned ones may hold CUDA tensors.
* The variant is read from the shapes (:func:`~editor.backends.sam.variants.detect_variant`); when the
  caller expects one (``vit_b``) and the file is another, the error names both.
* The model is built on the ``meta`` device and the weights are assigned, so loading vit_h
  does not first allocate and initialise 2.5 GB of random weights.
* Every problem is one :class:`SamCheckpointError` line ``"<file>: <problem>"``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from editor.backends.torch_files import load_tensor_file
from editor.backends.sam.errors import SamCheckpointError
from editor.backends.sam.variants import VARIANTS, SamVariant, build_sam, detect_variant


def read_sam_state_dict(path: str | os.PathLike[str], map_location: object = "cpu") -> dict:
    """The tensors of a SAM checkpoint file (a plain state dict, or one under ``"model"``)."""
    import torch

    p = Path(path)
    obj = load_tensor_file(p, map_location, SamCheckpointError)
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]  # training checkpoints of fine-tuning scripts
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise SamCheckpointError("not a state dict of tensors", p)
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _shortlist(keys: list[str]) -> str:
    return ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def model_from_state_dict(state_dict: Mapping[str, object], expected: str | None = None,
                          source: str | Path | None = None):  # noqa: ANN201 - segment_anything Sam
    """Build an eval-mode SAM from a state dict (strict keys and shapes) on the tensors' device."""
    import torch

    try:
        variant = detect_variant(state_dict)
    except SamCheckpointError as exc:
        raise SamCheckpointError(exc.message, source) from None
    if expected is not None:
        if expected not in VARIANTS:
            raise SamCheckpointError(f"unknown SAM variant {expected!r} (known: {', '.join(VARIANTS)})", source)
        if variant.name != expected:
            what = variant.name if variant.name != "custom" else \
                f"custom ({variant.embed_dim} wide, {variant.depth} blocks)"
            raise SamCheckpointError(f"this is a {what} checkpoint, not {expected}", source)
    with torch.device("meta"):
        model = build_sam(variant)
    wanted = model.state_dict()
    missing = [k for k in wanted if k not in state_dict]
    unexpected = [k for k in state_dict if k not in wanted]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} keys: {_shortlist(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {_shortlist(unexpected)}")
        raise SamCheckpointError(f"not a {variant.name} SAM state dict ({'; '.join(parts)})", source)
    wrong = [f"{k} {tuple(state_dict[k].shape)} (expected {tuple(v.shape)})"  # type: ignore[attr-defined]
             for k, v in wanted.items() if tuple(state_dict[k].shape) != tuple(v.shape)]  # type: ignore[attr-defined]
    if wrong:
        raise SamCheckpointError(f"wrong shapes: {_shortlist(wrong)}", source)
    model.load_state_dict(state_dict, strict=True, assign=True)
    device = next(iter(state_dict.values())).device  # type: ignore[attr-defined]
    # Non-persistent buffers are not in the file; recreate them on the weights' device.
    model.pixel_mean = torch.tensor([123.675, 116.28, 103.53], device=device).view(-1, 1, 1)
    model.pixel_std = torch.tensor([58.395, 57.12, 57.375], device=device).view(-1, 1, 1)
    model.float()
    return model.eval()


def load_sam(path: str | os.PathLike[str], device: object = "cpu", expected: str | None = None):  # noqa: ANN201
    """Load a SAM checkpoint file onto ``device``; ``expected`` (``vit_b`` …) is checked if given.

    Returns ``(model, variant)``.
    """
    state_dict = read_sam_state_dict(path, map_location=device)
    model = model_from_state_dict(state_dict, expected, source=Path(path))
    return model, detect_variant(state_dict)


__all__ = ["SamVariant", "load_sam", "model_from_state_dict", "read_sam_state_dict"]
