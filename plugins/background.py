"""``background``: replace everything except the selected objects.

``mode``:

* ``color`` — a solid colour (``color``);
* ``image`` — a picture (``path``), scaled to cover the frame;
* ``video`` — another video (``path``), scaled to cover, streamed frame by frame;
  ``loop = true`` restarts it when it ends, else its last frame is held;
* ``blur`` — the frame itself, blurred (``sigma``);
* ``transparent`` — the background becomes transparent: frames carry an alpha plane,
  written by alpha-capable outputs (ProRes 4444 ``.mov``, VP9 ``.webm``, PNG sequence).

Edges: ``feather`` (px, Gaussian) or ``edge = "guided"`` (a guided filter with the frame
as guide, so soft edges follow hair and fur), ``dilate`` grows the objects first.

8- and 16-bit frames (``deep=True``): the output and its alpha keep the frame's dtype;
``color`` is in 8-bit units and scaled, pictures and other videos are scaled from their own
depth (a 10-bit background video keeps its precision in a 16-bit run).
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from editor import hookimpl
from editor.imaging.compositing import blend, grow
from editor.imaging.depth import match_depth, peak, read_picture, scale_color
from editor.api.errors import PresetError
from editor.imaging.guided import guided_filter
from editor.api.stages import FrameItem, Stage, StageContext, StageOptions, StageSpec


class BackgroundOptions(StageOptions):
    mode: Literal["color", "image", "video", "blur", "transparent"] = "color"
    color: tuple[int, int, int] = (0, 177, 64)
    path: Path | None = None
    loop: bool = True
    sigma: float = Field(15.0, gt=0, le=500)
    dilate: int = Field(0, ge=0, le=500)
    feather: int = Field(3, ge=0, le=500)
    edge: Literal["feather", "guided"] = "feather"
    guided_radius: int = Field(8, ge=1, le=200)

    @model_validator(mode="after")
    def _needs_path(self) -> "BackgroundOptions":
        if self.mode in ("image", "video") and self.path is None:
            raise ValueError(f"mode '{self.mode}' needs 'path'")
        return self


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale to cover ``width``×``height`` (keeping aspect) and centre-crop."""
    h, w = image.shape[:2]
    s = max(width / w, height / h)
    tw, th = max(width, round(w * s)), max(height, round(h * s))
    scaled = cv2.resize(image, (tw, th), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x0, y0 = (tw - width) // 2, (th - height) // 2
    return np.ascontiguousarray(scaled[y0:y0 + height, x0:x0 + width])


class BackgroundStage(Stage):
    def __init__(self, options: BackgroundOptions, context: StageContext) -> None:
        self.options = options
        self.ids = context.resolve_objects(options.objects)
        self.size = context.video.size
        self._picture: np.ndarray | None = None
        self._frames: Iterator[np.ndarray] | None = None
        self._last: np.ndarray | None = None
        if options.mode == "image":
            img = read_picture(options.path)  # 8- or 16-bit
            if img is None:
                raise PresetError(f"background: cannot read image {options.path}")
            self._picture = cover(img, *self.size)
        elif options.mode == "video":
            from editor.video.reader import probe

            probe(options.path)  # fail early with a clear message
            self._frames = self._video_frames()

    def _video_frames(self) -> Iterator[np.ndarray]:
        from editor.video.reader import iter_frames

        while True:
            for frame in iter_frames(self.options.path, deep=True, keep_planes=False):  # type: ignore[arg-type]
                yield cover(frame.image, *self.size)
            if not self.options.loop:
                break

    def _background(self, image: np.ndarray) -> np.ndarray | None:
        """The background for ``image``, in its dtype (``None``: transparent)."""
        mode = self.options.mode
        if mode == "color":
            return np.broadcast_to(scale_color(self.options.color, image.dtype), image.shape)
        if mode == "image":
            assert self._picture is not None
            self._picture = match_depth(self._picture, image)  # converted once, then kept
            return self._picture
        if mode == "video":
            assert self._frames is not None
            nxt = next(self._frames, None)
            if nxt is not None:
                self._last = nxt
            return None if self._last is None else match_depth(self._last, image)
        if mode == "blur":
            from trackedit_plugins.redact import strong_blur

            return strong_blur(image, self.options.sigma)
        return None  # transparent

    def alpha(self, item: FrameItem) -> np.ndarray:
        """Foreground alpha (float32 0..1) of the selected objects."""
        mask = grow(item.mask_of(self.ids), self.options.dilate).astype(np.float32)
        if self.options.edge == "guided":
            return guided_filter(item.frame.image, mask, self.options.guided_radius)
        if self.options.feather:
            mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=self.options.feather / 2.0)
        return mask

    def process(self, item: FrameItem) -> FrameItem:
        image = item.frame.image
        alpha = self.alpha(item)
        background = self._background(image)
        if background is None:
            top = peak(image.dtype)
            return item.with_frame(item.frame.replace(image, alpha=(alpha * top + 0.5).astype(image.dtype)))
        # the shared blend: arithmetic only on the soft edge; the person (alpha 1) stays as it is
        return item.with_frame(item.frame.replace(blend(background, image, alpha)))


@hookimpl
def editor_register_stages(register):  # noqa: ANN001
    register(StageSpec("background", BackgroundOptions, BackgroundStage,
                       "replace the background: colour, image, video, blur or transparent", deep=True))
