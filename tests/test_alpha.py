"""Alpha everywhere it exists: VP9 with alpha (f24 in WebM; made here in Matroska) is decoded
with libvpx-vp9 (FFmpeg's native vp9 decoder ignores the alpha), kept in outputs that hold
alpha (WebM VP9, ProRes 4444 MOV, FFV1 MKV) and dropped with one warning otherwise."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from editor.cli.main import main
from editor.video.reader import iter_frames, probe

CASES = Path(__file__).parent / "data" / "cases"
CLASSIC = ("--segmenter", "classic", "--tracker", "classic")


def _transparent(path: Path, index: int) -> float:
    frame = next(f for f in iter_frames(path) if f.index == index)
    assert frame.alpha is not None, path
    return float((frame.alpha < 128).mean())


def _vp9_alpha(path: Path, frames: int = 6) -> Path:
    """VP9 yuva420p: the left third of every frame transparent."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libvpx-vp9", rate=25)
        s.width, s.height, s.pix_fmt = 96, 64, "yuva420p"
        for i in range(frames):
            rgba = np.zeros((64, 96, 4), np.uint8)
            rgba[..., 0] = 200
            rgba[..., 1] = np.arange(96, dtype=np.uint8)[None, :] * 2 + i
            rgba[..., 3] = 255
            rgba[:, :32, 3] = 0
            f = av.VideoFrame.from_ndarray(rgba, format="rgba")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def test_f24_vp9_alpha_is_decoded() -> None:
    src = CASES / "f24_alpha.webm"
    assert probe(src).pix_fmt == "yuva420p"
    assert 0.2 < _transparent(src, 0) < 0.35


@pytest.mark.parametrize("suffix", [".webm", ".mov", ".mkv"])
def test_f24_alpha_kept_where_the_output_holds_it(tmp_path: Path, suffix: str) -> None:
    src, out = CASES / "f24_alpha.webm", tmp_path / f"out{suffix}"
    assert main(["-q", "run", str(src), "-o", str(out), "--preset", "blur", "--prompts",
                 str(CASES / "f24_prompts.json"), *CLASSIC]) == 0
    for index in (0, 45):
        assert abs(_transparent(out, index) - _transparent(src, index)) < 0.01, index


def test_f24_alpha_dropped_with_one_warning(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    src, out = CASES / "f24_alpha.webm", tmp_path / "out.mp4"
    assert main(["run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(CASES / "f24_prompts.json"),
                 *CLASSIC]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "alpha" in line and "wrote" not in line]
    assert len(lines) == 1 and "dropped" in lines[0]
    assert next(iter_frames(out)).alpha is None


def test_vp9_alpha_in_matroska(tmp_path: Path) -> None:
    src = _vp9_alpha(tmp_path / "src.mkv")
    frame = next(iter_frames(src))
    assert frame.alpha is not None
    assert (frame.alpha[:, :30] < 16).all() and (frame.alpha[:, 34:] > 240).all()
