"""Built-in detectors: ``faces`` (CenterFace), ``people`` (MediaPipe person segmentation on
LiteRT: ``trackedit models download people``; options
:class:`editor.detection.people.PeopleDetectorOptions`), ``plates`` (a weak classical placeholder) and
``plate-model`` (a trained plate detector file the user supplies: ONNX or TorchScript).

``faces`` needs the CenterFace model (``trackedit models download centerface``; options
:class:`editor.detection.centerface.FaceDetectorOptions`, ``--backend-set faces.OPTION=VALUE``).
``plates`` needs nothing (options :class:`editor.detection.plates.PlateDetectorOptions`); it
is weak on purpose-built footage and meant to be replaced by a plugin with a trained model
(``docs/redaction.md``, "Automatic redaction") — ``plate-model`` runs one from a file
(:mod:`editor.detection.model_detector`). Importing this module loads neither onnxruntime
nor any model.
"""
from __future__ import annotations

from editor import hookimpl
from editor.api.backends import BackendContext
from editor.api.detectors import DetectorSpec
from editor.detection.centerface import (
    FaceDetectorOptions,
    create_detector,
    missing_model_message,
    model_path,
)
from editor.detection.model_detector import ModelDetector, ModelDetectorOptions
from editor.detection.people import PeopleDetectorOptions
from editor.detection.people import create_detector as create_people_detector
from editor.detection.people import unavailable as _people_unavailable
from editor.detection.model_detector import unavailable as _model_unavailable
from editor.detection.plates import PlateDetector, PlateDetectorOptions


def _faces_unavailable(context: BackendContext, options: FaceDetectorOptions) -> str | None:
    """One line when the face model is absent (the hash is checked when the detector is built)."""
    if not model_path(context.models_dir).is_file():
        return missing_model_message()
    return None


def _faces(context: BackendContext, options: FaceDetectorOptions):  # noqa: ANN202
    return create_detector(options, device=context.device, models_dir=context.models_dir)


def _people(context: BackendContext, options: PeopleDetectorOptions):  # noqa: ANN202
    return create_people_detector(options, context.models_dir)


def _plates(context: BackendContext, options: PlateDetectorOptions) -> PlateDetector:
    return PlateDetector(options)


def _plate_model(context: BackendContext, options: ModelDetectorOptions) -> ModelDetector:
    return ModelDetector(options, context.device)


@hookimpl
def editor_register_detectors(register):  # noqa: ANN001
    register(DetectorSpec("faces", FaceDetectorOptions, _faces, kind="model", priority=10,
                          description="CenterFace (ONNX), multi-scale and tiled: faces from about 12 px high",
                          unavailable=_faces_unavailable, labels=("face",)))
    register(DetectorSpec("people", PeopleDetectorOptions, _people, kind="model", priority=10,
                          description="MediaPipe person segmentation (LiteRT): person instances with their masks",
                          unavailable=lambda context, options: _people_unavailable(context.models_dir, options),
                          labels=("person",)))
    register(DetectorSpec("plates", PlateDetectorOptions, _plates, kind="classic",
                          description="weak classical licence-plate finder (edges + character check); "
                                      "replace it with a plugin for real use",
                          labels=("plate",)))
    register(DetectorSpec("plate-model", ModelDetectorOptions, _plate_model, kind="model",
                          description="a trained plate detector you supply (ONNX or TorchScript file: "
                                      "--backend-set plate-model.model=PATH)",
                          unavailable=lambda context, options: _model_unavailable(options), labels=("plate",)))
