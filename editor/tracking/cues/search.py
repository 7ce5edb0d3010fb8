"""Looking for an object: its predicted region (an object coming out from behind an
occluder), the whole frame at several scales (colour and texture proposals, each verified
by texture, colour and place), and the region a held object's colours still support."""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import cv2
import numpy as np

from editor.backends.classic.morphology import disk
from editor.tracking.cues.appearance import Match, texture
from editor.tracking.cues.model import FrameData, ObjectModel
from editor.tracking.cues.motion import exited, reachable
from editor.tracking.cues.shapes import ramp
from editor.tracking.cues.tuning import (ABSENT_RAMP, ANCHOR_SIZE_DRIFT, CANDIDATE_APPEARANCE,
                                         CANDIDATE_APPEARANCE_RAMP, COLOUR_BOX, COLOUR_MIN, COLOUR_PEAKS,
                                         COLOUR_SUPPRESS, GROW_KEEP, GROW_MAX_AREA, GROW_NCC_SLACK, GROW_STEPS,
                                         MIN_PLACED_PX, PART_RAMP, REGION_APPEARANCE, REGION_NCC, REGION_SCORE,
                                         SCORE_WEIGHTS, SEEN_NEAR, SUPPORT_CONTRAST, SUPPORT_LIKE, SUPPORT_REF,
                                         SUPPORT_SHARE, TAKEN_OVERLAP, TEXTURE_PAD, TEXTURE_PEAK,
                                         TEXTURE_SEARCH_PX, TEXTURE_SUPPRESS, TEXTURE_RAMP, UNSEARCHED_ABSENT)

if TYPE_CHECKING:
    from editor.tracking.evidence import EvidenceOptions


class Search(NamedTuple):
    """What a whole-frame search found: the verified mask (working resolution) and its
    score, or ``None``; and how sure the frame holds nothing like the object (``None``: not
    measured, a match was found)."""

    hit: tuple[np.ndarray, float] | None
    absent: float | None


def _smallness(model: ObjectModel, o: "EvidenceOptions") -> float:
    # small objects correlate well by chance: their texture must match better
    return 1.0 - ramp(model.area, o.min_search_area, 4 * o.min_search_area)


def supported(like: np.ndarray, model: ObjectModel, q: np.ndarray) -> np.ndarray | None:
    """The part of the expected region ``q`` whose colours (likelihood map ``like``) say
    "object", if it is enough."""
    if not q.any():
        return None
    g = q & (like > SUPPORT_LIKE)
    g = cv2.morphologyEx(g.astype(np.uint8), cv2.MORPH_OPEN, disk(1)) > 0
    if g.sum() < max(SUPPORT_SHARE[0], SUPPORT_SHARE[1] * q.sum()):
        return None
    inside = float(like[g].mean())
    rest = q & ~g
    outside = float(like[rest].mean()) if rest.any() else 0.0
    if inside < SUPPORT_REF * model.like_ref or inside - outside < SUPPORT_CONTRAST:
        return None
    return g


def verify_region(model: ObjectModel, data: FrameData, like: np.ndarray, region: np.ndarray,
                  taken: dict[int, np.ndarray], o: "EvidenceOptions") -> float | None:
    """Score of the object in ``region`` where its motion predicts it (colours and the
    texture of its views there), or ``None`` when it is not verified."""
    for other in taken.values():
        om = data.small(other)
        if (om & region).sum() > TAKEN_OVERLAP * region.sum():
            return None
    a = float(like[region].mean()) / model.like_ref
    if a < REGION_APPEARANCE:
        return None
    ncc = texture(model, data, *model.predicted_centre(data.index), 1.0).ncc
    # the colours are there; the object's texture must be too (better for small objects:
    # few pixels correlate well by chance)
    small = _smallness(model, o)
    if ncc < REGION_NCC[0] + REGION_NCC[1] * small:
        return None
    (a0, a1), (n0, n1, n2, n3) = REGION_SCORE
    return min(ramp(a, a0, a1), ramp(ncc, n0 + n1 * small, n2 + n3 * small))


def search_frame(model: ObjectModel, data: FrameData, like: np.ndarray, taken: dict[int, np.ndarray],
                 o: "EvidenceOptions") -> Search:
    """The whole-frame, multi-scale search: candidates by colour and by texture, each
    verified by texture (both views, their own shapes, three sizes around the
    candidate's), colour and place."""
    H, W = data.shape
    occupied = np.zeros((H, W), bool)
    for other in taken.values():
        occupied |= data.small(other)
    if model.area < o.min_search_area:  # too few pixels to tell it from look-alikes elsewhere
        return Search(None, UNSEARCHED_ABSENT)  # not searched: whether it is in the frame is not known
    small = _smallness(model, o)
    candidates = colour_candidates(model, like, o.search_scales, o.min_visible) \
        + texture_candidates(model, data, o.search_scales)
    has_exited = exited(model, data)
    best_score = 0.0
    result: tuple[np.ndarray, float] | None = None
    best: Match | None = None
    seen: list[tuple[float, float, float]] = []
    (t0, t1, t2), (t3, t4, t5) = TEXTURE_RAMP
    w_app, w_share, s_share = SCORE_WEIGHTS
    for score_c, cx, cy, s in candidates:
        if any(abs(cx - a) < SEEN_NEAR[0] * model.w and abs(cy - b) < SEEN_NEAR[0] * model.h
               and abs(s / c - 1) < SEEN_NEAR[1] for a, b, c in seen):
            continue  # verified already
        seen.append((cx, cy, s))
        m = texture(model, data, cx, cy, s)
        ncc, placed, share = m.ncc, m.placed, m.share
        if placed is None or share < o.min_visible or placed.sum() < MIN_PLACED_PX:
            continue
        if (placed & occupied).sum() > TAKEN_OVERLAP * placed.sum():
            continue  # that is another tracked object
        a = float(like[placed].mean()) / model.like_ref
        # texture decides (colours drift with light and look-alikes share them); a candidate
        # far from where the object was lost moments ago needs more of it
        if a < CANDIDATE_APPEARANCE:
            continue
        c_app = ramp(a, *CANDIDATE_APPEARANCE_RAMP)
        part = 1.0 - ramp(share, *PART_RAMP)  # small parts correlate well by chance: ask more
        c_tex = ramp(ncc, t0 + t1 * part + t2 * small, t3 + t4 * part + t5 * small)
        score = c_tex * (w_app + (1 - w_app) * c_app) * (w_share + 0.15 * ramp(share, o.min_visible, s_share))
        ys, xs = np.nonzero(placed)
        score *= reachable(model, data, float(xs.mean()), float(ys.mean()), has_exited, o.predict_frames)
        best_score = max(best_score, score)
        if score >= o.verify and (result is None or score > result[1]):
            result, best = (placed, score), m
    if result is None:
        return Search(None, 1.0 - ramp(best_score, ABSENT_RAMP, o.verify))
    assert best is not None
    larger = grown(model, data, best, occupied, o.min_visible)
    return Search((larger, result[1]) if larger is not None else result, None)


def grown(model: ObjectModel, data: FrameData, match: Match, occupied: np.ndarray,
          min_visible: float) -> np.ndarray | None:
    """A verified match smaller than the object was, made larger where a larger view (up
    to GROW_MAX_AREA × the object's area) matches nearly as well (within GROW_NCC_SLACK of
    its correlation) and holds it: a shrunken view correlates well on a part of a textured
    object, and the tracker would follow only that part. ``None``: as it is."""
    assert match.placed is not None
    if match.placed.sum() / max(match.share, 1e-6) >= GROW_KEEP * model.area:
        return None  # not smaller than the object was
    vh, vw = match.view.mask.shape
    x, y, pw, ph = match.box
    s = (pw / max(vw, 1)) * np.sqrt(vw * vh) / np.sqrt(max(model.w * model.h, 1.0))
    for k in GROW_STEPS:
        m = texture(model, data, x + pw / 2, y + ph / 2, s * k)
        if m.placed is None or m.share < min_visible or m.ncc < match.ncc - GROW_NCC_SLACK:
            continue
        if m.placed.sum() / m.share > GROW_MAX_AREA * model.area:
            continue  # towards the size it had, not beyond
        if (m.placed & occupied).sum() > TAKEN_OVERLAP * m.placed.sum() \
                or (m.placed & match.placed).sum() < GROW_KEEP * match.placed.sum():
            continue
        return m.placed
    return None


def colour_candidates(model: ObjectModel, like: np.ndarray, scales: tuple[float, ...], min_visible: float,
                      top: int = 4) -> list[tuple[float, float, float, float]]:
    """(score, cx, cy, scale) of the best positions for the object's box: mean likelihood
    over the box's core minus half the mean over a ring around it, positions partly outside
    the frame included (only the inside counts)."""
    H, W = like.shape
    sizes = [(model.w * s, model.h * s, s) for s in scales]
    ah, aw = model.anchor.mask.shape
    if abs(aw / max(model.w, 1.0) - 1) > ANCHOR_SIZE_DRIFT or abs(ah / max(model.h, 1.0) - 1) > ANCHOR_SIZE_DRIFT:
        # the prompt's size too (the current one may have drifted)
        sizes += [(aw * s, ah * s, s * aw / max(model.w, 1.0)) for s in scales]
    core_k, ring_k, ring_w = COLOUR_BOX
    # room for boxes (and their rings) mostly outside the frame: objects coming in
    pad = int(1.1 * max(max(w_, h_) for w_, h_, _ in sizes)) + 2
    lp = cv2.copyMakeBorder(like.astype(np.float32), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    vp = cv2.copyMakeBorder(np.ones((H, W), np.float32), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    il, iv = cv2.integral(lp), cv2.integral(vp)
    out: list[tuple[float, float, float, float]] = []
    for ow, oh, s in sizes:
        if ow < 4 or oh < 4:
            continue  # a speck: nothing to search for
        bw, bh = max(3, int(round(ow * core_k))), max(3, int(round(oh * core_k)))
        rw, rh = max(bw + 2, int(round(ow * ring_k))), max(bh + 2, int(round(oh * ring_k)))
        if rw >= lp.shape[1] or rh >= lp.shape[0]:
            continue

        def box_sum(ii: np.ndarray, bw: int, bh: int) -> np.ndarray:
            # sums over every bw×bh box, indexed by its centre in padded coordinates
            return ii[bh:, bw:] - ii[:-bh, bw:] - ii[bh:, :-bw] + ii[:-bh, :-bw]

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
        score = mean_in - ring_w * mean_ring
        score[visible < min_visible] = -1
        for _ in range(COLOUR_PEAKS):
            k = int(np.argmax(score))
            y, x = divmod(k, score.shape[1])
            val = float(score[y, x])
            if val <= 0:
                break
            cx, cy = x + rw / 2 - pad, y + rh / 2 - pad
            out.append((val, cx, cy, s))
            r = max(2, int(COLOUR_SUPPRESS * max(rw, rh)))
            score[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1] = -1
    out.sort(key=lambda c: -c[0])
    return [c for c in out[:top] if c[0] >= COLOUR_MIN * model.like_ref]



def texture_candidates(model: ObjectModel, data: FrameData, scales: tuple[float, ...],
                       top: int = 2) -> list[tuple[float, float, float, float]]:
    """(score, cx, cy, scale) where the object's views match best in a small copy of the
    frame (the object ~TEXTURE_SEARCH_PX px), padded so that objects partly outside can
    match: texture finds what colour misses (colours drift, look-alike colours abound)."""
    f = min(1.0, TEXTURE_SEARCH_PX / max(model.w, model.h, 1.0))
    H, W = data.shape
    size = (max(8, round(W * f)), max(8, round(H * f)))
    small = cv2.resize(data.image, size, interpolation=cv2.INTER_AREA)
    out: list[tuple[float, float, float, float]] = []
    for view in (model.anchor, model.view) if model.view is not model.anchor else (model.anchor,):
        for s in scales:
            tw, th = max(4, round(model.w * s * f)), max(4, round(model.h * s * f))
            templ = cv2.resize(view.patch, (tw, th), interpolation=cv2.INTER_AREA)
            tmask = cv2.resize(view.mask.astype(np.uint8), (tw, th), interpolation=cv2.INTER_NEAREST)
            if tmask.sum() < 8 or templ[tmask > 0].std() < 2:
                continue
            px, py = int(tw * TEXTURE_PAD), int(th * TEXTURE_PAD)
            img = cv2.copyMakeBorder(small, py, py, px, px, cv2.BORDER_REPLICATE)
            res = np.nan_to_num(cv2.matchTemplate(img, templ, cv2.TM_CCOEFF_NORMED, mask=np.dstack([tmask] * 3)),
                                nan=-1.0, posinf=-1.0, neginf=-1.0)
            for _ in range(top):
                _, peak, _, loc = cv2.minMaxLoc(res)
                if peak < TEXTURE_PEAK:
                    break
                cx = (loc[0] - px + tw / 2) / f
                cy = (loc[1] - py + th / 2) / f
                out.append((float(peak), cx, cy, s))
                r = max(1, int(TEXTURE_SUPPRESS * max(tw, th)))
                res[max(0, loc[1] - r):loc[1] + r + 1, max(0, loc[0] - r):loc[0] + r + 1] = -1
    out.sort(key=lambda c: -c[0])
    return out[:4]
