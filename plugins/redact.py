"""Redaction stages: ``blur``, ``pixelate``, ``solid`` and ``image``.

All share: ``objects`` (ids/names or "all"), ``dilate`` (grow the mask, px),
``feather`` (soft edge width, px), ``shape`` ("mask" = exact outline, "box" = the
object's bounding box) and ``hold`` (keep redacting an object's last mask for N frames
after it is lost, so a face never flashes through for a frame).

Every stage works on 8- and 16-bit frames (``deep=True``) and keeps the frame's dtype:
``solid`` colours are given in 8-bit units and scaled, ``image`` pictures are 8-bit files
(8- or 16-bit) scaled to the frame's depth; blur and pixelate filter at the frame's own precision.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field, field_validator

from editor import hookimpl
from editor.imaging.compositing import blend, box_of_each, feathered_alpha, grow
from editor.imaging.depth import match_depth, read_picture, scale_color
from editor.api.errors import PresetError
from editor.api.masks import present_ids
from editor.api.stages import FrameItem, RedactionLayers, Stage, StageContext, StageOptions, StageSpec, \
    redaction_layers


class RedactOptions(StageOptions):
    dilate: int = Field(6, ge=0, le=500, description="grow the mask by this many pixels")
    feather: int = Field(6, ge=0, le=500, description="soft edge width in pixels")
    shape: Literal["mask", "box"] = Field("mask", title="Redaction shape",
                                          description="redact the mask itself, or its bounding box "
                                                      "(not the detection shape, --detect-shape)")
    hold: int = Field(0, ge=0, le=10000, description="frames to keep redacting a lost object")


class BlurOptions(RedactOptions):
    sigma: float = Field(0.0, ge=0.0, le=1000.0,
                         description="Gaussian sigma in px; 0 = automatic (a fifth of the object's size, ≥ 12)")


class PixelateOptions(RedactOptions):
    block: int = Field(0, ge=0, le=1000,
                       description="mosaic block size in px; 0 = auto (each region's size / 8 or more, ≥ 8, "
                                   "in steps of √2 that hold while the region's size changes little)")


class SolidOptions(RedactOptions):
    color: tuple[int, int, int] = (0, 0, 0)

    @field_validator("color")
    @classmethod
    def _rgb(cls, v: tuple[int, int, int]) -> tuple[int, int, int]:
        if any(not 0 <= c <= 255 for c in v):
            raise ValueError("color must be [r, g, b] with values 0..255")
        return v


class ImageOptions(RedactOptions):
    path: Path
    fit: Literal["stretch", "cover", "contain"] = "cover"


class RedactStage(Stage):
    """Shared mask handling; subclasses implement :meth:`redact` on a region of interest."""

    def __init__(self, options: RedactOptions, context: StageContext) -> None:
        self.options = options
        self.selection = context.resolve_selection(options.objects)
        self.ids = set(self.selection.ids) - set(self.selection.kept)
        self._last: dict[int, tuple[np.ndarray, int]] = {}  # id → (mask, frames since seen)

    def _mask(self, item: FrameItem) -> tuple[np.ndarray, RedactionLayers]:
        labels = item.labels
        present = set(present_ids(labels)) & self.ids
        # the selected objects' masks and every selected detection of the frame (the floor)
        layers = redaction_layers(item, self.selection, box=self.options.shape == "box")
        mask = layers.mask
        if self.options.hold:
            for oid in present:
                self._last[oid] = ((box_of_each(labels, {oid}) if self.options.shape == "box"
                                    else labels == oid), 0)
            for oid, (old, age) in list(self._last.items()):
                if oid in present:
                    continue
                if age >= self.options.hold:
                    del self._last[oid]
                    continue
                mask = mask | old
                if layers.hard is not None and oid in self.selection.detected - self.selection.instances:
                    # a held face is still a face: keep does not uncover it either
                    layers = dataclasses.replace(layers, hard=layers.hard | old)
                self._last[oid] = (old, age + 1)
        return mask, layers

    def process(self, item: FrameItem) -> FrameItem:
        mask, layers = self._mask(item)
        x, y, bw, bh = cv2.boundingRect(mask.view(np.uint8))
        if bw == 0:
            return item
        # Work in a region of interest: the mask's box grown by dilation + feather.
        h, w = mask.shape
        m = self.options.dilate + 2 * self.options.feather + 2
        x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(w, x + bw + m), min(h, y + bh + m)
        core = grow(mask[y0:y1, x0:x1], self.options.dilate)
        keep = None
        if layers.kept is not None and layers.hard is not None:
            # the kept pixels stay as they are: neither the growth nor the soft edge of someone
            # else's region reaches them (a 30 px kept face inside a neighbour's person region
            # lost its eyes to 6 + 6 px); faces that are not kept still grow over them
            keep = layers.kept[y0:y1, x0:x1] & ~grow(layers.hard[y0:y1, x0:x1], self.options.dilate)
            core &= ~keep
        alpha = feathered_alpha(core, self.options.feather)
        if keep is not None:
            alpha[keep] = 0.0
        base = item.frame.image
        region = base[y0:y1, x0:x1]
        edited = self.redact(region, core, (x0, y0))
        out = base.copy()
        out[y0:y1, x0:x1] = blend(region, edited, alpha)
        return item.with_frame(item.frame.replace(out))

    def redact(self, region: np.ndarray, core: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        """The replacement of ``region`` (RGB, uint8 or uint16), same shape and dtype;
        ``origin``: the region's top-left (x, y) in the frame."""
        raise NotImplementedError


def _object_size(core: np.ndarray) -> float:
    return float(np.sqrt(max(1, int(core.sum()))))


def strong_blur(region: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with large sigma, computed at reduced scale for speed."""
    h, w = region.shape[:2]
    factor = max(1.0, sigma / 4.0)
    sw, sh = max(1, int(round(w / factor))), max(1, int(round(h / factor)))
    small = cv2.resize(region, (sw, sh), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma / factor, borderType=cv2.BORDER_REFLECT)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


class BlurStage(RedactStage):
    options: BlurOptions

    def redact(self, region: np.ndarray, core: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        sigma = self.options.sigma or max(12.0, _object_size(core) / 5.0)
        return strong_blur(region, sigma)


BLOCK_MIN = 8
"""The smallest automatic mosaic block, px."""
BLOCKS_PER_REGION = 8
"""An automatic block is at least a region's size (√area) / 8: about 8 blocks across a face."""
BLOCK_STEP = 2 ** 0.5
"""Automatic blocks are 8·√2ᵏ px rounded up (8, 12, 16, 23, 32, 46…): a growing face changes its block a
few times, not on every frame."""
BLOCK_SLACK = 1.6
"""A region keeps its last frame's block while that block is between its size's block and
1.6 × it: a larger block is taken at once (never fewer than 8 blocks across), a smaller one
only when the region has shrunk well below it (no back and forth at a step)."""


def mosaic(region: np.ndarray, block: int, origin: tuple[int, int]) -> np.ndarray:
    """``region`` (H×W×C, any dtype) as a mosaic of ``block``-px cells whose corners lie on
    the frame's grid (multiples of ``block`` in frame coordinates; ``origin`` is the region's
    top-left in the frame), so that the cells stay where they are while a mask moves. Each cell
    is the mean of its pixels (OpenCV ``INTER_AREA``; cells cut by the region's edge use the
    edge pixels repeated). Same shape and dtype."""
    h, w = region.shape[:2]
    left, top = origin[0] % block, origin[1] % block
    right, bottom = -(left + w) % block, -(top + h) % block
    padded = cv2.copyMakeBorder(region, top, bottom, left, right, cv2.BORDER_REPLICATE)
    ph, pw = padded.shape[:2]
    small = cv2.resize(padded, (pw // block, ph // block), interpolation=cv2.INTER_AREA)
    big = cv2.resize(small, (pw, ph), interpolation=cv2.INTER_NEAREST)
    return big[top:top + h, left:left + w]


class PixelateStage(RedactStage):
    """A mosaic on a grid fixed to the frame; with ``block = 0`` each connected region of the
    mask (a face, a person) gets its own block size from its area, held from frame to frame
    while the region's size changes little (:data:`BLOCK_SLACK`)."""

    options: PixelateOptions

    def __init__(self, options: PixelateOptions, context: StageContext) -> None:
        super().__init__(options, context)
        self._blocks: list[tuple[tuple[int, int, int, int], int]] = []
        """Last frame's regions: (x0, y0, x1, y1) in frame coordinates and their block."""

    def process(self, item: FrameItem) -> FrameItem:
        out = super().process(item)
        if out is item:  # nothing redacted: regions are not carried over a gap
            self._blocks = []
        return out

    def redact(self, region: np.ndarray, core: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        if self.options.block:
            return mosaic(region, self.options.block, origin)
        ox, oy = origin
        count, labels, stats, _ = cv2.connectedComponentsWithStats(core.view(np.uint8), connectivity=8)
        out = region.copy()
        blocks = []
        for k in sorted(range(1, count), key=lambda k: stats[k, cv2.CC_STAT_AREA]):  # the largest last
            x, y, w, h, area = (int(v) for v in stats[k])
            box = (ox + x, oy + y, ox + x + w, oy + y + h)
            block = self._block(box, float(np.sqrt(area)))
            blocks.append((box, block))
            # the component's box grown by the feather's reach, on the frame's grid
            m = self.options.feather * 2 + 2
            x0, y0 = max(0, x - m), max(0, y - m)
            x1, y1 = min(region.shape[1], x + w + m), min(region.shape[0], y + h + m)
            out[y0:y1, x0:x1] = mosaic(region[y0:y1, x0:x1], block, (ox + x0, oy + y0))
        self._blocks = blocks
        return out

    def _block(self, box: tuple[int, int, int, int], size: float) -> int:
        """The block for a region of ``size`` px (√area) at ``box``: the ladder's step at or
        above size / 8, or the last frame's block of the region it overlaps most while that
        block is within :data:`BLOCK_SLACK` of it."""
        want = max(BLOCK_MIN, size / BLOCKS_PER_REGION)
        step = BLOCK_MIN
        while step < want - 1e-9:
            step *= BLOCK_STEP
        best, overlap = None, 0
        for (x0, y0, x1, y1), block in self._blocks:
            inter = max(0, min(x1, box[2]) - max(x0, box[0])) * max(0, min(y1, box[3]) - max(y0, box[1]))
            if inter > overlap:
                best, overlap = block, inter
        if best is not None and want <= best <= want * BLOCK_SLACK:
            return best
        return int(np.ceil(step - 1e-9))


class SolidStage(RedactStage):
    options: SolidOptions

    def redact(self, region: np.ndarray, core: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        return np.broadcast_to(scale_color(self.options.color, region.dtype), region.shape).copy()


class ImageStage(RedactStage):
    options: ImageOptions

    def __init__(self, options: ImageOptions, context: StageContext) -> None:
        super().__init__(options, context)
        picture = read_picture(options.path)  # 8- or 16-bit
        if picture is None:
            raise PresetError(f"image: cannot read replacement image {options.path}")
        self.picture = picture

    def redact(self, region: np.ndarray, core: np.ndarray, origin: tuple[int, int]) -> np.ndarray:
        from editor.backends.classic.morphology import bbox

        out = region.copy()
        b = bbox(core)
        if b is None:
            return out
        x0, y0, x1, y1 = b
        bw, bh = x1 - x0, y1 - y0
        ph, pw = self.picture.shape[:2]
        fit = self.options.fit
        if fit == "stretch":
            tw, th = bw, bh
        else:
            s = max(bw / pw, bh / ph) if fit == "cover" else min(bw / pw, bh / ph)
            tw, th = max(1, round(pw * s)), max(1, round(ph * s))
        pic = cv2.resize(self.picture, (tw, th), interpolation=cv2.INTER_AREA)
        # centre the picture on the box, crop to it
        ox, oy = (tw - bw) // 2, (th - bh) // 2
        sx0, sy0 = max(0, ox), max(0, oy)
        dx0, dy0 = x0 + max(0, -ox), y0 + max(0, -oy)
        cw, ch = min(tw - sx0, bw), min(th - sy0, bh)
        out[dy0:dy0 + ch, dx0:dx0 + cw] = match_depth(pic[sy0:sy0 + ch, sx0:sx0 + cw], out)
        return out


@hookimpl
def editor_register_stages(register):  # noqa: ANN001
    register(StageSpec("blur", BlurOptions, BlurStage, "Gaussian-blur the selected objects", deep=True))
    register(StageSpec("pixelate", PixelateOptions, PixelateStage, "mosaic the selected objects", deep=True))
    register(StageSpec("solid", SolidOptions, SolidStage, "cover the selected objects with a colour", deep=True))
    register(StageSpec("image", ImageOptions, ImageStage, "cover the selected objects with an image", deep=True))
