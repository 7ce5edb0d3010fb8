"""A hierarchy of image regions, built without weights: the structure clicks are read against.

1. **Superpixels**: Felzenszwalb's graph segmentation (scikit-image) at the working
   resolution, a few hundred regions that follow the image's edges.
2. **Region adjacency**: per pair of touching superpixels, the colour-gradient strength
   summed along their shared boundary; per superpixel, Lab colour histograms.
3. **Merging**: neighbours are merged greedily, the most similar pair first, until one
   region is left. Similarity combines the boundary's strength (mean gradient along it,
   relative to the image's own gradient level) with the regions' colour difference
   (histogram intersection, so a texture merges with itself across its own edges). Two
   merge orders are kept: the product of the two cues (a boundary must be both strong and
   between different colours to hold out) and their sum.

Every region that ever exists in a merge order is a node of a binary tree; the regions
containing a clicked pixel are the nodes on the path from its superpixel to the root (from
small to the whole image). :mod:`editor.backends.classic.segmenter` chooses among them.
Everything here is deterministic: no random initialisation, ties broken by region ids.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

HIST_BINS = 16
"""Bins of each of the three Lab channel histograms of a region."""
AB_BIN_WIDTH = 6.0
"""Width of an a/b histogram bin (Lab units, OpenCV's 8-bit scale), centred on grey so that
near-neutral colours do not straddle a bin edge."""


@dataclass
class Hierarchy:
    """One merge order: node ids ``0..n-1`` are the superpixels, ``n..2n-2`` the merges."""

    n: int
    parent: np.ndarray
    """Parent node of every node (-1 for the root)."""
    children: list[tuple[int, int]]
    """The two merged nodes of node ``n + i`` at index ``i``."""
    size: np.ndarray
    """Pixel count of every node."""

    def chain(self, leaf: int) -> list[int]:
        """Nodes containing superpixel ``leaf``, from the leaf to the root."""
        out = [leaf]
        while self.parent[out[-1]] >= 0:
            out.append(int(self.parent[out[-1]]))
        return out

    def leaves(self, node: int) -> list[int]:
        out: list[int] = []
        stack = [node]
        while stack:
            x = stack.pop()
            if x < self.n:
                out.append(x)
            else:
                stack.extend(self.children[x - self.n])
        return out


@dataclass
class ImageRegions:
    """What one image's clicks are read against (working resolution)."""

    image: np.ndarray
    """RGB uint8 at the working resolution."""
    lab: np.ndarray
    grad: np.ndarray
    """Colour-gradient magnitude (float32), in units of the image's 90th percentile."""
    labels: np.ndarray
    """Superpixel id per pixel (int32)."""
    hierarchies: list[Hierarchy] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape  # type: ignore[return-value]

    @cached_property
    def colour_bins(self) -> np.ndarray:
        """Joint Lab colour bin (0…255) of every pixel: L in 4 bins, a and b in 8 bins of 8
        units centred on grey (for region-vs-surroundings colour histograms)."""
        lab = self.lab
        L = np.clip(lab[..., 0].astype(np.int32) // 64, 0, 3)
        a = np.clip(np.floor((lab[..., 1].astype(np.float32) - 128) / 8 + 4), 0, 7).astype(np.int32)
        b = np.clip(np.floor((lab[..., 2].astype(np.float32) - 128) / 8 + 4), 0, 7).astype(np.int32)
        return (L * 8 + a) * 8 + b

    def nested_regions(self, x: int, y: int, *, min_px: int, growth: float = 1.08,
                       max_fraction: float = 0.95) -> list[np.ndarray]:
        """Masks of the regions containing pixel (x, y): per hierarchy, small to large.

        Per hierarchy, a region is listed when it has at least ``min_px`` pixels and is at
        least ``growth`` times the last listed one; regions covering more than
        ``max_fraction`` of the image are left out.
        """
        leaf = int(self.labels[y, x])
        total = self.labels.size
        out: list[np.ndarray] = []
        for h in self.hierarchies:
            inside = np.zeros(h.n, bool)
            chain = h.chain(leaf)
            inside[leaf] = True
            last = 0.0
            for prev, node in zip([leaf, *chain[:-1]], chain):
                if node != leaf:
                    a, b = h.children[node - h.n]
                    inside[h.leaves(b if a == prev else a)] = True
                size = float(h.size[node])
                if size > max_fraction * total:
                    break
                if size >= min_px and size >= growth * last:
                    out.append(inside[self.labels])
                    last = size
        return out


def gradient_map(lab: np.ndarray) -> np.ndarray:
    """Colour-gradient magnitude of a Lab image (Sobel after a 1-px Gaussian)."""
    f = cv2.GaussianBlur(lab.astype(np.float32), (0, 0), 1.0)
    gx = cv2.Sobel(f, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(f, cv2.CV_32F, 0, 1, ksize=3)
    g = np.sqrt((gx * gx + gy * gy).sum(axis=2))
    return g / (float(np.percentile(g, 90)) + 1e-6)


def superpixels(image: np.ndarray, scale: float = 30.0, per_px: int = 1000) -> np.ndarray:
    """Felzenszwalb superpixels, about ``area / per_px``-pixel minimum size (int32 labels)."""
    from skimage.segmentation import felzenszwalb

    h, w = image.shape[:2]
    labels = felzenszwalb(image, scale=scale, sigma=0.5, min_size=max(10, (h * w) // per_px))
    return labels.astype(np.int32)


def _histograms(lab: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    q = np.empty(lab.shape, np.int64)
    q[..., 0] = np.clip(lab[..., 0].astype(np.int64) * HIST_BINS // 256, 0, HIST_BINS - 1)
    for c in (1, 2):
        v = np.floor((lab[..., c].astype(np.float32) - 128.0) / AB_BIN_WIDTH + HIST_BINS / 2)
        q[..., c] = np.clip(v, 0, HIST_BINS - 1).astype(np.int64)
    flat = labels.ravel().astype(np.int64)
    hist = np.zeros((n, 3 * HIST_BINS), np.float64)
    for c in range(3):
        idx = flat * (3 * HIST_BINS) + c * HIST_BINS + q[..., c].ravel()
        hist += np.bincount(idx, minlength=n * 3 * HIST_BINS).reshape(n, 3 * HIST_BINS)
    return hist


def _boundaries(labels: np.ndarray, grad: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Touching superpixel pairs (a < b), their summed boundary gradient and boundary length."""
    keys, vals = [], []
    for a, b, ga, gb in ((labels[:, :-1], labels[:, 1:], grad[:, :-1], grad[:, 1:]),
                         (labels[:-1], labels[1:], grad[:-1], grad[1:])):
        m = a != b
        lo = np.minimum(a[m], b[m]).astype(np.int64)
        hi = np.maximum(a[m], b[m]).astype(np.int64)
        keys.append(lo * n + hi)
        vals.append(np.maximum(ga[m], gb[m]))
    key = np.concatenate(keys)
    val = np.concatenate(vals).astype(np.float64)
    uniq, inv = np.unique(key, return_inverse=True)
    sums = np.bincount(inv, weights=val)
    counts = np.bincount(inv).astype(np.float64)
    return uniq, sums, counts


def merge(n: int, hist: np.ndarray, size: np.ndarray, pairs: np.ndarray, sums: np.ndarray,
          counts: np.ndarray, mode: str) -> Hierarchy:
    """Greedy pairwise merging of adjacent regions into a binary tree (see the module doc)."""
    hists = [h for h in hist]
    sizes = [float(s) for s in size]
    adj: list[dict[int, list[float]] | None] = [dict() for _ in range(n)]
    for k, s, c in zip(pairs.tolist(), sums.tolist(), counts.tolist()):
        a, b = divmod(k, n)
        adj[a][b] = [s, c]  # type: ignore[index]
        adj[b][a] = [s, c]  # type: ignore[index]

    def cost(a: int, b: int, s: float, c: float) -> float:
        edge = s / c
        colour = 1.0 - float(np.minimum(hists[a] / sizes[a], hists[b] / sizes[b]).sum()) / 3.0
        return colour * edge if mode == "prod" else colour + edge

    heap = [(cost(a, b, *v), a, b) for a in range(n) for b, v in adj[a].items() if a < b]  # type: ignore[union-attr]
    heapq.heapify(heap)
    parent = [-1] * n
    children: list[tuple[int, int]] = []
    alive = [True] * n
    while heap:
        _, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]):
            continue
        k = len(sizes)
        hists.append(hists[a] + hists[b])
        sizes.append(sizes[a] + sizes[b])
        parent.append(-1)
        parent[a] = parent[b] = k
        children.append((a, b))
        alive[a] = alive[b] = False
        alive.append(True)
        joined: dict[int, list[float]] = {}
        for x in (a, b):
            for y, (s, c) in adj[x].items():  # type: ignore[union-attr]
                if y == a or y == b:
                    continue
                t = joined.setdefault(y, [0.0, 0.0])
                t[0] += s
                t[1] += c
                del adj[y][x]  # type: ignore[union-attr]
            adj[x] = None
        adj.append(joined)
        for y, v in joined.items():
            adj[y][k] = v  # type: ignore[index]
            heapq.heappush(heap, (cost(k, y, *v), y, k))
    # several connected components of the adjacency graph (not possible for a 4-connected
    # label image, but cheap to guard): join the remaining roots in id order
    roots = [i for i, a in enumerate(alive) if a]
    while len(roots) > 1:
        a, b = roots[0], roots[1]
        k = len(sizes)
        sizes.append(sizes[a] + sizes[b])
        parent.append(-1)
        parent[a] = parent[b] = k
        children.append((a, b))
        roots = [k, *roots[2:]]
    return Hierarchy(n, np.asarray(parent, np.int64), children, np.asarray(sizes))


def analyse(image: np.ndarray, modes: tuple[str, ...] = ("prod", "sum")) -> ImageRegions:
    """Superpixels, gradient and merge hierarchies of an RGB uint8 image (working resolution)."""
    lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB)
    grad = gradient_map(lab)
    labels = superpixels(image)
    n = int(labels.max()) + 1
    size = np.bincount(labels.ravel(), minlength=n).astype(np.float64)
    hist = _histograms(lab, labels, n)
    pairs, sums, counts = _boundaries(labels, grad, n)
    regions = ImageRegions(image, lab, grad, labels)
    regions.hierarchies = [merge(n, hist, size, pairs, sums, counts, m) for m in modes]
    return regions
