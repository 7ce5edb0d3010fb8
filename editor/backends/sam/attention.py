"""Image-encoder attention through ``torch.nn.functional.scaled_dot_product_attention``.

The stock ViT attention materialises ``softmax(q·kᵀ·scale + rel_h + rel_w) · v`` step by
step. The same quantity is one SDPA call with the decomposed relative-position terms
passed as an additive bias; SDPA's default scale is SAM's ``head_dim ** -0.5``, so the math
is identical and the fused kernels (flash / memory-efficient on CUDA) do the work. The
relative-position index tables depend only on the token grid and are computed once per
grid size.

:func:`enable_fused_attention` swaps the class of every attention module of an image
encoder; parameters, state-dict keys and outputs (to float rounding) are unchanged.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from segment_anything.modeling.image_encoder import Attention


def _relative_table(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Embeddings (q_size × k_size × C) for every query/key offset along one axis."""
    span = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != span:  # a checkpoint trained at another grid size
        rel_pos = F.interpolate(rel_pos.T[None], size=span, mode="linear")[0].T
    q_step = max(k_size / q_size, 1.0)
    k_step = max(q_size / k_size, 1.0)
    q = torch.arange(q_size, device=rel_pos.device)[:, None] * q_step
    k = torch.arange(k_size, device=rel_pos.device)[None, :] * k_step
    index = (q - k + (k_size - 1) * k_step).long()
    return rel_pos[index]


class FusedAttention(Attention):
    """SAM's windowed/global ViT attention, computed by one SDPA call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        heads = self.num_heads
        qkv = self.qkv(x).reshape(b, h * w, 3, heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # b × heads × hw × c
        bias = None
        if self.use_rel_pos:
            table_h = _relative_table(h, h, self.rel_pos_h).to(q.dtype)
            table_w = _relative_table(w, w, self.rel_pos_w).to(q.dtype)
            grid_q = q.reshape(b, heads, h, w, -1)
            rel_h = torch.einsum("bnhwc,hkc->bnhwk", grid_q, table_h)
            rel_w = torch.einsum("bnhwc,wkc->bnhwk", grid_q, table_w)
            bias = (rel_h[..., :, None] + rel_w[..., None, :]).reshape(b, heads, h * w, h * w)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        out = out.reshape(b, heads, h, w, -1).permute(0, 2, 3, 1, 4).reshape(b, h, w, -1)
        return self.proj(out)


def enable_fused_attention(image_encoder: torch.nn.Module) -> int:
    """Use :class:`FusedAttention` in every attention block; returns how many were switched."""
    n = 0
    for module in image_encoder.modules():
        if type(module) is Attention:
            module.__class__ = FusedAttention
            n += 1
    return n
