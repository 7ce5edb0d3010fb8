"""COCO run-length encoding, compatible with ``pycocotools.mask`` (encode/decode/area/bbox).

Runs are counted over the mask in column-major (Fortran) order, starting with a run of
zeros; the compressed form stores each count (after the first two, as a difference to
the count two places back) in a LEB128-like base-64 text ('0' + 5 bits, bit 5 = more).
"""
from __future__ import annotations

import numpy as np


def _counts(mask: np.ndarray) -> list[int]:
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    if flat.size == 0:
        return [0]
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs = [0] + runs
    return [int(r) for r in runs]


def _compress(counts: list[int]) -> str:
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5  # arithmetic shift on Python ints
            more = (x != -1) if (ch & 0x10) else (x != 0)
            if more:
                ch |= 0x20
            out.append(chr(ch + 48))
    return "".join(out)


def _decompress(text: str) -> list[int]:
    counts: list[int] = []
    p = 0
    while p < len(text):
        x, k, more = 0, 0, True
        while more:
            ch = ord(text[p]) - 48
            x |= (ch & 0x1F) << (5 * k)
            more = bool(ch & 0x20)
            p += 1
            k += 1
            if not more and (ch & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def encode(mask: np.ndarray) -> dict[str, object]:
    """``{"size": [h, w], "counts": str}`` for a bool H×W mask."""
    h, w = mask.shape
    return {"size": [int(h), int(w)], "counts": _compress(_counts(mask))}


def decode(rle: dict[str, object]) -> np.ndarray:
    h, w = (int(v) for v in rle["size"])  # type: ignore[union-attr]
    counts = rle["counts"]
    runs = _decompress(counts) if isinstance(counts, str) else [int(c) for c in counts]  # type: ignore[union-attr]
    values = np.zeros(len(runs), bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    if flat.size != h * w:
        raise ValueError(f"RLE covers {flat.size} pixels, expected {h * w}")
    return flat.reshape((h, w), order="F")


def area(mask: np.ndarray) -> int:
    return int(np.count_nonzero(mask))


def bbox(mask: np.ndarray) -> list[float]:
    """COCO bbox [x, y, width, height] (zeros for an empty mask)."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return [0.0, 0.0, 0.0, 0.0]
    return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
