"""The XMem network (Cheng & Schwing, ECCV 2022), checkpoint-compatible.

:class:`XMem` holds four sub-networks whose names are the checkpoint prefixes:
``key_encoder`` (ResNet-50 to stride 16), ``value_encoder`` (ResNet-18 on image + masks,
fused with the key features, plus the deep sensory-memory update), ``key_proj`` (key,
shrinkage and selection heads) and ``decoder``. The per-frame logic (memory, padding, mask
handling) lives in :class:`~editor.backends.xmem.InferenceCore`.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from editor.backends.xmem.modules import Decoder, KeyEncoder, KeyProjection, ValueEncoder
from editor.backends.xmem.ops import aggregate
from editor.backends.xmem.state_dict import (
    ModelDims,
    check_state_dict,
    infer_dims,
    normalize_state_dict,
)

__all__ = ["XMem"]

Features = tuple[Tensor, Tensor, Tensor]
"""``(f16, f8, f4)`` key-encoder features."""


class XMem(nn.Module):
    """XMem network. Build from weights with :meth:`from_state_dict` (nothing is downloaded).

    A network built directly (``XMem(key_dim, value_dim, hidden_dim)``) has PyTorch's default
    random initialisation; ``hidden_dim=0`` gives the model without sensory memory.
    """

    def __init__(self, key_dim: int = 64, value_dim: int = 512, hidden_dim: int = 64) -> None:
        super().__init__()
        if key_dim < 1 or value_dim < 16 or hidden_dim < 0:
            raise ValueError(f"invalid XMem dimensions: key_dim={key_dim}, value_dim={value_dim}, "
                             f"hidden_dim={hidden_dim}")
        self.dims = ModelDims(key_dim, value_dim, hidden_dim)
        self.key_encoder = KeyEncoder()
        self.value_encoder = ValueEncoder(value_dim, hidden_dim)
        self.key_proj = KeyProjection(1024, key_dim)
        self.decoder = Decoder(value_dim, hidden_dim)

    @property
    def key_dim(self) -> int:
        return self.dims.key_dim

    @property
    def value_dim(self) -> int:
        return self.dims.value_dim

    @property
    def hidden_dim(self) -> int:
        """Channels of the sensory memory; 0 for the no-sensory model."""
        return self.dims.hidden_dim

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, Tensor]) -> XMem:
        """Build a network in eval mode from an XMem state dict.

        Dimensions are read from the weights (``key_proj.key_proj.weight``,
        ``value_encoder.fuser.block2.conv2.weight``, ``decoder.hidden_update.transform.weight``;
        no sensory memory when the latter is absent). Keys and shapes must match exactly,
        ``num_batches_tracked`` buffers included. A single-object checkpoint (4-channel
        ``value_encoder.conv1.weight``) gets a zero 5th channel; a ``module.`` prefix is
        removed. The network lives on the device of the given tensors.

        Raises:
            CheckpointError: the state dict does not fit (one-line message).
        """
        weights = normalize_state_dict(state_dict)
        dims = infer_dims(weights)
        with torch.device("meta"):
            net = cls(dims.key_dim, dims.value_dim, dims.hidden_dim)
        check_state_dict(net.state_dict(), weights)
        device = weights[next(iter(weights))].device
        net = net.to_empty(device=device)
        net.load_state_dict(weights, strict=True)
        return net.eval()

    def encode_key(self, frame: Tensor, need_sk: bool = True, need_ek: bool = True
                   ) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor, Tensor, Tensor]:
        """Encode a ``B x 3 x H x W`` frame (H, W multiples of 16).

        Returns ``(key, shrinkage, selection, f16, f8, f4)``; shrinkage and selection are
        ``None`` unless requested.
        """
        f16, f8, f4 = self.key_encoder(frame)
        key, shrinkage, selection = self.key_proj(f16, need_sk, need_ek)
        return key, shrinkage, selection, f16, f8, f4

    def encode_value(self, frame: Tensor, f16: Tensor, hidden: Tensor | None, masks: Tensor,
                     is_deep_update: bool = True) -> tuple[Tensor, Tensor | None]:
        """Encode the memory value of ``B x N x H x W`` object masks (probabilities).

        Each object sees ``[RGB, its mask, sum of the other masks]``. Returns
        ``(value B x N x value_dim x H/16 x W/16, hidden)``; the hidden state is deep-updated
        when ``is_deep_update`` and the model has a sensory memory, else returned unchanged.
        """
        num_objects = masks.shape[1]
        if num_objects != 1:
            others = torch.cat([
                masks[:, [j for j in range(num_objects) if j != i]].sum(dim=1, keepdim=True)
                for i in range(num_objects)], dim=1)
        else:
            others = torch.zeros_like(masks)
        value, hidden = self.value_encoder(frame, f16, hidden, masks, others, is_deep_update)  # type: ignore[arg-type]
        return value, hidden

    def segment(self, features: Features, memory_readout: Tensor, hidden: Tensor | None,
                h_out: bool = True, strip_bg: bool = True
                ) -> tuple[Tensor | None, Tensor, Tensor]:
        """Decode masks from the memory read-out ``B x N x value_dim x h x w``.

        Returns ``(new hidden or None, aggregated logits, probabilities)``; the logits and
        probabilities include the background as channel 0 unless ``strip_bg``.
        """
        new_hidden, logits = self.decoder(*features, hidden, memory_readout, h_out=h_out)
        agg_logits, prob = aggregate(torch.sigmoid(logits), dim=1)
        if strip_bg:
            prob = prob[:, 1:]
        return new_hidden, agg_logits, prob

    def forward(self, *args: object, **kwargs: object) -> None:  # pragma: no cover - guard
        raise TypeError("XMem has no single forward pass; use encode_key, encode_value and "
                        "segment, or editor.backends.xmem.InferenceCore")
