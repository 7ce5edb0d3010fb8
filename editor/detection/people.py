"""People without clicks: MediaPipe's person segmentation models on LiteRT (``--detect people``).

The models (``trackedit models download people``: ``selfie_segmentation_landscape.tflite``,
input 256×144, and ``selfie_segmentation.tflite``, 256×256; Apache-2.0, extracted from the
mediapipe 0.10.14 wheel) give every pixel the probability that it shows a person. They run
on LiteRT (``ai-edge-litert``, the ``people`` extra); where LiteRT is not installed
:func:`unavailable` says in one line that people detection is unavailable.

On each frame (RGB uint8 H×W×3):

1. the frame is resized to the model's input (the landscape model for frames at least 1.5
   times as wide as high, the square one otherwise: :attr:`PeopleDetectorOptions.model`),
   scaled to [0, 1] and run: a probability map at the model's resolution (float32 in [0, 1]);
2. the map is made stable in time (:class:`MotionSmoother`): the previous frame's map is
   moved along the optical flow between the two frames (at the model's resolution) and
   blended in where the current map is unsure (probability near 0.5), so edges do not
   flicker while a moving person is followed without lag; a shot cut starts afresh;
3. the map is resized to the frame (bilinear) and thresholded (:attr:`threshold`); its
   connected components of at least :attr:`min_area` of the frame are the person
   instances: one :class:`~editor.api.detectors.Detection` each, label ``person``, its
   box the component's bounding box, its score the mean probability over the component,
   its ``mask`` the component (bool H×W).

4. evidence that an instance is a person (:attr:`PeopleDetectorOptions.evidence`): the
   model's probability is no evidence — it marks a cartoon rabbit, a cat, a coffee cup and a
   retina photograph at 0.81–0.97 mean probability, as confidently as real people (0.83–0.99)
   — so on every :attr:`face_every`-th frame each instance's box (grown by a tenth, scaled to
   at most :attr:`face_side` px) is searched for faces of at least :data:`FACE_MIN` px with
   the ``faces`` detector (CenterFace), and the instance is ``verified`` when a face scoring at least
   :attr:`face_score` has its centre on the instance's mask. The detection pass keeps a
   person track only when enough of its instances are verified
   (:attr:`~editor.detection.options.AssociationOptions.verified_views`); the rest are
   dropped, from redaction's floor too. So a person must show a face now and then: someone
   seen only from behind is not detected (``--backend-set people.evidence=none`` keeps every
   instance, as before).

The detection pass then joins the instances of successive frames into tracks (the same
association as faces: box overlap along the motion plus appearance, ending at cuts) and
each track becomes an object ``person-1``, ``person-2``… whose prompt on every frame is its
own mask; stages select them all with ``objects = ["people"]``.

Evidence chosen on a tuning set that no test scores: scikit-image's sample pictures
(``astronaut``, ``camera``: people, faces scored 0.83 and 0.78 inside their instances;
``chelsea`` the cat, ``coffee``, ``retina``, ``motorcycle_left``: instances at 0.64–0.97
probability, no face inside). The face threshold is the ``faces`` detector's own operating
point (0.5, ``--min-score``), not tuned here.
"""
from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from editor.api.detectors import Detection
from editor.detection.association import iou
from editor.models.download import read_checked
from editor.models.registry import REGISTRY, MODEL_SETS, ModelError
from editor.models.registry import models_dir as resolve_models_dir

LABEL = "person"
SET_NAME = "people"
"""``trackedit models download people`` fetches both models."""
WHAT = "person segmentation model"


class PeopleDetectorOptions(BaseModel):
    """Options of the ``people`` detector (``--backend-set people.OPTION=VALUE``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Literal["auto", "landscape", "general"] = "auto"
    """``landscape`` (256×144 input), ``general`` (256×256), or ``auto``: landscape for
    frames whose width is at least 1.5 × their height (16:9, 2.35:1), general for squarer or
    portrait frames (4:3, 1:1, 9:16), so that people are squeezed least."""
    threshold: float = Field(0.5, gt=0, lt=1)
    """Probability above which a pixel belongs to a person."""
    min_area: float = Field(0.002, ge=0, le=1)
    """Components smaller than this fraction of the frame are dropped (specks of texture)."""
    smoothing: float = Field(0.7, ge=0, lt=1)
    """How much of the previous frame's map (moved along the motion) an unsure pixel takes:
    the weight is ``smoothing × (1 − |2p − 1|)`` for the current probability ``p`` (0: off)."""
    threads: int = Field(2, ge=1, le=64)
    """LiteRT interpreter threads (forks for the detection threads use one each)."""
    refine: bool = True
    """Each person is run through the square model again in a window around it
    (:meth:`PeopleDetector.closer`): a thin or small person in a wide frame is seen with
    more of the model's pixels."""
    evidence: Literal["face", "none"] = "face"
    """``face``: a person instance counts only where faces are found inside it now and then
    (module docstring, step 4; needs the ``faces`` detector's model: ``trackedit models
    download centerface``); ``none``: every instance the model gives counts (a cartoon
    character, an animal, a round object may then be taken for a person)."""
    face_every: int = Field(4, ge=1)
    """Faces are looked for on every this-many-th frame the detector is given, counted from
    the start, each cut and each chunk of the detection threads (a cost bound: the face
    search on an instance costs up to five times the person model at 720p)."""
    face_views: int = Field(2, ge=1)
    """Faces are no longer looked for on an instance that continues (box IoU at least
    :data:`SAME_PERSON` with an instance of the previous frame, since the start, the last cut
    or the chunk's first frame) one verified this many times already: the association keeps
    a track with :attr:`~editor.detection.options.AssociationOptions.verified_views` (2)
    verified views, and each chunk of the detection threads still gives its own. Keep it at
    least ``--verified-views``."""
    face_score: float = Field(0.5, gt=0, le=1)
    """A face scoring at least this verifies the instance it lies on (the ``faces``
    detector's operating point, ``--min-score``'s default)."""
    face_side: int = Field(320, ge=64, le=4096)
    """The instance's box is scaled down to at most this many pixels on its longer side for
    the face search, which looks for faces of at least :data:`FACE_MIN` px there: a thirteenth
    of the box (a standing person's face is about a tenth of their height)."""


FACE_MIN = 24.0
"""Smallest face (px, in the instance's box scaled to ``face_side``) the evidence search
looks for: the face detector's ``min_face``. With 320 px boxes it halves the search's cost
against the detector's default 12 px, with the same verdicts on the tuning set (module
docstring) and on the 720p cyclist clip of ``benchmarks/people_speed.py``."""


WIDE = 1.5
"""Aspect ratio (longer side over shorter) from which a picture counts as wide: ``auto`` runs
the landscape model on frames at least this wide (16:9, 2.35:1) and the square one on
squarer frames; the closer view (:meth:`PeopleDetector.closer`) is not taken when its window,
clipped to the frame, is this wide (two people side by side, a crowd): the square model
would see them squeezed by as much, worse than the first view."""


SAME_PERSON = 0.5
"""Box IoU from which an instance continues one of the previous frame (for
:attr:`PeopleDetectorOptions.face_views` only: the tracks are the association's). At 0.5 a
person's box moves less than a third of its width between frames."""


EDGE_BAND = 4.0
"""Width, in pixels of the square model's input, of the strip along a side of the closer
view's window that the frame's edge cuts, where the closer view's map is never below the
first view's (:func:`joined_views`). The model marks a person weakly where its input ends
while the person goes on: on bikes.mp4 the person's pixels within 2 px of the frame's edge
were found by the first view at 0.55 (the man, frames 30–46) and 0.65 (the cyclist, 76–136),
by the closer view — whose window ends there, where the first view's frame does too but
takes up fewer of its pixels — at 0.41 and 0.18; from 4 px inward the closer view finds as
much or more. Chosen on the man, frames 29–46 (his pixels within 6 px of the edge kept
0.61 with no strip, 0.64, 0.66, 0.68 with 1.5, 3 and 4.5 input pixels, nothing more past
that); confirmed on the cyclist, 76–80 and 104–136. With it, detections alone (all three
stretches, ``evidence="none"``): the man's pixels within 6 px of the edge 0.50 → 0.61, the
cyclist's 0.36 → 0.70; mean IoU against the hand-drawn masks 0.688 → 0.694 and 0.668 →
0.672; carphone unchanged (0.888, its window is the whole frame)."""


def joined_views(near: np.ndarray, first: np.ndarray, smoothing: float,
                 cut: tuple[bool, bool, bool, bool], band: float) -> np.ndarray:
    """The closer view's probability map of a window, joined with the first view's there.

    ``near`` and ``first``: float32 h×w in [0, 1], the closer view's map and the first view's
    (stabilised in time by :class:`MotionSmoother`) over the same window at the frame's
    size. ``cut``: whether the frame's edge cuts the window's (left, top, right, bottom) side.
    ``band``: :data:`EDGE_BAND` in the window's pixels.

    1. Steady in time: where ``near`` is unsure it takes the first view's map with the
       smoother's own weight, ``smoothing × (1 − |2p − 1|)`` — the closer view is one image,
       its unsure edges (a person half hidden behind the one in view) came and went from
       frame to frame; on bikes.mp4 104–136 the background swap's kept pixels that flip
       between frames where the picture is still went from 1.20 × the first view's alone to
       0.87 × (carphone 0–59: 1.17 × to 1.0 ×).
    2. Along a cut side, within ``band`` px of it, the larger of both maps (:data:`EDGE_BAND`).
    """
    out = near
    if smoothing > 0:
        weight = smoothing * (1.0 - np.abs(2.0 * near - 1.0))
        out = (1.0 - weight) * near + weight * first
    reach = int(np.ceil(band))
    if reach > 0 and any(cut):
        out = out.copy() if out is near else out
        h, w = out.shape
        left, top, right, bottom = cut
        for on, sl in ((left, np.s_[:, :reach]), (top, np.s_[:reach, :]),
                       (right, np.s_[:, max(0, w - reach):]), (bottom, np.s_[max(0, h - reach):, :])):
            if on:
                np.maximum(out[sl], first[sl], out=out[sl])
    return out


def missing_message() -> str:
    """The one-line reason given when a model file is absent."""
    return f"{WHAT} not found: run `trackedit models download {SET_NAME}`"


def interpreter_class() -> Any:
    """LiteRT's ``Interpreter`` class; :class:`ModelError` (one line) when LiteRT is not installed."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise ModelError("people detection is unavailable here: LiteRT (ai-edge-litert) is not installed "
                         "(pip install 'trackedit[people]'; it has wheels for Linux, macOS and Windows on "
                         "x86-64 and arm64)") from exc
    return Interpreter


def unavailable(models_dir: Path | None = None, options: PeopleDetectorOptions | None = None) -> str | None:
    """Why ``--detect people`` cannot run here (LiteRT missing, a model file missing — the
    face model too with ``evidence="face"``, the default), else ``None``."""
    from editor.detection import centerface

    try:
        interpreter_class()
    except ModelError as err:
        return str(err)
    directory = resolve_models_dir(models_dir)
    if not all((directory / REGISTRY[n].filename).is_file() for n in MODEL_SETS[SET_NAME]):
        return missing_message()
    if (options or PeopleDetectorOptions()).evidence == "face" and not centerface.model_path(models_dir).is_file():
        return (f"{centerface.missing_model_message()} (people are checked for a face; "
                "--backend-set people.evidence=none turns that off)")
    return None


@contextlib.contextmanager
def _native_stderr_quiet() -> Iterator[None]:
    """LiteRT's C++ runtime writes an INFO line to the process's stderr when it builds its
    CPU delegate (no setting turns it off); the library never prints, so file descriptor 2
    points at the null device meanwhile."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr: nothing to guard
        yield
        return
    saved = os.dup(fd)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
    finally:
        os.close(saved)


class SegmentationModel:
    """One of the two person segmentation models on LiteRT.

    ``__call__(image)``: RGB uint8 H×W×3 → probability float32 h×w in [0, 1] at the model's
    resolution (h×w: 144×256 or 256×256). Built from the file's checked bytes
    (:func:`editor.models.read_checked`).
    """

    def __init__(self, variant: Literal["landscape", "general"], models_dir: Path | None = None,
                 threads: int = 2) -> None:
        data = read_checked(f"people_{variant}", WHAT, models_dir, download_name=SET_NAME)
        cls = interpreter_class()
        try:
            self._net = cls(model_content=data, num_threads=threads)
            with _native_stderr_quiet():
                self._net.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"LiteRT cannot load the {WHAT}: {str(exc).splitlines()[0] if str(exc) else exc}") \
                from exc
        inp = self._net.get_input_details()[0]
        self._input = inp["index"]
        self._output = self._net.get_output_details()[0]["index"]
        _, self.height, self.width, _ = (int(v) for v in inp["shape"])
        self.variant = variant

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return self.run(self.input_of(image))

    def input_of(self, image: np.ndarray) -> np.ndarray:
        """``image`` (RGB uint8 H×W×3) resized to the model's input (uint8 h×w×3, area interpolation)."""
        return cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)

    def run(self, small: np.ndarray) -> np.ndarray:
        """The probability map of an image already at the model's input size (:meth:`input_of`)."""
        self._net.set_tensor(self._input, (small.astype(np.float32) / 255.0)[None])
        self._net.invoke()
        out = self._net.get_tensor(self._output)
        return np.clip(out.reshape(self.height, self.width), 0.0, 1.0).astype(np.float32)


@dataclass
class MotionSmoother:
    """Temporal stability of a probability map (see the module docstring, step 2).

    ``update(grey, prob)``: ``grey`` uint8 h×w (the frame at the map's resolution), ``prob``
    float32 h×w; returns the stabilised map. :meth:`reset` at a shot cut.
    """

    strength: float = 0.7
    _grey: np.ndarray | None = None
    _prob: np.ndarray | None = None

    def reset(self) -> None:
        self._grey = self._prob = None

    def update(self, grey: np.ndarray, prob: np.ndarray) -> np.ndarray:
        out = prob
        if self.strength > 0 and self._grey is not None and self._prob is not None \
                and self._grey.shape == grey.shape:
            # flow from the current frame back to the previous one: where each pixel was
            flow = cv2.calcOpticalFlowFarneback(grey, self._grey, None, 0.5, 2, 9, 2, 5, 1.1, 0)
            h, w = grey.shape
            gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
            moved = cv2.remap(self._prob, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
            weight = self.strength * (1.0 - np.abs(2.0 * prob - 1.0))
            out = (1.0 - weight) * prob + weight * moved
        self._grey, self._prob = grey, out
        return out


class PeopleDetector:
    """The ``people`` detector (:class:`~editor.api.detectors.Detector`): person instances
    with their masks on every frame (see the module docstring).

    Raises :class:`ModelError` (one line) when LiteRT is missing or a model file is missing
    or corrupt (both files are checked when the detector is built; the face model too with
    ``evidence="face"``).
    """

    def __init__(self, options: PeopleDetectorOptions | None = None, models_dir: Path | None = None, *,
                 faces: Any = None) -> None:
        from editor.detection import centerface

        self.options = options or PeopleDetectorOptions()
        interpreter_class()
        for name in MODEL_SETS[SET_NAME]:  # both files checked now: a corrupt one fails before the pass
            read_checked(name, WHAT, models_dir, download_name=SET_NAME)
        self._models_dir = models_dir
        self._models: dict[str, SegmentationModel] = {}
        self._smoother = MotionSmoother(self.options.smoothing)
        self._since_look = 0
        """Frames given since the start or the last :meth:`new_shot` (faces are looked for on
        every ``face_every``-th of them, the first included)."""
        self._views: list[tuple[tuple[float, float, float, float], int]] = []
        """The previous frame's instances: box and verified views of the instance they continue."""
        self._faces = faces
        if self._faces is None and self.options.evidence == "face":
            self._faces = centerface.create_detector(
                centerface.FaceDetectorOptions(threads=1, min_face=FACE_MIN, coarse_face=max(FACE_MIN, 32.0)),
                device="cpu", models_dir=models_dir)

    def fork(self) -> PeopleDetector:
        """An independent detector with the same options (LiteRT on one thread, a face network
        of its own) that no frame has been given yet: the detection pass runs two on chunks
        of frames at once (:func:`editor.detection.scan.scan`)."""
        return PeopleDetector(self.options.model_copy(update={"threads": 1}), self._models_dir,
                              faces=self._faces.fork() if self._faces is not None else None)

    def new_shot(self) -> None:
        """A shot cut (or a chunk's first frame): the next frame's map owes nothing to the
        previous shot, and the next frame is looked at for faces."""
        self._smoother.reset()
        self._since_look = 0
        self._views = []

    def _model(self, height: int, width: int) -> SegmentationModel:
        variant = self.options.model
        if variant == "auto":
            variant = "landscape" if width >= WIDE * height else "general"
        return self._model_of(variant)

    def _model_of(self, variant: Literal["landscape", "general"]) -> SegmentationModel:
        if variant not in self._models:
            self._models[variant] = SegmentationModel(variant, self._models_dir, self.options.threads)
        return self._models[variant]

    def probability(self, image: np.ndarray) -> np.ndarray:
        """The stabilised person probability of ``image`` (RGB uint8 H×W×3) at the model's
        resolution (float32 h×w in [0, 1]); successive calls are successive frames."""
        model = self._model(*image.shape[:2])
        small = model.input_of(image)  # one resize for the model and the motion
        return self._smoother.update(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), model.run(small))

    def detect(self, image: np.ndarray, frame_index: int) -> list[Detection]:
        height, width = image.shape[:2]
        prob = cv2.resize(self.probability(image), (width, height), interpolation=cv2.INTER_LINEAR)
        found = instances(prob, self.options.threshold, self.options.min_area)
        if self.options.refine:
            found = [self.closer(image, d, prob) for d in found]
        if self._faces is None:
            return found
        look = self._since_look % self.options.face_every == 0  # frames given, not indices: any cadence
        self._since_look += 1
        out, views, free = [], [], list(self._views)
        for d in found:
            best = max(range(len(free)), key=lambda k: iou(free[k][0], d.box), default=None)
            seen = free.pop(best)[1] if best is not None and iou(free[best][0], d.box) >= SAME_PERSON else 0
            verified = look and seen < self.options.face_views and self.face_on(image, d) >= self.options.face_score
            out.append(replace(d, verified=verified))
            views.append((d.box, seen + verified))
        self._views = views
        return out

    def closer(self, image: np.ndarray, person: Detection, first: np.ndarray | None = None) -> Detection:
        """``person`` seen again closer: a window around its box (its larger side plus a
        quarter, clipped to the frame) run through the square model — a thin or small person
        in a wide frame gets up to 2.5 times the model's pixels — and its mask replaced by
        the window's person pixels (probability above the threshold) that are connected to
        it; its score is their mean probability, its box the union of both views' boxes. The
        person stays one instance, kept as it was when the closer view finds nothing on it or
        when the window, clipped to the frame, is :data:`WIDE` or wider (two people touching
        side by side: squeezed into the square input, the fainter one was lost).

        ``first``: the first view's probability at the frame's size (float32 H×W in [0, 1],
        stabilised in time by :class:`MotionSmoother`; :meth:`detect` passes it). With it the
        closer view's map (:func:`joined_views`) is made steady where it is unsure (the
        smoother's weight, :attr:`PeopleDetectorOptions.smoothing`) and is never below the
        first view along a side of the window that the frame's edge cuts (:data:`EDGE_BAND`)."""
        assert person.mask is not None
        height, width = image.shape[:2]
        x0, y0, x1, y1 = person.box
        side = 1.25 * max(x1 - x0, y1 - y0)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        a0, b0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
        a1, b1 = min(width, int(np.ceil(cx + side / 2))), min(height, int(np.ceil(cy + side / 2)))
        if a1 - a0 < 8 or b1 - b0 < 8 or max(a1 - a0, b1 - b0) >= WIDE * min(a1 - a0, b1 - b0):
            return person
        near = cv2.resize(self._model_of("general")(image[b0:b1, a0:a1]), (a1 - a0, b1 - b0),
                          interpolation=cv2.INTER_LINEAR)
        if first is not None:
            cut = (a0 == 0, b0 == 0, a1 == width, b1 == height)
            near = joined_views(near, first[b0:b1, a0:a1], self.options.smoothing, cut,
                                EDGE_BAND * max(a1 - a0, b1 - b0) / self._model_of("general").width)
        # components without their stats: OpenCV's WithStats costs several times more
        count, labels = cv2.connectedComponents((near > self.options.threshold).astype(np.uint8), connectivity=8)
        touched = np.bincount(labels[person.mask[b0:b1, a0:a1]], minlength=count) > 0
        touched[0] = False  # the window's background
        if not touched.any():
            return person
        inside = touched[labels]
        mask = np.zeros((height, width), bool)
        mask[b0:b1, a0:a1] = inside
        left, top, w, h = cv2.boundingRect(inside.view(np.uint8))
        # the box covers both views: the track's boxes keep their size where the closer view
        # drops a hidden part (legs behind a passing van), so association still joins them
        box = (min(x0, float(a0 + left)), min(y0, float(b0 + top)),
               max(x1, float(a0 + left + w)), max(y1, float(b0 + top + h)))
        return replace(person, box=box, score=float(near[inside].mean()), mask=mask)

    def face_on(self, image: np.ndarray, person: Detection) -> float:
        """The best score of a face whose centre lies on ``person``'s mask (0.0 when none),
        searched in its box grown by a tenth on every side and scaled to at most
        :attr:`~PeopleDetectorOptions.face_side` px (module docstring, step 4). Needs
        ``evidence="face"``.

        The face detector's candidates (:meth:`~editor.detection.centerface.CenterFaceDetector.propose`,
        the whole pyramid) whose centre lies off the mask are dropped before they are
        verified (each candidate's verified score is its own: the very scores
        ``detect_raw`` gives the rest): on the 720p cyclist clip 40 of 74 candidates lay
        off his mask, a third of the search's CPU time."""
        assert self._faces is not None and person.mask is not None
        height, width = image.shape[:2]
        x0, y0, x1, y1 = person.box
        mx, my = 0.1 * (x1 - x0), 0.1 * (y1 - y0)
        x0, y0 = max(0, int(x0 - mx)), max(0, int(y0 - my))
        x1, y1 = min(width, int(np.ceil(x1 + mx))), min(height, int(np.ceil(y1 + my)))
        scale = min(1.0, self.options.face_side / max(x1 - x0, y1 - y0, 1))
        crop = image[y0:y1, x0:x1]
        if scale < 1:
            crop = cv2.resize(crop, (max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))),
                              interpolation=cv2.INTER_AREA)
        crop = np.ascontiguousarray(crop)
        faces = self._faces.propose(crop)
        boxes = faces.boxes
        # centres in frame pixels, truncated as int() does
        cx = (x0 + (boxes[:, 0] + boxes[:, 2]) / 2 / scale).astype(np.int64)
        cy = (y0 + (boxes[:, 1] + boxes[:, 3]) / 2 / scale).astype(np.int64)
        on = (cx >= 0) & (cx < width) & (cy >= 0) & (cy < height)
        on[on] = person.mask[cy[on], cx[on]]
        if not on.any():
            return 0.0
        scores = self._faces.verify(crop, boxes[on]) if self._faces.options.verify else faces.scores[on]
        scores = scores[scores >= self._faces.options.threshold]  # the detector's noise floor
        return float(scores.max()) if scores.size else 0.0


def instances(prob: np.ndarray, threshold: float = 0.5, min_area: float = 0.002) -> list[Detection]:
    """Person instances of a probability map (float H×W in [0, 1] at the frame's size): the
    connected components (8-connected) of ``prob > threshold`` covering at least
    ``min_area`` of the frame, largest first, as detections labelled ``person`` with their
    masks (bool H×W), boxes (x0, y0, x1, y1; x1/y1 exclusive) and scores (mean probability)."""
    height, width = prob.shape
    fg = prob > threshold
    # components, then the areas by counting the foreground's labels only (the background's
    # area is never used): OpenCV's WithStats costs several times more, counting every pixel's
    # label 2.5 times more at 720p
    count, labels = cv2.connectedComponents(fg.view(np.uint8), connectivity=8)
    areas = np.bincount(labels[fg], minlength=count)
    out: list[Detection] = []
    floor = min_area * height * width
    for k in range(1, count):
        if areas[k] < max(1.0, floor):
            continue
        mask = labels == k
        x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
        score = float(prob[y:y + h, x:x + w][mask[y:y + h, x:x + w]].mean())
        out.append(Detection((float(x), float(y), float(x + w), float(y + h)), score, LABEL, mask=mask))
    return sorted(out, key=lambda d: -float(np.count_nonzero(d.mask)))


def create_detector(options: PeopleDetectorOptions, models_dir: Path | None = None) -> PeopleDetector:
    """The ``people`` detector plugin's factory."""
    return PeopleDetector(options, models_dir)


class PersonRegions:
    """The person at a pixel of a single image, for click segmentation (the classical
    segmenter offers it among its candidates, so one click on a person gives the whole person).

    :meth:`at` returns the person instance (bool H×W, :func:`instances`) covering pixel
    ``(x, y)`` of ``image`` (RGB uint8 H×W×3; no temporal smoothing: images are independent),
    or ``None`` when no person covers it or people detection is unavailable here (LiteRT or
    the models missing: then it never tries again). No face evidence is asked for (step 4 of
    the module docstring): the region is one candidate among the segmenter's, and the user's
    click picked the thing. Thread-safe.
    """

    def __init__(self, models_dir: Path | None = None) -> None:
        self._models_dir = models_dir
        self._detector: PeopleDetector | None = None
        self._unavailable = False
        self._lock = threading.Lock()

    def at(self, image: np.ndarray, x: int, y: int) -> np.ndarray | None:
        with self._lock:
            if self._unavailable:
                return None
            if self._detector is None:
                try:
                    self._detector = PeopleDetector(PeopleDetectorOptions(smoothing=0.0, evidence="none"),
                                                    self._models_dir)
                except ModelError:
                    self._unavailable = True
                    return None
            self._detector.new_shot()
            found = self._detector.detect(image, 0)
        return next((d.mask for d in found if d.mask is not None and d.mask[y, x]), None)
