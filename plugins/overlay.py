"""``overlay``: translucent coloured masks with outlines and object ids, for review copies."""
from __future__ import annotations

import cv2
import numpy as np
from pydantic import Field

from editor import hookimpl
from editor.api.masks import PALETTE, present_ids
from editor.api.stages import FrameItem, Stage, StageContext, StageOptions, StageSpec


class OverlayOptions(StageOptions):
    opacity: float = Field(0.5, ge=0.0, le=1.0)
    outline: int = Field(2, ge=0, le=50, description="outline width in px (0 = none)")
    labels: bool = Field(True, description="draw each object's id and name")


def object_color(oid: int) -> tuple[int, int, int]:
    """Display colour of an object: the DAVIS palette entry of its id."""
    r, g, b = (int(c) for c in PALETTE[oid % 256])
    return r, g, b


class OverlayStage(Stage):
    def __init__(self, options: OverlayOptions, context: StageContext) -> None:
        self.options = options
        self.ids = context.resolve_objects(options.objects)
        self.names = context.object_names

    def process(self, item: FrameItem) -> FrameItem:
        labels = item.labels
        present = [i for i in present_ids(labels) if i in self.ids]
        if not present:
            return item
        out = item.frame.image.copy()
        opts = self.options
        for oid in present:
            mask = labels == oid
            color = np.array(object_color(oid), np.float32)
            out[mask] = (out[mask] * (1 - opts.opacity) + color * opts.opacity + 0.5).astype(np.uint8)
            if opts.outline:
                contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                cv2.drawContours(out, contours, -1, object_color(oid), opts.outline, cv2.LINE_AA)
            if opts.labels:
                ys, xs = np.nonzero(mask)
                text = f"{oid} {self.names.get(oid, '')}".strip()
                scale = max(0.4, out.shape[0] / 900)
                org = (int(xs.mean()), int(ys.mean()))
                cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
                cv2.putText(out, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
        return FrameItem(item.frame.replace(out), labels)


@hookimpl
def editor_register_stages(register):  # noqa: ANN001
    register(StageSpec("overlay", OverlayOptions, OverlayStage,
                       "draw translucent masks, outlines and ids (review copies)"))
