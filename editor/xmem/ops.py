"""Small tensor operations shared by the network and the inference engine."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["aggregate", "pad_to_multiple", "unpad"]

Padding = tuple[int, int, int, int]
"""``(left, right, top, bottom)``, the order of :func:`torch.nn.functional.pad`."""


def aggregate(prob: Tensor, dim: int) -> tuple[Tensor, Tensor]:
    """Soft aggregation of independent per-object probabilities (from STM).

    The background probability ``prod(1 - p)`` is prepended along ``dim``; all probabilities
    are clamped to ``[1e-7, 1 - 1e-7]``, turned into logits ``log(p / (1 - p))`` and
    normalised with a softmax. Returns ``(logits, probabilities)``, both with one more
    entry along ``dim`` than ``prob`` (entry 0 is the background).
    """
    with_bg = torch.cat([torch.prod(1 - prob, dim=dim, keepdim=True), prob], dim)
    with_bg = with_bg.clamp(1e-7, 1 - 1e-7)
    logits = torch.log(with_bg / (1 - with_bg))
    return logits, F.softmax(logits, dim=dim)


def pad_to_multiple(x: Tensor, multiple: int) -> tuple[Tensor, Padding]:
    """Zero-pad the last two dimensions up to multiples of ``multiple``, centred.

    For a padded amount ``d`` the top/left side gets ``d // 2`` and the bottom/right side the
    rest. Returns the padded tensor and the padding ``(left, right, top, bottom)``.
    """
    h, w = x.shape[-2:]
    dh = -h % multiple
    dw = -w % multiple
    pad = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)
    if dh == 0 and dw == 0:
        return x, pad
    return F.pad(x, pad), pad


def unpad(x: Tensor, pad: Padding) -> Tensor:
    """Undo :func:`pad_to_multiple` on the last two dimensions."""
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top:h - bottom, left:w - right]
