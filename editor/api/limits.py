"""Resource limits, in one place: how large a frame, picture or mask may be, how many points,
prompts and objects a prompts file or a page may give, and which files count as files.

A hostile or broken input must fail as one line before it costs memory or hangs: a video
whose frames are larger than :attr:`Limits.max_pixels` is refused from its stream header
(before decoding) and again on any decoded frame over it (headers can lie); pictures and mask
PNGs are refused from their header, and Pillow's decompression-bomb check is one line naming
the file; a FIFO, device or directory given where a regular file is expected is refused
without opening it (opening a FIFO blocks until a writer comes).

The limits in force are :func:`current`; ``trackedit --max-pixels N`` (or the environment
variable ``TRACKEDIT_MAX_PIXELS``, which worker processes inherit) changes the frame limit.
"""
from __future__ import annotations

import dataclasses
import io
import os
import stat
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from editor.api.errors import InputError, TrackeditError

if TYPE_CHECKING:
    from PIL import Image

#: The environment variable that sets :attr:`Limits.max_pixels` (``--max-pixels`` sets it).
MAX_PIXELS_ENV = "TRACKEDIT_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 8192 * 8192
"""8K × 8K = 67.1 million pixels per frame."""


class LimitError(InputError):
    """An input over a limit of :class:`Limits` (frame size, pixels of a picture)."""


@dataclass(frozen=True)
class Limits:
    """What one input may ask for."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    """Pixels per frame, picture or mask (width × height)."""
    max_points: int = 1000
    """Points (clicks) in one prompt."""
    max_prompts: int = 100_000
    """Prompts of one object (a detector's object has about one per frame)."""
    max_objects: int = 255
    """Objects (their ids are 1…255: pixel values of a label map)."""
    max_name_chars: int = 200
    """Characters of an object's name."""


def _from_environment() -> Limits:
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return Limits()
    if not (raw.isascii() and raw.isdigit() and len(raw) < 19 and int(raw) > 0):
        raise TrackeditError(f"{MAX_PIXELS_ENV} must be a positive whole number of pixels, not {raw[:40]!r}")
    return Limits(max_pixels=int(raw))


_current: Limits | None = None


def current() -> Limits:
    """The limits in force (read from the environment on first use)."""
    global _current
    if _current is None:
        _current = _from_environment()
    return _current


def configure(**changes: int) -> Limits:
    """Change the limits in force (fields of :class:`Limits`); ``max_pixels`` is also put in
    the environment so that worker processes started afterwards use it."""
    global _current
    _current = dataclasses.replace(current(), **changes)
    os.environ[MAX_PIXELS_ENV] = str(_current.max_pixels)
    return _current


@contextmanager
def restored() -> Iterator[None]:
    """Undo :func:`configure` on exit (the limits in force and the environment variable):
    one command's ``--max-pixels`` does not outlive it in a process that runs several."""
    global _current
    saved, env = _current, os.environ.get(MAX_PIXELS_ENV)
    try:
        yield
    finally:
        _current = saved
        if env is None:
            os.environ.pop(MAX_PIXELS_ENV, None)
        else:
            os.environ[MAX_PIXELS_ENV] = env


def check_frame_size(width: int, height: int, source: str | Path | None, what: str = "frames") -> None:
    """Raise :class:`LimitError` (an :class:`InputError`) naming ``source`` when ``width`` ×
    ``height`` (pixels) is over :attr:`Limits.max_pixels`."""
    limit = current().max_pixels
    if width * height > limit:
        raise LimitError(f"{what} are {width}x{height} = {width * height / 1e6:.1f} million pixels, over the limit "
                         f"of {limit / 1e6:.1f} million (--max-pixels N to change it)", source)


QUEUE_BYTES = 256 << 20
"""Bytes of frames one queue between pipeline threads (decode, tracking, edits) may hold."""
QUEUE_FRAMES = 4
"""Frames one such queue holds where they are small enough (enough to keep the threads busy)."""
LOOKAHEAD_BYTES = 256 << 20
"""Bytes of frames a stage's extra look-ahead may hold (:func:`lookahead_frames`)."""
CACHE_MEMORY_BYTES = 256 << 20
"""Bytes of 8-bit frames and label maps the backward pass's frame cache
(:class:`editor.tracking.frame_cache.FrameCache`, tracking-only frames) keeps in memory;
the frames past it go to disk."""


def queue_frames(width: int, height: int, deep: bool = False) -> int:
    """Frames a queue between two pipeline threads holds for ``width``×``height`` frames:
    :data:`QUEUE_FRAMES`, fewer where they would pass :data:`QUEUE_BYTES` (at least one). A
    frame on its way through the pipeline costs about 8 bytes a pixel (RGB, its decoded
    planes, a label map; twice that above 8 bits): 4 frames up to 4K, 1 at 8K (7680×4320) and
    at the 8192×8192 limit."""
    per_frame = width * height * (16 if deep else 8)
    return max(1, min(QUEUE_FRAMES, QUEUE_BYTES // max(1, per_frame)))


def lookahead_frames(width: int, height: int, wanted: int, deep: bool = False) -> int:
    """Frames a stage may hold beyond what it edits from, to look ahead (the ``remove``
    stage's held extent, :mod:`editor.imaging.held_extent`): ``wanted``, fewer where they would
    pass :data:`LOOKAHEAD_BYTES` at about 8 bytes a pixel (16 above 8 bits, as
    :func:`queue_frames`): 25 up to 1280×720, 16 at 1920×1080, 4 at 4K, 1 at 8K."""
    per_frame = width * height * (16 if deep else 8)
    return max(0, min(wanted, LOOKAHEAD_BYTES // max(1, per_frame)))


def regular_file(path: str | Path, what: str = "file", error: type[TrackeditError] = InputError) -> Path:
    """``path`` when it names a regular file (a symlink to one is fine); otherwise raises
    ``error`` naming it: missing, a folder, or a FIFO/device/socket (never opened, so never a
    hang)."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise error(f"no such {what}", path) from None
    except OSError as exc:
        raise error(f"cannot read the {what} ({exc.strerror or exc})", path) from None
    if stat.S_ISDIR(mode):
        raise error(f"is a directory, not a {what}", path)
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        raise error(f"is {kind}, not a regular {what}", path)
    return path


@contextmanager
def open_image(source: str | Path | bytes, name: str | Path | None = None, *,
               error: type[TrackeditError] = InputError) -> Iterator[Image.Image]:
    """A Pillow image opened lazily (header only) and checked: a regular file, a readable
    image, at most :attr:`Limits.max_pixels` pixels. ``source`` is a path or the bytes of an
    image; ``name`` names it in messages (default: the path). Raises ``error`` (one line)
    for each problem, Pillow's decompression-bomb error included (with the default ``error``,
    a :class:`LimitError` for an image over the limit)."""
    from PIL import Image, UnidentifiedImageError

    label = name if name is not None else (source if not isinstance(source, bytes) else "(embedded image)")
    if not isinstance(source, bytes):
        regular_file(source, "image file", error)
    Image.MAX_IMAGE_PIXELS = current().max_pixels  # Pillow refuses twice that while opening
    try:
        with warnings.catch_warnings():  # between once and twice: refused below, as one line
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
    except Image.DecompressionBombError:
        kind = LimitError if error is InputError else error
        raise kind(f"image too large to read safely (over {current().max_pixels / 1e6:.1f} million pixels)",
                   label) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise error(f"not a readable image ({exc.__class__.__name__})", label) from None
    try:
        try:
            check_frame_size(img.width, img.height, label, "images")
        except LimitError as exc:
            if error is not InputError:
                raise error(exc.message, label) from None
            raise
        yield img
    finally:
        img.close()


def check_prompt_counts(points: int, prompts: int, objects: int) -> str | None:
    """What is over the limits for one prompt with ``points`` points, one object with
    ``prompts`` prompts, or ``objects`` objects (a phrase for a one-line error); ``None``
    when all fit."""
    lim = current()
    if points > lim.max_points:
        return f"{points} points in one prompt (the limit is {lim.max_points})"
    if prompts > lim.max_prompts:
        return f"{prompts} prompts for one object (the limit is {lim.max_prompts})"
    if objects > lim.max_objects:
        return f"{objects} objects (the limit is {lim.max_objects})"
    return None


def document_problem(exc: BaseException) -> str:
    """What is wrong with a JSON/TOML document whose parser gave up with ``exc`` beyond its
    syntax: a number too long to convert (``ValueError``) or nesting too deep
    (``RecursionError``); a phrase for a one-line error."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return " ".join(str(exc).split())[:160] or exc.__class__.__name__
