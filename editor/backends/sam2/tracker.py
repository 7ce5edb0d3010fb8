"""A SAM 2-family model as trackedit's tracker: :class:`Sam2Tracker` hands out :class:`Sam2TrackPass`.

* One :class:`~editor.backends.sam2.session.StreamingSession` per pass: frames go to the
  model one at a time as the engine steps (from the decoder, or for the backward pass from
  the engine's on-disk frame cache); nothing of the video is held.
* A mask given on a frame (a new object, a correction — a click on a tracked frame
  reaches the tracker as the segmenter's refined mask — or an object re-acquired) becomes a
  conditioning frame of that object, exactly as transformers' ``add_inputs_to_inference_session``
  with ``input_masks`` does; other objects are tracked from memory on the same frame.
* A damaged frame (:attr:`Frame.damaged <editor.api.frames.Frame.damaged>`) is segmented
  as usual but leaves nothing in memory (``StreamingSession.step(learn=False)``): later
  frames attend to the frames around it; a correction given on it is output, not kept;
  an object that starts on it keeps that first mask.
* Masks come back at the frame's size (logits > 0); an object the model sees as hidden
  (object score ≤ 0: SAM 2's masks are then empty) is left out of the result, but stays
  tracked, so the model finds it again when it reappears.
* :meth:`Sam2TrackPass.scores` gives, per object of the last step, the model's presence
  probability (the occlusion head's sigmoid), which the engine turns into the confidence
  and ``lost``/``found`` state (:mod:`editor.tracking.model_confidence`).
* ``end_objects`` drops those objects' memory (a shot cut ends them all: the session starts
  afresh).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from editor.api.frames import Frame, VideoInfo
from editor.backends.device import reduced_precision
from editor.backends.sam2.pixels import mask_input, to_masks, to_pixels
from editor.backends.sam2.session import StepOutput, StreamingSession


@dataclass
class Sam2TrackPass:
    """One pass in one direction (the engine gives frames in the pass's order)."""

    model: Any
    device: torch.device
    precision: str = "auto"
    session: StreamingSession = field(init=False)
    last: StepOutput | None = None
    """The model's output on the last frame stepped (``None``: nothing tracked there)."""

    def __post_init__(self) -> None:
        self.size = int(self.model.config.image_size)
        self.session = StreamingSession(self.model, self.device, reduced_precision(self.precision, self.device))

    def step(self, frame: Frame, prompts: dict[int, np.ndarray]) -> dict[int, np.ndarray]:
        """Advance to ``frame`` with ``prompts`` (object id → bool H×W) given on it; returns bool
        H×W masks of the objects the model sees there."""
        self.last = None
        if not prompts and not self.session.object_ids:
            self.session.index += 1
            return {}
        pixels = to_pixels(frame.image, self.size, self.device)
        masks = {oid: mask_input(m, self.size, self.device) for oid, m in sorted(prompts.items())}
        self.last = out = self.session.step(pixels, masks, learn=not frame.damaged)
        if out is None:
            return {}
        height, width = frame.image.shape[:2]
        binary = to_masks(out.logits, self.size, height, width)
        return {oid: binary[k] for k, oid in enumerate(out.object_ids) if binary[k].any()}

    def scores(self) -> dict[int, float]:
        """Object id → the model's probability that the object is visible on the last frame
        stepped (the sigmoid of its occlusion head's logit)."""
        if self.last is None:
            return {}
        presence = torch.sigmoid(self.last.object_scores).tolist()
        return {oid: float(p) for oid, p in zip(self.last.object_ids, presence)}

    def end_objects(self, ids: Iterable[int]) -> None:
        self.session.remove(set(ids))

    def close(self) -> None:
        self.session.close()


@dataclass
class Sam2Tracker:
    """Tracker backend on one loaded SAM 2-family model (``Sam2VideoModel`` / ``EdgeTamVideoModel``)."""

    model: Any
    device: str = "cpu"
    precision: str = "auto"
    """``auto`` (bf16 autocast on CUDA, float32 elsewhere), ``fp32``, ``bf16`` or ``fp16``."""

    def new_pass(self, video: VideoInfo, *, reverse: bool) -> Sam2TrackPass:
        return Sam2TrackPass(self.model, torch.device(self.device), self.precision)
