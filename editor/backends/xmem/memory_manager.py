"""XMem's three memories: sensory (hidden state), working and long-term.

Reading (:meth:`MemoryManager.match_memory`) computes one similarity between the query and
all memory keys (long-term first, then working memory), a top-k softmax per object group and
the value read-out. Writing (:meth:`MemoryManager.add_memory`) appends a frame to working
memory; when working memory reaches ``max_mid_term_frames`` frames, the frames between the
first one and the last ``min_mid_term_frames - 1`` are consolidated into ``num_prototypes``
long-term prototypes, after pruning the least used long-term elements if the long-term memory
would exceed ``max_long_term_elements``. All rules follow the original ``MemoryManager``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from editor.backends.xmem.affinity import similarity, softmax_over_memory, topk_softmax
from editor.backends.xmem.config import XMemConfig
from editor.backends.xmem.memory_store import MemoryStore

__all__ = ["MemoryManager"]


def _last(x: Tensor, n: int) -> Tensor:
    """The last ``n`` memory elements (dimension 1) of a similarity matrix."""
    return x[:, x.shape[1] - n:]


class MemoryManager:
    """Memory state of one video. ``hidden_dim`` is the network's sensory memory width."""

    def __init__(self, config: XMemConfig, hidden_dim: int) -> None:
        self.config = config
        self.hidden_dim = hidden_dim
        self.top_k = config.top_k
        self.enable_long_term = config.enable_long_term
        self.hidden: Tensor | None = None
        """Sensory memory, ``1 x num_objects x hidden_dim x h x w``."""
        self.work_mem = MemoryStore(count_usage=config.enable_long_term)
        self.long_mem = MemoryStore(count_usage=config.enable_long_term_count_usage)
        self.value_dim: int | None = None
        self.frame_elements: int | None = None
        """Memory elements per frame (``h * w`` at stride 16), set by the first write."""

    # -- sensory memory ------------------------------------------------------------------
    def create_hidden_state(self, num_objects: int, sample_key: Tensor) -> None:
        """Make sure a hidden state exists for ``num_objects`` objects (new ones start at zero)."""
        h, w = sample_key.shape[-2:]
        if self.hidden is None:
            self.hidden = torch.zeros((1, num_objects, self.hidden_dim, h, w),
                                      device=sample_key.device, dtype=sample_key.dtype)
        elif self.hidden.shape[1] != num_objects:
            extra = torch.zeros((1, num_objects - self.hidden.shape[1], self.hidden_dim, h, w),
                                device=sample_key.device, dtype=self.hidden.dtype)
            self.hidden = torch.cat([self.hidden, extra], dim=1)

    # -- reading -------------------------------------------------------------------------
    def match_memory(self, query_key: Tensor, selection: Tensor | None, count_usage: bool = True) -> Tensor:
        """Memory read-out for a ``1 x C_k x h x w`` query: ``num_objects x C_v x h x w``.

        Updates the usage counters (working memory when long-term memory is enabled, long-term
        memory when ``enable_long_term_count_usage``) unless ``count_usage`` is false (not
        in the original: a damaged frame's read-out leaves the memory as it was).
        """
        if not self.work_mem.engaged() or self.value_dim is None:
            raise RuntimeError("the memory is empty: the first frame needs a mask")
        h, w = query_key.shape[-2:]
        query = query_key.flatten(start_dim=2)
        qe = None if selection is None else selection.flatten(start_dim=2)
        work, long = self.work_mem, self.long_mem
        assert work.key is not None

        if self.enable_long_term and long.engaged():
            assert long.key is not None
            long_size = long.size
            keys = torch.cat([long.key, work.key], dim=-1)
            shrinkage = (None if long.shrinkage is None or work.shrinkage is None
                         else torch.cat([long.shrinkage, work.shrinkage], dim=-1))
            sim = similarity(keys, shrinkage, query, qe)
            long_sim, work_sim = sim[:, :long_size], sim[:, long_size:]

            # Group 0 covers every key; its affinity also gives the usage.
            first = topk_softmax(torch.cat([_last(long_sim, long.value_size(0)), work_sim], dim=1),
                                 self.top_k)
            affinities = [first]
            for gi in range(1, work.num_groups):
                if gi < long.num_groups:
                    group_sim = torch.cat([_last(long_sim, long.value_size(gi)),
                                           _last(work_sim, work.value_size(gi))], dim=1)
                else:
                    group_sim = _last(work_sim, work.value_size(gi))
                affinities.append(topk_softmax(group_sim, self.top_k))
            values = [torch.cat([long.values[gi], gv], dim=-1) if gi < long.num_groups else gv
                      for gi, gv in enumerate(work.values)]

            usage = first.sum(dim=2)
            if count_usage:
                work.update_usage(usage[:, long_size:].flatten())
            if count_usage and self.config.enable_long_term_count_usage:
                long.update_usage(usage[:, :long_size].flatten())
        else:
            sim = similarity(work.key, work.shrinkage, query, qe)
            first = topk_softmax(sim, self.top_k)
            if self.enable_long_term and count_usage:
                work.update_usage(first.sum(dim=2).flatten())
            affinities = [first] + [topk_softmax(_last(sim, work.value_size(gi)), self.top_k)
                                    for gi in range(1, work.num_groups)]
            values = list(work.values)

        readout = torch.cat([gv @ aff for gv, aff in zip(values, affinities, strict=True)], dim=0)
        return readout.view(readout.shape[0], self.value_dim, h, w)

    # -- writing -------------------------------------------------------------------------
    def add_memory(self, key: Tensor, shrinkage: Tensor | None, value: Tensor, num_objects: int,
                   selection: Tensor | None = None) -> None:
        """Write a memory frame: ``key 1 x C_k x h x w``, ``value 1 x N x C_v x h x w``.

        ``selection`` is stored only for long-term consolidation (pass it only then).
        """
        if self.frame_elements is None:
            self.frame_elements = key.shape[-2] * key.shape[-1]
        key = key.flatten(start_dim=2)
        shrinkage = None if shrinkage is None else shrinkage.flatten(start_dim=2)
        selection = None if selection is None else selection.flatten(start_dim=2)
        flat_value = value[0].flatten(start_dim=2)
        self.value_dim = flat_value.shape[1]
        self.work_mem.add_frame(key, shrinkage, selection, flat_value, num_objects)

        if not self.enable_long_term:
            return
        cfg = self.config
        if self.work_mem.size >= cfg.max_mid_term_frames * self.frame_elements:
            limit = cfg.max_long_term_elements - cfg.num_prototypes
            if self.long_mem.size >= limit:
                self.long_mem.remove_obsolete(limit)
            self._compress()

    def _compress(self) -> None:
        """Consolidate the working-memory frames between the first and the most recent
        ``min_mid_term_frames - 1`` into long-term prototypes."""
        assert self.frame_elements is not None
        hw = self.frame_elements
        min_work = self.config.min_mid_term_frames * hw
        work = self.work_mem
        total = work.size
        start, end = hw, total - min_work + hw

        # A group added later covers only the last keys; its candidates are the last ones.
        candidates: list[Tensor | None] = []
        for gv in work.values:
            size = gv.shape[-1]
            if size == total or size > min_work + hw:
                candidates.append(gv[:, :, hw:size - min_work + hw])
            else:
                candidates.append(None)  # this group is too recent to be consolidated

        key, shrinkage, selection, usage = work.slice_range(start, end)
        proto_key, proto_values, proto_shrinkage = self._consolidate(
            key, shrinkage, selection, usage, candidates)
        work.remove_range(start, end, min_value_size=min_work + hw)
        self.long_mem.add_prototypes(proto_key, proto_shrinkage, proto_values)

    def _consolidate(self, key: Tensor, shrinkage: Tensor | None, selection: Tensor | None,
                     usage: Tensor, candidates: Sequence[Tensor | None]
                     ) -> tuple[Tensor, list[Tensor | None], Tensor | None]:
        """Pick the most used candidates as prototypes and potentiate them: each prototype
        becomes a softmax-weighted average (full softmax, per group) of all candidates."""
        n = key.shape[-1]
        k = min(self.config.num_prototypes, n)
        indices = torch.topk(usage, k=k, dim=-1, sorted=True).indices.flatten()
        proto_key = key[:, :, indices]
        proto_selection = None if selection is None else selection[:, :, indices]
        sim = similarity(key, shrinkage, proto_key, proto_selection)

        affinities: list[Tensor | None] = []
        for gv in candidates:
            if gv is None:
                affinities.append(None)
                continue
            valid = indices >= (n - gv.shape[2])  # prototypes this group has values for
            aff = softmax_over_memory(_last(sim, gv.shape[2])[:, :, valid])
            affinities.append(aff if aff.shape[-1] > 0 else None)

        proto_values = [None if aff is None or gv is None else gv @ aff
                        for gv, aff in zip(candidates, affinities, strict=True)]
        first = affinities[0]
        proto_shrinkage = None if shrinkage is None or first is None else shrinkage @ first
        return proto_key, proto_values, proto_shrinkage
