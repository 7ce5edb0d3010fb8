"""SAM 2-family checkpoints in transformers' format: a folder as ``save_pretrained`` writes it.

A checkpoint is a folder with ``config.json`` (whose ``model_type`` names the family) and
``model.safetensors``. Only safetensors are read (never pickles). Every problem is one
:class:`Sam2CheckpointError` line naming the file: a missing folder or file, a config that
is not JSON or is of another model, a truncated or corrupt safetensors file, or tensors whose
names or shapes do not fit the config.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from editor.api.errors import TrackeditError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


class Sam2CheckpointError(TrackeditError):
    """A SAM 2-family checkpoint folder is missing, unreadable, truncated or of another model."""


@dataclass(frozen=True)
class Family:
    """One model family as transformers implements it: the backend name, the ``model_type``
    values its ``config.json`` may carry, and the transformers class names."""

    name: str
    model_types: tuple[str, ...]
    model_class: str
    config_class: str
    session_class: str
    description: str


FAMILIES: dict[str, Family] = {
    "sam2": Family("sam2", ("sam2_video", "sam2"), "Sam2VideoModel", "Sam2VideoConfig", "Sam2VideoInferenceSession",
                   "SAM 2 / SAM 2.1 (hiera tiny, small, base-plus, large)"),
    "edgetam": Family("edgetam", ("edgetam_video", "edgetam"), "EdgeTamVideoModel", "EdgeTamVideoConfig",
                      "EdgeTamVideoInferenceSession", "EdgeTAM (RepViT image encoder, SAM 2 memory)"),
}
"""The SAM 2 family's backends by name."""


def transformers_class(name: str) -> Any:
    """A class from ``transformers`` by name (imported lazily: the package is an optional extra)."""
    import transformers

    return getattr(transformers, name)


def consistent_object_scores(model: Any) -> Any:
    """Work around EdgeTAM's mask-prompt path in transformers 5 (``_use_mask_as_output``
    returns object-score logits of shape N×1 where its SAM head gives N×1×1, so a frame where
    one object gets a mask while another is tracked fails to concatenate them): give it the
    SAM head's shape, as transformers' SAM 2 does. Idempotent; returns ``model``."""
    if getattr(model, "_trackedit_scores_fixed", False) or type(model).__name__ != "EdgeTamVideoModel":
        return model
    original = model._use_mask_as_output

    def use_mask_as_output(*args: Any, **kwargs: Any) -> Any:
        out = original(*args, **kwargs)
        if out.object_score_logits.dim() == 2:
            out.object_score_logits = out.object_score_logits.unsqueeze(-1)
        return out

    model._use_mask_as_output = use_mask_as_output
    model._trackedit_scores_fixed = True
    return model


def read_config(folder: Path) -> dict[str, Any]:
    """``folder/config.json`` as a dict; one-line :class:`Sam2CheckpointError` when it is missing
    or not a JSON object."""
    if not folder.exists():
        raise Sam2CheckpointError("checkpoint folder not found", folder)
    if not folder.is_dir():
        raise Sam2CheckpointError("not a folder (a SAM 2 checkpoint is a folder with config.json and "
                                  "model.safetensors, as save_pretrained writes it)", folder)
    path = folder / CONFIG_FILE
    if not path.is_file():
        raise Sam2CheckpointError("missing (not a transformers checkpoint folder)", path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise Sam2CheckpointError(f"not a readable JSON file ({type(exc).__name__})", path) from exc
    if not isinstance(data, dict):
        raise Sam2CheckpointError("not a JSON object", path)
    return data


def family_of(folder: Path) -> Family:
    """The family a checkpoint folder holds, from its ``config.json``'s ``model_type``."""
    model_type = read_config(folder).get("model_type")
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    known = ", ".join(t for f in FAMILIES.values() for t in f.model_types)
    raise Sam2CheckpointError(f"model_type {model_type!r} is not a SAM 2-family video model (expected one of: {known})",
                              folder / CONFIG_FILE)


def _read_weights(path: Path) -> dict[str, Any]:
    """All tensors of a safetensors file on the CPU; truncation and corruption are one line."""
    if not path.is_file():
        raise Sam2CheckpointError("missing (only safetensors weights are read)", path)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        text = " ".join(str(exc).split())[:160]
        raise Sam2CheckpointError(f"cannot read safetensors (truncated or corrupt?): {text}", path) from exc


def load_model(folder: str | os.PathLike[str], family: str | None = None, device: str = "cpu") -> Any:
    """The transformers video model stored in ``folder``, in eval mode on ``device``.

    ``family`` (``sam2`` or ``edgetam``): the folder must hold that family's model. The
    weights must match the config exactly: every tensor present with its shape, nothing
    extra. Raises :class:`Sam2CheckpointError` (one line, naming the file).
    """
    import torch

    folder = Path(folder)
    found = family_of(folder)
    if family is not None and found.name != family:
        raise Sam2CheckpointError(f"holds a {found.name} model, not {family} ({FAMILIES[family].description})",
                                  folder / CONFIG_FILE)
    config_cls = transformers_class(found.config_class)
    config_data = read_config(folder)
    config_data["model_type"] = config_cls.model_type  # an image-model config of the same family
    try:
        config = config_cls.from_dict(config_data)
    except Exception as exc:  # transformers validates configs with many exception types
        text = " ".join(str(exc).split())[:160]
        raise Sam2CheckpointError(f"invalid {found.name} config: {text}", folder / CONFIG_FILE) from exc
    weights = _read_weights(folder / WEIGHTS_FILE)
    model = transformers_class(found.model_class)(config)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = sorted(set(expected) - set(weights))
    extra = sorted(set(weights) - set(expected))
    wrong = sorted(k for k in set(expected) & set(weights) if tuple(weights[k].shape) != expected[k])
    if missing or extra or wrong:
        parts = []
        if wrong:
            k = wrong[0]
            parts.append(f"{len(wrong)} tensors of the wrong shape (e.g. {k}: {tuple(weights[k].shape)}, "
                         f"expected {expected[k]})")
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if extra:
            parts.append(f"{len(extra)} unexpected (e.g. {extra[0]})")
        raise Sam2CheckpointError(f"weights do not fit the config: {'; '.join(parts)}", folder / WEIGHTS_FILE)
    with torch.no_grad():
        model.load_state_dict(weights, strict=True)
    return consistent_object_scores(model.to(device).eval())
