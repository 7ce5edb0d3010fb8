"""Person ids through a long merge: a person track lost in the middle of the frame is joined
by the track that later appears where it could have gone and looks like it (``--detect people``).

Two people who overlap are one region for the person model (:mod:`editor.detection.people`),
so association gives the region to one of their tracks; the other waits for its next
detection and ends after ``max_gap`` frames
(:attr:`~editor.detection.options.AssociationOptions.max_gap`). When the two separate, the
hidden one comes back as a new track — a new id. :func:`rejoin` re-identifies it after the
detection pass: a person track ``b`` that starts away from the frame's left and right edges
(it did not walk in) continues an earlier track ``a`` of the same shot that ended away from
them (it did not walk out) when

- ``b`` starts at most :attr:`RejoinOptions.gap` frames after ``a``'s last detection;
- ``b``'s first box is within reach of ``a``: its centre at most one box size (``a``'s
  last box's longer side) from where ``a``'s last velocity carries its last box, or from
  that last box itself (a person who stopped);
- ``b`` looks like ``a``: the Bhattacharyya coefficient between their colour histograms —
  hue × saturation × value, 8×4×4 bins, over the pixels of each detection's own mask, summed
  over ``a``'s last and ``b``'s first :attr:`RejoinOptions.views` detections — is at least
  :attr:`RejoinOptions.min_similarity`, the highest of all candidates ``a``.

Colour-histogram re-identification at a split: Swain and Ballard's colour indexing (IJCV
1991) compared with the Bhattacharyya coefficient as in Comaniciu, Ramesh and Meer's kernel
tracking (PAMI 2003). ``b``'s detections join ``a``'s track, so the person keeps ``a``'s id
before and after the merge; during the merge the one region stays with the track that
took it (two touching people are one object).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from editor.api.prompts import load_mask_file
from editor.detection.association import Observation, Track

LABEL = "person"
"""The label of the tracks :func:`rejoin` considers (:data:`editor.detection.people.LABEL`)."""


@dataclass(frozen=True)
class RejoinOptions:
    """How person tracks are re-identified (module docstring)."""

    gap: int = 250
    """Longest wait, in frames, between the lost track's last detection and the new track's
    first (10 s at 25 fps: a long merge, a person behind a passing bus)."""
    views: int = 5
    """Detections of each track whose colours are compared (the lost track's last, the new
    track's first)."""
    min_similarity: float = 0.8
    """Least Bhattacharyya coefficient (0–1) between the two histograms for a rejoin.
    Chosen between the two groups of the tuning crossings (``tests/data/people_crossing.md``,
    other poses and speeds than the test's): the same person before and after the merge
    0.991–0.996, the two different people 0.55–0.65. Pasted cutouts keep their colours
    exactly; a real person turning or walking into shade scores lower, hence the margin."""


def _sideways(obs: Observation, width: int) -> bool:
    """Whether the detection's box touches the frame's left or right edge (walking in or out)."""
    return obs.raw_box[0] <= 1 or obs.raw_box[2] >= width - 1


def _centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _reachable(a: Track, b: Observation) -> bool:
    last = a.last.box
    size = max(last[2] - last[0], last[3] - last[1])
    bx, by = _centre(b.box)
    return any(float(np.hypot(bx - cx, by - cy)) <= size
               for cx, cy in (_centre(a.predict(b.frame)), _centre(last)))


def colour_histogram(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The hue × saturation × value histogram (8×4×4 bins, float64, not normalised) of the
    pixels of ``image`` (RGB uint8 H×W×3) where ``mask`` (bool H×W) is set."""
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], mask.astype(np.uint8), [8, 4, 4], [0, 180, 0, 256, 0, 256])
    return hist.ravel().astype(np.float64)


def similarity(p: np.ndarray, q: np.ndarray) -> float:
    """The Bhattacharyya coefficient of two histograms (each normalised to sum 1): in [0, 1],
    1 for the same distribution; 0 when either is empty."""
    sp, sq = float(p.sum()), float(q.sum())
    if sp <= 0 or sq <= 0:
        return 0.0
    return float(np.sqrt(p / sp * q / sq).sum())


class Looks:
    """The colour histograms of person detections (:func:`colour_histogram` over each one's
    own mask), computed once each. ``frame(i)``: frame ``i`` as RGB uint8 H×W×3, asked only
    for the detections compared."""

    def __init__(self, frame: Callable[[int], np.ndarray]) -> None:
        self._frame = frame
        self._hists: dict[int, np.ndarray] = {}

    def of(self, observations: Sequence[Observation]) -> np.ndarray:
        """The sum of the detections' normalised histograms (float64, 128 bins)."""
        total = np.zeros(8 * 4 * 4)
        for x in observations:
            if id(x) not in self._hists:
                image = self._frame(x.frame)
                mask = load_mask_file(x.mask_png, 1)  # type: ignore[arg-type]
                self._hists[id(x)] = colour_histogram(image, mask) if mask.shape == image.shape[:2] \
                    else np.zeros(total.shape)
            hist = self._hists[id(x)]
            total += hist / max(1.0, float(hist.sum()))
        return total


def continuation(a: Track, b: Track, looks: Looks, width: int, options: RejoinOptions | None = None) -> float | None:
    """How much ``b`` looks like it continues ``a`` (the Bhattacharyya coefficient of
    ``a``'s last and ``b``'s first :attr:`RejoinOptions.views` detections, module docstring),
    or ``None`` when it cannot: another shot or label, ``b`` not starting within
    :attr:`RejoinOptions.gap` frames after ``a``'s last detection, ``a`` leaving or ``b``
    entering over the frame's left or right edge, or ``b``'s first box out of ``a``'s reach."""
    o = options or RejoinOptions()
    start = b.observations[0]
    if a is b or a.shot != b.shot or a.label != b.label or not a.last.frame < start.frame <= a.last.frame + o.gap \
            or _sideways(start, width) or _sideways(a.last, width) or not _reachable(a, start):
        return None
    return similarity(looks.of(a.observations[-o.views:]), looks.of(b.observations[:o.views]))


def rejoin(tracks: Sequence[Track], frame: Callable[[int], np.ndarray], width: int,
           options: RejoinOptions | None = None) -> list[Track]:
    """``tracks`` (a detection pass's, ordered as :meth:`Associator.tracks` orders them) with
    each re-identified person track's detections appended to the track it continues and the
    track itself left out (module docstring). ``frame(i)``: frame ``i`` as RGB uint8 H×W×3
    (asked only for the detections compared); ``width``: the frame's width in pixels. Tracks
    of other labels and person tracks without masks pass unchanged."""
    o = options or RejoinOptions()
    people = [t for t in tracks if t.label == LABEL and all(x.mask_png is not None for x in t.observations)]
    looks = Looks(frame)
    gone: set[int] = set()
    for b in sorted(people, key=lambda t: t.first_frame):
        scored = [(score, a) for a in people if id(a) not in gone
                  and (score := continuation(a, b, looks, width, o)) is not None]
        if not scored:
            continue
        score, best = max(scored, key=lambda pair: pair[0])
        if score >= o.min_similarity:
            best.observations.extend(b.observations)
            gone.add(id(b))
    return [t for t in tracks if id(t) not in gone]
