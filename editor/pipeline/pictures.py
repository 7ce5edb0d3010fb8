"""Attached pictures (cover art, thumbnails) in the output of a run that redacts (``--detect``):
the run's detectors look at the picture, and every detection scoring at least
``--min-score`` is blurred — its box grown by ``--detect-margin`` on every side, with the
blur stage's own strong blur (sigma a fifth of the box's size, at least 12 px) — so the
picture keeps nothing the video's edit hides. Other runs drop attached pictures
(:mod:`editor.video.streams`): what they edit is not known to be findable in a still.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from editor.backends.assembly import BackendChoice, detector_options
from editor.detection.options import DetectOptions
from editor.pipeline.plugin_manager import PluginManager

log = logging.getLogger(__name__)


def picture_redactor(detect: DetectOptions, plugins: PluginManager,
                     backends: BackendChoice) -> Callable[[np.ndarray], np.ndarray]:
    """A function RGB uint8 picture → the picture with what ``detect``'s detectors find in it
    blurred (the detectors are built on first use)."""

    def redact(image: np.ndarray) -> np.ndarray:
        from editor.detection.detect import resolve_detectors
        from trackedit_plugins.redact import strong_blur

        detectors = resolve_detectors(detect.detectors, plugins, device=backends.device,
                                      models_dir=backends.models_dir, options=detector_options(plugins, backends))
        out = image.copy()
        h, w = image.shape[:2]
        found = 0
        for detector in detectors.values():
            for d in detector.detect(image, 0):
                if d.score < detect.min_score:
                    continue
                gx, gy = d.width * detect.margin, d.height * detect.margin
                x0, y0 = max(0, int(d.box[0] - gx)), max(0, int(d.box[1] - gy))
                x1, y1 = min(w, int(np.ceil(d.box[2] + gx))), min(h, int(np.ceil(d.box[3] + gy)))
                if x1 <= x0 or y1 <= y0:
                    continue
                sigma = max(12.0, float(np.sqrt((x1 - x0) * (y1 - y0))) / 5.0)
                out[y0:y1, x0:x1] = strong_blur(out[y0:y1, x0:x1], sigma)
                found += 1
        log.info("attached picture: %d detection%s blurred (%s)", found, "" if found == 1 else "s",
                 ", ".join(detect.detectors))
        return out

    return redact
