"""Where the object is and goes: position and velocity from accepted masks (full views set
them, parts cut by the border correct them a little, parts inside the frame not at all),
the expected mask on a frame, and how far a lost object can have gone."""
from __future__ import annotations

import numpy as np

from editor.backends.classic.morphology import bbox
from editor.tracking.cues.model import FrameData, ObjectModel
from editor.tracking.cues.shapes import place, shift, touches_border
from editor.tracking.cues.tuning import (BORDER_VELOCITY_GAIN, CORRECTION_IOU, EDGE_STEP, EXITED_SHARE,
                                         EXPECTED_LAST_AREA, LAG_MIN_SPEED, LAG_STEP, MOTION_FRAMES, REACH_BASE,
                                         REACH_EXIT, REACH_FAR, REACH_PER_FRAME, REACH_UNCERTAIN,
                                         UNCERTAIN_FRAMES, VELOCITY_GAIN, VELOCITY_LIMIT)


def anchor(a0: int, a1: int, predicted: float, size: float, at_lo: bool, at_hi: bool) -> float:
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


def _clip_velocity(vx: float, vy: float, size: float) -> tuple[float, float]:
    limit = VELOCITY_LIMIT * size
    return float(np.clip(vx, -limit, limit)), float(np.clip(vy, -limit, limit))


def follow(model: ObjectModel, data: FrameData, m: np.ndarray, box: tuple[int, int, int, int], full: bool,
           reset_motion: bool) -> None:
    """Move the model's position, size and velocity to an accepted mask ``m`` (``full``: a
    whole view, :func:`editor.tracking.cues.size.is_full_view`; ``reset_motion``: a
    re-acquisition, whose motion is unknown).

    A full view sets position, size and velocity. A part (cut by the border, or smaller
    than the object) anchors each axis on the edge that agrees with the prediction, and
    only an edge that the border does not cut may change the velocity, and only slowly
    (objects have inertia; a leftover stuck at the border does not); a part inside the
    frame leaves the predicted position as it is (it may be a leftover on the background
    or the object half hidden: the motion decides)."""
    x0, y0, x1, y1 = box
    H, W = m.shape
    steps = max(1, abs(data.index - model.frame))
    pcx, pcy = model.predicted_centre(data.index)
    border = (x0 <= 0, y0 <= 0, x1 >= W, y1 >= H)
    moving = True
    lag_x = lag_y = False
    if full or reset_motion:
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if full:
            w, h = float(x1 - x0), float(y1 - y0)
        else:
            w, h = model.w, model.h
            cx = anchor(x0, x1, cx, w, border[0], border[2])
            cy = anchor(y0, y1, cy, h, border[1], border[3])
    else:  # a part: anchor each axis on the edge that agrees with the prediction
        w, h = model.w, model.h
        cx = anchor(x0, x1, pcx, w, border[0], border[2])
        cy = anchor(y0, y1, pcy, h, border[1], border[3])
        if not any(border):
            cx, cy = pcx, pcy
            moving = False
        else:  # cut by the border: the free edge corrects the prediction, a little at a time
            speed = float(np.hypot(model.vx, model.vy))
            lim_x = EDGE_STEP[0] * w + EDGE_STEP[1] * speed + 1.0
            lim_y = EDGE_STEP[0] * h + EDGE_STEP[1] * speed + 1.0
            # an edge lagging behind the motion is what a leftover stuck at the border
            # shows (an object reverses only gradually): it barely holds the prediction back
            # (nor its velocity: see below)
            if (cx - pcx) * model.vx < 0 and abs(model.vx) > LAG_MIN_SPEED:
                lim_x, lag_x = LAG_STEP * w + 1.0, True
            if (cy - pcy) * model.vy < 0 and abs(model.vy) > LAG_MIN_SPEED:
                lim_y, lag_y = LAG_STEP * h + 1.0, True
            cx = pcx + float(np.clip(cx - pcx, -lim_x, lim_x))
            cy = pcy + float(np.clip(cy - pcy, -lim_y, lim_y))
    if reset_motion:
        model.vx = model.vy = 0.0
        model.uncertain = UNCERTAIN_FRAMES
    elif steps <= MOTION_FRAMES and moving:
        vx, vy = _clip_velocity((cx - model.cx) / steps, (cy - model.cy) / steps, max(model.w, model.h))
        if full:
            k = VELOCITY_GAIN
        else:  # cut by the border: slowly, and never much at once
            k = BORDER_VELOCITY_GAIN
            gx, gy = BORDER_VELOCITY_GAIN * abs(model.vx) + 1, BORDER_VELOCITY_GAIN * abs(model.vy) + 1
            vx = model.vx + float(np.clip(vx - model.vx, -gx, gx))
            vy = model.vy + float(np.clip(vy - model.vy, -gy, gy))
        model.vx = model.vx if lag_x else k * vx + (1 - k) * model.vx
        model.vy = model.vy if lag_y else k * vy + (1 - k) * model.vy
    elif steps > MOTION_FRAMES:
        model.vx = model.vy = 0.0
    if not reset_motion:
        model.uncertain = max(0, model.uncertain - 1)
    model.cx, model.cy, model.w, model.h, model.frame = cx, cy, w, h, data.index
    model.last, model.last_frame = m, data.index


def carry(old: ObjectModel, new: ObjectModel) -> None:
    """Prompts on nearby frames (a detector's, every few frames, or bridged between them)
    give the object its motion: the velocity from the last view to the new prompt (both
    full views, at most MOTION_FRAMES frames apart), blended with the one known before."""
    dt = abs(new.frame - old.frame)
    if not 1 <= dt <= MOTION_FRAMES or new.last is None or touches_border(new.last) \
            or old.last is None or touches_border(old.last):
        return
    vx, vy = _clip_velocity((new.cx - old.cx) / dt, (new.cy - old.cy) / dt, max(new.w, new.h))
    k = VELOCITY_GAIN
    new.vx, new.vy = k * vx + (1 - k) * old.vx, k * vy + (1 - k) * old.vy


def agrees(model: ObjectModel, index: int, m: np.ndarray) -> bool:
    """Whether a prompt's mask ``m`` on frame ``index`` is mostly what the model followed on
    the frame before (IoU ≥ CORRECTION_IOU with its last mask moved by its motion): a
    correction of the tracked mask, not a new definition of the object."""
    if model.last is None or abs(index - model.last_frame) != 1:
        return False
    q = shift(model.last, model.vx, model.vy)
    union = float((q | m).sum())
    return union > 0 and float((q & m).sum()) / union >= CORRECTION_IOU


def place_part(model: ObjectModel, index: int, m: np.ndarray) -> None:
    """A correction showing a part of the object: the object is there (its position
    follows the part, anchored on the edge the border does not cut), it looks as before
    (colours, views and full-view area kept), and its motion is rechecked loosely."""
    box = bbox(m)
    assert box is not None
    x0, y0, x1, y1 = box
    H, W = m.shape
    border = (x0 <= 0, y0 <= 0, x1 >= W, y1 >= H)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    model.cx = anchor(x0, x1, cx, model.w, border[0], border[2])
    model.cy = anchor(y0, y1, cy, model.h, border[1], border[3])
    model.frame = index
    model.last, model.last_frame = m, index
    model.uncertain, model.streak = UNCERTAIN_FRAMES, 0


def expected(model: ObjectModel, data: FrameData) -> tuple[np.ndarray, float, float]:
    """The expected mask on this frame (working resolution), the visible share of the
    object there and the expected visible area."""
    dt = abs(data.index - model.last_frame)
    cx, cy = model.predicted_centre(data.index)
    placed, share, _ = place(model.view.mask, cx, cy, model.w, model.h, data.shape)
    last = model.last
    if last is not None and dt <= MOTION_FRAMES and not touches_border(last) \
            and last.sum() >= EXPECTED_LAST_AREA * model.area:
        return shift(last, model.vx * dt, model.vy * dt), share, model.area * share
    return placed, share, model.area * share


def exited(model: ObjectModel, data: FrameData) -> bool:
    """Whether the object left the frame: last seen at the border, and its motion has
    taken most of it outside since."""
    if model.last is None or not touches_border(model.last):
        return False
    _, share, _ = place(model.view.mask, *model.predicted_centre(data.index), model.w, model.h, data.shape)
    return share < EXITED_SHARE


def reachable(model: ObjectModel, data: FrameData, cx: float, cy: float, has_exited: bool,
              predict_frames: int) -> float:
    """How far a candidate centred at (cx, cy) is from where the object can be now
    (``has_exited``: it left the frame, :func:`exited`), as a factor of its verification
    score: 1 within the reach of its motion, REACH_FAR up to twice that (the model's position
    may have drifted with a poor track), 0 beyond (a look-alike elsewhere).

    The reach, within ``predict_frames`` frames of the last view: half the object's size
    one frame later, up to 0.8 of it after four, plus (2 px + half its speed) per frame
    elapsed, around the predicted centre — or, for an object that left the frame, around
    the point where it left (it comes back the way it went, for ``2 × predict_frames``
    frames); half its size more while its motion is unknown (just re-acquired). Later,
    anywhere: the motion says nothing any more."""
    dt = abs(data.index - model.last_frame)
    size = max(model.w, model.h)
    speed = float(np.hypot(model.vx, model.vy))
    if has_exited:
        if dt > 2 * predict_frames:
            return 1.0
        H, W = data.shape
        px, py = float(np.clip(model.cx, 0, W - 1)), float(np.clip(model.cy, 0, H - 1))
        reach = REACH_EXIT * size + (REACH_PER_FRAME[0] + REACH_PER_FRAME[1] * speed) * dt
    else:
        if dt > predict_frames:
            return 1.0
        px, py = model.predicted_centre(data.index)
        # a moment after its last view the motion predicts well; uncertainty grows with time
        reach = (REACH_BASE[0] + REACH_BASE[1] * min(dt, REACH_BASE[2])) * size \
            + (REACH_PER_FRAME[0] + REACH_PER_FRAME[1] * speed) * dt
    if model.uncertain:  # just re-acquired: its motion is not known yet
        reach += REACH_UNCERTAIN * size
    d = float(np.hypot(cx - px, cy - py))
    return 1.0 if d <= reach else REACH_FAR if d <= 2 * reach else 0.0
