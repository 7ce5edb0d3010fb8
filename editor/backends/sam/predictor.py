"""Image embeddings (cached) and prompt decoding: SAM inference without ``SamPredictor``.

:class:`SamEngine` owns one SAM model on one device:

* :meth:`SamEngine.embed` runs the image encoder once per frame and keeps the embedding
  in a bounded LRU cache keyed by the caller's frame key, so every further click on that
  frame costs only the prompt encoder and mask decoder;
* :meth:`SamEngine.predict` decodes points / a box / a mask prompt into up to three
  candidate masks with SAM's predicted IoU scores and the low-resolution logits (for
  refinement rounds), upsampling only the masks asked for to the source resolution.

Precision: ``fp32`` everywhere by default on CPU; on CUDA the image encoder runs under
bf16 autocast (``precision="auto"``), its output is cast back to float32 before the
decoder, and nothing is converted to numpy inside autocast (the stock predictor's crash).
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from editor.backends.sam.attention import enable_fused_attention
from editor.backends.sam.transforms import resize_image, resized_size, scale_box, scale_points

Precision = Literal["auto", "fp32", "bf16", "fp16"]


@dataclass(frozen=True)
class Embedding:
    """An encoded frame: features 1×C×g×g (float32) and the geometry to map back."""

    features: torch.Tensor
    original_size: tuple[int, int]
    input_size: tuple[int, int]


@dataclass(frozen=True)
class Prediction:
    """Candidate masks of one decode, best first is *not* implied: use :attr:`best`.

    ``scores`` are SAM's predicted IoUs (C,), ``low_res`` the C×(s/4)×(s/4) logits in the
    padded square (feed one back as a mask prompt), ``masks`` bool C×H×W at the source
    size for the candidates that were upsampled (all of them unless ``only_best``).
    """

    scores: np.ndarray
    low_res: torch.Tensor
    masks: dict[int, np.ndarray]

    @property
    def best(self) -> int:
        return int(np.argmax(self.scores))


def image_key(image: np.ndarray) -> str:
    """A cheap fingerprint of a frame (shape + a subsample of its pixels)."""
    sample = np.ascontiguousarray(image[::7, ::7])
    return f"{image.shape}:{hashlib.blake2b(sample.tobytes(), digest_size=12).hexdigest()}"


class SamEngine:
    """One SAM model on one device, with an LRU cache of image embeddings."""

    def __init__(self, model: torch.nn.Module, device: torch.device | str = "cpu", *,
                 precision: Precision = "auto", cache_size: int = 4, fused_attention: bool = True,
                 compile: bool = False) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        if fused_attention:
            enable_fused_attention(self.model.image_encoder)
        self.precision = self._resolve(precision)
        self.image_size = int(self.model.image_encoder.img_size)
        self.cache_size = max(1, int(cache_size))
        self._cache: OrderedDict[Hashable, Embedding] = OrderedDict()
        self.encoder_calls = 0
        self._encoder = torch.compile(self.model.image_encoder) if compile else self.model.image_encoder

    def _resolve(self, precision: Precision) -> torch.dtype:
        if precision == "auto":
            if self.device.type == "cuda" and torch.cuda.is_bf16_supported():
                return torch.bfloat16
            return torch.float32
        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]

    # -- encoder -------------------------------------------------------------------------
    @torch.inference_mode()
    def embed(self, image: np.ndarray, key: Hashable | None = None) -> Embedding:
        """The embedding of an RGB uint8 H×W×3 frame (cached under ``key``, default a fingerprint)."""
        key = image_key(image) if key is None else key
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        resized = resize_image(image, self.image_size)
        x = torch.from_numpy(np.array(resized)).to(self.device).permute(2, 0, 1)[None].float()
        x = self.model.preprocess(x)  # normalise, pad right/bottom to a square
        self.encoder_calls += 1
        if self.precision == torch.float32:
            features = self._encoder(x)
        else:
            with torch.autocast(self.device.type, dtype=self.precision):
                features = self._encoder(x)
        emb = Embedding(features.float(), image.shape[:2], resized.shape[:2])
        self._cache[key] = emb
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return emb

    def clear_cache(self) -> None:
        self._cache.clear()

    # -- decoder -------------------------------------------------------------------------
    @torch.inference_mode()
    def predict(self, emb: Embedding, points: np.ndarray | None = None, labels: np.ndarray | None = None,
                box: np.ndarray | None = None, mask_logits: torch.Tensor | np.ndarray | None = None, *,
                multimask: bool = True, only_best: bool = True) -> Prediction:
        """Decode prompts (source pixels) on an embedded frame.

        ``mask_logits`` is a (s/4)² logit grid in the padded square: a previous
        ``Prediction.low_res[i]`` or :func:`~editor.backends.sam.transforms.mask_to_prompt_logits`.
        """
        model, dev = self.model, self.device
        point_arg = None
        if points is not None and len(points):
            coords = torch.from_numpy(scale_points(points, emb.original_size, self.image_size)).to(dev)
            lab = torch.as_tensor(np.asarray(labels, np.int64), device=dev)
            point_arg = (coords[None], lab[None])
        box_arg = None
        if box is not None:
            box_arg = torch.from_numpy(scale_box(box, emb.original_size, self.image_size)).to(dev)[None]
        mask_arg = None
        if mask_logits is not None:
            mask_arg = torch.as_tensor(mask_logits, dtype=torch.float32, device=dev).reshape(
                1, 1, self.image_size // 4, self.image_size // 4)
        sparse, dense = model.prompt_encoder(points=point_arg, boxes=box_arg, masks=mask_arg)
        low_res, iou = model.mask_decoder(image_embeddings=emb.features, image_pe=model.prompt_encoder.get_dense_pe(),
                                          sparse_prompt_embeddings=sparse, dense_prompt_embeddings=dense,
                                          multimask_output=multimask)
        scores = iou[0].float().cpu().numpy()
        wanted = [int(np.argmax(scores))] if only_best else list(range(len(scores)))
        masks = {i: self.upsample(low_res[0, i], emb) for i in wanted}
        return Prediction(scores, low_res[0], masks)

    def upsample(self, low_res: torch.Tensor, emb: Embedding) -> np.ndarray:
        """One (s/4)² logit grid → bool mask at the source size (SAM's own postprocessing)."""
        x = F.interpolate(low_res[None, None].float(), (self.image_size, self.image_size), mode="bilinear",
                          align_corners=False)
        h, w = emb.input_size
        x = F.interpolate(x[..., :h, :w], emb.original_size, mode="bilinear", align_corners=False)
        return (x[0, 0] > self.model.mask_threshold).cpu().numpy()


__all__ = ["Embedding", "Prediction", "SamEngine", "image_key", "resized_size"]
