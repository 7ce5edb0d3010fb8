"""Checks and conversions of XMem state dicts (no file I/O here; see :mod:`.checkpoint`)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from editor.backends.xmem.errors import CheckpointError

__all__ = ["ModelDims", "check_state_dict", "infer_dims", "normalize_state_dict"]

KEY_DIM_KEY = "key_proj.key_proj.weight"
VALUE_DIM_KEY = "value_encoder.fuser.block2.conv2.weight"
HIDDEN_DIM_KEY = "decoder.hidden_update.transform.weight"
VALUE_CONV1_KEY = "value_encoder.conv1.weight"

_MAX_LISTED = 5


@dataclass(frozen=True)
class ModelDims:
    """Key, value and hidden (sensory memory) channel counts of an XMem network."""

    key_dim: int = 64
    value_dim: int = 512
    hidden_dim: int = 64


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", … ({len(names) - _MAX_LISTED} more)" if len(names) > _MAX_LISTED else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def normalize_state_dict(state_dict: Mapping[str, object]) -> dict[str, Tensor]:
    """A new dict ready for :class:`~editor.backends.xmem.XMem`.

    * every value must be a tensor (else :class:`CheckpointError`);
    * a ``module.`` prefix on every key (``DataParallel`` checkpoints) is removed;
    * a 4-input-channel ``value_encoder.conv1.weight`` (single-object model) is widened with
      a zero 5th channel, exactly as the original loader does.
    """
    if not isinstance(state_dict, Mapping) or not state_dict:
        raise CheckpointError("not an XMem state dict (expected a non-empty mapping of tensors)")
    bad = [str(k) for k, v in state_dict.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise CheckpointError(f"not an XMem state dict: {_plural(len(bad), 'entry')} "
                              f"not a named tensor: {_listing(bad)}")
    out: dict[str, Tensor] = dict(state_dict)  # type: ignore[arg-type]
    if all(k.startswith("module.") for k in out):
        out = {k[len("module."):]: v for k, v in out.items()}
    conv1 = out.get(VALUE_CONV1_KEY)
    if conv1 is not None and conv1.dim() == 4 and conv1.shape[1] == 4:
        pad = torch.zeros((conv1.shape[0], 1, *conv1.shape[2:]), dtype=conv1.dtype, device=conv1.device)
        out[VALUE_CONV1_KEY] = torch.cat([conv1, pad], dim=1)
    return out


def infer_dims(state_dict: Mapping[str, Tensor]) -> ModelDims:
    """Read the dimensions from the weights, as the original ``init_hyperparameters`` does.

    ``hidden_dim`` is 0 (no sensory memory) when ``decoder.hidden_update.transform.weight``
    is absent.
    """
    missing = [k for k in (KEY_DIM_KEY, VALUE_DIM_KEY) if k not in state_dict]
    if missing:
        raise CheckpointError(f"not an XMem state dict: missing {_plural(len(missing), 'key')}: "
                              f"{_listing(missing)}")
    for k in (KEY_DIM_KEY, VALUE_DIM_KEY, HIDDEN_DIM_KEY):
        if k in state_dict and state_dict[k].dim() != 4:
            raise CheckpointError(f"wrong shape for {k}: expected a 4-D convolution weight, "
                                  f"got {tuple(state_dict[k].shape)}")
    hidden = state_dict.get(HIDDEN_DIM_KEY)
    hidden_dim = 0 if hidden is None else hidden.shape[0] // 3
    return ModelDims(key_dim=state_dict[KEY_DIM_KEY].shape[0],
                     value_dim=state_dict[VALUE_DIM_KEY].shape[0],
                     hidden_dim=hidden_dim)


def check_state_dict(expected: Mapping[str, Tensor], given: Mapping[str, Tensor]) -> None:
    """Strict comparison of key sets and shapes; raises one :class:`CheckpointError`.

    The message is one line naming the first problem found, in the order missing keys,
    unexpected keys, wrong shapes (e.g. ``"missing 3 keys: key_proj.d_proj.weight, …"``).
    """
    missing = [k for k in expected if k not in given]
    if missing:
        raise CheckpointError(f"missing {_plural(len(missing), 'key')}: {_listing(missing)}")
    unexpected = [k for k in given if k not in expected]
    if unexpected:
        raise CheckpointError(f"unexpected {_plural(len(unexpected), 'key')}: {_listing(unexpected)}")
    wrong = [f"{k} (expected {tuple(v.shape)}, got {tuple(given[k].shape)})"
             for k, v in expected.items() if tuple(given[k].shape) != tuple(v.shape)]
    if wrong:
        raise CheckpointError(f"wrong shape for {_plural(len(wrong), 'key')}: {_listing(wrong)}")
    not_float = [k for k, v in given.items()
                 if expected[k].is_floating_point() and not v.is_floating_point()]
    if not_float:
        raise CheckpointError(f"non-floating-point values for {_plural(len(not_float), 'key')}: "
                              f"{_listing(not_float)}")
