"""Cryptomatte: per-object ID mattes in OpenEXR, as Psyop's *Cryptomatte Specification*
version 1.1.0 defines them (github.com/Psyop/Cryptomatte, ``specification/``).

* **IDs** — an object's name (UTF-8) hashed with the 32-bit MurmurHash3 (x86, seed 0),
  converted to a float32 by keeping the bits and clamping the exponent to 1…254 (so no
  zero/denormal exponent, NaN or infinity) — the ``uint32_to_float32`` conversion. A pixel
  with no object has ID 0.0.
* **Layers** — ``{type}00``, ``{type}01``… RGBA layers of FLOAT channels: ``R`` = ID of rank
  2k, ``G`` = its coverage, ``B`` = ID of rank 2k+1, ``A`` = its coverage, ranks by
  decreasing coverage (the suggested default: 6 ranks, 3 layers). A label map has one
  object per pixel, so rank 0 holds it with coverage 1.0 and the other ranks are 0.
  ``{type}.R/G/B`` is the preview: the ID, and two colour channels from the hash's bits.
* **Metadata** — ``cryptomatte/<key>/name`` (the type name), ``…/hash`` =
  ``MurmurHash3_32``, ``…/conversion`` = ``uint32_to_float32``, ``…/manifest`` = JSON
  ``{name: "8 hex digits of the ID's float32 bits"}``; ``<key>`` = the first 7 hex digits
  of the type name's hash.
"""
from __future__ import annotations

import json
import struct
from collections.abc import Mapping

import numpy as np

HASH = "MurmurHash3_32"
CONVERSION = "uint32_to_float32"
#: Ranks written (the specification's suggested default): 3 RGBA layers.
RANKS = 6
_M32 = 0xFFFFFFFF


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (32 - r))) & _M32


def murmurhash3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit of ``data`` (Austin Appleby's public-domain algorithm) as an
    unsigned 32-bit integer."""
    c1, c2 = 0xCC9E2D51, 0x1B873593
    h = seed & _M32
    n = len(data) // 4
    for (k,) in struct.iter_unpack("<I", data[:4 * n]):
        k = _rotl(k * c1 & _M32, 15) * c2 & _M32
        h = (_rotl(h ^ k, 13) * 5 + 0xE6546B64) & _M32
    tail = data[4 * n:]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= _rotl(k * c1 & _M32, 15) * c2 & _M32
    h ^= len(data)
    h ^= h >> 16
    h = h * 0x85EBCA6B & _M32
    h ^= h >> 13
    h = h * 0xC2B2AE35 & _M32
    return h ^ (h >> 16)


def id_bits(name: str) -> int:
    """The float32 bits of ``name``'s ID: its hash with the exponent clamped to 1…254."""
    h = murmurhash3_32(name.encode("utf-8"))
    exponent = min(max((h >> 23) & 0xFF, 1), 254)
    return (h & 0x807FFFFF) | (exponent << 23)


def id_float(name: str) -> np.float32:
    """``name``'s ID as the float32 written in the pixels."""
    return np.array([id_bits(name)], np.uint32).view(np.float32)[0]


def manifest(names: Mapping[int, str]) -> str:
    """The manifest: JSON ``{name: "%08x" of its ID's float32 bits}``."""
    return json.dumps({n: f"{id_bits(n):08x}" for n in names.values()}, sort_keys=True)


def key(type_name: str) -> str:
    """The 7-character metadata key of a Cryptomatte type: from its name's hash."""
    return f"{murmurhash3_32(type_name.encode('utf-8')):08x}"[:7]


def header(type_name: str, names: Mapping[int, str]) -> dict[str, str]:
    """The ``cryptomatte/<key>/…`` header attributes (strings) for ``names`` (object id → the
    name hashed)."""
    k = key(type_name)
    return {f"cryptomatte/{k}/name": type_name, f"cryptomatte/{k}/hash": HASH,
            f"cryptomatte/{k}/conversion": CONVERSION, f"cryptomatte/{k}/manifest": manifest(names)}


def channels(labels: np.ndarray, names: Mapping[int, str], type_name: str) -> dict[str, np.ndarray]:
    """The Cryptomatte channels of an H×W uint8 label map (pixel = object id; ids not in
    ``names`` and 0 are "no object"): ``{type}00.R`` … ``{type}02.A`` and the preview
    ``{type}.R/G/B``, each H×W float32."""
    table = np.zeros(256, np.float32)
    green = np.zeros(256, np.float32)
    blue = np.zeros(256, np.float32)
    for oid, name in names.items():
        table[oid] = id_float(name)
        h = murmurhash3_32(name.encode("utf-8"))
        green[oid] = ((h << 8) & _M32) / _M32
        blue[oid] = ((h << 16) & _M32) / _M32
    ids = table[labels]
    known = np.zeros(256, np.float32)
    known[list(names)] = 1.0
    coverage = known[labels]
    zero = np.zeros(labels.shape, np.float32)
    out = {f"{type_name}.R": ids, f"{type_name}.G": green[labels], f"{type_name}.B": blue[labels]}
    for layer in range(RANKS // 2):
        first = layer == 0
        out[f"{type_name}{layer:02d}.R"] = ids if first else zero
        out[f"{type_name}{layer:02d}.G"] = coverage if first else zero
        out[f"{type_name}{layer:02d}.B"] = zero
        out[f"{type_name}{layer:02d}.A"] = zero
    return out
