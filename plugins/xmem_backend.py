"""XMem tracker backend (needs an XMem checkpoint; `trackedit models download xmem`)."""
from __future__ import annotations

from pathlib import Path

from editor import hookimpl
from editor.api.backends import BackendOptions, TrackerSpec

CHECKPOINT_NAMES = ("xmem", "xmem_s012")


def find_xmem_checkpoint(options: BackendOptions) -> Path | None:
    if options.checkpoint is not None:
        return options.checkpoint
    try:
        from editor.models import find_checkpoint
    except ImportError:  # model manager not installed in this build
        return None
    for name in CHECKPOINT_NAMES:
        path = find_checkpoint(name, options.models_dir)
        if path is not None:
            return path
    return None


def _unavailable(options: BackendOptions) -> str | None:
    if find_xmem_checkpoint(options) is None:
        return "no XMem checkpoint found"
    return None


def _factory(options: BackendOptions):  # noqa: ANN202
    from editor.backends.device import pick_device
    from editor.backends.xmem import XMemConfig, load_checkpoint
    from editor.backends.xmem.tracker import XMemTracker

    device = pick_device(options.device)
    path = find_xmem_checkpoint(options)
    assert path is not None
    network = load_checkpoint(path, map_location=device)
    extra = dict(options.extra.get("xmem", {}))
    internal = extra.pop("internal_size", 480)
    precision = extra.pop("precision", "auto")
    return XMemTracker(network.to(device).eval(), XMemConfig(**extra), internal, precision=precision)


@hookimpl
def editor_register_trackers(register):  # noqa: ANN001
    register(TrackerSpec("xmem", _factory, kind="model", priority=10, unavailable=_unavailable,
                         description="XMem (checkpoint-compatible re-implementation), shorter side 480"))
