"""remove: temporal fill from the window and the shot's memory, exemplar-based synthesis for
what no frame shows, carried along the camera's motion (no flicker); pixels outside the hole
are bit-identical; the shadow option. (Inpainters registered by plugins: test_plugins.py.)

Goals of issue #28, asserted with margins on clips made in code with a known background
(:mod:`editor.evaluation.removal`): never-seen background ≥ Telea + 4 dB, seen background
≥ 35 dB, flicker ≤ 3 levels per frame."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from editor.api.frames import Frame, VideoInfo
from editor.api.stages import FrameItem, StageContext
from editor.evaluation.metrics import psnr, ssim
from editor.evaluation.removal import held_in_frame_clip, panning_clip, score_removal
from editor.evaluation.synthetic import PastedObjectClip, brick_wall, face_sprite
from editor.imaging.background_memory import EMPTY, OBSERVED, SYNTHETIC, BackgroundMemory
from editor.imaging.compositing import grow
from editor.imaging.inpaint import telea
from editor.imaging.patch_synthesis import complete
from editor.imaging.shadow import attached_shadow
from editor.pipeline.presets import apply_overrides, build_stages, load_preset
from editor.video.reader import iter_frames

TELEA_ONLY = ["remove.window=0", "remove.memory=false", "remove.inpainter=telea"]


@pytest.fixture(scope="module")
def face(footage: Path) -> np.ndarray:
    return next(iter(iter_frames(footage / "carphone_pristine.mp4"))).image


@pytest.fixture(scope="module")
def clip(footage: Path, face: np.ndarray) -> PastedObjectClip:
    bg = next(f.image for f in iter_frames(footage / "bigbuckbunny.mp4") if f.index == 5)
    bg = cv2.resize(bg, (640, 360), interpolation=cv2.INTER_AREA)
    sprite, mask = face_sprite(face)
    return PastedObjectClip(bg, sprite, mask, frames=30, pan=4.0)


def _video(width: int, height: int, frames: int) -> VideoInfo:
    return VideoInfo("s", width, height, 0, frames, frames, Fraction(25), Fraction(1, 25), frames / 25, "raw", "rgb24")


def _run(clip: PastedObjectClip, plugin_manager, overrides: list[str]):  # noqa: ANN001, ANN202
    (stage,) = build_stages(apply_overrides(load_preset("remove"), overrides), plugin_manager,
                            StageContext(_video(clip.width, clip.height, clip.frames), {1: "face"}))
    items = list(stage.run(clip.items()))
    stage.close()
    return items, stage


def _quality(clip: PastedObjectClip, items) -> tuple[float, float]:  # noqa: ANN001
    ps, ss = [], []
    for it in items:
        hole = clip.frame(it.index)[1] > 0
        if hole.sum() > 100:
            truth = clip.true_background(it.index)
            ps.append(psnr(it.frame.image, truth, hole))
            ss.append(ssim(it.frame.image, truth, hole))
    return float(np.mean(ps)), float(np.mean(ss))


def test_temporal_fill_clearly_beats_spatial_on_a_pan(clip, plugin_manager) -> None:  # noqa: ANN001
    temporal, stage = _run(clip, plugin_manager, [])
    spatial, _ = _run(clip, plugin_manager, TELEA_ONLY)
    pt, st = _quality(clip, temporal)
    ps, ss = _quality(clip, spatial)
    assert pt > ps + 10, (pt, ps)
    assert pt > 35 and st > 0.9, (pt, st)
    assert np.mean(stage.temporal_fractions) > 0.9


def test_never_seen_background_is_synthesised_from_patches_and_does_not_flicker(face, plugin_manager) -> None:  # noqa: ANN001
    """Held in frame (the camera follows the object): half of the hidden background is never
    shown. Goals: ≥ Telea + 4 dB there, flicker ≤ 3 levels per frame (asserted: + 6 dB, ≤ 1.5)."""
    held = held_in_frame_clip(face)
    ours = score_removal(held, _run(held, plugin_manager, [])[0])
    spatial = score_removal(held, _run(held, plugin_manager, TELEA_ONLY)[0])
    assert ours.never_seen_share > 0.4, ours
    assert ours.psnr_never_seen_db > spatial.psnr_never_seen_db + 6, (ours, spatial)
    assert ours.flicker < 1.5 < 4 < spatial.flicker, (ours, spatial)  # Telea re-guesses every frame


def test_seen_background_is_copied_exactly_on_a_pan(face, plugin_manager) -> None:  # noqa: ANN001
    """Goals: ≥ 35 dB where the background is seen, flicker ≤ 3 (asserted: ≥ 38 dB, ≤ 1.5)."""
    pan = panning_clip(face)
    ours = score_removal(pan, _run(pan, plugin_manager, [])[0])
    assert ours.never_seen_share == 0
    assert ours.psnr_seen_db > 38 and ours.ssim > 0.98 and ours.flicker < 1.5, ours


@pytest.mark.parametrize("overrides", [[], ["remove.memory=false", "remove.window=3"]], ids=["memory", "window"])
def test_two_workers_give_the_same_pixels_as_one(face, plugin_manager, overrides) -> None:  # noqa: ANN001
    """``workers = 2`` (frame t + 1 prepared while frame t is completed on a second thread)
    changes no pixel: the held-in-frame clip exercises the window, the memory, the carried
    fill and the synthesis."""
    held = held_in_frame_clip(face)
    one, _ = _run(held, plugin_manager, overrides + ["remove.workers=1"])
    two, stage = _run(held, plugin_manager, overrides + ["remove.workers=2"])
    assert stage.options.workers == 2 and len(one) == len(two) == held.frames
    assert [it.index for it in two] == list(range(held.frames))
    for a, b in zip(one, two):
        assert np.array_equal(a.frame.image, b.frame.image), a.index


def _static_wall_with_returning_object(frames: int = 20) -> tuple[np.ndarray, list[FrameItem]]:
    """A still camera on a brick wall; a grey disc hides the same place on frames 0–4 and
    15–19 and is gone on 5–14."""
    wall = brick_wall(240, 160, seed=3)
    items = []
    for t in range(frames):
        img, labels = wall.copy(), np.zeros(wall.shape[:2], np.uint8)
        if t < 5 or t >= 15:
            cv2.circle(labels, (120, 80), 30, 1, -1)
            img[labels > 0] = 128
        items.append(FrameItem(Frame(t, img, t, Fraction(1, 25), t / 25), labels))
    return wall, items


def test_a_run_stopped_early_with_two_workers_ends_cleanly(plugin_manager) -> None:  # noqa: ANN001
    """The consumer stops after two frames (an error downstream): the frame in flight on the
    second thread is waited for, nothing hangs, and the frames given are those of one worker."""
    _, items = _static_wall_with_returning_object()
    outputs = {}
    for workers in (1, 2):
        (stage,) = build_stages(apply_overrides(load_preset("remove"), ["remove.window=2", f"remove.workers={workers}"]),
                                plugin_manager, StageContext(_video(240, 160, 20), {1: "disc"}))
        run = stage.run(iter(items))
        outputs[workers] = [next(run).frame.image, next(run).frame.image]
        run.close()
        stage.close()
    assert all(np.array_equal(a, b) for a, b in zip(outputs[1], outputs[2]))


def test_background_seen_outside_the_window_replaces_the_synthesis(plugin_manager) -> None:  # noqa: ANN001
    """The shot's memory: what frames 5–14 showed fills the hole on frames 15–19, beyond a
    window of 2 frames; without the memory those frames are synthesised again."""
    wall, items = _static_wall_with_returning_object()
    results = {}
    for memory in ("true", "false"):
        (stage,) = build_stages(apply_overrides(load_preset("remove"), ["remove.window=2", f"remove.memory={memory}"]),
                                plugin_manager, StageContext(_video(240, 160, 20), {1: "disc"}))
        results[memory] = list(stage.run(iter(items)))
        stage.close()
    hole = items[0].labels > 0
    late = [psnr(it.frame.image, wall, hole) for it in results["true"][15:]]
    early = [psnr(it.frame.image, wall, hole) for it in results["true"][:3]]  # 3, 4: the window sees 5, 6
    forgotten = [psnr(it.frame.image, wall, hole) for it in results["false"][17:]]  # 15, 16: it sees 13, 14
    assert min(late) > 40, late
    assert max(early) < 35 and max(forgotten) < 35, (early, forgotten)
    # the synthesis of frame 0 was made once and carried: the same pixels on frames 1 and 2
    # (up to the resampling of a homography estimated as almost the identity)
    first = results["true"][0].frame.image[hole].astype(np.float32)
    changes = [float(np.abs(it.frame.image[hole] - first).mean()) for it in results["true"][1:3]]
    assert max(changes) < 1.0, changes


def test_objects_kept_in_the_picture_are_not_remembered_as_background(plugin_manager) -> None:  # noqa: ANN001
    """A kept object (id 2, magenta) stands where the removed one (id 1) was, then the removed
    one comes back: its hole must not be filled with the kept object."""
    wall = brick_wall(240, 160, seed=4)
    items = []
    for t in range(16):
        img, labels = wall.copy(), np.zeros(wall.shape[:2], np.uint8)
        oid, colour = (2, (255, 0, 255)) if 5 <= t < 10 else (1, (128, 128, 128))
        cv2.circle(labels, (120, 80), 30, oid, -1)
        img[labels > 0] = colour
        items.append(FrameItem(Frame(t, img, t, Fraction(1, 25), t / 25), labels))
    (stage,) = build_stages(apply_overrides(load_preset("remove"), ["remove.window=2", "remove.objects=[1]"]),
                            plugin_manager, StageContext(_video(240, 160, 16), {1: "removed", 2: "kept"}))
    out = list(stage.run(iter(items)))
    stage.close()
    disc = items[0].labels > 0
    for it in out[12:]:
        px = it.frame.image[disc].astype(int)
        magenta = (px[:, 0] > 200) & (px[:, 1] < 60) & (px[:, 2] > 200)
        assert magenta.mean() < 0.01, (it.index, magenta.mean())
    assert all(np.array_equal(o.frame.image, i.frame.image) for o, i in zip(out[5:10], items[5:10]))


def _moving_thing_over_the_place_of_a_returning_object() -> tuple[np.ndarray, list[FrameItem]]:
    """A still wall; a removed disc (id 1) on frames 0–4 and 12–15; in between the place is
    clear, but on frames 10–11 an untracked magenta square flies across it (30 px a frame,
    20 px wide: a moving thing no mask covers)."""
    wall = brick_wall(240, 160, seed=7)
    items = []
    for t in range(16):
        img, labels = wall.copy(), np.zeros(wall.shape[:2], np.uint8)
        if t < 5 or t >= 12:
            cv2.circle(labels, (120, 80), 30, 1, -1)
            img[labels > 0] = 128
        if t in (10, 11):
            x = 95 + 30 * (t - 10)
            img[60:100, x:x + 20] = (255, 0, 255)
        items.append(FrameItem(Frame(t, img, t, Fraction(1, 25), t / 25), labels))
    return wall, items


def test_moving_things_the_masks_miss_are_not_remembered_as_background(plugin_manager) -> None:  # noqa: ANN001
    wall, items = _moving_thing_over_the_place_of_a_returning_object()
    (stage,) = build_stages(apply_overrides(load_preset("remove"), ["remove.window=2"]), plugin_manager,
                            StageContext(_video(240, 160, 16), {1: "disc"}))
    out = list(stage.run(iter(items)))
    stage.close()
    disc = items[0].labels > 0
    for it in out[12:]:
        px = it.frame.image[disc].astype(int)
        magenta = (px[:, 0] > 200) & (px[:, 1] < 60) & (px[:, 2] > 200)
        assert magenta.mean() < 0.01, (it.index, magenta.mean())
        assert psnr(it.frame.image, wall, disc) > 35  # the wall seen on frames 5–9


def test_the_window_does_not_reach_across_a_cut(plugin_manager) -> None:  # noqa: ANN001
    """A disc stays on a brick wall for frames 0–9; frames 10–15 are another shot (green
    grass-like noise, no disc). The look-ahead of frames 1–9 reaches into that shot: its
    pixels must not fill the hole."""
    wall = brick_wall(240, 160, seed=8)
    rng = np.random.default_rng(1)
    other = np.clip(rng.normal((60, 160, 50), 25, (160, 240, 3)), 0, 255).astype(np.uint8)
    items = []
    for t in range(16):
        labels = np.zeros((160, 240), np.uint8)
        if t < 10:
            cv2.circle(labels, (120, 80), 30, 1, -1)
            img = wall.copy()
            img[labels > 0] = 128
        else:
            img = other.copy()
        items.append(FrameItem(Frame(t, img, t, Fraction(1, 25), t / 25), labels))
    (stage,) = build_stages(apply_overrides(load_preset("remove"), ["remove.window=8"]), plugin_manager,
                            StageContext(_video(240, 160, 16), {1: "disc"}))
    out = list(stage.run(iter(items)))
    stage.close()
    disc = items[0].labels > 0
    for it in out[2:10]:
        px = it.frame.image[disc].astype(int)
        green = (px[:, 1] > px[:, 0] + 40) & (px[:, 1] > px[:, 2] + 40)
        assert green.mean() < 0.01, (it.index, green.mean())


def _car_passes_then_object_stays(background: np.ndarray) -> tuple[list[np.ndarray], list[FrameItem]]:
    """The camera pans 1 px a frame over a real frame (320×180); an untracked "car" of coarse
    random texture (240 px wide, 75 % of the frame, far more ORB corners than the background)
    drives across it right to left at 24 px a frame (frames 5–18); the removed disc (id 1) is
    there from frame 12, hidden behind the car until it has passed, and stays. What it hides
    is seen on frames 0–8 only, before the car: the fill must come from the memory, carried
    along the camera's motion through the car's frames. (True backgrounds, items.)"""
    w, h, n = 320, 180, 40
    world = cv2.resize(background, (w + n, h), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(5)
    car = cv2.resize(rng.integers(0, 256, (h // 4, 60, 3), np.uint8), (240, h), interpolation=cv2.INTER_NEAREST)
    truths, items = [], []
    for t in range(n):
        truth = world[:, n - t:n - t + w].copy()
        img, labels = truth.copy(), np.zeros((h, w), np.uint8)
        if t >= 12:
            cv2.circle(labels, (200, 90), 24, 1, -1)
            img[labels > 0] = (230, 230, 230)
        x = w - 24 * (t - 4)
        a, b = max(0, x), min(w, x + car.shape[1])
        if b > a:
            img[:, a:b] = car[:, a - x:b - x]
            labels[:, a:b] = 0
        truths.append(truth)
        items.append(FrameItem(Frame(t, img, t, Fraction(1, 25), t / 25), labels))
    return truths, items


def test_a_large_passing_car_does_not_move_the_memory_off_the_background(footage, plugin_manager) -> None:  # noqa: ANN001
    """The car covers most of the frame: the camera's motion must follow neither its features
    nor take it for a cut (before the motion prior and the two-layer cut test: a cut at frame
    10, then homographies following the car, 8.6–18.4 dB in the hole on frames 20–39; with
    them 21.7–22.7 dB). The fill after the car has passed is the background seen before it."""
    bg = next(f.image for f in iter_frames(footage / "bigbuckbunny.mp4") if f.index == 5)
    truths, items = _car_passes_then_object_stays(bg)
    (stage,) = build_stages(apply_overrides(load_preset("remove"), ["remove.workers=1"]), plugin_manager,
                            StageContext(_video(320, 180, len(items)), {1: "disc"}))
    out = list(stage.run(iter(items)))
    stage.close()
    disc = items[-1].labels > 0
    scores = [psnr(it.frame.image, truths[it.index], disc) for it in out[20:]]
    assert min(scores) > 20, [round(s, 1) for s in scores]


def _shift(dx: float, dy: float = 0.0) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)


def test_background_memory_on_disk_follows_the_camera_and_keeps_observed_over_synthetic(tmp_path) -> None:  # noqa: ANN001
    wall = brick_wall(400, 100, seed=6)
    memory = BackgroundMemory(directory=tmp_path)
    everything = np.ones((100, 160), bool)
    # frame 0 shows columns 0–159 (reference); a synthetic fill over it must not replace it
    memory.write(wall[:, :160], everything, np.eye(3), OBSERVED)
    memory.write(np.zeros((100, 160, 3), np.uint8), everything, np.eye(3), SYNTHETIC)
    colour, state = memory.read(np.eye(3), (160, 100))
    assert (state[2:-2, 2:-2] == OBSERVED).all() and np.array_equal(colour[2:-2, 2:-2], wall[2:-2, 2:158])
    # the camera pans right by 120 px per step: the canvas (2x the frame) recentres on it
    for step in (1, 2):
        x = 120 * step
        memory.write(wall[:, x:x + 160], everything, _shift(x), OBSERVED)
    colour, state = memory.read(_shift(-240), (160, 100))  # the last frame's view
    assert (state[2:-2, 2:-2] == OBSERVED).all() and np.array_equal(colour[2:-2, 2:-2], wall[2:-2, 242:398])
    assert len(list(tmp_path.rglob("*.npy"))) == 2  # memory-mapped in the scratch folder
    # the first frame's columns fell off the canvas (it spans columns 160–479 now): forgotten
    _, state = memory.read(np.eye(3), (160, 100))
    assert (state == EMPTY).all()
    # (seen: columns 160–399); a synthetic value over 300–459 fills only 400–459
    memory.write(np.full((100, 160, 3), 7, np.uint8), everything, _shift(300), SYNTHETIC)
    colour, state = memory.read(_shift(-300), (160, 100))
    assert (state[5:-5, 5:95] == OBSERVED).all() and np.array_equal(colour[5:-5, 5:95], wall[5:-5, 305:395])
    assert (state[5:-5, 105:155] == SYNTHETIC).all() and (colour[5:-5, 105:155] == 7).all()
    memory.close()
    assert not list(tmp_path.rglob("*.npy"))


def test_patch_synthesis_continues_a_brick_wall_where_telea_smears() -> None:
    wall = brick_wall(320, 200, seed=5)
    hole = np.zeros(wall.shape[:2], np.uint8)
    cv2.ellipse(hole, (160, 100), (34, 44), 0, 0, 360, 1, -1)
    hole = hole > 0
    ours, smear = complete(wall, hole), telea(wall, hole)
    assert np.array_equal(ours[~hole], wall[~hole])
    assert psnr(ours, wall, hole) > psnr(smear, wall, hole) + 6, (psnr(ours, wall, hole), psnr(smear, wall, hole))
    assert ssim(ours, wall, hole) > 0.8 > ssim(smear, wall, hole), (ssim(ours, wall, hole), ssim(smear, wall, hole))


def test_patch_synthesis_continues_an_edge_across_the_hole() -> None:
    """A dark stripe crosses a textured light ground; the hole hides its middle. The
    patch fill carries the stripe through: inside the hole the stripe's pixels stay dark and
    the ground's light, where Telea greys both."""
    rng = np.random.default_rng(1)
    img = np.clip(rng.normal(180, 8, (160, 200, 3)), 0, 255).astype(np.uint8)
    stripe = np.zeros((160, 200), np.uint8)
    cv2.line(stripe, (-20, 30), (220, 135), 1, 12)
    stripe = stripe > 0
    img[stripe] = np.clip(rng.normal(50, 8, (int(stripe.sum()), 3)), 0, 255)
    hole = np.zeros((160, 200), np.uint8)
    cv2.circle(hole, (100, 80), 30, 1, -1)
    hole = hole > 0
    ours, smear = complete(img, hole), telea(img, hole)
    assert np.array_equal(ours[~hole], img[~hole])
    core = hole & (cv2.erode(stripe.view(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    ground = hole & (cv2.dilate(stripe.view(np.uint8), np.ones((9, 9), np.uint8)) == 0)
    assert ours[core].mean() < 70 < 110 < smear[core].mean(), (ours[core].mean(), smear[core].mean())
    assert ours[ground].mean() > 165, ours[ground].mean()
    assert psnr(ours, img, hole) > psnr(smear, img, hole) + 8, (psnr(ours, img, hole), psnr(smear, img, hole))


def _object_with_shadow() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grey ground (with texture), a blue box, its shadow (×0.5) attached below-right, a dark
    patch away from it and a dark stripe above it (neither is the shadow)."""
    rng = np.random.default_rng(0)
    img = np.clip(rng.normal(170, 6, (200, 300, 3)), 0, 255).astype(np.float32)
    img[..., 0] *= 0.9
    shadow = np.zeros((200, 300), np.uint8)
    cv2.ellipse(shadow, (165, 142), (45, 10), 0, 0, 360, 1, -1)
    img[shadow > 0] *= 0.5
    img[160:190, 20:60] *= 0.5  # dark, not attached
    img[40:48, 100:200] *= 0.5  # dark, above the object
    mask = np.zeros((200, 300), bool)
    mask[50:140, 120:180] = True
    img[mask] = (40, 60, 200)
    return np.clip(img, 0, 255).astype(np.uint8), mask, (shadow > 0) & ~mask


def test_shadow_option_grows_the_hole_by_the_attached_shadow_only(plugin_manager) -> None:  # noqa: ANN001
    img, mask, shadow = _object_with_shadow()
    found = attached_shadow(img, mask, 40)
    assert (found & shadow).sum() > 0.85 * shadow.sum(), (found & shadow).sum() / shadow.sum()
    assert (found & ~grow(shadow, 2)).sum() < 0.05 * shadow.sum()
    # through the stage: off by default; on, the shadow's pixels change, the far dark patch does not
    item = FrameItem(Frame(0, img, 0, Fraction(1, 25), 0.0), mask.astype(np.uint8))
    outs = {}
    for opts in ([], ["remove.shadow=true"]):
        (stage,) = build_stages(apply_overrides(load_preset("remove"), ["remove.window=0", *opts]), plugin_manager,
                                StageContext(_video(300, 200, 1), {1: "box"}))
        outs[bool(opts)] = next(iter(stage.run(iter([item])))).frame.image
        stage.close()
    lit = float(np.median(img[grow(mask, 60) & ~grow(mask, 20) & ~grow(shadow, 4)][:, 2]))
    assert np.median(outs[False][shadow][:, 2]) < 0.7 * lit  # default: the shadow stays
    assert np.median(outs[True][shadow][:, 2]) > 0.85 * lit  # removed: lit ground there
    assert np.array_equal(outs[True][160:190, 20:60], img[160:190, 20:60])


def test_outside_the_hole_is_bit_identical_and_full_resolution(clip, plugin_manager) -> None:  # noqa: ANN001
    items, _ = _run(clip, plugin_manager, ["remove.dilate=4", "remove.feather=3"])
    for it in items:
        img, labels = clip.frame(it.index)
        assert it.frame.image.shape == img.shape
        reach = grow(labels > 0, 4 + 3 * 2 + 2)
        assert np.array_equal(it.frame.image[~reach], img[~reach])


def test_fill_at_reduced_resolution_still_composites_at_full(clip, plugin_manager) -> None:  # noqa: ANN001
    items, _ = _run(clip, plugin_manager, ["remove.fill_max_side=160", "remove.dilate=4", "remove.feather=3"])
    quality, _ = _quality(clip, items)
    assert quality > 28, quality  # upscaled fill: softer, still the true background
    for it in items:
        img, labels = clip.frame(it.index)
        assert it.frame.image.shape == img.shape
        reach = grow(labels > 0, 4 + 3 * 2 + 2)
        assert np.array_equal(it.frame.image[~reach], img[~reach])


def _magenta(px: np.ndarray) -> np.ndarray:
    """Pixels (N×3 RGB) that lean towards magenta: red and blue both well above green (the
    brick wall's bricks are red above blue, its mortar grey)."""
    px = px.astype(int)
    return (px[:, 0] - px[:, 1] > 40) & (px[:, 2] - px[:, 1] > 40)


def _disc_beside_a_magenta_object(case: str, frames: int = 12) -> tuple[list[FrameItem], np.ndarray, list]:
    """A still camera on a brick wall; a removed grey disc (id 1) that never moves, so what it
    hides is never seen and must be synthesised; and a magenta object (no brick colour
    leans that way). ``case``: ``"tracked"`` — a bar with the wall's texture in magenta (as
    good a source as the wall) 2 px from the disc's edge (inside the hole's dilation),
    tracked and kept (id 2); ``"beside"`` — the same bar untracked, sliding down 4 px a frame
    beside the disc; ``"passing"`` — a magenta van (mottled paint), untracked, drives 5 px a
    frame over the disc's place on frames 0–5 (the disc is not there yet) and is gone when
    the disc is (frames 6 on): much of its inside looks the same from one frame to the next,
    and what it covered on every frame is never seen. Returns the items, the disc's pixels
    and, per frame, the magenta object's pixels."""
    wall = brick_wall(240, 160, seed=9)
    paint = cv2.GaussianBlur(np.random.default_rng(2).normal(0, 40, (85, 100)), (0, 0), 2.5)
    van = np.clip(np.stack([215 + paint, 40 + paint / 3, 215 + paint], 2), 0, 255).astype(np.uint8)
    items, bars = [], []
    for t in range(frames):
        img, labels = wall.copy(), np.zeros(wall.shape[:2], np.uint8)
        bar = np.zeros(labels.shape, bool)
        if case == "passing":
            if t < 6:
                bar[40:125, 40 + 5 * t:140 + 5 * t] = True
                img[40:125, 40 + 5 * t:140 + 5 * t] = van
        else:
            y = 20 + 4 * t if case == "beside" else 45
            bar[y:y + 70, 138:170] = True
            grey = wall[45:115, 138:170].mean(axis=2)  # the texture moves with the bar
            img[bar] = np.stack([np.clip(grey + 90, 0, 255), grey * 0.2, np.clip(grey + 90, 0, 255)], 2).reshape(-1, 3)
            if case == "tracked":
                labels[bar] = 2
        if case != "passing" or t >= 6:
            cv2.circle(labels, (110, 80), 26, 1, -1)
            img[labels == 1] = 128
        items.append(FrameItem(Frame(t, img, t, Fraction(1, 25), t / 25), labels))
        bars.append(bar)
    disc = np.zeros(wall.shape[:2], np.uint8)
    cv2.circle(disc, (110, 80), 26, 1, -1)
    return items, disc > 0, bars


@pytest.mark.parametrize("case", ["tracked", "beside", "passing"])
@pytest.mark.parametrize("inpainter", ["patch", "telea"])
def test_no_fill_takes_the_colour_of_another_object_beside_the_hole(plugin_manager, inpainter, case) -> None:  # noqa: ANN001
    """Issue #28's "avoid" region: the sources of synthesis and of the temporal fill exclude
    every tracked object (not only the removed one) and what moves against the background
    (the passing van was the fill of bikes.mp4's cyclist)."""
    items, disc, bars = _disc_beside_a_magenta_object(case)
    (stage,) = build_stages(apply_overrides(load_preset("remove"), ["remove.objects=[1]",
                                                                    f'remove.inpainter="{inpainter}"']),
                            plugin_manager, StageContext(_video(240, 160, len(items)), {1: "disc", 2: "bar"}))
    out = list(stage.run(iter(items)))
    stage.close()
    hole = grow(disc, 8)  # the preset's dilation
    for it, bar in zip(out, bars):
        if not (items[it.index].labels == 1).any():
            continue
        fill = hole & ~grow(bar, 2)
        assert not _magenta(it.frame.image[fill]).any(), (it.index, int(_magenta(it.frame.image[fill]).sum()))
        if case == "tracked":  # the kept object itself stays
            assert np.array_equal(it.frame.image[bar & ~hole], items[it.index].frame.image[bar & ~hole])


def test_a_plugin_inpainter_is_given_the_avoid_mask(registered_plugin) -> None:  # noqa: ANN001
    """Through the ``editor_register_inpainters`` hook: a three-argument inpainter gets
    ``avoid`` (the kept object, outside the hole); a two-argument one gets the hole grown by
    the avoided region touching it, so it cannot copy from it either."""
    from editor import hookimpl
    from editor.api.stages import InpainterSpec

    seen: dict[str, list[tuple[np.ndarray, np.ndarray | None]]] = {"three": [], "two": []}

    def three(image: np.ndarray, hole: np.ndarray, avoid: np.ndarray) -> np.ndarray:
        seen["three"].append((hole.copy(), avoid.copy()))
        out = image.copy()
        out[hole] = np.median(image[~hole & ~avoid], axis=0)
        return out

    def two(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        seen["two"].append((hole.copy(), None))
        out = image.copy()
        out[hole] = np.median(image[~hole], axis=0)
        return out

    class Learned:
        @hookimpl
        def editor_register_inpainters(self, register):  # noqa: ANN001
            register(InpainterSpec("three", lambda context: three, "avoid-aware"))
            register(InpainterSpec("two", lambda context: two, "two-argument"))

    pm = registered_plugin(Learned(), "learned-plugin")
    items, disc, bars = _disc_beside_a_magenta_object("tracked", frames=1)
    bar = bars[0]
    for name in ("three", "two"):
        (stage,) = build_stages(apply_overrides(load_preset("remove"), ["remove.objects=[1]", "remove.window=0",
                                                                        "remove.memory=false",
                                                                        f'remove.inpainter="{name}"']),
                                pm, StageContext(_video(240, 160, 1), {1: "disc", 2: "bar"}))
        (result,) = stage.run(iter(items))
        stage.close()
        ((hole, avoid),) = seen[name]
        assert hole[disc].all()
        if name == "three":
            assert avoid[bar & ~hole].all() and not (avoid & hole).any()
        else:
            assert hole[bar].all()  # the kept bar, touching the grown hole, is no source
        assert not _magenta(result.frame.image[grow(disc, 8) & ~grow(bar, 2)]).any()


def _half_lost_face(clip: PastedObjectClip, weak: range) -> list[FrameItem]:
    """The clip's frames with the tracker's view of the face: the true mask at confidence
    0.97, except on ``weak`` frames where only its lowest quarter is masked (a tracker that
    lost most of the object behind something that is not there), at confidence 0.3."""
    items = []
    for it in clip.items():
        labels = it.labels.copy()
        confidence = 0.97
        if it.index in weak:
            ys = np.nonzero(labels.any(axis=1))[0]
            labels[:ys[0] + 3 * (ys[-1] - ys[0]) // 4] = 0
            confidence = 0.3
        items.append(FrameItem(it.frame, labels, {1: confidence}))
    return items


def _object_shown(clip: PastedObjectClip, items, frames) -> float:  # noqa: ANN001
    """Share of the object's true pixels on ``frames`` (where it differs from the background
    by more than 40 levels) that the output still shows (within 12 levels of the object)."""
    shown = total = 0
    for it in items:
        if it.index not in frames:
            continue
        image, labels = clip.frame(it.index)
        bg = clip.true_background(it.index).astype(np.int16)
        distinct = (labels == 1) & (np.abs(image.astype(np.int16) - bg).max(axis=2) > 40)
        near = np.abs(it.frame.image.astype(np.int16) - image).max(axis=2) <= 12
        shown += int((distinct & near).sum())
        total += int(distinct.sum())
    return shown / max(total, 1)


def test_a_weak_frame_does_not_shrink_the_hole(clip, plugin_manager) -> None:  # noqa: ANN001
    """#28: frames 10–17 keep a quarter of the face at low confidence. The hole holds the
    nearest confident masks' extent, moved along the face's motion, so the face does not show
    there; without the hold three quarters of it show (the mask's gap) and are remembered as
    background."""
    weak = range(10, 18)
    out = {}
    for name, overrides in (("hold", []), ("no hold", ["remove.hold=false"])):
        (stage,) = build_stages(apply_overrides(load_preset("remove"), overrides), plugin_manager,
                                StageContext(_video(clip.width, clip.height, clip.frames), {1: "face"}))
        out[name] = list(stage.run(iter(_half_lost_face(clip, weak))))
        stage.close()
    assert _object_shown(clip, out["no hold"], weak) > 0.4  # the fault this test is about
    assert _object_shown(clip, out["hold"], weak) < 0.02
    assert _object_shown(clip, out["hold"], range(clip.frames)) < 0.02
    # the filled hole is background, not the face taken for background on the weak frames
    for it in out["hold"]:
        if it.index in weak:
            hole = clip.frame(it.index)[1] == 1
            assert psnr(it.frame.image, clip.true_background(it.index), hole) > 30


def test_an_outlier_anchor_does_not_balloon_the_held_hole(clip, plugin_manager) -> None:  # noqa: ANN001
    """#28: as the weak-frame test, but the confident mask right after the weak frames
    (frame 18) is the face and a large blob beside it (a tracker that took a passing car in,
    confidently). That mask jumps against its track: it is no anchor and sets no margin. On
    the weak frames the output changes where the face is, not over the blob's extent, and
    the face still does not show."""
    weak = range(10, 18)
    items = _half_lost_face(clip, weak)
    blob = items[18].labels.copy()
    blob[20:170, 150:310] = 1  # 320×180 frames: the face and 40 % of the frame
    items[18] = FrameItem(items[18].frame, blob, {1: 0.97})
    (stage,) = build_stages(load_preset("remove"), plugin_manager,
                            StageContext(_video(clip.width, clip.height, clip.frames), {1: "face"}))
    out = list(stage.run(iter(items)))
    stage.close()
    for it in out:
        if it.index in weak:
            image, labels = clip.frame(it.index)
            changed = np.abs(it.frame.image.astype(np.int16) - image).max(axis=2) > 0
            assert changed.sum() < 2 * grow(labels == 1, 14).sum(), it.index  # without the check: 7×
    assert _object_shown(clip, out, weak) < 0.02
    assert _object_shown(clip, out, range(clip.frames)) < 0.02


def test_what_was_seen_at_the_frame_edge_is_copied_not_synthesised_again(clip, face, plugin_manager) -> None:  # noqa: ANN001
    """#28: a face sliding along the bottom edge of a real frame (bigbuckbunny frame 5) panned
    hides, on every frame, background the frames before it showed — also in the frame's
    last rows. The memory used to drop a frame's outermost row and column when storing it and
    another when reading it back (a 3×3 erosion each way against interpolating with what is
    not stored), so those rows were synthesised again on every frame: a thin strip made of
    the rows beside it, different on each frame. Now what was seen is copied there too."""
    sprite, mask = face_sprite(face)
    edge = PastedObjectClip(clip.background, sprite, mask, frames=16, pan=4.0,
                            start=(40.0, 180.0 - sprite.shape[0] + 6), velocity=(6.0, 0.0))
    items, _ = _run(edge, plugin_manager, [])
    errors = []
    for it in items[6:]:
        rows = (edge.frame(it.index)[1] > 0)[-3:]  # the hole's part in the frame's last 3 rows
        truth = edge.true_background(it.index)[-3:]
        errors.append(np.abs(it.frame.image[-3:][rows].astype(np.int16) - truth[rows]).max(axis=1))
    errors = np.concatenate(errors)
    assert errors.size > 300
    # before: 16 % of them off by more than 2 levels (re-synthesised), now 6 % (the rows a
    # sub-pixel alignment takes half from beyond the frame)
    off = float(np.mean(errors > 2))
    assert off < 0.10, f"{off:.1%} of the hole's pixels in the frame's last rows are not the background seen there"
