"""Building blocks of the XMem network.

Notation: ``x`` features depend on the image only (``B x C x H x W``); ``g`` features also
depend on an object mask and carry an object dimension (``B x N x C x H x W``). Trailing
numbers are strides (``f16`` is at 1/16 resolution). Attribute names are those of the
original checkpoints, so a state dict loads strictly.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from editor.backends.xmem.backbone import BasicBlock, Bottleneck, make_layer, stem

__all__ = [
    "CBAM",
    "Decoder",
    "FeatureFusionBlock",
    "GroupConv2d",
    "GroupResBlock",
    "HiddenReinforcer",
    "HiddenUpdater",
    "KeyEncoder",
    "KeyProjection",
    "UpsampleBlock",
    "ValueEncoder",
]


def _fold(g: Tensor) -> Tensor:
    """``B x N x ...`` -> ``(B*N) x ...``."""
    return g.flatten(start_dim=0, end_dim=1)


def _unfold(g: Tensor, batch_size: int, num_objects: int) -> Tensor:
    """``(B*N) x ...`` -> ``B x N x ...``."""
    return g.view(batch_size, num_objects, *g.shape[1:])


def _resize_groups(g: Tensor, ratio: float, mode: str) -> Tensor:
    """Interpolate ``B x N x C x H x W`` features spatially by ``ratio``."""
    align = False if mode == "bilinear" else None
    out = F.interpolate(_fold(g), scale_factor=ratio, mode=mode, align_corners=align)
    return _unfold(out, *g.shape[:2])


def _broadcast_objects(x: Tensor, num_objects: int) -> Tensor:
    """``B x C x H x W`` -> ``B x N x C x H x W`` (a view)."""
    return x.unsqueeze(1).expand(-1, num_objects, -1, -1, -1)


class GroupConv2d(nn.Conv2d):
    """A 2-D convolution applied to every object of ``B x N x C x H x W`` features."""

    def forward(self, g: Tensor) -> Tensor:
        return _unfold(super().forward(_fold(g)), *g.shape[:2])


class GroupResBlock(nn.Module):
    """Pre-activation residual block: ``conv2(relu(conv1(relu(g)))) + shortcut(g)``.

    The shortcut is a 3x3 convolution when the channel count changes, else the identity.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.downsample = (None if in_dim == out_dim
                           else GroupConv2d(in_dim, out_dim, kernel_size=3, padding=1))
        self.conv1 = GroupConv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.conv2 = GroupConv2d(out_dim, out_dim, kernel_size=3, padding=1)

    def forward(self, g: Tensor) -> Tensor:
        out = self.conv2(F.relu(self.conv1(F.relu(g))))
        shortcut = g if self.downsample is None else self.downsample(g)
        return out + shortcut


class _ChannelGate(nn.Module):
    """CBAM channel attention: a shared MLP on global average- and max-pooled features."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels, channels // reduction),
            nn.ReLU(),
            nn.Linear(channels // reduction, channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        att = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        return x * torch.sigmoid(att)[:, :, None, None]


class _SpatialConv(nn.Module):
    """Holds the 7x7 convolution of the spatial gate (checkpoint key ``spatial.conv``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size=7, padding=3)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class _SpatialGate(nn.Module):
    """CBAM spatial attention: a 7x7 convolution on the channel-wise max and mean."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = _SpatialConv()

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(pooled))


class CBAM(nn.Module):
    """Convolutional block attention module (channel gate, then spatial gate)."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.ChannelGate = _ChannelGate(channels, reduction)  # checkpoint name
        self.SpatialGate = _SpatialGate()  # checkpoint name

    def forward(self, x: Tensor) -> Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class FeatureFusionBlock(nn.Module):
    """Fuses image features ``x`` into every object's features ``g``.

    ``cat(x, g)`` (image channels first) -> GroupResBlock -> ``+ CBAM`` -> GroupResBlock.
    """

    def __init__(self, x_in_dim: int, g_in_dim: int, g_mid_dim: int, g_out_dim: int) -> None:
        super().__init__()
        self.block1 = GroupResBlock(x_in_dim + g_in_dim, g_mid_dim)
        self.attention = CBAM(g_mid_dim)
        self.block2 = GroupResBlock(g_mid_dim, g_out_dim)

    def forward(self, x: Tensor, g: Tensor) -> Tensor:
        batch_size, num_objects = g.shape[:2]
        g = torch.cat([_broadcast_objects(x, num_objects), g], dim=2)
        g = self.block1(g)
        r = _unfold(self.attention(_fold(g)), batch_size, num_objects)
        return self.block2(g + r)


class UpsampleBlock(nn.Module):
    """Decoder stage: ``GroupResBlock(skip_conv(skip) + upsample_x2(g))``."""

    def __init__(self, skip_dim: int, g_up_dim: int, g_out_dim: int) -> None:
        super().__init__()
        self.skip_conv = nn.Conv2d(skip_dim, g_up_dim, kernel_size=3, padding=1)
        self.out_conv = GroupResBlock(g_up_dim, g_out_dim)

    def forward(self, skip_f: Tensor, up_g: Tensor) -> Tensor:
        skip_f = self.skip_conv(skip_f)
        g = _resize_groups(up_g, 2.0, "bilinear")
        return self.out_conv(_broadcast_objects(skip_f, g.shape[1]) + g)


def _gru(values: Tensor, h: Tensor, hidden_dim: int) -> Tensor:
    """XMem's GRU variant: ``forget * h * (1 - update) + update * tanh(candidate)``."""
    forget = torch.sigmoid(values[:, :, :hidden_dim])
    update = torch.sigmoid(values[:, :, hidden_dim:2 * hidden_dim])
    new = torch.tanh(values[:, :, 2 * hidden_dim:])
    return forget * h * (1 - update) + update * new


class HiddenUpdater(nn.Module):
    """Decoder-side sensory memory update from multi-scale decoder features."""

    def __init__(self, g_dims: tuple[int, int, int], mid_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.g16_conv = GroupConv2d(g_dims[0], mid_dim, kernel_size=1)
        self.g8_conv = GroupConv2d(g_dims[1], mid_dim, kernel_size=1)
        self.g4_conv = GroupConv2d(g_dims[2], mid_dim, kernel_size=1)
        self.transform = GroupConv2d(mid_dim + hidden_dim, hidden_dim * 3, kernel_size=3, padding=1)

    def forward(self, g16: Tensor, g8: Tensor, g4: Tensor, h: Tensor) -> Tensor:
        g = (self.g16_conv(g16)
             + self.g8_conv(_resize_groups(g8, 1 / 2, "area"))
             + self.g4_conv(_resize_groups(g4, 1 / 4, "area")))
        return _gru(self.transform(torch.cat([g, h], dim=2)), h, self.hidden_dim)


class HiddenReinforcer(nn.Module):
    """Value-encoder-side ("deep") sensory memory update from the new memory value."""

    def __init__(self, g_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.transform = GroupConv2d(g_dim + hidden_dim, hidden_dim * 3, kernel_size=3, padding=1)

    def forward(self, g: Tensor, h: Tensor) -> Tensor:
        return _gru(self.transform(torch.cat([g, h], dim=2)), h, self.hidden_dim)


class KeyEncoder(nn.Module):
    """ResNet-50 trunk up to ``layer3``; returns ``(f16, f8, f4)`` (1024, 512, 256 channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1, self.maxpool = stem(3)
        self.res2 = make_layer(Bottleneck, 64, 64, 3)
        self.layer2 = make_layer(Bottleneck, 256, 128, 4, stride=2)
        self.layer3 = make_layer(Bottleneck, 512, 256, 6, stride=2)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(image))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4


class ValueEncoder(nn.Module):
    """ResNet-18 trunk on ``[RGB, own mask, other masks]`` per object, fused with ``f16``.

    Returns the memory value ``B x N x value_dim x H/16 x W/16`` and the (optionally
    deep-updated) sensory memory.
    """

    def __init__(self, value_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.conv1, self.bn1, self.maxpool = stem(5)
        self.layer1 = make_layer(BasicBlock, 64, 64, 2)
        self.layer2 = make_layer(BasicBlock, 64, 128, 2, stride=2)
        self.layer3 = make_layer(BasicBlock, 128, 256, 2, stride=2)
        self.fuser = FeatureFusionBlock(1024, 256, value_dim, value_dim)
        self.hidden_reinforce = HiddenReinforcer(value_dim, hidden_dim) if hidden_dim > 0 else None

    def forward(self, image: Tensor, f16: Tensor, h: Tensor, masks: Tensor, others: Tensor,
                is_deep_update: bool = True) -> tuple[Tensor, Tensor]:
        batch_size, num_objects = masks.shape[:2]
        g = torch.stack([masks, others], dim=2)
        g = torch.cat([_broadcast_objects(image, num_objects), g], dim=2)
        g = _fold(g)
        g = self.maxpool(self.bn1(self.conv1(g)))  # the original pools before the ReLU
        g = F.relu(g)
        g = self.layer3(self.layer2(self.layer1(g)))
        g = self.fuser(f16, _unfold(g, batch_size, num_objects))
        if is_deep_update and self.hidden_reinforce is not None:
            h = self.hidden_reinforce(g, h)
        return g, h


class KeyProjection(nn.Module):
    """Key, shrinkage (``d**2 + 1``) and selection (``sigmoid(e)``) heads on ``f16``."""

    def __init__(self, in_dim: int, key_dim: int) -> None:
        super().__init__()
        self.key_proj = nn.Conv2d(in_dim, key_dim, kernel_size=3, padding=1)
        self.d_proj = nn.Conv2d(in_dim, 1, kernel_size=3, padding=1)
        self.e_proj = nn.Conv2d(in_dim, key_dim, kernel_size=3, padding=1)

    def forward(self, x: Tensor, need_s: bool, need_e: bool
                ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        shrinkage = self.d_proj(x) ** 2 + 1 if need_s else None
        selection = torch.sigmoid(self.e_proj(x)) if need_e else None
        return self.key_proj(x), shrinkage, selection


class Decoder(nn.Module):
    """Memory read-out + sensory memory -> per-object mask logits at full (padded) size."""

    def __init__(self, value_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.fuser = FeatureFusionBlock(1024, value_dim + hidden_dim, 512, 512)
        self.hidden_update = (HiddenUpdater((512, 256, 256 + 1), 256, hidden_dim)
                              if hidden_dim > 0 else None)
        self.up_16_8 = UpsampleBlock(512, 512, 256)
        self.up_8_4 = UpsampleBlock(256, 256, 256)
        self.pred = nn.Conv2d(256, 1, kernel_size=3, padding=1)

    def forward(self, f16: Tensor, f8: Tensor, f4: Tensor, hidden: Tensor | None,
                memory_readout: Tensor, h_out: bool = True) -> tuple[Tensor | None, Tensor]:
        """Returns ``(new hidden or None, logits B x N x H x W)``.

        The new hidden state is only computed when ``h_out`` and the model has a sensory memory.
        """
        batch_size, num_objects = memory_readout.shape[:2]
        if self.hidden_update is not None:
            assert hidden is not None, "this model needs a hidden state"
            g16 = self.fuser(f16, torch.cat([memory_readout, hidden], dim=2))
        else:
            g16 = self.fuser(f16, memory_readout)
        g8 = self.up_16_8(f8, g16)
        g4 = self.up_8_4(f4, g8)
        logits = self.pred(F.relu(_fold(g4)))

        new_hidden = None
        if h_out and self.hidden_update is not None:
            assert hidden is not None
            g4 = torch.cat([g4, _unfold(logits, batch_size, num_objects)], dim=2)
            new_hidden = self.hidden_update(g16, g8, g4, hidden)

        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        return new_hidden, logits.view(batch_size, num_objects, *logits.shape[-2:])
