"""Segment Anything (facebookresearch ``segment-anything``) as trackedit's model segmenter.

* :mod:`~editor.backends.sam.variants`: vit_b / vit_l / vit_h shapes, detection from a state dict.
* :mod:`~editor.backends.sam.checkpoint`: strict, tensors-only loading with one-line errors.
* :mod:`~editor.backends.sam.transforms`: resize / coordinate / mask-prompt geometry.
* :mod:`~editor.backends.sam.attention`: SDPA attention with the relative-position bias.
* :mod:`~editor.backends.sam.predictor`: :class:`SamEngine`, cached embeddings and prompt decoding.
* :mod:`~editor.backends.sam.segmenter`: :class:`SamSegmenter`, the backend the pipeline uses.

Importing this package imports torch and segment_anything (which needs torchvision).
"""
from editor.backends.sam.checkpoint import load_sam, model_from_state_dict, read_sam_state_dict
from editor.backends.sam.errors import SamCheckpointError
from editor.backends.sam.predictor import Embedding, Prediction, SamEngine
from editor.backends.sam.segmenter import SamSegmenter, SamSegmenterOptions, remove_small_regions
from editor.backends.sam.transforms import mask_to_prompt_logits, resized_size
from editor.backends.sam.variants import VARIANTS, SamVariant, build_sam, detect_variant

__all__ = ["VARIANTS", "Embedding", "Prediction", "SamCheckpointError", "SamEngine", "SamSegmenter",
           "SamSegmenterOptions", "SamVariant", "build_sam", "detect_variant", "load_sam", "mask_to_prompt_logits",
           "model_from_state_dict", "read_sam_state_dict", "remove_small_regions", "resized_size"]
