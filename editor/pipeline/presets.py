"""Presets: named pipelines of edit stages with their options (TOML).

A preset file::

    description = "Blur the tracked objects"
    stages = ["blur"]            # stage ids, in order

    [blur]                       # options of stage id "blur"
    use = "blur"                 # stage type (defaults to the id)
    sigma = 25
    objects = "all"

Stage ids let one stage type appear twice (``stages = ["faces", "plates"]`` with
``use = "blur"`` in both tables). ``--set faces.sigma=40`` overrides an option.
Errors name the preset, the stage and the key.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from editor.api.errors import PresetError, TrackeditError
from editor.api.limits import document_problem, regular_file
from editor.pipeline.depth import EightBitStage
from editor.pipeline.stage_guard import GuardedStage
from editor.pipeline.plugin_manager import PluginManager
from editor.api.stages import Stage, StageContext, StageOptions

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover
    import tomli as tomllib  # type: ignore[no-redef]

PRESET_PACKAGE = "trackedit_presets"


@dataclass(frozen=True)
class StageConfig:
    id: str
    use: str
    options: dict[str, Any]
    overrides: dict[str, str] = field(default_factory=dict)
    """Option → the ``--set`` item that set it (errors then name the flag, not the file)."""


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    stages: tuple[StageConfig, ...]
    source: str = ""


def builtin_presets() -> dict[str, Path]:
    """Built-in preset names → files."""
    root = importlib.resources.files(PRESET_PACKAGE)
    return {Path(p.name).stem: Path(str(p)) for p in root.iterdir() if p.name.endswith(".toml")}


def parse_preset(data: dict[str, Any], name: str, source: str = "") -> Preset:
    where = f"preset {name!r}"
    unknown_top = [k for k in data if k not in ("description", "stages") and not isinstance(data[k], dict)]
    if unknown_top:
        raise PresetError(f"{where}: unknown key(s) {', '.join(map(repr, unknown_top))}", source or None)
    ids = data.get("stages")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
        raise PresetError(f"{where}: 'stages' must be a non-empty list of stage ids", source or None)
    if len(set(ids)) != len(ids):
        raise PresetError(f"{where}: duplicate stage ids in 'stages'", source or None)
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    for k in tables:
        if k not in ids:
            raise PresetError(f"{where}: table [{k}] is not listed in 'stages'", source or None)
    stages = []
    for sid in ids:
        opts = dict(tables.get(sid, {}))
        use = opts.pop("use", sid)
        if not isinstance(use, str):
            raise PresetError(f"{where}, stage {sid!r}: 'use' must be a stage name", source or None)
        stages.append(StageConfig(sid, use, opts))
    return Preset(name, str(data.get("description", "")), tuple(stages), source)


def load_preset(name_or_path: str | Path) -> Preset:
    """A built-in preset by name, or a preset file by path."""
    text_path = Path(name_or_path)
    builtin = builtin_presets()
    if str(name_or_path) in builtin and not text_path.suffix:
        path, name = builtin[str(name_or_path)], str(name_or_path)
    elif text_path.suffix == ".toml" or text_path.exists():
        path, name = text_path, text_path.stem
        regular_file(path, "preset file", PresetError)
    else:
        raise PresetError(f"unknown preset {str(name_or_path)!r} (built-in: {', '.join(sorted(builtin))}; "
                          "or give a .toml path)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"not valid TOML ({exc})", path) from exc
    except (ValueError, RecursionError) as exc:  # numbers of thousands of digits, nesting thousands deep
        raise PresetError(f"not valid TOML ({document_problem(exc)})", path) from None
    return parse_preset(data, name, str(path))


def parse_value(text: str) -> Any:
    """A ``--set`` value: TOML literal (number, bool, string, array) or else plain text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except (tomllib.TOMLDecodeError, ValueError, RecursionError):
        return text


def apply_overrides(preset: Preset, overrides: list[str]) -> Preset:
    """Apply ``stage.option=value`` overrides (values parsed as TOML, else taken as text)."""
    stages = {s.id: StageConfig(s.id, s.use, dict(s.options), dict(s.overrides)) for s in preset.stages}
    for item in overrides:
        key, sep, value = item.partition("=")
        sid, dot, option = key.strip().partition(".")
        if not sep or not dot or not sid or not option:
            raise PresetError(f"--set {item!r}: expected stage.option=value")
        if sid not in stages:
            raise PresetError(f"--set {item!r}: preset {preset.name!r} has no stage {sid!r} "
                              f"(stages: {', '.join(stages)})")
        stages[sid].options[option] = parse_value(value.strip())
        stages[sid].overrides[option] = item
    return Preset(preset.name, preset.description, tuple(stages[s.id] for s in preset.stages), preset.source)


def validate_preset(preset: Preset, pm: PluginManager) -> list[tuple[StageConfig, StageOptions]]:
    """Check stage names and options; returns the typed options per stage."""
    out = []
    specs = pm.stages
    for cfg in preset.stages:
        where = f"preset {preset.name!r}, stage {cfg.id!r}"
        spec = specs.get(cfg.use)
        if spec is None:
            raise PresetError(f"{where}: unknown stage type {cfg.use!r} (available: {', '.join(sorted(specs))})",
                              preset.source or None)
        try:
            options = spec.options_model(**cfg.options)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = [str(p) for p in err.get("loc", ())]
            key = ".".join(loc)
            msg = err.get("msg", "invalid").removeprefix("Value error, ")
            allowed = ", ".join(sorted(spec.options_model.model_fields))
            unknown = err.get("type") == "extra_forbidden"
            item = cfg.overrides.get(loc[0]) if loc else None
            if item is not None:  # the value came from the command line: blame the flag
                what = f"stage {cfg.id} has no option {key!r} (options: {allowed})" if unknown else f"{key}: {msg}"
                raise PresetError(f"--set {item}: {what}") from exc
            if unknown:
                msg = f"unknown option (options: {allowed})"
            if not key:  # a rule between options (pydantic's model validator): no one key to blame
                given = [cfg.overrides[k] for k in cfg.overrides]
                blame = f" (given: --set {', --set '.join(given)})" if given else ""
                raise PresetError(f"{where}: {msg}{blame}", preset.source or None) from exc
            raise PresetError(f"{where}, key {key!r}: {msg}", preset.source or None) from exc
        out.append((cfg, options))
    return out


def build_stages(preset: Preset, pm: PluginManager, context: StageContext) -> list[Stage]:
    """Validate and instantiate the preset's stages for one run.

    Each stage factory gets ``context`` with ``inpainters`` set to the plugin manager's and
    ``object_groups`` to the classes of the run's objects (each registered detector's name →
    its objects, :func:`editor.detection.objects.detector_groups`).
    Stages whose spec does not say ``deep=True`` come wrapped in
    :class:`~editor.pipeline.depth.EightBitStage` (they see uint8 frames in a deep run), and
    every stage in :class:`~editor.pipeline.stage_guard.GuardedStage` (its failures name it,
    the frames it returns are checked)."""
    from editor.detection.objects import detector_groups

    context = dataclasses.replace(context, inpainters=pm.inpainters,
                                  object_groups=detector_groups(context.object_names, pm.detectors))
    stages = []
    for cfg, options in validate_preset(preset, pm):
        spec = pm.stages[cfg.use]
        try:
            stage = spec.factory(options, context)
            owner = pm.owner("stages", cfg.use)
            stages.append(GuardedStage(stage if spec.deep else EightBitStage(stage),
                                       f"preset {preset.name!r}, stage {cfg.id!r} (plugin {owner!r})"))
        except PresetError as exc:
            raise _stage_error(preset, cfg, str(exc)) from exc
        except TrackeditError:  # about a file the stage writes (OutputError): it names that file
            raise
        except Exception as exc:  # noqa: BLE001 - name the plugin
            owner = pm.owner("stages", cfg.use)
            raise PresetError(f"preset {preset.name!r}, stage {cfg.id!r}: plugin {owner!r} failed to "
                              f"create it ({exc})", preset.source or None) from exc
    return stages


def side_outputs(preset: Preset, pm: PluginManager, output: Path, cwd: Path | None = None) -> list[Path]:
    """What the preset's stages will write beside ``output`` (:attr:`StageSpec.side_outputs`:
    export-masks' folder), absolute: a relative path is taken from ``cwd`` (default: the
    current folder). Raises :class:`~editor.api.errors.PresetError` as :func:`validate_preset`."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    out = []
    for cfg, options in validate_preset(preset, pm):
        spec = pm.stages[cfg.use]
        if spec.side_outputs is not None:
            out.extend(base / Path(p) for p in spec.side_outputs(options, Path(output)))
    return out


def _stage_error(preset: Preset, cfg: StageConfig, message: str) -> PresetError:
    """An error about a stage's ``objects`` option, blaming the ``--set`` flag that gave it
    or else the preset and stage."""
    item = cfg.overrides.get("objects")
    if item is not None:
        return PresetError(f"--set {item}: {message}")
    return PresetError(f"preset {preset.name!r}, stage {cfg.id!r}: {message}", preset.source or None)


def check_object_selections(preset: Preset, pm: PluginManager, names: Mapping[int, str],
                            detectors: Iterable[str] = ()) -> None:
    """Fail before any work when a stage's ``objects`` selects something that cannot exist
    in this run: every item must be an id, the name of one of the run's objects (``names``:
    id → name), a class (a registered detector's name, :func:`editor.api.stages.select_objects`)
    or — for the ``detectors`` this run detects with — a name the detection may give
    (``face-3``). Raises :class:`~editor.api.errors.PresetError` naming the stage (or the
    ``--set`` flag) and what is known."""
    specs = pm.detectors
    labels = [label for d in detectors if d in specs for label in specs[d].labels]
    pattern = re.compile(rf"(?:{'|'.join(re.escape(label) for label in labels)})-\d+") if labels else None
    known = {n for n in names.values() if n}
    for cfg, options in validate_preset(preset, pm):
        selector = getattr(options, "objects", "all")
        if not isinstance(selector, list):
            continue
        for item in selector:
            if isinstance(item, int) or item.isdigit() or item in known or item in specs:
                continue
            if pattern is not None and pattern.fullmatch(item):
                continue
            hint = f"known: {sorted(known)}; classes: {sorted(specs)}"
            if labels:
                hint += f"; detected objects are named {', '.join(f'{label}-<n>' for label in labels)}"
            raise _stage_error(preset, cfg, f"objects: no object named {item!r} ({hint})")
