"""One assembly of backends (editor.backends.assembly): ``auto`` and its one-line fallback
notice, typed backend options (errors name the flag and the option, through the real CLI),
options reaching the factories, and ``trackedit eval --refine`` reaching the tracking."""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

import numpy as np
import pytest

from clips import write_clip
from editor import hookimpl
from editor.api.backends import BackendContext, BackendOptions, Segmentation, SegmenterSpec, TrackerSpec
from editor.api.errors import BackendOptionError, BackendUnavailable
from editor.api.masks import write_label_png
from editor.backends.assembly import BackendChoice, BackendSetting, select_backends
from editor.cli.main import main
from editor.pipeline.plugin_manager import PluginManager


@pytest.fixture
def no_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty models folder: no SAM or XMem checkpoint can be found."""
    empty = tmp_path / "no-models"
    monkeypatch.setenv("TRACKEDIT_MODELS_DIR", str(empty))
    for var in ("TRACKEDIT_SAM_CHECKPOINT", "TRACKEDIT_XMEM_CHECKPOINT"):
        monkeypatch.delenv(var, raising=False)
    return empty


@pytest.fixture
def clip(tmp_path: Path) -> tuple[Path, Path]:
    """A small clip with a red block moving right, and prompts clicking it on frame 0."""
    def images():  # noqa: ANN202
        for i in range(6):
            img = np.full((64, 96, 3), 30, np.uint8)
            img[10:40, 10 + 3 * i:34 + 3 * i] = (220, 60, 40)
            yield img
    video = write_clip(tmp_path / "c.mp4", images())
    prompts = tmp_path / "p.json"
    prompts.write_text('{"objects": [{"id": 1, "prompts": [{"frame": 0, "points": [[20, 25]]}]}]}')
    return video, prompts


# -- auto -----------------------------------------------------------------------------------------
def test_auto_falls_back_to_classic_with_one_notice(no_models: Path, plugin_manager: PluginManager,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        selection = select_backends(plugin_manager, BackendChoice(device="cpu"))
    assert (selection.segmenter_spec.name, selection.tracker_spec.name) == ("classic", "classic")
    (line,) = [r.getMessage() for r in caplog.records]
    assert "classical segmenter 'classic' and classical tracker 'classic'" in line
    assert "sam: no SAM checkpoint found" in line and "xmem: no XMem checkpoint found" in line
    assert "trackedit models download sam_vit_b xmem" in line
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        select_backends(plugin_manager, BackendChoice("classic", "classic"))
    assert not caplog.records  # chosen by name: nothing to say
    with pytest.raises(BackendUnavailable, match="segmenter 'sam' cannot run: no SAM checkpoint found"):
        select_backends(plugin_manager, BackendChoice("sam", "classic"))


def test_auto_notice_through_the_cli(no_models: Path, clip: tuple[Path, Path], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    video, prompts = clip
    assert main(["track", str(video), "--prompts", str(prompts), "-o", str(tmp_path / "m")]) == 0
    err = capsys.readouterr().err
    notices = [line for line in err.splitlines() if "using the classical" in line]
    assert len(notices) == 1 and "`trackedit models download sam_vit_b xmem`" in notices[0], err
    assert "segmenter: classic, tracker: classic" in err


# -- typed options: errors ------------------------------------------------------------------------
@pytest.mark.parametrize("setting, message", [
    ("xmem.mem_evry=3", "--backend-set xmem.mem_evry=3: backend xmem has no option 'mem_evry' (options: "
                        "deep_update_every, enable_long_term, "),
    ("sam.precision=fp64", "--backend-set sam.precision=fp64: precision: Input should be 'auto', 'fp32', 'bf16' "
                           "or 'fp16'"),
    ("sam.cache_size=zero", "--backend-set sam.cache_size=zero: cache_size: Input should be a valid integer"),
    ("foo.x=1", "--backend-set foo.x=1: no backend 'foo' (backends: classic, edgetam, faces, people, plate-model, plates, refine, sam, sam2, xmem)"),
    ("classic.band=0", "--backend-set classic.band=0: band: Input should be greater than 0"),
    ("classic.colour=1", "--backend-set classic.colour=1: backend classic has no option 'colour' (options: band, "),
    ("xmem.min_mid_term_frames=10", "--backend-set xmem.min_mid_term_frames=10: min_mid_term_frames (10) must be "
                                    "below max_mid_term_frames (10)"),
    ("refine.min_score=2", "--backend-set refine.min_score=2: min_score: Input should be less than or equal to 1"),
    ("refine.mode=on", "--backend-set refine.mode=on: refine has no option 'mode' (options: max_area_change, "),
])
def test_backend_option_errors_name_the_flag(setting: str, message: str, no_models: Path, clip: tuple[Path, Path],
                                             tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Options are checked for every backend named, chosen or not; one line, exit 1, no output."""
    video, prompts = clip
    out = tmp_path / "out.mp4"
    capsys.readouterr()
    rc = main(["run", str(video), "-o", str(out), "--preset", "blur", "--prompts", str(prompts),
               "--segmenter", "classic", "--tracker", "classic", "--backend-set", setting])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert err.startswith(f"trackedit: error: {message}"), err
    assert err.count("\n") == 1 and "internal error" not in err and "Traceback" not in err
    assert not out.exists()


def test_malformed_backend_set_is_a_usage_error(clip: tuple[Path, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    video, prompts = clip
    rc = main(["track", str(video), "--prompts", str(prompts), "-o", str(tmp_path / "m"), "--backend-set", "sam"])
    err = capsys.readouterr().err
    assert rc == 2 and "--backend-set" in err and "expected backend.option=value" in err, err


def test_later_setting_wins_and_error_blames_the_last(plugin_manager: PluginManager) -> None:
    sets = (BackendSetting("classic", "max_side", 100), BackendSetting("classic", "max_side", 200))
    tracker = select_backends(plugin_manager, BackendChoice("classic", "classic", settings=sets)).build().tracker
    assert tracker.config.max_side == 200
    sets = (BackendSetting("classic", "max_side", 100), BackendSetting("classic", "max_side", 1))
    with pytest.raises(BackendOptionError, match=r"^--backend-set classic.max_side=1: max_side: Input should be "):
        select_backends(plugin_manager, BackendChoice("classic", "classic", settings=sets))


# -- typed options: values reach the factories ----------------------------------------------------
def test_classic_tracker_gets_its_typed_options(plugin_manager: PluginManager) -> None:
    from editor.backends.classic import FlowTracker, FlowTrackerConfig

    sets = (BackendSetting("classic", "reacquire", False), BackendSetting("classic", "band", 0.2))
    backends = select_backends(plugin_manager, BackendChoice("classic", "classic", settings=sets)).build()
    assert isinstance(backends.tracker, FlowTracker)
    assert backends.tracker.config == FlowTrackerConfig(reacquire=False, band=0.2)
    assert (backends.segmenter_name, backends.tracker_name, backends.refiner) == ("classic", "classic", None)
    assert backends.refine_options.mode == "auto"


def test_sam_options_reach_engine_and_segmenter(tmp_path: Path, plugin_manager: PluginManager) -> None:
    import torch

    from editor.backends.sam import SamSegmenter, build_sam
    from test_sam import TINY, _randomise

    sam = tmp_path / "sam.pth"
    torch.save(_randomise(build_sam(TINY), 0).state_dict(), sam)
    sets = tuple(BackendSetting("sam", k, v) for k, v in
                 [("cache_size", 2), ("fill_holes", 50), ("min_island", 7), ("multimask", False),
                  ("precision", "fp32"), ("refine_masks", True)])
    choice = BackendChoice("sam", "classic", device="cpu", sam_checkpoint=sam, settings=sets,
                           refine="off")
    backends = select_backends(plugin_manager, choice).build()
    segmenter = backends.segmenter
    assert isinstance(segmenter, SamSegmenter)
    assert segmenter.engine.cache_size == 2 and segmenter.engine.precision == torch.float32
    o = segmenter.options
    assert (o.fill_holes, o.min_island, o.multimask, o.refine_masks) == (50, 7, False, True)
    assert backends.refiner is None and backends.refine_options.mode == "off"
    auto = select_backends(plugin_manager, BackendChoice("sam", "classic", device="cpu", sam_checkpoint=sam)).build()
    assert auto.refiner is None  # SAM can refine, the classical tracker cannot take masks back
    with pytest.raises(BackendUnavailable, match="--refine on: the tracker cannot take refined masks back"):
        select_backends(plugin_manager, BackendChoice("sam", "classic", device="cpu", sam_checkpoint=sam,
                                                      refine="on")).build()


def test_option_model_defaults_match_the_backends() -> None:
    import inspect

    from editor.backends.sam import SamEngine, SamSegmenterOptions
    from editor.backends.xmem import XMemConfig
    from editor.backends.xmem.tracker import XMemTracker
    from trackedit_plugins.sam_segmenter import SamOptions
    from trackedit_plugins.xmem_backend import XMemOptions

    assert XMemOptions().config() == XMemConfig()
    assert XMemOptions(mem_every=3, top_k=8).config() == XMemConfig(mem_every=3, top_k=8)
    assert XMemOptions().internal_size == XMemTracker.internal_size and XMemOptions().precision == "auto"
    sam = SamOptions()
    engine = inspect.signature(SamEngine).parameters
    for name in ("precision", "cache_size", "compile", "fused_attention"):
        assert getattr(sam, name) == engine[name].default, name
    assert SamSegmenterOptions(**{k: getattr(sam, k) for k in ("multimask", "refine_masks", "fill_holes",
                                                               "min_island")}) == SamSegmenterOptions()


# -- eval --refine reaches the tracking ---------------------------------------------------------------
class _Counts:
    def __init__(self) -> None:
        self.refine_calls = 0
        self.reviews: list[object] = []


class _RefiningSegmenter:
    """Clicks → a disc; ``refine`` returns the tracked mask itself with full confidence."""

    def __init__(self, counts: _Counts) -> None:
        self.counts = counts

    def segment(self, image, frame_index, prompts, masks=None):  # noqa: ANN001, ANN201
        h, w = image.shape[:2]
        (x, y), = [p for pr in prompts for p in pr.positive_points][:1]
        yy, xx = np.mgrid[:h, :w]
        return Segmentation((xx - x) ** 2 + (yy - y) ** 2 <= 64, 1.0)

    def refine(self, image, frame_index, mask, probability=None):  # noqa: ANN001, ANN201
        self.counts.refine_calls += 1
        return Segmentation(mask.copy(), 1.0)


class _ReviewedPass:
    """Holds the masks still; with a review, every prediction is reported at 50 % confidence."""

    def __init__(self, counts: _Counts) -> None:
        self.counts, self.review, self.masks = counts, None, {}

    def set_review(self, review) -> None:  # noqa: ANN001
        self.review = review
        self.counts.reviews.append(review)

    def step(self, frame, prompts):  # noqa: ANN001, ANN201
        predicted = {oid: m for oid, m in self.masks.items() if oid not in prompts}
        if self.review is not None and predicted:
            probabilities = {oid: np.full(m.shape, 0.5, np.float32) for oid, m in predicted.items()}
            predicted.update(self.review(frame, predicted, probabilities))
        self.masks = {**predicted, **{oid: m.astype(bool) for oid, m in prompts.items()}}
        return dict(self.masks)

    def end_objects(self, ids) -> None:  # noqa: ANN001
        for oid in ids:
            self.masks.pop(oid, None)
        if self.review is not None:
            self.review.forget(list(ids))

    def close(self) -> None:
        pass


class _ReviewableTracker:
    supports_review = True

    def __init__(self, counts: _Counts) -> None:
        self.counts = counts

    def new_pass(self, video, *, reverse):  # noqa: ANN001, ANN201
        return _ReviewedPass(self.counts)


def _doubles(counts: _Counts) -> object:
    class Doubles:
        @hookimpl
        def editor_register_segmenters(self, register):  # noqa: ANN001
            register(SegmenterSpec("refining-double", BackendOptions,
                                   lambda context, options: _RefiningSegmenter(counts), kind="classic"))

        @hookimpl
        def editor_register_trackers(self, register):  # noqa: ANN001
            register(TrackerSpec("reviewable-double", BackendOptions,
                                 lambda context, options: _ReviewableTracker(counts), kind="classic"))
    return Doubles()


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """A one-sequence DAVIS-layout folder: a still square, 5 frames."""
    import cv2

    root = tmp_path / "ds"
    labels = np.zeros((48, 64), np.uint8)
    labels[14:34, 20:44] = 1
    for i in range(5):
        img = np.full((48, 64, 3), 40, np.uint8)
        img[labels == 1] = (200, 80, 40)
        (root / "JPEGImages" / "480p" / "square").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / "480p" / "square").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / "JPEGImages" / "480p" / "square" / f"{i:05d}.jpg"), img[..., ::-1])
        write_label_png(root / "Annotations" / "480p" / "square" / f"{i:05d}.png", labels)
    return root


def test_eval_refine_on_with_classic_backends_is_one_line(dataset: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["eval", "--dataset", str(dataset), "--segmenter", "classic", "--tracker", "classic", "--refine", "on"])
    err = capsys.readouterr().err
    assert rc == 1 and err == "trackedit: error: --refine on: the segmenter cannot refine masks (use sam)\n", err


@pytest.mark.parametrize("mode", ["on", "auto", "off"])
def test_eval_refine_reaches_the_tracking(mode: str, dataset: Path, registered_plugin, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    cli_main = importlib.import_module("editor.cli.main")  # the module (editor.cli.main is also a function)

    counts = _Counts()
    pm = registered_plugin(_doubles(counts), "doubles")
    monkeypatch.setattr(cli_main, "_plugins", lambda: pm)
    rc = main(["eval", "--dataset", str(dataset), "--segmenter", "refining-double", "--tracker", "reviewable-double",
               "--no-cuts", "--refine", mode])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "square" in out and "J&F 1.0000" not in out  # scored (a disc, not the square)
    # every pass gets the engine's review (evidence checks); refinement rides in it when on
    refinements = [r.refinement.counts for r in counts.reviews if r.refinement is not None]  # type: ignore[attr-defined]
    if mode == "off":
        assert not refinements and counts.refine_calls == 0
    else:  # every tracked (not prompted) frame is weak at 50 % confidence and refined
        assert refinements and sum(c.weak for c in refinements) >= 4
        assert sum(c.refined for c in refinements) == counts.refine_calls >= 4


def test_eval_refine_thresholds_are_the_backend_set_ones(dataset: Path, registered_plugin,  # noqa: ANN001
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    cli_main = importlib.import_module("editor.cli.main")  # the module (editor.cli.main is also a function)

    counts = _Counts()
    pm = registered_plugin(_doubles(counts), "doubles")
    monkeypatch.setattr(cli_main, "_plugins", lambda: pm)
    assert main(["eval", "--dataset", str(dataset), "--segmenter", "refining-double", "--tracker",
                 "reviewable-double", "--no-cuts", "--refine", "on", "--backend-set", "refine.min_confidence=0.4"]) == 0
    assert counts.reviews and counts.refine_calls == 0  # 50 % is confident enough at this threshold


def test_backend_context_carries_device_and_checkpoints(plugin_manager: PluginManager, tmp_path: Path) -> None:
    seen: list[BackendContext] = []

    class Spy:
        @hookimpl
        def editor_register_segmenters(self, register):  # noqa: ANN001
            register(SegmenterSpec("spy", BackendOptions, lambda context, options: seen.append(context) or object(),
                                   kind="classic"))

    plugin_manager.register(Spy(), "spy")
    choice = BackendChoice("spy", "classic", device="CPU", sam_checkpoint=tmp_path / "s.pth",
                           xmem_checkpoint=tmp_path / "x.pth", models_dir=tmp_path)
    backends = select_backends(plugin_manager, choice).build()
    assert seen == [BackendContext("cpu", tmp_path / "s.pth", tmp_path)] and backends.device == "cpu"
    with pytest.raises(Exception, match="unknown device 'tpu'"):
        select_backends(plugin_manager, BackendChoice(device="tpu"))
