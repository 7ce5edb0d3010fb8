"""Deterministic synthetic XMem weights, for tests without the real checkpoint.

This is the generator of the golden reference data (``tests/data/xmem/README.md``): every
state-dict entry gets its own NumPy generator seeded with the CRC-32 of its name, so the values
do not depend on the order of entries. With the default dimensions the result reproduces the
golden data's checksums exactly.
"""
from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping

import numpy as np
import torch
from torch import Tensor

from editor.backends.xmem.network import XMem

__all__ = [
    "GOLDEN_DISCS",
    "SYNTHETIC_GAINS",
    "synthetic_array",
    "synthetic_clip",
    "synthetic_network",
    "synthetic_state_dict",
]

SYNTHETIC_GAINS: Mapping[str, float] = {
    "key_proj.key_proj.weight": 2.0,
    "value_encoder.conv1.weight": 3.0,
    "value_encoder.fuser.block2.conv2.weight": 3.0,
    "decoder.up_16_8.skip_conv.weight": 0.5,
    "decoder.up_8_4.skip_conv.weight": 0.5,
    "decoder.pred.weight": 2.0,
}
"""Gains that keep activations O(1) and probabilities neither saturated nor flat."""


def synthetic_array(name: str, shape: tuple[int, ...], is_batch_norm: bool,
                    gain: float = 1.0) -> np.ndarray:
    """The synthetic value of one entry (float32, or an int64 scalar for ``num_batches_tracked``).

    ``n ~ N(0, 1)`` from ``numpy.random.default_rng(crc32(name))``; batch-norm entries:
    weight ``1 + 0.1 n``, bias and running mean ``0.1 n``, running variance ``1 + 0.1 |n|``;
    other weights ``n / sqrt(fan_in) * gain``; other biases ``0.01 n``.
    """
    if name.endswith("num_batches_tracked"):
        return np.zeros(shape, dtype=np.int64)
    n = np.random.default_rng(zlib.crc32(name.encode("utf-8"))).standard_normal(size=shape)
    leaf = name.rsplit(".", 1)[-1]
    if is_batch_norm:
        if leaf == "weight":
            v = 1 + 0.1 * n
        elif leaf == "running_var":
            v = 1 + 0.1 * np.abs(n)
        else:  # bias, running_mean
            v = 0.1 * n
    elif len(shape) >= 2:
        v = n / np.sqrt(float(np.prod(shape[1:]))) * gain
    else:
        v = 0.01 * n
    return v.astype(np.float32)


def synthetic_state_dict(entries: Iterable[tuple[str, tuple[int, ...]]],
                         gains: Mapping[str, float] = SYNTHETIC_GAINS) -> dict[str, Tensor]:
    """Synthetic tensors for ``(name, shape)`` entries.

    An entry belongs to a batch norm when its module also owns a ``running_mean``.
    """
    items = [(name, tuple(int(s) for s in shape)) for name, shape in entries]
    names = {name for name, _ in items}
    out: dict[str, Tensor] = {}
    for name, shape in items:
        prefix = name.rsplit(".", 1)[0]
        is_bn = f"{prefix}.running_mean" in names
        out[name] = torch.from_numpy(synthetic_array(name, shape, is_bn, gains.get(name, 1.0)))
    return out


def synthetic_network(key_dim: int = 64, value_dim: int = 512, hidden_dim: int = 64) -> XMem:
    """An eval-mode :class:`XMem` with synthetic weights for the given dimensions."""
    with torch.device("meta"):
        template = XMem(key_dim, value_dim, hidden_dim)
    shapes = [(k, tuple(v.shape)) for k, v in template.state_dict().items()]
    return XMem.from_state_dict(synthetic_state_dict(shapes))


Disc = tuple[float, float, float, float, float, tuple[float, float, float], float]
"""``(cx0, cy0, vx, vy, r, (R, G, B), f)``: a textured disc moving linearly."""

GOLDEN_DISCS: tuple[Disc, ...] = (
    (36, 40, 3, 1, 18, (0.9, 0.2, 0.2), 0.7),
    (92, 58, -2, -1.5, 22, (0.2, 0.3, 0.9), 0.45),
)
"""The discs of the golden clip (6 frames of 96 x 128, phase 0)."""


def synthetic_clip(num_frames: int, height: int, width: int, discs: Iterable[Disc] = GOLDEN_DISCS,
                   phase: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The golden data's synthetic video: smooth colour gradients with textured moving discs.

    Returns ``(rgb uint8 T x H x W x 3, label map uint8 T x H x W)``; disc ``i`` has label
    ``i + 1`` and later discs paint over earlier ones.
    """
    disc_list = list(discs)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / width, y / height
    rgb_out = np.empty((num_frames, height, width, 3), np.uint8)
    labels = np.zeros((num_frames, height, width), np.uint8)
    for t in range(num_frames):
        rgb = np.stack([
            0.5 + 0.3 * np.sin(2 * np.pi * (u + 0.05 * t) + phase),
            0.5 + 0.3 * np.cos(2 * np.pi * (v - 0.03 * t) + 0.5 * phase),
            0.5 + 0.2 * np.sin(2 * np.pi * (u + v) + 0.1 * t),
        ], axis=-1)
        for i, (cx0, cy0, vx, vy, r, color, f) in enumerate(disc_list):
            cx, cy = cx0 + vx * t, cy0 + vy * t
            inside = (x - cx) ** 2 + (y - cy) ** 2 <= r ** 2
            tex = 0.5 + 0.5 * np.sin(f * (x - cx)) * np.cos(f * (y - cy))
            rgb[inside] = np.asarray(color) * (0.6 + 0.4 * tex[inside, None])
            labels[t][inside] = i + 1
        rgb_out[t] = np.round(np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    return rgb_out, labels
