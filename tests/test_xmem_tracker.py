"""XMem as a tracker backend (deterministic synthetic weights, CPU): ids, passes, late objects,
corrections, cuts clearing memory, masks at source size; selectable from the CLI by checkpoint."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from clips import write_clip
from editor.cli.main import main
from editor.backends.classic import GrabCutSegmenter
from editor.api.prompts import parse_prompts
from editor.tracking.engine import TrackingSession
from editor.backends.xmem.synthetic import synthetic_network
from editor.backends.xmem.tracker import XMemTracker, internal_scale
from test_tracking import T, _frames, _scene, _video


@pytest.fixture(scope="module")
def network():  # noqa: ANN201
    torch.manual_seed(0)
    return synthetic_network()


def test_internal_scale() -> None:
    assert internal_scale(1920, 1080, 480) == pytest.approx(480 / 1080)
    assert internal_scale(320, 240, 480) == 1.0 and internal_scale(1920, 1080, None) == 1.0


def test_pass_ids_late_objects_and_cut(network) -> None:  # noqa: ANN001
    tracker = XMemTracker(network, internal_size=None)
    p = tracker.new_pass(_video(), reverse=False)
    frames = list(_frames())
    gt0 = _scene(0)[1]
    out = p.step(frames[0], {5: gt0 == 1})
    assert list(out) == [5] and out[5].shape == (120, 160) and np.array_equal(out[5], gt0 == 1)
    out = p.step(frames[1], {})
    assert set(out) <= {5} and out[5].shape == (120, 160)
    gt2 = _scene(2)[1]
    out = p.step(frames[2], {9: gt2 == 2})  # a late object joins as a new group
    assert np.array_equal(out[9], gt2 == 2) and set(out) <= {5, 9}
    out = p.step(frames[3], {})
    assert set(out) <= {5, 9}
    p.end_objects([9])
    assert 9 not in p.step(frames[4], {})
    p.end_objects([5, 9])  # a cut: memory cleared, nothing tracked until prompted again
    assert p.step(frames[5], {}) == {}
    out = p.step(frames[6], {5: _scene(6)[1] == 1})
    assert np.array_equal(out[5], _scene(6)[1] == 1)


def test_driver_with_xmem_backward_and_forward(network, tmp_path: Path) -> None:  # noqa: ANN001
    prompts = parse_prompts({"objects": [{"id": 1, "prompts": [{"frame": 8, "box": [20, 25, 90, 75]}]},
                                         {"id": 2, "prompts": [{"frame": 12, "box": [90, 70, 125, 110]}]}]})
    vt = TrackingSession(_video(), GrabCutSegmenter(), XMemTracker(network, internal_size=96), work_dir=tmp_path)
    vt.add_prompts(prompts)
    items = list(vt.stream(_frames()))
    assert [it.index for it in items] == list(range(T))
    assert all(it.labels.shape == (120, 160) for it in items)
    assert (items[8].labels == 1).any() and (items[12].labels == 2).any()


def test_cli_uses_xmem_with_a_checkpoint(network, tmp_path: Path) -> None:  # noqa: ANN001
    ckpt = tmp_path / "xmem-synthetic.pth"
    torch.save(network.state_dict(), ckpt)
    clip = write_clip(tmp_path / "c.mp4", [_scene(t)[0] for t in range(8)])
    p = tmp_path / "p.json"
    p.write_text('{"objects": [{"id": 1, "prompts": [{"frame": 0, "box": [10, 25, 50, 65]}]}]}')
    rc = main(["-q", "track", str(clip), "--prompts", str(p), "-o", str(tmp_path / "m"), "--tracker", "xmem",
               "--xmem-checkpoint", str(ckpt)])
    assert rc == 0 and len(list((tmp_path / "m").glob("*.png"))) == 8
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    rc = main(["-q", "track", str(clip), "--prompts", str(p), "-o", str(tmp_path / "m2"), "--tracker", "xmem",
               "--xmem-checkpoint", str(bad)])
    assert rc != 0 and not (tmp_path / "m2").exists()


def test_bf16_autocast_stays_close_to_fp32(network) -> None:  # noqa: ANN001
    """The reduced-precision path (bf16 autocast, the CUDA default) on CPU: probabilities
    within ~1 % of float32 on every frame of the golden clip, no drift over frames, and the
    similarity kept in float32 (16-bit would cancel)."""
    from editor.backends.xmem import InferenceCore, XMemConfig
    from editor.backends.xmem.tracker import reduced_precision
    from test_refinement import _clip, _onehot

    assert reduced_precision("auto", torch.device("cpu")) is None  # CPU default: float32, parity path
    assert reduced_precision("bf16", torch.device("cpu")) is torch.bfloat16
    with pytest.raises(ValueError):
        reduced_precision("int8", torch.device("cpu"))
    images, labels = _clip(8)
    n = int(labels.max())
    runs = []
    for enabled in (False, True):
        core = InferenceCore(network, XMemConfig(mem_every=2))
        core.set_all_labels(range(1, n + 1))
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=enabled):
            out = [core.step(images[0], _onehot(labels[0], n))] + [core.step(im) for im in images[1:]]
        runs.append([o.float() for o in out])
    errors = []
    for a, b in zip(*runs, strict=True):
        errors.append(((a - b).norm() / a.norm()).item())
        agree = (a.argmax(0) == b.argmax(0)).float().mean().item()
        assert agree >= 0.9  # synthetic weights leave many pixels near 0.5: argmax flips there
    assert max(errors) <= 3e-2 and errors[-1] <= 2 * max(errors[1:3]), errors


def test_tracker_precision_option(network) -> None:  # noqa: ANN001
    tracker = XMemTracker(network, internal_size=None, precision="bf16")
    p = tracker.new_pass(_video(), reverse=False)
    frames = list(_frames())
    gt = _scene(0)[1] == 1
    assert np.array_equal(p.step(frames[0], {1: gt})[1], gt)
    out = p.step(frames[1], {})
    assert out[1].dtype == bool and out[1].shape == (120, 160)


def _memory(p) -> list[torch.Tensor]:  # noqa: ANN001
    """Everything XMem keeps of the frames it saw: both banks (keys, shrinkage, selection,
    values, usage counters) and the sensory memory, cloned."""
    m = p._core.memory
    out = [m.hidden]
    for bank in (m.work_mem, m.long_mem):
        out += [bank.key, bank.shrinkage, bank.selection, bank.use_count, bank.life_count, *bank.values]
    return [t.clone() for t in out if t is not None]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and torch.equal(x, y) for x, y in zip(a, b))


def test_a_damaged_frame_is_segmented_but_not_memorised(network) -> None:  # noqa: ANN001
    """Random weights of the real shapes; a review replacing every frame's mask makes every
    clean frame a memory frame (as the engine's evidence does): on a damaged frame the mask
    is still produced (the review's), but the memory banks, usage counters and sensory
    memory are exactly as before it, also with a correction given there; the next clean
    frame is memorised again; an object that starts on a damaged frame is memorised."""
    import dataclasses

    held = {1: _scene(0)[1] == 1}

    class Hold:
        def __call__(self, frame, masks, probabilities):  # noqa: ANN001, ANN204
            assert set(probabilities) == set(masks)
            return {oid: held[1] for oid in masks}

        def forget(self, ids) -> None:  # noqa: ANN001
            pass

    p = XMemTracker(network, internal_size=None).new_pass(_video(), reverse=False)
    p.set_review(Hold())
    frames = list(_frames())
    p.step(frames[0], dict(held))
    before = _memory(p)
    p.step(frames[1], {})  # a clean frame: the review's mask enters memory
    assert not _same(before, _memory(p)) and p._core.memory.work_mem.size > before[1].shape[-1]
    for t in (2, 3):
        before = _memory(p)
        out = p.step(dataclasses.replace(frames[t], damaged=True), {})
        assert list(out) == [1] and np.array_equal(out[1], held[1])  # still segmented and reviewed
        assert _same(before, _memory(p)), t
    fix = _scene(4)[1] == 1
    out = p.step(dataclasses.replace(frames[4], damaged=True), {1: fix})  # a correction on a damaged frame
    assert np.array_equal(out[1], fix) and _same(before, _memory(p))
    p.step(frames[5], {})
    assert p._core.memory.work_mem.size > before[1].shape[-1]  # clean again: memorised
    before = _memory(p)
    new = _scene(6)[1] == 2
    out = p.step(dataclasses.replace(frames[6], damaged=True), {2: new})  # an object starting here
    assert np.array_equal(out[2], new) and p._core.memory.work_mem.size > before[1].shape[-1]


def test_engine_tells_xmem_of_damage_forward_and_backward(network, tmp_path: Path) -> None:  # noqa: ANN001
    """The engine marks damaged frames on both passes (the backward pass replays frames from
    its cache, which keeps pixels only): XMem memorises none of them in either direction."""
    import dataclasses

    steps: list[tuple[bool, int, bool, bool]] = []
    tracker = XMemTracker(network, internal_size=96)
    original = tracker.new_pass

    def new_pass(video, *, reverse):  # noqa: ANN001, ANN202
        p = original(video, reverse=reverse)
        step = p.step

        def spy(frame, prompts):  # noqa: ANN001, ANN202
            size = p._core.memory.work_mem.size
            out = step(frame, prompts)
            steps.append((reverse, frame.index, frame.damaged, p._core.memory.work_mem.size > size))
            return out
        p.step = spy
        return p
    tracker.new_pass = new_pass
    damaged = set(range(6, 16))
    prompts = parse_prompts({"objects": [{"id": 1, "prompts": [{"frame": 10, "box": [20, 25, 90, 75]}]}]})
    vt = TrackingSession(_video(), GrabCutSegmenter(), tracker, work_dir=tmp_path)
    vt.add_prompts(prompts)
    items = list(vt.stream(dataclasses.replace(f, damaged=f.index in damaged) for f in _frames()))
    assert [it.index for it in items] == list(range(T)) and vt.stats.damaged == damaged
    assert all(s[2] == (s[1] in damaged) for s in steps)  # every step told, whichever pass
    assert {s[1] for s in steps if s[0] and s[2]} >= set(range(6, 10))  # replayed from the cache, still damaged
    assert any(s[3] for s in steps if not s[2] and s[1] != 10)  # clean frames are memorised
    assert not any(s[3] for s in steps if s[2] and s[1] != 10)  # damaged ones never (10: the prompt)
