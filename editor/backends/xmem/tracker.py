"""XMem as a tracker backend: :class:`~editor.api.backends.Tracker` on top of :class:`editor.backends.xmem.InferenceCore`.

* Frames are resized so the shorter side is ``internal_size`` (480 by default, like XMem's
  ``eval.py``; never upscaled; ``None`` = native), normalised with ImageNet statistics;
  the core pads to multiples of 16. Probabilities are upsampled (bilinear) to the source
  size and the argmax gives the masks, so masks come back at full resolution.
* Object ids map to the core's labels 1..N in the order objects appear; an object prompted
  on a later frame joins as a new object group; a prompt for a known object is a
  correction (its mask replaces the prediction and the frame enters memory permanently
  as a memory frame), other objects keep their predictions.
* ``end_objects`` for every object (a shot cut) clears the memory: nothing learnt before a
  cut is used after it. Ending only some objects hides them from the output.
* ``set_review`` (weak-mask refinement, :mod:`editor.tracking.refinement`): each segmented frame's
  masks and probabilities are reviewed before XMem memorises the frame; replaced masks
  are memorised as corrections.
* A damaged frame (:attr:`Frame.damaged <editor.api.frames.Frame.damaged>`) is segmented
  and reviewed as usual but nothing of it enters memory (no memory frame, no sensory
  update; ``InferenceCore.step(learn=False)``); only an object that starts there (its
  first mask) makes it a memory frame, as XMem cannot track from nothing.
* ``precision``: on CUDA the network runs under bf16 autocast by default (XMem's own eval
  used fp16 AMP); memory similarities are always computed in float32 (the expanded
  squared distance cancels badly in 16-bit) and the top-k softmax subtracts the maximum.
* Runs under ``torch.inference_mode``; memory is bounded by the XMem configuration
  (working memory ≤ ``max_mid_term_frames`` frames, long-term ≤ ``max_long_term_elements``).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from editor.api.backends import Review
from editor.api.frames import Frame, VideoInfo
from editor.backends.device import reduced_precision
from editor.backends.xmem import IMAGENET_MEAN, IMAGENET_STD, InferenceCore, XMem, XMemConfig


def internal_scale(width: int, height: int, internal_size: int | None) -> float:
    """Scale factor bringing the shorter side to ``internal_size`` (never above 1)."""
    if not internal_size:
        return 1.0
    return min(1.0, internal_size / float(min(width, height)))


@dataclass
class XMemTrackPass:
    network: XMem
    config: XMemConfig
    video: VideoInfo
    internal_size: int | None = 480
    _core: InferenceCore = field(init=False)
    _ids: list[int] = field(default_factory=list)
    _hidden: set[int] = field(default_factory=set)
    review: Review | None = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        self._core = InferenceCore(self.network, self.config)
        s = internal_scale(self.video.width, self.video.height, self.internal_size)
        self._size = (max(16, round(self.video.width * s)), max(16, round(self.video.height * s)))
        self._mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def _image(self, rgb: np.ndarray) -> torch.Tensor:
        if rgb.shape[1::-1] != self._size:
            rgb = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA)
        t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
        return (t - self._mean) / self._std

    def _mask(self, mask: np.ndarray) -> torch.Tensor:
        m = mask.astype(np.float32)
        if m.shape[::-1] != self._size:
            m = cv2.resize(m, self._size, interpolation=cv2.INTER_AREA)
        return torch.from_numpy((m >= 0.5).astype(np.float32))

    def step(self, frame: Frame, prompts: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        if not self._ids and not prompts:
            return {}
        # a damaged frame is segmented but not learnt from, unless an object starts on it
        learn = not frame.damaged or any(oid not in self._ids or oid in self._hidden for oid in prompts)
        for oid in sorted(prompts):
            if oid not in self._ids:
                self._ids.append(oid)
            self._hidden.discard(oid)
        self._core.set_all_labels(range(1, len(self._ids) + 1))
        mask = valid = None
        if prompts:
            w, h = self._size
            mask = torch.zeros((len(self._ids), h, w))
            for oid, m in prompts.items():
                mask[self._ids.index(oid)] = self._mask(m)
            valid = [self._ids.index(oid) + 1 for oid in prompts]
        kept: list[np.ndarray] = []  # label map of a prediction the review kept

        def review(prob: torch.Tensor) -> tuple[torch.Tensor, list[int]] | None:
            assert self.review is not None
            full, labels = self._full(prob, frame)
            masks = self._masks(labels)
            probs = {oid: full[self._ids.index(oid) + 1].cpu().numpy() for oid in masks}
            accepted = self.review(frame, masks, probs)
            if not accepted:
                kept.append(labels)
                return None
            w, h = self._size
            given = torch.zeros((len(self._ids), h, w))
            for oid, m in accepted.items():
                given[self._ids.index(oid)] = self._mask(m)
            return given, [self._ids.index(oid) + 1 for oid in accepted]

        with self._autocast():
            prob = self._core.step(self._image(frame.image), mask, valid,
                                   review=review if self.review is not None else None, learn=learn)
        if kept:  # the review kept the prediction: reuse its upsampling
            return self._masks(kept[0])
        return self._masks(self._full(prob, frame)[1])

    def _autocast(self) -> contextlib.AbstractContextManager[object]:
        dtype = reduced_precision(self.precision, self._core.device)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self._core.device.type, dtype=dtype)

    def _full(self, prob: torch.Tensor, frame: Frame) -> tuple[torch.Tensor, np.ndarray]:
        """Probabilities at the frame's size and their argmax label map."""
        with torch.inference_mode():
            prob = prob.float()
            if prob.shape[1:] != (frame.height, frame.width):
                prob = F.interpolate(prob.unsqueeze(0).float(), size=(frame.height, frame.width),
                                     mode="bilinear", align_corners=False)[0]
            return prob, prob.argmax(0).to(torch.uint8).cpu().numpy()

    def _masks(self, labels: np.ndarray) -> dict[int, np.ndarray]:
        out = {}
        for k, oid in enumerate(self._ids, start=1):
            if oid in self._hidden:
                continue
            m = labels == k
            if m.any():
                out[oid] = m
        return out

    def set_review(self, review: Review | None) -> None:
        """Check each segmented frame's masks; replacements enter memory (see :mod:`editor.tracking.refinement`)."""
        self.review = review

    def end_objects(self, ids: Iterable[int]) -> None:
        ids = set(ids)
        if self.review is not None:
            self.review.forget(sorted(ids))
        if set(self._ids) <= ids:  # everything ends (a cut): forget the memory entirely
            self._core = InferenceCore(self.network, self.config)
            self._ids.clear()
            self._hidden.clear()
        else:
            self._hidden |= ids & set(self._ids)

    def close(self) -> None:
        self._core.clear_memory()


@dataclass
class XMemTracker:
    """Tracker backend handing out one :class:`XMemTrackPass` (own memory) per pass."""

    network: XMem
    config: XMemConfig = field(default_factory=XMemConfig)
    internal_size: int | None = 480
    precision: str = "auto"
    """``auto`` (bf16 autocast on CUDA, float32 elsewhere), ``fp32``, ``bf16`` or ``fp16``."""
    supports_review: ClassVar[Literal[True]] = True
    """Its passes take refined masks back into memory (:class:`~editor.api.backends.ReviewableTracker`)."""

    def new_pass(self, video: VideoInfo, *, reverse: bool) -> XMemTrackPass:
        return XMemTrackPass(self.network, self.config, video, self.internal_size, precision=self.precision)
