"""background: colour/image/video/blur/transparent on real pixels, soft edges, alpha output."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from clips import write_clip

from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.api.masks import MaskFolderWriter
from editor.pipeline.presets import apply_overrides, build_stages, load_preset
from editor.api.stages import FrameItem, StageContext
from editor.api.frames import Frame, VideoInfo
from editor.video.reader import iter_frames

W, H = 176, 144


@pytest.fixture(scope="module")
def frame(footage: Path) -> np.ndarray:
    return next(iter(iter_frames(footage / "carphone_pristine.mp4"))).image


def _labels() -> np.ndarray:
    lab = np.zeros((H, W), np.uint8)
    cv2.ellipse(lab, (84, 64), (24, 32), 0, 0, 360, 1, -1)
    return lab


def _write_masks(folder: Path, frames: int) -> None:
    masks = MaskFolderWriter(folder, {1: "face"})
    for t in range(frames):
        masks.write(t, _labels())
    masks.close()


def _stage(overrides: list[str], plugin_manager):  # noqa: ANN001, ANN202
    video = VideoInfo("x.mp4", W, H, 0, 4, 4, Fraction(25), Fraction(1, 25), 0.16, "h264", "yuv420p")
    (stage,) = build_stages(apply_overrides(load_preset("background"), overrides), plugin_manager,
                            StageContext(video, {1: "face"}))
    return stage


def _item(img: np.ndarray, i: int = 0) -> FrameItem:
    return FrameItem(Frame(i, img, i, Fraction(1, 25), i / 25), _labels())


def test_colour_keeps_object_and_replaces_rest(frame, plugin_manager) -> None:  # noqa: ANN001
    stage = _stage(['background.mode="color"', "background.color=[0, 255, 0]", 'background.edge="feather"',
                    "background.feather=4"], plugin_manager)
    out = stage.process(_item(frame)).frame.image
    lab = _labels()
    core = cv2.erode(lab, np.ones((9, 9), np.uint8)) > 0
    far = cv2.dilate(lab, np.ones((21, 21), np.uint8)) == 0
    assert np.abs(out[core].astype(int) - frame[core]).max() <= 40  # object essentially kept
    assert (out[far] == [0, 255, 0]).all()
    ring = (cv2.dilate(lab, np.ones((5, 5), np.uint8)) > 0) & (lab == 0)
    mixed = (out[ring] != frame[ring]).any(axis=1) & (out[ring] != [0, 255, 0]).any(axis=1)
    assert mixed.mean() > 0.8  # soft edge: object and background blend in the ring


def test_guided_edge_and_blur(frame, plugin_manager) -> None:  # noqa: ANN001
    stage = _stage([], plugin_manager)  # preset: blur background, guided edges
    out = stage.process(_item(frame)).frame.image
    far = cv2.dilate(_labels(), np.ones((31, 31), np.uint8)) == 0
    lap = lambda img: cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_32F)[far].var()  # noqa: E731
    assert lap(out) < lap(frame) / 5


def test_transparent_sets_alpha(frame, plugin_manager) -> None:  # noqa: ANN001
    stage = _stage(['background.mode="transparent"', 'background.edge="feather"', "background.feather=0"],
                   plugin_manager)
    res = stage.process(_item(frame)).frame
    assert np.array_equal(res.image, frame)
    assert np.array_equal(res.alpha > 127, _labels() > 0)


def test_image_and_video_cover_and_loop(frame, plugin_manager, tmp_path: Path) -> None:  # noqa: ANN001
    pic = np.zeros((50, 300, 3), np.uint8)
    pic[:, :150] = (255, 0, 0)
    pic[:, 150:] = (0, 0, 255)
    cv2.imwrite(str(tmp_path / "bg.png"), pic[..., ::-1])
    stage = _stage(['background.mode="image"', f'background.path="{tmp_path / "bg.png"}"',
                    "background.feather=0", 'background.edge="feather"'], plugin_manager)
    out = stage.process(_item(frame)).frame.image
    assert (out[5, 2] == [255, 0, 0]).all() and (out[5, W - 3] == [0, 0, 255]).all()  # covered, centred
    bg = write_clip(tmp_path / "bg.mp4", [np.full((48, 64, 3), 60 + 120 * t, np.uint8) for t in range(2)],
                    pix_fmt="yuv444p", options={"crf": "0"})
    for loop, expected in ((True, [60, 180, 60, 180]), (False, [60, 180, 180, 180])):
        stage = _stage(['background.mode="video"', f'background.path="{bg}"', f"background.loop={str(loop).lower()}",
                        "background.feather=0", 'background.edge="feather"'], plugin_manager)
        got = [int(stage.process(_item(frame, i)).frame.image[2, 2, 0]) for i in range(4)]
        assert all(abs(g - e) <= 3 for g, e in zip(got, expected)), (loop, got)


def test_png_sequence_with_alpha(frame, tmp_path: Path) -> None:  # noqa: ANN001
    clip = write_clip(tmp_path / "c.mp4", [frame] * 3)
    _write_masks(tmp_path / "m", 3)
    preset = apply_overrides(load_preset("background"), ['background.mode="transparent"', 'background.edge="feather"',
                                                         "background.feather=0"])
    out = tmp_path / "seq" / "f_%03d.png"
    Pipeline().run(RunRequest(input=clip, output=out, preset=preset, masks_dir=tmp_path / "m"))
    files = sorted((tmp_path / "seq").iterdir())
    assert [f.name for f in files] == ["f_000.png", "f_001.png", "f_002.png"]
    rgba = cv2.imread(str(files[1]), cv2.IMREAD_UNCHANGED)
    assert rgba.shape == (H, W, 4)
    assert np.array_equal(rgba[..., 3] > 127, _labels() > 0)


@pytest.mark.parametrize("name, decoder", [("out.mov", None), ("out.webm", "libvpx-vp9")])
def test_transparent_video_outputs_keep_alpha(frame, tmp_path: Path, name: str, decoder: str | None) -> None:  # noqa: ANN001
    """ProRes 4444 .mov and VP9 .webm are picked automatically for frames with alpha."""
    clip = write_clip(tmp_path / "c.mp4", [frame] * 3)
    _write_masks(tmp_path / "m", 3)
    preset = apply_overrides(load_preset("background"), ['background.mode="transparent"', 'background.edge="feather"',
                                                         "background.feather=0"])
    Pipeline().run(RunRequest(input=clip, output=tmp_path / name, preset=preset, masks_dir=tmp_path / "m"))
    with av.open(str(tmp_path / name)) as c:
        stream = c.streams.video[0]
        if decoder:  # FFmpeg's native VP9 decoder ignores the alpha channel; libvpx reads it
            ctx = av.CodecContext.create(decoder, "r")
            frames = [f for p in c.demux(stream) for f in ctx.decode(p)]
        else:
            frames = list(c.decode(stream))
    assert len(frames) == 3 and "a" in frames[1].format.name
    alpha = frames[1].to_ndarray(format="rgba")[..., 3]
    assert np.array_equal(alpha > 127, _labels() > 0)


def test_the_fast_guided_filter_follows_the_full_one(footage) -> None:  # noqa: ANN001
    """He and Sun's subsampled guided filter on a real 720p frame: within a few hundredths of
    the full filter everywhere, and it still snaps the mask's edge to the image's edges
    (alpha far from the edge stays 0 or 1)."""
    import cv2

    from editor.imaging.guided import guided_filter
    from editor.video.reader import iter_frames

    frame = next(f.rgb8 for f in iter_frames(footage / "bigbuckbunny.mp4", deep=False) if f.index == 40)
    h, w = frame.shape[:2]
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (w // 5, h // 3), 0, 0, 360, 1, -1)
    full = guided_filter(frame, mask, 8, subsample=1)
    fast = guided_filter(frame, mask, 8)
    assert fast.shape == (h, w) and fast.dtype == np.float32
    assert float(np.abs(fast - full).max()) < 0.1 and float(np.abs(fast - full).mean()) < 0.005
    inside = cv2.erode(mask, np.ones((41, 41), np.uint8)) > 0
    outside = cv2.dilate(mask, np.ones((41, 41), np.uint8)) == 0
    assert fast[inside].min() > 0.95 and fast[outside].max() < 0.05


def test_guided_filter_and_blend_around_the_mask_equal_the_whole_frame(footage) -> None:  # noqa: ANN001
    """The guided filter and the 8-bit blend work only on the mask's box grown by the filter's
    reach: on a real 720p frame, a person-sized mask in the middle and one at a corner give
    exactly what the whole-frame computation gives (0 far from the mask, the background there)."""
    import cv2

    from editor.imaging.compositing import blend
    from editor.imaging.guided import _guided, guided_filter
    from editor.video.reader import iter_frames

    frame = next(f.rgb8 for f in iter_frames(footage / "bigbuckbunny.mp4", deep=False) if f.index == 40)
    h, w = frame.shape[:2]
    background = cv2.GaussianBlur(frame, (0, 0), 20)
    for centre, axes in (((w // 2, h // 2), (80, 250)), ((30, h - 30), (60, 60))):
        mask = np.zeros((h, w), np.float32)
        cv2.ellipse(mask, centre, axes, 0, 0, 360, 1, -1)
        alpha = guided_filter(frame, mask, 8)
        whole = np.clip(_guided(frame, mask, 8, 1e-3, 2), 0.0, 1.0)
        assert np.array_equal(alpha, whole)
        assert 0 < np.count_nonzero(alpha) < alpha.size // 4  # the filter reached past the mask, not far
        weight = np.ascontiguousarray(alpha)
        assert np.array_equal(blend(background, frame, alpha),
                              cv2.blendLinear(frame, background, weight, 1.0 - weight))
