"""Label maps of many objects: bounding boxes, composing, and overlaps resolved (issue 22).

The crowd's tracking composes 46 face masks per step; :func:`compose_label_map` works inside
each mask's bounding box and :func:`resolve_overlaps` skips the compose/split round trip
when no two boxes meet. Both are checked pixel for pixel against the plain definitions
(whole-frame painting, largest first; ``labels == id``) on discs and boxes that touch,
overlap, nest, sit at the frame's edges or are empty.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from editor.api.masks import bbox, compose_label_map, resolve_overlaps, split_label_map, union

SHAPE = (72, 128)


def _disc(cx: int, cy: int, r: int) -> np.ndarray:
    m = np.zeros(SHAPE, np.uint8)
    cv2.circle(m, (cx, cy), r, 1, -1)
    return m.astype(bool)


def _rect(x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    m = np.zeros(SHAPE, bool)
    m[y0:y1, x0:x1] = True
    return m


def _reference(masks: dict[int, np.ndarray]) -> np.ndarray:
    """The rule as stated: paint whole masks largest first (ties: higher id first), so the
    smaller object, then the lower id, ends on top."""
    labels = np.zeros(SHAPE, np.uint8)
    for oid in sorted(masks, key=lambda i: (-int(masks[i].sum()), -i)):
        labels[masks[oid]] = oid
    return labels


def test_bbox_is_the_extent_of_the_nonzero_pixels() -> None:
    assert bbox(np.zeros(SHAPE, bool)) is None
    assert bbox(_rect(3, 5, 9, 6)) == (3, 5, 9, 6)
    assert bbox(_rect(0, 0, 128, 72)) == (0, 0, 128, 72)
    m = np.zeros(SHAPE, np.uint8)  # any dtype: nonzero pixels
    m[70, 1] = m[2, 127] = 7
    assert bbox(m) == (1, 2, 128, 71)
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = rng.random(SHAPE) > 0.999
        ys, xs = np.nonzero(m)
        expected = None if not len(xs) else (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert bbox(m) == expected


def test_union_is_the_pixels_of_any_mask_in_a_new_array() -> None:
    """``union`` (the segmenters' and the engine's one way to join given masks): the
    pixels of ``np.logical_or.reduce`` for bool and other dtypes, a new array (the
    caller may edit it), and no silent broadcasting of masks of another shape."""
    rng = np.random.default_rng(1)
    for count in (1, 2, 3):
        masks = [rng.random(SHAPE) > 0.7 for _ in range(count)]
        masks.append((rng.random(SHAPE) > 0.9).astype(np.uint8) * 255)  # nonzero = inside
        got = union(masks)
        assert got.dtype == bool and got.shape == SHAPE
        assert np.array_equal(got, np.logical_or.reduce([m.astype(bool) for m in masks]))
    one = _disc(40, 30, 9)
    got = union([one])
    assert np.array_equal(got, one) and not np.shares_memory(got, one)
    got[:] = False
    assert one.any()  # the given mask is untouched
    with pytest.raises(ValueError):
        union([one, np.zeros((1, SHAPE[1]), bool)])  # would broadcast with |=
    with pytest.raises(ValueError):
        union([])


CASES = {
    "apart": {1: _disc(20, 20, 8), 2: _disc(60, 40, 10), 3: _rect(100, 0, 128, 10)},
    "boxes touch, pixels do not": {1: _rect(10, 10, 20, 20), 2: _rect(20, 10, 30, 20)},
    "overlap": {1: _disc(40, 36, 20), 2: _disc(55, 36, 12), 5: _rect(0, 0, 30, 72)},
    "nested": {4: _rect(10, 10, 60, 60), 2: _disc(30, 30, 6)},
    "equal sizes": {3: _rect(10, 10, 20, 20), 2: _rect(15, 15, 25, 25)},
    "empty one": {1: np.zeros(SHAPE, bool), 2: _disc(64, 36, 30), 3: _disc(64, 36, 3)},
    "boxes meet, discs do not": {1: _disc(30, 30, 10), 2: _disc(44, 44, 10)},
}


@pytest.mark.parametrize("name", list(CASES))
def test_compose_and_resolve_match_the_whole_frame_rule(name: str) -> None:
    masks = CASES[name]
    reference = _reference(masks)
    assert np.array_equal(compose_label_map(masks, SHAPE), reference)
    resolved = resolve_overlaps(masks, SHAPE)
    assert list(resolved) == list(masks)
    for oid, m in resolved.items():
        assert m.dtype == bool and m.shape == SHAPE
        assert np.array_equal(m, reference == oid), (name, oid)
    assert resolved == {} or np.array_equal(compose_label_map(resolved, SHAPE), reference)


def test_resolve_hands_back_masks_that_cannot_overlap_as_they_are() -> None:
    masks = CASES["apart"]
    resolved = resolve_overlaps(masks, SHAPE)
    assert all(resolved[oid] is masks[oid] for oid in masks)  # no compose/split round trip
    overlapping = CASES["overlap"]
    resolved = resolve_overlaps(overlapping, SHAPE)
    assert not (resolved[1] & resolved[2]).any() and (overlapping[1] & overlapping[2]).any()
    assert np.array_equal(resolved[1] | resolved[2] | resolved[5],
                          overlapping[1] | overlapping[2] | overlapping[5])
    assert split_label_map(compose_label_map(overlapping, SHAPE), [1, 2, 5]).keys() == resolved.keys()


def test_a_stored_prompt_mask_knows_its_box_and_resolving_with_it_changes_nothing() -> None:
    from editor.tracking.engine import StoredMask

    for name, masks in CASES.items():
        stored = {oid: StoredMask.of(m) for oid, m in masks.items()}
        for oid, m in masks.items():
            assert stored[oid].box == bbox(m) and np.array_equal(stored[oid].full(), m)
        known = {oid: s.box for oid, s in stored.items()}
        plain, told = resolve_overlaps(masks, SHAPE), resolve_overlaps(masks, SHAPE, known)
        assert all(np.array_equal(plain[oid], told[oid]) for oid in masks), name
