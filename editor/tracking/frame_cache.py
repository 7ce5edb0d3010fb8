"""Lossless on-disk store of frames and label maps by index, for the backward pass of a
headless run (frames before the last first prompt are read once, in order, and walked
backward from disk rather than kept in memory or decoded again).

A frame is stored whole: its RGB image (and alpha) as PNG, 8- or 16-bit as it came, and
its decoded planes (:class:`editor.api.frames.DecodedPlanes`) as one lossless grayscale PNG
per plane, so frames read back here pass through the writer as bit-exactly as frames that
never left memory.

``put(frame, tracking_only=True)`` keeps what tracking needs
(:meth:`editor.tracking.engine.TrackingSession.stream` with ``replay``): the decoded planes
as raw arrays (one uncompressed file a frame: at 1080p 4:2:0 3 MB, about the size of the image's
PNG, written and read ten times faster), from which :meth:`get` makes the very 8-bit RGB the
reader made (:func:`editor.video.pixels.rgb_of`); a frame without planes keeps its 8-bit RGB
raw. Alpha and planes are not returned then. The first such 8-bit images and label maps, up
to ``memory_bytes`` (:data:`editor.api.limits.CACHE_MEMORY_BYTES`), stay in memory as well
(read-only): :meth:`get` converts nothing for them. :meth:`get_output` gives a frame with
planes back whole (image at its depth, alpha, planes), as the reader gave it: the forward
pass takes its frames from here instead of decoding the video again. A cache the detection
pass filled (``editor.detection.detect.detect_objects`` with ``keep``) holds every frame of
the video so: tracking and the output then decode nothing (see
:meth:`editor.tracking.engine.TrackingSession.stream`, ``decoded``)."""
from __future__ import annotations

import dataclasses
import errno
import shutil
from pathlib import Path

import cv2
import numpy as np

from editor.api.files import writing_in
from editor.api.frames import DecodedPlanes, Frame
from editor.api.limits import CACHE_MEMORY_BYTES
from editor.api.masks import bbox

_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1]


def _imwrite(path: str, image: np.ndarray, params: list[int]) -> None:
    """``cv2.imwrite``, which returns ``False`` instead of raising: an ``OSError`` (no space
    when the folder's file system has less free than the image)."""
    if not cv2.imwrite(path, image, params):
        folder = Path(path).parent
        full = shutil.disk_usage(folder).free < image.nbytes
        raise OSError(errno.ENOSPC if full else errno.EIO, "cannot write", path)


class FrameCache:
    """``put(frame)`` / ``get(index)`` for frames (PNG, RGB uint8 or uint16, with alpha and
    decoded planes), ``put_labels`` / ``get_labels`` for uint8 label maps, ``drop(index)``
    frees both."""

    def __init__(self, folder: Path, memory_bytes: int = CACHE_MEMORY_BYTES) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._meta: dict[int, Frame] = {}
        self._tracking_only: set[int] = set()
        self._memory: dict[str, np.ndarray] = {}
        """Tracking-only 8-bit images (``f…``) and label maps (``b…``) held in memory."""
        self._room = memory_bytes
        self._layout: dict[int, list[tuple[tuple[int, ...], np.dtype]]] = {}
        """Tracking-only frame → its planes' shapes and dtypes, in its raw file (:meth:`_raw`)."""
        self._label_boxes: dict[int, tuple[tuple[int, ...], tuple[int, int, int, int] | None]] = {}
        """Frame → (label map's shape, box of its nonzero labels) (:meth:`put_labels`)."""

    def _hold(self, key: str, array: np.ndarray) -> bool:
        """Keep ``array`` (read-only) in memory under ``key`` if there is room left."""
        if array.nbytes > self._room:
            return False
        array = np.ascontiguousarray(array)
        array.flags.writeable = False
        self._memory[key] = array
        self._room -= array.nbytes
        return True

    def _release(self, key: str) -> None:
        array = self._memory.pop(key, None)
        if array is not None:
            self._room += array.nbytes

    def __contains__(self, index: object) -> bool:
        """Whether frame ``index`` is stored (put and not dropped)."""
        return index in self._meta

    def _files(self, index: int) -> list[Path]:
        files = [self.folder / f"f{index:06d}.png", self.folder / f"a{index:06d}.png"]
        k = 0
        while (path := self.folder / f"p{index:06d}_{k}.png").exists():
            files.append(path)
            k += 1
        return files

    def put(self, frame: Frame, *, tracking_only: bool = False) -> None:
        """Store ``frame`` (a full or read-only scratch folder: an ``OutputError`` naming it)."""
        with writing_in(self.folder, "the frame cache of the backward pass"):
            self._put(frame, tracking_only=tracking_only)

    def _put(self, frame: Frame, *, tracking_only: bool = False) -> None:
        """Store ``frame`` whole, or (``tracking_only``) what its 8-bit RGB image is made of
        and its timing: :meth:`get` then returns a frame with the 8-bit image only. Every
        frame keeps :attr:`~editor.api.frames.Frame.damaged` (trackers never learn from it,
        on the way back too)."""
        i = frame.index
        if tracking_only:
            planes = frame.planes
            held = self._hold(f"f{i}", frame.as_8bit().image)
            if planes is not None:  # kept for the output too (:meth:`get_output`)
                with open(self._raw(i), "wb") as out:
                    for plane in planes.data:
                        np.ascontiguousarray(plane).tofile(out)
                self._layout[i] = [(plane.shape, plane.dtype) for plane in planes.data]
                planes = dataclasses.replace(planes, data=())
            elif not held:
                np.save(self.folder / f"r{i:06d}_rgb.npy", frame.rgb8, allow_pickle=False)
            # the image's dtype says the depth it was decoded at (get_output makes it again)
            empty = np.empty((0, 0, 3), frame.image.dtype)
            self._meta[i] = Frame(i, empty, frame.pts, frame.time_base, frame.time, None, frame.duration, planes,
                                  frame.damaged)
            self._tracking_only.add(i)
            return
        _imwrite(str(self.folder / f"f{i:06d}.png"), np.ascontiguousarray(frame.image[..., ::-1]), _PNG)
        if frame.alpha is not None:
            _imwrite(str(self.folder / f"a{i:06d}.png"), frame.alpha, _PNG)
        planes = None
        if frame.planes is not None:
            for k, plane in enumerate(frame.planes.data):
                _imwrite(str(self.folder / f"p{i:06d}_{k}.png"), plane, _PNG)
            planes = dataclasses.replace(frame.planes, data=())
        empty = np.empty((0, 0, 3), frame.image.dtype)
        self._meta[i] = Frame(i, empty, frame.pts, frame.time_base, frame.time, None, frame.duration, planes,
                              frame.damaged)

    def get(self, index: int) -> Frame:
        meta = self._meta[index]
        if index in self._tracking_only:
            return self._get_for_tracking(meta)
        image = cv2.imread(str(self.folder / f"f{index:06d}.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
        alpha_path = self.folder / f"a{index:06d}.png"
        alpha = cv2.imread(str(alpha_path), cv2.IMREAD_UNCHANGED) if alpha_path.exists() else None
        planes: DecodedPlanes | None = None
        if meta.planes is not None:
            data = tuple(cv2.imread(str(path), cv2.IMREAD_UNCHANGED) for path in self._files(index)[2:])
            planes = dataclasses.replace(meta.planes, data=data)
        return Frame(index, np.ascontiguousarray(image), meta.pts, meta.time_base, meta.time, alpha,
                     meta.duration, planes, meta.damaged)

    def _get_for_tracking(self, meta: Frame) -> Frame:
        from editor.video.pixels import rgb_of

        i = meta.index
        if f"f{i}" in self._memory:
            image = self._memory[f"f{i}"]
        elif meta.planes is None:
            image = np.load(self.folder / f"r{i:06d}_rgb.npy")
        else:
            data = self._read_planes(i)
            deep_rgb = rgb_of(dataclasses.replace(meta.planes, data=data), deep=True)[0]
            image = Frame(i, deep_rgb, None, meta.time_base, meta.time).rgb8  # as the engine's 8-bit view
        return Frame(i, np.ascontiguousarray(image), meta.pts, meta.time_base, meta.time, None, meta.duration,
                     damaged=meta.damaged)

    def rebuilds(self, index: int) -> bool:
        """Whether :meth:`get_output` can give frame ``index`` (a tracking-only frame stored
        with its decoded planes)."""
        meta = self._meta.get(index)
        return index in self._tracking_only and meta is not None and meta.planes is not None

    def get_output(self, index: int) -> Frame:
        """Tracking-only frame ``index`` as the reader gave it to :meth:`put` (see
        :meth:`rebuilds`): its image at the depth it was decoded at and its alpha made again
        from its planes (:func:`editor.video.pixels.rgb_of`: the very values the reader made
        of them; an 8-bit image held in memory is that image, copied), the planes with the
        reader's kept RGB copy, its timing and damage mark. The same frame as decoding the
        video again, without the decode."""
        from editor.video.pixels import pixel_format, rgb_of

        meta = self._meta[index]
        assert meta.planes is not None and index in self._tracking_only
        data = self._read_planes(index)
        planes = dataclasses.replace(meta.planes, data=data)
        deep = meta.image.dtype == np.uint16
        held = self._memory.get(f"f{index}")
        if held is not None and not deep and not pixel_format(planes.format).has_alpha:
            rgb, alpha = held, None
        else:
            rgb, alpha = rgb_of(planes, deep=deep)
        planes.rgb[deep and pixel_format(planes.format).bits > 8] = (rgb, alpha)  # the reader's kept copy
        return Frame(index, rgb.copy(), meta.pts, meta.time_base, meta.time, None if alpha is None else alpha.copy(),
                     meta.duration, planes, meta.damaged)

    def _raw(self, index: int) -> Path:
        """The file of a tracking-only frame's planes: each plane's bytes in turn, raw (their
        shapes and dtypes in ``_layout``): one file a frame, written and read without a
        header to parse."""
        return self.folder / f"r{index:06d}.raw"

    def _read_planes(self, index: int) -> tuple[np.ndarray, ...]:
        with open(self._raw(index), "rb") as f:
            return tuple(np.fromfile(f, dtype, count=int(np.prod(shape))).reshape(shape)
                         for shape, dtype in self._layout[index])

    def put_labels(self, index: int, labels: np.ndarray) -> None:
        """Store frame ``index``'s label map (uint8 H×W) as its box of nonzero labels
        (:func:`~editor.api.masks.bbox`): held in memory while there is room, else a raw
        ``.npy`` file — a person's box at 720p is a tenth of the map, and the raw file is
        written and read some ten times faster than the PNG it replaces."""
        self._release(f"b{index}")
        self._label_boxes.pop(index, None)
        (self.folder / f"b{index:06d}.npy").unlink(missing_ok=True)
        box = bbox(labels)
        self._label_boxes[index] = (labels.shape[:2], box)
        if box is None:
            return
        x0, y0, x1, y1 = box
        crop = labels[y0:y1, x0:x1].astype(np.uint8, copy=False)
        if not self._hold(f"b{index}", crop.copy()):
            np.save(self.folder / f"b{index:06d}.npy", np.ascontiguousarray(crop), allow_pickle=False)

    def get_labels(self, index: int) -> np.ndarray:
        """Frame ``index``'s label map as :meth:`put_labels` had it (uint8 H×W, a new array)."""
        shape, box = self._label_boxes[index]
        labels = np.zeros(shape, np.uint8)
        if box is not None:
            held = self._memory.get(f"b{index}")
            x0, y0, x1, y1 = box
            labels[y0:y1, x0:x1] = held if held is not None else np.load(self.folder / f"b{index:06d}.npy")
        return labels

    def drop(self, index: int) -> None:
        self._meta.pop(index, None)
        self._release(f"f{index}")
        self._release(f"b{index}")
        if index in self._tracking_only:
            self._tracking_only.discard(index)
            if self._layout.pop(index, None) is not None:
                self._raw(index).unlink(missing_ok=True)
            else:
                (self.folder / f"r{index:06d}_rgb.npy").unlink(missing_ok=True)
        else:
            for path in self._files(index):
                path.unlink(missing_ok=True)
        self._label_boxes.pop(index, None)
        (self.folder / f"b{index:06d}.npy").unlink(missing_ok=True)
