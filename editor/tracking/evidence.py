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
view correlates well on a part of a textured object; the tracker would follow that part).
Objects too small to be told from look-alikes (``min_search_area``) are not searched for in
the whole frame. While the motion still predicts where a hidden object is
(``predict_frames``), the predicted region is checked first (an object coming out from
behind an occluder), with colour and texture. A re-acquired mask is handed to
the tracker like a prompt. Shot cuts end tracks: the engine forgets the models there.

**Confidence** per (frame, object): prompts 1; tracked: the weakest evidence; found: the
verification score; held: ``held_confidence``; lost: how sure the frame holds nothing
like the object (1 − the best unverified candidate's score; lower while the motion says
the object should be in view). Frames below ``review_below`` are *weak*: the ones a person
should look at (:mod:`editor.tracking.confidence`). A tracker that lost an object cannot be
sure where it is (#25): unless the object was seen leaving over the border, frames where it
is lost or held, its re-acquisition and the first frame tracked after either are weak;
so are frames where a fast object is smeared by motion blur (:mod:`editor.tracking.cues.blur`).
These caps change only the confidence reported, never a decision.

Everything runs at a small working resolution (longer side ≤ ``work_side``): judging
costs a few milliseconds per frame and object; searching costs more and runs only for
lost or inconsistent objects.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from pydantic import Field

from editor.api.backends import BackendOptions
from editor.api.frames import Frame
from editor.backends.classic.morphology import bbox, disk
from editor.tracking.cues import appearance, blur, motion, search, size
from editor.tracking.cues.model import FrameData, ObjectModel, State
from editor.tracking.cues.shapes import ramp, touches_border
from editor.tracking.cues.tuning import (ABSENT_IN_VIEW, COMPLETE_CONF_RAMP, COMPLETE_GROWTH, COMPLETE_NCC,
                                         COMPLETE_OVERLAP, DAMAGED_MARGIN, DAMAGED_MIN_SHARE, EXIT_UNSURE_FRAMES,
                                         HOLD_MIN_SHARE,
                                         LEARN_RATE, LEARN_STREAK, LOST_UNSEEN_SHARE, MARGIN, MIN_MASK, MOVE_RATE,
                                         PART_NCC_RAMP, PART_RATIO, PART_SHARE, SCALE_EVERY, SCALE_GROWN,
                                         SCALE_MIN_SHARE, TRIM_APPEARANCE, TRIM_CONF, TRIM_DISAGREE)
from editor.tracking.cues.verdict import Score, score, trim

__all__ = ["Evidence", "EvidenceOptions", "State", "Verdict"]


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
    calibrated: bool = True
    """Report the confidence as the probability that the mask is right (IoU ≥ 0.5), from the
    table fitted on the tuning split (:mod:`editor.tracking.cues.calibration`); off: the
    evidence's raw score (what the table is fitted on). Decisions always use the raw score."""


@dataclass
class Verdict:
    """The engine's decision for one object on one frame."""

    state: State
    confidence: float
    mask: np.ndarray | None
    """What is output (bool H×W at the frame's size); ``None``: nothing (lost)."""
    replaced: bool = False
    """``mask`` is not what the tracker said: the tracker must continue from it."""


class Evidence:
    """The judge of one propagation pass: an object model per object, verdicts per frame.

    Call :meth:`begin` with each frame, then :meth:`search` (lost objects, before the
    tracker steps), :meth:`judge` (the tracker's masks) and :meth:`learn` (prompts and
    re-acquisitions given to the tracker); :meth:`end` at cuts and for removed objects.
    The concerns live in :mod:`editor.tracking.cues`; this class keeps the state and decides.
    """

    def __init__(self, options: EvidenceOptions | None = None, *, acts: bool = True) -> None:
        self.options = options or EvidenceOptions()
        self.acts = acts and self.options.enabled
        """Whether verdicts may replace masks (hold, trim, lose, re-acquire); otherwise the
        tracker's masks are only scored (a tracker that cannot continue from the engine's
        decisions: its output is kept, with its confidence)."""
        self._models: dict[int, ObjectModel] = {}
        self._data: FrameData | None = None
        self._absent: dict[int, float] = {}
        """Confidence that the frame holds nothing like each lost object (from the last search)."""
        self._found: dict[int, float] = {}
        """Verification scores of the objects re-acquired on the current frame."""
        self._was: str | None = None
        """The state of the object being judged before this frame."""

    # -- frames ----------------------------------------------------------------------
    def begin(self, frame: Frame) -> None:
        if self._data is not None and self._data.index == frame.index:
            return
        h, w = frame.image.shape[:2]
        scale = min(1.0, self.options.work_side / float(max(h, w)))
        self._data = FrameData(frame, scale)
        self._absent.clear()
        self._found.clear()

    def _frame(self, frame: Frame) -> FrameData:
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
              colours: bool = True, boxes: Mapping[int, tuple[int, int, int, int] | None] | None = None) -> None:
        """Masks given to the tracker on ``frame``: prompts define the object anew (a
        correction may show something else than before), except a correction that shows only
        a part of the object (cut by the border, or much smaller than its full view: an exit,
        an occlusion), which places the object there and keeps what it looks like; re-
        acquisitions and refined masks (``colours=False``) move it. ``boxes``: the exact
        bounding boxes of some of the masks (a stored prompt's), not measured again."""
        data = self._frame(frame)
        boxes = boxes or {}
        for oid, mask in masks.items():
            m = data.small(mask, boxes.get(oid, True))
            if not m.any():
                continue
            model = self._models.get(oid)
            if state == "prompt" and model is not None and size.is_partial(model, m):
                motion.place_part(model, data.index, m)
            elif state == "prompt" and model is not None and motion.agrees(model, data.index, m):
                # a correction of what was tracked (mostly the mask it follows): the object is
                # the same, only its outline here changes; its model stays
                self._update(oid, model, data, m, learn=False)
            elif model is None or state == "prompt":  # a prompt says what the object is: start over
                self._models[oid] = appearance.new_model(data, m)
                if model is not None:
                    motion.carry(model, self._models[oid])
                data.forget(oid)
            else:
                self._update(oid, model, data, m, learn=colours, rate=MOVE_RATE, reset_motion=state == "found")
            self._models[oid].state = state
            self._models[oid].held_for = self._models[oid].lost_for = 0

    def _update(self, oid: int, model: ObjectModel, data: FrameData, m: np.ndarray, *, learn: bool,
                rate: float = LEARN_RATE, reset_motion: bool = False) -> None:
        """Move the model to an accepted mask ``m`` (:func:`editor.tracking.cues.motion.follow`,
        the reference area of a full view); with ``learn``, also its colours and views
        (never from a damaged frame: concealed pixels are not the object's colours)."""
        learn = learn and not data.damaged
        box = bbox(m)
        if box is None:
            return
        full = size.is_full_view(model, m, box)
        motion.follow(model, data, m, box, full, reset_motion)
        if full:
            size.follow_area(model, float(m.sum()), learn)
        if learn:
            appearance.learn(oid, model, data, m, rate, full)

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

    def _score(self, model: ObjectModel, like: np.ndarray, m: np.ndarray, q: np.ndarray, qd: np.ndarray,
               expected_area: float, mean_prob: float | None, others: np.ndarray | None) -> Score:
        o = self.options
        return score(model, like, m, q, qd, expected_area, mean_prob, o.grow_ok, o.max_growth, others)

    def _judge_one(self, oid: int, model: ObjectModel, data: FrameData, mask: np.ndarray,
                   mean_prob: float | None, others: dict[int, np.ndarray]) -> Verdict:
        o = self.options
        self._was = model.state
        if data.damaged and self.acts:
            damaged = self._damaged(oid, model, data, mask)
            if damaged is not None:
                return damaged
        m = data.small(mask)
        q, share, expected_area = motion.expected(model, data)
        like = data.like(oid, model)
        min_px = max(MIN_MASK[0], MIN_MASK[1] * model.area)
        conf = 0.0
        if m.sum() >= min_px:
            side = np.sqrt(max(model.area, 1.0))
            dt = max(1, abs(data.index - model.last_frame))
            px, a, b, n, c = MARGIN
            margin = px + (a + b * min(model.uncertain, n)) * side + c * np.hypot(model.vx, model.vy) * dt
            qd = cv2.dilate(q.astype(np.uint8), disk(round(margin))) > 0 if q.any() else q
            on_others = None
            if others:
                on_others = np.zeros_like(m)
                for other in others.values():
                    on_others |= data.small(other)
            s = self._score(model, like, m, q, qd, expected_area, mean_prob, on_others)
            conf = s.conf
            if conf >= o.accept and s.ratio < PART_RATIO and share > PART_SHARE:
                # much less than the object is left: a part of it (occluded), or a leftover on
                # whatever hides it? Only the texture can tell: the object's views must match there
                ncc, placed, pshare, *_ = appearance.texture(model, data, *model.predicted_centre(data.index), 1.0)
                conf = min(conf, ramp(ncc, *PART_NCC_RAMP))
                if self.acts and placed is not None and ncc >= COMPLETE_NCC and pshare >= o.min_visible \
                        and placed.sum() > COMPLETE_GROWTH * m.sum() \
                        and (placed & m).sum() >= COMPLETE_OVERLAP * m.sum():
                    # the whole object is there (its texture says so): the tracker kept only a
                    # part of it; complete the mask with the matched view
                    whole = placed | m
                    model.state, model.held_for = "tracked", 0
                    self._update(oid, model, data, whole, learn=False)
                    c_whole = self._blurred(model, data, whole, min(conf, ramp(ncc, *COMPLETE_CONF_RAMP)))
                    return Verdict("tracked", c_whole, data.full(whole) | mask, replaced=True)
            if conf >= o.accept and (s.ratio > SCALE_GROWN or data.index % SCALE_EVERY == 0) \
                    and share > SCALE_MIN_SHARE and not touches_border(m):
                if size.measure(model, data):  # the texture says how big the object is now
                    expected_area = model.area * share
                    s = self._score(model, like, m, q, qd, expected_area, mean_prob, on_others)
                    conf = s.conf
            if conf >= o.accept:
                model.state, model.held_for = "tracked", 0
                steady = conf >= o.learn_above and s.steady
                model.streak = model.streak + 1 if steady else 0
                self._update(oid, model, data, m,
                             learn=steady and model.streak >= LEARN_STREAK and model.uncertain == 0)
                return Verdict("tracked", self._blurred(model, data, m, conf), mask)
            if self.acts and s.appearance >= TRIM_APPEARANCE and q.any() and (s.area < 1.0 or s.position < 1.0):
                trimmed = trim(m, q, qd, like)
                if trimmed.sum() >= min_px:
                    t_conf = self._score(model, like, trimmed, q, qd, expected_area, mean_prob, on_others).conf
                    if t_conf >= o.accept:
                        model.state, model.held_for = "tracked", 0
                        self._update(oid, model, data, trimmed, learn=False)
                        keep = cv2.dilate(trimmed.astype(np.uint8), disk(1)) > 0
                        t_conf *= TRIM_CONF
                        if trimmed.sum() < TRIM_DISAGREE[0] * m.sum():  # the tracker and the evidence disagree
                            t_conf = min(t_conf, TRIM_DISAGREE[1])
                        return Verdict("tracked", self._blurred(model, data, trimmed, t_conf), mask & data.full(keep),
                                       replaced=True)
        if not self.acts:
            return Verdict("tracked", conf, mask if mask.any() else None)
        return self._fallback(oid, model, data, q, share, others)

    def _damaged(self, oid: int, model: ObjectModel, data: FrameData, mask: np.ndarray) -> Verdict | None:
        """A frame decoded with errors: its pixels can neither confirm nor refute the object
        (concealment paints other frames' or grey blocks over it), and the tracker may follow
        the damage. The object is where its motion says (the expected mask), joined with
        what the tracker reports next to it, held at ``held_confidence``; nothing is learnt.
        ``None`` when the object is expected outside the frame (judged as usual)."""
        q, share, _ = motion.expected(model, data)
        if not q.any() or share <= DAMAGED_MIN_SHARE:
            return None
        side = np.sqrt(max(model.area, 1.0))
        near = data.small(mask) & (cv2.dilate(q.astype(np.uint8),
                                              disk(round(DAMAGED_MARGIN[0] + DAMAGED_MARGIN[1] * side))) > 0)
        model.state = "held"
        self._update(oid, model, data, q, learn=False)
        return Verdict("held", self.options.held_confidence, data.full(q | near) | (mask & data.full(near)),
                       replaced=True)

    def _fallback(self, oid: int, model: ObjectModel, data: FrameData, q: np.ndarray, share: float,
                  others: dict[int, np.ndarray]) -> Verdict:
        """The tracker's mask is not the object: search, hold or lose it."""
        o = self.options
        model.streak = 0
        found = self._search_one(oid, model, data, others)
        if found is not None:
            mask, confidence = found
            confidence = self._refound(model, data, mask, confidence)  # with the motion before the reset
            model.state, model.held_for, model.lost_for = "found", 0, 0
            self._update(oid, model, data, mask, learn=False, reset_motion=True)
            return Verdict("found", confidence, data.full(mask), replaced=True)
        if model.held_for < o.hold_frames and share > HOLD_MIN_SHARE:
            held = search.supported(data.like(oid, model), model, q)
            if held is not None:
                model.state = "held"
                model.held_for += 1
                self._update(oid, model, data, held, learn=False)
                return Verdict("held", o.held_confidence, data.full(held), replaced=True)
        self._lose(model)
        return Verdict("lost", self._absent_confidence(oid, model, share), None, replaced=True)

    @staticmethod
    def _lose(model: ObjectModel) -> None:
        if model.state != "lost":
            model.lost_for = 0
        model.state = "lost"
        model.held_for = 0

    def _absent_confidence(self, oid: int, model: ObjectModel, share: float) -> float:
        """How sure the frame holds nothing like a lost object: from the last search, lower
        while the motion says it should be in view, and below ``review_below`` unless it was
        seen leaving the frame (:func:`editor.tracking.cues.motion.exited`): a tracker that
        lost it cannot be sure it is gone — nor on the first ``EXIT_UNSURE_FRAMES`` frames
        after it was seen leaving (the exit is the motion's prediction; part of the object
        is often still at the border)."""
        absent = self._absent.get(oid, 1.0)
        in_view, base, step = ABSENT_IN_VIEW
        if share > in_view and model.lost_for < self.options.predict_frames:
            absent = min(absent, base + step * model.lost_for)  # it should be in view: look here
        if self._data is not None and (model.lost_for < EXIT_UNSURE_FRAMES
                                       or not motion.exited(model, self._data)):
            absent = min(absent, LOST_UNSEEN_SHARE * self.options.review_below)
        return float(np.clip(absent, 0.0, 1.0))

    def _refound(self, model: ObjectModel, data: FrameData, m: np.ndarray, score: float) -> float:
        """The confidence of a re-acquisition (mask ``m``, verification ``score``): below
        ``review_below`` unless the object was seen leaving over the border — one that
        vanished inside the frame (behind something) and is found again may be a look-alike."""
        score = self._blurred(model, data, m, score)
        if not motion.exited(model, data):
            score = min(score, LOST_UNSEEN_SHARE * self.options.review_below)
        return score

    def _blurred(self, model: ObjectModel, data: FrameData, m: np.ndarray, confidence: float) -> float:
        """The confidence reported for mask ``m`` (working resolution): ``confidence`` capped
        by the motion blur there (:mod:`editor.tracking.cues.blur`), and below
        ``review_below`` on the first frame tracked after the object was held, lost or
        re-acquired (the tracker took it up again, its motion unknown). Decisions use the
        uncapped one."""
        speed = float(np.hypot(model.vx, model.vy)) / max(model.w, model.h, 1.0)
        confidence = min(confidence, blur.blur_confidence(data, m, speed))
        if self._was in ("held", "lost", "found"):
            confidence = min(confidence, LOST_UNSEEN_SHARE * self.options.review_below)
        return confidence

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
        self._was = None
        for oid, model in self._models.items():
            if model.state != "lost" or oid in skip:
                continue
            model.lost_for += 1
            if model.lost_for <= self.options.predict_frames:
                q, share, _ = motion.expected(model, data)
                held = search.supported(data.like(oid, model), model, q) if share > HOLD_MIN_SHARE else None
                verified = search.verify_region(model, data, data.like(oid, model), held, taken, self.options) \
                    if held is not None else None
                if held is not None and verified is not None:
                    found[oid] = data.full(held)
                    taken[oid] = found[oid]
                    self._found[oid] = self._refound(model, data, held, verified)
                    continue
            hit = self._search_one(oid, model, data, taken)
            if hit is not None:
                found[oid] = data.full(hit[0])
                taken[oid] = found[oid]
                self._found[oid] = self._refound(model, data, hit[0], hit[1])
        return found

    def _search_one(self, oid: int, model: ObjectModel, data: FrameData,
                    taken: dict[int, np.ndarray]) -> tuple[np.ndarray, float] | None:
        result = search.search_frame(model, data, data.like(oid, model), taken, self.options)
        if result.absent is not None:
            self._absent[oid] = result.absent
        return result.hit

    def absent_confidence(self, oid: int) -> float:
        """Confidence for a lost object on the current frame (after :meth:`search`)."""
        model = self._models.get(oid)
        if model is None:
            return 1.0
        data = self._data
        share = 0.0
        if data is not None and model.lost_for <= self.options.predict_frames:
            _, share, _ = motion.expected(model, data)
        return self._absent_confidence(oid, model, share)
