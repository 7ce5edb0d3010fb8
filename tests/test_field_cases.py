"""Field cases (tests/data/cases, from /work/shared/cases): the expected results of its README.

* f15 — HEVC Main 10 HDR10 (BT.2020/PQ, mastering display, content light): the output stays
  10-bit with the same tags and HDR metadata, untouched luma within ±0.5 10-bit levels;
* f17 — mono PCM in Matroska ("1 channels", order unspecified) to MP4: AAC audio of the same
  duration; an audio failure names the audio stream, not the video encoder;
* f18 — a ``-ss … -c copy`` cut: 90 packets, an edit list hides 15: 75 frames in and out with
  the timestamps ffmpeg decodes; prompts are validated against 75 frames.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from clips import decoded_planes, ffprobe, ffprobe_frame_side_data, plain_reencode
from editor.api.errors import OutputError, PromptError
from editor.api.masks import read_label_png
from editor.api.prompts import load_prompts
from editor.cli.main import main
from editor.video import streams as streams_module
from editor.video.reader import iter_frames, probe
from editor.video.writer import EncodeOptions, VideoWriter

CASES = Path(__file__).parent / "data" / "cases"
pytestmark = pytest.mark.slow


def _run(*args: str) -> int:
    return main(["-q", *args])


def test_f15_hdr10_stays_10bit_hdr10_with_its_levels(tmp_path: Path) -> None:
    src = CASES / "f15_hdr10.mp4"
    masks, out = tmp_path / "masks", tmp_path / "out.mp4"
    assert _run("track", str(src), "--prompts", str(CASES / "f15_prompts.json"), "-o", str(masks)) == 0
    assert _run("run", str(src), "-o", str(out), "--preset", "blur", "--masks", str(masks)) == 0
    a, b = probe(src), probe(out)
    assert (b.codec, b.pix_fmt, b.bit_depth, b.frame_count) == ("hevc", "yuv420p10le", 10, 90)
    assert b.color == a.color and (b.color.colorspace, b.color.color_primaries, b.color.color_trc) == (9, 9, 16)
    assert b.mastering_display == a.mastering_display and b.content_light == a.content_light
    stream = ffprobe("-select_streams", "v:0", "-show_entries",
                     "stream=pix_fmt,color_space,color_transfer,color_primaries,color_range", str(out))["streams"][0]
    assert stream == {"pix_fmt": "yuv420p10le", "color_space": "bt2020nc", "color_transfer": "smpte2084",
                      "color_primaries": "bt2020", "color_range": "tv"}
    side = {d["side_data_type"]: d for d in ffprobe_frame_side_data(out)}
    wanted = {d["side_data_type"]: d for d in ffprobe_frame_side_data(src)}
    for kind in ("Mastering display metadata", "Content light level metadata"):
        assert side[kind] == wanted[kind], kind
    # untouched pixels keep their levels: against a plain x265 re-encode with the same settings
    md, cll = a.mastering_display, a.content_light
    params = (f"hdr10=1:repeat-headers=1:master-display={md.x265()}:max-cll={cll.max_cll},{cll.max_fall}"
              ":log-level=error")
    ref = plain_reencode(src, tmp_path / "plain.mp4", {"crf": "18", "preset": "medium", "x265-params": params},
                         codec="libx265", threads=0)
    shifts = []
    for k, (po, pr) in enumerate(zip(decoded_planes(out), decoded_planes(ref))):
        mask = read_label_png(masks / f"{k:05d}.png") > 0
        far = cv2.dilate(mask.astype(np.uint8), np.ones((31, 31), np.uint8)) == 0
        shifts.append((po[0][far].astype(np.float64) - pr[0][far]).mean())
    assert abs(np.mean(shifts)) <= 0.5, np.mean(shifts)  # 10-bit code values


def test_f17_mono_pcm_in_matroska_to_mp4(tmp_path: Path) -> None:
    src = CASES / "f17_pcm_mono.mkv"
    out = tmp_path / "out.mp4"
    assert _run("run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(CASES / "f17_prompts.json")) == 0
    info = probe(out)
    assert info.frame_count == 120
    assert [(x.codec, x.channels, x.layout) for x in info.audio] == [("aac", 1, "mono")]
    with av.open(str(src)) as c:
        a = c.streams.audio[0]
        src_seconds = sum(f.samples for f in c.decode(a)) / a.codec_context.sample_rate
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        out_seconds = float(a.duration * a.time_base)
        tone = np.concatenate([f.to_ndarray()[0] for f in c.decode(a)])
    assert abs(out_seconds - src_seconds) < 0.03
    assert np.sqrt(np.mean(tone ** 2)) > 1e-3  # sound, not silence


def test_f17_audio_failure_names_the_audio_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = CASES / "f17_pcm_mono.mkv"
    monkeypatch.setattr(streams_module, "_encoder_opens", lambda *a: False)
    with pytest.raises(OutputError) as err:
        with VideoWriter(tmp_path / "out.mp4", probe(src), EncodeOptions.resolve("auto")) as w:
            for frame in iter_frames(src):
                w.write(frame)
                break
    message = str(err.value)
    assert "audio stream 1 (pcm_s16le)" in message and "aac" in message and "libx264" not in message
    assert not list(tmp_path.iterdir())


def _ffmpeg_pts(path: Path) -> list[float]:
    """Presentation times of the frames ffmpeg decodes (``ffmpeg -i … -f null -`` decodes these)."""
    data = ffprobe("-select_streams", "v:0", "-show_frames", "-show_entries", "frame=best_effort_timestamp_time",
                   str(path))
    return [round(float(f["best_effort_timestamp_time"]), 6) for f in data["frames"]]


def test_f18_edit_list_75_frames_in_and_out(tmp_path: Path) -> None:
    src = CASES / "f18_editlist.mp4"
    with av.open(str(src)) as c:
        assert c.streams.video[0].frames == 90  # what the container claims
    info = probe(src)
    assert info.frame_count == 75
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is not None:
        run = subprocess.run([ffmpeg, "-v", "error", "-i", str(src), "-map", "0:v", "-f", "framemd5", "-"],
                             capture_output=True, text=True, check=True)
        assert len([line for line in run.stdout.splitlines() if line and not line.startswith("#")]) == 75
    expected = _ffmpeg_pts(src)
    assert len(expected) == 75
    frames = list(iter_frames(src))  # no "truncated"
    assert [round(f.time, 6) for f in frames] == expected
    out = tmp_path / "out.mp4"
    assert _run("run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(CASES / "f18_prompts.json")) == 0
    assert probe(out).frame_count == 75
    assert _ffmpeg_pts(out) == expected
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 75


def test_f18_prompts_validated_against_decodable_frames(tmp_path: Path) -> None:
    src = CASES / "f18_editlist.mp4"
    info = probe(src)
    base = json.loads((CASES / "f18_prompts.json").read_text())
    for frame, ok in ((74, True), (75, False), (89, False)):
        base["objects"][0]["prompts"][0]["frame"] = frame
        path = tmp_path / f"p{frame}.json"
        path.write_text(json.dumps(base))
        prompts = load_prompts(path)
        if ok:
            prompts.validate_for_video(info.width, info.height, info.frame_count)
        else:
            with pytest.raises(PromptError, match="the video has 75 frames"):
                prompts.validate_for_video(info.width, info.height, info.frame_count)
