"""XMem tracker backend (needs an XMem checkpoint; `trackedit models download xmem`).

Checkpoint: ``--xmem-checkpoint PATH`` (or ``TRACKEDIT_XMEM_CHECKPOINT``), otherwise a
downloaded official one. Options: :class:`XMemOptions` (``--backend-set xmem.OPTION=VALUE``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from editor import hookimpl
from editor.api.backends import BackendContext, BackendOptions, TrackerSpec

CHECKPOINT_NAMES = ("xmem", "xmem_s012")


class XMemOptions(BackendOptions):
    """XMem's inference settings (the original ``eval.py`` names and defaults, see
    :class:`editor.backends.xmem.XMemConfig`) plus the working size and precision."""

    internal_size: int | None = Field(480, ge=16)
    """Resize frames so the shorter side is this many px (never upscaled); ``None``: native size."""
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    """``auto``: bf16 autocast on CUDA, float32 elsewhere."""
    top_k: int = Field(30, ge=1)
    """Memory elements each query pixel attends to (top-k softmax)."""
    mem_every: int = Field(5, ge=1)
    """Memorise a frame when at least this many frames passed since the last memory frame."""
    deep_update_every: int = -1
    """< 0: deep-update the sensory memory with every memory frame; else at most this often."""
    enable_long_term: bool = True
    """Consolidate working memory into long-term prototypes (without it memory grows with the video)."""
    enable_long_term_count_usage: bool = True
    """Count long-term element usage, which pruning to ``max_long_term_elements`` needs."""
    max_mid_term_frames: int = Field(10, ge=1)
    """Working-memory frames that trigger consolidation."""
    min_mid_term_frames: int = Field(5, ge=1)
    """Working-memory frames kept after consolidation."""
    max_long_term_elements: int = Field(10000, ge=1)
    """Cap on long-term memory elements."""
    num_prototypes: int = Field(128, ge=1)
    """Long-term elements produced by one consolidation."""
    key_dim: int | None = Field(None, ge=1)
    """Optional check: the network's key dimension (read from the checkpoint)."""
    value_dim: int | None = Field(None, ge=1)
    """Optional check: the network's value dimension."""
    hidden_dim: int | None = Field(None, ge=0)
    """Optional check: the network's hidden dimension."""

    @model_validator(mode="after")
    def _consistent(self) -> XMemOptions:
        if self.enable_long_term and self.min_mid_term_frames >= self.max_mid_term_frames:
            raise ValueError(f"min_mid_term_frames ({self.min_mid_term_frames}) must be below "
                             f"max_mid_term_frames ({self.max_mid_term_frames})")
        if self.enable_long_term and self.num_prototypes >= self.max_long_term_elements:
            raise ValueError(f"num_prototypes ({self.num_prototypes}) must be below "
                             f"max_long_term_elements ({self.max_long_term_elements})")
        return self

    def config(self):  # noqa: ANN201 - XMemConfig; imported lazily (PyTorch)
        """These settings as the core's :class:`editor.backends.xmem.XMemConfig`."""
        from editor.backends.xmem import XMemConfig

        return XMemConfig(top_k=self.top_k, mem_every=self.mem_every, deep_update_every=self.deep_update_every,
                          enable_long_term=self.enable_long_term,
                          enable_long_term_count_usage=self.enable_long_term_count_usage,
                          max_mid_term_frames=self.max_mid_term_frames, min_mid_term_frames=self.min_mid_term_frames,
                          max_long_term_elements=self.max_long_term_elements, num_prototypes=self.num_prototypes,
                          key_dim=self.key_dim, value_dim=self.value_dim, hidden_dim=self.hidden_dim)


def find_xmem_checkpoint(context: BackendContext) -> Path | None:
    """The checkpoint the user named, else a downloaded official one, else ``None``."""
    if context.checkpoint is not None:
        return context.checkpoint
    try:
        from editor.models import find_checkpoint
    except ImportError:  # model manager not installed in this build
        return None
    for name in CHECKPOINT_NAMES:
        path = find_checkpoint(name, context.models_dir)
        if path is not None:
            return path
    return None


def _unavailable(context: BackendContext, options: XMemOptions) -> str | None:
    if find_xmem_checkpoint(context) is None:
        return "no XMem checkpoint found"
    return None


def _factory(context: BackendContext, options: XMemOptions):  # noqa: ANN202
    from editor.backends.device import pick_device
    from editor.backends.xmem import load_checkpoint
    from editor.backends.xmem.tracker import XMemTracker

    device = pick_device(context.device)
    path = find_xmem_checkpoint(context)
    assert path is not None
    network = load_checkpoint(path, map_location=device)
    return XMemTracker(network.to(device).eval(), options.config(), options.internal_size,
                       precision=options.precision)


@hookimpl
def editor_register_trackers(register):  # noqa: ANN001
    register(TrackerSpec("xmem", XMemOptions, _factory, kind="model", priority=10, unavailable=_unavailable,
                         description="XMem (checkpoint-compatible re-implementation), shorter side 480"))
