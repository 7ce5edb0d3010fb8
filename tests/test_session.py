"""Interactive session API (classical backends): prompts, propagation both ways, pause and
correct, late objects, remove, reset, export; random frame access."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clips import write_clip
from editor.backends.classic import FlowTracker, GrabCutSegmenter
from editor.api.errors import PromptError
from editor.api.masks import read_label_png
from editor.tracking.engine import TrackingSession
from editor.video.random_access import FrameSource
from editor.video.reader import iter_frames
from test_tracking import T, _iou, _scene


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "scene.mp4", [_scene(t)[0] for t in range(T)], pix_fmt="yuv444p",
                      options={"crf": "0"})


def test_random_access_matches_sequential_decode(clip: Path) -> None:
    frames = {f.index: f.image for f in iter_frames(clip)}
    with FrameSource(clip, cache_size=4) as fs:
        assert len(fs) == T
        for i in (17, 3, 29, 0, 18, 16, 5):
            assert np.array_equal(fs[i].image, frames[i]) and fs[i].index == i
        with pytest.raises(IndexError):
            fs[T]


def test_random_access_walks_both_ways_and_is_thread_safe(tmp_path: Path) -> None:
    """Short GOPs with B-frames: forward and backward walks and random jumps all give the
    frames of a sequential decode, also while another thread reads the same source (a
    tracking job and the web page share one)."""
    import threading

    rng = np.random.default_rng(3)
    images = [np.clip(rng.normal(128, 40, (64, 96, 3)) + t * 3, 0, 255).astype(np.uint8) for t in range(60)]
    clip = write_clip(tmp_path / "gop.mp4", images, options={"g": "7", "bf": "2", "crf": "20"})
    frames = {f.index: f.image for f in iter_frames(clip)}
    with FrameSource(clip, cache_size=3) as fs:
        assert [i for i in range(60) if not np.array_equal(fs[i].image, frames[i])] == []
        assert [i for i in range(59, -1, -1) if not np.array_equal(fs[i].image, frames[i])] == []
        bad: list[int] = []

        def reader(order: list[int]) -> None:
            for i in order:
                if not np.array_equal(fs[i].image, frames[i]):
                    bad.append(i)

        threads = [threading.Thread(target=reader, args=(list(range(60)),)),
                   threading.Thread(target=reader, args=(list(rng.permutation(60)),)),
                   threading.Thread(target=reader, args=(list(range(59, -1, -1)),))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert bad == []


def test_propagate_forward_backward_correct_and_export(clip: Path, tmp_path: Path) -> None:
    with TrackingSession(clip, GrabCutSegmenter(), FlowTracker()) as s:
        mask = s.add_prompt(10, 1, points=[(30 + 20, 45 + 3)], name="disc")
        assert _iou(mask, _scene(10)[1] == 1) > 0.8
        order = []
        for f, ids, masks in s.propagate():  # forward from frame 10
            order.append(f)
            assert ids == [1]
            assert _iou(masks[0], _scene(f)[1] == 1) > 0.7, f
            if f == 20:
                break  # pause
        assert order == list(range(10, 21))
        # a late object and a deliberate correction at frame 21, then resume
        s.add_prompt(21, 2, box=(120 - 42 - 2, 73, 120 - 42 + 28, 107), name="box")
        resumed = [(f, ids) for f, ids, _ in s.propagate(21)]
        assert resumed[0] == (21, [1, 2]) and resumed[-1][0] == T - 1
        back = [f for f, _, _ in s.propagate(10, reverse=True)]
        assert back == list(range(10, -1, -1))
        for f in (0, 5, 25):
            labels = s.label_map(f)
            assert _iou(labels == 1, _scene(f)[1] == 1) > 0.7, f
        assert (s.label_map(25) == 2).any() and not (s.label_map(5) == 2).any()
        ps = s.prompt_set()
        assert ps.ids == [1, 2] and ps.names() == {1: "disc", 2: "box"}
        out = s.export_masks(tmp_path / "masks")
        assert len(list(out.glob("*.png"))) == T
        s.remove_object(2)
        assert not (s.label_map(25) == 2).any()
        assert (read_label_png(out / "00025.png") == 2).any()  # the exported copy is independent
        assert s.undo(1) is not None and s.prompt_set().objects == ()
        with pytest.raises(PromptError):
            list(s.propagate())
        s.reset()
        assert s.label_map(5) is None


def test_a_click_on_a_tracked_frame_edits_the_tracked_mask(clip: Path) -> None:
    """The human-in-the-loop correction: after propagation, an include click on frame 25
    (here on the blue box, as if it belonged to the object) adds to the disc's tracked mask
    instead of replacing it by what the click alone would select; the tracked mask is kept
    beside the session and named in the prompt, so the saved prompts reproduce it."""
    from editor.backends.classic.region_segmenter import RegionSegmenter

    with TrackingSession(clip, RegionSegmenter(), FlowTracker()) as s:
        s.add_prompt(10, 1, points=[(50, 48)], name="disc")
        for _ in s.propagate():
            pass
        tracked = s.label_map(25) == 1
        disc, box = _scene(25)[1] == 1, _scene(25)[1] == 2
        assert _iou(tracked, disc) > 0.7
        edited = s.add_prompt(25, 1, points=[(83, 90)])
        assert (edited & tracked).sum() >= 0.95 * tracked.sum()  # the tracked disc stays
        assert edited[90, 83] and (edited & box).sum() > 0.5 * box.sum()  # and the click's region joins
        (prompt,) = s.prompts_on(25)[1]
        assert prompt.mask is not None and prompt.mask.is_file() and prompt.points == ((83.0, 90.0),)
        again = s.add_prompt(25, 1, points=[(83, 90)], labels=[0])  # a second click edits the same base
        assert _iou(again, tracked) > 0.8 and not again[90, 83]
        assert len(s.prompts_on(25)[1]) == 2 and s.prompts_on(25)[1][1].mask is None
        s.undo(1)
        s.undo(1)
        assert s.prompts_on(25) == {}


def test_bad_prompts(clip: Path) -> None:
    with TrackingSession(clip, GrabCutSegmenter(), FlowTracker()) as s:
        with pytest.raises(PromptError, match="outside"):
            s.add_prompt(2, 1, points=[(500, 5)])
        with pytest.raises(PromptError, match="frame 99"):
            s.add_prompt(99, 1, points=[(5, 5)])
        assert s.prompt_set().objects == ()


def test_read_only_views_of_objects_and_prompts(clip: Path) -> None:
    """What the web UI reads: object snapshots, the prompts on a frame and the label map of
    a frame's prompts (overlaps: the smaller object wins)."""
    from editor.api.masks import compose_label_map
    from editor.tracking.engine import ObjectInfo

    with TrackingSession(clip, GrabCutSegmenter(), FlowTracker()) as s:
        assert s.objects() == [] and s.prompts_on(10) == {} and s.prompt_label_map(10) is None
        assert s.add_object("disc") == 1
        assert s.objects() == [ObjectInfo(1, "disc", (), 0, 0)]
        s.add_prompt(10, 1, points=[(50, 48)])
        s.add_prompt(10, 1, points=[(5, 5)], labels=[0])
        s.add_prompt(3, 1, points=[(40, 46)])
        s.add_prompt(10, 2, box=(20, 20, 90, 80), name="box")  # overlaps the disc and is larger
        s.undo(1)
        [disc, box] = s.objects()
        assert disc == ObjectInfo(1, "disc", (10,), 2, 1) and box == ObjectInfo(2, "box", (10,), 1, 0)
        with pytest.raises(AttributeError):
            disc.name = "changed"  # type: ignore[misc]  # a snapshot, not the session's state
        on10 = s.prompts_on(10)
        assert list(on10) == [1, 2] and [p.labels for p in on10[1]] == [(1,), (0,)]
        assert s.prompts_on(3) == {}
        labels = s.prompt_label_map(10)
        masks = {1: s.mask_from_prompts(10, 1), 2: s.mask_from_prompts(10, 2)}
        assert (masks[1] & masks[2]).any()
        assert labels is not None and labels.dtype == np.uint8
        assert np.array_equal(labels, compose_label_map(masks, labels.shape))
        assert (labels[masks[1]] == 1).all()  # the smaller disc stays in front of the box
        assert s.objects()[0].undone == 1 and s.redo(1) is not None and s.objects()[0].prompt_frames == (3, 10)
