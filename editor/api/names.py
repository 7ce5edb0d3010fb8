"""Names are never paths: the one mapping from user text to a file-name component, and the
one way user text is shown in a message.

Object names, preset and stage names, detector labels and manifest fields are text a person
(or a hostile file) chose. Wherever such text becomes part of a path it goes through
:func:`safe_name`, which gives one file-name component that cannot leave its folder: no
separators, no ``.``/``..``, no control characters, no characters Windows refuses, bounded
length. Wherever it reaches a terminal or a log it goes through :func:`printable`, which
escapes control characters (terminal escape sequences) instead of passing them on.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata

#: The longest component :func:`safe_name` returns, in characters (file systems allow 255
#: bytes; a UTF-8 character takes up to 4, and callers add a prefix such as ``12-``).
MAX_NAME_CHARS = 60

_UNSAFE = re.compile(r'[\x00-\x1f\x7f-\x9f/\\:*?"<>|]+')
_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$", re.IGNORECASE)


def safe_name(text: str, *, fallback: str = "unnamed", max_chars: int = MAX_NAME_CHARS) -> str:
    """``text`` as one file-name component: NFC-normalised, every run of path separators,
    control characters and characters Windows refuses replaced by ``_``, leading dots,
    spaces and dashes removed (no hidden files, no ``..``, no option look-alikes), at most
    ``max_chars`` characters (a longer name keeps its start and gets a short hash of the
    whole text, so that two long names differing at the end stay different). Empty results
    and device names (``con``, ``nul``…) give ``fallback``-based names. Never raises."""
    text = unicodedata.normalize("NFC", str(text))
    name = _UNSAFE.sub("_", text).strip().lstrip(".-_ ").rstrip(". ")
    if not name:
        return fallback
    if _WINDOWS_RESERVED.match(name):
        name = f"{fallback}-{name}"
    if len(name) > max_chars:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        name = name[:max_chars - 9].rstrip(". ") + "-" + digest
    return name


def printable(text: object) -> str:
    """``text`` safe to print on one terminal line: control characters (escape sequences,
    carriage returns, newlines, C1 codes) shown as ``\\xNN`` escapes; everything else
    unchanged."""
    return re.sub(r"[\x00-\x1f\x7f-\x9f]", lambda m: f"\\x{ord(m.group()):02x}", str(text))
