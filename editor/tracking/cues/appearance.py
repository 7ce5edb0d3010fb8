"""What the object looks like: colour histograms (object, ring around it) and the masked
correlation of its views with a frame, all at the working resolution."""
from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np

from editor.backends.classic.morphology import bbox, disk
from editor.tracking.cues.model import FrameData, ObjectModel, View
from editor.tracking.cues.shapes import place, touches_border
from editor.tracking.cues.tuning import (ANCHOR_COLOUR_SHARE, BG_RATE, LIKE_REF_MIN, MATCH_COARSE_PX,
                                         MATCH_SLACK, NBINS, RING_MIN_PX, RING_RADIUS, RING_WEIGHT,
                                         TEXTURE_SIZES)


def hist(codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Normalised histogram (NBINS float32) of the colour codes under ``mask``."""
    h = np.bincount(codes[mask], minlength=NBINS).astype(np.float32)
    s = h.sum()
    return h / s if s > 0 else h


def ring(m: np.ndarray) -> np.ndarray:
    """A ring around mask ``m`` (width RING_RADIUS × √area, at least RING_MIN_PX)."""
    area = int(m.sum())
    r = max(RING_MIN_PX, int(RING_RADIUS * np.sqrt(area)))
    box = bbox(m)
    assert box is not None
    H, W = m.shape
    x0, y0 = max(0, box[0] - r - 1), max(0, box[1] - r - 1)
    x1, y1 = min(W, box[2] + r + 1), min(H, box[3] + r + 1)
    out = np.zeros_like(m)
    sub = cv2.dilate(m[y0:y1, x0:x1].astype(np.uint8), disk(round(r))) > 0
    out[y0:y1, x0:x1] = sub & ~m[y0:y1, x0:x1]
    return out


def colours(data: FrameData, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The object's histogram under ``m`` and the background's (ring and rest of the frame)."""
    fg = hist(data.codes, m)
    r = ring(m)
    bg = hist(data.codes, r) if r.any() else np.zeros(NBINS, np.float32)
    rest = hist(data.codes[::2, ::2], ~m[::2, ::2])
    return fg, RING_WEIGHT * bg + (1 - RING_WEIGHT) * rest


def new_model(data: FrameData, m: np.ndarray) -> ObjectModel:
    """An object model from one view (mask ``m``, working resolution) on ``data``'s frame."""
    fg, bg = colours(data, m)
    box = bbox(m)
    assert box is not None
    x0, y0, x1, y1 = box
    view = View(data.image[y0:y1, x0:x1].copy(), m[y0:y1, x0:x1].copy())
    model = ObjectModel(fg, bg, 0.0, fg.copy(), view, view, (x0 + x1) / 2, (y0 + y1) / 2, float(x1 - x0),
                        float(y1 - y0), float(m.sum()), data.index, last=m, last_frame=data.index)
    model.refresh_ratio()
    model.like_ref = max(LIKE_REF_MIN, float(model.likelihood(data.codes)[m].mean()))
    if touches_border(m):  # a partial first view: guess the full size from it
        model.area = float(m.sum())
    return model


def learn(oid: int, model: ObjectModel, data: FrameData, m: np.ndarray, rate: float, full: bool) -> None:
    """Blend the colours under ``m`` into the model at ``rate`` (the prompt's colours keep
    their share) and, for a ``full`` view, make it the model's view."""
    fg, bg = colours(data, m)
    a = min(1.0, rate)
    model.fg = (1 - a) * model.fg + a * (ANCHOR_COLOUR_SHARE * model.anchor_fg + (1 - ANCHOR_COLOUR_SHARE) * fg)
    model.bg = (1 - min(1.0, BG_RATE * a)) * model.bg + min(1.0, BG_RATE * a) * bg
    model.refresh_ratio()
    data.forget(oid)
    like = float(model.likelihood(data.codes)[m].mean())
    model.like_ref = (1 - a) * model.like_ref + a * like if model.like_ref > 0 else like
    model.like_ref = max(LIKE_REF_MIN, model.like_ref)
    if full:
        box = bbox(m)
        assert box is not None
        x0, y0, x1, y1 = box
        model.view = View(data.image[y0:y1, x0:x1].copy(), m[y0:y1, x0:x1].copy())


class Match(NamedTuple):
    """The best match of an object's views near a place (:func:`texture`)."""

    ncc: float
    """Masked normalised correlation (−1 when nothing could be matched)."""
    placed: np.ndarray | None
    """The matched view's mask placed there (working resolution, the part inside the frame)."""
    share: float
    """Share of it inside the frame."""
    view: View
    box: tuple[int, int, int, int]
    """Where the view is placed (x, y, width, height in working pixels; may reach outside)."""


def texture(model: ObjectModel, data: FrameData, cx: float, cy: float, s: float,
            anchor_only: bool = False) -> Match:
    """Best masked correlation of the object's views (each in its own shape, at three
    sizes around ``s`` × the object's) with the frame near (cx, cy): located coarsely
    within half the object's size (candidates are rough), then to the pixel, scored over
    the part inside the frame."""
    H, W = data.shape
    best = Match(-1.0, None, 0.0, model.view, (0, 0, 0, 0))
    area = np.sqrt(max(model.w * model.h, 1.0))
    views = (model.anchor,) if anchor_only or model.view is model.anchor else (model.view, model.anchor)
    for view in views:
        vh, vw = view.mask.shape
        k0 = s * area / np.sqrt(max(vw * vh, 1))
        for k in (TEXTURE_SIZES[0] * k0, k0, TEXTURE_SIZES[2] * k0):
            pw, ph = max(6, int(round(vw * k))), max(6, int(round(vh * k)))
            x, y = int(round(cx - pw / 2)), int(round(cy - ph / 2))
            ncc, (dx, dy) = match(data, view, x, y, pw, ph)
            if ncc > best.ncc:
                placed, share, box = place(view.mask, x + dx + pw / 2, y + dy + ph / 2, pw, ph, (H, W))
                best = Match(ncc, placed, share, view, box)
    return best


def _ncc(res: np.ndarray) -> np.ndarray:
    return np.nan_to_num(res, nan=-1.0, posinf=-1.0, neginf=-1.0)


def match(data: FrameData, view: View, x: int, y: int, pw: int, ph: int) -> tuple[float, tuple[int, int]]:
    """Masked correlation of ``view`` at size pw×ph near (x, y) (top left; may be partly
    outside the frame) and its offset: coarse within half its size, then to the pixel."""
    best, offset = -1.0, (0, 0)
    slack = max(3, int(MATCH_SLACK * max(pw, ph)))
    f = min(1.0, MATCH_COARSE_PX / max(pw, ph))
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
    res = _ncc(cv2.matchTemplate(r_s, t_s, cv2.TM_CCOEFF_NORMED, mask=np.dstack([m_s] * 3)))
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
                    res = _ncc(cv2.matchTemplate(win, templ[ty0:ty1, tx0:tx1], cv2.TM_CCOEFF_NORMED,
                                                 mask=np.dstack([m] * 3)))
                    _, _, _, loc = cv2.minMaxLoc(res)
                    dx0, dy0 = dx0 + loc[0] - r, dy0 + loc[1] - r
    return ncc_at(data, templ, tmask, x + dx0, y + dy0), (dx0, dy0)


def ncc_at(data: FrameData, templ: np.ndarray, tmask: np.ndarray, x: int, y: int) -> float:
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
