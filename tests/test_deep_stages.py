"""High bit depth end to end: stages receive the source's depth (uint16 RGB for a 10-bit
source, uint8 for an 8-bit one) and keep it; every built-in stage edits both as it promises;
stages that take only 8-bit frames get 8-bit frames and cost no precision on the pixels
they leave alone; a 10-bit run writes 10-bit with a blur that is not quantised to 8 bits.

Clips are tiny 10-bit FFV1 files written plane by plane with PyAV (lossless, so every
pixel of the output can be compared with the source's decoded planes).
"""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from clips import BT709, decoded_planes, make_clip, write_clip
from editor import hookimpl
from editor.api.frames import Frame, VideoInfo, rgb8
from editor.api.masks import MaskFolderWriter
from editor.api.stages import FrameItem, Stage, StageContext, StageOptions, StageSpec
from editor.cli.main import main
from editor.imaging.compositing import grow
from editor.imaging.depth import from_float, scale_color, to_depth
from editor.pipeline.depth import EightBitStage
from editor.pipeline.orchestrator import Pipeline, RunRequest
from editor.pipeline.presets import apply_overrides, build_stages, load_preset, parse_preset
from editor.video.reader import iter_frames, probe
from editor.video.writer import EncodeOptions

W, H, T = 128, 96, 6
OBJ, SPEED, TOP = 32, 12, 32  # object side, px per frame, top row


def _left(t: int) -> int:
    return 16 + SPEED * t


def _labels(t: int) -> np.ndarray:
    labels = np.zeros((H, W), np.uint8)
    labels[TOP:TOP + OBJ, _left(t):_left(t) + OBJ] = 1
    return labels


def _view(plane: av.video.plane.VideoPlane) -> np.ndarray:
    rows = np.frombuffer(plane, np.uint16).reshape(plane.height, plane.line_size // 2)
    return rows[:, :plane.width]


def _deep_clip(path: Path, *, gray: bool = False, with_object: bool = True) -> Path:
    """A 10-bit 4:2:0 BT.709 FFV1 clip written straight into its planes: a smooth luma ramp
    (10-bit steps, nothing an 8-bit source could hold) with a textured square moving right;
    colourful chroma unless ``gray``."""
    rng = np.random.default_rng(7)
    texture = rng.integers(560, 900, size=(OBJ, OBJ))
    y, x = np.mgrid[0:H, 0:W]
    cy, cx = np.mgrid[0:H // 2, 0:W // 2]
    with av.open(str(path), "w") as c:
        v = c.add_stream("ffv1", rate=25)
        v.width, v.height, v.pix_fmt = W, H, "yuv420p10le"
        v.time_base = v.codec_context.time_base = Fraction(1, 25)
        cc = v.codec_context
        cc.colorspace, cc.color_range, cc.color_primaries, cc.color_trc = BT709
        for t in range(T):
            luma = 180 + 2 * x + y + t
            if with_object:
                luma[TOP:TOP + OBJ, _left(t):_left(t) + OBJ] = texture
            u = np.full(cx.shape, 512) if gray else 512 + (80 * np.sin(cx / 7.0)).astype(int)
            w = np.full(cx.shape, 512) if gray else 512 + (60 * np.cos(cy / 5.0)).astype(int)
            frame = av.VideoFrame(W, H, "yuv420p10le")
            for plane, data in zip(frame.planes, (luma, u, w)):
                _view(plane)[...] = data
            frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc = BT709
            frame.pts, frame.time_base = t, Fraction(1, 25)
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("deep")
    return {"object": _deep_clip(d / "object.mkv"), "background": _deep_clip(d / "bg.mkv", with_object=False),
            "gray": _deep_clip(d / "gray.mkv", gray=True)}


@pytest.fixture(scope="module")
def deep_frames(clips: dict[str, Path]) -> list[Frame]:
    frames = list(iter_frames(clips["object"], deep=True))
    assert len(frames) == T and frames[0].image.dtype == np.uint16
    return frames


def _frames(deep_frames: list[Frame], dtype: type) -> list[Frame]:
    return deep_frames if dtype == np.uint16 else [f.as_8bit() for f in deep_frames]


def _video(path: str = "x.mkv") -> VideoInfo:
    return VideoInfo(path, W, H, 0, T, T, Fraction(25), Fraction(1, 25), T / 25, "ffv1", "yuv420p10le",
                     bit_depth=10)


def _stage(name: str, overrides: list[str], plugin_manager) -> Stage:  # noqa: ANN001
    (stage,) = build_stages(apply_overrides(load_preset(name), overrides), plugin_manager,
                            StageContext(_video(), {1: "box"}))
    return stage


def _apply(stage: Stage, frame: Frame, t: int = 0) -> np.ndarray:
    out = stage.process(FrameItem(frame, _labels(t))).frame.image
    assert out.dtype == frame.image.dtype and out.shape == frame.image.shape
    return out


def _energy(image: np.ndarray, mask: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / np.iinfo(image.dtype).max
    return float(np.mean(cv2.Laplacian(grey, cv2.CV_32F)[mask] ** 2))


INSIDE = cv2.erode(_labels(0), np.ones((7, 7), np.uint8)) > 0
CORE = cv2.erode(_labels(0), np.ones((13, 13), np.uint8)) > 0  # beyond a 2-px feather's reach
FAR = ~grow(_labels(0) > 0, 20)
DEPTHS = pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=["8bit", "16bit"])


def _quantised(values: np.ndarray) -> bool:
    """True when 16-bit values are all 8-bit levels × 257 (what an 8-bit stage gives)."""
    return bool(np.all(values.astype(np.int64) % 257 == 0))


# -- the stage API -------------------------------------------------------------------------
def test_every_builtin_stage_declares_deep(plugin_manager) -> None:  # noqa: ANN001
    builtins = ["blur", "pixelate", "solid", "image", "remove", "background", "overlay", "export-masks"]
    assert all(plugin_manager.stages[name].deep for name in builtins)
    assert StageSpec("x", StageOptions, lambda o, c: Stage()).deep is False  # third-party default: 8-bit


def test_eight_bit_stage_keeps_untouched_pixels_exact(deep_frames: list[Frame]) -> None:
    seen: list[np.dtype] = []

    class Paint(Stage):
        def process(self, item: FrameItem) -> FrameItem:
            seen.append(item.frame.image.dtype)
            image = item.frame.image.copy()
            image[item.labels > 0] = (200, 50, 20)
            alpha = np.full(image.shape[:2], 255, np.uint8)
            alpha[item.labels > 0] = 100
            return FrameItem(item.frame.replace(image, alpha), item.labels)

    class Nothing(Stage):
        def process(self, item: FrameItem) -> FrameItem:
            return item

    frame = deep_frames[0]
    labels = _labels(0)
    out = EightBitStage(Paint()).process(FrameItem(frame, labels)).frame
    assert seen == [np.uint8]
    assert out.image.dtype == np.uint16 and out.alpha is not None and out.alpha.dtype == np.uint16
    assert np.array_equal(out.image[labels == 0], frame.image[labels == 0])  # exact 16-bit values
    assert not _quantised(out.image[labels == 0])
    assert (out.image[labels > 0] == (200 * 257, 50 * 257, 20 * 257)).all()
    assert (out.alpha[labels > 0] == 100 * 257).all() and (out.alpha[labels == 0] == 65535).all()
    same = EightBitStage(Nothing()).process(FrameItem(frame, labels)).frame
    assert same is frame
    eight = deep_frames[1].as_8bit()  # 8-bit frames go through untouched
    assert EightBitStage(Paint()).process(FrameItem(eight, labels)).frame.image.dtype == np.uint8
    streamed = list(EightBitStage(Paint()).run(FrameItem(f, _labels(f.index)) for f in deep_frames))
    assert [it.index for it in streamed] == list(range(T)) and all(it.frame.deep for it in streamed)


def test_rgb8_rounds_to_the_nearest_level() -> None:
    values = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    assert np.array_equal(rgb8(values), np.floor(values / 257 + 0.5).astype(np.uint8))
    levels = values.ravel()[::257]  # 0, 257, …, 65535: the 8-bit levels, and back exactly
    assert len(levels) == 256 and np.array_equal(to_depth(rgb8(levels), np.uint16), levels)
    assert scale_color((255, 0, 128), np.uint16).tolist() == [65535, 0, 128 * 257]


# -- every built-in stage on 8- and 16-bit frames -----------------------------------------
@DEPTHS
def test_blur(deep_frames, dtype, plugin_manager) -> None:  # noqa: ANN001
    frame = _frames(deep_frames, dtype)[0]
    out = _apply(_stage("blur", [], plugin_manager), frame)
    assert _energy(out, INSIDE) < _energy(frame.image, INSIDE) / 10
    assert np.array_equal(out[FAR], frame.image[FAR])
    if dtype == np.uint16:
        assert not _quantised(out[INSIDE])  # blurred at 16 bits, not in 8 and scaled


@DEPTHS
def test_pixelate(deep_frames, dtype, plugin_manager) -> None:  # noqa: ANN001
    frame = _frames(deep_frames, dtype)[0]
    out = _apply(_stage("pixelate", ["pixelate.block=8"], plugin_manager), frame)
    pairs = INSIDE[:, 1:] & INSIDE[:, :-1]
    same = (out[:, 1:] == out[:, :-1]).all(axis=2)
    assert same[pairs].mean() > 0.8 and (frame.image[:, 1:] == frame.image[:, :-1]).all(axis=2)[pairs].mean() < 0.2
    assert np.array_equal(out[FAR], frame.image[FAR])


@DEPTHS
def test_solid(deep_frames, dtype, plugin_manager) -> None:  # noqa: ANN001
    frame = _frames(deep_frames, dtype)[0]
    top = np.iinfo(dtype).max
    out = _apply(_stage("solid", ["solid.color=[255, 0, 10]", "solid.dilate=0", "solid.feather=0"],
                        plugin_manager), frame)
    box = _labels(0) > 0
    assert (out[box] == (top, 0, 10 * top // 255)).all()
    assert np.array_equal(out[~box], frame.image[~box])


@DEPTHS
@pytest.mark.parametrize("picture_depth", [8, 16])
def test_image(deep_frames, dtype, picture_depth, plugin_manager, tmp_path: Path) -> None:  # noqa: ANN001
    frame = _frames(deep_frames, dtype)[0]
    if picture_depth == 8:
        picture, expected = np.full((10, 10, 3), (10, 200, 30), np.uint8), scale_color((10, 200, 30), dtype)
    else:
        picture = np.full((10, 10, 3), (1000, 51400, 7777), np.uint16)
        expected = to_depth(np.array([1000, 51400, 7777], np.uint16), dtype)
    path = tmp_path / "picture.png"
    cv2.imwrite(str(path), np.ascontiguousarray(picture[..., ::-1]))
    preset = parse_preset({"stages": ["image"], "image": {"path": str(path), "fit": "stretch", "dilate": 0,
                                                          "feather": 0}}, "t")
    (stage,) = build_stages(preset, plugin_manager, StageContext(_video(), {1: "box"}))
    out = _apply(stage, frame)
    box = _labels(0) > 0
    assert (out[box] == expected).all()
    assert np.array_equal(out[~box], frame.image[~box])


@DEPTHS
def test_overlay(deep_frames, dtype, plugin_manager) -> None:  # noqa: ANN001
    frame = _frames(deep_frames, dtype)[0]
    out = _apply(_stage("overlay", ["overlay.labels=false", "overlay.outline=0"], plugin_manager), frame)
    inside = _labels(0) > 0
    colour = scale_color((128, 0, 0), dtype).astype(np.float32)  # the palette colour of object 1
    assert np.array_equal(out[inside], from_float(frame.image[inside] * 0.5 + colour * 0.5, dtype))
    assert np.array_equal(out[~inside], frame.image[~inside])
    drawn = _apply(_stage("overlay", [], plugin_manager), frame)  # outline and text: drawn at any depth
    assert np.array_equal(drawn[:TOP - 8], frame.image[:TOP - 8])
    text = drawn[inside & (drawn.max(axis=2) == np.iinfo(dtype).max).reshape(inside.shape)]
    assert len(text), "white text drawn inside the object"


@DEPTHS
@pytest.mark.parametrize("mode", ["color", "image", "video", "blur", "transparent"])
def test_background(deep_frames, dtype, mode, plugin_manager, tmp_path: Path) -> None:  # noqa: ANN001
    frame = _frames(deep_frames, dtype)[0]
    top = np.iinfo(dtype).max
    overrides = [f'background.mode="{mode}"', "background.edge=\"feather\"", "background.feather=2"]
    colour = (0, 177, 64)
    if mode == "image":
        path = tmp_path / "bg.png"
        cv2.imwrite(str(path), np.full((30, 40, 3), colour[::-1], np.uint8))
        overrides.append(f'background.path="{path}"')
    elif mode == "video":
        path = write_clip(tmp_path / "bg.mp4", [np.full((H, W, 3), colour, np.uint8)] * 3, codec="libx264",
                          pix_fmt="yuv444p", options={"qp": "0"})
        overrides.append(f'background.path="{path}"')
    out_item = _stage("background", overrides, plugin_manager).process(FrameItem(frame, _labels(0)))
    out = out_item.frame.image
    assert out.dtype == dtype
    inside = CORE
    if mode == "transparent":
        alpha = out_item.frame.alpha
        assert alpha is not None and alpha.dtype == dtype
        assert (alpha[inside] == top).all() and (alpha[FAR] == 0).all()
        assert np.array_equal(out, frame.image)
        return
    assert np.array_equal(out[inside], frame.image[inside])  # the object is kept exactly
    if mode == "blur":
        assert _energy(out, FAR) < _energy(frame.image, FAR)
        assert np.abs(out[FAR].astype(float) - frame.image[FAR]).mean() > 0
        return
    expected = scale_color(colour, dtype).astype(int)
    tolerance = 0 if mode in ("color", "image") else 2 * (top // 255)  # a lossy 8-bit video: ±2 levels
    assert np.abs(out[FAR].astype(int) - expected).max() <= tolerance


@DEPTHS
def test_remove(clips, deep_frames, dtype, plugin_manager) -> None:  # noqa: ANN001
    frames = _frames(deep_frames, dtype)
    truth = _frames(list(iter_frames(clips["background"], deep=True)), dtype)
    stage = _stage("remove", ["remove.dilate=2", "remove.feather=2", "remove.window=5"], plugin_manager)
    out = list(stage.run(FrameItem(f, _labels(f.index)) for f in frames))
    assert len(out) == T
    top = float(np.iinfo(dtype).max)
    for item, src, bg in zip(out, frames, truth):
        image = item.frame.image
        assert image.dtype == dtype
        hole = _labels(item.index) > 0
        reach = grow(hole, 2 + 2 * 2 + 2)
        assert np.array_equal(image[~reach], src.image[~reach])
        error = np.abs(image[hole].astype(float) - bg.image[hole]).mean() / top
        assert error < 0.01, (item.index, error)  # the background seen in other frames, not the object
        if dtype == np.uint16:
            assert not _quantised(image[hole])


def test_export_masks_passes_10bit_through_and_writes_a_bare_matte(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "src.mkv", codec="ffv1", pix_fmt="yuv420p10le", size=(W, H), frames=T, color=BT709,
                    subtitles=[(0.0, 0.1, "hello")], chapters=[(0.0, 0.1, "one"), (0.1, 0.24, "two")])
    masks = tmp_path / "masks"
    writer = MaskFolderWriter(masks, {1: "box"}, str(src))
    for t in range(T):
        writer.write(t, _labels(t))
    writer.close()
    folder = tmp_path / "export"
    preset = apply_overrides(load_preset("export-masks"), [f'export-masks.folder="{folder}"',
                                                          'export-masks.formats=["matte", "davis"]'])
    out = tmp_path / "out.mkv"
    Pipeline().run(RunRequest(input=src, output=out, preset=preset, masks_dir=masks,
                              encode=EncodeOptions(codec="ffv1", crf=None)))
    assert probe(out).pix_fmt == "yuv420p10le"
    for ps, po in zip(decoded_planes(src), decoded_planes(out)):  # frames pass through, every bit
        assert all(np.array_equal(a, b) for a, b in zip(ps, po))
    with av.open(str(folder / "matte.mp4")) as c:
        assert [s.type for s in c.streams] == ["video"] and not c.chapters()
    with av.open(str(out)) as c:  # the edited video keeps them
        assert sorted(s.type for s in c.streams) == ["subtitle", "video"] and len(c.chapters()) == 2
    matte = [f.image[..., 0] > 127 for f in iter_frames(folder / "matte.mp4")]
    assert all(np.array_equal(m, _labels(t) > 0) for t, m in enumerate(matte))


# -- runs: third-party 8-bit stages, 10-bit blur end to end --------------------------------
class _Recorder:
    """A third-party plugin: ``paint8`` (no ``deep``: 8-bit only) paints the objects a flat
    colour; ``probe16`` (``deep=True``) changes nothing and records what it sees."""

    def __init__(self) -> None:
        self.dtypes: dict[str, list[np.dtype]] = {"paint8": [], "probe16": []}

    @hookimpl
    def editor_register_stages(self, register):  # noqa: ANN001, ANN201
        recorder = self

        class Paint(Stage):
            def process(self, item: FrameItem) -> FrameItem:
                recorder.dtypes["paint8"].append(item.frame.image.dtype)
                if item.frame.image.dtype != np.uint8:
                    raise TypeError("paint8 takes 8-bit frames only")
                image = item.frame.image.copy()
                image[item.labels > 0] = (200, 50, 20)
                return FrameItem(item.frame.replace(image), item.labels)

        class Probe(Stage):
            def process(self, item: FrameItem) -> FrameItem:
                recorder.dtypes["probe16"].append(item.frame.image.dtype)
                return item

        register(StageSpec("paint8", StageOptions, lambda o, c: Paint(), "paint, 8-bit only"))
        register(StageSpec("probe16", StageOptions, lambda o, c: Probe(), "record", deep=True))


def _masks(folder: Path, clip: Path) -> Path:
    writer = MaskFolderWriter(folder, {1: "box"}, str(clip))
    for t in range(T):
        writer.write(t, _labels(t))
    writer.close()
    return folder


def _block_untouched(labels: np.ndarray, shift: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    sy, sx = shift
    m = labels > 0
    if (sy, sx) != (0, 0):
        m = m.reshape(shape[0], 1 << sy, shape[1], 1 << sx).any(axis=(1, 3))
    return ~m


def test_third_party_8bit_stage_gets_8bit_and_untouched_pixels_stay_10bit(
        clips, registered_plugin, tmp_path: Path) -> None:  # noqa: ANN001
    recorder = _Recorder()
    pm = registered_plugin(recorder, "recorder")
    src = clips["object"]
    out = tmp_path / "out.mkv"
    preset = parse_preset({"stages": ["paint8", "probe16"]}, "t")
    Pipeline(pm).run(RunRequest(input=src, output=out, preset=preset, masks_dir=_masks(tmp_path / "m", src),
                                encode=EncodeOptions(codec="ffv1", crf=None)))
    assert recorder.dtypes["paint8"] == [np.dtype(np.uint8)] * T
    assert recorder.dtypes["probe16"] == [np.dtype(np.uint16)] * T  # the next deep stage gets 16 bits again
    assert (probe(out).pix_fmt, probe(out).bit_depth) == ("yuv420p10le", 10)
    for t, (ps, po) in enumerate(zip(decoded_planes(src), decoded_planes(out))):
        for k, (a, b) in enumerate(zip(ps, po)):
            keep = _block_untouched(_labels(t), (0, 0) if k == 0 else (1, 1), a.shape)
            assert np.array_equal(a[keep], b[keep]), (t, k)  # the source's 10-bit values, bit for bit
            assert not np.array_equal(a[~keep], b[~keep])
    painted = next(iter(iter_frames(out, deep=True))).image[CORE]  # away from 4:2:0 chroma edges
    assert np.abs(painted.astype(float) / 257 - (200, 50, 20)).max() < 2


def _levels(src: Path, out: Path) -> tuple[int, int, np.ndarray]:
    """(distinct luma values, their span, the changed-pixel mask of frame 0) in the edited
    pixels of a lossless 10-bit output of the gray clip."""
    y_src, y_out = decoded_planes(src)[0][0], decoded_planes(out)[0][0]
    changed = y_src != y_out
    values = y_out[changed]
    return len(np.unique(values)), int(values.max() - values.min()), changed


def test_10bit_blur_run_end_to_end_keeps_more_than_8_bits(
        clips, registered_plugin, tmp_path: Path) -> None:  # noqa: ANN001
    src = clips["gray"]
    prompts = tmp_path / "p.json"
    # prompted on frame 2: frames 0-1 take the backward pass, from the on-disk frame cache
    prompts.write_text(json.dumps({"version": 1, "objects": [
        {"id": 1, "name": "box", "prompts": [{"frame": 2, "box": [_left(2) - 3, TOP - 3, _left(2) + OBJ + 3,
                                                                  TOP + OBJ + 3]}]}]}))
    out = tmp_path / "out.mkv"
    assert main(["-q", "run", str(src), "-o", str(out), "--preset", "blur", "--prompts", str(prompts),
                 "--codec", "ffv1", "--segmenter", "classic", "--tracker", "classic"]) == 0
    info = probe(out)
    assert (info.pix_fmt, info.bit_depth, info.frame_count) == ("yuv420p10le", 10, T)
    distinct, span, changed = _levels(src, out)
    assert changed.sum() > OBJ * OBJ // 2 and not (changed & ~grow(_labels(0) > 0, 24)).any()
    # gray: an 8-bit blur can reach one 10-bit luma level per 8-bit level (876 / 255 = 3.4
    # apart); the 16-bit blur fills in between
    assert distinct > 1.5 * (span / 3.4 + 1), (distinct, span)
    # the same measure on the same edit made by an 8-bit stage: quantised
    from trackedit_plugins.redact import BlurOptions, BlurStage

    class Blur8:
        @hookimpl
        def editor_register_stages(self, register):  # noqa: ANN001, ANN201
            register(StageSpec("blur8", BlurOptions, BlurStage, "blur, declared 8-bit only"))

    pm = registered_plugin(Blur8(), "blur8")
    masks = tmp_path / "masks"
    assert main(["-q", "track", str(src), "--prompts", str(prompts), "-o", str(masks), "--segmenter", "classic",
                 "--tracker", "classic"]) == 0
    out8 = tmp_path / "out8.mkv"
    Pipeline(pm).run(RunRequest(input=src, output=out8, preset=parse_preset({"stages": ["blur8"]}, "t"),
                                masks_dir=masks, encode=EncodeOptions(codec="ffv1", crf=None)))
    distinct8, span8, _ = _levels(src, out8)
    assert distinct8 <= span8 / 3.4 + 2, (distinct8, span8)


def test_png_sequence_of_a_10bit_run_is_16_bit(clips, tmp_path: Path) -> None:
    src = clips["object"]
    masks = _masks(tmp_path / "m", src)
    transparent = ['background.mode="transparent"', 'background.edge="feather"']
    for preset, overrides, channels in (("blur", [], 3), ("background", transparent, 4)):
        folder = tmp_path / preset
        Pipeline().run(RunRequest(input=src, output=folder / "f_%03d.png", masks_dir=masks,
                                  preset=apply_overrides(load_preset(preset), overrides)))
        frames = list(iter_frames(src, deep=True))
        for t, frame in enumerate(frames):
            png = cv2.imread(str(folder / f"f_{t:03d}.png"), cv2.IMREAD_UNCHANGED)
            assert png.dtype == np.uint16 and png.shape == (H, W, channels)
            rgb = png[..., 2::-1] if channels == 3 else png[..., [2, 1, 0]]
            far = ~grow(_labels(t) > 0, 20)
            if channels == 3:
                assert np.array_equal(rgb[far], frame.image[far])  # the 16-bit decode, exactly
                assert not _quantised(rgb[_labels(t) > 0])
            else:
                core = cv2.erode(_labels(t), np.ones((13, 13), np.uint8)) > 0
                assert (png[..., 3][far] == 0).all() and (png[..., 3][core] == 65535).all()
