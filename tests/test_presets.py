"""Presets: built-ins valid, errors name preset/stage/key, --set overrides."""
from __future__ import annotations

from pathlib import Path

import pytest

from editor.api.errors import PresetError
from editor.pipeline.presets import apply_overrides, builtin_presets, load_preset, validate_preset


def test_builtin_presets_validate(plugin_manager) -> None:  # noqa: ANN001
    names = builtin_presets()
    assert {"blur", "pixelate", "overlay", "solid"} <= set(names)
    for name in names:
        validate_preset(load_preset(name), plugin_manager)


def test_overrides_parse_toml_values(plugin_manager) -> None:  # noqa: ANN001
    preset = apply_overrides(load_preset("blur"), ["blur.sigma=30", "blur.objects=[1, \"face\"]",
                                                   "blur.shape=box"])
    (cfg, options), = validate_preset(preset, plugin_manager)
    assert options.sigma == 30.0 and options.objects == [1, "face"] and options.shape == "box"


@pytest.mark.parametrize("override, message", [
    ("blur.sigmaa=3", "--set blur.sigmaa=3: stage blur has no option 'sigmaa' (options: dilate, feather, hold, "
                      "objects, shape, sigma)"),
    ("blur.sigma=-1", "--set blur.sigma=-1: sigma: "),
    ("blur.shape=circle", "--set blur.shape=circle: shape: "),
    ("faces.sigma=3", "preset 'blur' has no stage 'faces'"),
    ("sigma=3", "expected stage.option=value"),
])
def test_bad_overrides(plugin_manager, override: str, message: str) -> None:  # noqa: ANN001
    with pytest.raises(PresetError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate_preset(apply_overrides(load_preset("blur"), [override]), plugin_manager)


def test_preset_file_with_aliases_and_errors(tmp_path: Path, plugin_manager) -> None:  # noqa: ANN001
    p = tmp_path / "mine.toml"
    p.write_text('description = "two blurs"\nstages = ["faces", "plates"]\n'
                 '[faces]\nuse = "blur"\nobjects = ["face"]\n[plates]\nuse = "pixelate"\nblock = 12\n')
    preset = load_preset(p)
    assert [(s.id, s.use) for s in preset.stages] == [("faces", "blur"), ("plates", "pixelate")]
    validate_preset(preset, plugin_manager)

    p.write_text('stages = ["x"]\n[x]\nuse = "sparkle"\n')
    with pytest.raises(PresetError, match=r"mine.toml: preset 'mine', stage 'x': unknown stage type 'sparkle'"):
        validate_preset(load_preset(p), plugin_manager)
    p.write_text('stages = ["blur"]\n[blurr]\nsigma = 1\n')
    with pytest.raises(PresetError, match=r"table \[blurr\] is not listed"):
        load_preset(p)
    p.write_text('stages = [blur')
    with pytest.raises(PresetError, match="not valid TOML"):
        load_preset(p)
    with pytest.raises(PresetError, match="unknown preset 'nosuch'"):
        load_preset("nosuch")
