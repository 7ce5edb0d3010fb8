"""Streaming a SAM 2-family model over frames one at a time, with flat memory.

:class:`StreamingSession` drives transformers' own streaming inference (the model's
``forward(inference_session, frame=…)``, one frame per call) and, after every frame, prunes
the inference session to what the model reads again:

* per object, the **conditioning frames** (frames where a mask was given: prompts and
  corrections) — all of them, as SAM 2 attends to all (``max_cond_frame_num = -1``);
* of the other frames, the memory (``maskmem_features``, ``maskmem_pos_enc``) of the last
  ``num_maskmem − 1`` and the object pointer of the last ``max_object_pointers_in_encoder − 1``
  (the only offsets SAM 2's memory attention reads);
* no frame pixels and no vision features beyond the frame being processed, no mask logits
  (output once), no per-frame bookkeeping of frames already passed.

So the state is flat in the number of frames and grows only with objects and prompts
(:meth:`StreamingSession.state_size` counts it). Frame indices inside the session count the
pass's steps (0, 1, 2…) whatever the direction, so a backward pass is a forward pass over
reversed frames: transformers' ``reverse`` flag, which only mirrors those offsets, is never
needed. Objects can be added on any step (a mask on that step), corrected (a new mask:
another conditioning frame) and removed (:meth:`remove`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from editor.backends.sam2.checkpoint import FAMILIES, consistent_object_scores, transformers_class

KEPT_KEYS = ("maskmem_features", "maskmem_pos_enc", "object_pointer")
"""What a stored frame output keeps after its step (all that later frames read)."""


def session_class(model: Any) -> Any:
    """The transformers inference-session class of ``model``'s family."""
    for family in FAMILIES.values():
        if type(model).__name__ == family.model_class:
            return transformers_class(family.session_class)
    raise TypeError(f"not a SAM 2-family video model: {type(model).__name__}")


@dataclass(frozen=True)
class StepOutput:
    """One frame's result: ``object_ids`` (trackedit ids, model order), ``logits`` (float32
    N×1×h×w low-resolution mask logits, ``h = w = image_size / 4``) and ``object_scores``
    (float32 N, the occlusion head's logit: > 0 means the object is visible)."""

    object_ids: list[int]
    logits: torch.Tensor
    object_scores: torch.Tensor


@dataclass(frozen=True)
class StateSize:
    """What a session keeps: tensors and their bytes, and how many frame entries (all objects)."""

    tensors: int
    bytes: int
    frames: int


class StreamingSession:
    """transformers' streaming inference session for one pass, pruned after every frame.

    ``model`` is a ``Sam2VideoModel`` or ``EdgeTamVideoModel`` (eval mode) on ``device``;
    ``autocast``: ``None`` (float32) or a reduced dtype for ``torch.autocast``.
    """

    def __init__(self, model: Any, device: torch.device | str = "cpu", autocast: torch.dtype | None = None) -> None:
        self.model = consistent_object_scores(model)
        self.device = torch.device(device)
        self.autocast = autocast
        self.session = session_class(model)(inference_device=self.device, inference_state_device=self.device,
                                            video_storage_device=self.device, dtype=torch.float32,
                                            max_vision_features_cache_size=1)
        self.index = 0
        self.num_maskmem = int(model.config.num_maskmem)
        self.num_pointers = int(model.config.max_object_pointers_in_encoder)

    @property
    def object_ids(self) -> list[int]:
        """The objects tracked, in the model's order."""
        return list(self.session.obj_ids)

    def step(self, pixels: torch.Tensor, masks: dict[int, torch.Tensor], *, learn: bool = True) -> StepOutput | None:
        """Process the next frame (``pixels``: float32 3×S×S, :func:`~editor.backends.sam2.pixels.to_pixels`)
        with ``masks`` (object id → float32 1×1×S×S in {0, 1}) given on it: new objects or
        corrections, which become conditioning frames. ``None`` when no object is tracked.

        ``learn=False`` (a frame decoded with errors): the frame is segmented as usual, but
        none of its memory is kept — no memory features or object pointer for later frames,
        no conditioning frame for a correction; only an object that starts here keeps its
        first mask's conditioning frame (SAM 2 cannot track from nothing). Later frames
        read the memory around it, as SAM 2 does for frames it has no output for."""
        t = self.index
        known = set(self.session.obj_ids)
        self.index += 1
        s = self.session
        for oid, mask in masks.items():
            idx = s.obj_id_to_idx(oid)
            s.add_mask_inputs(idx, t, mask)
            s.remove_point_inputs(idx, t)
        s.obj_with_new_inputs = list(masks)
        if s.get_obj_num() == 0:
            return None
        context = (torch.autocast(self.device.type, dtype=self.autocast) if self.autocast is not None
                   else contextlib.nullcontext())
        with torch.inference_mode(), context:
            out = self.model(s, frame=pixels.to(self.device), frame_idx=t)
        self._prune(t)
        if not learn:
            self._forget_frame(t, known)
        scores = out.object_score_logits.reshape(-1).float()
        return StepOutput(list(out.object_ids), out.pred_masks.float(), scores)

    def _prune(self, t: int) -> None:
        """Drop what no later frame reads (see the module docstring)."""
        s = self.session
        s.processed_frames = {}
        s.cache.clear_all()
        for idx, outputs in s.output_dict_per_obj.items():
            for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
                stored = outputs[kind]
                for f in list(stored):
                    age = t + 1 - f  # its offset from the next frame
                    if kind == "cond_frame_outputs" or age <= self.num_maskmem - 1:
                        keep: tuple[str, ...] = KEPT_KEYS
                    elif age <= self.num_pointers - 1:
                        keep = ("object_pointer",)
                    else:
                        del stored[f]
                        continue
                    entry = stored[f]
                    for key in [k for k in entry if k not in keep]:
                        del entry[key]
            s.frames_tracked_per_obj[idx].clear()
            s.point_inputs_per_obj[idx].clear()
            s.mask_inputs_per_obj[idx].clear()

    def _forget_frame(self, t: int, known: set[int]) -> None:
        """Drop what step ``t`` stored: every object's memory of it, and the conditioning
        frames it made for objects tracked before it (``known``)."""
        s = self.session
        for oid in s.obj_ids:
            outputs = s.output_dict_per_obj[s.obj_id_to_idx(oid)]
            outputs["non_cond_frame_outputs"].pop(t, None)
            if oid in known:
                outputs["cond_frame_outputs"].pop(t, None)

    def remove(self, ids: list[int] | set[int]) -> None:
        """Stop tracking ``ids`` (unknown ids are ignored); what was kept for them is dropped."""
        s = self.session
        gone = {oid for oid in ids if oid in s.obj_ids}
        if not gone:
            return
        keep = [oid for oid in s.obj_ids if oid not in gone]
        per_object = {oid: (s.point_inputs_per_obj[s.obj_id_to_idx(oid)], s.mask_inputs_per_obj[s.obj_id_to_idx(oid)],
                            s.output_dict_per_obj[s.obj_id_to_idx(oid)], s.frames_tracked_per_obj[s.obj_id_to_idx(oid)])
                      for oid in keep}
        s.reset_tracking_data()  # the model's bookkeeping, rebuilt below with the objects kept
        for oid in keep:
            idx = s.obj_id_to_idx(oid)
            points, mask_inputs, outputs, tracked = per_object[oid]
            s.point_inputs_per_obj[idx] = points
            s.mask_inputs_per_obj[idx] = mask_inputs
            s.output_dict_per_obj[idx] = outputs
            s.frames_tracked_per_obj[idx] = tracked

    def state_size(self) -> StateSize:
        """Tensors (and bytes) the session holds: frames, cached features, per-object state."""
        s = self.session
        seen: set[int] = set()
        tensors = nbytes = frames = 0

        def count(value: Any) -> None:
            nonlocal tensors, nbytes
            if isinstance(value, torch.Tensor):
                if id(value) not in seen:
                    seen.add(id(value))
                    tensors += 1
                    nbytes += value.numel() * value.element_size()
            elif isinstance(value, dict):
                for v in value.values():
                    count(v)
            elif isinstance(value, (list, tuple)):
                for v in value:
                    count(v)

        count(s.processed_frames or {})
        count(s.cache._vision_features)
        for outputs in s.output_dict_per_obj.values():
            frames += len(outputs["cond_frame_outputs"]) + len(outputs["non_cond_frame_outputs"])
            count(outputs)
        count(s.point_inputs_per_obj)
        count(s.mask_inputs_per_obj)
        return StateSize(tensors, nbytes, frames)

    def close(self) -> None:
        """Free everything the session holds."""
        self.session.reset_inference_session()
        self.session.processed_frames = {}
