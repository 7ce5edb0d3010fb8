"""A shot's background, remembered: every pixel seen so far and every pixel synthesised.

A mosaic in the coordinates of the shot's first frame (a homography maps each frame to
it): observed background pixels are written into it as frames go by (the newest view wins,
so lighting follows the shot), and pixels the remove stage had to synthesise are written
where nothing was seen, so later frames reuse the same fill instead of inventing a new one
(the temporal consistency of Wexler, Shechtman & Irani's space-time completion, 2007,
kept here by carrying the fill along the camera's motion). A pixel seen later replaces its
synthesised value.

Size is bounded: the canvas is ``extent`` times the frame in each direction (at the fill
resolution), recentred on the current frame when the camera leaves it (what falls off is
forgotten). With a ``directory`` the canvas lives in memory-mapped files there (the run's
scratch folder), else in memory.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

#: What a canvas pixel holds.
EMPTY, SYNTHETIC, OBSERVED = 0, 1, 2


class BackgroundMemory:
    """Mosaic of one shot. ``colour``: Hc×Wc×3 at the frames' dtype; ``state``: Hc×Wc uint8
    (EMPTY / SYNTHETIC / OBSERVED). Coordinates: pixels of the shot's first frame at the
    fill resolution, shifted by ``origin`` into the canvas."""

    def __init__(self, extent: float = 2.0, directory: Path | None = None) -> None:
        self.extent = extent
        self.directory = directory
        self.colour: np.ndarray | None = None
        self.state: np.ndarray | None = None
        self.origin = np.zeros(2)  # canvas position of the first frame's (0, 0): x, y
        self._files: list[Path] = []

    def reset(self) -> None:
        """Forget the shot (a cut)."""
        if self.state is not None:
            self.state[:] = EMPTY

    def _allocate(self, shape: tuple[int, int], dtype: np.dtype) -> None:
        h, w = shape
        hc, wc = int(np.ceil(h * self.extent)), int(np.ceil(w * self.extent))
        if self.directory is not None:
            folder = Path(tempfile.mkdtemp(prefix="remove-memory-", dir=self.directory))
            self._files = [folder / "colour.npy", folder / "state.npy"]
            self.colour = np.lib.format.open_memmap(self._files[0], "w+", dtype, (hc, wc, 3))
            self.state = np.lib.format.open_memmap(self._files[1], "w+", np.uint8, (hc, wc))
            self.state[:] = EMPTY
        else:
            self.colour = np.zeros((hc, wc, 3), dtype)
            self.state = np.zeros((hc, wc), np.uint8)
        self.origin = np.array([(wc - w) / 2.0, (hc - h) / 2.0])

    def _canvas(self) -> np.ndarray:
        return np.array([[1, 0, self.origin[0]], [0, 1, self.origin[1]], [0, 0, 1]], np.float64)

    def _keep_in_view(self, to_ref: np.ndarray, shape: tuple[int, int]) -> None:
        """Recentre the canvas (integer shift of its content) if the frame leaves it."""
        h, w = shape
        corners = np.float64([[0, 0], [w, 0], [0, h], [w, h]]).reshape(-1, 1, 2)
        pts = cv2.perspectiveTransform(corners, self._canvas() @ to_ref).reshape(-1, 2)
        hc, wc = self.state.shape
        if pts[:, 0].min() >= 0 and pts[:, 1].min() >= 0 and pts[:, 0].max() <= wc and pts[:, 1].max() <= hc:
            return
        centre = pts.mean(0)
        dx, dy = int(round(wc / 2 - centre[0])), int(round(hc / 2 - centre[1]))
        for arr in (self.colour, self.state):
            moved = np.zeros_like(arr)
            src_x, dst_x = slice(max(0, -dx), min(wc, wc - dx)), slice(max(0, dx), min(wc, wc + dx))
            src_y, dst_y = slice(max(0, -dy), min(hc, hc - dy)), slice(max(0, dy), min(hc, hc + dy))
            if src_x.start < src_x.stop and src_y.start < src_y.stop:
                moved[dst_y, dst_x] = arr[src_y, src_x]
            arr[:] = moved
        self.origin = self.origin + (dx, dy)

    def write(self, image: np.ndarray, valid: np.ndarray, to_ref: np.ndarray, kind: int) -> None:
        """Store ``image``'s ``valid`` pixels (H×W bool) as ``kind``. ``to_ref``: 3×3
        homography from this frame's pixels to the first frame's (fill resolution).
        OBSERVED pixels overwrite anything; SYNTHETIC ones only fill EMPTY canvas pixels."""
        if self.state is None:
            self._allocate(valid.shape, image.dtype)
        self._keep_in_view(to_ref, valid.shape)
        bx, by, bw, bh = cv2.boundingRect(valid.view(np.uint8))  # the valid pixels' box (a fraction of nonzero's time)
        if bw == 0:
            return
        to_canvas = self._canvas() @ to_ref
        corners = np.float64([[bx, by], [bx + bw, by], [bx, by + bh], [bx + bw, by + bh]]).reshape(-1, 1, 2)
        pts = cv2.perspectiveTransform(corners, to_canvas).reshape(-1, 2)
        hc, wc = self.state.shape
        x0, y0 = max(0, int(np.floor(pts[:, 0].min()))), max(0, int(np.floor(pts[:, 1].min())))
        x1, y1 = min(wc, int(np.ceil(pts[:, 0].max())) + 1), min(hc, int(np.ceil(pts[:, 1].max())) + 1)
        if x1 <= x0 or y1 <= y0:
            return
        m = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64) @ to_canvas
        size = (x1 - x0, y1 - y0)
        colour = cv2.warpPerspective(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        ok = _whole_taps(valid, m, size, cv2.BORDER_REPLICATE) & (cv2.warpPerspective(
            np.ones(valid.shape, np.uint8), m, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
            borderValue=0) > 0)
        state = self.state[y0:y1, x0:x1]
        if kind == SYNTHETIC:
            ok &= state == EMPTY
        np.copyto(self.colour[y0:y1, x0:x1], colour, where=ok[..., None])
        np.copyto(state, np.uint8(kind), where=ok)

    def read(self, from_ref: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(colour, state) seen from a frame: ``from_ref`` maps the first frame's pixels to
        the wanted region's (3×3), ``size`` = (width, height) of that region. Empty when
        nothing is stored yet."""
        w, h = size
        if self.state is None:
            return np.zeros((h, w, 3), np.uint8), np.zeros((h, w), np.uint8)
        m = from_ref @ np.linalg.inv(self._canvas())
        colour = cv2.warpPerspective(self.colour, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        state = cv2.warpPerspective(self.state, m, size, flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                                    borderValue=EMPTY)
        # a colour interpolated with an empty canvas pixel is not trusted
        state[~_whole_taps(self.state != EMPTY, m, size, cv2.BORDER_CONSTANT)] = EMPTY
        return colour, state

    def close(self) -> None:
        """Drop the canvas (and its files)."""
        self.colour = self.state = None
        for f in self._files:
            f.unlink(missing_ok=True)
        if self._files:
            try:
                self._files[0].parent.rmdir()
            except OSError:
                pass
        self._files = []


def _whole_taps(valid: np.ndarray, m: np.ndarray, size: tuple[int, int], border: int) -> np.ndarray:
    """Bool (``size`` = (w, h)): the pixels of ``valid`` (bool) warped by homography ``m``
    whose bilinear sample takes every tap with a weight from ``valid`` pixels (``border``:
    what lies beyond ``valid``'s edge — ``BORDER_REPLICATE``: a frame's edge pixel stands
    for the half pixel beyond it). Exactly where a sample falls on a pixel its neighbours
    weigh nothing, so a frame's edge rows and columns, and the pixels beside a hole, are kept
    when the warp is a whole-pixel shift — a 3×3 erosion dropped them on every frame, and a
    hole reaching the frame's edge had those rows synthesised again on each frame."""
    taps = cv2.warpPerspective(valid.view(np.uint8) * np.uint8(255), m, size, flags=cv2.INTER_LINEAR,
                               borderMode=border, borderValue=0)
    return taps == 255
