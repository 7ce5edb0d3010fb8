"""A SAM 2-family model as trackedit's segmenter: one object's prompts on one frame → its mask.

SAM 2's interactive rules, through the same model that tracks (one model in memory):

* The frame's image features are computed once and kept for the last ``cache_size``
  frames (LRU), so further clicks only run the prompt encoder and mask decoder.
* Points (label 1 include, 0 exclude) and one box go into one decode, with the image
  features conditioned as on a first conditioning frame (SAM 2's "no memory" embedding).
  With at most one click and no box, SAM 2 decodes three candidates and keeps the one with
  the highest predicted IoU (``multimask``; SAM 2 counts a box as two points, so a box
  alone, or two clicks, give one mask). The chosen mask's predicted IoU, times the model's
  presence probability, is the :class:`~editor.api.backends.Segmentation` score.
* A click on a tracked frame refines that frame's mask: the engine hands the tracked mask
  (``masks``) with the clicks, and it enters the decoder as SAM 2's mask prompt (low-
  resolution logits, ±10), as SAM 2's video predictor feeds the frame's previous logits
  with new clicks.
* A mask given alone is the user's exact answer and is returned as given.
* When the model sees no object there (object score ≤ 0), the mask is empty: that is
  SAM 2's answer, not a failure.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import torch

from editor.api.backends import Segmentation
from editor.api.errors import PromptError
from editor.api.masks import union
from editor.api.prompts import Prompt, gathered
from editor.backends.device import reduced_precision
from editor.backends.sam.predictor import image_key
from editor.backends.sam2.pixels import mask_input, to_pixels, upsample_logits


class Sam2Segmenter:
    """:class:`~editor.api.backends.Segmenter` on a SAM 2-family video model (``Sam2VideoModel``
    or ``EdgeTamVideoModel``) on ``device``."""

    def __init__(self, model: Any, device: str = "cpu", *, precision: str = "auto", multimask: bool = True,
                 cache_size: int = 4) -> None:
        self.model = model
        self.device = torch.device(device)
        self.precision = precision
        self.multimask = multimask
        self.cache_size = cache_size
        self.size = int(model.config.image_size)
        self._cache: OrderedDict[tuple[int, str], list[torch.Tensor]] = OrderedDict()

    def _autocast(self) -> Any:
        dtype = reduced_precision(self.precision, self.device)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def features(self, image: np.ndarray, frame_index: int) -> list[torch.Tensor]:
        """The frame's image features as the mask decoder takes them (high-resolution levels,
        then the last level with the no-memory embedding), cached per (frame, pixels)."""
        key = (frame_index, image_key(image))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        model = self.model
        with torch.inference_mode(), self._autocast():
            out = model.get_image_features(to_pixels(image, self.size, self.device)[None], return_dict=True)
        levels = []
        for feat, (h, w) in zip(out.fpn_hidden_states, model.backbone_feature_sizes):
            levels.append(feat.permute(1, 2, 0).reshape(feat.shape[1], -1, h, w))  # (HW)BC → BCHW
        last = out.fpn_hidden_states[-1] + model.no_memory_embedding
        h, w = model.backbone_feature_sizes[-1]
        levels[-1] = last.permute(1, 2, 0).reshape(last.shape[1], -1, h, w)
        self._cache[key] = levels
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return levels

    def segment(self, image: np.ndarray, frame_index: int, prompts: list[Prompt],
                masks: list[np.ndarray] | None = None) -> Segmentation:
        points, labels, box = gathered(prompts, frame_index, "SAM 2")
        boxes = [box] if box is not None else []
        given = union(masks) if masks else None
        if not points and not boxes:
            if given is None:
                raise PromptError(f"frame {frame_index}: no points, box or mask to segment from")
            return Segmentation(given, 1.0)
        return self.predict(image, frame_index, points, labels, boxes[0] if boxes else None, given)

    def predict(self, image: np.ndarray, frame_index: int, points: list[tuple[float, float]], labels: list[int],
                box: tuple[float, float, float, float] | None = None,
                mask: np.ndarray | None = None) -> Segmentation:
        """Decode one object's clicks, box and mask prompt on ``image`` (rules in the module docstring)."""
        height, width = image.shape[:2]
        sx, sy = self.size / width, self.size / height
        kwargs: dict[str, Any] = {}
        if points:
            xy = torch.tensor([[x * sx, y * sy] for x, y in points], dtype=torch.float32, device=self.device)
            kwargs["input_points"] = xy[None, None]
            kwargs["input_labels"] = torch.tensor(labels, dtype=torch.int64, device=self.device)[None, None]
        if box is not None:
            x0, y0, x1, y1 = box
            kwargs["input_boxes"] = torch.tensor([[[x0 * sx, y0 * sy, x1 * sx, y1 * sy]]], dtype=torch.float32,
                                                 device=self.device)
        if mask is not None:
            kwargs["input_masks"] = mask_input(mask, self.size, self.device) * 20.0 - 10.0
        config = self.model.config
        count = len(points) + (2 if box is not None else 0)
        multimask = self.multimask and config.multimask_min_pt_num <= count <= config.multimask_max_pt_num
        levels = self.features(image, frame_index)
        with torch.inference_mode(), self._autocast():
            out = self.model._single_frame_forward(image_embeddings=levels, multimask_output=multimask, **kwargs)
        iou = out.iou_scores.float().reshape(-1)
        best = int(torch.argmax(iou)) if multimask else 0
        presence = float(torch.sigmoid(out.object_score_logits.float().reshape(-1)[0]))
        logits = upsample_logits(out.pred_masks.reshape(1, 1, *out.pred_masks.shape[-2:]), self.size, height, width)
        score = float(np.clip(float(iou[best]), 0.0, 1.0)) * presence
        return Segmentation((logits[0, 0] > 0).cpu().numpy(), score)
