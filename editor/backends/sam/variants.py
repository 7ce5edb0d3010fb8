"""SAM image-encoder variants (vit_b / vit_l / vit_h) and detecting them from a state dict.

Everything about a variant can be read from the checkpoint's shapes: the patch embedding
gives the width, the block count the depth, the relative-position tables the head width
and which blocks attend globally (a global block's table spans the whole token grid), the
absolute position embedding the input size. So a fine-tuned or unusual checkpoint is
built to its own shape, and a vit_h file given as vit_b is recognised as vit_h.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from editor.backends.sam.errors import SamCheckpointError

PATCH = 16


@dataclass(frozen=True)
class SamVariant:
    """Shape of a SAM model (the prompt encoder and mask decoder are the same for all)."""

    name: str
    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    image_size: int = 1024
    window_size: int = 14
    prompt_dim: int = 256

    @property
    def embedding_size(self) -> int:
        """Side of the image embedding grid (64 for the official models)."""
        return self.image_size // PATCH


VARIANTS: dict[str, SamVariant] = {
    "vit_b": SamVariant("vit_b", 768, 12, 12, (2, 5, 8, 11)),
    "vit_l": SamVariant("vit_l", 1024, 24, 16, (5, 11, 17, 23)),
    "vit_h": SamVariant("vit_h", 1280, 32, 16, (7, 15, 23, 31)),
}


def build_sam(variant: SamVariant):  # noqa: ANN201 - segment_anything.modeling.Sam
    """An untrained :class:`segment_anything.modeling.Sam` of this shape (eval mode).

    Build it under ``torch.device("meta")`` to get the structure without allocating weights.
    """
    from functools import partial

    import torch
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    grid = variant.embedding_size
    model = Sam(
        image_encoder=ImageEncoderViT(
            img_size=variant.image_size, patch_size=PATCH, embed_dim=variant.embed_dim, depth=variant.depth,
            num_heads=variant.num_heads, mlp_ratio=4, out_chans=variant.prompt_dim, qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True, rel_pos_zero_init=True,
            window_size=variant.window_size, global_attn_indexes=variant.global_attn_indexes),
        prompt_encoder=PromptEncoder(
            embed_dim=variant.prompt_dim, image_embedding_size=(grid, grid),
            input_image_size=(variant.image_size, variant.image_size), mask_in_chans=16),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3, transformer_dim=variant.prompt_dim,
            transformer=TwoWayTransformer(depth=2, embedding_dim=variant.prompt_dim, mlp_dim=2048, num_heads=8),
            iou_head_depth=3, iou_head_hidden_dim=256),
    )
    return model.eval()


_BLOCK = re.compile(r"^image_encoder\.blocks\.(\d+)\.")


def detect_variant(state_dict: Mapping[str, object]) -> SamVariant:
    """The variant a SAM state dict was saved from (tensors or anything with ``.shape``).

    Returns the official variant when the shapes match one, else a ``custom`` variant.

    Raises:
        SamCheckpointError: the dict is not a SAM state dict.
    """
    def shape(key: str) -> tuple[int, ...]:
        if key not in state_dict:
            raise SamCheckpointError(f"not a SAM checkpoint (no {key!r})")
        return tuple(getattr(state_dict[key], "shape", ()))

    embed_dim = shape("image_encoder.patch_embed.proj.weight")[0]
    grid = shape("image_encoder.pos_embed")[1]
    blocks = sorted({int(m.group(1)) for k in state_dict if (m := _BLOCK.match(k))})
    if not blocks or blocks != list(range(len(blocks))):
        raise SamCheckpointError("not a SAM checkpoint (image encoder blocks missing or out of order)")
    spans = [shape(f"image_encoder.blocks.{i}.attn.rel_pos_h") for i in blocks]
    head_dim = spans[0][1]
    global_blocks = tuple(i for i, s in zip(blocks, spans, strict=True) if s[0] == 2 * grid - 1)
    windows = {(s[0] + 1) // 2 for s in spans if s[0] != 2 * grid - 1}
    if len(windows) > 1 or head_dim == 0 or embed_dim % head_dim:
        raise SamCheckpointError("not a SAM checkpoint (inconsistent attention shapes)")
    prompt_dim = shape("mask_decoder.iou_token.weight")[1]
    found = SamVariant("custom", embed_dim, len(blocks), embed_dim // head_dim, global_blocks,
                       image_size=grid * PATCH, window_size=windows.pop() if windows else 14, prompt_dim=prompt_dim)
    for v in VARIANTS.values():
        if (v.embed_dim, v.depth, v.num_heads, v.global_attn_indexes, v.image_size, v.window_size,
                v.prompt_dim) == (found.embed_dim, found.depth, found.num_heads, found.global_attn_indexes,
                                  found.image_size, found.window_size, found.prompt_dim):
            return v
    return found
