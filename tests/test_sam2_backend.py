"""The SAM 2-family backends (``sam2``, ``edgetam``) through transformers, with random weights
of small configs on real footage (bikes.mp4): trackedit's streaming session against
transformers' own ``propagate_in_video_iterator``, flat memory, the segmenter's rules, the
engine driving the tracker, checkpoints and their one-line errors, and ``auto``."""
from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from editor.api.prompts import Prompt  # noqa: E402
from editor.backends.sam2.checkpoint import Sam2CheckpointError, load_model  # noqa: E402
from editor.backends.sam2.pixels import mask_input, to_masks, to_pixels  # noqa: E402
from editor.backends.sam2.segmenter import Sam2Segmenter  # noqa: E402
from editor.backends.sam2.session import StreamingSession  # noqa: E402
from editor.backends.sam2.synthetic import random_model, small_config  # noqa: E402
from editor.backends.sam2.tracker import Sam2Tracker  # noqa: E402
from editor.video.reader import iter_frames, probe  # noqa: E402

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
SIZE = 128
FRAMES = 10


def _sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"{path} missing: run samples/make_samples.py")
    return path


@pytest.fixture(scope="module")
def frames() -> list:
    """The first frames of bikes.mp4, from trackedit's decoder (640×272)."""
    return [f.as_8bit() for f in itertools.islice(iter_frames(_sample("bikes.mp4"), keep_planes=False), FRAMES)]


@pytest.fixture(scope="module", params=["sam2", "edgetam"])
def model(request: pytest.FixtureRequest):  # noqa: ANN201
    return random_model(small_config(request.param, SIZE), seed=3)


def _box(shape: tuple[int, int], x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


def _reference(model, frames: list, prompts: dict[int, dict[int, np.ndarray]], reverse: bool):  # noqa: ANN001, ANN202
    """transformers' own way: the whole video in a session, inputs added through its
    processor, ``propagate_in_video_iterator`` between prompted frames. Frame → (ids, logits)."""
    processor = transformers.Sam2VideoProcessor(image_processor=transformers.Sam2ImageProcessor(),
                                                video_processor=transformers.Sam2VideoVideoProcessor(),
                                                target_size=SIZE)
    video = torch.stack([to_pixels(f.image, SIZE) for f in frames])
    cls = getattr(transformers, type(model).__name__.replace("Model", "InferenceSession"))
    session = cls(video=video, video_height=frames[0].image.shape[0], video_width=frames[0].image.shape[1],
                  dtype=torch.float32)
    order = list(range(len(frames)))[::-1] if reverse else list(range(len(frames)))
    starts = [i for i, f in enumerate(order) if f in prompts]
    out: dict[int, tuple[list[int], torch.Tensor]] = {}
    for k, start in enumerate(starts):
        f = order[start]
        for oid, m in sorted(prompts[f].items()):
            processor.add_inputs_to_inference_session(session, frame_idx=f, obj_ids=oid,
                                                      input_masks=mask_input(m, SIZE)[0, 0])
        end = starts[k + 1] if k + 1 < len(starts) else len(order)
        for result in model.propagate_in_video_iterator(session, start_frame_idx=f, reverse=reverse,
                                                        max_frame_num_to_track=end - start - 1):
            out[result.frame_idx] = (list(result.object_ids), result.pred_masks.float().clone())
    assert sorted(out) == list(range(len(frames)))
    return out


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "backward"])
def test_streaming_matches_transformers_propagation(model, frames: list, reverse: bool) -> None:  # noqa: ANN001
    """Same masks (bit-identical at the frame's size) and logits within 1e-4 on every frame,
    with a correction mid-way and a second object added later, both directions."""
    shape = frames[0].image.shape[:2]
    first, correction, later = (9, 6, 3) if reverse else (0, 3, 6)
    prompts = {first: {1: _box(shape, 330, 15, 480, 272)},
               correction: {1: _box(shape, 350, 30, 470, 250)},
               later: {2: _box(shape, 60, 90, 220, 230)}}
    expected = _reference(model, frames, prompts, reverse)
    track = Sam2Tracker(model, "cpu", "fp32").new_pass(probe(_sample("bikes.mp4")), reverse=reverse)
    order = range(len(frames) - 1, -1, -1) if reverse else range(len(frames))
    nonempty = 0
    for f in order:
        masks = track.step(frames[f], prompts.get(f, {}))
        ids, logits = expected[f]
        assert track.last is not None and track.last.object_ids == ids
        assert torch.allclose(track.last.logits, logits, atol=1e-4, rtol=0), \
            f"frame {f}: max diff {(track.last.logits - logits).abs().max().item()}"
        binary = to_masks(logits, SIZE, *shape)
        for k, oid in enumerate(ids):
            if binary[k].any():
                np.testing.assert_array_equal(masks[oid], binary[k])
                nonempty += 1
            else:
                assert oid not in masks
    assert nonempty >= len(frames)  # real masks were compared, not empty ones
    assert set(track.scores()) == {1, 2} and all(0.0 <= p <= 1.0 for p in track.scores().values())


def test_state_is_flat_over_frames(model, frames: list) -> None:  # noqa: ANN001
    """After the memory window fills, what the session keeps stops growing: the same tensors
    and bytes after 12 and after 40 frames (two objects, one correction); no frame pixels
    or vision features are kept between frames."""
    session = StreamingSession(model)
    shape = frames[0].image.shape[:2]
    masks = {0: {1: _box(shape, 330, 15, 480, 272)}, 2: {2: _box(shape, 60, 90, 220, 230)},
             5: {1: _box(shape, 350, 30, 470, 250)}}
    sizes = []
    for t in range(40):
        frame = frames[t % len(frames)]
        given = {oid: mask_input(m, SIZE) for oid, m in masks.get(t, {}).items()}
        session.step(to_pixels(frame.image, SIZE), given)
        sizes.append(session.state_size())
        assert not session.session.processed_frames and not session.session.cache._vision_features
    assert sizes[11] == sizes[39]
    # per object: 3 conditioning frames in all (2 prompts + 1 correction), the memory of the last
    # num_maskmem − 1 = 2 frames and the pointers of the last max_object_pointers − 1 = 3
    assert sizes[39].frames == 3 + 2 * 3


def test_removed_objects_are_forgotten(model, frames: list) -> None:  # noqa: ANN001
    session = StreamingSession(model)
    shape = frames[0].image.shape[:2]
    session.step(to_pixels(frames[0].image, SIZE), {1: mask_input(_box(shape, 330, 15, 480, 272), SIZE),
                                                    2: mask_input(_box(shape, 60, 90, 220, 230), SIZE)})
    out = session.step(to_pixels(frames[1].image, SIZE), {})
    assert out is not None and out.object_ids == [1, 2]
    before = out.logits[1].clone()
    session.remove([1])
    out = session.step(to_pixels(frames[2].image, SIZE), {})
    assert out is not None and out.object_ids == [2]
    session.remove([2])
    assert session.step(to_pixels(frames[3].image, SIZE), {}) is None
    assert session.state_size().tensors == 0
    assert before.shape == out.logits[0].shape


def test_segmenter_rules(model, frames: list) -> None:  # noqa: ANN001
    """Clicks, a box and a mask prompt on a real frame: masks at the frame's size; one click
    decodes three candidates (the best predicted IoU), a click with the tracked mask edits
    that mask (the mask prompt changes the answer); a mask alone comes back as given."""
    image = frames[0].image
    seg = Sam2Segmenter(model, "cpu", precision="fp32")
    click = seg.segment(image, 0, [Prompt(0, points=((400.0, 140.0),), labels=(1,))])
    assert click.mask.shape == image.shape[:2] and click.mask.dtype == bool and 0.0 <= click.score <= 1.0
    assert len(seg._cache) == 1
    box = seg.segment(image, 0, [Prompt(0, box=(330.0, 15.0, 480.0, 272.0))])
    assert len(seg._cache) == 1  # the frame's features were reused
    tracked = _box(image.shape[:2], 330, 15, 480, 272)
    clicks = [Prompt(0, points=((400.0, 140.0), (340.0, 250.0)), labels=(1, 0))]
    with_mask = seg.segment(image, 0, clicks, [tracked])
    without = seg.segment(image, 0, clicks)
    assert (with_mask.mask != without.mask).any()
    alone = seg.segment(image, 0, [], [tracked])
    np.testing.assert_array_equal(alone.mask, tracked)
    assert box.mask.shape == image.shape[:2]


def _save(model, folder: Path) -> Path:  # noqa: ANN001
    model.save_pretrained(folder)
    return folder


def test_checkpoint_round_trip_and_errors(tmp_path: Path) -> None:
    model = random_model(small_config("sam2", SIZE), seed=5)
    folder = _save(model, tmp_path / "sam2-small")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]
    loaded = load_model(folder, "sam2")
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), k

    with pytest.raises(Sam2CheckpointError, match="holds a sam2 model, not edgetam"):
        load_model(folder, "edgetam")
    with pytest.raises(Sam2CheckpointError, match="checkpoint folder not found"):
        load_model(tmp_path / "nowhere")

    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(Sam2CheckpointError, match=r"config\.json: model_type 'bert' is not a SAM 2-family"):
        load_model(other)

    truncated = tmp_path / "truncated"
    truncated.mkdir()
    (truncated / "config.json").write_bytes((folder / "config.json").read_bytes())
    data = (folder / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(Sam2CheckpointError, match=r"model\.safetensors: cannot read safetensors") as info:
        load_model(truncated)
    assert "\n" not in str(info.value)

    (truncated / "model.safetensors").unlink()
    with pytest.raises(Sam2CheckpointError, match=r"model\.safetensors: missing"):
        load_model(truncated)

    wrong = tmp_path / "wrong"  # the weights of one size, the config of another
    _save(model, wrong)
    config = json.loads((wrong / "config.json").read_text())
    config["memory_attention_feed_forward_hidden_size"] = 512
    (wrong / "config.json").write_text(json.dumps(config))
    with pytest.raises(Sam2CheckpointError, match=r"model\.safetensors: weights do not fit the config: "
                                                  r"\d+ tensors of the wrong shape"):
        load_model(wrong)


def test_model_confidence_rule() -> None:
    from editor.tracking.model_confidence import combine, judge_by_model

    assert combine(0.9, 0.6, "tracked") == (0.6, "tracked")  # the evidence may call it weak
    assert combine(0.7, None, None) == (0.7, "tracked")
    assert combine(0.2, 0.9, "tracked") == pytest.approx((0.8, "lost"))  # hidden: how sure it is gone
    assert combine(0.95, 1.0, "lost") == (0.95, "found")
    confidence, states = {1: 1.0, 2: 0.3}, {1: "prompt", 2: "tracked"}
    judge_by_model({1: 0.1, 2: 0.1}, confidence, states, {}, skip={1})
    assert confidence == pytest.approx({1: 1.0, 2: 0.9}) and states == {1: "prompt", 2: "lost"}


@pytest.mark.parametrize("visible_bias", [4.0, -12.0], ids=["visible", "hidden"])
def test_engine_drives_sam2_both_ways(frames: list, tmp_path: Path, visible_bias: float) -> None:
    """The tracking engine streams real frames through one SAM 2 model as segmenter and tracker:
    a click on frame 3 is tracked back to 0 and on to the end, a box on frame 5 adds an object;
    confidence and state come from the model's occlusion head (hidden: no mask, ``lost``)."""
    from editor.api.prompts import parse_prompts
    from editor.tracking.engine import TrackingSession

    model = random_model(small_config("sam2", SIZE), seed=3, visible_bias=visible_bias)
    prompts = parse_prompts({"objects": [{"id": 1, "prompts": [{"frame": 3, "points": [[400, 140]], "labels": [1]}]},
                                         {"id": 2, "prompts": [{"frame": 5, "box": [60, 90, 220, 230]}]}]})
    session = TrackingSession(_sample("bikes.mp4"), Sam2Segmenter(model, "cpu"), Sam2Tracker(model, "cpu"),
                              work_dir=tmp_path)
    session.add_prompts(prompts)
    items = list(session.stream(iter(frames)))
    assert [it.frame.index for it in items] == list(range(FRAMES))
    assert all(it.labels.shape == (272, 640) for it in items)
    tracked = [f for f in range(FRAMES) if f not in (3, 5)]
    if visible_bias > 0:
        assert all((items[f].labels == 1).any() for f in range(FRAMES))  # backward to 0, forward to the end
        assert all((items[f].labels == 2).any() for f in range(5, FRAMES))
        assert all(session.states(f)[1] == "tracked" for f in tracked)
        # confidence ≤ the model's presence (< 1); random weights: the evidence finds most masks
        # unlike the prompt and calls those frames weak (listed for review), yet the masks stay
        assert all(0.0 <= session.confidence(f)[1] < 1.0 for f in tracked)
        weak = session.weak_frames()
        assert weak.get(1) and all((items[f].labels == 1).any() for f in weak[1])
    else:  # the model says the objects are not there: nothing output, lost, sure of it
        assert not any((items[f].labels > 0).any() for f in tracked)
        assert all(session.states(f)[1] == "lost" and session.confidence(f)[1] > 0.99 for f in tracked)
    session.close()


def test_auto_prefers_a_sam2_checkpoint_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """``--segmenter auto --tracker auto`` with ``--sam2-checkpoint``: SAM 2 for both, one line
    saying so, one model in memory for both; a checkpoint of the other family is refused."""
    from editor.api.errors import BackendUnavailable
    from editor.backends.assembly import BackendChoice, select_backends
    from editor.pipeline.plugin_manager import PluginManager

    folder = tmp_path / "sam2-small"
    random_model(small_config("sam2", SIZE), seed=2).save_pretrained(folder)
    pm = PluginManager(external=False)
    with caplog.at_level(logging.WARNING):
        selection = select_backends(pm, BackendChoice(device="cpu", sam2_checkpoint=folder))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "segmenter 'sam2'" in lines[0] and "tracker 'sam2'" in lines[0]
    backends = selection.build()
    assert (backends.segmenter_name, backends.tracker_name) == ("sam2", "sam2")
    assert backends.segmenter.model is backends.tracker.model
    with pytest.raises(BackendUnavailable, match="holds a sam2 model"):
        select_backends(pm, BackendChoice("edgetam", "edgetam", device="cpu", sam2_checkpoint=folder))


def test_cli_tracks_with_a_sam2_checkpoint(frames: list, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI end to end on 6 real frames; a truncated checkpoint is one line, exit 1, nothing written."""
    from clips import write_clip
    from editor.cli.main import main

    folder = tmp_path / "ckpt"
    random_model(small_config("edgetam", SIZE), seed=2).save_pretrained(folder)
    clip = write_clip(tmp_path / "bikes6.mp4", [f.image for f in frames[:6]])
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps({"objects": [{"id": 1, "prompts": [{"frame": 2, "box": [330, 15, 480, 272]}]}]}))
    rc = main(["-q", "track", str(clip), "--prompts", str(prompts), "-o", str(tmp_path / "m"), "--device", "cpu",
               "--sam2-checkpoint", str(folder)])
    assert rc == 0, capsys.readouterr().err
    assert len(list((tmp_path / "m").glob("*.png"))) == 6
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:1000])
    capsys.readouterr()
    rc = main(["-q", "track", str(clip), "--prompts", str(prompts), "-o", str(tmp_path / "m2"), "--device", "cpu",
               "--segmenter", "edgetam", "--tracker", "edgetam", "--sam2-checkpoint", str(folder)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "model.safetensors: cannot read safetensors" in err[0], err
    assert not (tmp_path / "m2").exists()


def test_bf16_autocast_stays_close_to_fp32(frames: list) -> None:
    """The reduced-precision path (bf16 autocast, the CUDA default) on a CPU: masks within a few
    percent of float32's (IoU) on every frame of a short real sequence."""
    model = random_model(small_config("sam2", SIZE), seed=3)
    info = probe(_sample("bikes.mp4"))
    full, half = (Sam2Tracker(model, "cpu", p).new_pass(info, reverse=False) for p in ("fp32", "bf16"))
    given = {1: _box(frames[0].image.shape[:2], 330, 15, 480, 272)}
    for f in range(6):
        a, b = full.step(frames[f], given if f == 0 else {}), half.step(frames[f], given if f == 0 else {})
        assert set(a) == set(b) == {1}
        iou = (a[1] & b[1]).sum() / max(1, (a[1] | b[1]).sum())
        assert iou > 0.9, (f, iou)


def test_web_ui_clicks_corrects_and_tracks_with_sam2(frames: list, tmp_path: Path) -> None:
    """The web UI's API on one SAM 2 model: a click segments, tracking runs both ways, a click
    on a tracked frame edits that frame's mask, and the masks download for every frame."""
    import io
    import time
    import zipfile

    from starlette.testclient import TestClient

    from clips import write_clip
    from editor.backends.assembly import BackendChoice
    from editor.pipeline.plugin_manager import PluginManager
    from editor.ui.server import UiConfig, create_app

    folder = tmp_path / "ckpt"
    random_model(small_config("sam2", SIZE), seed=3).save_pretrained(folder)
    clip = write_clip(tmp_path / "bikes6.mp4", [f.image for f in frames[:6]])
    origin, token = "http://127.0.0.1:8765", "t"
    config = UiConfig(clip, work_root=tmp_path / "ui", token=token,
                      backends=BackendChoice("sam2", "sam2", device="cpu", sam2_checkpoint=folder))
    with TestClient(create_app(config, PluginManager(external=False)), base_url=origin,
                    headers={"Origin": origin}) as client:
        assert client.get(f"/?token={token}").status_code == 200
        sid = client.post("/api/sessions", json={}).json()["id"]
        client.post(f"/api/sessions/{sid}/objects", json={"name": "cyclist"})
        first = client.post(f"/api/sessions/{sid}/prompts",
                            json={"frame": 2, "object": 1, "points": [[400, 140]], "labels": [1]})
        assert first.status_code == 200 and first.json()["area"] > 0
        assert client.post(f"/api/sessions/{sid}/track", json={"direction": "both", "start": 2}).status_code == 200

        def wait() -> dict:
            for _ in range(1200):
                job = client.get(f"/api/sessions/{sid}/job").json()
                if job["state"] != "running":
                    return job
                time.sleep(0.05)
            raise AssertionError("job did not finish")

        assert wait()["state"] == "done"
        before = client.get(f"/api/sessions/{sid}/download/masks.zip").content
        fix = client.post(f"/api/sessions/{sid}/prompts",
                          json={"frame": 4, "object": 1, "points": [[350, 250]], "labels": [0]})
        assert fix.status_code == 200
        client.post(f"/api/sessions/{sid}/track", json={"direction": "forward", "start": 4})
        assert wait()["state"] == "done"
        after = zipfile.ZipFile(io.BytesIO(client.get(f"/api/sessions/{sid}/download/masks.zip").content))
        assert len([n for n in after.namelist() if n.endswith(".png")]) == 6
        old = zipfile.ZipFile(io.BytesIO(before))
        assert after.read("00004.png") != old.read("00004.png")  # the click edited the tracked mask


def _kept(session: StreamingSession) -> dict:
    """Per object, the frames whose memory the session keeps (conditioning and other)."""
    s = session.session
    return {oid: {kind: sorted(s.output_dict_per_obj[s.obj_id_to_idx(oid)][kind])
                  for kind in ("cond_frame_outputs", "non_cond_frame_outputs")} for oid in s.obj_ids}


def test_a_damaged_frame_leaves_no_memory(model, frames: list) -> None:  # noqa: ANN001
    """Random weights of the real shapes (SAM 2 and EdgeTAM), a pass told of damage beside
    one that is not: on a damaged frame the masks and presence scores are the clean pass's
    (it is segmented as usual; a correction given there is its mask), but it leaves no
    memory entry and no conditioning frame for later frames, which are then tracked from
    the memory before it; an object that starts on a damaged frame keeps that mask.
    Clean frames are memorised (so the check can fail)."""
    import dataclasses

    shape = frames[0].image.shape[:2]
    video = probe(_sample("bikes.mp4"))
    told, clean = (Sam2Tracker(model, "cpu", "fp32").new_pass(video, reverse=False) for _ in range(2))
    prompts = {0: {1: _box(shape, 330, 15, 480, 272)}, 3: {1: _box(shape, 350, 30, 470, 250)},
               5: {2: _box(shape, 60, 90, 220, 230)}}
    damaged = {2, 3, 5}
    kept = []
    for t in range(7):
        before = _kept(told.session), told.session.state_size()
        a = told.step(dataclasses.replace(frames[t], damaged=t in damaged), prompts.get(t, {}))
        b = clean.step(frames[t], prompts.get(t, {}))
        kept.append(_kept(told.session))
        if t in (2, 3):  # the same state before: the same answer
            assert told.last is not None and clean.last is not None
            assert torch.equal(told.last.logits, clean.last.logits) and told.scores() == clean.scores()
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a) and 1 in a
            assert kept[t] == before[0] and told.session.state_size().bytes <= before[1].bytes
    assert kept[1][1]["non_cond_frame_outputs"] == [1]
    assert kept[4][1] == {"cond_frame_outputs": [0], "non_cond_frame_outputs": [4]}  # 1 aged out, 2 and 3 never in
    assert _kept(clean.session)[1]["cond_frame_outputs"] == [0, 3]  # the clean pass keeps its correction
    assert kept[5][2] == {"cond_frame_outputs": [5], "non_cond_frame_outputs": []}  # all it can start from
    assert kept[5][1] == kept[4][1] and 5 not in _kept(told.session)[1]["non_cond_frame_outputs"]
    assert told.last is not None and told.last.object_ids == [1, 2]
