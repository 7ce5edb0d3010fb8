"""Sessions that outlive the server (``trackedit ui --sessions DIR``).

A session's folder holds its work: ``prompts.json`` (the objects and prompts, autosaved after
every change; mask files relative to the folder), ``work/masks/`` (the tracked label maps, as
the engine writes them), the last ``render.*`` and ``session.json`` (this module: which video,
the tracker's confidence and states, the detected objects' spans and detections, the last
render, and when the page was last heard from). A server started on the same folder reopens
a session from these when its page asks for it (:func:`reopen`): the same objects, markers
and masks; the tracker's memory starts afresh.

Nothing read here becomes a path outside the session's folder: session ids are 32 hex
digits, a render is ``render.<container>``, and a prompt whose mask file lies outside the
folder (or is a link) is refused.
"""
from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from editor.api.detectors import FrameDetection
from editor.api.errors import TrackeditError
from editor.api.files import AtomicOutput
from editor.api.prompts import PromptSet, parse_prompts
from editor.tracking.engine import TrackingSession

RECORD = "session.json"
PROMPTS = "prompts.json"
SESSION_ID = re.compile(r"[0-9a-f]{32}")
UPLOAD_NAME = re.compile(r"([0-9a-f]{32})(\.[a-z0-9]{1,5})")
VERSION = 1


@dataclass(frozen=True)
class SessionRecord:
    """What ``session.json`` says of a session that is not open (read by :func:`read`)."""

    upload: str | None
    """The upload's key; ``None``: the video given on the command line."""
    name: str
    """The video's name as the page shows it."""
    video_bytes: int
    """The video file's size (a command line's video must be the same file to reopen)."""
    seen: float
    """When the page was last heard from (:func:`time.time`, s)."""


def save_prompts(session: TrackingSession, folder: Path) -> None:
    """Write the session's prompts to ``folder/prompts.json`` (under a temporary name, then
    renamed): the prompts contract, mask files relative to the folder, and ``names`` for
    every object (objects without prompts too)."""
    path = folder / PROMPTS
    prompts = session.prompt_set()
    doc = PromptSet(prompts.objects, path, prompts.version).to_dict()
    doc["names"] = {str(o.id): o.name for o in session.objects()}
    with AtomicOutput(path, clean_stale=False) as out:
        out.path.write_text(json.dumps(doc, indent=1))


def save(session: TrackingSession, folder: Path, *, upload: str | None, name: str, seen: float,
         render: str | None) -> None:
    """Write ``folder/session.json``: the video, ``seen`` (:func:`time.time`), the last
    render's container and what the engine holds beside its files (confidence and states of
    the tracked frames, the detected objects' spans and detections). Call under the session's
    lock."""
    stats = session.stats
    doc = {"version": VERSION, "upload": upload, "name": name, "video_bytes": file_size(Path(session.video_path)),
           "seen": seen, "render": render,
           "confidence": {str(f): {str(o): c for o, c in per.items()} for f, per in stats.confidence.items()},
           "states": {str(f): {str(o): s for o, s in per.items()} for f, per in stats.states.items()},
           "spans": {str(o): list(span) for o, span in session.spans.items()},
           "detections": {str(f): [_detection_json(d) for d in found] for f, found in session.detections.items()}}
    with AtomicOutput(folder / RECORD, clean_stale=False) as out:
        out.path.write_text(json.dumps(doc))


def read(folder: Path) -> SessionRecord | None:
    """The record of a session folder, ``None`` when it has none or it is not one this
    module wrote (a link, malformed JSON, an upload key that is not one, a work folder that
    is a link)."""
    path = folder / RECORD
    if path.is_symlink() or not path.is_file():
        return None
    work = folder / "work"  # the engine writes there: a planted link would lead it outside
    if any(p.is_symlink() for p in (work, work / "masks", work / "corrections")):
        return None
    try:
        doc = json.loads(path.read_text())
        upload, name, size = doc["upload"], str(doc["name"]), int(doc["video_bytes"])
        seen = float(doc["seen"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if doc.get("version") != VERSION or not (upload is None or (isinstance(upload, str) and SESSION_ID.fullmatch(upload))):
        return None
    prompts = folder / PROMPTS  # a crash after clicks: the page was heard from when they came
    if prompts.is_file() and not prompts.is_symlink():
        seen = max(seen, prompts.stat().st_mtime)
    return SessionRecord(upload, name, size, seen)


def reopen(session: TrackingSession, folder: Path) -> str | None:
    """Give ``session`` (opened on the folder's ``work/``) the work the folder holds: objects
    and prompts, tracked masks with their confidence, spans and detections. Returns the last
    render's container (``None``: none). Raises :class:`TrackeditError` for a folder whose
    files are not what this module and the engine wrote."""
    doc = json.loads((folder / RECORD).read_text())
    path = folder / PROMPTS
    saved = json.loads(path.read_text()) if path.is_file() and not path.is_symlink() else {"objects": []}
    names = {int(k): str(v) for k, v in saved.pop("names", {}).items()}
    if saved.get("objects"):
        prompts = parse_prompts(saved, path)
        inside = folder.resolve()
        for obj in prompts.objects:
            for p in obj.prompts:
                if p.mask is not None and (p.mask.is_symlink() or not p.mask.resolve().is_relative_to(inside)):
                    raise TrackeditError(f"{path}: object {obj.id}'s mask {p.mask} is not a file of the session")
        session.add_prompts(prompts)
    for oid, name in sorted(names.items()):
        if oid in {o.id for o in session.objects()}:
            session.rename(oid, name)
        else:
            session.add_object(name, oid)
    session.spans.update({int(o): (int(a), int(b)) for o, (a, b) in doc.get("spans", {}).items()})
    session.detections.update({int(f): tuple(_detection(d) for d in found)
                               for f, found in doc.get("detections", {}).items()})
    session.reopen({int(f): per for f, per in doc.get("confidence", {}).items()},
                   {int(f): per for f, per in doc.get("states", {}).items()})
    render = doc.get("render")
    return render if isinstance(render, str) and render.isascii() and render.isalnum() else None


def expired(record: SessionRecord, idle_seconds: float, now: float | None = None) -> bool:
    """Whether a session's page has not been heard from for ``idle_seconds``."""
    return (time.time() if now is None else now) - record.seen > idle_seconds


def _detection_json(d: FrameDetection) -> dict[str, Any]:
    return {"box": list(d.box), "detector": d.detector, "object": d.object_id, "shape": d.shape, "label": d.label,
            "mask": None if d.mask_png is None else base64.b64encode(d.mask_png).decode("ascii")}


def _detection(d: dict[str, Any]) -> FrameDetection:
    box = tuple(float(v) for v in d["box"])
    if len(box) != 4:
        raise TrackeditError("session.json: a detection's box is not 4 numbers")
    return FrameDetection(box, str(d["detector"]), None if d.get("object") is None else int(d["object"]),  # type: ignore[arg-type]
                          str(d.get("shape", "ellipse")), str(d.get("label", "")),
                          None if d.get("mask") is None else base64.b64decode(d["mask"]))


def file_size(path: Path) -> int:
    """``path``'s size in bytes (0 when it cannot be read)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0
