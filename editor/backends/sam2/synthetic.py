"""SAM 2-family models with random weights, for tests and benchmarks without checkpoints.

* :func:`small_config`: the real architecture at a small input size with a short backbone
  (for fast tests on a CPU): every shape rule of the model holds, so the code paths are
  the published models' ones; nothing about quality can be learnt from it.
* :func:`published_config`: the published models' shapes (SAM 2.1 tiny…large, EdgeTAM), for
  speed and memory figures (speed does not depend on weight values).
* :func:`random_model`: such a model with seeded random weights; ``visible_bias`` shifts the
  occlusion head's output so that random weights see the object (with its untrained bias
  near 0 the model would report every object hidden and every mask empty).
"""
from __future__ import annotations

from typing import Any

import torch

from editor.backends.sam2.checkpoint import FAMILIES, consistent_object_scores, transformers_class

PUBLISHED = {
    # name: (family, hiera hidden size, blocks per stage, heads per stage, global attention blocks,
    #        window sizes, window background size)
    "sam2.1-tiny": ("sam2", 96, [1, 2, 7, 2], [1, 2, 4, 8], [5, 7, 9], [8, 4, 14, 7], [7, 7]),
    "sam2.1-small": ("sam2", 96, [1, 2, 11, 2], [1, 2, 4, 8], [7, 10, 13], [8, 4, 14, 7], [7, 7]),
    "sam2.1-base-plus": ("sam2", 112, [2, 3, 16, 3], [2, 4, 8, 16], [12, 16, 20], [8, 4, 14, 7], [14, 14]),
    "sam2.1-large": ("sam2", 144, [2, 6, 36, 4], [2, 4, 8, 16], [23, 33, 43], [8, 4, 16, 8], [7, 7]),
    "edgetam": ("edgetam", 0, [], [], [], [], []),
}
"""Shapes of the published models (Meta's SAM 2.1 configs; EdgeTAM: RepViT-M1 via timm)."""


def small_config(family: str = "sam2", image_size: int = 128) -> Any:
    """A small config of ``family`` (``sam2``/``edgetam``): ``image_size`` px input (a multiple
    of 32), a 5-block Hiera backbone, 2 memory-attention layers, 3 memory frames and 4 object
    pointers (so a dozen frames exercise every memory rule)."""
    s = image_size
    vision = dict(model_type="sam2_vision_model",
                  backbone_config=dict(model_type="sam2_hiera_det_model", image_size=[s, s], hidden_size=32,
                                       blocks_per_stage=[1, 1, 2, 1], global_attention_blocks=[3],
                                       window_size_per_stage=[4, 4, 4, 4], embed_dim_per_stage=[32, 64, 128, 256],
                                       num_attention_heads_per_stage=[1, 1, 1, 1]),
                  backbone_channel_list=[256, 128, 64, 32],
                  backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8], [s // 16, s // 16]])
    common: dict[str, Any] = dict(image_size=s, vision_config=vision, prompt_encoder_config=dict(image_size=s),
                                  mask_decoder_config=dict(mlp_dim=256), memory_attention_num_layers=2,
                                  memory_attention_rope_feat_sizes=[s // 16, s // 16], memory_fuser_intermediate_dim=256,
                                  num_maskmem=3, max_object_pointers_in_encoder=4)
    if family == "sam2":
        common["memory_attention_feed_forward_hidden_size"] = 256
    else:
        common.update(memory_attention_mlp_hidden_size=256, memory_attention_rope_k_sizes=[s // 32, s // 32],
                      perceiver_resampler_num_latents=16, perceiver_resampler_num_latents_2d=16)
    return transformers_class(FAMILIES[family].config_class)(**common)


def published_config(name: str) -> Any:
    """The config of a published model (``sam2.1-tiny`` … ``sam2.1-large``, ``edgetam``)."""
    family, hidden, blocks, heads, global_blocks, windows, background = PUBLISHED[name]
    if family == "edgetam":
        timm = transformers_class("TimmWrapperConfig")(architecture="repvit_m1.dist_in1k", model_args={
            "in_chans": 3, "features_only": True, "out_indices": [0, 1, 2, 3]})
        vision = transformers_class("EdgeTamVisionConfig")(backbone_config=timm)
        return transformers_class("EdgeTamVideoConfig")(vision_config=vision)
    channels = [hidden * 8, hidden * 4, hidden * 2, hidden]
    vision = dict(model_type="sam2_vision_model",
                  backbone_config=dict(model_type="sam2_hiera_det_model", hidden_size=hidden, blocks_per_stage=blocks,
                                       num_attention_heads_per_stage=heads, global_attention_blocks=global_blocks,
                                       window_size_per_stage=windows, embed_dim_per_stage=channels[::-1],
                                       window_positional_embedding_background_size=background),
                  backbone_channel_list=channels)
    return transformers_class("Sam2VideoConfig")(vision_config=vision)


def random_model(config: Any, seed: int = 0, visible_bias: float = 4.0, device: str = "cpu") -> Any:
    """A model of ``config`` with weights drawn from ``seed`` (eval mode, on ``device``)."""
    family = next(f for f in FAMILIES.values() if config.model_type in f.model_types)
    torch.manual_seed(seed)
    model = transformers_class(family.model_class)(config)
    with torch.no_grad():
        model.mask_decoder.pred_obj_score_head.proj_out.bias.add_(visible_bias)
    return consistent_object_scores(model.to(device).eval())
