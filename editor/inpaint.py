"""Video inpainting that uses the video itself (the ``remove`` stage's engine).

For each frame, hole pixels are filled from neighbouring frames where that background is
visible: each neighbour is aligned to the current frame by a homography (camera motion;
ORB features matched outside the holes, chained frame to frame), optionally refined by
dense optical flow (local motion / parallax), gain-matched on a ring around the hole,
and used for the hole pixels it sees — nearest frames first. Pixels no frame sees are
filled spatially (OpenCV Telea). Alignment is computed at a reduced resolution; the fill
is sampled from the full-resolution frames and composited back with a feathered seam, so
pixels outside the dilated hole stay bit-identical.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

Inpainter = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``inpainter(image RGB uint8, hole bool) -> filled image``: the spatial fallback."""


def telea(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """OpenCV's Telea inpainting on a region of interest around the hole."""
    x, y, w, h = cv2.boundingRect(hole.view(np.uint8))
    if w == 0:
        return image
    pad = 16
    H, W = hole.shape
    x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + w + pad), min(H, y + h + pad)
    out = image.copy()
    out[y0:y1, x0:x1] = cv2.inpaint(image[y0:y1, x0:x1], hole[y0:y1, x0:x1].astype(np.uint8), 5,
                                    cv2.INPAINT_TELEA)
    return out


@dataclass
class _Features:
    keypoints: tuple
    descriptors: np.ndarray | None
    grey: np.ndarray


@dataclass
class TemporalInpainter:
    """Fill holes from a window of frames; reuse across frames (features are cached)."""

    max_side: int = 640
    flow_refine: bool = True
    spatial: Inpainter = telea
    _features: dict[int, _Features] = field(default_factory=dict)
    _homography: dict[int, np.ndarray] = field(default_factory=dict)  # i → H mapping frame i to i+1 (small coords)
    _orb: cv2.ORB = field(default_factory=lambda: cv2.ORB_create(1500))
    _matcher: cv2.BFMatcher = field(default_factory=lambda: cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True))
    last_temporal_fraction: float = 0.0

    def _scale(self, shape: tuple[int, ...]) -> float:
        return min(1.0, self.max_side / float(max(shape[:2])))

    def _feat(self, index: int, image: np.ndarray, hole: np.ndarray) -> _Features:
        f = self._features.get(index)
        if f is None:
            s = self._scale(image.shape)
            size = (max(1, round(image.shape[1] * s)), max(1, round(image.shape[0] * s)))
            grey = cv2.cvtColor(cv2.resize(image, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
            valid = cv2.resize((~hole).astype(np.uint8) * 255, size, interpolation=cv2.INTER_NEAREST)
            valid = cv2.erode(valid, np.ones((7, 7), np.uint8))
            kp, des = self._orb.detectAndCompute(grey, valid)
            f = _Features(tuple(kp), des, grey)
            self._features[index] = f
        return f

    def _pair(self, a: int, b: int) -> np.ndarray:
        """Homography mapping frame a's (small) coordinates to frame b's, b = a + 1."""
        key = a
        if key not in self._homography:
            fa, fb = self._features[a], self._features[b]
            h = np.eye(3)
            if fa.descriptors is not None and fb.descriptors is not None and len(fa.keypoints) >= 8:
                matches = self._matcher.match(fa.descriptors, fb.descriptors)
                if len(matches) >= 12:
                    src = np.float32([fa.keypoints[m.queryIdx].pt for m in matches])
                    dst = np.float32([fb.keypoints[m.trainIdx].pt for m in matches])
                    est, inliers = cv2.findHomography(src, dst, cv2.RANSAC, 2.0)
                    if est is not None and inliers is not None and inliers.sum() >= 10:
                        h = est
            self._homography[key] = h
        return self._homography[key]

    def _to(self, s: int, t: int) -> np.ndarray:
        """Homography (small coords) mapping frame s to frame t by chaining neighbours."""
        h = np.eye(3)
        if s < t:
            for i in range(s, t):
                h = self._pair(i, i + 1) @ h
        else:
            for i in range(s - 1, t - 1, -1):
                h = np.linalg.inv(self._pair(i, i + 1)) @ h
        return h

    def forget_before(self, index: int) -> None:
        for k in [k for k in self._features if k < index]:
            del self._features[k]
        for k in [k for k in self._homography if k < index]:
            del self._homography[k]

    def fill(self, frames: Sequence[np.ndarray], holes: Sequence[np.ndarray], indices: Sequence[int],
             center: int) -> np.ndarray:
        """Fill ``holes[center]`` in ``frames[center]`` using the other frames of the window."""
        image, hole = frames[center], holes[center]
        if not hole.any():
            return image
        for img, hl, idx in zip(frames, holes, indices):
            self._feat(idx, img, hl)
        t = indices[center]
        s_small = self._scale(image.shape)
        scale = np.diag([s_small, s_small, 1.0])
        inv_scale = np.diag([1 / s_small, 1 / s_small, 1.0])
        H, W = hole.shape
        out = image.copy()
        remaining = hole.copy()
        ring = (cv2.dilate(hole.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0) & ~hole
        order = sorted((k for k in range(len(frames)) if k != center), key=lambda k: abs(indices[k] - t))
        for k in order:
            if not remaining.any():
                break
            h_full = inv_scale @ self._to(indices[k], t) @ scale
            warped = cv2.warpPerspective(frames[k], h_full, (W, H), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT)
            seen = cv2.warpPerspective((~holes[k]).astype(np.uint8), h_full, (W, H), flags=cv2.INTER_NEAREST,
                                       borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
            seen = cv2.erode(seen.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            if self.flow_refine:
                warped, seen = self._refine(image, hole, warped, seen)
            use = remaining & seen
            if not use.any():
                continue
            ring_ok = ring & seen
            if ring_ok.sum() > 50:  # exposure / gain matching on the hole's surroundings
                gain = (image[ring_ok].astype(np.float32).mean(0) + 1) / (warped[ring_ok].astype(np.float32).mean(0) + 1)
                warped = np.clip(warped.astype(np.float32) * np.clip(gain, 0.8, 1.25), 0, 255).astype(np.uint8)
            out[use] = warped[use]
            remaining &= ~use
        self.last_temporal_fraction = 1.0 - remaining.sum() / max(1, hole.sum())
        if remaining.any():
            out = self.spatial(out, remaining)
        return out

    def _refine(self, image: np.ndarray, hole: np.ndarray, warped: np.ndarray,
                seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct residual (parallax/local) motion with dense flow around the hole."""
        x, y, w, h = cv2.boundingRect(hole.view(np.uint8))
        pad = max(24, (w + h) // 4)
        H, W = hole.shape
        x0, y0, x1, y1 = max(0, x - pad), max(0, y - pad), min(W, x + w + pad), min(H, y + h + pad)
        a = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        b = cv2.cvtColor(warped[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        valid = (~hole[y0:y1, x0:x1]) & seen[y0:y1, x0:x1]
        if valid.mean() < 0.3:
            return warped, seen
        flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST).calc(a, b, None)
        # Flow inside the hole is unreliable (it sees the object): use the median flow of the
        # surroundings there, i.e. a local translation.
        med = np.median(flow[valid], axis=0)
        flow[~valid] = med
        gx, gy = np.meshgrid(np.arange(x1 - x0, dtype=np.float32), np.arange(y1 - y0, dtype=np.float32))
        patch = cv2.remap(warped[y0:y1, x0:x1], gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)
        patch_seen = cv2.remap(seen[y0:y1, x0:x1].astype(np.uint8), gx + flow[..., 0], gy + flow[..., 1],
                               cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0
        warped = warped.copy()
        seen = seen.copy()
        warped[y0:y1, x0:x1] = patch
        seen[y0:y1, x0:x1] = patch_seen
        return warped, seen
