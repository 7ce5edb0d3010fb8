"""SAM segmenter on tiny and real-sized random-weight models (no downloads): parity with the
stock SamPredictor, fused attention, embedding cache, mask-prompt geometry, the exclude-click
refinement, checkpoint loading and errors, the plugin in the pipeline."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("segment_anything")

from editor.tracking.corrections import erases, include_spots, local_exclusion  # noqa: E402
from editor.api.errors import PromptError  # noqa: E402
from editor.api.prompts import Prompt  # noqa: E402
from editor.backends.sam import (  # noqa: E402
    VARIANTS,
    SamCheckpointError,
    SamEngine,
    SamSegmenter,
    SamSegmenterOptions,
    SamVariant,
    build_sam,
    detect_variant,
    load_sam,
    mask_to_prompt_logits,
    model_from_state_dict,
    remove_small_regions,
)
from editor.backends.sam.attention import enable_fused_attention  # noqa: E402

TINY = SamVariant("custom", embed_dim=32, depth=2, num_heads=2, global_attn_indexes=(1,), image_size=256,
                  window_size=6)


def _randomise(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Deterministic non-trivial weights (SAM zero-initialises the relative positions)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.5 if "rel_pos" in name else 1.0
            p.copy_(torch.randn(p.shape, generator=g) * scale * (p.std().clamp(min=0.02) if p.numel() > 1 else 0.1))
        model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix.copy_(
            torch.randn(model.prompt_encoder.pe_layer.positional_encoding_gaussian_matrix.shape, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def tiny_model() -> torch.nn.Module:
    return _randomise(build_sam(TINY), 0)


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = (rng.random((120, 200, 3)) * 60 + 40).astype(np.uint8)
    img[30:90, 60:130] = (200, 60, 40)  # an object
    return img


def _engine(model: torch.nn.Module, **kw) -> SamEngine:  # noqa: ANN003
    return SamEngine(copy.deepcopy(model), "cpu", **kw)


def test_matches_the_stock_predictor(tiny_model: torch.nn.Module, frame: np.ndarray, torch_single_thread) -> None:  # noqa: ANN001
    from segment_anything import SamPredictor

    stock = SamPredictor(copy.deepcopy(tiny_model))
    stock.set_image(frame)
    ours = _engine(tiny_model)
    emb = ours.embed(frame)
    assert torch.allclose(emb.features, stock.get_image_embedding(), atol=1e-4, rtol=1e-4)
    cases = [dict(points=np.array([[95.0, 60.0]]), labels=np.array([1])),
             dict(points=np.array([[95.0, 60.0], [20.0, 100.0]]), labels=np.array([1, 0])),
             dict(box=np.array([55.0, 25.0, 135.0, 95.0])),
             dict(points=np.array([[95.0, 60.0]]), labels=np.array([1]), box=np.array([55.0, 25.0, 135.0, 95.0]))]
    for case in cases:
        masks, scores, low = stock.predict(point_coords=case.get("points"), point_labels=case.get("labels"),
                                           box=case.get("box"), multimask_output=True)
        pred = ours.predict(emb, case.get("points"), case.get("labels"), case.get("box"), only_best=False)
        assert np.allclose(pred.scores, scores, atol=1e-4)
        assert np.allclose(pred.low_res.numpy(), low, atol=1e-3)
        for i in range(3):
            assert (pred.masks[i] != masks[i]).mean() < 1e-3  # bilinear ties at the 0 level only
        # a previous decode's logits as mask prompt, as the stock API takes them
        masks2, scores2, _ = stock.predict(point_coords=case.get("points"), point_labels=case.get("labels"),
                                           box=case.get("box"), mask_input=low[:1], multimask_output=False)
        pred2 = ours.predict(emb, case.get("points"), case.get("labels"), case.get("box"), pred.low_res[0],
                             multimask=False)
        assert np.allclose(pred2.scores, scores2, atol=1e-4)


def test_fused_attention_is_the_same_math(tiny_model: torch.nn.Module) -> None:
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    plain = copy.deepcopy(tiny_model.image_encoder)
    fused = copy.deepcopy(tiny_model.image_encoder)
    assert enable_fused_attention(fused) == TINY.depth
    assert fused.state_dict().keys() == plain.state_dict().keys()
    with torch.inference_mode():
        a, b = plain(x), fused(x)
    assert torch.allclose(a, b, atol=1e-5, rtol=1e-4), (a - b).abs().max()


def test_bf16_encoder_agrees_with_fp32(tiny_model: torch.nn.Module, frame: np.ndarray) -> None:
    fp32, bf16 = _engine(tiny_model, precision="fp32"), _engine(tiny_model, precision="bf16")
    e32, e16 = fp32.embed(frame), bf16.embed(frame)
    assert e16.features.dtype == torch.float32  # cast back before the decoder and any numpy
    rel = ((e16.features - e32.features).norm() / e32.features.norm()).item()
    assert rel <= 1e-2, rel
    pts, lab = np.array([[95.0, 60.0]]), np.array([1])
    a, b = fp32.predict(e32, pts, lab), bf16.predict(e16, pts, lab)
    rel = ((a.low_res - b.low_res).norm() / a.low_res.norm()).item()
    assert rel <= 1e-2, rel
    assert a.best == b.best
    # random weights give logits near 0; compare masks cut at the fp32 median so both halves count
    cut = a.low_res[a.best].median()
    ma, mb = (a.low_res[a.best] > cut).numpy(), (b.low_res[b.best] > cut).numpy()
    iou = np.logical_and(ma, mb).sum() / np.logical_or(ma, mb).sum()
    assert iou >= 0.99, iou


def test_encoder_runs_once_per_frame_and_cache_is_bounded(tiny_model: torch.nn.Module, frame: np.ndarray) -> None:
    engine = _engine(tiny_model, cache_size=2)
    seg = SamSegmenter(engine)
    for clicks in ([(95, 60)], [(95, 60), (100, 70)], [(95, 60), (100, 70), (20, 20)]):
        seg.segment(frame, 3, [Prompt(3, tuple(clicks), tuple([1] * (len(clicks) - 1) + [0] * 0 + [1]))])
    assert engine.encoder_calls == 1
    others = [np.roll(frame, k, axis=1) for k in (5, 10, 15)]
    for k, img in enumerate(others):
        seg.segment(img, 10 + k, [Prompt(10 + k, ((95, 60),), (1,))])
    assert engine.encoder_calls == 4 and len(engine._cache) == 2
    seg.segment(frame, 3, [Prompt(3, ((95, 60),), (1,))])  # evicted: encoded again
    assert engine.encoder_calls == 5
    # the same frame index with other pixels (another video) is not served from the cache
    seg.segment(others[0], 3, [Prompt(3, ((95, 60),), (1,))])
    assert engine.encoder_calls == 6


def test_exclude_click_refines_with_previous_logits(tiny_model: torch.nn.Module, frame: np.ndarray,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(tiny_model)
    calls: list[object] = []
    real = engine.predict

    def spy(emb, points, labels, box, mask_logits=None, **kw):  # noqa: ANN001, ANN003, ANN202
        out = real(emb, points, labels, box, mask_logits, **kw)
        calls.append((mask_logits, out))
        return out

    monkeypatch.setattr(engine, "predict", spy)
    seg = SamSegmenter(engine)
    result = seg.segment(frame, 0, [Prompt(0, ((95, 60),), (1,))])
    assert len(calls) == 1 and calls[0][0] is None
    assert 0.0 <= result.score <= 1.0 and result.mask.shape == frame.shape[:2]
    calls.clear()
    result = seg.segment(frame, 0, [Prompt(0, ((95, 60), (20, 100)), (1, 0))])
    assert len(calls) == 2
    first = calls[0][1]
    assert torch.equal(calls[1][0], first.low_res[first.best])  # second decode: best logits as mask prompt
    second = calls[1][1]
    assert np.array_equal(result.mask, second.masks[second.best])
    assert result.score == pytest.approx(float(np.clip(second.scores.max(), 0, 1)))


def test_mask_prompt_geometry() -> None:
    """A rectangle in a 1280×720 frame lands where the frame lands in SAM's padded square:
    scale 1024/1280 = 0.8, then 1/4 → x/5, y/5, bottom 5/16 of the grid is padding."""
    mask = np.zeros((720, 1280), bool)
    mask[100:400, 300:800] = True
    logits = mask_to_prompt_logits(mask, 1024)
    assert logits.shape == (256, 256) and logits.dtype == np.float32
    ys, xs = np.nonzero(logits > 0)
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (60, 160, 20, 80)
    assert logits[150:, :].max() < -19  # padding below the frame: confidently outside
    assert logits[30:70, 70:150].min() > 19
    # a naive 256×256 squeeze of the mask would put it elsewhere
    naive_rows = np.nonzero(np.any(np.array(
        [[mask[int(y * 720 / 256), int(x * 1280 / 256)] for x in range(256)] for y in range(256)]), axis=1))[0]
    assert naive_rows.max() > 100


def test_mask_prompts_kept_or_refined(tiny_model: torch.nn.Module, frame: np.ndarray) -> None:
    given = np.zeros(frame.shape[:2], bool)
    given[30:90, 60:130] = True
    seg = SamSegmenter(_engine(tiny_model))
    kept = seg.segment(frame, 0, [Prompt(0, mask=Path("m.png"))], [given])
    assert np.array_equal(kept.mask, given) and seg.engine.encoder_calls == 0
    refine = SamSegmenter(_engine(tiny_model), SamSegmenterOptions(refine_masks=True))
    out = refine.segment(frame, 0, [Prompt(0, mask=Path("m.png"))], [given])
    assert refine.engine.encoder_calls == 1 and out.mask.shape == given.shape
    # with a click, the mask goes in as SAM's low-res prompt next to the point
    both = refine.segment(frame, 0, [Prompt(0, ((95, 60),), (1,)), Prompt(0, mask=Path("m.png"))], [given])
    assert both.mask.shape == given.shape
    with pytest.raises(PromptError, match="one box"):
        seg.segment(frame, 0, [Prompt(0, box=(1, 1, 50, 50)), Prompt(0, box=(60, 20, 120, 90))])


def test_remove_small_regions() -> None:
    m = np.zeros((60, 60), bool)
    m[10:40, 10:40] = True
    m[20:23, 20:23] = False  # 9 px hole
    m[50:52, 50:52] = True  # 4 px island
    out = remove_small_regions(m, fill_holes=20, min_island=10)
    assert out[21, 21] and not out[50, 50] and out[10:40, 10:40].all()
    assert np.array_equal(remove_small_regions(m, 0, 0), m)
    assert remove_small_regions(m & False | (np.arange(60)[:, None] == 5) & (np.arange(60) < 3), 0, 100).any()


def test_variants_detected_from_shapes() -> None:
    for name, v in VARIANTS.items():
        with torch.device("meta"):
            sd = build_sam(v).state_dict()
        assert detect_variant(sd) == v
        assert len(sd) == {"vit_b": 314, "vit_l": 482, "vit_h": 594}[name]
    with torch.device("meta"):
        vit_h = build_sam(VARIANTS["vit_h"]).state_dict()
        params = sum(p.numel() for p in build_sam(VARIANTS["vit_b"]).parameters())
    assert params == 93_735_472
    with pytest.raises(SamCheckpointError, match="this is a vit_h checkpoint, not vit_b"):
        model_from_state_dict(vit_h, expected="vit_b", source="sam_vit_h_4b8939.pth")
    with pytest.raises(SamCheckpointError, match="not a SAM checkpoint"):
        detect_variant({"key_proj.weight": torch.zeros(1)})


def test_checkpoint_round_trip_and_errors(tiny_model: torch.nn.Module, frame: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "tiny_sam.pth"
    torch.save(tiny_model.state_dict(), path)
    model, variant = load_sam(path)
    assert variant == TINY
    a, b = _engine(tiny_model), SamEngine(model)
    pa = a.predict(a.embed(frame), np.array([[95.0, 60.0]]), np.array([1]))
    pb = b.predict(b.embed(frame), np.array([[95.0, 60.0]]), np.array([1]))
    assert torch.allclose(pa.low_res, pb.low_res, atol=1e-5)
    truncated = tmp_path / "cut.pth"
    truncated.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    sd = dict(tiny_model.state_dict())
    del sd["mask_decoder.iou_token.weight"]
    missing = tmp_path / "missing.pth"
    torch.save({k: v for k, v in sd.items() if not k.startswith("mask_decoder.output_hyper")}, missing)
    sd = dict(tiny_model.state_dict())
    sd["mask_decoder.iou_prediction_head.layers.0.weight"] = torch.zeros(3, 3)
    wrong = tmp_path / "wrong.pth"
    torch.save(sd, wrong)
    cases = {truncated: "truncated", missing: "missing", wrong: "wrong shapes", tmp_path / "nope.pth": "not found"}
    for bad, why in cases.items():
        with pytest.raises(SamCheckpointError) as err:
            load_sam(bad)
        text = str(err.value)
        assert "\n" not in text and text.startswith(str(bad)) and why in text, text


@pytest.mark.slow
def test_real_sized_vit_b_with_random_weights(tmp_path: Path, torch_single_thread) -> None:  # noqa: ANN001
    """The official vit_b shape end to end: 314 keys saved and loaded strictly, a 64×64×256
    embedding of a 720p frame, one click → a mask at 720p."""
    torch.manual_seed(0)
    model = build_sam(VARIANTS["vit_b"])
    path = tmp_path / "sam_vit_b_random.pth"
    torch.save(model.state_dict(), path)
    del model
    loaded, variant = load_sam(path, expected="vit_b")
    assert variant.name == "vit_b"
    engine = SamEngine(loaded)
    image = np.random.default_rng(0).integers(0, 255, (720, 1280, 3), dtype=np.uint8)
    emb = engine.embed(image)
    assert tuple(emb.features.shape) == (1, 256, 64, 64) and emb.input_size == (576, 1024)
    pred = engine.predict(emb, np.array([[640.0, 360.0]]), np.array([1]))
    assert pred.masks[pred.best].shape == (720, 1280) and pred.scores.shape == (3,)


def test_plugin_runs_sam_for_every_prompt_in_the_pipeline(tiny_model: torch.nn.Module, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`trackedit track --segmenter sam --sam-checkpoint FILE` (and `auto` with a checkpoint)
    segments each prompt with SAM: the masks on the prompted frames are SAM's masks."""
    import json

    from clips import write_clip
    from editor.cli.main import main
    from editor.api.masks import read_label_png
    from editor.video.reader import iter_frames
    from test_tracking import T, _scene

    clip = write_clip(tmp_path / "scene.mp4", [_scene(t)[0] for t in range(T)], pix_fmt="yuv444p",
                      options={"crf": "0"})
    ckpt = tmp_path / "tiny_sam.pth"
    torch.save(tiny_model.state_dict(), ckpt)
    monkeypatch.setenv("TRACKEDIT_MODELS_DIR", str(tmp_path / "no-models"))  # no XMem: classical tracker
    prompts = {"version": 1, "objects": [
        {"id": 1, "prompts": [{"frame": 2, "points": [[50, 48], [10, 10]], "labels": [1, 0]}]},
        {"id": 2, "prompts": [{"frame": 2, "box": [70, 60, 118, 110]},
                              {"frame": 12, "points": [[90, 80]], "labels": [1]}]}]}
    pfile = tmp_path / "prompts.json"
    pfile.write_text(json.dumps(prompts))
    frames = {f.index: f.image for f in iter_frames(clip) if f.index in (2, 12)}
    direct = SamSegmenter(SamEngine(copy.deepcopy(tiny_model)))
    # random weights: logits sit just below 0; cut masks at a level inside their range instead
    from segment_anything.modeling import Sam

    direct.predict(frames[2], 2, [(50, 48)], [1])
    low = direct.last_prediction.low_res
    monkeypatch.setattr(Sam, "mask_threshold", float(low[direct.last_prediction.best].quantile(0.7)))
    expect = {(2, 1): direct.predict(frames[2], 2, [(50, 48), (10, 10)], [1, 0]).mask,
              (2, 2): direct.predict(frames[2], 2, [], [], (70, 60, 118, 110)).mask,
              (12, 2): direct.predict(frames[12], 12, [(90, 80)], [1]).mask}
    # the session holds every prompt mask to "corrections never erase" (editor.tracking.corrections):
    # with random weights the exclude click can take most of the object away, and an include
    # click the mask misses gets its spot — the same rules applied to SAM's own answers
    reference = direct.predict(frames[2], 2, [(50, 48)], [1]).mask
    if erases(expect[(2, 1)], reference):
        expect[(2, 1)] = local_exclusion(frames[2], expect[(2, 1)], reference, [(10, 10)])
    expect[(2, 1)] = include_spots(expect[(2, 1)], [(50, 48)], [(10, 10)])
    expect[(12, 2)] = include_spots(expect[(12, 2)], [(90, 80)])
    assert all(0 < m.sum() < m.size for m in expect.values()), [int(m.sum()) for m in expect.values()]
    for segmenter in ("sam", "auto"):
        out = tmp_path / f"masks-{segmenter}"
        capsys.readouterr()
        assert main(["track", str(clip), "--prompts", str(pfile), "-o", str(out), "--segmenter",
                     segmenter, "--tracker", "auto", "--sam-checkpoint", str(ckpt)]) == 0
        notices = [line for line in capsys.readouterr().err.splitlines() if "classical" in line]
        assert len(notices) == 1 and "classical tracker" in notices[0] and "segmenter" not in notices[0]
        for (f, oid), mask in expect.items():
            labels = read_label_png(out / f"{f:05d}.png")
            others = (labels != oid) & (labels != 0)
            assert np.array_equal((labels == oid) | (mask & others), mask), (segmenter, f, oid)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_fast_path_agrees_with_fp32() -> None:
    """Real vit_b shape with random weights on the GPU: bf16 autocast + fused attention (and
    torch.compile) against the stock fp32 encoder: embedding and logits within 1e-2."""
    torch.manual_seed(0)
    model = build_sam(VARIANTS["vit_b"]).cuda().eval()
    image = np.random.default_rng(0).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    ref = SamEngine(copy.deepcopy(model), "cuda", precision="fp32", fused_attention=False)
    for kw in ({"precision": "bf16"}, {"precision": "bf16", "compile": True}):
        fast = SamEngine(copy.deepcopy(model), "cuda", **kw)
        a, b = ref.embed(image), fast.embed(image)
        rel = ((a.features - b.features).norm() / a.features.norm()).item()
        assert rel <= 1e-2, (kw, rel)
        pa = ref.predict(a, np.array([[960.0, 540.0]]), np.array([1]))
        pb = fast.predict(b, np.array([[960.0, 540.0]]), np.array([1]))
        rel = ((pa.low_res - pb.low_res).norm() / pa.low_res.norm()).item()
        assert rel <= 1e-2, (kw, rel)
