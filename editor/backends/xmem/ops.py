"""Small tensor operations shared by the network and the inference engine."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "aggregate", "normalize_image", "pad_to_multiple", "unpad"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Mean used to normalise input images (after scaling to [0, 1])."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Standard deviation used to normalise input images."""

Padding = tuple[int, int, int, int]
"""``(left, right, top, bottom)``, the order of :func:`torch.nn.functional.pad`."""


def normalize_image(rgb: Tensor | np.ndarray) -> Tensor:
    """Model input from an ``H x W x 3`` uint8 RGB frame: ``3 x H x W`` float32.

    The same arithmetic as the original's torchvision ``ToTensor()`` + ``Normalize`` (bit for
    bit): ``(rgb / 255 - mean) / std`` in float32, ImageNet mean and std.
    """
    t = torch.as_tensor(rgb)
    if t.dim() != 3 or t.shape[-1] != 3 or t.dtype != torch.uint8:
        raise ValueError(f"expected an H x W x 3 uint8 RGB frame, got {t.dtype} {tuple(t.shape)}")
    x = t.permute(2, 0, 1).contiguous().to(torch.float32).div(255)
    mean = torch.as_tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device)[:, None, None]
    std = torch.as_tensor(IMAGENET_STD, dtype=torch.float32, device=x.device)[:, None, None]
    return x.sub_(mean).div_(std)


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
