"""A trained plate detector the user supplies (issue 22, item 7): ``--detect plate-model``
runs a TorchScript (or ONNX) file given with ``--backend-set plate-model.model=PATH``,
registered through ``editor_register_detectors`` like every detector. The model here is a
small TorchScript module made in the test (it boxes the red pixels: a stand-in with the
real contract); nothing is downloaded."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from clips import write_clip
from editor.cli.main import main
from editor.detection.model_detector import ModelDetector, ModelDetectorOptions, decode
from editor.models.registry import ModelError
from editor.video.reader import iter_frames

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")

W, H, T = 256, 160, 12


def _scene(t: int) -> np.ndarray:
    rng = np.random.default_rng(t)
    img = (rng.integers(0, 120, (H // 4, W // 4, 3), dtype=np.uint8)).repeat(4, 0).repeat(4, 1)
    x = 40 + 8 * t
    img[60:84, x:x + 64] = (230, 30, 30)  # the plate…
    img[66:78, x + 6:x + 58:2] = (250, 250, 250)  # …with characters (detail to blur)
    return np.ascontiguousarray(img)


class RedBoxes(torch.nn.Module):
    """Boxes the red pixels of a 1×3×S×S input in 0…1: output K×6 (x0, y0, x1, y1, score, class)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        red = (x[0, 0] - x[0, 1]) > 0.5
        where = torch.nonzero(red)
        ys, xs = where[:, 0], where[:, 1]
        if ys.numel() == 0:
            return torch.zeros((0, 6))
        one = torch.ones(1)
        return torch.cat([xs.min().float().reshape(1), ys.min().float().reshape(1), (xs.max() + 1).float().reshape(1),
                          (ys.max() + 1).float().reshape(1), 0.9 * one, 0.0 * one]).reshape(1, 6)


class WrongShape(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean().reshape(1)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "plates.torchscript"
    torch.jit.script(RedBoxes()).save(str(path))
    return path


def test_the_model_finds_the_plate_in_frame_pixels(model: Path) -> None:
    detector = ModelDetector(ModelDetectorOptions(model=model, input_size=320))
    (found,) = detector.detect(_scene(3), 3)
    x = 40 + 24
    assert found.label == "plate" and found.score == pytest.approx(0.9)
    assert np.allclose(found.box, (x, 60, x + 64, 84), atol=2.5)  # letterboxed, mapped back


def test_yolo_raw_outputs_are_decoded() -> None:
    out = np.zeros((1, 6, 40), np.float32)  # 4 + 2 classes, 40 anchors
    out[0, :, 0] = (50, 40, 20, 10, 0.1, 0.8)  # class 1 at 0.8
    out[0, :, 1] = (10, 10, 4, 4, 0.05, 0.1)  # below threshold
    boxes, scores = decode(out, 0.25)
    assert np.allclose(boxes, [[40, 35, 60, 45]]) and np.allclose(scores, [0.8])
    assert len(decode(out, 0.25, classes=(0,))[1]) == 0
    assert np.allclose(decode(out.transpose(0, 2, 1), 0.25, layout="yolo")[0], boxes)  # anchors first
    with pytest.raises(ValueError, match="shape"):
        decode(np.zeros((1, 3, 7, 7)), 0.25)


def test_run_blurs_the_plates_the_model_finds(model: Path, tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "cars.mp4", [_scene(t) for t in range(T)], pix_fmt="yuv444p", options={"crf": "0"})
    out = tmp_path / "out.mp4"
    assert main(["run", str(clip), "-o", str(out), "--preset", "blur", "--detect", "plate-model",
                 "--backend-set", f"plate-model.model={model}", "--backend-set", "plate-model.input_size=320"]) == 0
    for frame in iter_frames(out):
        x = 40 + 8 * frame.index
        before = cv2.Laplacian(cv2.cvtColor(_scene(frame.index)[64:80, x + 4:x + 60], cv2.COLOR_RGB2GRAY), cv2.CV_64F)
        after = cv2.Laplacian(cv2.cvtColor(frame.image[64:80, x + 4:x + 60], cv2.COLOR_RGB2GRAY), cv2.CV_64F)
        assert np.abs(after).mean() <= 0.1 * np.abs(before).mean(), frame.index


def test_bad_model_files_are_one_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = write_clip(tmp_path / "c.mp4", [_scene(t) for t in range(3)])
    text = tmp_path / "notes.onnx"
    text.write_text("not a model")
    wrong = tmp_path / "wrong.torchscript"
    torch.jit.script(WrongShape()).save(str(wrong))
    out = tmp_path / "o.mp4"
    for path, what in ((tmp_path / "missing.onnx", "model file not found"),
                       (text, "not an ONNX model onnxruntime can load"),
                       (wrong, "not a detector trackedit can read")):
        code = main(["run", str(clip), "-o", str(out), "--preset", "blur", "--detect", "plate-model",
                     "--backend-set", f"plate-model.model={path}"])
        err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert code == 1 and len(err) == 1 and str(path) in err[0] and what in err[0], err
        assert not out.exists() and not list(tmp_path.glob(".o.*"))
    with pytest.raises(ModelError, match="give the trained model file"):
        ModelDetector(ModelDetectorOptions())
