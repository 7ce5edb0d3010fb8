"""Checkpoint folders from the Hugging Face hub (SAM 2.1, EdgeTAM), through ``huggingface_hub``.

A hub model (:class:`HubSource`) is a repository at a pinned ``revision`` and the files of it
trackedit needs (``config.json``, ``model.safetensors``), each with its size and SHA-256 where
known. Every file is checked like any other checkpoint file
(:func:`editor.models.registry.reference`): against the registry's values, else against the
ones recorded on the first complete download (trust on first use, ``trusted.json``).

Files download with :func:`huggingface_hub.hf_hub_download` into ``<folder>.part/`` (an
interrupted download resumes from its ``.incomplete`` file on the next call), are checked,
and only then is the folder renamed to its final name: the final folder never holds a partial
or unchecked file. A file that fails its check is deleted and nothing is installed. The hub
address is ``$HF_ENDPOINT`` (read at each call), else huggingface_hub's default. Never prints:
progress goes to the ``progress(done, total)`` callback.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from editor.models.registry import HubFile, HubSource, ModelError, ModelSpec, record_trusted, reference


def file_specs(spec: ModelSpec) -> list[ModelSpec]:
    """One :class:`ModelSpec` per file of a hub model (``<spec.name>/<file>``, stored at
    ``<spec.filename>/<file>`` in the models folder), checked like single-file checkpoints."""
    assert spec.hub is not None
    return [ModelSpec(f"{spec.name}/{f.name}", f"{spec.filename}/{f.name}", _url(spec.hub, f.name), f.size,
                      f.sha256, spec.kind, spec.variant, spec.description) for f in spec.hub.files]


def _url(hub: HubSource, name: str) -> str:
    endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    return f"{endpoint.rstrip('/')}/{hub.repo}/resolve/{hub.revision}/{name}"


def _progress_class(progress: Callable[[int, int | None], None] | None, done: list[int]) -> Any:
    """A tqdm class for huggingface_hub that reports to ``progress`` and never prints."""
    from tqdm.auto import tqdm

    class Report(tqdm):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")  # noqa: SIM115 - closed in close()
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            out = super().update(n)
            if progress is not None and n:
                progress(done[0] + int(self.n), self.total)
            return out

        def close(self) -> None:
            handle = self.fp
            super().close()
            handle.close()

    return Report


def download_hub(spec: ModelSpec, directory: Path, *, progress: Callable[[int, int | None], None] | None = None,
                 force: bool = False, timeout: float = 30.0) -> Path:
    """Download, check and install the folder of hub model ``spec`` in ``directory``; return it.

    An installed folder whose files all check out is returned without the network (unless
    ``force``). Raises :class:`ModelError` (one line naming the file) for a failed transfer
    or check; nothing is installed then.
    """
    from editor.models.download import sha256_file, verify

    assert spec.hub is not None
    final = directory / spec.filename
    files = file_specs(spec)
    if final.is_dir() and not force and all(verify(f, directory).ok for f in files):
        return final
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise ModelError("huggingface_hub is not installed (pip install 'trackedit[sam2]')",
                         source=spec.name) from exc
    staging = directory / f"{spec.filename}.part"
    staging.mkdir(parents=True, exist_ok=True)
    done = [0]
    checked: list[tuple[ModelSpec, int, str]] = []
    for hub_file, file_spec in zip(spec.hub.files, files):
        try:
            got = Path(hf_hub_download(spec.hub.repo, hub_file.name, revision=spec.hub.revision, local_dir=staging,
                                       endpoint=os.environ.get("HF_ENDPOINT") or None, etag_timeout=timeout,
                                       tqdm_class=_progress_class(progress, done)))
        except Exception as exc:  # huggingface_hub raises many types (HTTP, offline, not found…)
            text = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise ModelError(f"download failed ({type(exc).__name__}): {text}; run the command again to resume",
                             source=file_spec.filename) from exc
        size, sha, record = reference(file_spec, directory)
        actual_size = got.stat().st_size
        if size is not None and actual_size != size:
            got.unlink()
            raise ModelError(f"size mismatch (expected {size} bytes, got {actual_size}); the file was deleted",
                             source=file_spec.filename)
        actual = sha256_file(got)
        if sha is not None and actual != sha:
            got.unlink()
            raise ModelError(f"SHA-256 mismatch (expected {sha}, got {actual}); the file was deleted",
                             source=file_spec.filename)
        done[0] += actual_size
        checked.append((file_spec, actual_size, actual))
    shutil.rmtree(staging / ".cache", ignore_errors=True)  # huggingface_hub's bookkeeping
    if final.exists():
        shutil.rmtree(final)
    os.replace(staging, final)
    for file_spec, actual_size, actual in checked:
        if file_spec.trust_on_first_use and reference(file_spec, directory)[2] is None:
            record_trusted(file_spec, directory, actual_size, actual, file_spec.url)
    return final


def find_hub_folder(spec: ModelSpec, directory: Path) -> Path | None:
    """The installed folder of hub model ``spec`` if every file is there with its expected size."""
    from editor.models.download import find_checkpoint

    if all(find_checkpoint(f, directory) is not None for f in file_specs(spec)):
        return directory / spec.filename
    return None


def pinned(spec: ModelSpec, revision: str, files: tuple[HubFile, ...]) -> ModelSpec:
    """``spec`` at another revision with other files (tests, mirrors that re-host a model)."""
    assert spec.hub is not None
    return replace(spec, hub=replace(spec.hub, revision=revision, files=files))
