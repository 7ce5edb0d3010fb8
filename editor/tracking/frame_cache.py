"""Lossless on-disk store of frames and label maps by index, for the backward pass of a
headless run (frames before the last first prompt are read once, in order, and walked
backward from disk rather than kept in memory or decoded again).

A frame is stored whole: its RGB image (and alpha) as PNG, 8- or 16-bit as it came, and
its decoded planes (:class:`editor.api.frames.DecodedPlanes`) as one lossless grayscale PNG
per plane, so frames read back here pass through the writer as bit-exactly as frames that
never left memory."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np

from editor.api.frames import DecodedPlanes, Frame
from editor.api.masks import read_label_png, write_label_png

_PNG = [cv2.IMWRITE_PNG_COMPRESSION, 1]


class FrameCache:
    """``put(frame)`` / ``get(index)`` for frames (PNG, RGB uint8 or uint16, with alpha and
    decoded planes), ``put_labels`` / ``get_labels`` for uint8 label maps, ``drop(index)``
    frees both."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._meta: dict[int, Frame] = {}

    def _files(self, index: int) -> list[Path]:
        files = [self.folder / f"f{index:06d}.png", self.folder / f"a{index:06d}.png"]
        k = 0
        while (path := self.folder / f"p{index:06d}_{k}.png").exists():
            files.append(path)
            k += 1
        return files

    def put(self, frame: Frame) -> None:
        i = frame.index
        cv2.imwrite(str(self.folder / f"f{i:06d}.png"), np.ascontiguousarray(frame.image[..., ::-1]), _PNG)
        if frame.alpha is not None:
            cv2.imwrite(str(self.folder / f"a{i:06d}.png"), frame.alpha, _PNG)
        planes = None
        if frame.planes is not None:
            for k, plane in enumerate(frame.planes.data):
                cv2.imwrite(str(self.folder / f"p{i:06d}_{k}.png"), plane, _PNG)
            planes = dataclasses.replace(frame.planes, data=())
        empty = np.empty((0, 0, 3), frame.image.dtype)
        self._meta[i] = Frame(i, empty, frame.pts, frame.time_base, frame.time, None, frame.duration, planes)

    def get(self, index: int) -> Frame:
        meta = self._meta[index]
        image = cv2.imread(str(self.folder / f"f{index:06d}.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
        alpha_path = self.folder / f"a{index:06d}.png"
        alpha = cv2.imread(str(alpha_path), cv2.IMREAD_UNCHANGED) if alpha_path.exists() else None
        planes: DecodedPlanes | None = None
        if meta.planes is not None:
            data = tuple(cv2.imread(str(path), cv2.IMREAD_UNCHANGED) for path in self._files(index)[2:])
            planes = dataclasses.replace(meta.planes, data=data)
        return Frame(index, np.ascontiguousarray(image), meta.pts, meta.time_base, meta.time, alpha,
                     meta.duration, planes)

    def put_labels(self, index: int, labels: np.ndarray) -> None:
        write_label_png(self.folder / f"b{index:06d}.png", labels)

    def get_labels(self, index: int) -> np.ndarray:
        return read_label_png(self.folder / f"b{index:06d}.png")

    def drop(self, index: int) -> None:
        self._meta.pop(index, None)
        for path in self._files(index):
            path.unlink(missing_ok=True)
        (self.folder / f"b{index:06d}.png").unlink(missing_ok=True)
