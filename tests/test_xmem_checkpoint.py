"""Loading XMem checkpoints: strict keys and shapes, conversions, one-line errors."""
from __future__ import annotations

import pickle
import socket
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import torch

from editor.api.errors import TrackeditError
from editor.backends.xmem import CheckpointError, XMem, load_checkpoint, read_state_dict
from editor.backends.xmem.synthetic import synthetic_state_dict

DIMS = (16, 64, 16)


def shapes(key_dim: int, value_dim: int, hidden_dim: int) -> list[tuple[str, tuple[int, ...]]]:
    with torch.device("meta"):
        template = XMem(key_dim, value_dim, hidden_dim)
    return [(k, tuple(v.shape)) for k, v in template.state_dict().items()]


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    return synthetic_state_dict(shapes(*DIMS))


@pytest.fixture(scope="module")
def saved(weights: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xmem") / "XMem-small.pth"
    torch.save(weights, path)
    return path


pytestmark = pytest.mark.usefixtures("torch_single_thread")


def save(tmp_path: Path, obj: Any, name: str = "bad.pth") -> Path:
    path = tmp_path / name
    torch.save(obj, path)
    return path


def error_of(path: Path) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, map_location="cpu")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: "), message
    return message


def test_round_trip(saved: Path, weights: dict[str, torch.Tensor]) -> None:
    net = load_checkpoint(saved, map_location="cpu")
    assert not net.training
    assert (net.key_dim, net.value_dim, net.hidden_dim) == DIMS
    state = net.state_dict()
    assert list(state) == list(weights) and len(state) == 412
    assert sum(k.endswith("num_batches_tracked") for k in state) == 58
    for k, v in weights.items():
        assert torch.equal(state[k], v), k
    assert all(p.device.type == "cpu" for p in net.parameters())
    # Same network as from the in-memory state dict.
    other = XMem.from_state_dict(weights)
    image = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(net.encode_key(image)[0], other.encode_key(image)[0])


def test_read_state_dict(saved: Path) -> None:
    state = read_state_dict(saved)
    assert len(state) == 412 and all(isinstance(v, torch.Tensor) for v in state.values())


def test_dims_are_read_from_the_weights() -> None:
    net = XMem.from_state_dict(synthetic_state_dict(shapes(32, 128, 8)))
    assert (net.key_dim, net.value_dim, net.hidden_dim) == (32, 128, 8)


def test_no_sensory_checkpoint() -> None:
    entries = shapes(16, 64, 0)
    assert len(entries) == 402  # no decoder.hidden_update.* nor value_encoder.hidden_reinforce.*
    net = XMem.from_state_dict(synthetic_state_dict(entries))
    assert net.hidden_dim == 0 and net.decoder.hidden_update is None


def test_single_object_checkpoint_is_widened(weights: dict[str, torch.Tensor]) -> None:
    single = dict(weights)
    conv1 = weights["value_encoder.conv1.weight"]
    single["value_encoder.conv1.weight"] = conv1[:, :4].clone()
    net = XMem.from_state_dict(single)
    widened = net.value_encoder.conv1.weight
    assert widened.shape == (64, 5, 7, 7)
    assert torch.equal(widened[:, :4], conv1[:, :4]) and torch.all(widened[:, 4] == 0)
    assert single["value_encoder.conv1.weight"].shape[1] == 4  # the caller's dict is untouched


def test_module_prefix_is_removed(weights: dict[str, torch.Tensor]) -> None:
    net = XMem.from_state_dict({f"module.{k}": v for k, v in weights.items()})
    assert torch.equal(net.decoder.pred.weight, weights["decoder.pred.weight"])


def test_missing_keys(tmp_path: Path, weights: dict[str, torch.Tensor]) -> None:
    one = {k: v for k, v in weights.items() if k != "key_proj.d_proj.weight"}
    assert error_of(save(tmp_path, one)).endswith("missing 1 key: key_proj.d_proj.weight")
    no_counters = {k: v for k, v in weights.items() if not k.endswith("num_batches_tracked")}
    message = error_of(save(tmp_path, no_counters, "no_counters.pth"))
    assert "missing 58 keys: key_encoder.bn1.num_batches_tracked, " in message and "(53 more)" in message
    no_key_proj = {k: v for k, v in weights.items() if not k.startswith("key_proj.key_proj")}
    assert "missing 1 key: key_proj.key_proj.weight" in error_of(save(tmp_path, no_key_proj, "kp.pth"))


def test_unexpected_keys(tmp_path: Path, weights: dict[str, torch.Tensor]) -> None:
    extra = dict(weights, **{"key_encoder.layer4.0.conv1.weight": torch.zeros(1)})
    assert error_of(save(tmp_path, extra)).endswith("unexpected 1 key: key_encoder.layer4.0.conv1.weight")


def test_wrong_shape(tmp_path: Path, weights: dict[str, torch.Tensor]) -> None:
    bad = dict(weights, **{"decoder.pred.weight": torch.zeros(1, 256, 1, 1)})
    assert error_of(save(tmp_path, bad)).endswith(
        "wrong shape for 1 key: decoder.pred.weight (expected (1, 256, 3, 3), got (1, 256, 1, 1))")
    bad = dict(weights, **{"value_encoder.conv1.weight": torch.zeros(64, 3, 7, 7)})
    assert "value_encoder.conv1.weight (expected (64, 5, 7, 7)" in error_of(save(tmp_path, bad))


def test_non_float_weights(weights: dict[str, torch.Tensor]) -> None:
    bad = dict(weights, **{"decoder.pred.bias": torch.zeros(1, dtype=torch.int64)})
    with pytest.raises(CheckpointError, match=r"non-floating-point values for 1 key: decoder\.pred\.bias"):
        XMem.from_state_dict(bad)


def test_truncated_file(tmp_path: Path, saved: Path) -> None:
    data = saved.read_bytes()
    for fraction in (0.5, 0.999):
        path = tmp_path / f"truncated-{fraction}.pth"
        path.write_bytes(data[:int(len(data) * fraction)])
        assert "cannot read checkpoint" in error_of(path)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    text = tmp_path / "notes.pth"
    text.write_text("this is not a checkpoint\n")
    assert "cannot read checkpoint" in error_of(text)
    empty = tmp_path / "empty.pth"
    empty.write_bytes(b"")
    assert "cannot read checkpoint" in error_of(empty)
    assert "not an XMem state dict" in error_of(save(tmp_path, [torch.zeros(1)], "list.pth"))
    assert "not a named tensor: epoch" in error_of(save(tmp_path, {"epoch": 3}, "dict.pth"))
    # Arbitrary pickled objects are refused (weights_only loading).
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        pickle.dump(Path("x"), f)
    assert "cannot read checkpoint" in error_of(evil)


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "XMem.pth"
    assert error_of(missing) == f"{missing}: checkpoint file not found"
    assert error_of(tmp_path) == f"{tmp_path}: not a file"


def test_error_class() -> None:
    err = CheckpointError("missing 1 key: a", source="XMem.pth")
    assert isinstance(err, ValueError) and isinstance(err, TrackeditError)
    assert str(err) == "XMem.pth: missing 1 key: a"


def test_nothing_is_downloaded(monkeypatch: pytest.MonkeyPatch, weights: dict[str, torch.Tensor]) -> None:
    """Building XMem (from a state dict, or empty) never reaches for the network: the
    original constructs its ResNet encoders with ImageNet weights from a URL."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(str(args[:1]))
        raise ConnectionError("network access attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    net = XMem.from_state_dict(weights)
    empty = XMem(*DIMS)
    assert attempts == []
    loaded = net.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in weights.items())  # the given weights, nothing else
    assert sum(p.numel() for p in empty.parameters()) == sum(p.numel() for p in net.parameters())
    with pytest.raises(ConnectionError):  # the trap is live: a download would have been seen
        torch.hub.load_state_dict_from_url("https://example.invalid/resnet.pth")
    assert len(attempts) == 1
