"""Memory behaviour of editor.backends.xmem.InferenceCore with small configurations and tiny frames.

Two kinds of checks:

* scenario traces (memory sizes per frame, per-group value sizes, output probabilities)
  compared with ``tests/data/xmem/memory_traces.npz``, recorded from the original XMem inference
  engine (see ``tests/data/xmem/README.md`` and ``make_memory_traces.py``);
* explicit checks of the documented rules (consolidation sizes, pruning bound and tie rule,
  object groups, deep-update schedule, end frames, padding, errors).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from editor.backends.xmem import (
    InferenceCore,
    XMem,
    XMemConfig,
    normalize_image,
    pad_to_multiple,
)
from editor.backends.xmem.memory_store import MemoryStore
from editor.backends.xmem.synthetic import Disc, synthetic_clip, synthetic_network

DATA = Path(__file__).parent / "data" / "xmem"
SMALL_DIMS = (16, 64, 16)
"""key, value, hidden dims of the test networks (the ResNet trunks keep their real widths)."""

DISCS: tuple[Disc, ...] = (
    (10, 11, 0.04, 0.02, 6, (0.9, 0.2, 0.2), 0.7),
    (22, 20, -0.03, 0.02, 7, (0.2, 0.3, 0.9), 0.45),
    (14, 25, 0.02, -0.04, 4, (0.2, 0.9, 0.3), 0.9),
)
SAMPLE_STRIDE = 4


pytestmark = pytest.mark.usefixtures("torch_single_thread")


@functools.cache
def network(dims: tuple[int, int, int] = SMALL_DIMS) -> XMem:
    return synthetic_network(*dims)


@functools.cache
def clip(frames: int, height: int, width: int, num_discs: int) -> tuple[list[torch.Tensor], np.ndarray]:
    rgb, labels = synthetic_clip(frames, height, width, DISCS[:num_discs])
    return [normalize_image(f) for f in rgb], labels


def onehot(labels: np.ndarray, n: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([labels == i + 1 for i in range(n)]).astype(np.float32))


def base_config(**changes: Any) -> XMemConfig:
    cfg = XMemConfig(top_k=4, mem_every=1, max_mid_term_frames=6, min_mid_term_frames=3,
                     num_prototypes=8, max_long_term_elements=45)
    return cfg.replace(**changes)


# --------------------------------------------------------------------------------------------
# Scenario traces (compared with the original engine)
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scenario:
    name: str
    config: XMemConfig
    frames: int
    masks: dict[int, tuple[int, list[int]]]
    """frame -> (number of labels so far, labels given in the mask)."""
    size: tuple[int, int] = (32, 32)
    dims: tuple[int, int, int] = SMALL_DIMS
    num_discs: int = 2
    notes: str = field(default="", compare=False)


SCENARIOS = [
    Scenario("prune", base_config(), 300, {0: (2, [1, 2])},
             notes="long clip: repeated consolidation and long-term pruning"),
    Scenario("groups", base_config(max_long_term_elements=1000), 50,
             {0: (1, [1]), 7: (2, [2]), 16: (3, [3])}, num_discs=3,
             notes="objects added on later frames (three groups), long-term memory engaged first"),
    Scenario("deep_every_3", base_config(mem_every=2, deep_update_every=3), 40, {0: (2, [1, 2])},
             notes="deep update not synchronised with memory frames"),
    Scenario("no_sensory", base_config(), 30, {0: (2, [1, 2])}, dims=(16, 64, 0),
             notes="model without sensory memory"),
    Scenario("remask", base_config(mem_every=3), 40, {0: (2, [1, 2]), 10: (2, [1]), 20: (2, [1, 2])},
             notes="masks on later frames, one with a subset of the labels"),
    Scenario("no_long_term", base_config(enable_long_term=False, mem_every=2), 24, {0: (2, [1, 2])},
             notes="working memory only"),
    Scenario("padded", base_config(mem_every=2), 24, {0: (2, [1, 2])}, size=(30, 44),
             notes="frame size not a multiple of 16"),
]

SizesFn = Callable[[Any], tuple[int, int, list[int], list[int]]]


def our_sizes(core: InferenceCore) -> tuple[int, int, list[int], list[int]]:
    wm, lt = core.memory.work_mem, core.memory.long_mem
    return wm.size, lt.size, [v.shape[-1] for v in wm.values], [v.shape[-1] for v in lt.values]


def run_scenario(core: Any, sc: Scenario, sizes: SizesFn) -> dict[str, np.ndarray]:
    """Run a scenario on an engine with the original ``set_all_labels``/``step`` interface."""
    frames, labels = clip(sc.frames, *sc.size, sc.num_discs)
    max_labels = max(n for n, _ in sc.masks.values())
    c = max_labels + 1
    h, w = sc.size
    out = {
        "sizes": np.zeros((sc.frames, 2), np.int64),
        "wm_groups": np.full((sc.frames, max_labels), -1, np.int64),
        "lt_groups": np.full((sc.frames, max_labels), -1, np.int64),
        "means": np.full((sc.frames, c), np.nan),
        "samples": np.full((sc.frames, c, len(range(0, h, SAMPLE_STRIDE)), len(range(0, w, SAMPLE_STRIDE))),
                           np.nan, np.float32),
    }
    with torch.inference_mode():
        for t in range(sc.frames):
            end = t == sc.frames - 1
            if t in sc.masks:
                n, valid = sc.masks[t]
                core.set_all_labels(list(range(1, n + 1)))
                prob = core.step(frames[t], onehot(labels[t], n), valid, end=end)
            else:
                prob = core.step(frames[t], end=end)
            assert prob.shape[1:] == (h, w)
            k = prob.shape[0]
            wm, lt, wm_groups, lt_groups = sizes(core)
            out["sizes"][t] = (wm, lt)
            out["wm_groups"][t, :len(wm_groups)] = wm_groups
            out["lt_groups"][t, :len(lt_groups)] = lt_groups
            out["means"][t, :k] = prob.double().mean(dim=(1, 2)).numpy()
            out["samples"][t, :k] = prob[:, ::SAMPLE_STRIDE, ::SAMPLE_STRIDE].numpy()
    return out


@pytest.fixture(scope="module")
def traces() -> Any:
    return np.load(DATA / "memory_traces.npz")


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_matches_original_engine(sc: Scenario, traces: Any) -> None:
    core = InferenceCore(network(sc.dims), sc.config)
    got = run_scenario(core, sc, our_sizes)
    for key in ("sizes", "wm_groups", "lt_groups"):
        expected = traces[f"{sc.name}/{key}"]
        bad = np.argwhere((got[key] != expected).any(axis=1))
        assert bad.size == 0, (f"{key} differ first at frame {int(bad[0, 0])}: "
                               f"{got[key][bad[0, 0]].tolist()} != {expected[bad[0, 0]].tolist()}")
    for key in ("means", "samples"):
        expected = traces[f"{sc.name}/{key}"]
        err = float(np.nanmax(np.abs(got[key] - expected)))
        assert np.array_equal(np.isnan(got[key]), np.isnan(expected))
        assert err <= 1e-4, f"{key}: max abs error {err:.3g}"

    # Bounds that hold whatever the clip: working and long-term memory never exceed their caps.
    hw = ((sc.size[0] + 15) // 16) * ((sc.size[1] + 15) // 16)
    if sc.config.enable_long_term:
        assert got["sizes"][:, 0].max() <= sc.config.max_mid_term_frames * hw
        assert got["sizes"][:, 1].max() <= sc.config.max_long_term_elements


def test_long_run_prunes_long_term_memory(traces: Any) -> None:
    wm, lt = traces["prune/sizes"].T
    consolidations = int(np.sum(np.diff(wm) < 0))
    assert consolidations * 8 > 10 * 45, "far more prototypes were made than long-term memory holds"
    assert lt.max() == 45 and np.all(lt[np.argmax(lt):] == 45)  # pruned to 37, then +8, each time


# --------------------------------------------------------------------------------------------
# Explicit rules
# --------------------------------------------------------------------------------------------
def record_keys(net: XMem) -> tuple[list[torch.Tensor], Callable[[], None]]:
    keys: list[torch.Tensor] = []
    orig = net.encode_key

    def encode_key(*args: Any, **kwargs: Any) -> Any:
        out = orig(*args, **kwargs)
        keys.append(out[0].clone())
        return out

    net.encode_key = encode_key  # type: ignore[method-assign]
    return keys, lambda: delattr(net, "encode_key")


def test_consolidation_sizes_and_content() -> None:
    cfg = base_config(max_mid_term_frames=4, min_mid_term_frames=2, num_prototypes=4,
                      max_long_term_elements=100)
    net = network()
    core = InferenceCore(net, cfg)
    frames, labels = clip(8, 32, 32, 2)
    keys, restore = record_keys(net)
    try:
        core.set_all_labels([1, 2])
        hw = 4  # 32 x 32 -> 2 x 2 at stride 16
        history = []
        for t in range(8):
            core.step(frames[t], onehot(labels[t], 2) if t == 0 else None, [1, 2] if t == 0 else None)
            history.append(our_sizes(core)[:2])
    finally:
        restore()
    # Working memory reaches 4 frames at t=3 and is cut to first + last frame; LT gains 4.
    assert history == [(4, 0), (8, 0), (12, 0), (8, 4), (12, 4), (8, 8), (12, 8), (8, 12)]
    wm = core.memory.work_mem
    assert wm.key is not None
    expected = torch.cat([keys[0].flatten(start_dim=2), keys[7].flatten(start_dim=2)], dim=-1)
    assert torch.equal(wm.key, expected)
    assert wm.values[0].shape == (2, 64, 2 * hw)
    lt = core.memory.long_mem
    assert lt.selection is None and lt.shrinkage is not None and lt.shrinkage.shape == (1, 1, 12)
    assert [v.shape for v in lt.values] == [(2, 64, 12)]
    assert lt.use_count is not None and lt.use_count.shape == (1, 1, 12)
    # Prototype keys are candidate keys (frames 1..2, 3..4, 5..6 of the working memory).
    candidates = torch.cat([k.flatten(start_dim=2) for k in keys[1:7]], dim=-1)[0].T
    for proto in lt.key[0].T:  # type: ignore[index]
        assert (candidates == proto).all(dim=1).any()


def test_remove_obsolete_tie_rule() -> None:
    store = MemoryStore(count_usage=True)
    key = torch.arange(6, dtype=torch.float32).view(1, 1, 6)
    store.add_prototypes(key, torch.ones(1, 1, 6), [torch.zeros(1, 2, 6)])
    assert store.use_count is not None and store.life_count is not None
    store.use_count[:] = torch.tensor([5.0, 1.0, 2.0, 2.0, 9.0, 2.0])
    store.life_count[:] = 1.0
    store.remove_obsolete(4)  # two to remove: cut-off is the 2nd smallest (2.0); all 2.0s go
    assert store.key is not None and store.key.flatten().tolist() == [0.0, 4.0]
    assert store.values[0].shape == (1, 2, 2)
    store.remove_obsolete(5)  # nothing to remove
    assert store.size == 2


def test_remove_obsolete_needs_usage_and_single_group() -> None:
    store = MemoryStore(count_usage=False)
    store.add_prototypes(torch.zeros(1, 1, 4), torch.ones(1, 1, 4), [torch.zeros(1, 2, 4)])
    with pytest.raises(RuntimeError, match="usage"):
        store.remove_obsolete(2)
    store = MemoryStore(count_usage=True)
    store.add_prototypes(torch.zeros(1, 1, 4), torch.ones(1, 1, 4), [torch.zeros(1, 2, 4), torch.zeros(1, 2, 2)])
    with pytest.raises(NotImplementedError):
        store.remove_obsolete(2)
    assert store.size == 4  # untouched


def test_objects_added_later_form_a_new_group() -> None:
    core = InferenceCore(network(), base_config(max_long_term_elements=1000))
    frames, labels = clip(6, 32, 32, 2)
    core.set_all_labels([1])
    core.step(frames[0], onehot(labels[0], 1), [1])
    core.step(frames[1])
    core.set_all_labels([1, 2])
    prob = core.step(frames[2], onehot(labels[2], 2), [2])
    assert prob.shape == (3, 32, 32)
    wm = core.memory.work_mem
    assert wm.groups == [[0], [1]]
    assert [v.shape for v in wm.values] == [(1, 64, 12), (1, 64, 4)]
    assert core.memory.hidden is not None and core.memory.hidden.shape == (1, 2, 16, 2, 2)
    prob = core.step(frames[3])
    assert prob.shape == (3, 32, 32)
    assert [v.shape[-1] for v in wm.values] == [16, 8]
    with pytest.raises(ValueError, match="appended"):
        core.set_all_labels([2, 1])


def test_given_objects_overwrite_the_prediction() -> None:
    core = InferenceCore(network(), base_config())
    frames, labels = clip(3, 32, 32, 2)
    core.set_all_labels([1, 2])
    core.step(frames[0], onehot(labels[0], 2), [1, 2])
    mask = onehot(labels[1], 2)
    prob = core.step(frames[1], mask, [1])
    given = mask[0] > 0.5
    assert torch.all(prob[1][given] > 0.99)  # object 1 is what was given
    assert torch.all(prob[2][given] < 1e-3)  # the prediction of object 2 was cleared there


@pytest.mark.parametrize(("deep_every", "mem_every", "reinforce", "decoder_update"), [
    (-1, 3, [0, 3, 6], [1, 2, 4, 5, 7, 8]),        # synchronised with memory frames
    (3, 2, [0, 4, 8], [1, 2, 3, 4, 5, 6, 7, 8]),   # every >= 3 frames, on memory frames only
])
def test_deep_update_schedule(deep_every: int, mem_every: int, reinforce: list[int],
                              decoder_update: list[int]) -> None:
    net = network()
    assert net.value_encoder.hidden_reinforce is not None and net.decoder.hidden_update is not None
    core = InferenceCore(net, base_config(mem_every=mem_every, deep_update_every=deep_every))
    frames, labels = clip(10, 32, 32, 2)
    calls: dict[str, list[int]] = {"reinforce": [], "update": []}
    t_now = [0]
    hooks = [
        net.value_encoder.hidden_reinforce.register_forward_hook(
            lambda *a: calls["reinforce"].append(t_now[0])),
        net.decoder.hidden_update.register_forward_hook(lambda *a: calls["update"].append(t_now[0])),
    ]
    try:
        core.set_all_labels([1, 2])
        for t in range(10):
            t_now[0] = t
            hidden_before = core.memory.hidden
            size_before = core.memory.work_mem.size
            core.step(frames[t], onehot(labels[t], 2) if t == 0 else None, [1, 2] if t == 0 else None,
                      end=(t == 9))
        # The end frame (9) changes neither the memory nor the sensory state.
        assert core.memory.hidden is hidden_before and core.memory.work_mem.size == size_before
    finally:
        for h in hooks:
            h.remove()
    assert calls["reinforce"] == reinforce
    assert calls["update"] == decoder_update


def test_end_frame_is_not_memorised() -> None:
    core = InferenceCore(network(), base_config(mem_every=1))
    frames, labels = clip(3, 32, 32, 2)
    core.set_all_labels([1, 2])
    core.step(frames[0], onehot(labels[0], 2), [1, 2])
    core.step(frames[1])
    assert core.memory.work_mem.size == 8
    prob = core.step(frames[2], end=True)
    assert core.memory.work_mem.size == 8 and core.last_mem_ti == 1
    assert torch.allclose(prob.sum(0), torch.ones(32, 32), atol=1e-5)


def test_no_sensory_model_runs() -> None:
    net = network((16, 64, 0))
    assert net.hidden_dim == 0 and net.decoder.hidden_update is None
    assert net.value_encoder.hidden_reinforce is None
    core = InferenceCore(net, base_config(mem_every=2))
    frames, labels = clip(5, 32, 32, 2)
    core.set_all_labels([1, 2])
    for t in range(5):
        prob = core.step(frames[t], onehot(labels[t], 2) if t == 0 else None, [1, 2] if t == 0 else None)
        assert prob.shape == (3, 32, 32) and torch.isfinite(prob).all()


def test_padding_is_centred() -> None:
    x = torch.zeros(2, 49, 30)
    padded, pad = pad_to_multiple(x, 16)
    assert padded.shape == (2, 64, 32) and pad == (1, 1, 7, 8)
    core = InferenceCore(network(), base_config())
    frames, labels = clip(2, 30, 44, 2)
    core.set_all_labels([1, 2])
    mask = onehot(labels[0], 2)
    prob = core.step(frames[0], mask, [1, 2])
    assert core.pad == (2, 2, 1, 1) and prob.shape == (3, 30, 44)
    assert torch.equal(prob[1:].argmax(0)[mask.sum(0) > 0], mask.argmax(0)[mask.sum(0) > 0])
    assert core.step(frames[1]).shape == (3, 30, 44)


def test_clear_memory_restarts_the_video() -> None:
    core = InferenceCore(network(), base_config())
    frames, labels = clip(4, 32, 32, 2)
    core.set_all_labels([1, 2])
    first = [core.step(frames[t], onehot(labels[0], 2) if t == 0 else None) for t in range(4)]
    core.clear_memory()
    assert core.memory.work_mem.size == 0 and core.curr_ti == -1
    with pytest.raises(ValueError, match="mask"):
        core.step(frames[0])
    again = [core.step(frames[t], onehot(labels[0], 2) if t == 0 else None) for t in range(4)]
    for a, b in zip(first, again, strict=True):
        assert torch.equal(a, b)


def test_input_errors() -> None:
    core = InferenceCore(network(), base_config())
    frames, labels = clip(1, 32, 32, 2)
    with pytest.raises(ValueError, match="needs a mask"):
        core.step(frames[0])
    core.set_all_labels([1, 2])
    with pytest.raises(ValueError, match="one channel per label"):
        core.step(frames[0], onehot(labels[0], 1))
    with pytest.raises(ValueError, match="3 x H x W"):
        core.step(frames[0][:2], onehot(labels[0], 2))
    core.step(frames[0], onehot(labels[0], 2))
    with pytest.raises(ValueError, match="nothing to segment"):
        core.step(frames[0], None, [1, 2])
    assert core.curr_ti == 0
    with pytest.raises(ValueError, match="distinct"):
        core.set_all_labels([1, 1])
    with pytest.raises(ValueError, match="hidden_dim"):
        InferenceCore(network(), XMemConfig(hidden_dim=64))


def test_config_fields_and_errors() -> None:
    cfg = XMemConfig()
    assert (cfg.top_k, cfg.mem_every, cfg.deep_update_every, cfg.enable_long_term,
            cfg.max_mid_term_frames, cfg.min_mid_term_frames, cfg.max_long_term_elements,
            cfg.num_prototypes) == (30, 5, -1, True, 10, 5, 10000, 128)
    assert XMemConfig(**cfg.to_dict()) == cfg
    with pytest.raises(TypeError):
        XMemConfig(top_k=30, mem_evry=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mem_evry"):
        XMemConfig.from_dict({"mem_evry": 5})
    with pytest.raises(ValueError, match="min_mid_term_frames"):
        XMemConfig(min_mid_term_frames=10)
    with pytest.raises(TypeError, match="top_k"):
        XMemConfig(top_k=3.5)  # type: ignore[arg-type]
