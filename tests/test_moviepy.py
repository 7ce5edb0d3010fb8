"""editor.moviepy with real moviepy 2: TrackedEdit edits the clip's own frames (subclip,
speed and resize applied) through the pipeline's stages, keeping every other pixel, the
frame count and the duration; mask_clip gives the masks folder's values."""
from __future__ import annotations

import gc
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from clips import write_clip

moviepy = pytest.importorskip("moviepy", reason="the moviepy extra is not installed")

from editor.api.errors import InputError  # noqa: E402
from editor.api.masks import MaskFolderWriter  # noqa: E402
from editor.backends.assembly import BackendChoice  # noqa: E402
from editor.moviepy import TrackedEdit, mask_clip  # noqa: E402

W, H, FPS, T = 160, 120, 25, 60
SIDE = 36


def _base_frame(t: float) -> np.ndarray:
    """A dark static texture with a bright checkered square moving right."""
    yy, xx = np.mgrid[0:H, 0:W]
    image = np.stack([(xx * 7 + yy * 3) % 40, (xx * 3 + yy * 5) % 40 + 5, np.full_like(xx, 20)], -1)
    x0, y0 = int(10 + 40 * t), 40
    check = np.where(((yy - y0) // 6 + (xx - x0) // 6) % 2 == 0, 255, 150)
    inside = (xx >= x0) & (xx < x0 + SIDE) & (yy >= y0) & (yy < y0 + SIDE)
    image[inside] = check[inside, None]
    return image.astype(np.uint8)


@pytest.fixture
def clip():  # noqa: ANN201
    """The clip a user edits: a subclip, played twice as fast, scaled to 3/4."""
    from moviepy import VideoClip
    from moviepy.video.fx import MultiplySpeed

    base = VideoClip(frame_function=_base_frame, duration=T / FPS).with_fps(FPS)
    return base.subclipped(0.4, 2.0).with_effects([MultiplySpeed(2)]).resized(0.75)


def _object(frame: np.ndarray) -> np.ndarray:
    return frame.min(axis=2) > 100


def test_masks_edit_only_the_object_and_keep_timing(clip, tmp_path: Path) -> None:  # noqa: ANN001
    frames = list(clip.iter_frames(dtype="uint8"))
    assert frames[0].shape == (90, 120, 3) and len(frames) == 20
    writer = MaskFolderWriter(tmp_path / "masks", {1: "square"}, "")
    for i, frame in enumerate(frames):
        writer.write(i, _object(frame).astype(np.uint8))
    writer.close()

    edited = clip.with_effects([TrackedEdit(preset="solid", masks=tmp_path / "masks",
                                            set={"solid.color": [255, 0, 0], "solid.dilate": 0})])
    assert edited.duration == pytest.approx(clip.duration) and edited.fps == clip.fps
    out = list(edited.iter_frames(dtype="uint8"))
    assert len(out) == len(frames)
    moved = 0
    for before, after in zip(frames, out):
        inside = _object(before)
        assert inside.sum() > 200
        assert (after[inside] == [255, 0, 0]).all()
        assert np.array_equal(after[~inside], before[~inside])  # lossless round trip elsewhere
        moved += 1
    assert moved == 20
    # the same frame at any time within it (moviepy asks for i / fps, and times between)
    assert np.array_equal(edited.get_frame(5 / clip.fps + 0.01), out[5])
    # the scratch folder lives as long as a clip reads from it
    scratch = list(Path(tempfile.gettempdir()).glob(f"trackedit-{os.getpid()}-moviepy-*"))
    assert len(scratch) == 1 and (scratch[0] / "edited.mkv").is_file()
    del edited
    gc.collect()
    assert not scratch[0].exists()


def test_prompts_track_on_the_clips_frames(clip, tmp_path: Path) -> None:  # noqa: ANN001
    frames = list(clip.iter_frames(dtype="uint8"))
    ys, xs = np.nonzero(_object(frames[0]))
    box = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps({"version": 1, "objects": [
        {"id": 1, "name": "square", "prompts": [{"frame": 0, "box": box}]}]}))
    edited = clip.with_effects([TrackedEdit(preset="blur", prompts=prompts,
                                            backends=BackendChoice("classic", "classic", device="cpu"))])
    out = list(edited.iter_frames(dtype="uint8"))
    assert len(out) == len(frames)
    for i, (before, after) in enumerate(zip(frames, out)):
        inside = _object(before)
        diff = np.abs(after.astype(int) - before.astype(int)).max(axis=2)
        # the checkered object is blurred where it is on this frame of the clip…
        assert diff[inside].mean() > 25, i
        # … and the frame far from it (beyond dilate + feather + the blur's reach) is untouched
        ys, xs = np.nonzero(inside)
        far = np.ones(inside.shape, bool)
        far[max(0, ys.min() - 24):ys.max() + 25, max(0, xs.min() - 24):xs.max() + 25] = False
        assert far.sum() > 1000 and (diff[far] == 0).all(), i


def test_needs_objects_and_fps(clip) -> None:  # noqa: ANN001
    from moviepy import ColorClip

    from editor.api.errors import TrackeditError

    with pytest.raises(TrackeditError, match="needs prompts, masks or detect"):
        clip.with_effects([TrackedEdit(preset="blur")])
    with pytest.raises(TrackeditError, match="fps"):
        ColorClip((16, 16), (0, 0, 0), duration=1).with_effects([TrackedEdit(preset="blur", masks="m")])


def test_mask_clip_values_and_compositing(tmp_path: Path) -> None:
    from moviepy import ColorClip, CompositeVideoClip, VideoClip

    labels = []
    for t in range(12):
        lab = np.zeros((H, W), np.uint8)
        lab[30:90, 20 + 5 * t:60 + 5 * t] = 3
        lab[0:10, 0:10] = 7
        labels.append(lab)
    source = write_clip(tmp_path / "src.mp4", (np.zeros((H, W, 3), np.uint8) for _ in labels), rate=FPS)
    writer = MaskFolderWriter(tmp_path / "masks", {3: "person", 7: "logo"}, str(source))
    for t, lab in enumerate(labels):
        writer.write(t, lab)
    writer.close()

    mask = mask_clip(tmp_path / "masks", "person")
    assert mask.is_mask and mask.fps == FPS and mask.duration == pytest.approx(12 / FPS)
    got = list(mask.iter_frames())
    assert len(got) == 12
    for t, frame in enumerate(got):
        assert frame.dtype == np.float64 and np.array_equal(frame, (labels[t] == 3).astype(float))
    assert np.array_equal(mask_clip(tmp_path / "masks", 7, fps=10).get_frame(0.35), (labels[3] == 7) * 1.0)
    with pytest.raises(InputError, match="no object named 'nobody'.*3 person, 7 logo"):
        mask_clip(tmp_path / "masks", "nobody")

    # a title passing behind the person: the person (from the footage, through its mask) on top
    footage = VideoClip(frame_function=lambda t: np.full((H, W, 3), 90, np.uint8), duration=12 / FPS).with_fps(FPS)
    title = ColorClip((W, 20), (255, 255, 0), duration=12 / FPS).with_position((0, 50))
    person = footage.with_mask(mask)
    composite = CompositeVideoClip([footage, title, person])
    frame = composite.get_frame(4 / FPS)
    on_person = labels[4] == 3
    band = np.zeros((H, W), bool)
    band[50:70] = True
    assert (frame[band & on_person] == 90).all()          # behind the person
    assert (frame[band & ~on_person] == [255, 255, 0]).all()  # in front of the rest


def test_detect_faces_on_the_clips_frames(footage: Path, tmp_path: Path) -> None:
    """``detect=["faces"]`` on a subclip scaled up by 1.5: the face CenterFace finds on the
    clip's own frames is blurred, pixels far from it are the clip's."""
    from fractions import Fraction

    from moviepy import VideoFileClip

    from editor.api.backends import BackendContext
    from editor.detection.detect import detect_objects
    from editor.detection.options import DetectOptions
    from editor.pipeline.plugin_manager import PluginManager
    from editor.video.inputs import rgb_video

    plugins = PluginManager(external=False)
    reason = plugins.detectors["faces"].unavailable(BackendContext(), plugins.detectors["faces"].options_model())
    if reason:
        pytest.skip(f"faces detector not available: {reason}")
    with VideoFileClip(str(footage / "carphone_pristine.mp4")) as source:
        clip = source.subclipped(1, 2).resized(1.5)
        frames = list(clip.iter_frames(dtype="uint8"))
        edited = list(clip.with_effects([TrackedEdit(preset="blur", detect=["faces"])]).iter_frames(dtype="uint8"))
    assert len(edited) == len(frames) and frames[0].shape == (216, 264, 3)
    # the reference: the detector on the same frames
    rgb_video(frames, Fraction(clip.fps).limit_denominator(1001), tmp_path / "frames.mkv")
    found = detect_objects(tmp_path / "frames.mkv", ["faces"], DetectOptions(every=1), plugins=plugins)
    boxes = {o.frame: o.box for track in found.tracks for o in track.observations}
    assert len(boxes) >= 0.9 * len(frames)
    for i, (before, after) in enumerate(zip(frames, edited)):
        if i not in boxes:
            continue
        x0, y0, x1, y1 = (int(round(v)) for v in boxes[i])
        changed = np.abs(after.astype(int) - before.astype(int)).max(axis=2)
        assert (changed[y0:y1, x0:x1] > 6).mean() > 0.5, i
        reach = int(0.35 * max(x1 - x0, y1 - y0)) + 24
        far = np.ones(changed.shape, bool)
        far[max(0, y0 - reach):y1 + reach, max(0, x0 - reach):x1 + reach] = False
        assert far.any() and changed[far].max() == 0, i
