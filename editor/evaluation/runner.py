"""Run the segment+track pipeline on an evaluation dataset with simulated clicks; score J&F.

Protocol: on the first frame each ground-truth object gets ``clicks`` simulated clicks
(first click at its deepest interior point, then at the largest error of the current
segmentation); the objects are propagated through the sequence in one pass; optional
``rounds`` of correction add one click on the worst frame of the worst object and track
again; where the object was tracked on that frame the click edits the tracked mask (the
prompt holds both, as in SAM 2's interactive protocol). Scores follow the DAVIS-2017
semi-supervised convention (first and last frames excluded).
"""
from __future__ import annotations


from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from editor.api.backends import Segmenter, Tracker
from editor.api.files import scratch_dir
from editor.api.prompts import ObjectPrompts, Prompt, PromptSet
from editor.tracking.engine import TrackingSession
from editor.tracking.evidence import EvidenceOptions
from editor.tracking.refinement import RefineOptions
from editor.api.frames import Frame, VideoInfo
from editor.evaluation.clicks import first_click, next_click
from editor.evaluation.datasets import Sequence
from editor.evaluation.jf import ObjectScore, boundary_f, evaluate_sequence, region_j


@dataclass
class SequenceResult:
    name: str
    frames: int
    objects: list[ObjectScore]
    clicks: int
    predictions: list[np.ndarray] | None = field(default=None, repr=False)
    """The final label maps (``keep_predictions=True``)."""
    confidence: dict[int, dict[int, float]] | None = field(default=None, repr=False)
    """Frame → object → confidence of the final run (``keep_predictions=True``)."""
    states: dict[int, dict[int, str]] | None = field(default=None, repr=False)
    """Frame → object → state of the final run (``keep_predictions=True``)."""

    @property
    def j(self) -> float:
        return float(np.mean([o.j.mean for o in self.objects])) if self.objects else float("nan")

    @property
    def f(self) -> float:
        return float(np.mean([o.f.mean for o in self.objects])) if self.objects else float("nan")

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


@dataclass
class DatasetResult:
    sequences: list[SequenceResult] = field(default_factory=list)

    def mean(self, attr: str) -> float:
        """Mean over all objects of all sequences (DAVIS-2017 averages per object)."""
        vals = [getattr(o, attr).mean for s in self.sequences for o in s.objects]
        return float(np.mean(vals)) if vals else float("nan")

    @property
    def j(self) -> float:
        return self.mean("j")

    @property
    def f(self) -> float:
        return self.mean("f")

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


def _video(seq: Sequence, shape: tuple[int, int]) -> VideoInfo:
    n = len(seq)
    return VideoInfo(seq.name, shape[1], shape[0], 0, n, n, Fraction(25), Fraction(1, 25), n / 25, "images", "rgb24")


def _frames(seq: Sequence) -> Iterator[Frame]:
    for i, img in enumerate(seq.frames()):
        yield Frame(i, img, i, Fraction(1, 25), i / 25)


def _correction(folder: Path, frame: int, oid: int, clicks: list[tuple[int, int, int]],
                base: np.ndarray | None) -> Prompt:
    """The clicks on ``frame``, with the tracked mask they edit when there is one (written
    as a mask file into ``folder``)."""
    prompt = _click_prompt(frame, clicks)
    if base is None:
        return prompt
    from PIL import Image

    path = folder / f"base-{frame:05d}-{oid}.png"
    Image.fromarray(base.astype(np.uint8) * 255).save(path)
    return Prompt(frame, prompt.points, prompt.labels, mask=path)


def _prompts(objects: dict[int, list[Prompt]]) -> PromptSet:
    return PromptSet(tuple(ObjectPrompts(oid, "", tuple(sorted(ps, key=lambda p: p.frame)))
                           for oid, ps in sorted(objects.items())))


def _click_prompt(frame: int, clicks: list[tuple[int, int, int]]) -> Prompt:
    return Prompt(frame, tuple((float(x), float(y)) for x, y, _ in clicks), tuple(lab for *_, lab in clicks))


def evaluate_sequence_with_clicks(seq: Sequence, segmenter: Segmenter, tracker: Tracker, *, clicks: int = 1,
                                  rounds: int = 0, detect_cuts: bool = True, bidirectional: bool = False,
                                  refine: RefineOptions | None = None, evidence: EvidenceOptions | None = None,
                                  keep_predictions: bool = False, correct_tracked: bool = True) -> SequenceResult:
    """Simulate ``clicks`` clicks per object on the first frame, track, then ``rounds``
    correction rounds (one click on the worst frame each); returns J&F per object.
    ``refine``: weak-mask refinement of the tracking (default ``auto``).
    ``correct_tracked``: a correction on a frame where the object was tracked edits the
    tracked mask (a prompt with the mask and the click, as SAM 2's interactive protocol
    gives its previous mask with the new clicks); off: the click alone defines the mask
    there (with the truth's deepest point added when it is an exclude click)."""
    gt = list(seq.labels())
    first_image = next(seq.frames())
    ids = sorted(int(v) for v in np.unique(gt[0]) if v not in (0, 255))
    per_object: dict[int, dict[int, list[tuple[int, int, int]]]] = {}  # id → frame → clicks
    used = 0
    for oid in ids:
        target = gt[0] == oid
        x, y = first_click(target)
        frame_clicks = [(x, y, 1)]
        for _ in range(clicks - 1):
            mask = segmenter.segment(first_image, 0, [_click_prompt(0, frame_clicks)]).mask
            nxt = next_click(mask, target)
            if nxt is None:
                break
            frame_clicks.append(nxt)
        per_object[oid] = {0: frame_clicks}
        used += len(frame_clicks)
    pred: list[np.ndarray] = []
    confidence: dict[int, dict[int, float]] = {}
    states: dict[int, dict[int, str]] = {}
    bases: dict[tuple[int, int], np.ndarray] = {}  # (frame, object) → the tracked mask a correction edits
    for round_no in range(rounds + 1):
        with scratch_dir("eval") as tmp:
            prompts = _prompts({oid: [_correction(tmp, f, oid, c, bases.get((f, oid))) for f, c in frames.items()]
                                for oid, frames in per_object.items()})
            session = TrackingSession(_video(seq, gt[0].shape), segmenter, tracker, work_dir=tmp,
                                      detect_cuts=detect_cuts, refine=refine, evidence=evidence)
            session.add_prompts(prompts)
            pred = [item.labels for item in session.stream(_frames(seq), bidirectional=bidirectional)]
            confidence, states = session.stats.confidence, session.stats.states
        if round_no == rounds:
            break
        scores = evaluate_sequence(pred, gt, ids)
        worst = min(scores, key=lambda s: s.j.mean)
        frames_j = np.array(worst.j_per_frame)
        t = int(np.argmin(frames_j)) + 1  # per-frame scores skip frame 0
        if not (gt[t] == worst.object_id).any():
            break  # the object is absent there: nothing a click could define
        nxt = next_click(pred[t] == worst.object_id, gt[t] == worst.object_id)
        if nxt is None:
            break
        if correct_tracked and t not in per_object[worst.object_id] and (pred[t] == worst.object_id).any():
            bases[(t, worst.object_id)] = pred[t] == worst.object_id  # the click edits the tracked mask
        per_object[worst.object_id].setdefault(t, []).append(nxt)
        if (t, worst.object_id) not in bases and nxt[2] == 0 and len(per_object[worst.object_id][t]) == 1:
            # an exclude click alone cannot define a mask: add the deepest point of the truth
            if (gt[t] == worst.object_id).any():
                x, y = first_click(gt[t] == worst.object_id)
                per_object[worst.object_id][t].insert(0, (x, y, 1))
                used += 1
        used += 1
    return SequenceResult(seq.name, len(gt), evaluate_sequence(pred, gt, ids), used,
                          pred if keep_predictions else None, confidence if keep_predictions else None,
                          states if keep_predictions else None)


@dataclass
class SparseResult:
    """Scores on the labelled frames of a real clip (:func:`evaluate_video_with_clicks`)."""

    name: str
    frames: list[int]
    """The labelled frames scored (prompted frames excluded)."""
    j: list[float]
    f: list[float]
    confidence: list[float | None]
    """The tracker's confidence on each of those frames (``None``: no verdict recorded)."""
    clicks: int
    area_ratio: list[float] = field(default_factory=list)
    """Mask area ÷ true area on each of those frames (runaway masks: above 2)."""
    states: list[str | None] = field(default_factory=list)
    """The tracker's state on each of those frames (``tracked``, ``held``, ``lost``, …)."""
    prompted: list[int] = field(default_factory=list)
    """The frames holding a prompt in the final run."""

    @property
    def jf(self) -> float:
        return float((np.mean(self.j) + np.mean(self.f)) / 2) if self.j else float("nan")


def evaluate_video_with_clicks(video: Path, truth: dict[int, np.ndarray], segmenter: Segmenter, tracker: Tracker, *,
                               clicks: int = 1, rounds: int = 0, first: int | None = None,
                               refine: RefineOptions | None = None, evidence: EvidenceOptions | None = None,
                               name: str = "") -> SparseResult:
    """The protocol of :func:`evaluate_sequence_with_clicks` on a real video whose object
    (id 1) is labelled on some frames only (``truth``: frame → bool H×W): ``clicks`` simulated
    clicks on the labelled frame ``first`` (default: the first labelled), tracked through the
    whole video in both directions, then ``rounds`` corrections (one click on the labelled
    frame with the lowest J, editing the tracked mask there). J and F on every labelled frame
    that holds no prompt; the confidence the tracker gave each of them."""
    from editor.video.reader import iter_frames
    from editor.video.random_access import FrameSource

    labelled = sorted(truth)
    start = labelled[0] if first is None else first
    source = FrameSource(video)
    image = source[start].rgb8
    target = truth[start]
    x, y = first_click(target)
    frame_clicks = [(x, y, 1)]
    for _ in range(clicks - 1):
        mask = segmenter.segment(image, start, [_click_prompt(start, frame_clicks)]).mask
        nxt = next_click(mask, target)
        if nxt is None:
            break
        frame_clicks.append(nxt)
    per_frame: dict[int, list[tuple[int, int, int]]] = {start: frame_clicks}
    bases: dict[int, np.ndarray] = {}
    used = len(frame_clicks)
    labels: dict[int, np.ndarray] = {}
    confidence: dict[int, dict[int, float]] = {}
    states: dict[int, dict[int, str]] = {}
    scored: list[int] = []
    js: list[float] = []
    fs: list[float] = []
    for round_no in range(rounds + 1):
        with scratch_dir("eval") as tmp:
            prompts = PromptSet((ObjectPrompts(1, "object", tuple(
                _correction(tmp, f, 1, c, bases.get(f)) for f, c in sorted(per_frame.items()))),))
            session = TrackingSession(video, segmenter, tracker, work_dir=tmp, refine=refine, evidence=evidence)
            session.add_prompts(prompts)
            labels = {item.frame.index: item.labels for item in session.stream(iter_frames(video), bidirectional=True)
                      if item.frame.index in truth}
            confidence, states = session.stats.confidence, session.stats.states
        scored = [f for f in labelled if f not in per_frame]
        js = [region_j(labels[f] == 1, truth[f]) for f in scored]
        fs = [boundary_f(labels[f] == 1, truth[f]) for f in scored]
        if round_no == rounds or not scored:
            break
        t = scored[int(np.argmin(js))]
        nxt = next_click(labels[t] == 1, truth[t])
        if nxt is None:
            break
        if (labels[t] == 1).any():
            bases[t] = labels[t] == 1  # the click edits the tracked mask
        elif nxt[2] == 0:
            x, y = first_click(truth[t])
            per_frame[t] = [(x, y, 1)]
            used += 1
        per_frame.setdefault(t, []).append(nxt)
        used += 1
    ratio = [float((labels[f] == 1).sum()) / max(1.0, float(truth[f].sum())) for f in scored]
    return SparseResult(name or video.stem, scored, js, fs, [confidence.get(f, {}).get(1) for f in scored], used, ratio,
                        [states.get(f, {}).get(1) for f in scored], sorted(per_frame))
