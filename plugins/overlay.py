"""``overlay``: translucent coloured masks with outlines and object ids, for review copies
(8- and 16-bit frames; the palette colours are scaled to the frame's depth)."""
from __future__ import annotations

from pydantic import Field

from editor import hookimpl
from editor.api.stages import FrameItem, Stage, StageContext, StageOptions, StageSpec
from editor.imaging.overlay import OPACITY, OUTLINE, draw_overlay, object_color

__all__ = ["OverlayOptions", "OverlayStage", "object_color"]


class OverlayOptions(StageOptions):
    opacity: float = Field(OPACITY, ge=0.0, le=1.0)
    outline: int = Field(OUTLINE, ge=0, le=50, description="outline width in px (0 = none)")
    labels: bool = Field(True, description="draw each object's id and name")


class OverlayStage(Stage):
    def __init__(self, options: OverlayOptions, context: StageContext) -> None:
        self.options = options
        self.ids = context.resolve_objects(options.objects)
        self.names = context.object_names

    def process(self, item: FrameItem) -> FrameItem:
        opts = self.options
        out = draw_overlay(item.frame.image, item.labels, ids=self.ids, names=self.names, opacity=opts.opacity,
                           outline=opts.outline, text=opts.labels)
        return item if out is item.frame.image else item.with_frame(item.frame.replace(out))


@hookimpl
def editor_register_stages(register):  # noqa: ANN001
    register(StageSpec("overlay", OverlayOptions, OverlayStage,
                       "draw translucent masks, outlines and ids (review copies)", deep=True))
