"""Record ``memory_traces.npz`` with the ORIGINAL XMem inference engine (provenance script).

Usage (needs a checkout of github.com/hkchengrex/XMem, commit f3b841d5; nothing from it is
copied into this project)::

    python tests/data/xmem/make_memory_traces.py /path/to/XMem

The scenarios, clip and synthetic network come from ``tests/test_xmem_memory.py``; only the
engine differs: the original ``inference.inference_core.InferenceCore`` (with its
``MemoryManager`` and ``KeyValueMemoryStore``) drives this project's network. The original
network module is not used because it downloads ImageNet weights when constructed; network
parity is covered separately by ``public.npz``.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent


def original_sizes(core: Any) -> tuple[int, int, list[int], list[int]]:
    mem = core.memory
    long_mem = mem.long_mem if mem.enable_long_term else None
    return (mem.work_mem.size, 0 if long_mem is None else long_mem.size,
            [v.shape[-1] for v in mem.work_mem.value],
            [] if long_mem is None else [v.shape[-1] for v in long_mem.value])


def main(xmem_repo: str) -> None:
    sys.path.insert(0, str(HERE.parents[1]))  # tests/ (for test_xmem_memory)
    sys.path.insert(0, str(HERE.parents[2]))  # repository root (for editor)
    sys.path.insert(0, xmem_repo)
    from inference.inference_core import InferenceCore as OriginalCore  # type: ignore[import-not-found]
    from test_xmem_memory import SCENARIOS, network, run_scenario  # type: ignore[import-not-found]

    arrays: dict[str, np.ndarray] = {}
    for sc in SCENARIOS:
        config = sc.config.to_dict()
        net = network(sc.dims)
        config.update(key_dim=net.key_dim, value_dim=net.value_dim, hidden_dim=net.hidden_dim)
        out = run_scenario(OriginalCore(net, config), sc, original_sizes)
        for key, value in out.items():
            arrays[f"{sc.name}/{key}"] = value
        print(sc.name, "final sizes", out["sizes"][-1].tolist(), "max LT", int(out["sizes"][:, 1].max()))
    np.savez_compressed(HERE / "memory_traces.npz", **arrays)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
