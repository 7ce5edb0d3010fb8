"""Interlaced sources stay interlaced with their field order (f21: PAL 25i H.264, top field
first; made here: bottom field first H.264 in Matroska, MPEG-2 top field first), said in one
log line; ``--deinterlace`` (bwdif / yadif) makes them progressive when asked."""
from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from clips import ffprobe
from editor.cli.main import main
from editor.video.reader import iter_frames, probe

CASES = Path(__file__).parent / "data" / "cases"
CLASSIC = ("--segmenter", "classic", "--tracker", "classic")


def _fields(path: Path) -> tuple[str, list[tuple[int, int]]]:
    """(the stream's field_order, (interlaced_frame, top_field_first) of the first frames) as ffprobe shows them."""
    order = ffprobe("-select_streams", "v:0", "-show_entries", "stream=field_order", str(path))["streams"][0]
    frames = ffprobe("-select_streams", "v:0", "-read_intervals", "%+#3", "-show_frames", "-show_entries",
                     "frame=interlaced_frame,top_field_first", str(path))["frames"]
    return order.get("field_order", "unknown"), [(f["interlaced_frame"], f["top_field_first"]) for f in frames]


def _energy(image: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(np.mean(cv2.Laplacian(grey, cv2.CV_64F) ** 2))


def _assert_blurred(src: Path, out: Path) -> None:
    """Inside the red object of every source frame, the output has at most a tenth of its detail."""
    n = 0
    for a, b in zip(iter_frames(src), iter_frames(out)):
        red = a.image[..., 0].astype(int) - a.image[..., 1] > 60
        ys, xs = np.nonzero(red)
        if red.sum() < 5000 or xs.max() - xs.min() < 60:
            continue  # out of the frame, or leaving it
        box = (slice(ys.min() + 8, ys.max() - 7), slice(xs.min() + 8, xs.max() - 7))
        assert _energy(b.image[box]) <= 0.1 * _energy(a.image[box]), a.index
        n += 1
    assert n > 20


def test_f21_stays_interlaced_top_field_first(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    src, out = CASES / "f21_interlaced.mp4", tmp_path / "out.mp4"
    assert probe(src).field_order == "tt"
    assert main(["run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(CASES / "f21_prompts.json"),
                 *CLASSIC]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines()
             if "trackedit: wrote" not in line and "to review for" not in line]  # the notice alone
    assert len(lines) == 1 and "top field first" in lines[0]
    assert _fields(out) == ("tt", [(1, 1)] * 3)
    assert probe(out).frame_count == probe(src).frame_count
    _assert_blurred(src, out)


@pytest.mark.parametrize("deinterlacer", ["bwdif", "yadif"])
def test_f21_deinterlaced_on_request(tmp_path: Path, deinterlacer: str, capsys) -> None:  # noqa: ANN001
    src, out = CASES / "f21_interlaced.mp4", tmp_path / "out.mp4"
    assert main(["run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(CASES / "f21_prompts.json"),
                 "--deinterlace", deinterlacer, *CLASSIC]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines()
             if "trackedit: wrote" not in line and "to review for" not in line]  # the notice alone
    assert len(lines) == 1 and deinterlacer in lines[0] and "progressive" in lines[0]
    assert _fields(out) == ("progressive", [(0, 0)] * 3)
    assert probe(out).frame_count == probe(src).frame_count
    # the comb of the moving object is gone: rows 230–330 (the object's) alternate far less
    a = next(iter_frames(src)).image[230:330].astype(np.float64)
    b = next(iter_frames(src, deinterlace=deinterlacer)).image[230:330].astype(np.float64)
    assert np.abs(np.diff(b, 2, axis=0)).mean() < 0.5 * np.abs(np.diff(a, 2, axis=0)).mean()


@pytest.mark.parametrize("codec,suffix,out_suffix,order", [("libx264", ".mkv", ".mkv", "bb"),
                                                            ("mpeg2video", ".mpg", ".mp4", "tt"),
                                                            ("mpeg2video", ".mpg", ".mkv", "bb")])
def test_other_interlaced_sources_keep_their_field_order(tmp_path: Path, codec: str, suffix: str, out_suffix: str,
                                                         order: str) -> None:
    src = tmp_path / f"src{suffix}"
    field = "tff" if order == "tt" else "bff"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=0.6",
                    "-vf", f"setfield={field}", "-flags", "+ildct+ilme", "-c:v", codec, "-field_order", order,
                    str(src)], check=True)
    assert probe(src).field_order == order
    out = tmp_path / f"out{out_suffix}"
    masks = tmp_path / "none.json"
    masks.write_text('{"version":1,"objects":[{"id":1,"name":"a","prompts":[{"frame":0,"box":[10,10,60,60]}]}]}')
    assert main(["-q", "run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(masks), *CLASSIC]) == 0
    tff = int(order == "tt")
    assert _fields(out) == (order, [(1, tff)] * 3)


def test_x265_codes_woven_frames_tagged_and_says_so(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """libx265 through FFmpeg cannot code interlaced frames: x265's field coding takes each
    field as a picture of its own, and FFmpeg's HEVC decoder returns those as half-height
    frames at twice the rate. So an interlaced source (here bottom field first, with real
    combing: two instants per frame) is coded frame by frame, both fields woven in their
    rows, the stream tagged with the source's field order, and one warning says so and
    names libx264 for field coding."""
    src, out = tmp_path / "src.mkv", tmp_path / "out.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=50:duration=0.48",
                    "-vf", "tinterlace=interleave_bottom,setfield=bff", "-flags", "+ildct+ilme", "-c:v", "libx264",
                    "-field_order", "bb", "-crf", "10", str(src)], check=True)
    info = probe(src)
    assert info.field_order == "bb" and info.frame_count == 12
    prompts = tmp_path / "p.json"
    prompts.write_text('{"version":1,"objects":[{"id":1,"name":"a","prompts":[{"frame":0,"box":[4,4,40,40]}]}]}')
    assert main(["run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(prompts), "--codec", "libx265",
                 "--encoder-preset", "ultrafast", *CLASSIC]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "interlaced" in line]
    assert len(warnings) == 1 and all(w in warnings[0] for w in ("libx265", "woven", "bottom field first", "libx264"))
    order, flags = _fields(out)
    assert order == "bb" and flags == [(0, 0)] * 3  # tagged, coded as frames: no field flags to pretend
    got = probe(out)
    assert (got.codec, got.width, got.height, got.frame_count) == ("hevc", 320, 240, 12)  # not fields
    n = 0
    for a, b in zip(iter_frames(src), iter_frames(out)):
        x, y = a.image[60:, 60:].astype(float), b.image[60:, 60:].astype(float)  # away from the blurred box
        swapped = x.copy()
        swapped[0::2], swapped[1::2] = x[1::2], x[0::2]
        comb = np.abs(swapped - x).max(axis=2) > 40  # where the two instants differ
        right, wrong = np.abs(y - x)[comb].mean(), np.abs(y - swapped)[comb].mean()
        assert right < 0.2 * wrong, (a.index, right, wrong)  # each field in its own rows
        n += comb.sum() > 500
    assert n == 12
