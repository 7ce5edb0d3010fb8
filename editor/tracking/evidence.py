"""Evidence for tracked masks: confidence, lost and found, the same for every tracker.

Trackers only report what they measured: a mask per object and frame, and foreground
probabilities where they have them (XMem). The engine (:mod:`editor.tracking.engine`)
gives each pass one :class:`Evidence`, which compares every mask with the object's last
confident views and decides what is output (a :class:`Verdict` per object and frame).

**The object model.** A prompt defines it (a correction defines it anew); it then learns
only from a steady track (at least three consecutive frames with confidence ≥
``learn_above`` and the expected area). A correction that edits the tracked mask (mostly
the mask followed on the frame before) keeps the model and moves it:

* colour: histograms of the object (half of it always the prompt's) and of a ring around
  it; their ratio gives every pixel a likelihood of being the object; colours seen in
  neither count as "not the object";
* shape and texture: the last *full* view (not cut by the border), crop and mask, and the
  prompt's view as an anchor;
* size: the reference area follows the masks only slowly (at most +2 % per frame); faster
  growth needs the texture's evidence: the views, matched at a few sizes where the object
  is predicted, say how big it is now (growth with evidence, e.g. an object coming closer);
* motion: centre, size and velocity of the full view (prompts on nearby frames, such as a
  detector's, give it too). While only a part is visible the
  prediction leads: a part cut by the border corrects it a little along its free edge
  (objects have inertia, a leftover stuck at the border has none: an edge lagging behind
  the motion changes neither the position much nor the velocity), a part inside the frame
  (occluded, or a leftover on the background) does not move it at all.

**Judging a mask** against the prediction (the last good mask moved by the estimated
motion, clipped to the frame): *area* (growth beyond ``grow_ok`` × the expected visible
area costs confidence, ``max_growth`` × leaves none; shrinking costs less, since exits and
occlusions shrink objects, but a mask much smaller than the object must show the object's
texture; where the whole object's view matches there (correlation ≥ 0.7), the mask is
completed with it), *position* (the share of the mask inside the expected region, widened for
motion uncertainty, and not on another tracked object), *appearance* (mean colour
likelihood inside, relative to the confident views) and, when the tracker has it, its
mean foreground probability. The confidence is the weakest of these, in [0, 1].

**Decisions** (passes whose trackers continue from them; others are only scored):

* consistent (confidence ≥ ``accept``): kept;
* grown without evidence: trimmed to the expected region plus object-coloured parts
  connected to it; kept if the trimmed mask is consistent;
* inconsistent: the whole frame is searched (below); a verified match replaces the mask
  (*found*); otherwise the expected region, where its colours still say "object", is kept
  for at most ``hold_frames`` frames (*held*, low confidence); otherwise the object is
  **lost**: nothing is output for it and the tracker stops tracking it. A sliver left at
  the border after an exit, or a mask that moved onto an occluder, has neither the expected
  area and place nor the object's colours and texture, so it dies.

**Lost and found.** Lost is decided by appearance and confidence, not by an empty mask.
On every frame each lost object is searched for in the whole frame at several scales
(``search_scales``, of its current and of its prompted size), with two proposals: colour
(mean likelihood in a box of the object's size against a ring around it) and texture
(its views matched in a small copy of the frame); positions partly outside the frame count,
so objects coming back in are found while they enter (``min_visible``). Each candidate is
verified before re-acquisition: texture (masked normalised correlation of a view, in its
own shape, at three sizes, located coarsely then to the pixel; small parts and small
objects must correlate better), colour, a place the object can have reached since it was
last seen (around its predicted centre, or where it left the frame, within a reach that
grows with the time elapsed and its speed; beyond twice the reach a candidate is refused),
and no overlap with other tracked objects (``verify``). A verified match smaller than the
object was is taken at a larger size where a larger view matches nearly as well (a shrunken
view correlates well on a part of a textured object; the tracker would follow that part). Objects too small to be told from
look-alikes (``min_search_area``) are not searched for in the whole frame. While the motion still predicts where a hidden
object is (``predict_frames``), the predicted region is checked first (an object coming
out from behind an occluder), with colour and texture. A re-acquired mask is handed to
the tracker like a prompt. Shot cuts end tracks: the engine forgets the models there.

**Confidence** per (frame, object): prompts 1; tracked: the weakest evidence; found: the
verification score; held: ``held_confidence``; lost: how sure the frame holds nothing
like the object (1 − the best unverified candidate's score; lower while the motion says
the object should be in view). Frames below ``review_below`` are *weak*: the ones a person
should look at (:mod:`editor.tracking.confidence`).

Everything runs at a small working resolution (longer side ≤ ``work_side``): judging
costs a few milliseconds per frame and object; searching costs more and runs only for
lost or inconsistent objects.
"""
from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import cv2
import numpy as np
from pydantic import Field

from editor.api.backends import BackendOptions
from editor.api.frames import Frame

State = Literal["prompt", "tracked", "found", "held", "lost"]

_BINS = 8
_SHIFT = 5  # 256 / 8 levels per channel
_NBINS = _BINS ** 3


class EvidenceOptions(BackendOptions):
    """Thresholds of the evidence checks (:class:`editor.tracking.engine.TrackingSession`'s
    ``evidence``)."""

    enabled: bool = True
    """Judge masks, hold, lose and re-acquire objects (off: output what the tracker says;
    confidences are still recorded, 1 for prompts and tracked masks)."""
    work_side: int = Field(320, ge=64)
    """Longer side (px) of the working resolution of the checks."""
    accept: float = Field(0.5, ge=0, le=1)
    """A mask with at least this confidence is kept as the tracker gave it."""
    learn_above: float = Field(0.7, ge=0, le=1)
    """Tracked masks with at least this confidence update the object model."""
    grow_ok: float = Field(1.3, gt=1)
    """Growth up to this factor of the expected area costs no confidence …"""
    max_growth: float = Field(1.8, gt=1)
    """… and at this factor there is none left (the mask is trimmed or rejected)."""
    hold_frames: int = Field(8, ge=0)
    """Frames the expected region may be output for an object whose mask is inconsistent."""
    held_confidence: float = Field(0.3, ge=0, le=1)
    """Confidence of a held mask."""
    predict_frames: int = Field(30, ge=0)
    """Frames a lost object's motion still predicts where to look first."""
    search_scales: tuple[float, ...] = (0.7, 0.85, 1.0, 1.2, 1.45)
    """Object sizes (× its last full view) tried when searching the whole frame."""
    min_visible: float = Field(0.2, gt=0, le=1)
    """Share of an object that must be inside the frame for a re-acquisition."""
    min_search_area: float = Field(256.0, ge=0)
    """Objects smaller than this (px at the working resolution, 16×16) are not
    searched for in the whole frame: so few pixels match look-alikes anywhere. Up to four
    times this size, a candidate's texture must match better. Only the region the motion
    predicts is checked for them (``predict_frames``)."""
    verify: float = Field(0.55, ge=0, le=1)
    """Verification score (colour, texture, size) a candidate needs to be re-acquired."""
    look_back: int = Field(8, ge=0)
    """Frames before a re-acquisition (or a prompt after the object was lost) that are
    tracked backward from it, for the first frames of an object coming back in or out from
    behind something, before enough of it shows to be verified. Headless runs hold their
    output back by this many frames (and as many decoded frames in memory); 0: off."""
    review_below: float = Field(0.5, ge=0, le=1)
    """Frames with a confidence below this are listed for review."""


@dataclass
class Verdict:
    """The engine's decision for one object on one frame."""

    state: State
    confidence: float
    mask: np.ndarray | None
    """What is output (bool H×W at the frame's size); ``None``: nothing (lost)."""
    replaced: bool = False
    """``mask`` is not what the tracker said: the tracker must continue from it."""


def _ramp(x: float, lo: float, hi: float) -> float:
    """0 at ``lo``, 1 at ``hi``, linear between (either order)."""
    if hi == lo:
        return 1.0 if x >= hi else 0.0
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1


def _disk(r: int) -> np.ndarray:
    r = max(1, int(round(r)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _place(mask: np.ndarray, cx: float, cy: float, w: float, h: float,
           shape: tuple[int, int]) -> tuple[np.ndarray, float, tuple[int, int, int, int]]:
    """``mask`` resized to ``w``×``h`` with its centre at (cx, cy) in a frame of ``shape``:
    the visible part, the visible share and the placement box (x, y, w, h; may be outside)."""
    H, W = shape
    pw, ph = max(2, int(round(w))), max(2, int(round(h)))
    m = cv2.resize(mask.astype(np.uint8), (pw, ph), interpolation=cv2.INTER_NEAREST)
    x, y = int(round(cx - pw / 2)), int(round(cy - ph / 2))
    out = np.zeros(shape, bool)
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + pw), min(H, y + ph)
    total = int(m.sum())
    if x1 <= x0 or y1 <= y0 or total == 0:
        return out, 0.0, (x, y, pw, ph)
    part = m[y0 - y:y1 - y, x0 - x:x1 - x] > 0
    out[y0:y1, x0:x1] = part
    return out, float(part.sum()) / total, (x, y, pw, ph)


def _shift(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    if abs(dx) < 0.5 and abs(dy) < 0.5:
        return mask
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    h, w = mask.shape
    return cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0


def _keep_touching(mask: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    n, lab = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    keep = np.unique(lab[seeds & mask])
    keep = keep[keep > 0]
    return np.isin(lab, keep) if keep.size else np.zeros_like(mask)


@dataclass
class _View:
    """A full view of the object: crop (RGB) and mask at the working resolution."""

    patch: np.ndarray
    mask: np.ndarray


@dataclass
class _Model:
    """What is known about one object in one pass."""

    fg: np.ndarray
    bg: np.ndarray
    like_ref: float
    anchor_fg: np.ndarray
    """The colours of the first (prompted) view: half of the object's colour model always."""
    view: _View
    anchor: _View
    cx: float
    cy: float
    w: float
    h: float
    area: float
    """Area of a full view (working px)."""
    frame: int
    vx: float = 0.0
    vy: float = 0.0
    last: np.ndarray | None = None
    """The last accepted mask (working resolution) and the frame it is from."""
    last_frame: int = 0
    state: State = "prompt"
    held_for: int = 0
    lost_for: int = 0
    uncertain: int = 0
    """Frames the motion is still unknown (just re-acquired): positions are checked loosely."""
    streak: int = 0
    """Consecutive confident frames: the model learns only from a steady track."""
    ratio: np.ndarray = field(default_factory=lambda: np.full(_NBINS, 0.5, np.float32))

    def refresh_ratio(self) -> None:
        # colours seen in neither histogram count as "not the object"
        self.ratio = (self.fg / (self.fg + self.bg + 1.0 / _NBINS)).astype(np.float32)

    def likelihood(self, codes: np.ndarray) -> np.ndarray:
        return self.ratio[codes]

    def predicted_centre(self, frame: int) -> tuple[float, float]:
        dt = abs(frame - self.frame)
        return self.cx + self.vx * dt, self.cy + self.vy * dt


class _FrameData:
    """One frame at the working resolution, with lazily computed pieces."""

    def __init__(self, frame: Frame, scale: float) -> None:
        self.index = frame.index
        self.damaged = frame.damaged
        image = frame.image
        if image.dtype != np.uint8:
            image = (image >> 8).astype(np.uint8)
        self.full_shape = image.shape[:2]
        h, w = self.full_shape
        self.size = (max(1, round(w * scale)), max(1, round(h * scale)))
        self.image = image if scale >= 1.0 else cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        q = (self.image >> _SHIFT).astype(np.uint16)
        self.codes = (q[..., 0] * _BINS + q[..., 1]) * _BINS + q[..., 2]
        self.shape = self.codes.shape
        self._like: dict[int, np.ndarray] = {}

    def like(self, oid: int, model: _Model) -> np.ndarray:
        if oid not in self._like:
            self._like[oid] = model.likelihood(self.codes)
        return self._like[oid]

    def forget(self, oid: int) -> None:
        self._like.pop(oid, None)

    def padded(self, pad: int) -> np.ndarray:
        """The image with ``pad`` black pixels around it (for windows that leave the frame)."""
        if getattr(self, "_pad", (0, None))[0] < pad:
            self._pad = (pad, cv2.copyMakeBorder(self.image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0))
        p, img = self._pad
        return img[p - pad:img.shape[0] - (p - pad), p - pad:img.shape[1] - (p - pad)]

    def small(self, mask: np.ndarray) -> np.ndarray:
        if mask.shape == self.shape:
            return mask.astype(bool)
        return cv2.resize(mask.astype(np.uint8), self.size, interpolation=cv2.INTER_AREA if
                          mask.shape[0] > self.shape[0] * 2 else cv2.INTER_NEAREST) > 0

    def full(self, mask: np.ndarray) -> np.ndarray:
        if mask.shape == self.full_shape:
            return mask
        h, w = self.full_shape
        return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5


class _Match(NamedTuple):
    """The best match of an object's views near a place (:meth:`Evidence._texture`)."""

    ncc: float
    """Masked normalised correlation (−1 when nothing could be matched)."""
    placed: np.ndarray | None
    """The matched view's mask placed there (working resolution, the part inside the frame)."""
    share: float
    """Share of it inside the frame."""
    view: _View
    box: tuple[int, int, int, int]
    """Where the view is placed (x, y, width, height in working pixels; may reach outside)."""


def _hist(codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    h = np.bincount(codes[mask], minlength=_NBINS).astype(np.float32)
    s = h.sum()
    return h / s if s > 0 else h


class Evidence:
    """The judge of one propagation pass: an object model per object, verdicts per frame.

    Call :meth:`begin` with each frame, then :meth:`search` (lost objects, before the
    tracker steps), :meth:`judge` (the tracker's masks) and :meth:`learn` (prompts and
    re-acquisitions given to the tracker); :meth:`end` at cuts and for removed objects.
    """

    def __init__(self, options: EvidenceOptions | None = None, *, acts: bool = True) -> None:
        self.options = options or EvidenceOptions()
        self.acts = acts and self.options.enabled
        """Whether verdicts may replace masks (hold, trim, lose, re-acquire); otherwise the
        tracker's masks are only scored (a tracker that cannot continue from the engine's
        decisions: its output is kept, with its confidence)."""
        self._models: dict[int, _Model] = {}
        self._data: _FrameData | None = None
        self._absent: dict[int, float] = {}
        """Confidence that the frame holds nothing like each lost object (from the last search)."""
        self._found: dict[int, float] = {}
        """Verification scores of the objects re-acquired on the current frame."""
        self._steady = False
        self._r = 1.0

    # -- frames ----------------------------------------------------------------------
    def begin(self, frame: Frame) -> None:
        if self._data is not None and self._data.index == frame.index:
            return
        h, w = frame.image.shape[:2]
        scale = min(1.0, self.options.work_side / float(max(h, w)))
        self._data = _FrameData(frame, scale)
        self._absent.clear()
        self._found.clear()

    def _frame(self, frame: Frame) -> _FrameData:
        self.begin(frame)
        assert self._data is not None
        return self._data

    # -- objects ---------------------------------------------------------------------
    @property
    def objects(self) -> set[int]:
        return set(self._models)

    def lost(self) -> set[int]:
        """Objects lost (nothing output), searched for on every frame."""
        return {oid for oid, m in self._models.items() if m.state == "lost"}

    def tracked(self) -> set[int]:
        """Objects not lost."""
        return {oid for oid, m in self._models.items() if m.state != "lost"}

    def found_confidence(self, oid: int) -> float:
        """The verification score of an object :meth:`search` re-acquired on this frame."""
        return self._found.get(oid, self.options.verify)

    def state(self, oid: int) -> State | None:
        model = self._models.get(oid)
        return model.state if model is not None else None

    def fork(self, ids: Iterable[int]) -> "Evidence":
        """A new judge that knows only ``ids``, as this one knows them now, for a pass in
        the opposite direction (velocities reversed): the look-back from a re-acquisition."""
        other = Evidence(self.options, acts=self.acts)
        for oid in ids:
            model = self._models.get(oid)
            if model is not None:
                twin = copy.deepcopy(model)
                twin.vx, twin.vy = -model.vx, -model.vy
                other._models[oid] = twin
        return other

    def end(self, ids: Iterable[int]) -> None:
        """Forget objects (a shot cut, a removed object): they are not searched for any more."""
        for oid in list(ids):
            self._models.pop(oid, None)
            self._absent.pop(oid, None)
            if self._data is not None:
                self._data.forget(oid)

    def learn(self, frame: Frame, masks: dict[int, np.ndarray], state: State = "prompt", *,
              colours: bool = True) -> None:
        """Masks given to the tracker on ``frame``: prompts define the object anew (a
        correction may show something else than before), except a correction that shows only
        a part of the object (cut by the border, or much smaller than its full view: an exit,
        an occlusion), which places the object there and keeps what it looks like; re-
        acquisitions and refined masks (``colours=False``) move it."""
        data = self._frame(frame)
        for oid, mask in masks.items():
            m = data.small(mask)
            if not m.any():
                continue
            model = self._models.get(oid)
            if state == "prompt" and model is not None and self._partial(model, m):
                self._correct(model, data, m)
            elif state == "prompt" and model is not None and self._agrees(model, data, m):
                # a correction of what was tracked (mostly the mask it follows): the object is
                # the same, only its outline here changes; its model stays
                self._update(oid, model, data, m, learn=False)
            elif model is None or state == "prompt":  # a prompt says what the object is: start over
                self._models[oid] = self._new_model(data, m)
                if model is not None:
                    self._carry_motion(model, self._models[oid])
                data.forget(oid)
            else:
                self._update(oid, model, data, m, learn=colours, rate=0.6, reset_motion=state == "found")
            self._models[oid].state = state
            self._models[oid].held_for = self._models[oid].lost_for = 0

    def _agrees(self, model: _Model, data: _FrameData, m: np.ndarray) -> bool:
        """Whether a prompt's mask ``m`` is mostly what the model followed on the frame
        before (IoU ≥ 0.6 with its last mask moved by its motion): a correction of the
        tracked mask, not a new definition of the object."""
        if model.last is None or abs(data.index - model.last_frame) != 1:
            return False
        q = _shift(model.last, model.vx, model.vy)
        union = float((q | m).sum())
        return union > 0 and float((q & m).sum()) / union >= 0.6

    def _carry_motion(self, old: _Model, new: _Model) -> None:
        """Prompts on nearby frames (a detector's, every few frames, or bridged between
        them) give the object its motion: the velocity from the last view to the new prompt
        (both full views, at most three frames apart), blended with the one known before."""
        dt = abs(new.frame - old.frame)
        if not 1 <= dt <= 3 or new.last is None or self._touches_border(new.last) \
                or old.last is None or self._touches_border(old.last):
            return
        vx, vy = (new.cx - old.cx) / dt, (new.cy - old.cy) / dt
        limit = 0.6 * max(new.w, new.h)
        vx, vy = float(np.clip(vx, -limit, limit)), float(np.clip(vy, -limit, limit))
        new.vx, new.vy = 0.6 * vx + 0.4 * old.vx, 0.6 * vy + 0.4 * old.vy

    def _partial(self, model: _Model, m: np.ndarray) -> bool:
        """Whether a corrected mask ``m`` shows only a part of the modelled object: cut by
        the border and smaller than its full view, or less than half of it."""
        area = float(m.sum())
        return (self._touches_border(m) and area < 0.8 * model.area) or area < 0.5 * model.area

    def _correct(self, model: _Model, data: _FrameData, m: np.ndarray) -> None:
        """A correction showing a part of the object: the object is there (its position
        follows the part, anchored on the edge the border does not cut), it looks as before
        (colours, views and full-view area kept), and its motion is rechecked loosely."""
        box = _bbox(m)
        assert box is not None
        x0, y0, x1, y1 = box
        H, W = m.shape
        border = (x0 <= 0, y0 <= 0, x1 >= W, y1 >= H)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        model.cx = self._anchor(x0, x1, cx, model.w, border[0], border[2])
        model.cy = self._anchor(y0, y1, cy, model.h, border[1], border[3])
        model.frame = data.index
        model.last, model.last_frame = m, data.index
        model.uncertain, model.streak = 3, 0

    # -- the model -------------------------------------------------------------------
    def _ring(self, m: np.ndarray) -> np.ndarray:
        area = int(m.sum())
        r = max(3, int(0.35 * np.sqrt(area)))
        box = _bbox(m)
        assert box is not None
        H, W = m.shape
        x0, y0 = max(0, box[0] - r - 1), max(0, box[1] - r - 1)
        x1, y1 = min(W, box[2] + r + 1), min(H, box[3] + r + 1)
        ring = np.zeros_like(m)
        sub = cv2.dilate(m[y0:y1, x0:x1].astype(np.uint8), _disk(r)) > 0
        ring[y0:y1, x0:x1] = sub & ~m[y0:y1, x0:x1]
        return ring

    def _colours(self, data: _FrameData, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        fg = _hist(data.codes, m)
        ring = self._ring(m)
        bg = _hist(data.codes, ring) if ring.any() else np.zeros(_NBINS, np.float32)
        rest = _hist(data.codes[::2, ::2], ~m[::2, ::2])
        return fg, 0.7 * bg + 0.3 * rest

    def _new_model(self, data: _FrameData, m: np.ndarray) -> _Model:
        fg, bg = self._colours(data, m)
        box = _bbox(m)
        assert box is not None
        x0, y0, x1, y1 = box
        view = _View(data.image[y0:y1, x0:x1].copy(), m[y0:y1, x0:x1].copy())
        model = _Model(fg, bg, 0.0, fg.copy(), view, view, (x0 + x1) / 2, (y0 + y1) / 2, float(x1 - x0),
                       float(y1 - y0), float(m.sum()), data.index, last=m, last_frame=data.index)
        model.refresh_ratio()
        model.like_ref = max(0.05, float(model.likelihood(data.codes)[m].mean()))
        if self._touches_border(m):  # a partial first view: guess the full size from it
            model.area = float(m.sum())
        return model

    @staticmethod
    def _touches_border(m: np.ndarray) -> bool:
        return bool(m[0].any() or m[-1].any() or m[:, 0].any() or m[:, -1].any())

    def _update(self, oid: int, model: _Model, data: _FrameData, m: np.ndarray, *, learn: bool,
                rate: float = 0.2, reset_motion: bool = False) -> None:
        """Move the model to an accepted mask ``m``; with ``learn``, also its colours and views
        (never from a damaged frame: concealed pixels are not the object's colours).

        A full view sets position, size and velocity. A part (cut by the border, or smaller
        than the object) anchors each axis on the edge that agrees with the prediction, and
        only an edge that the border does not cut may change the velocity, and only slowly
        (objects have inertia; a leftover stuck at the border does not); a part inside the
        frame leaves the predicted position as it is (it may be a leftover on the background
        or the object half hidden: the motion decides)."""
        learn = learn and not data.damaged
        box = _bbox(m)
        if box is None:
            return
        x0, y0, x1, y1 = box
        H, W = m.shape
        steps = max(1, abs(data.index - model.frame))
        pcx, pcy = model.predicted_centre(data.index)
        border = (x0 <= 0, y0 <= 0, x1 >= W, y1 >= H)
        area = float(m.sum())
        full = not any(border) and area >= 0.8 * model.area * self._size_change(model, x1 - x0, y1 - y0)
        moving = True
        lag_x = lag_y = False
        if full or reset_motion:
            cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
            if full:
                w, h = float(x1 - x0), float(y1 - y0)
            else:
                w, h = model.w, model.h
                cx = self._anchor(x0, x1, cx, w, border[0], border[2])
                cy = self._anchor(y0, y1, cy, h, border[1], border[3])
        else:  # a part: anchor each axis on the edge that agrees with the prediction
            w, h = model.w, model.h
            cx = self._anchor(x0, x1, pcx, w, border[0], border[2])
            cy = self._anchor(y0, y1, pcy, h, border[1], border[3])
            if not any(border):
                cx, cy = pcx, pcy
                moving = False
            else:  # cut by the border: the free edge corrects the prediction, a little at a time
                speed = float(np.hypot(model.vx, model.vy))
                lim_x, lim_y = 0.1 * w + 0.3 * speed + 1.0, 0.1 * h + 0.3 * speed + 1.0
                # an edge lagging behind the motion is what a leftover stuck at the border
                # shows (an object reverses only gradually): it barely holds the prediction back
                # (nor its velocity: see below)
                if (cx - pcx) * model.vx < 0 and abs(model.vx) > 1.0:
                    lim_x, lag_x = 0.03 * w + 1.0, True
                if (cy - pcy) * model.vy < 0 and abs(model.vy) > 1.0:
                    lim_y, lag_y = 0.03 * h + 1.0, True
                cx = pcx + float(np.clip(cx - pcx, -lim_x, lim_x))
                cy = pcy + float(np.clip(cy - pcy, -lim_y, lim_y))
        if reset_motion:
            model.vx = model.vy = 0.0
            model.uncertain = 3
        elif steps <= 3 and moving:
            vx, vy = (cx - model.cx) / steps, (cy - model.cy) / steps
            limit = 0.6 * max(model.w, model.h)
            vx, vy = float(np.clip(vx, -limit, limit)), float(np.clip(vy, -limit, limit))
            if full:
                k = 0.6
            else:  # cut by the border: slowly, and never much at once
                k = 0.3
                vx = model.vx + float(np.clip(vx - model.vx, -(0.3 * abs(model.vx) + 1), 0.3 * abs(model.vx) + 1))
                vy = model.vy + float(np.clip(vy - model.vy, -(0.3 * abs(model.vy) + 1), 0.3 * abs(model.vy) + 1))
            model.vx = model.vx if lag_x else k * vx + (1 - k) * model.vx
            model.vy = model.vy if lag_y else k * vy + (1 - k) * model.vy
        elif steps > 3:
            model.vx = model.vy = 0.0
        if not reset_motion:
            model.uncertain = max(0, model.uncertain - 1)
        model.cx, model.cy, model.w, model.h, model.frame = cx, cy, w, h, data.index
        model.last, model.last_frame = m, data.index
        if full:  # the reference area follows slowly (growth needs the texture's evidence: _scale)
            target = float(np.clip(area, 0.85 * model.area, 1.02 * model.area))
            model.area = 0.5 * model.area + 0.5 * target if learn else 0.8 * model.area + 0.2 * target
        if not learn:
            return
        fg, bg = self._colours(data, m)
        a = min(1.0, rate)
        model.fg = (1 - a) * model.fg + a * (0.5 * model.anchor_fg + 0.5 * fg)
        model.bg = (1 - min(1.0, 1.5 * a)) * model.bg + min(1.0, 1.5 * a) * bg
        model.refresh_ratio()
        data.forget(oid)
        like = float(model.likelihood(data.codes)[m].mean())
        model.like_ref = (1 - a) * model.like_ref + a * like if model.like_ref > 0 else like
        model.like_ref = max(0.05, model.like_ref)
        if full:
            model.view = _View(data.image[y0:y1, x0:x1].copy(), m[y0:y1, x0:x1].copy())

    def _scale(self, model: _Model, data: _FrameData) -> bool:
        """Measure the object's size where it is predicted, by matching its prompted view at a
        few sizes: when a larger size matches clearly better, the reference area grows
        (growth with evidence). Only the prompt's view: later views may have grown with the
        mask. Returns whether the texture matched at all."""
        cx, cy = model.predicted_centre(data.index)
        scores: dict[float, tuple[float, float]] = {}
        for s in (0.85, 1.0, 1.15):
            ncc, placed, share, *_ = self._texture(model, data, cx, cy, s, anchor_only=True)
            if placed is not None and share > 0.9:
                scores[s] = (ncc, float(placed.sum()))
        if not scores:
            return False
        s_best = max(scores, key=lambda k: scores[k][0])
        ncc, area = scores[s_best]
        if ncc < 0.7:
            return False
        if s_best != 1.0 and 1.0 in scores and ncc < scores[1.0][0] + 0.02:
            return True  # the present size matches about as well: no evidence of a change
        # only growth needs this evidence (shrinking masks cost little, and the reference
        # follows full views down by itself): a texture matched smaller never shrinks it
        model.area = max(model.area, 0.5 * model.area + 0.5 * area)
        return True

    @staticmethod
    def _size_change(model: _Model, w: float, h: float) -> float:
        return float(np.clip((w * h) / max(1.0, model.w * model.h), 0.5, 2.0))

    @staticmethod
    def _anchor(a0: int, a1: int, predicted: float, size: float, at_lo: bool, at_hi: bool) -> float:
        """Centre on one axis from a partial extent [a0, a1): from the edge that is not on the
        border and agrees better with the predicted extent."""
        lo_c, hi_c = a0 + size / 2, a1 - size / 2
        if at_lo and at_hi:
            return predicted
        if at_lo:
            return hi_c
        if at_hi:
            return lo_c
        return lo_c if abs(lo_c - predicted) <= abs(hi_c - predicted) else hi_c

    def _expected(self, model: _Model, data: _FrameData) -> tuple[np.ndarray, float, float]:
        """The expected mask on this frame (working resolution), the visible share of the
        object there and the expected visible area."""
        dt = abs(data.index - model.last_frame)
        cx, cy = model.predicted_centre(data.index)
        placed, share, _ = _place(model.view.mask, cx, cy, model.w, model.h, data.shape)
        last = model.last
        if last is not None and dt <= 3 and not self._touches_border(last) and last.sum() >= 0.6 * model.area:
            return _shift(last, model.vx * dt, model.vy * dt), share, model.area * share
        return placed, share, model.area * share

    # -- judging ---------------------------------------------------------------------
    def judge(self, frame: Frame, masks: dict[int, np.ndarray],
              probabilities: dict[int, np.ndarray] | None = None,
              occupied: dict[int, np.ndarray] | None = None) -> dict[int, Verdict]:
        """Verdicts on the tracker's ``masks`` of ``frame`` (object id → bool H×W), with its
        foreground ``probabilities`` where it has them. Objects without a model (never
        given) are accepted as they are."""
        data = self._frame(frame)
        probabilities = probabilities or {}
        out: dict[int, Verdict] = {}
        for oid, mask in masks.items():
            model = self._models.get(oid)
            if model is None or not self.options.enabled:
                out[oid] = Verdict("tracked", 1.0, mask if mask.any() else None)
                continue
            prob = probabilities.get(oid)
            mean_prob = float(prob[mask].mean()) if prob is not None and mask.any() else None
            others = {k: v for k, v in (occupied or masks).items() if k != oid}
            out[oid] = self._judge_one(oid, model, data, mask, mean_prob, others)
        return out

    def _scores(self, model: _Model, like: np.ndarray, m: np.ndarray, q: np.ndarray, qd: np.ndarray,
                expected_area: float, mean_prob: float | None,
                others: np.ndarray | None = None) -> tuple[float, float, float, float]:
        """Confidence of mask ``m`` and its area, position and appearance factors (position
        also counts how much of it lies on other objects' masks)."""
        o = self.options
        area = float(m.sum())
        r = area / max(expected_area, 1.0)
        if r >= 1:
            c_area = 1.0 - _ramp(np.log(r), np.log(o.grow_ok), np.log(o.max_growth))
        else:
            c_area = 0.4 + 0.6 * _ramp(r, 0.1, 0.5)
        a = float(like[m].mean()) / model.like_ref
        c_app = _ramp(a, 0.55, 0.85)
        contain = float((m & qd).sum()) / area if q.any() else 0.0
        c_pos = _ramp(contain, 0.5, 0.85)
        if others is not None:
            c_pos = min(c_pos, _ramp(float((m & others).sum()) / area, 0.5, 0.2))
        conf = min(c_area, c_app, c_pos)
        if mean_prob is not None:
            conf = min(conf, _ramp(mean_prob, 0.3, 0.7))
        self._steady = 0.8 <= r <= 1.2
        self._r = r
        return conf, c_area, c_pos, c_app

    def _judge_one(self, oid: int, model: _Model, data: _FrameData, mask: np.ndarray, mean_prob: float | None,
                   others: dict[int, np.ndarray]) -> Verdict:
        o = self.options
        if data.damaged and self.acts:
            damaged = self._damaged(oid, model, data, mask)
            if damaged is not None:
                return damaged
        m = data.small(mask)
        q, share, expected_area = self._expected(model, data)
        like = data.like(oid, model)
        min_px = max(3.0, 0.01 * model.area)
        conf = 0.0
        if m.sum() >= min_px:
            size = np.sqrt(max(model.area, 1.0))
            dt = max(1, abs(data.index - model.last_frame))
            margin = 2 + (0.15 + 0.15 * min(model.uncertain, 2)) * size + 0.5 * np.hypot(model.vx, model.vy) * dt
            qd = cv2.dilate(q.astype(np.uint8), _disk(margin)) > 0 if q.any() else q
            on_others = None
            if others:
                on_others = np.zeros_like(m)
                for other in others.values():
                    on_others |= data.small(other)
            conf, c_area, c_pos, c_app = self._scores(model, like, m, q, qd, expected_area, mean_prob, on_others)
            if conf >= o.accept and self._r < 0.7 and share > 0.3:
                # much less than the object is left: a part of it (occluded), or a leftover on
                # whatever hides it? Only the texture can tell: the object's views must match there
                ncc, placed, pshare, *_ = self._texture(model, data, *model.predicted_centre(data.index), 1.0)
                conf = min(conf, _ramp(ncc, 0.25, 0.5))
                if self.acts and placed is not None and ncc >= 0.7 and pshare >= o.min_visible \
                        and placed.sum() > 1.3 * m.sum() and (placed & m).sum() >= 0.5 * m.sum():
                    # the whole object is there (its texture says so): the tracker kept only a
                    # part of it; complete the mask with the matched view
                    whole = placed | m
                    model.state, model.held_for = "tracked", 0
                    self._update(oid, model, data, whole, learn=False)
                    return Verdict("tracked", min(conf, _ramp(ncc, 0.6, 0.9)), data.full(whole) | mask, replaced=True)
            if conf >= o.accept and (self._r > 1.1 or data.index % 5 == 0) and share > 0.9 \
                    and not self._touches_border(m):
                if self._scale(model, data):  # the texture says how big the object is now
                    expected_area = model.area * share
                    conf, c_area, c_pos, c_app = self._scores(model, like, m, q, qd, expected_area, mean_prob,
                                                              on_others)
            if conf >= o.accept:
                model.state, model.held_for = "tracked", 0
                steady = conf >= o.learn_above and self._steady
                model.streak = model.streak + 1 if steady else 0
                self._update(oid, model, data, m, learn=steady and model.streak >= 3 and model.uncertain == 0)
                return Verdict("tracked", conf, mask)
            if self.acts and c_app >= 0.5 and q.any() and (c_area < 1.0 or c_pos < 1.0):
                trimmed = self._trim(m, q, qd, like)
                if trimmed.sum() >= min_px:
                    t_conf, *_ = self._scores(model, like, trimmed, q, qd, expected_area, mean_prob, on_others)
                    if t_conf >= o.accept:
                        model.state, model.held_for = "tracked", 0
                        self._update(oid, model, data, trimmed, learn=False)
                        keep = cv2.dilate(trimmed.astype(np.uint8), _disk(1)) > 0
                        t_conf *= 0.9
                        if trimmed.sum() < 0.8 * m.sum():  # the tracker and the evidence disagree: look here
                            t_conf = min(t_conf, 0.45)
                        return Verdict("tracked", t_conf, mask & data.full(keep), replaced=True)
        if not self.acts:
            return Verdict("tracked", conf, mask if mask.any() else None)
        return self._fallback(oid, model, data, q, share, others)

    def _damaged(self, oid: int, model: _Model, data: _FrameData, mask: np.ndarray) -> Verdict | None:
        """A frame decoded with errors: its pixels can neither confirm nor refute the object
        (concealment paints other frames' or grey blocks over it), and the tracker may follow
        the damage. The object is where its motion says (the expected mask), joined with
        what the tracker reports next to it, held at ``held_confidence``; nothing is learnt.
        ``None`` when the object is expected outside the frame (judged as usual)."""
        q, share, _ = self._expected(model, data)
        if not q.any() or share <= 0.1:
            return None
        size = np.sqrt(max(model.area, 1.0))
        near = data.small(mask) & (cv2.dilate(q.astype(np.uint8), _disk(2 + 0.15 * size)) > 0)
        model.state = "held"
        self._update(oid, model, data, q, learn=False)
        return Verdict("held", self.options.held_confidence, data.full(q | near) | (mask & data.full(near)),
                       replaced=True)

    @staticmethod
    def _trim(m: np.ndarray, q: np.ndarray, qd: np.ndarray, like: np.ndarray) -> np.ndarray:
        """``m`` without what grew beyond the expected region, except object-coloured parts."""
        keep = (m & qd) | (m & (like > 0.65))
        keep = cv2.morphologyEx(keep.astype(np.uint8), cv2.MORPH_OPEN, _disk(1)) > 0
        return _keep_touching(keep, q)

    def _fallback(self, oid: int, model: _Model, data: _FrameData, q: np.ndarray, share: float,
                  others: dict[int, np.ndarray]) -> Verdict:
        """The tracker's mask is not the object: search, hold or lose it."""
        o = self.options
        model.streak = 0
        found = self._search_one(oid, model, data, others)
        if found is not None:
            mask, score = found
            model.state, model.held_for, model.lost_for = "found", 0, 0
            self._update(oid, model, data, mask, learn=False, reset_motion=True)
            return Verdict("found", score, data.full(mask), replaced=True)
        if model.held_for < o.hold_frames and share > 0.1:
            held = self._supported(oid, model, data, q)
            if held is not None:
                model.state = "held"
                model.held_for += 1
                self._update(oid, model, data, held, learn=False)
                return Verdict("held", o.held_confidence, data.full(held), replaced=True)
        self._lose(model, data)
        return Verdict("lost", self._absent_confidence(oid, model, share), None, replaced=True)

    def _lose(self, model: _Model, data: _FrameData) -> None:
        if model.state != "lost":
            model.lost_for = 0
        model.state = "lost"
        model.held_for = 0

    def _absent_confidence(self, oid: int, model: _Model, share: float) -> float:
        absent = self._absent.get(oid, 1.0)
        if share > 0.5 and model.lost_for < self.options.predict_frames:
            absent = min(absent, 0.25 + 0.05 * model.lost_for)  # it should be in view: look here
        return float(np.clip(absent, 0.0, 1.0))

    def _supported(self, oid: int, model: _Model, data: _FrameData, q: np.ndarray) -> np.ndarray | None:
        """The part of the expected region ``q`` whose colours say "object", if it is enough."""
        if not q.any():
            return None
        like = data.like(oid, model)
        g = q & (like > 0.5)
        g = cv2.morphologyEx(g.astype(np.uint8), cv2.MORPH_OPEN, _disk(1)) > 0
        if g.sum() < max(4.0, 0.25 * q.sum()):
            return None
        inside = float(like[g].mean())
        rest = q & ~g
        outside = float(like[rest].mean()) if rest.any() else 0.0
        if inside < 0.85 * model.like_ref or inside - outside < 0.25:
            return None
        return g

    # -- lost and found --------------------------------------------------------------
    def search(self, frame: Frame, skip: Iterable[int] = (),
               occupied: dict[int, np.ndarray] | None = None) -> dict[int, np.ndarray]:
        """Look for every lost object (except ``skip``) in ``frame``; the verified ones are
        returned (bool H×W at the frame's size) to be given to the tracker, and marked found."""
        if not self.acts:
            return {}
        data = self._frame(frame)
        skip = set(skip)
        found: dict[int, np.ndarray] = {}
        taken = dict(occupied or {})
        for oid, model in self._models.items():
            if model.state != "lost" or oid in skip:
                continue
            model.lost_for += 1
            q = share = None
            if model.lost_for <= self.options.predict_frames:
                q, share, _ = self._expected(model, data)
                held = self._supported(oid, model, data, q) if share > 0.1 else None
                score = self._verified_region(oid, model, data, held, taken) if held is not None else None
                if held is not None and score is not None:
                    found[oid] = data.full(held)
                    taken[oid] = found[oid]
                    self._found[oid] = score
                    continue
            hit = self._search_one(oid, model, data, taken)
            if hit is not None:
                found[oid] = data.full(hit[0])
                taken[oid] = found[oid]
                self._found[oid] = hit[1]
        return found

    def absent_confidence(self, oid: int) -> float:
        """Confidence for a lost object on the current frame (after :meth:`search`)."""
        model = self._models.get(oid)
        if model is None:
            return 1.0
        data = self._data
        share = 0.0
        if data is not None and model.lost_for <= self.options.predict_frames:
            _, share, _ = self._expected(model, data)
        return self._absent_confidence(oid, model, share)

    def _verified_region(self, oid: int, model: _Model, data: _FrameData, region: np.ndarray,
                         taken: dict[int, np.ndarray]) -> float | None:
        for other in taken.values():
            om = data.small(other)
            if (om & region).sum() > 0.3 * region.sum():
                return None
        like = data.like(oid, model)
        a = float(like[region].mean()) / model.like_ref
        if a < 0.85:
            return None
        ncc = self._texture(model, data, *model.predicted_centre(data.index), 1.0).ncc
        # the colours are there; the object's texture must be too (better for small objects:
        # few pixels correlate well by chance)
        o = self.options
        small = 1.0 - _ramp(model.area, o.min_search_area, 4 * o.min_search_area)
        if ncc < 0.5 + 0.3 * small:
            return None
        return min(_ramp(a, 0.7, 1.0), _ramp(ncc, 0.4 + 0.3 * small, 0.8 + 0.15 * small))

    def _search_one(self, oid: int, model: _Model, data: _FrameData,
                    taken: dict[int, np.ndarray]) -> tuple[np.ndarray, float] | None:
        """The whole-frame, multi-scale search: candidates by colour and by texture, each
        verified by texture (both views, their own shapes, three sizes around the
        candidate's), colour and place."""
        o = self.options
        like = data.like(oid, model)
        H, W = data.shape
        occupied = np.zeros((H, W), bool)
        for other in taken.values():
            occupied |= data.small(other)
        if model.area < o.min_search_area:  # too few pixels to tell it from look-alikes elsewhere
            self._absent[oid] = 0.5  # not searched: whether it is in the frame is not known
            return None
        # small objects correlate well by chance: their texture must match better
        small = 1.0 - _ramp(model.area, o.min_search_area, 4 * o.min_search_area)
        candidates = self._candidates(model, like) + self._texture_candidates(model, data)
        exited = self._exited(model, data)
        best_score = 0.0
        result: tuple[np.ndarray, float] | None = None
        best: _Match | None = None
        seen: list[tuple[float, float, float]] = []
        for score_c, cx, cy, s in candidates:
            if any(abs(cx - a) < 0.15 * model.w and abs(cy - b) < 0.15 * model.h and abs(s / c - 1) < 0.1
                   for a, b, c in seen):
                continue  # verified already
            seen.append((cx, cy, s))
            match = self._texture(model, data, cx, cy, s)
            ncc, placed, share = match.ncc, match.placed, match.share
            if placed is None or share < o.min_visible or placed.sum() < 9:
                continue
            if (placed & occupied).sum() > 0.3 * placed.sum():
                continue  # that is another tracked object
            a = float(like[placed].mean()) / model.like_ref
            # texture decides (colours drift with light and look-alikes share them); a candidate
            # far from where the object was lost moments ago needs more of it
            if a < 0.45:
                continue
            c_app = _ramp(a, 0.5, 0.85)
            part = 1.0 - _ramp(share, 0.3, 0.6)  # small parts correlate well by chance: ask more
            c_tex = _ramp(ncc, 0.6 + 0.15 * part + 0.1 * small, 0.85 + 0.07 * part + 0.07 * small)
            score = c_tex * (0.5 + 0.5 * c_app) * (0.85 + 0.15 * _ramp(share, o.min_visible, 0.7))
            ys, xs = np.nonzero(placed)
            score *= self._reachable(model, data, float(xs.mean()), float(ys.mean()), exited)
            best_score = max(best_score, score)
            if score >= o.verify and (result is None or score > result[1]):
                result, best = (placed, score), match
        if result is None:
            self._absent[oid] = 1.0 - _ramp(best_score, 0.2, o.verify)
            return None
        assert best is not None
        grown = self._grown(model, data, best, occupied)
        return (grown, result[1]) if grown is not None else result

    def _grown(self, model: _Model, data: _FrameData, match: "_Match", occupied: np.ndarray) -> np.ndarray | None:
        """A verified match smaller than the object was, made larger where a larger view (up
        to 1.45 × the object's area) matches nearly as well (within 0.08 of its correlation)
        and holds it: a shrunken view correlates well on a part of a textured object, and the
        tracker would follow only that part. ``None``: as it is."""
        assert match.placed is not None
        if match.placed.sum() / max(match.share, 1e-6) >= 0.8 * model.area:
            return None  # not smaller than the object was
        vh, vw = match.view.mask.shape
        x, y, pw, ph = match.box
        s = (pw / max(vw, 1)) * np.sqrt(vw * vh) / np.sqrt(max(model.w * model.h, 1.0))
        for k in (1.45, 1.2):
            m = self._texture(model, data, x + pw / 2, y + ph / 2, s * k)
            if m.placed is None or m.share < self.options.min_visible or m.ncc < match.ncc - 0.08:
                continue
            if m.placed.sum() / m.share > 1.45 * model.area:
                continue  # towards the size it had, not beyond
            if (m.placed & occupied).sum() > 0.3 * m.placed.sum() \
                    or (m.placed & match.placed).sum() < 0.8 * match.placed.sum():
                continue
            return m.placed
        return None

    def _reachable(self, model: _Model, data: _FrameData, cx: float, cy: float, exited: bool) -> float:
        """How far a candidate centred at (cx, cy) is from where the object can be now
        (``exited``: it left the frame, :meth:`_exited`), as a factor of its verification score: 1 within the
        reach of its motion, 0.7 up to twice that (the model's position may have drifted with
        a poor track), 0 beyond (a look-alike elsewhere).

        The reach, within ``predict_frames`` frames of the last view: half the object's size
        one frame later, up to 0.8 of it after four, plus (2 px + half its speed) per frame
        elapsed, around the predicted centre — or, for an object that left the frame, around
        the point where it left (it comes back the way it went, for ``2 × predict_frames``
        frames); half its size more while its motion is unknown (just re-acquired). Later,
        anywhere: the motion says nothing any more."""
        dt = abs(data.index - model.last_frame)
        limit = self.options.predict_frames
        size = max(model.w, model.h)
        speed = float(np.hypot(model.vx, model.vy))
        if exited:
            if dt > 2 * limit:
                return 1.0
            H, W = data.shape
            px, py = float(np.clip(model.cx, 0, W - 1)), float(np.clip(model.cy, 0, H - 1))
            reach = 0.75 * size + (2.0 + 0.5 * speed) * dt
        else:
            if dt > limit:
                return 1.0
            px, py = model.predicted_centre(data.index)
            # a moment after its last view the motion predicts well; uncertainty grows with time
            reach = (0.4 + 0.1 * min(dt, 4)) * size + (2.0 + 0.5 * speed) * dt
        if model.uncertain:  # just re-acquired: its motion is not known yet
            reach += 0.5 * size
        d = float(np.hypot(cx - px, cy - py))
        return 1.0 if d <= reach else 0.7 if d <= 2 * reach else 0.0

    def _exited(self, model: _Model, data: _FrameData) -> bool:
        """Whether the object left the frame: last seen at the border, and its motion has
        taken most of it outside since."""
        if model.last is None or not self._touches_border(model.last):
            return False
        _, share, _ = _place(model.view.mask, *model.predicted_centre(data.index), model.w, model.h, data.shape)
        return share < 0.5

    def _candidates(self, model: _Model, like: np.ndarray, top: int = 4) -> list[tuple[float, float, float, float]]:
        """(score, cx, cy, scale) of the best positions for the object's box: mean likelihood
        over the box's core minus half the mean over a ring around it, positions partly outside
        the frame included (only the inside counts)."""
        o = self.options
        H, W = like.shape
        sizes = [(model.w * s, model.h * s, s) for s in o.search_scales]
        ah, aw = model.anchor.mask.shape
        if abs(aw / max(model.w, 1.0) - 1) > 0.2 or abs(ah / max(model.h, 1.0) - 1) > 0.2:
            # the prompt's size too (the current one may have drifted)
            sizes += [(aw * s, ah * s, s * aw / max(model.w, 1.0)) for s in o.search_scales]
        # room for boxes (and their rings) mostly outside the frame: objects coming in
        pad = int(1.1 * max(max(w_, h_) for w_, h_, _ in sizes)) + 2
        lp = cv2.copyMakeBorder(like.astype(np.float32), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        vp = cv2.copyMakeBorder(np.ones((H, W), np.float32), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
        il, iv = cv2.integral(lp), cv2.integral(vp)
        out: list[tuple[float, float, float, float]] = []
        for ow, oh, s in sizes:
            if ow < 4 or oh < 4:
                continue  # a speck: nothing to search for
            bw, bh = max(3, int(round(ow * 0.7))), max(3, int(round(oh * 0.7)))
            rw, rh = max(bw + 2, int(round(ow * 1.4))), max(bh + 2, int(round(oh * 1.4)))
            if rw >= lp.shape[1] or rh >= lp.shape[0]:
                continue

            def box_sum(ii: np.ndarray, bw: int, bh: int) -> np.ndarray:
                # sums over every bw×bh box, indexed by its centre in padded coordinates
                s_ = ii[bh:, bw:] - ii[:-bh, bw:] - ii[bh:, :-bw] + ii[:-bh, :-bw]
                return s_

            core_l, core_v = box_sum(il, bw, bh), box_sum(iv, bw, bh)
            ring_l, ring_v = box_sum(il, rw, rh), box_sum(iv, rw, rh)
            # align both to the same centres
            dy0, dx0 = (rh - bh) // 2, (rw - bw) // 2
            ch, cw = ring_l.shape
            core_l = core_l[dy0:dy0 + ch, dx0:dx0 + cw]
            core_v = core_v[dy0:dy0 + ch, dx0:dx0 + cw]
            mean_in = core_l / np.maximum(core_v, 1)
            ring_area = np.maximum(ring_v - core_v, 1)
            mean_ring = (ring_l - core_l) / ring_area
            visible = core_v / float(bw * bh)
            score = mean_in - 0.5 * mean_ring
            score[visible < o.min_visible] = -1
            for _ in range(2):
                k = int(np.argmax(score))
                y, x = divmod(k, score.shape[1])
                val = float(score[y, x])
                if val <= 0:
                    break
                cx, cy = x + rw / 2 - pad, y + rh / 2 - pad
                out.append((val, cx, cy, s))
                r = max(2, int(0.4 * max(rw, rh)))
                score[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = -1
        out.sort(key=lambda c: -c[0])
        return [c for c in out[:top] if c[0] >= 0.35 * model.like_ref]

    def _texture_candidates(self, model: _Model, data: _FrameData,
                            top: int = 2) -> list[tuple[float, float, float, float]]:
        """(score, cx, cy, scale) where the object's views match best in a small copy of the
        frame (the object ~24 px), padded so that objects partly outside can match: texture
        finds what colour misses (colours drift, look-alike colours abound)."""
        o = self.options
        f = min(1.0, 24.0 / max(model.w, model.h, 1.0))
        H, W = data.shape
        size = (max(8, round(W * f)), max(8, round(H * f)))
        small = cv2.resize(data.image, size, interpolation=cv2.INTER_AREA)
        out: list[tuple[float, float, float, float]] = []
        for view in (model.anchor, model.view) if model.view is not model.anchor else (model.anchor,):
            vh, vw = view.mask.shape
            for s in o.search_scales:
                tw, th = max(4, round(model.w * s * f)), max(4, round(model.h * s * f))
                templ = cv2.resize(view.patch, (tw, th), interpolation=cv2.INTER_AREA)
                tmask = cv2.resize(view.mask.astype(np.uint8), (tw, th), interpolation=cv2.INTER_NEAREST)
                if tmask.sum() < 8 or templ[tmask > 0].std() < 2:
                    continue
                px, py = int(tw * 0.6), int(th * 0.6)
                img = cv2.copyMakeBorder(small, py, py, px, px, cv2.BORDER_REPLICATE)
                res = np.nan_to_num(cv2.matchTemplate(img, templ, cv2.TM_CCOEFF_NORMED, mask=np.dstack([tmask] * 3)),
                                    nan=-1.0, posinf=-1.0, neginf=-1.0)
                for _ in range(top):
                    _, peak, _, loc = cv2.minMaxLoc(res)
                    if peak < 0.3:
                        break
                    cx = (loc[0] - px + tw / 2) / f
                    cy = (loc[1] - py + th / 2) / f
                    out.append((float(peak), cx, cy, s))
                    r = max(1, int(0.5 * max(tw, th)))
                    res[max(0, loc[1] - r):loc[1] + r + 1, max(0, loc[0] - r):loc[0] + r + 1] = -1
        out.sort(key=lambda c: -c[0])
        return out[:4]

    def _texture(self, model: _Model, data: _FrameData, cx: float, cy: float, s: float,
                 anchor_only: bool = False) -> "_Match":
        """Best masked correlation of the object's views (each in its own shape, at three
        sizes around ``s`` × the object's) with the frame near (cx, cy): located coarsely
        within half the object's size (candidates are rough), then to the pixel, scored over
        the part inside the frame."""
        H, W = data.shape
        best = _Match(-1.0, None, 0.0, model.view, (0, 0, 0, 0))
        area = np.sqrt(max(model.w * model.h, 1.0))
        views = (model.anchor,) if anchor_only or model.view is model.anchor else (model.view, model.anchor)
        for view in views:
            vh, vw = view.mask.shape
            k0 = s * area / np.sqrt(max(vw * vh, 1))
            for k in (0.9 * k0, k0, 1.1 * k0):
                pw, ph = max(6, int(round(vw * k))), max(6, int(round(vh * k)))
                x, y = int(round(cx - pw / 2)), int(round(cy - ph / 2))
                ncc, (dx, dy) = self._match(data, view, x, y, pw, ph)
                if ncc > best.ncc:
                    placed, share, box = _place(view.mask, x + dx + pw / 2, y + dy + ph / 2, pw, ph, (H, W))
                    best = _Match(ncc, placed, share, view, box)
        return best

    def _match(self, data: _FrameData, view: _View, x: int, y: int, pw: int,
               ph: int) -> tuple[float, tuple[int, int]]:
        """Masked correlation of ``view`` at size pw×ph near (x, y) (top left; may be partly
        outside the frame) and its offset: coarse within half its size, then to the pixel."""
        best, offset = -1.0, (0, 0)
        slack = max(3, int(0.5 * max(pw, ph)))
        f = min(1.0, 32.0 / max(pw, ph))
        pad = slack + max(pw, ph)
        padded = data.padded(pad)
        templ = cv2.resize(view.patch, (pw, ph), interpolation=cv2.INTER_AREA)
        tmask = cv2.resize(view.mask.astype(np.uint8), (pw, ph), interpolation=cv2.INTER_NEAREST)
        if tmask.sum() < 20:
            return best, offset
        ry, rx = y + pad - slack, x + pad - slack
        if ry < 0 or rx < 0:
            return best, offset
        region = padded[ry:ry + ph + 2 * slack, rx:rx + pw + 2 * slack]
        if region.shape[0] < ph + 2 * slack or region.shape[1] < pw + 2 * slack:
            return best, offset
        tsz = (max(4, round(pw * f)), max(4, round(ph * f)))
        rsz = (max(tsz[0], round(region.shape[1] * f)), max(tsz[1], round(region.shape[0] * f)))
        t_s = cv2.resize(templ, tsz, interpolation=cv2.INTER_AREA) if f < 1 else templ
        m_s = cv2.resize(tmask, tsz, interpolation=cv2.INTER_NEAREST) if f < 1 else tmask
        r_s = cv2.resize(region, rsz, interpolation=cv2.INTER_AREA) if f < 1 else region
        if m_s.sum() < 8:
            return best, offset
        res = np.nan_to_num(cv2.matchTemplate(r_s, t_s, cv2.TM_CCOEFF_NORMED, mask=np.dstack([m_s] * 3)),
                            nan=-1.0, posinf=-1.0, neginf=-1.0)
        _, _, _, loc = cv2.minMaxLoc(res)
        dx0, dy0 = int(round(loc[0] / f)) - slack, int(round(loc[1] / f)) - slack
        r = int(np.ceil(1.0 / f))
        if r > 1:  # to the pixel: the part inside the frame at the coarse position, ±r
            H, W = data.shape
            xc, yc = x + dx0, y + dy0
            tx0, ty0 = max(0, -xc), max(0, -yc)
            tx1, ty1 = min(pw, W - xc), min(ph, H - yc)
            if tx1 - tx0 >= 6 and ty1 - ty0 >= 6 and tmask[ty0:ty1, tx0:tx1].sum() >= 20:
                wy, wx = yc + ty0 - r + pad, xc + tx0 - r + pad
                if wy >= 0 and wx >= 0:
                    win = padded[wy:wy + (ty1 - ty0) + 2 * r, wx:wx + (tx1 - tx0) + 2 * r]
                    if win.shape[0] == (ty1 - ty0) + 2 * r and win.shape[1] == (tx1 - tx0) + 2 * r:
                        m = tmask[ty0:ty1, tx0:tx1]
                        res = np.nan_to_num(cv2.matchTemplate(win, templ[ty0:ty1, tx0:tx1], cv2.TM_CCOEFF_NORMED,
                                                              mask=np.dstack([m] * 3)),
                                            nan=-1.0, posinf=-1.0, neginf=-1.0)
                        _, _, _, loc = cv2.minMaxLoc(res)
                        dx0, dy0 = dx0 + loc[0] - r, dy0 + loc[1] - r
        return self._ncc_at(data, templ, tmask, x + dx0, y + dy0), (dx0, dy0)

    @staticmethod
    def _ncc_at(data: _FrameData, templ: np.ndarray, tmask: np.ndarray, x: int, y: int) -> float:
        """Masked normalised correlation of ``templ`` placed at (x, y), over its part inside the frame."""
        H, W = data.shape
        ph, pw = tmask.shape
        tx0, ty0 = max(0, -x), max(0, -y)
        tx1, ty1 = min(pw, W - x), min(ph, H - y)
        if tx1 - tx0 < 6 or ty1 - ty0 < 6:
            return -1.0
        m = tmask[ty0:ty1, tx0:tx1]
        if m.sum() < 20:
            return -1.0
        t = templ[ty0:ty1, tx0:tx1]
        img = data.image[y + ty0:y + ty1, x + tx0:x + tx1]
        v = cv2.matchTemplate(img, t, cv2.TM_CCOEFF_NORMED, mask=np.dstack([m] * 3))[0, 0]
        return float(v) if np.isfinite(v) else -1.0
