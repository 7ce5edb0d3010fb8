"""Pick the compute device: cuda > mps > cpu, overridable."""
from __future__ import annotations

import importlib.util

from editor.api.errors import TrackeditError

DEVICES = ("auto", "cpu", "cuda", "mps")


def check_device_name(requested: str) -> str:
    """Validate a ``--device`` value without importing PyTorch (classical runs never need it)."""
    requested = (requested or "auto").lower()
    if requested.split(":")[0] not in DEVICES:
        raise TrackeditError(f"unknown device {requested!r} (choose from {', '.join(DEVICES)})")
    return requested


def pick_device(requested: str = "auto") -> str:
    """Resolve ``auto`` to the best available device; check an explicit one exists.

    Backends that run models call this when they are created; the core only passes the
    requested name along, so runs with classical backends never import PyTorch.
    """
    requested = check_device_name(requested)
    base = requested.split(":")[0]
    if base == "cpu":
        return "cpu"
    if importlib.util.find_spec("torch") is None:
        if base == "auto":
            return "cpu"
        raise TrackeditError(f"device {requested!r} needs PyTorch, which is not installed")
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    if base == "auto":
        return "cuda" if cuda else "mps" if mps else "cpu"
    if base == "cuda" and not cuda:
        raise TrackeditError("device 'cuda' was requested but no CUDA GPU is available")
    if base == "mps" and not mps:
        raise TrackeditError("device 'mps' was requested but Metal (MPS) is not available")
    return requested


def reduced_precision(precision: str, device: object) -> object:
    """The autocast dtype (a ``torch.dtype``) for ``precision`` on ``device`` (a
    ``torch.device``): ``auto`` is bf16 on CUDA when supported, else ``None`` (plain float32);
    ``fp32`` → ``None``, ``bf16`` / ``fp16`` → that dtype. Shared by every PyTorch backend."""
    import torch

    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None  # type: ignore[attr-defined]
    if precision not in ("fp32", "bf16", "fp16"):
        raise ValueError(f"precision must be auto, fp32, bf16 or fp16, not {precision!r}")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
