"""Per-frame XMem inference (:class:`InferenceCore`), equivalent to the original engine.

Typical use::

    core = InferenceCore(XMem.from_state_dict(weights), XMemConfig())
    core.set_all_labels([1, 2])
    prob = core.step(image0, mask0, valid_labels=[1, 2])   # (N+1) x H x W, channel 0 = bg
    for image in rest:
        prob = core.step(image)

Images are ``3 x H x W`` float tensors normalised with the ImageNet mean/std; masks are
``N x H x W`` one-hot (or soft) maps over all labels known so far, background excluded.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from editor.backends.xmem.config import XMemConfig
from editor.backends.xmem.memory_manager import MemoryManager
from editor.backends.xmem.network import XMem
from editor.backends.xmem.ops import Padding, aggregate, pad_to_multiple, unpad

__all__ = ["InferenceCore", "Review"]

Review = Callable[[Tensor], "tuple[Tensor, Sequence[int] | None] | None"]
"""``review(prob)`` → ``None`` or ``(mask N x H x W, valid_labels)``; see :meth:`InferenceCore.step`."""


class InferenceCore:
    """Runs XMem frame by frame on one video, keeping its memory between calls.

    The device and dtype follow the network's parameters; inputs are moved there. Every call
    runs under :func:`torch.no_grad` (so the returned tensors are ordinary tensors).
    """

    def __init__(self, network: XMem, config: XMemConfig | None = None) -> None:
        config = XMemConfig() if config is None else config
        dims = network.dims
        for name in ("key_dim", "value_dim", "hidden_dim"):
            wanted = getattr(config, name)
            if wanted is not None and wanted != getattr(dims, name):
                raise ValueError(f"XMemConfig.{name}={wanted} does not match the network "
                                 f"({getattr(dims, name)})")
        self.network = network
        self.config = config
        self.all_labels: list[int] | None = None
        self.pad: Padding = (0, 0, 0, 0)
        self.clear_memory()

    # -- state ---------------------------------------------------------------------------
    def clear_memory(self) -> None:
        """Forget everything about the video (the labels set with :meth:`set_all_labels` stay)."""
        self.curr_ti = -1
        self.last_mem_ti = 0
        self.last_deep_update_ti = -self.config.deep_update_every
        self.memory = MemoryManager(self.config, self.network.hidden_dim)

    def set_all_labels(self, all_labels: Sequence[int]) -> None:
        """Labels of all objects so far, in mask-channel order. Labels can only be appended."""
        labels = [int(label) for label in all_labels]
        if len(set(labels)) != len(labels) or any(label < 1 for label in labels):
            raise ValueError(f"labels must be distinct positive integers, got {labels}")
        known = self.all_labels or []
        if labels[:len(known)] != known and self.memory.work_mem.engaged():
            raise ValueError(f"labels can only be appended while the memory is in use: "
                             f"had {known}, got {labels}")
        self.all_labels = labels

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.network.parameters()).dtype

    # -- inference -----------------------------------------------------------------------
    @torch.no_grad()
    def step(self, image: Tensor, mask: Tensor | None = None,
             valid_labels: Sequence[int] | None = None, end: bool = False,
             review: Review | None = None, learn: bool = True) -> Tensor:
        """Process the next frame and return ``(N+1) x H x W`` probabilities (background first).

        Args:
            image: ``3 x H x W`` normalised image.
            mask: optional ``N x H x W`` masks over *all* labels (``N = len(all_labels)``); given
                objects overwrite the prediction and the frame is memorised.
            valid_labels: labels actually given in ``mask`` (``None``: all of them). When it
                covers every label the frame is not segmented; otherwise objects not listed
                keep their predicted masks.
            end: the last frame of the video: it is not memorised and the sensory memory is
                not updated.
            review: not in the original: called with the segmented ``(N+1) x H x W``
                probabilities (unpadded) of a frame without ``mask``, before anything is
                memorised. It returns ``None`` (keep the prediction) or ``(mask,
                valid_labels)`` as for the arguments above: those objects are then replaced
                and the frame is memorised exactly as if the mask had been given.
            learn: not in the original: ``False`` for a frame decoded with errors. It is
                segmented (and reviewed) as usual, but nothing of it is memorised: no memory
                frame (working or long-term), no sensory-memory update; given or reviewed
                masks only replace the returned probabilities. (A new object's first mask
                needs a memory frame: the caller then learns.)
        """
        cfg = self.config
        net = self.network
        image = image.to(device=self.device, dtype=self.dtype)
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"image must be 3 x H x W, got {tuple(image.shape)}")
        if mask is not None:
            if self.all_labels is None:
                self.set_all_labels(range(1, mask.shape[0] + 1))
            assert self.all_labels is not None
            if mask.dim() != 3 or mask.shape[0] != len(self.all_labels) or mask.shape[1:] != image.shape[1:]:
                raise ValueError(f"mask must be {len(self.all_labels)} x {image.shape[1]} x "
                                 f"{image.shape[2]} (one channel per label), got {tuple(mask.shape)}")
            mask = mask.to(device=self.device, dtype=self.dtype)
        elif not self.memory.work_mem.engaged():
            raise ValueError("the first frame of a video needs a mask")
        assert self.all_labels is not None
        if mask is None and valid_labels is not None and len(valid_labels) == len(self.all_labels):
            raise ValueError("nothing to segment: valid_labels covers every label but no mask was given")

        self.curr_ti += 1
        image, self.pad = pad_to_multiple(image, 16)
        image = image.unsqueeze(0)

        keep = learn and not end  # whether anything of this frame enters memory
        is_mem_frame = (self.curr_ti - self.last_mem_ti >= cfg.mem_every or mask is not None) and keep
        need_segment = self.curr_ti > 0 and (valid_labels is None
                                             or len(self.all_labels) != len(valid_labels))
        deep_sync = cfg.deep_update_every < 0
        if deep_sync:
            is_deep_update = is_mem_frame
        else:
            is_deep_update = self.curr_ti - self.last_deep_update_ti >= cfg.deep_update_every and keep
        is_normal_update = (not deep_sync or not is_deep_update) and keep

        reviewing = review is not None and mask is None and need_segment and not end
        key, shrinkage, selection, f16, f8, f4 = net.encode_key(
            image, need_ek=cfg.enable_long_term or need_segment, need_sk=is_mem_frame or reviewing)

        prob: Tensor | None = None
        pending_hidden: Tensor | None = None
        if need_segment:
            readout = self.memory.match_memory(key, selection, count_usage=learn).unsqueeze(0)
            hidden, _, prob_b = net.segment((f16, f8, f4), readout, self.memory.hidden,
                                            h_out=is_normal_update, strip_bg=False)
            prob = prob_b[0]
            if is_normal_update and net.hidden_dim > 0:
                if reviewing:
                    pending_hidden = hidden  # applied once the review keeps the prediction
                else:
                    self.memory.hidden = hidden

        if reviewing:
            assert review is not None and prob is not None
            verdict = review(unpad(prob, self.pad))
            if verdict is None:
                if pending_hidden is not None:
                    self.memory.hidden = pending_hidden
            else:  # from here on exactly as if the mask had been given (a correction)
                mask, valid_labels = verdict
                mask = mask.to(device=self.device, dtype=self.dtype)
                is_mem_frame = keep
                if deep_sync and keep:
                    is_deep_update = True
                    is_normal_update = False
                if pending_hidden is not None and is_normal_update:
                    self.memory.hidden = pending_hidden

        if mask is not None:
            mask, _ = pad_to_multiple(mask, 16)
            if prob is not None:
                pred = prob[1:]
                pred[:, mask.sum(0) > 0.5] = 0  # given objects take over their regions
                if valid_labels is not None:
                    valid = {int(label) for label in valid_labels}
                    others = [i for i, label in enumerate(self.all_labels) if label not in valid]
                    mask = mask.clone()
                    mask[others] = pred[others]  # objects not given keep their prediction
            _, prob = aggregate(mask, dim=0)
            self.memory.create_hidden_state(len(self.all_labels), key)

        assert prob is not None  # segmented, or given as a mask

        if is_mem_frame:
            value, hidden = net.encode_value(image, f16, self.memory.hidden, prob[1:].unsqueeze(0),
                                             is_deep_update=is_deep_update)
            self.memory.add_memory(key, shrinkage, value, value.shape[1],
                                   selection=selection if cfg.enable_long_term else None)
            self.last_mem_ti = self.curr_ti
            if is_deep_update:
                if net.hidden_dim > 0:
                    self.memory.hidden = hidden
                self.last_deep_update_ti = self.curr_ti

        return unpad(prob, self.pad)
