"""Detectors: the plugin kind that finds objects by itself (faces, licence plates…).

A **detector** looks at one frame and returns boxes with a score and a class label
(landmarks optional). trackedit turns detections into tracked objects
(:mod:`editor.detection`): detections are associated into tracks, each track becomes an
object named ``<label>-<n>`` (``face-1``, ``face-2``…) whose prompts are its detections,
and the tracking engine covers the frames between and around them, in both directions.

Detectors are registered through :func:`editor.api.hookspecs.editor_register_detectors`
with a :class:`DetectorSpec`, exactly like segmenters and trackers; the built-in ``faces``
(CenterFace) and ``plates`` detectors are ordinary plugins (``trackedit_plugins.detectors``).
A third party adds one (for example a YOLO plate model with its own checkpoint) the same
way; see "Automatic redaction" in the documentation (``docs/redaction.md``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from editor.api.backends import BackendSpec, O


@dataclass(frozen=True)
class Detection:
    """One object found on one frame.

    ``box`` is (x0, y0, x1, y1) in pixels of the upright frame, x1/y1 exclusive, floats;
    ``score`` the detector's confidence in [0, 1]; ``label`` the class (``"face"``,
    ``"plate"``), which names the tracked objects; ``landmarks`` optional (x, y) points in
    pixels (CenterFace: eyes, nose tip, mouth corners). ``mask`` optional: the object's own
    pixels, bool H×W of the whole frame (the ``people`` detector's person instances); the
    object's prompt on its frame is then this mask (not the box's shape), and redaction's
    floor covers it. Detections with masks are instances already told apart by the detector:
    duplicate suppression leaves them alone.

    ``verified``: ``None`` (the default) for a detector whose detections stand on their own
    (faces, plates); ``True`` / ``False`` for one whose detections need evidence beyond the
    frame's score — ``True`` where this frame shows it (the ``people`` detector: a face found
    inside the person instance), ``False`` where it does not or was not looked for. A track
    of such detections is kept only when at least
    :attr:`~editor.detection.options.AssociationOptions.verified_views` of them are
    ``True``; the detections of a track that is not kept are dropped, from redaction's floor
    too (:func:`editor.detection.scan.scan`).
    """

    box: tuple[float, float, float, float]
    score: float
    label: str
    landmarks: tuple[tuple[float, float], ...] = ()
    mask: np.ndarray | None = None
    verified: bool | None = None

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2


@runtime_checkable
class Detector(Protocol):
    """Finds objects of its classes on single frames."""

    def detect(self, image: np.ndarray, frame_index: int) -> list[Detection]:
        """Detections on ``image`` (RGB uint8 H×W×3, upright; frame ``frame_index``).

        Return every detection with its score (the caller applies ``--min-score``; a
        detector may drop what it considers noise below its own floor). Boxes may extend
        past the frame; the caller clips them. Raise ``TrackeditError`` (e.g.
        :class:`editor.models.ModelError`) when the detector cannot run.

        Optional methods the detection pass uses when a detector has them:
        ``new_shot()`` — a cut (or the start of a chunk of frames) comes next: forget what
        the previous frames showed; ``fork()`` — an independent instance (same model and
        options, no frame seen yet) that may run on another thread at the same time:
        detectors that all have it are run on chunks of frames in parallel
        (:func:`editor.detection.scan.scan`), each chunk starting with ``new_shot()``;
        ``limits(width, height)`` — one line (``str``) saying what the detector cannot find
        on frames of that size (faces below its smallest size), else ``None``: the pass logs
        it once as a warning; ``look_again(image, detections)`` — for detections of the
        previous frame, the same objects looked for on ``image`` where they were (a list of
        :class:`Detection`, those found, where they were found): the pass asks it for what
        the previous frame had and this one lacks, so a detector started afresh on a chunk
        of frames (or one whose search missed an object a frame) keeps what it had found.
        """
        ...


@dataclass(frozen=True)
class DetectorSpec(BackendSpec[Detector, O]):
    """A registered detector (``factory(context, options)`` returns a :class:`Detector`).

    ``name`` is what ``--detect`` takes and what presets select a whole class of objects
    with (``objects = ["faces"]``); ``labels`` are the classes its detections carry (the
    first names its objects: ``face-1``…). ``unavailable(context, options)`` says in one line
    why it cannot run (its model file is missing, and how to get it), else ``None``.
    """

    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class FrameDetection:
    """A detection as redaction covers it on its own frame — the floor of redaction.

    Every detection kept by the detection pass (score ≥ ``--min-score``, after duplicate
    suppression) travels with its frame to the edit stages
    (:attr:`editor.api.stages.FrameItem.detections`), whatever the tracker made of it, so a
    redaction stage covers it even where a track drifted, was dropped as noise or did not
    fit in the 255 object ids (:func:`editor.api.stages.redaction_region`).

    ``box``: (x0, y0, x1, y1) frame pixels, already grown by the detection margin (may extend
    past the frame); ``shape``: ``"ellipse"`` (inscribed in ``box``) or ``"box"``;
    ``detector``: the registered detector's name (``"faces"``: the class a stage selects);
    ``object_id``: the detected object whose track it belongs to, ``None`` when it joined
    none (noise rule, id overflow); ``label``: the detection's class label (``"face"``);
    ``mask_png``: for a detection with its own mask (:attr:`Detection.mask`; ``shape`` is
    then ``"mask"``), that mask as a 1-bit PNG of the whole frame — the floor covers those
    pixels (:meth:`region`), ``box`` is their bounding box.
    """

    box: tuple[float, float, float, float]
    detector: str
    object_id: int | None = None
    shape: str = "ellipse"
    label: str = ""
    mask_png: bytes | None = None

    def region(self, height: int, width: int, *, box: bool = False) -> np.ndarray:
        """The pixels this detection covers on a ``height``×``width`` frame (bool): its mask
        (``mask_png``), else its ellipse or box; with ``box``, always its box."""
        from editor.api.prompts import load_mask_file, paint_shape

        if self.mask_png is not None and not box:
            mask = load_mask_file(self.mask_png, 1)
            if mask.shape == (height, width):
                return mask
        return paint_shape(np.zeros((height, width), bool), self.box,
                           "box" if box or self.shape == "mask" else self.shape)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2
