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
from editor.api.stages import FrameItem, Stage, StageContext, StageOptions, StageSpec, redaction_region


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
    block: int = Field(0, ge=0, le=1000, description="mosaic block size in px; 0 = auto (object size / 8, ≥ 8)")


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

    def _mask(self, item: FrameItem) -> np.ndarray:
        labels = item.labels
        present = set(present_ids(labels)) & self.ids
        # the selected objects' masks and every selected detection of the frame (the floor)
        mask = redaction_region(item, self.selection, box=self.options.shape == "box")
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
                self._last[oid] = (old, age + 1)
        return mask

    def process(self, item: FrameItem) -> FrameItem:
        mask = self._mask(item)
        x, y, bw, bh = cv2.boundingRect(mask.view(np.uint8))
        if bw == 0:
            return item
        # Work in a region of interest: the mask's box grown by dilation + feather.
        h, w = mask.shape
        m = self.options.dilate + 2 * self.options.feather + 2
        x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(w, x + bw + m), min(h, y + bh + m)
        core = grow(mask[y0:y1, x0:x1], self.options.dilate)
        alpha = feathered_alpha(core, self.options.feather)
        base = item.frame.image
        region = base[y0:y1, x0:x1]
        edited = self.redact(region, core)
        out = base.copy()
        out[y0:y1, x0:x1] = blend(region, edited, alpha)
        return item.with_frame(item.frame.replace(out))

    def redact(self, region: np.ndarray, core: np.ndarray) -> np.ndarray:
        """The replacement of ``region`` (RGB, uint8 or uint16), same shape and dtype."""
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

    def redact(self, region: np.ndarray, core: np.ndarray) -> np.ndarray:
        sigma = self.options.sigma or max(12.0, _object_size(core) / 5.0)
        return strong_blur(region, sigma)


class PixelateStage(RedactStage):
    options: PixelateOptions

    def redact(self, region: np.ndarray, core: np.ndarray) -> np.ndarray:
        block = self.options.block or max(8, int(_object_size(core) / 8))
        h, w = region.shape[:2]
        small = cv2.resize(region, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)


class SolidStage(RedactStage):
    options: SolidOptions

    def redact(self, region: np.ndarray, core: np.ndarray) -> np.ndarray:
        return np.broadcast_to(scale_color(self.options.color, region.dtype), region.shape).copy()


class ImageStage(RedactStage):
    options: ImageOptions

    def __init__(self, options: ImageOptions, context: StageContext) -> None:
        super().__init__(options, context)
        picture = read_picture(options.path)  # 8- or 16-bit
        if picture is None:
            raise PresetError(f"image: cannot read replacement image {options.path}")
        self.picture = picture

    def redact(self, region: np.ndarray, core: np.ndarray) -> np.ndarray:
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
