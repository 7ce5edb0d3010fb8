"""Label maps and the DAVIS-style mask folder.

A label map is H×W uint8: 0 = background, otherwise the object id. A masks folder holds
one indexed PNG per frame named by 0-based frame index (``00000.png``, …) with the DAVIS
palette (pixel value = object id) at the upright source size, plus ``objects.json``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from editor.api.detectors import FrameDetection
from editor.api.errors import InputError
from editor.api.files import AtomicOutput, write_text
from editor.api.limits import open_image, regular_file

OBJECTS_FILE = "objects.json"
DETECTIONS_FILE = "detections.json"
"""Beside the label maps of a run with ``--detect``: every frame's detections (the floor
redaction covers, :class:`editor.api.detectors.FrameDetection`), so ``run --masks`` covers
them as the tracking run would have."""


def davis_palette() -> np.ndarray:
    """The 256×3 uint8 palette of DAVIS / PASCAL VOC annotations (bit-interleaved)."""
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal


PALETTE = davis_palette()


def bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), exclusive, of a 2-D mask's nonzero pixels; ``None`` when it has none.

    Rows first (one pass over the mask), then columns only within the rows found: a small
    object on a 1280×720 mask costs about a fifth of listing its pixels (``np.nonzero``)."""
    rows = np.flatnonzero(mask.any(axis=1))
    if not rows.size:
        return None
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(mask[y0:y1].any(axis=0))
    return int(cols[0]), y0, int(cols[-1]) + 1, y1


def union(masks: Iterable[np.ndarray]) -> np.ndarray:
    """The union of one or more masks of one shape (any dtype, nonzero = inside): a new bool
    array of that shape. Raises ``ValueError`` for no mask or masks of different shapes.

    The same pixels as ``np.logical_or.reduce([m.astype(bool) for m in masks])`` without
    stacking the masks into one array first: a single full-frame mask (a detection's shape
    prompt, on every frame and object of a crowd) costs one copy, not a stack and a reduction
    (1280×720: about 20 µs against 140)."""
    out: np.ndarray | None = None
    for m in masks:
        if out is None:
            out = np.array(m, dtype=bool, copy=True)
        elif m.shape != out.shape:
            raise ValueError(f"masks of different shapes: {out.shape} and {m.shape}")
        else:
            out |= m if m.dtype == bool else m.astype(bool)
    if out is None:
        raise ValueError("union of no masks")
    return out


def _boxes(masks: Mapping[int, np.ndarray], known: Mapping[int, tuple[int, int, int, int] | None] | None = None
           ) -> dict[int, tuple[int, int, int, int] | None]:
    """Each mask's :func:`bbox`, taken from ``known`` where it has the mask's id."""
    known = known or {}
    return {oid: known[oid] if oid in known else bbox(m) for oid, m in masks.items()}


def compose_label_map(masks: Mapping[int, np.ndarray], shape: tuple[int, int],
                      boxes: Mapping[int, tuple[int, int, int, int] | None] | None = None) -> np.ndarray:
    """Merge per-object bool masks (H×W, the frame's ``shape``) into one label map.

    Overlaps are resolved deterministically: a pixel claimed by several objects goes
    to the object with the **smaller** mask (a face stays separate from the person it
    is on), ties to the lower id. Each mask is counted and painted inside its bounding box
    only (``boxes``: the exact :func:`bbox` of those masks the caller has it for; the others
    are measured): 46 small faces on a 720p frame cost a pass each to find their boxes, not
    three."""
    boxes = _boxes(masks, boxes)
    labels = np.zeros(shape, np.uint8)
    area = {oid: 0 if box is None else int(np.count_nonzero(masks[oid][box[1]:box[3], box[0]:box[2]]))
            for oid, box in boxes.items()}
    order = sorted(masks, key=lambda i: (-area[i], -i))
    for oid in order:  # largest first, so smaller objects are painted on top
        box = boxes[oid]
        if box is not None:
            x0, y0, x1, y1 = box
            # twice as fast as labels[mask] = oid
            np.copyto(labels[y0:y1, x0:x1], oid, where=masks[oid][y0:y1, x0:x1])
    return labels


def resolve_overlaps(masks: Mapping[int, np.ndarray], shape: tuple[int, int],
                     known: Mapping[int, tuple[int, int, int, int] | None] | None = None) -> dict[int, np.ndarray]:
    """Per-object bool masks (H×W, the frame's ``shape``) with every pixel claimed by several
    objects given to one of them by :func:`compose_label_map`'s rule (the smaller object;
    ties to the lower id). When no two masks' bounding boxes meet, nothing overlaps and the
    masks come back as they are (bool); else the label map is composed and split
    (:func:`split_label_map`), every object getting a new mask (empty when it lost all).
    ``known``: the exact :func:`bbox` of some of the masks (a stored prompt's), not measured again."""
    masks = {oid: m if m.dtype == bool else m.astype(bool) for oid, m in masks.items()}
    if len(masks) <= 1:
        return masks
    boxes = _boxes(masks, known)
    placed = sorted((b, oid) for oid, b in boxes.items() if b is not None)
    # sweep by x0: a box meets another when it starts before one of the earlier ones ends
    meet = False
    for i, ((x0, y0, x1, y1), _) in enumerate(placed):
        for (u0, v0, u1, v1), _ in placed[i + 1:]:
            if u0 >= x1:
                break
            if v0 < y1 and y0 < v1:
                meet = True
                break
        if meet:
            break
    if not meet:
        return masks
    return split_label_map(compose_label_map(masks, shape, boxes), list(masks))


def replace_objects(labels: np.ndarray, update: np.ndarray, ids: Iterable[int]) -> np.ndarray:
    """``labels`` with the objects ``ids`` taken from the label map ``update`` instead (an id
    of ``ids`` absent from ``update`` disappears). Where an updated object overlaps another
    one, the rule of :func:`compose_label_map` decides: the smaller object wins, ties go to
    the lower id. Works on the label maps directly; returns a new array."""
    base = np.where(np.isin(labels, list(ids)), 0, labels).astype(np.uint8)
    size = np.bincount(base.ravel(), minlength=256)
    size_new = np.bincount(update.ravel(), minlength=256)
    here, there = size_new[update], size[base]
    take = (update > 0) & ((base == 0) | (here < there) | ((here == there) & (update < base)))
    return np.where(take, update, base).astype(np.uint8)


def box_of_each(labels: np.ndarray, ids: Iterable[int]) -> np.ndarray:
    """Bool H×W mask of the bounding box of each of the ``ids`` in the label map."""
    out = np.zeros(labels.shape, bool)
    for oid in ids:
        ys, xs = np.nonzero(labels == oid)
        if len(ys):
            out[ys.min():ys.max() + 1, xs.min():xs.max() + 1] = True
    return out


def present_ids(labels: np.ndarray) -> list[int]:
    """Object ids present in a uint8 label map (fast: a histogram, no sort)."""
    if labels.size == 0:
        return []
    counts = cv2.calcHist([np.ascontiguousarray(labels, np.uint8)], [0], None, [256], [0, 256]).ravel()
    return [int(i) for i in np.flatnonzero(counts[1:]) + 1]


def split_label_map(labels: np.ndarray, ids: list[int] | None = None) -> dict[int, np.ndarray]:
    """Per-object bool masks of a label map (only ids present, or the given ids; an id
    absent from the map gets an empty mask). Each mask is compared only inside its object's
    bounding box (:func:`scipy.ndimage.find_objects`, one pass over the map): 47 small faces on
    a 720p map cost one pass, not 47."""
    present = ids if ids is not None else present_ids(labels)
    if len(present) <= 2:
        return {i: labels == i for i in present}
    from scipy import ndimage

    boxes = ndimage.find_objects(labels, max_label=max(present, default=0))
    out: dict[int, np.ndarray] = {}
    for i in present:
        mask = np.zeros(labels.shape, bool)
        where = boxes[i - 1] if 0 < i <= len(boxes) else None
        if where is not None:
            mask[where] = labels[where] == i
        out[i] = mask
    return out


def write_label_png(path: Path, labels: np.ndarray) -> None:
    """Write an indexed PNG with the DAVIS palette (atomic: temp file then rename)."""
    img = Image.fromarray(np.ascontiguousarray(labels.astype(np.uint8)))  # mode L
    # putpalette turns an L image into a P (indexed) image
    img.putpalette(PALETTE.tobytes())
    with AtomicOutput(path, clean_stale=False) as out:
        img.save(out.path, format="PNG", optimize=False, compress_level=1)


def read_label_png(path: Path) -> np.ndarray:
    """Read a label PNG: palette images give their indices; others: gray value = id."""
    try:
        with open_image(path) as img:
            if img.mode == "P":
                return np.array(img, dtype=np.uint8)
            if img.mode in ("L", "I", "I;16", "1"):
                return np.array(img.convert("L"), dtype=np.uint8)
            # An RGB annotation: map known palette colours back to ids.
            rgb = np.array(img.convert("RGB"))
    except FileNotFoundError as exc:
        raise InputError("mask file missing", path) from exc
    except OSError as exc:
        raise InputError(f"not a readable mask image ({exc})", path) from exc
    key = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    pal_key = (PALETTE[:, 0].astype(np.int32) << 16) | (PALETTE[:, 1].astype(np.int32) << 8) | PALETTE[:, 2]
    lut = {int(k): i for i, k in reversed(list(enumerate(pal_key)))}
    out = np.zeros(key.shape, np.uint8)
    for k in np.unique(key):
        if int(k) not in lut:
            raise InputError(f"colour #{int(k):06x} is not in the DAVIS palette", path)
        out[key == k] = lut[int(k)]
    return out


@dataclass
class MasksManifest:
    """``objects.json`` of a masks folder."""

    objects: dict[int, str]
    frame_count: int
    width: int
    height: int
    source: str = ""
    version: int = 1
    kept: frozenset[int] = frozenset()
    """Objects marked keep (never redacted, nor the faces on them)."""

    def to_json(self) -> str:
        return json.dumps({"version": self.version, "source": self.source,
                           "frame_count": self.frame_count, "width": self.width, "height": self.height,
                           "objects": [{"id": i, "name": n, **({"keep": True} if i in self.kept else {})}
                                       for i, n in sorted(self.objects.items())]},
                          indent=2) + "\n"

    @classmethod
    def load(cls, folder: Path) -> "MasksManifest":
        path = folder / OBJECTS_FILE
        try:
            if path.exists():  # a FIFO or device would block or never end
                regular_file(path, OBJECTS_FILE)
            data = json.loads(path.read_text())
            return cls({int(o["id"]): str(o.get("name", "")) for o in data["objects"]},
                       int(data["frame_count"]), int(data["width"]), int(data["height"]),
                       str(data.get("source", "")), int(data.get("version", 1)),
                       frozenset(int(o["id"]) for o in data["objects"] if o.get("keep") is True))
        except FileNotFoundError as exc:
            raise InputError(f"no {OBJECTS_FILE} (not a trackedit masks folder)", folder) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{OBJECTS_FILE} is invalid ({exc})", folder) from exc


def encode_mask_png(mask: np.ndarray) -> bytes:
    """A bool H×W mask as the bytes of a 1-bit PNG (what
    :func:`editor.api.prompts.load_mask_file` reads back: True where the pixel is set). A
    person's mask on a 1080p frame takes a few kilobytes."""
    import io

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(mask, dtype=bool)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def frame_png(folder: Path, index: int) -> Path:
    return folder / f"{index:05d}.png"


_FRAME_PNG = re.compile(r"\d{5,}\.png")
MASKS_FOLDER_FILES = frozenset({OBJECTS_FILE, DETECTIONS_FILE, "confidence.json"})
"""Files a masks folder holds besides its frames' PNGs (:class:`MaskFolderWriter`,
``trackedit track``'s ``confidence.json``)."""


def foreign_entries(folder: Path) -> list[str]:
    """Why ``folder`` (non-empty) is not a masks folder trackedit wrote: the names in it that
    a masks folder does not hold (anything but frame PNGs and :data:`MASKS_FOLDER_FILES`),
    sorted, or — all names being such — ``[OBJECTS_FILE]`` when it has no readable manifest
    (someone's own frames named ``00000.png``…); ``[]`` for a masks folder or an empty one.
    ``track --overwrite`` replaces a masks folder, never a folder of someone's other files (a
    new user's notes and photos, then their own numbered frames, went with it)."""
    names = [e.name for e in folder.iterdir()]
    foreign = sorted(e.name for e in folder.iterdir()
                     if not (e.is_file() and (_FRAME_PNG.fullmatch(e.name) or e.name in MASKS_FOLDER_FILES)))
    if foreign or not names:
        return foreign
    try:
        MasksManifest.load(folder)
    except InputError:
        return [OBJECTS_FILE]
    return []


@dataclass
class MaskFolderWriter:
    """Writes label maps into a DAVIS-layout folder, then ``objects.json`` on close."""

    folder: Path
    objects: dict[int, str]
    source: str = ""
    count: int = 0
    size: tuple[int, int] = (0, 0)
    kept: frozenset[int] = frozenset()
    detections: dict[int, list[dict]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, index: int, labels: np.ndarray, detections: Iterable[FrameDetection] = ()) -> None:
        """Frame ``index``'s label map, and its detections (kept for :data:`DETECTIONS_FILE`)."""
        write_label_png(frame_png(self.folder, index), labels)
        self.count = max(self.count, index + 1)
        self.size = (labels.shape[1], labels.shape[0])
        # A detection's own mask (a person) is saved as its box: the floor it gives a later
        # run from this folder covers at least the person.
        found = [{"box": list(d.box), "detector": d.detector, "object": d.object_id,
                  "shape": "box" if d.shape == "mask" else d.shape, "label": d.label} for d in detections]
        if found:
            self.detections[index] = found

    def close(self) -> Path:
        manifest = MasksManifest(self.objects, self.count, self.size[0], self.size[1], self.source, kept=self.kept)
        write_text(self.folder / OBJECTS_FILE, manifest.to_json())
        if self.detections:
            write_text(self.folder / DETECTIONS_FILE,
                       json.dumps({str(f): d for f, d in sorted(self.detections.items())}) + "\n")
        return self.folder


def load_frame_detections(folder: Path) -> dict[int, tuple[FrameDetection, ...]]:
    """The :data:`DETECTIONS_FILE` of a masks folder (frame → its detections; empty when the
    folder has none). Raises :class:`InputError` naming the file when it is malformed."""
    path = folder / DETECTIONS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return {int(f): tuple(FrameDetection(tuple(float(v) for v in d["box"]), str(d["detector"]),  # type: ignore[arg-type]
                                             None if d.get("object") is None else int(d["object"]),
                                             str(d.get("shape", "ellipse")), str(d.get("label", "")))
                              for d in found)
                for f, found in data.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"{DETECTIONS_FILE} is invalid ({exc})", folder) from exc


def iter_mask_folder(folder: Path, frame_count: int, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Label maps 0..frame_count-1 from a masks folder, checked against the video size."""
    manifest = MasksManifest.load(folder)
    if (manifest.width, manifest.height) != size:
        raise InputError(f"masks are {manifest.width}x{manifest.height}, the video is {size[0]}x{size[1]}",
                         folder)
    for i in range(frame_count):
        path = frame_png(folder, i)
        if not path.exists():
            raise InputError(f"no mask for frame {i} ({path.name}); the masks cover "
                             f"{manifest.frame_count} frames", folder)
        labels = read_label_png(path)
        if labels.shape != (size[1], size[0]):
            raise InputError(f"{path.name} is {labels.shape[1]}x{labels.shape[0]}, expected "
                             f"{size[0]}x{size[1]}", folder)
        yield labels
