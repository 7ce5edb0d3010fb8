"""A spotlight on the tracked objects: everything else is desaturated and dimmed."""
from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from editor import hookimpl
from editor.api.stages import FrameItem, Stage, StageContext, StageOptions, StageSpec


class SpotlightOptions(StageOptions):
    saturation: float = Field(0.0, ge=0.0, le=1.0, description="colour kept outside the objects (0 = grey)")
    brightness: float = Field(0.6, ge=0.0, le=1.0, description="brightness kept outside the objects")
    feather: int = Field(8, ge=0, le=200, description="soft edge width in px")


class Spotlight(Stage):
    def __init__(self, options: SpotlightOptions, context: StageContext) -> None:
        self.options = options
        self.ids = context.resolve_objects(options.objects)

    def process(self, item: FrameItem) -> FrameItem:
        image = item.frame.image.astype(np.float32)
        grey = image.mean(axis=2, keepdims=True)
        dimmed = (grey + (image - grey) * self.options.saturation) * self.options.brightness
        keep = item.mask_of(self.ids).astype(np.float32)
        if self.options.feather:
            keep = cv2.GaussianBlur(keep, (0, 0), sigmaX=self.options.feather / 2.0)
        a = keep[..., None]
        out = image * a + dimmed * (1.0 - a)
        return FrameItem(item.frame.replace(np.clip(out + 0.5, 0, 255).astype(np.uint8)), item.labels)


@hookimpl
def editor_register_stages(register):  # noqa: ANN001
    register(StageSpec("spotlight", SpotlightOptions, Spotlight,
                       "keep the objects in colour; desaturate and dim everything else"))
