"""Writing outputs safely: the one atomic-write helper, output checks and scratch folders.

Every file or folder trackedit produces (videos, mask folders, PNG sequences, prompts,
model records) is written under a hidden temporary name beside its destination —
``.<stem>.<pid>-<random>.partial<suffix>`` — and moved into place with :func:`os.replace`
only when complete, so the destination never holds a half-written result. An exception or
a signal (the CLI turns SIGTERM/SIGHUP into an exception) removes the temporary. After
SIGKILL only that dot-prefixed temporary can remain; the next output to the same
destination removes it, because the process id in its name is no longer running.

Scratch folders (frame caches, working copies) live in the system's temporary folder under
``trackedit-<pid>-…`` and are removed the same way; after SIGKILL the next ``trackedit``
command removes them (:func:`remove_stale_scratch`).
"""
from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from editor.api.errors import OutputError

_PARTIAL = re.compile(r"^\.(?P<stem>.*)\.(?P<pid>\d+)-[0-9a-f]{8}\.partial(?P<suffix>.*)$")
_SCRATCH = re.compile(r"^trackedit-(?P<pid>\d+)-")
_before_commit: ContextVar[Callable[[Path, Path], None] | None] = ContextVar("before_commit", default=None)


@contextmanager
def before_commit(hook: Callable[[Path, Path], None]) -> Iterator[None]:
    """Call ``hook(temporary, final)`` in every :meth:`AtomicOutput.commit` of this context
    (thread / task) just before the rename: what must be complete when the output appears
    (a batch job's record) is written first, so that no signal can fall between them."""
    token = _before_commit.set(hook)
    try:
        yield
    finally:
        _before_commit.reset(token)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def partial_path(final: Path) -> Path:
    """The hidden temporary name for ``final``: same folder, same suffix (so a muxer that
    guesses the format from the extension still can), this process's id inside."""
    return final.with_name(f".{final.stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial{final.suffix}")


def remove_stale_partials(final: Path) -> list[Path]:
    """Delete temporaries of ``final`` left by processes that no longer run (SIGKILL,
    power loss); returns what was removed. Temporaries of running processes are kept."""
    removed = []
    folder = final.parent
    if not folder.is_dir():
        return removed
    for entry in folder.glob(f".{glob_escape(final.stem)}.*.partial*"):
        m = _PARTIAL.match(entry.name)
        if m and m["stem"] == final.stem and m["suffix"] == final.suffix and not _alive(int(m["pid"])):
            _remove(entry)
            removed.append(entry)
    return removed


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


#: What a write error's errno says about the folder written to.
_STORAGE = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
            errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
            errno.EPERM: "permission denied", errno.EFBIG: "file too large for the file system"}


def storage_cause(exc: BaseException) -> str | None:
    """The cause of a failed write when it is the folder's (full, read-only, not writable):
    from the error's ``errno`` (``OSError``, PyAV's ``FFmpegError``) or NumPy's short write;
    ``None`` for anything else."""
    code = getattr(exc, "errno", None)
    if code in _STORAGE:
        return _STORAGE[code]
    text = str(exc)
    if isinstance(exc, OSError) and "requested and" in text and "written" in text:
        return _STORAGE[errno.ENOSPC]  # numpy.save / tofile on a full disk
    return None


def shown_folder(path: Path) -> Path:
    """``path`` as the user named it: a temporary ``.NAME.<pid>-<hex>.partial`` folder (or a
    file in one) is shown as ``NAME``."""
    path = Path(path)
    for candidate in (path, *path.parents):
        m = _PARTIAL.match(candidate.name)
        if m:
            return candidate.parent / f"{m['stem']}{m['suffix']}"
    return path


def storage_error(exc: BaseException, folder: Path, what: str) -> OutputError | None:
    """One line for a write into ``folder`` that failed because of the folder (see
    :func:`storage_cause`): ``FOLDER: cannot write WHAT: no space left on the device``."""
    cause = storage_cause(exc)
    return None if cause is None else OutputError(f"cannot write {what}: {cause}", shown_folder(folder))


@contextmanager
def writing_in(folder: Path, what: str) -> Iterator[None]:
    """Writes into ``folder``: a full, read-only or forbidden folder is an ``OutputError``
    naming it and the cause (other errors pass)."""
    try:
        yield
    except OSError as exc:
        error = storage_error(exc, folder, what)
        if error is None:
            raise
        raise error from exc


def require_space(folder: Path, needed: int, what: str) -> None:
    """``OutputError`` naming ``folder`` when its file system has less than ``needed`` bytes free."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return
    if free < needed:
        raise OutputError(f"not enough space for {what}: about {needed / 1e6:,.0f} MB needed, "
                          f"{free / 1e6:,.0f} MB free (TMPDIR sets the scratch folder)", shown_folder(folder))


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the entries ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``);
    ``False`` where the system or file system cannot, nothing changed then."""
    import ctypes

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not Linux, or a C library without it
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _replace_folder(new: Path, final: Path) -> None:
    """Put the folder ``new`` at ``final`` in place of what is there (a folder or file), so that
    ``final`` always holds the old whole or the new whole: the two are swapped in one step
    where the system can (:func:`_exchange`; ``new`` then holds the old one, removed after),
    else the old one is first moved aside under a temporary name of this process
    (:func:`partial_path`: removed after, or by the next output there if a kill falls
    between)."""
    if _exchange(new, final):
        _remove(new)
        return
    aside = partial_path(final)
    os.rename(final, aside)
    try:
        os.rename(new, final)
    except BaseException:
        os.rename(aside, final)
        raise
    _remove(aside)


class AtomicOutput:
    """A file or folder that appears at ``final`` only when :meth:`commit` is called.

    Write to :attr:`path` (a file path, or an existing empty folder with
    ``directory=True``); :meth:`commit` replaces whatever is at ``final`` (a file, or a
    folder with ``directory=True``: swapped with the old one, :func:`_replace_folder`);
    :meth:`discard` removes the temporary. As a context
    manager it commits on success and discards on any exception, ``KeyboardInterrupt``
    and signals included. ``clean_stale=False`` skips looking for temporaries of dead
    processes (for many small files inside a folder that is itself a temporary). Raises
    :class:`~editor.api.errors.OutputError` when the folder cannot be written to.
    """

    def __init__(self, final: Path, *, directory: bool = False, clean_stale: bool = True) -> None:
        self.final = Path(final)
        self.directory = directory
        if clean_stale:
            remove_stale_partials(self.final)
        self.path = partial_path(self.final)
        self.done = False
        if directory:
            with writing_in(self.final.parent, f"the folder {self.final.name}"):
                self.path.mkdir()

    def commit(self) -> Path:
        hook = _before_commit.get()
        if hook is not None:
            hook(self.path, self.final)
        if self.directory and (self.final.exists() or self.final.is_symlink()):
            _replace_folder(self.path, self.final)
        else:
            os.replace(self.path, self.final)
        self.done = True
        return self.final

    def discard(self) -> None:
        if not self.done:
            _remove(self.path)
            self.done = True

    def __enter__(self) -> "AtomicOutput":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is None and not self.done:
            self.commit()
            return
        self.discard()
        if isinstance(exc, OSError):
            error = storage_error(exc, self.final.parent, self.final.name)
            if error is not None:
                raise error from exc


def write_text(path: Path, text: str) -> Path:
    """Write a text file (UTF-8) atomically. A full, read-only or forbidden folder is an
    :class:`~editor.api.errors.OutputError` naming it (:func:`writing_in`)."""
    path = Path(path)
    with writing_in(path.parent, path.name), AtomicOutput(path) as out:
        out.path.write_text(text, encoding="utf-8")
    return path


def check_output(output: Path, inputs: list[Path], overwrite: bool, *, directory: bool = False) -> None:
    """Refuse to write over an input, over an existing output without ``overwrite``, or
    into a folder that does not exist.

    Raises :class:`~editor.api.errors.OutputError` naming ``output``.
    """
    if str(output) == "-":
        raise OutputError("writing to standard output is not supported (the container is finished at the end, "
                          "after seeking back): give a file name", output)
    output = Path(output)
    for src in inputs:
        src = Path(src)
        if output.resolve() == src.resolve() or (output.exists() and src.exists() and os.path.samefile(output, src)):
            raise OutputError("output is the input file; refusing to overwrite the input", output)
    if directory:
        if output.exists() and (output.is_file() or any(output.iterdir())) and not overwrite:
            raise OutputError("already exists and is not empty (use --overwrite to replace it)", output)
    else:
        if output.is_dir():
            raise OutputError("is a directory; give a file name", output)
        if output.exists() and not overwrite:
            raise OutputError("already exists (use --overwrite to replace it)", output)
    if not output.parent.exists():
        raise OutputError(f"folder {output.parent} does not exist", output)


def make_scratch_dir(kind: str = "work") -> Path:
    """A new private scratch folder ``trackedit-<pid>-<kind>-…`` in the system's temporary
    folder, for an owner that removes it (see :func:`scratch_dir`). Folders that trackedit
    processes which no longer run left behind are removed first."""
    remove_stale_scratch()
    root = Path(tempfile.gettempdir())
    with writing_in(root, "a scratch folder (TMPDIR)"):
        return Path(tempfile.mkdtemp(prefix=f"trackedit-{os.getpid()}-{kind}-", dir=root))


def remove_stale_scratch() -> list[Path]:
    """Remove the scratch folders of trackedit processes that no longer run (SIGKILL, power
    loss); returns what was removed. Every ``trackedit`` command calls it on start."""
    removed = []
    for entry in Path(tempfile.gettempdir()).glob("trackedit-*"):
        m = _SCRATCH.match(entry.name)
        if m and not _alive(int(m["pid"])):
            _remove(entry)
            removed.append(entry)
    return removed


@contextmanager
def scratch_dir(kind: str = "work") -> Iterator[Path]:
    """:func:`make_scratch_dir` as a context manager: removed on exit, also on exceptions
    and signals."""
    path = make_scratch_dir(kind)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
