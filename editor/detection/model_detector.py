"""A detector from a user-supplied trained model file: ONNX or TorchScript (``plate-model``).

trackedit ships no trained licence-plate model (the classical ``plates`` finder is the
weightless default). Trained plate detectors are published as ONNX or TorchScript files —
YOLO models exported with Ultralytics' ``model.export(format="onnx")`` or
``format="torchscript"``, for example — under their authors' licences (Ultralytics' YOLO
code and weights are AGPL-3.0; check each model card). This module runs such a file, given
by path (``--backend-set plate-model.model=PATH`` or ``TRACKEDIT_PLATE_MODEL``), as the
``plate-model`` detector, registered through ``editor_register_detectors`` like every other.

The model's contract
--------------------
* **Input**: one float32 N×3×S×S RGB image (N = 1), the frame letterboxed into an S×S square
  (``input_size``, default 640: scaled to fit, centred, padded with grey 114), values 0…1
  (``scale = 1/255``; 0…255 with ``--backend-set plate-model.scale=1``).
* **Output** (the first output), either layout, in input pixels:

  - *YOLO raw* (Ultralytics YOLOv8 and later): 1×(4 + C)×A — per anchor the box centre x,
    y, width, height and C class scores (no objectness); the best class's score is the
    detection's score (anchors first, 1×A×(4 + C), with ``layout = "yolo"``);
  - *boxes*: K×6 or 1×K×6 — x0, y0, x1, y1, score, class (a model exported with its own
    non-maximum suppression).

  Only classes in ``classes`` (default: all) count. Boxes are mapped back to frame pixels,
  overlapping ones merged by non-maximum suppression, and reported with the label ``plate``
  (``label`` option).

A file that is missing, is not a model either runtime can load, or whose output has neither
layout is a one-line :class:`~editor.models.registry.ModelError` naming the file, raised when
the detector is built — before any frame is read.
"""
from __future__ import annotations

import os
from pathlib import Path
import warnings
from typing import Callable, Literal

import cv2
import numpy as np
from pydantic import Field

from editor.api.backends import BackendOptions
from editor.api.detectors import Detection
from editor.detection.centerface import nms
from editor.models.registry import ModelError

Layout = Literal["auto", "yolo", "boxes"]
"""How the model's output is read (module docstring)."""
ENV = "TRACKEDIT_PLATE_MODEL"
"""Environment variable naming the model file when the option is not given."""
MAX_BOXES = 300
"""``layout="auto"``: a K×6 output with at most this many rows is *boxes* (Ultralytics' NMS
exports keep at most 300); more rows are anchors."""
PAD = 114
"""Letterbox padding level (Ultralytics' convention)."""


class ModelDetectorOptions(BackendOptions):
    """Options of the ``plate-model`` detector (``--backend-set plate-model.OPTION=VALUE``)."""

    model: Path | None = None
    """The model file: ``.onnx`` (onnxruntime) or a TorchScript file (``.pt``, ``.torchscript``;
    PyTorch). ``None``: ``$TRACKEDIT_PLATE_MODEL``."""
    input_size: int = Field(640, ge=32, le=4096, multiple_of=32)
    """Side of the square input the frame is letterboxed into (the size it was exported at)."""
    scale: float = Field(1 / 255, gt=0)
    """Factor applied to 0…255 pixel values (1/255: inputs in 0…1)."""
    threshold: float = Field(0.25, ge=0, le=1)
    """Scores below this are not reported (the caller's ``--min-score`` still applies)."""
    nms_iou: float = Field(0.5, gt=0, le=1)
    """Overlapping boxes (IoU above this) are one plate: the higher score is kept."""
    classes: tuple[int, ...] = ()
    """Class indices that are plates (empty: every class)."""
    label: str = "plate"
    """The detections' label (names the objects: ``plate-1``…)."""
    layout: Layout = "auto"
    """The output's layout (module docstring); ``auto`` tells them apart by shape."""


def model_file(options: ModelDetectorOptions) -> Path | None:
    """The model path of ``options`` or of ``$TRACKEDIT_PLATE_MODEL`` (``None``: neither)."""
    if options.model is not None:
        return Path(options.model)
    env = os.environ.get(ENV, "").strip()
    return Path(env) if env else None


def unavailable(options: ModelDetectorOptions) -> str | None:
    """One line when no model file is given or it does not exist; ``None`` otherwise."""
    path = model_file(options)
    if path is None:
        return (f"give the trained model file: --backend-set plate-model.model=PATH (ONNX or TorchScript) "
                f"or ${ENV}")
    if not path.is_file():
        return f"{path}: model file not found"
    return None


def _runner(path: Path, device: str) -> Callable[[np.ndarray], np.ndarray]:
    """A function running the model file on a float32 N×3×S×S batch, returning its first
    output as a float32 array. Raises :class:`ModelError` naming the file."""
    data = path.read_bytes()
    if data[:2] == b"PK":  # a zip archive: TorchScript
        try:
            import torch
        except ImportError as exc:
            raise ModelError(f"{path}: a TorchScript model needs PyTorch (pip install torch)") from exc
        try:
            with warnings.catch_warnings():  # TorchScript's deprecation notice: the library never prints
                warnings.simplefilter("ignore", FutureWarning)
                module = torch.jit.load(str(path), map_location="cpu")
            module.eval()
        except Exception as exc:  # noqa: BLE001 - torch raises many types
            raise ModelError(f"{path}: not a TorchScript model PyTorch can load "
                             f"({' '.join(str(exc).split())[:160]})") from exc

        def run_torch(batch: np.ndarray) -> np.ndarray:
            with torch.inference_mode():
                out = module(torch.from_numpy(batch))
            if isinstance(out, (list, tuple)):
                out = out[0]
            return out.detach().float().cpu().numpy()

        return run_torch
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelError(f"{path}: an ONNX model needs onnxruntime (pip install onnxruntime)") from exc
    from editor.detection.centerface import execution_providers

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(data, options,
                                       providers=execution_providers(device, ort.get_available_providers()))
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
        raise ModelError(f"{path}: not an ONNX model onnxruntime can load "
                         f"({' '.join(str(exc).split())[:160]})") from exc
    name = session.get_inputs()[0].name

    def run_onnx(batch: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {name: batch})[0], np.float32)

    return run_onnx


def decode(out: np.ndarray, threshold: float, classes: tuple[int, ...] = (),
           layout: Layout = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Boxes (K×4, x0 y0 x1 y1, input pixels) and scores (K) above ``threshold`` from a
    model's first output in either layout of the module docstring. ``layout="auto"``: K×6
    (or 1×K×6) is *boxes*, 1×(4 + C)×A with more anchors than channels is *YOLO raw*;
    ``"yolo"`` also takes anchors first (1×A×(4 + C)). Raises ``ValueError`` for any other
    shape."""
    a = np.asarray(out, np.float32)
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 2:
        raise ValueError(f"output of shape {list(np.shape(out))}")
    boxes_layout = layout == "boxes" or (layout == "auto" and a.shape[1] == 6 and a.shape[0] <= MAX_BOXES)
    if boxes_layout:
        if a.shape[1] != 6:
            raise ValueError(f"output of shape {list(np.shape(out))} (boxes need K×6)")
        boxes, scores, cls = a[:, :4], a[:, 4], a[:, 5].round().astype(int)
    else:
        if layout == "yolo" and a.shape[0] > a.shape[1]:
            a = a.T  # anchors first
        if a.shape[0] < 5 or a.shape[1] <= a.shape[0]:
            raise ValueError(f"output of shape {list(np.shape(out))} (YOLO raw needs 1×(4+C)×A, A > 4+C)")
        cx, cy, w, h = a[0], a[1], a[2], a[3]
        cls_scores = a[4:]
        cls = cls_scores.argmax(axis=0)
        scores = cls_scores[cls, np.arange(a.shape[1])]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keep = scores >= threshold
    if classes:
        keep &= np.isin(cls, list(classes))
    return boxes[keep].astype(np.float32), scores[keep].astype(np.float32)


class ModelDetector:
    """A trained detector model file run on letterboxed frames (module docstring).
    Implements :class:`editor.api.detectors.Detector`. Raises :class:`ModelError` naming the
    file when it is missing, cannot be loaded, or its output has neither known layout (a test
    run on a blank input when built)."""

    def __init__(self, options: ModelDetectorOptions, device: str = "cpu") -> None:
        reason = unavailable(options)
        if reason is not None:
            raise ModelError(reason)
        self.options = options
        self.path = model_file(options)
        assert self.path is not None
        self._run = _runner(self.path, device)
        s = options.input_size
        try:
            decode(self._run(np.full((1, 3, s, s), PAD * options.scale, np.float32)), options.threshold,
                   options.classes, options.layout)
        except ModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the file does, one line naming it
            raise ModelError(f"{self.path}: not a detector trackedit can read (expected a YOLO raw output "
                             f"1x(4+C)xA or boxes Kx6; {' '.join(str(exc).split())[:160]})") from exc

    def detect(self, image: np.ndarray, frame_index: int) -> list[Detection]:
        """Detections on ``image`` (RGB uint8 H×W×3): boxes in frame pixels, the model's
        score, the ``label`` option's label, highest score first."""
        o = self.options
        h, w = image.shape[:2]
        s = o.input_size
        r = min(s / w, s / h)
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        dx, dy = (s - nw) // 2, (s - nh) // 2
        canvas = np.full((s, s, 3), PAD, np.uint8)
        canvas[dy:dy + nh, dx:dx + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if r < 1
                                                    else cv2.INTER_LINEAR)
        batch = (canvas.transpose(2, 0, 1)[None].astype(np.float32) * o.scale)
        try:
            boxes, scores = decode(self._run(batch), o.threshold, o.classes, o.layout)
        except ValueError as exc:
            raise ModelError(f"{self.path}: unexpected {exc}") from exc
        if not len(scores):
            return []
        boxes = (boxes - np.array([dx, dy, dx, dy], np.float32)) / r
        keep = nms(boxes, scores, o.nms_iou)
        order = keep[np.argsort(-scores[keep], kind="stable")]
        return [Detection(tuple(float(v) for v in boxes[i]), float(scores[i]), o.label)  # type: ignore[arg-type]
                for i in order]
