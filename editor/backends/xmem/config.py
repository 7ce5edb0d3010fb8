"""Inference settings of the XMem engine (:class:`XMemConfig`).

Field names are those of the original XMem configuration dictionary, so a dictionary
written for the original (or the ``config_json`` of the golden data) can be passed as
``XMemConfig(**d)`` or, with a friendlier error for unknown keys, ``XMemConfig.from_dict(d)``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["XMemConfig"]


@dataclass(frozen=True)
class XMemConfig:
    """Settings of :class:`~editor.backends.xmem.InferenceCore` (defaults: the original ``eval.py``).

    Attributes:
        top_k: number of memory elements each query pixel attends to (top-k softmax).
        mem_every: a frame is memorised when at least this many frames passed since the last
            memory frame (frames with a given mask are always memorised).
        deep_update_every: < 0 synchronises the deep (value-encoder) update of the sensory
            memory with memory frames; otherwise the deep update happens on the first memory
            frame at least this many frames after the previous deep update.
        enable_long_term: consolidate working memory into long-term prototypes. Without it the
            working memory grows without bound.
        enable_long_term_count_usage: count how often long-term elements are read, which is what
            ``max_long_term_elements`` pruning needs. The original ``eval.py`` switches it on per
            video only when the video is long enough to fill the long-term memory
            (``T / (max_mid - min_mid) * num_prototypes >= max_long_term_elements``); the default
            here is ``True`` (as in the original interactive demo), which is always safe. With
            ``False``, a long-term memory that reaches its limit raises ``RuntimeError``, as the
            original does.
        max_mid_term_frames: working memory size (in frames) that triggers consolidation.
        min_mid_term_frames: working memory frames kept after consolidation (the first memory
            frame plus the most recent ``min_mid_term_frames - 1``).
        max_long_term_elements: cap on the number of long-term memory elements.
        num_prototypes: long-term elements produced by one consolidation.
        key_dim, value_dim, hidden_dim: optional; the network's own dimensions are authoritative
            (they are read from the checkpoint). When given they must match the network.
    """

    top_k: int = 30
    mem_every: int = 5
    deep_update_every: int = -1
    enable_long_term: bool = True
    enable_long_term_count_usage: bool = True
    max_mid_term_frames: int = 10
    min_mid_term_frames: int = 5
    max_long_term_elements: int = 10000
    num_prototypes: int = 128
    key_dim: int | None = None
    value_dim: int | None = None
    hidden_dim: int | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("enable_"):
                if not isinstance(value, bool):
                    raise TypeError(f"XMemConfig.{f.name} must be a bool, got {value!r}")
                continue
            if value is None and f.name.endswith("_dim"):
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"XMemConfig.{f.name} must be an int, got {value!r}")
        positive = ["top_k", "mem_every", "max_mid_term_frames", "min_mid_term_frames",
                    "max_long_term_elements", "num_prototypes", "key_dim", "value_dim"]
        for name in positive:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"XMemConfig.{name} must be >= 1, got {value}")
        if self.hidden_dim is not None and self.hidden_dim < 0:
            raise ValueError(f"XMemConfig.hidden_dim must be >= 0, got {self.hidden_dim}")
        if self.enable_long_term:
            if self.min_mid_term_frames >= self.max_mid_term_frames:
                raise ValueError(
                    "XMemConfig.min_mid_term_frames must be < max_mid_term_frames, got "
                    f"{self.min_mid_term_frames} >= {self.max_mid_term_frames}")
            if self.num_prototypes >= self.max_long_term_elements:
                raise ValueError(
                    "XMemConfig.num_prototypes must be < max_long_term_elements, got "
                    f"{self.num_prototypes} >= {self.max_long_term_elements}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> XMemConfig:
        """Build from a mapping, rejecting unknown keys with a :class:`ValueError` naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown XMemConfig keys: {', '.join(unknown)} "
                             f"(known: {', '.join(sorted(known))})")
        return cls(**dict(values))

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dictionary (the original's config keys)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> XMemConfig:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)
