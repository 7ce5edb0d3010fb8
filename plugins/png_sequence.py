"""Sink writing an image sequence: ``out/frame_%05d.png`` (RGBA when frames carry alpha),
at the frames' depth: 8-bit PNGs for 8-bit sources, 16-bit PNGs for deeper ones.

The folder is written under a temporary name and renamed when complete.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from editor import hookimpl
from editor.api.backends import SinkSpec
from editor.api.errors import OutputError
from editor.api.files import AtomicOutput
from editor.api.frames import Frame, VideoInfo
from editor.imaging.depth import match_depth
from editor.video.writer import EncodeOptions


def accepts(path: Path) -> bool:
    return "%" in path.name and path.suffix.lower() == ".png"


class PngSequenceSink:
    def __init__(self, path: Path, video: VideoInfo, encode: EncodeOptions, overwrite: bool) -> None:
        self.folder = path.parent
        self.pattern = path.name
        try:
            self.pattern % 0
        except (TypeError, ValueError) as exc:
            raise OutputError("image-sequence name needs one integer field such as %05d", path) from exc
        if self.folder.exists() and any(self.folder.iterdir()) and not overwrite:
            raise OutputError("folder already exists and is not empty (use --overwrite)", self.folder)
        if not self.folder.parent.exists():
            raise OutputError(f"folder {self.folder.parent} does not exist", path)
        self._out = AtomicOutput(self.folder, directory=True)
        self._tmp = self._out.path
        self.count = 0

    def write(self, frame: Frame) -> None:
        image = frame.image[..., ::-1]
        if frame.alpha is not None:
            image = np.dstack([image, match_depth(frame.alpha, frame.image)])
        cv2.imwrite(str(self._tmp / (self.pattern % frame.index)), image, [cv2.IMWRITE_PNG_COMPRESSION, 3])
        self.count += 1

    def close(self) -> Path:
        return self._out.commit()

    def abort(self) -> None:
        self._out.discard()


@hookimpl
def editor_register_sinks(register):  # noqa: ANN001
    register(SinkSpec("png-sequence", accepts, PngSequenceSink,
                      "numbered PNG files (RGBA when a stage produces alpha; 16-bit for sources above 8 bits), "
                      "e.g. out/frame_%05d.png"))
