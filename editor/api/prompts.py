"""The prompt contract: which objects to track and the clicks/boxes/masks that define them.

The same file is read by ``trackedit run/track``, written by the web UI and used by the
benchmarks. JSON (or TOML with the same structure)::

    {"version": 1,
     "objects": [
       {"id": 1, "name": "bunny",
        "prompts": [
          {"frame": 0, "points": [[320, 150], [300, 40]], "labels": [1, 0]},
          {"frame": 0, "box": [280, 60, 380, 250]},
          {"frame": 0, "mask": "masks/bunny_0000.png"},
          {"frame": 60, "box": [290, 70, 370, 240], "shape": "ellipse"},
          {"frame": 120, "points": [[400, 160]], "labels": [1]}]}]}

Pixel coordinates are (x, y) in the upright frame; ``frame`` is the 0-based index in
display order; label 1 = include, 0 = exclude (labels default to all 1). Several prompts
on one frame combine; prompts on later frames are corrections. ``mask`` paths are
relative to the prompts file, or the mask is carried inside it as a
``"data:image/png;base64,…"`` URI (the web UI's download, so that it replays anywhere).
Points together with a mask on one frame edit that mask (a correction of a tracked mask:
the web UI gives the tracked mask with the clicks). Object ids are 1…255 (they are pixel values in the
DAVIS-style mask PNGs).

A ``box`` alone asks the segmenter for the object inside it. A ``box`` with ``shape``
(``"box"`` or ``"ellipse"``) *is* the mask: the box itself or the ellipse inscribed in it,
taken as given like a mask file (no segmentation). That is how detected objects
(:mod:`editor.detection`) carry the detector's shape without writing mask images; a shape's
box may extend past the frame (a face half out of view), only the part inside is the mask.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from editor.api.errors import PromptError
from editor.api.files import write_text
from editor.api.limits import check_prompt_counts, current, document_problem, open_image, regular_file

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

CONTRACT_VERSION = 1
MAX_OBJECT_ID = 255
_TOP_KEYS = {"version", "objects"}
_OBJECT_KEYS = {"id", "name", "prompts", "keep"}
_PROMPT_KEYS = {"frame", "points", "labels", "box", "mask", "shape", "interpolated"}
SHAPES = ("box", "ellipse")
PNG_DATA_URI = "data:image/png;base64,"
"""How a prompts file carries a mask inside itself (``"mask": "data:image/png;base64,…"``)."""
"""Values of a prompt's ``shape``: its ``box`` is the mask as a rectangle or as the inscribed ellipse."""


def paint_shape(out: np.ndarray, box: tuple[float, float, float, float], shape: str) -> np.ndarray:
    """Set the pixels of ``out`` (bool H×W, modified in place and returned) whose centres lie
    inside ``box`` (x0, y0, x1, y1 in pixels, may extend past the frame; ``shape="box"``) or
    inside the ellipse inscribed in it (``"ellipse"``). The one rasterisation of shape
    prompts and of the detections redaction covers (:class:`editor.api.detectors.FrameDetection`)."""
    height, width = out.shape
    x0, y0, x1, y1 = box
    c0, c1 = max(0, int(np.floor(x0))), min(width, int(np.ceil(x1)))
    r0, r1 = max(0, int(np.floor(y0))), min(height, int(np.ceil(y1)))
    if c0 >= c1 or r0 >= r1:
        return out
    xs = np.arange(c0, c1) + 0.5
    ys = np.arange(r0, r1) + 0.5
    if shape == "box":
        out[r0:r1, c0:c1] |= ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
    else:
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 1e-6), max((y1 - y0) / 2, 1e-6)
        out[r0:r1, c0:c1] |= (((ys - cy) / ry) ** 2)[:, None] + (((xs - cx) / rx) ** 2)[None, :] <= 1.0
    return out


@dataclass(frozen=True)
class Prompt:
    """One prompt for one object on one frame."""

    frame: int
    points: tuple[tuple[float, float], ...] = ()
    labels: tuple[int, ...] = ()
    box: tuple[float, float, float, float] | None = None
    mask: Path | None = None
    shape: str | None = None
    """``None``: ``box`` bounds the segmentation. ``"box"`` / ``"ellipse"`` (:data:`SHAPES`):
    ``box`` is the mask itself, the rectangle or its inscribed ellipse (see
    :meth:`shape_mask`), possibly extending past the frame."""
    interpolated: bool = False
    """Interpolated between two given prompts, not given itself (a detector's box bridged
    across the frames between two detections, :mod:`editor.detection`): tracked like any
    prompt, recorded with the state ``interpolated`` (:mod:`editor.tracking.confidence`)."""
    mask_png: bytes | None = None
    """A mask carried in the prompts file itself (PNG bytes; ``"mask":
    "data:image/png;base64,…"``), read like a mask file; :meth:`PromptSet.embedded` turns
    mask files into it so that a prompts file travels alone."""

    @property
    def has_mask(self) -> bool:
        """Whether a mask (file or embedded) is part of this prompt."""
        return self.mask is not None or self.mask_png is not None

    def mask_image(self, object_id: int, source: Path | None = None) -> np.ndarray | None:
        """The prompt's mask (bool H×W; see :func:`load_mask_file`), ``None`` without one."""
        if self.mask_png is not None:
            return load_mask_file(self.mask_png, object_id, source)
        return load_mask_file(self.mask, object_id, source) if self.mask is not None else None

    @property
    def segments(self) -> bool:
        """Whether the segmenter gets this prompt's points or box (a shape prompt and a mask
        file alone are masks, taken as given)."""
        return bool(self.points) or (self.box is not None and self.shape is None)

    def shape_mask(self, height: int, width: int) -> np.ndarray:
        """The mask of a shape prompt: bool ``height``×``width``, True on the pixels whose
        centres lie inside the box (``shape="box"``) or inside the ellipse inscribed in it
        (``"ellipse"``); pixels of the box outside the frame are dropped. Raises
        ``ValueError`` for a prompt without ``shape`` and ``box``."""
        if self.shape not in SHAPES or self.box is None:
            raise ValueError("shape_mask needs a box prompt with shape 'box' or 'ellipse'")
        out = np.zeros((height, width), bool)
        paint_shape(out, self.box, self.shape)
        return out

    @property
    def positive_points(self) -> list[tuple[float, float]]:
        return [p for p, lab in zip(self.points, self.labels) if lab == 1]

    @property
    def negative_points(self) -> list[tuple[float, float]]:
        return [p for p, lab in zip(self.points, self.labels) if lab == 0]

    def to_dict(self, relative_to: Path | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"frame": self.frame}
        if self.points:
            out["points"] = [list(p) for p in self.points]
            out["labels"] = list(self.labels)
        if self.box is not None:
            out["box"] = list(self.box)
        if self.shape is not None:
            out["shape"] = self.shape
        if self.interpolated:
            out["interpolated"] = True
        if self.mask_png is not None:
            out["mask"] = PNG_DATA_URI + base64.b64encode(self.mask_png).decode("ascii")
        elif self.mask is not None:
            mask = self.mask
            if relative_to is not None:
                try:
                    mask = mask.resolve().relative_to(relative_to.resolve())
                except ValueError:
                    pass
            out["mask"] = mask.as_posix()
        return out


def gathered(prompts: list[Prompt], frame_index: int, model: str
             ) -> tuple[list[tuple[float, float]], list[int], tuple[float, float, float, float] | None]:
    """The points (frame pixels), their labels (1 include, 0 exclude) and the one box of one
    object's ``prompts`` on a frame, for a promptable segmenter (SAM, SAM 2) that takes one
    box per object and frame. Raises :class:`PromptError` naming ``model`` for several boxes."""
    points: list[tuple[float, float]] = []
    labels: list[int] = []
    boxes = []
    for p in prompts:
        points.extend(p.points)
        labels.extend(p.labels)
        if p.box is not None:
            boxes.append(p.box)
    if len(boxes) > 1:
        raise PromptError(f"frame {frame_index}: {model} takes one box per object and frame, got {len(boxes)}")
    return points, labels, boxes[0] if boxes else None


@dataclass(frozen=True)
class ObjectPrompts:
    """An object to track: stable id, display name and its prompts (any frames)."""

    id: int
    name: str
    prompts: tuple[Prompt, ...]
    keep: bool = False
    """A person whose face stays visible (``"keep": true``; ``trackedit run --keep``):
    redaction stages never edit this object, nor the detected tracks decided to be this
    person's (their face's track, :func:`editor.pipeline.orchestrator._kept_faces`), nor a
    neighbour's person region where it lies on them; every other face detection is covered,
    also on them (:func:`editor.api.stages.redaction_region`). Everyone else is still
    redacted."""

    @property
    def first_frame(self) -> int:
        return min(p.frame for p in self.prompts)

    @property
    def label(self) -> str:
        return f"object {self.id} ({self.name!r})" if self.name else f"object {self.id}"


@dataclass(frozen=True)
class PromptSet:
    """All objects of a prompts file."""

    objects: tuple[ObjectPrompts, ...]
    source: Path | None = None
    version: int = CONTRACT_VERSION

    # -- queries -----------------------------------------------------------------
    @property
    def ids(self) -> list[int]:
        return [o.id for o in self.objects]

    def names(self) -> dict[int, str]:
        return {o.id: o.name for o in self.objects}

    def kept(self) -> set[int]:
        """Ids of the objects marked ``keep`` (:attr:`ObjectPrompts.keep`)."""
        return {o.id for o in self.objects if o.keep}

    def frames(self) -> list[int]:
        """Sorted frame indices carrying at least one prompt."""
        return sorted({p.frame for o in self.objects for p in o.prompts})

    def on_frame(self, frame: int) -> dict[int, list[Prompt]]:
        """Prompts on ``frame`` grouped by object id (objects without prompts omitted)."""
        out: dict[int, list[Prompt]] = {}
        for obj in self.objects:
            here = [p for p in obj.prompts if p.frame == frame]
            if here:
                out[obj.id] = here
        return out

    # -- checks against the video ----------------------------------------------
    def validate_for_video(self, width: int, height: int, frame_count: int | None) -> None:
        """Check coordinates fit the upright frame and frames exist; errors name object/prompt/field."""
        for obj in self.objects:
            for i, p in enumerate(obj.prompts):
                where = f"{obj.label}, prompt {i}"
                if frame_count is not None and p.frame >= frame_count:
                    raise PromptError(f"{where}: frame {p.frame} is past the end "
                                      f"(the video has {frame_count} frames)", self.source)
                for j, (x, y) in enumerate(p.points):
                    if not (0 <= x < width and 0 <= y < height):
                        raise PromptError(f"{where}: points[{j}] ({x:g}, {y:g}) is outside the "
                                          f"{width}x{height} frame", self.source)
                if p.box is not None and p.shape is not None:
                    x0, y0, x1, y1 = p.box
                    if x1 <= 0 or y1 <= 0 or x0 >= width or y0 >= height:
                        raise PromptError(f"{where}: box {list(p.box)} of the {p.shape} lies outside the "
                                          f"{width}x{height} frame", self.source)
                elif p.box is not None:
                    x0, y0, x1, y1 = p.box
                    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
                        raise PromptError(f"{where}: box {list(p.box)} goes outside the "
                                          f"{width}x{height} frame", self.source)
                if p.has_mask:
                    m = p.mask_image(obj.id, self.source)
                    assert m is not None
                    if m.shape != (height, width):
                        what = p.mask if p.mask is not None else "(embedded)"
                        raise PromptError(f"{where}: mask {what} is {m.shape[1]}x{m.shape[0]}, "
                                          f"the video is {width}x{height}", self.source)

    # -- serialisation -------------------------------------------------------------
    def embedded(self) -> "PromptSet":
        """A copy whose mask files are carried inside the prompts (``mask_png``): a prompts
        file that replays anywhere (the web UI's download, whose masks live in a session's
        folder). Raises :class:`PromptError` for a mask file that cannot be read."""
        def embed(p: Prompt) -> Prompt:
            if p.mask is None:
                return p
            try:
                data = p.mask.read_bytes()
            except OSError as exc:
                raise PromptError(f"mask file {p.mask} cannot be read", self.source) from exc
            return dataclasses.replace(p, mask=None, mask_png=data)

        objects = tuple(dataclasses.replace(o, prompts=tuple(embed(p) for p in o.prompts)) for o in self.objects)
        return PromptSet(objects, self.source, self.version)

    def to_dict(self) -> dict[str, Any]:
        base = self.source.parent if self.source else None
        return {"version": self.version,
                "objects": [{"id": o.id, "name": o.name, **({"keep": True} if o.keep else {}),
                             "prompts": [p.to_dict(base) for p in o.prompts]} for o in self.objects]}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        data = PromptSet(self.objects, path, self.version).to_dict()
        return write_text(path, json.dumps(data, indent=2) + "\n")


def load_mask_file(path: Path | bytes, object_id: int, source: Path | None = None) -> np.ndarray:
    """Read a mask image (a file, or the bytes of an embedded one) as bool H×W.

    Non-zero pixels are the object; for a palette (indexed) PNG that contains the
    object's id, only pixels equal to the id are. Raises :class:`PromptError` naming the
    mask for a missing or special file, an unreadable image or one over the pixel limit
    (:mod:`editor.api.limits`).
    """
    what = "an embedded mask" if isinstance(path, bytes) else f"mask file {path}"
    try:
        with open_image(path, what, error=PromptError) as img:
            if img.mode == "P":
                arr = np.asarray(img)
                return arr == object_id if (arr == object_id).any() else arr > 0
            if img.mode == "1":  # a 1-bit mask (the detectors' own, encode_mask_png): bool as it is,
                return np.array(img)  # half the time of a trip through 8 bits
            arr = np.asarray(img.convert("L"))
    except PromptError as exc:
        raise PromptError(f"{exc.source}: {exc.message}", source) from None
    except OSError as exc:  # truncated image data
        raise PromptError(f"{what} is not a readable image ({exc.__class__.__name__})", source) from None
    return arr > 0


# -- parsing ---------------------------------------------------------------------------
def _fail(source: Path | None, where: str, what: str) -> PromptError:
    return PromptError(f"{where}: {what}" if where else what, source)


def _check_keys(obj: Any, allowed: set[str], source: Path | None, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _fail(source, where, f"expected a table/object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _fail(source, where, f"unknown key(s) {', '.join(map(repr, unknown))} "
                                   f"(allowed: {', '.join(sorted(allowed))})")
    return obj


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def _parse_prompt(raw: Any, source: Path | None, where: str) -> Prompt:
    raw = _check_keys(raw, _PROMPT_KEYS, source, where)
    if "frame" not in raw:
        raise _fail(source, where, "missing 'frame'")
    frame = raw["frame"]
    if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
        raise _fail(source, where, f"frame must be a non-negative integer, got {frame!r}")
    if not ({"points", "box", "mask"} & set(raw)):
        raise _fail(source, where, "needs at least one of 'points', 'box', 'mask'")
    points: list[tuple[float, float]] = []
    labels: list[int] = []
    if "points" in raw:
        pts = raw["points"]
        if not isinstance(pts, list) or not pts:
            raise _fail(source, where, "points must be a non-empty list of [x, y]")
        if (over := check_prompt_counts(len(pts), 0, 0)) is not None:
            raise _fail(source, where, f"too many points: {over}")
        for j, pt in enumerate(pts):
            if not (isinstance(pt, list) and len(pt) == 2 and all(_number(c) for c in pt)):
                raise _fail(source, where, f"points[{j}] must be [x, y] numbers, got {pt!r}")
            points.append((float(pt[0]), float(pt[1])))
        labs = raw.get("labels", [1] * len(points))
        if not isinstance(labs, list) or len(labs) != len(points):
            raise _fail(source, where, f"labels must be a list of {len(points)} values (one per point)")
        for j, lab in enumerate(labs):
            if lab not in (0, 1) or isinstance(lab, bool):
                raise _fail(source, where, f"labels[{j}] must be 1 (include) or 0 (exclude), got {lab!r}")
            labels.append(int(lab))
    elif "labels" in raw:
        raise _fail(source, where, "labels given without points")
    box = None
    if "box" in raw:
        b = raw["box"]
        if not (isinstance(b, list) and len(b) == 4 and all(_number(c) for c in b)):
            raise _fail(source, where, f"box must be [x0, y0, x1, y1], got {b!r}")
        if not (b[0] < b[2] and b[1] < b[3]):
            raise _fail(source, where, f"box {b} must have x0 < x1 and y0 < y1")
        box = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
    shape = raw.get("shape")
    if shape is not None:
        if shape not in SHAPES:
            raise _fail(source, where, f"shape must be one of {', '.join(map(repr, SHAPES))}, got {shape!r}")
        if box is None:
            raise _fail(source, where, "shape needs a box (the shape is the box or the ellipse inscribed in it)")
    mask = mask_png = None
    if "mask" in raw and isinstance(raw["mask"], str) and raw["mask"][:5].lower() == "data:":
        if not raw["mask"].startswith(PNG_DATA_URI):
            kind = raw["mask"][5:].split(",", 1)[0][:40]
            raise _fail(source, where, f"mask: an embedded mask must be {PNG_DATA_URI}…, got data:{kind}")
        try:
            mask_png = base64.b64decode(raw["mask"][len(PNG_DATA_URI):], validate=True)
        except (binascii.Error, ValueError):
            raise _fail(source, where, "mask: the embedded PNG is not valid base64") from None
        if not mask_png.startswith(b"\x89PNG"):
            raise _fail(source, where, "mask: the embedded data is not a PNG image")
        try:
            load_mask_file(mask_png, 1, source)
        except PromptError as exc:
            reason = exc.message.split(": ", 1)[-1]  # load_mask_file's "an embedded mask: <reason>"
            problem = f"is too large: {reason}" if "million pixels" in reason else "is not a readable image"
            raise _fail(source, where, f"mask: the embedded PNG {problem}") from None
    elif "mask" in raw:
        m = raw["mask"]
        if not isinstance(m, str) or not m:
            raise _fail(source, where, f"mask must be a file path or a data:image/png;base64 URI, got {m!r}")
        mask = Path(m)
        if not mask.is_absolute() and source is not None:
            mask = source.parent / mask
        if not mask.exists():
            raise _fail(source, where, f"mask file {mask} does not exist")
        try:
            regular_file(mask, "mask file", PromptError)
        except PromptError as exc:
            raise _fail(source, where, f"mask file {exc.source} {exc.message}") from None
    interpolated = raw.get("interpolated", False)
    if not isinstance(interpolated, bool):
        raise _fail(source, where, f"interpolated must be true or false, got {interpolated!r}")
    return Prompt(frame, tuple(points), tuple(labels), box, mask, shape, interpolated, mask_png)


def parse_prompts(data: Any, source: Path | None = None) -> PromptSet:
    """Validate a decoded JSON/TOML document; errors name the object, prompt and field."""
    data = _check_keys(data, _TOP_KEYS, source, "")
    version = data.get("version", CONTRACT_VERSION)
    if version != CONTRACT_VERSION:
        raise _fail(source, "", f"unsupported version {version!r} (this trackedit reads version 1)")
    objects_raw = data.get("objects")
    if not isinstance(objects_raw, list) or not objects_raw:
        raise _fail(source, "", "'objects' must be a non-empty list")
    if (over := check_prompt_counts(0, 0, len(objects_raw))) is not None:
        raise _fail(source, "", f"too many objects: {over}")
    objects: list[ObjectPrompts] = []
    seen_ids: set[int] = set()
    seen_names: set[str] = set()
    for i, raw_obj in enumerate(objects_raw):
        where = f"objects[{i}]"
        raw_obj = _check_keys(raw_obj, _OBJECT_KEYS, source, where)
        oid = raw_obj.get("id", i + 1)
        if not isinstance(oid, int) or isinstance(oid, bool) or not 1 <= oid <= MAX_OBJECT_ID:
            raise _fail(source, where, f"id must be an integer 1..{MAX_OBJECT_ID}, got {oid!r}")
        if oid in seen_ids:
            raise _fail(source, where, f"duplicate id {oid}")
        seen_ids.add(oid)
        name = raw_obj.get("name", "")
        if not isinstance(name, str):
            raise _fail(source, where, f"name must be a string, got {name!r}")
        if len(name) > current().max_name_chars:
            raise _fail(source, where, f"name is {len(name)} characters long (the limit is "
                                       f"{current().max_name_chars})")
        if name and name in seen_names:
            raise _fail(source, where, f"duplicate name {name!r}")
        seen_names.add(name)
        label = f"object {oid}" + (f" ({name!r})" if name else "")
        prompts_raw = raw_obj.get("prompts")
        if not isinstance(prompts_raw, list) or not prompts_raw:
            raise _fail(source, label, "'prompts' must be a non-empty list")
        if (over := check_prompt_counts(0, len(prompts_raw), 0)) is not None:
            raise _fail(source, label, f"too many prompts: {over}")
        prompts = tuple(_parse_prompt(p, source, f"{label}, prompt {j}") for j, p in enumerate(prompts_raw))
        keep = raw_obj.get("keep", False)
        if not isinstance(keep, bool):
            raise _fail(source, label, f"keep must be true or false, got {keep!r}")
        objects.append(ObjectPrompts(oid, name, tuple(sorted(prompts, key=lambda p: p.frame)), keep))
    return PromptSet(tuple(objects), source, version)


def load_prompts(path: str | Path) -> PromptSet:
    """Read and validate a prompts file (``.json`` or ``.toml``)."""
    path = regular_file(path, "prompts file", PromptError)
    text = path.read_text(encoding="utf-8", errors="replace")
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        data = tomllib.loads(text) if kind == "TOML" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PromptError(f"not valid {kind} ({exc})", path) from exc
    except (ValueError, RecursionError) as exc:  # numbers of thousands of digits, nesting thousands deep
        raise PromptError(f"not valid {kind} ({document_problem(exc)})", path) from None
    return parse_prompts(data, path)
