"""Key/value storage of one XMem memory (working or long-term).

Keys (``1 x C_k x N``), shrinkage (``1 x 1 x N``), selection (``1 x C_k x N``, working memory
only) and usage counters are shared by all objects. Values are stored per *object group*:
objects that were first given on the same frame form one group, and a group's value tensor
(``n_objects x C_v x N_g``) only covers the most recent ``N_g`` keys (those written since the
group appeared). Slicing and boundary rules follow the original ``KeyValueMemoryStore`` so that
results are identical, including its quirks (documented where they occur).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["MemoryStore"]


def _cat(old: Tensor | None, new: Tensor) -> Tensor:
    return new if old is None else torch.cat([old, new], dim=-1)


def _drop_range(x: Tensor, start: int, end: int) -> Tensor:
    """``x`` without elements ``start:end`` of the last dimension."""
    return torch.cat([x[..., :start], x[..., end:]], dim=-1)


class MemoryStore:
    """One memory bank. ``count_usage`` enables the use/life counters needed for pruning."""

    def __init__(self, count_usage: bool) -> None:
        self.count_usage = count_usage
        self.key: Tensor | None = None
        self.shrinkage: Tensor | None = None
        self.selection: Tensor | None = None
        self.values: list[Tensor] = []
        self.groups: list[list[int]] = []
        """Zero-based object indices of each group (working memory only)."""
        self.use_count: Tensor | None = None
        self.life_count: Tensor | None = None

    # -- size information ---------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of keys."""
        return 0 if self.key is None else self.key.shape[-1]

    @property
    def num_groups(self) -> int:
        return len(self.values)

    def engaged(self) -> bool:
        """Whether anything was ever written (the key tensor exists, possibly empty)."""
        return self.key is not None

    def value_size(self, group: int) -> int:
        """Number of keys covered by the values of ``group`` (the most recent ones)."""
        return self.values[group].shape[-1]

    # -- writing -------------------------------------------------------------------------
    def _add_keys(self, key: Tensor, shrinkage: Tensor | None, selection: Tensor | None) -> None:
        first = self.key is None
        self.key = _cat(self.key, key)
        if first:
            self.shrinkage, self.selection = shrinkage, selection
        else:
            if shrinkage is not None:
                self.shrinkage = _cat(self.shrinkage, shrinkage)
            if selection is not None:
                self.selection = _cat(self.selection, selection)
        if self.count_usage:
            n = key.shape[-1]
            new_use = torch.zeros((key.shape[0], 1, n), device=key.device, dtype=torch.float32)
            new_life = torch.full((key.shape[0], 1, n), 1e-7, device=key.device, dtype=torch.float32)
            self.use_count = _cat(self.use_count, new_use)
            self.life_count = _cat(self.life_count, new_life)

    def add_frame(self, key: Tensor, shrinkage: Tensor | None, selection: Tensor | None,
                  value: Tensor, num_objects: int) -> None:
        """Write one frame to working memory.

        ``value`` is ``num_objects x C_v x HW`` for objects ``0..num_objects-1``. Objects already
        in a group extend that group; the remaining ones (which must come after all known
        objects) form a new group.
        """
        known = [obj for group in self.groups for obj in group]
        if known != list(range(len(known))) or num_objects < len(known):
            raise ValueError(f"objects must only be appended: memory has {len(known)} objects, "
                             f"frame has {num_objects}")
        self._add_keys(key, shrinkage, selection)
        for gi, group in enumerate(self.groups):
            self.values[gi] = torch.cat([self.values[gi], value[group]], dim=-1)
        new_group = list(range(len(known), num_objects))
        if new_group:
            self.groups.append(new_group)
            self.values.append(value[new_group])

    def add_prototypes(self, key: Tensor, shrinkage: Tensor | None,
                       values: Sequence[Tensor | None]) -> None:
        """Append consolidated prototypes (long-term memory); ``values[g]`` is ``None`` for a
        group that contributed nothing.

        As in the original, a non-``None`` value whose group index is beyond the stored groups
        is *appended*, so a ``None`` before it shifts it to a lower group index.
        """
        self._add_keys(key, shrinkage, None)
        for gi, gv in enumerate(values):
            if gv is None:
                continue
            if gi < self.num_groups:
                self.values[gi] = torch.cat([self.values[gi], gv], dim=-1)
            else:
                self.values.append(gv)

    # -- usage ---------------------------------------------------------------------------
    def update_usage(self, usage: Tensor) -> None:
        """Add the affinity mass each element received; every element ages by one read."""
        if not self.count_usage:
            return
        assert self.use_count is not None and self.life_count is not None
        self.use_count += usage.view_as(self.use_count)
        self.life_count += 1

    def usage(self) -> Tensor:
        """Normalised usage ``use_count / life_count`` (``1 x 1 x N``)."""
        if not self.count_usage or self.use_count is None or self.life_count is None:
            raise RuntimeError("this memory does not count usage (enable_long_term_count_usage "
                               "is False), so it cannot be pruned or consolidated")
        return self.use_count / self.life_count

    # -- consolidation and pruning -------------------------------------------------------
    def slice_range(self, start: int, end: int
                    ) -> tuple[Tensor, Tensor | None, Tensor | None, Tensor]:
        """``(key, shrinkage, selection, usage)`` of elements ``start:end``."""
        assert self.key is not None
        return (self.key[..., start:end],
                None if self.shrinkage is None else self.shrinkage[..., start:end],
                None if self.selection is None else self.selection[..., start:end],
                self.usage()[..., start:end])

    def remove_range(self, start: int, end: int, min_value_size: int) -> None:
        """Remove elements ``start:end`` (``end`` counted on the full key range).

        A group's values are cut only when the group covers at least ``min_value_size`` keys,
        and then at ``start`` and ``end - size`` *counted on the group's own values* (the
        original's negative end index); smaller groups are left untouched.
        """
        assert self.key is not None
        total = self.size
        self.key = _drop_range(self.key, start, end)
        if self.count_usage:
            assert self.use_count is not None and self.life_count is not None
            self.use_count = _drop_range(self.use_count, start, end)
            self.life_count = _drop_range(self.life_count, start, end)
        if self.shrinkage is not None:
            self.shrinkage = _drop_range(self.shrinkage, start, end)
        if self.selection is not None:
            self.selection = _drop_range(self.selection, start, end)
        from_end = total - end
        for gi, gv in enumerate(self.values):
            if gv.shape[-1] >= min_value_size:
                self.values[gi] = _drop_range(gv, start, gv.shape[-1] - from_end)

    def remove_obsolete(self, max_size: int) -> None:
        """Keep at most ``max_size`` elements, dropping the least used.

        As in the original, every element whose normalised usage is not strictly greater than
        the ``(size - max_size)``-th smallest usage is removed, so ties at the cut-off can
        remove more. Only one object group is supported (else ``NotImplementedError``, raised
        before anything is changed).
        """
        excess = self.size - max_size
        if excess <= 0:
            return  # the original would fail on an empty top-k here
        usage = self.usage().flatten()
        if self.num_groups > 1:
            raise NotImplementedError(
                "long-term memory pruning with several object groups (objects added on "
                "different frames) is not supported, as in the original XMem")
        cutoff = torch.topk(usage, k=excess, largest=False, sorted=True).values[-1]
        keep = usage > cutoff
        assert self.key is not None and self.use_count is not None and self.life_count is not None
        self.key = self.key[:, :, keep]
        if self.shrinkage is not None:
            self.shrinkage = self.shrinkage[:, :, keep]
        if self.selection is not None:
            self.selection = self.selection[:, :, keep]
        self.values = [gv[:, :, keep] for gv in self.values]
        self.use_count = self.use_count[:, :, keep]
        self.life_count = self.life_count[:, :, keep]
