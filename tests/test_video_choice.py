"""Which video stream is edited, and what becomes of the others.

* f29 (tests/data/cases, from /work/shared/cases): a 160×90 preview first (not default), the
  640×360 main video second (default): the main video is edited and its prompts are in its
  pixels; the preview is copied packet-exact with one warning, or dropped (``--no-extra-video``);
* the same kind made here: two default streams (the larger is edited), the larger stream not
  default (the default one is edited), cover art first (never edited), ``--video-stream N``;
* attached pictures (cover art) and, in a redacting run, other video streams never reach the
  output unedited: the output carries no picture of a face that is not blurred.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from editor.api.errors import InputError
from editor.api.masks import read_label_png
from editor.cli.main import main
from editor.video.random_access import FrameSource
from editor.video.reader import iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter

CASES = Path(__file__).parent / "data" / "cases"
CLASSIC = ("--segmenter", "classic", "--tracker", "classic")


def _run(*args: str) -> int:
    """The CLI in-process, warnings shown (on stderr)."""
    return main(list(args))


def _videos(path: Path) -> list[tuple[int, int, bool, bool]]:
    """(width, height, default, attached picture) of every video stream."""
    with av.open(str(path)) as c:
        return [(s.codec_context.width, s.codec_context.height, bool(s.disposition & av.stream.Disposition.default),
                 bool(s.disposition & av.stream.Disposition.attached_pic)) for s in c.streams.video]


def _packets(path: Path, width: int) -> list[tuple[object, str]]:
    with av.open(str(path)) as c:
        s = next(s for s in c.streams.video if s.codec_context.width == width)
        return [(p.pts * p.time_base, hashlib.md5(bytes(p)).hexdigest()) for p in c.demux(s) if p.size]


def _laplacian_energy(image: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(np.mean(cv2.Laplacian(grey, cv2.CV_64F) ** 2))


def test_f29_the_default_main_video_is_edited_the_preview_copied(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    src, out = CASES / "f29_twovideo.mkv", tmp_path / "out.mkv"
    info = probe(src)
    assert (info.index, info.width, info.height) == (1, 640, 360)
    assert _run("run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(CASES / "f29_prompts.json"),
                *CLASSIC) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "NOT edited" in line]
    assert len(warnings) == 1 and "video stream 0" in warnings[0]
    edited = probe(out)
    assert (edited.width, edited.height, edited.frame_count) == (640, 360, info.frame_count)
    assert sorted(_videos(out)) == [(160, 90, False, False), (640, 360, True, False)]
    assert _packets(out, 160) == _packets(src, 160)  # the preview as it was
    # the object (80×80 from x = 100 + 2 px per frame, y = 140, in the main video's pixels) is blurred
    for a, b in zip(iter_frames(src, stream=1), iter_frames(out)):
        x = 100 + 2 * a.index
        if x + 80 > 640:
            break
        box = (slice(148, 212), slice(x + 8, x + 72))
        assert _laplacian_energy(b.image[box]) <= 0.1 * _laplacian_energy(a.image[box]), a.index


def test_f29_no_extra_video_drops_the_preview_and_track_uses_the_main_video(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    src, out, masks = CASES / "f29_twovideo.mkv", tmp_path / "out.mp4", tmp_path / "masks"
    assert _run("track", str(src), "--prompts", str(CASES / "f29_prompts.json"), "-o", str(masks), *CLASSIC) == 0
    first = read_label_png(masks / "00000.png")
    assert first.shape == (360, 640) and first[180, 140] == 1
    assert _run("run", str(src), "-o", str(out), "--preset", "blur", "--masks", str(masks), "--no-extra-video") == 0
    assert "NOT edited" not in capsys.readouterr().err
    assert _videos(out) == [(640, 360, True, False)]


def test_video_stream_option_picks_and_checks(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    src = CASES / "f29_twovideo.mkv"
    # the preview picked: the main video's prompts are outside its pixels, said in one line
    code = _run("run", str(src), "-o", str(tmp_path / "o.mkv"), "--preset", "blur", "--video-stream", "0",
                "--prompts", str(CASES / "f29_prompts.json"), *CLASSIC)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "160x90" in err[0]
    assert _run("run", str(src), "-o", str(tmp_path / "o.mkv"), "--preset", "blur", "--video-stream", "2",
                "--prompts", str(CASES / "f29_prompts.json"), *CLASSIC) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no video stream 2" in err[0] and "1 (h264 640x360, default)" in err[0]
    assert not list(tmp_path.iterdir())
    # the Python API
    assert probe(src, 0).size == (160, 90) and next(iter_frames(src, stream=0)).image.shape == (90, 160, 3)
    assert FrameSource(src)[0].image.shape == (360, 640, 3)
    assert FrameSource(src, stream=0)[0].image.shape == (90, 160, 3)
    with pytest.raises(InputError, match="no video stream 2"):
        probe(src, 2)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def _two_sizes(path: Path, *dispositions: str) -> Path:
    """Video stream 0 at 320×240, stream 1 at 160×120 (each a testsrc), with these dispositions."""
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25:duration=0.4",
            "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=0.4",
            "-map", "0", "-map", "1", "-c:v", "libx264",
            *[a for i, d in enumerate(dispositions) for a in (f"-disposition:v:{i}", d)], str(path))
    return path


@pytest.mark.parametrize("suffix,dispositions,size", [
    (".mp4", ("default", "default"), (320, 240)),  # both default (MP4 marks every enabled track): the largest
    (".mkv", ("0", "default"), (160, 120)),         # the default one, though smaller
    (".mkv", ("0", "0"), (320, 240)),               # none default: the largest
])
def test_the_edited_stream_by_disposition_then_size(tmp_path: Path, suffix: str, dispositions: tuple[str, str],
                                                    size: tuple[int, int]) -> None:
    src = _two_sizes(tmp_path / f"src{suffix}", *dispositions)
    info = probe(src)
    assert info.size == size
    assert next(iter_frames(src, stream=info.index)).image.shape[:2] == size[::-1]
    assert next(iter_frames(src)).image.shape[:2] == size[::-1]


def _face_clip(tmp_path: Path, samples_dir: Path, suffix: str) -> tuple[Path, np.ndarray]:
    """8 frames of carphone (a face), a second video stream (the same frames) and carphone's frame
    0 at twice the size as cover art (the largest video stream, but never the edited one)."""
    cover = tmp_path / "cover.jpg"
    _ffmpeg("-i", str(samples_dir / "carphone_pristine.mp4"), "-frames:v", "1", "-vf", "scale=352:288",
            "-q:v", "2", str(cover))
    src = tmp_path / f"src{suffix}"
    carphone = ["-i", str(samples_dir / "carphone_pristine.mp4")]
    videos = ["-frames:v", "8", "-c:v", "libx264", "-disposition:v:0", "default", "-disposition:v:1", "0"]
    if suffix == ".mkv":  # Matroska keeps cover art as an image attachment (a video stream to FFmpeg)
        _ffmpeg(*carphone, *carphone, "-map", "0:v", "-map", "1:v", *videos,
                "-attach", str(cover), "-metadata:s:t", "mimetype=image/jpeg", "-metadata:s:t", "filename=cover.jpg",
                str(src))
    else:
        _ffmpeg("-i", str(cover), *carphone, *carphone, "-map", "1:v", "-map", "2:v", "-map", "0",
                *videos, "-c:v:2", "mjpeg", "-disposition:v:2", "attached_pic", str(src))
    return src, cv2.cvtColor(cv2.imread(str(cover)), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_cover_art_and_other_videos_never_show_what_a_redacting_run_hides(tmp_path: Path, samples_dir: Path,
                                                                          suffix: str, capsys) -> None:  # noqa: ANN001
    src, cover = _face_clip(tmp_path, samples_dir, suffix)
    assert sorted(v[:2] + v[3:] for v in _videos(src)) == [(176, 144, False), (176, 144, False), (352, 288, True)]
    info = probe(src)
    assert info.size == (176, 144)  # not the larger cover
    # a prompted run: the cover is dropped with one warning, the other video copied with one
    out = tmp_path / f"prompted{suffix}"
    prompts = tmp_path / "p.json"
    prompts.write_text('{"version":1,"objects":[{"id":1,"name":"face","prompts":[{"frame":0,"box":[50,20,130,110]}]}]}')
    assert _run("run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(prompts), *CLASSIC) == 0
    err = capsys.readouterr().err
    assert err.count("attached picture") == 1 and err.count("NOT edited") == 1
    assert [v[3] for v in _videos(out)] == [False, False]
    # a redacting run: the other video stream is dropped; the cover is kept with its faces blurred
    out = tmp_path / f"detected{suffix}"
    assert _run("run", str(src), "-o", str(out), "--preset", "blur", "--detect", "faces", "--detect-every", "4",
                *CLASSIC) == 0
    err = capsys.readouterr().err
    assert "attached picture" not in err and err.count("redacting run") == 1
    assert sorted(_videos(out)) == [(176, 144, True, False), (352, 288, False, True)]
    assert probe(out).frame_count == 8
    faces = [d for d in _faces(cover) if d.score >= 0.5]
    assert faces  # the cover shows a face
    kept = _cover(out)
    for d in faces:  # and no face of it keeps its detail
        x0, y0, x1, y1 = (int(v) for v in d.box)
        assert _laplacian_energy(kept[y0:y1, x0:x1]) <= 0.1 * _laplacian_energy(cover[y0:y1, x0:x1])
    # untouched, away from the faces
    assert np.abs(kept[:, :40].astype(int) - cover[:, :40]).mean() < 3


@pytest.mark.parametrize("suffix", [".webm", ".gif"])
def test_a_cover_the_output_format_cannot_hold_is_dropped_with_one_line(tmp_path: Path, samples_dir: Path,
                                                                       suffix: str, capsys) -> None:  # noqa: ANN001
    """WebM and GIF hold no picture stream: a redacting run of an MP4 with cover art writes the
    video without it and says so once (a newcomer's run stopped with "internal error: 'webm'
    format does not support 'png' codec")."""
    src, _ = _face_clip(tmp_path, samples_dir, ".mp4")
    out = tmp_path / f"out{suffix}"
    assert _run("run", str(src), "-o", str(out), "--preset", "blur", "--detect", "faces", "--detect-every", "4",
                *CLASSIC) == 0
    err = capsys.readouterr().err
    assert err.count("cannot hold an attached picture") == 1, err
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams if s.type == "video"] == ["video"]
        assert not any(s.disposition & av.stream.Disposition.attached_pic for s in c.streams)
    assert probe(out).frame_count == 8


def _faces(image: np.ndarray) -> list:  # noqa: ANN001
    from editor.detection.detect import resolve_detectors
    from editor.pipeline.plugin_manager import PluginManager

    return resolve_detectors(["faces"], PluginManager())["faces"].detect(image, 0)


def _cover(path: Path) -> np.ndarray:
    """The attached picture of ``path`` (an MP4 cover stream or a Matroska image attachment), RGB."""
    with av.open(str(path)) as c:
        s = next(s for s in c.streams.video if s.disposition & av.stream.Disposition.attached_pic)
        return next(iter(c.decode(s))).to_ndarray(format="rgb24")


def test_writer_drops_other_videos_when_redacting(tmp_path: Path) -> None:
    src = CASES / "f29_twovideo.mkv"
    out = tmp_path / "out.mkv"
    with VideoWriter(out, probe(src), EncodeOptions.resolve(redacts=True)) as w:
        for frame in iter_frames(src, stream=1):
            w.write(frame)
            if frame.index == 5:
                break
    assert _videos(out) == [(640, 360, True, False)]


@pytest.mark.parametrize("stream,size", [(None, (640, 360)), (0, (160, 90))])
def test_the_ui_opens_the_edited_stream(tmp_path: Path, plugin_manager, stream: int | None,  # noqa: ANN001
                                        size: tuple[int, int]) -> None:
    from starlette.testclient import TestClient

    from editor.ui.server import UiConfig, create_app

    origin = "http://127.0.0.1:8765"
    app = create_app(UiConfig(CASES / "f29_twovideo.mkv", work_root=tmp_path / "ui", token="t", video_stream=stream),
                     plugin_manager)
    with TestClient(app, base_url=origin, headers={"Origin": origin}) as c:
        assert c.get("/?token=t").status_code == 200
        s = c.post("/api/sessions", json={}).json()
        assert (s["width"], s["height"]) == size
        jpeg = c.get(f"/api/sessions/{s['id']}/frames/3.jpg")
        image = cv2.imdecode(np.frombuffer(jpeg.content, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape[:2] == size[::-1]
