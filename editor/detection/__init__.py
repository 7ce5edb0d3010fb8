"""Automatic detection: detector backends and turning detections into tracked objects.

* :mod:`editor.detection.centerface` — the CenterFace face detector (ONNX; onnxruntime, or
  OpenCV's DNN module as the fallback), run at several scales and in overlapping tiles so
  faces from about 12 px high are found in 1080p and 4K frames.
* :mod:`editor.detection.plates` — a weak classical licence-plate detector (edge density and
  rectangle candidates), a default that a plugin with a trained model should replace.

Both are registered as detectors by the built-in plugin ``trackedit_plugins.detectors``
(:class:`editor.api.detectors.DetectorSpec`).

From detections to tracked objects (``--detect``, the web UI's "Detect faces",
:func:`detect_objects`):

* :mod:`editor.detection.options` — :class:`DetectOptions` (detectors, cadence, minimum
  score, shape, margin, hold) and :class:`AssociationOptions`;
* :mod:`editor.detection.scan` — the detection pass: one decode, cuts, detectors every N
  frames, association;
* :mod:`editor.detection.schedule` — every how many frames (automatic from measured speed);
* :mod:`editor.detection.association` — detections → tracks (IoU with the velocity's
  prediction and appearance, optimal assignment, gates, cuts, the noise rule);
* :mod:`editor.detection.objects` — tracks → objects ``face-1``… with prompts, and classes
  of objects for presets (``objects = ["faces"]``);
* :mod:`editor.detection.detect` — :func:`detect_objects`, the API the CLI, the pipeline and
  the web UI use. Submodules are imported on demand: importing
this package loads neither onnxruntime nor the model.
"""
from __future__ import annotations

from editor.detection.detect import DetectedObjects, detect_objects, resolve_detectors  # noqa: E402
from editor.detection.options import AssociationOptions, DetectOptions  # noqa: E402
