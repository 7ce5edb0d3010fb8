"""The render settings the web UI offers: each stage's options as a form, described from the
stage's pydantic options model, and the output's codec, quality and container.

What the page sends is checked by the CLI's own code, so that the messages are the CLI's:
the stage options become ``--set stage.option=value`` items (:func:`settings_preset`, through
:func:`editor.pipeline.presets.apply_overrides` and
:func:`~editor.pipeline.presets.validate_preset`), the output becomes
:meth:`editor.video.writer.EncodeOptions.resolve` (:func:`encode_options`).
"""
from __future__ import annotations

import typing
from pathlib import Path
from typing import Any, Literal

import av
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from editor.api.errors import PresetError
from editor.pipeline.plugin_manager import PluginManager
from editor.pipeline.presets import Preset, apply_overrides, builtin_presets, load_preset, validate_preset
from editor.video.writer import EncodeOptions

CONTAINERS: dict[str, str] = {"mp4": "mp4", "mov": "mov", "mkv": "matroska", "webm": "webm"}
"""File suffix → container format name (``--container``)."""
CODECS = ("auto", "libx264", "libx265", "libvpx-vp9", "libaom-av1")
"""Video codecs the form lists (those this FFmpeg build has; ``auto`` as ``--codec auto``)."""
HIDDEN_OPTIONS = frozenset({"objects", "folder", "formats"})
"""Options the form leaves to presets and the CLI (which objects; export paths). Options
that take a file path are never offered nor taken (:func:`is_path_option`): no text from
the page becomes a path on the server."""


def is_path_option(model: type[BaseModel], name: str) -> bool:
    """Whether option ``name`` of ``model`` is a file path (its type is or includes ``Path``)."""
    field = model.model_fields.get(name)
    if field is None:
        return False
    kinds = {field.annotation, *typing.get_args(field.annotation)}
    return any(isinstance(k, type) and issubclass(k, Path) for k in kinds)


class OutputSettings(BaseModel):
    """The output as the page's form gives it (``--codec``, ``--crf``, ``--container``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    codec: str = "auto"
    crf: int = Field(18, ge=0, le=63)
    """Quality: lower is better (x264/x265: 0–51; VP9/AV1: 0–63)."""
    container: Literal["mp4", "mov", "mkv", "webm"] = "mp4"


def _field(name: str, schema: dict[str, Any], value: Any) -> dict[str, Any]:
    """One form field from one JSON-schema property: ``kind`` is number, integer, boolean,
    choice, color or text; ``value`` the preset's value (else the model's default)."""
    kind = schema.get("type")
    out: dict[str, Any] = {"name": name, "label": schema.get("title", name), "help": schema.get("description", ""),
                           "value": value}
    if "enum" in schema:
        out.update(kind="choice", choices=list(schema["enum"]))
    elif kind in ("integer", "number", "boolean"):
        out["kind"] = kind
        out.update({k: schema[k] for k in ("minimum", "maximum") if k in schema})
    elif kind == "array" and schema.get("minItems") == schema.get("maxItems") == 3 and name.endswith("color"):
        out["kind"] = "color"
    else:
        out["kind"] = "text"
    return out


def preset_forms(plugins: PluginManager) -> dict[str, dict[str, Any]]:
    """Every built-in preset that paints frames → ``{"description", "stages": [{"id", "use",
    "description", "fields": [...]}]}`` (see :func:`_field`), in the presets' order."""
    forms: dict[str, dict[str, Any]] = {}
    for name in sorted(builtin_presets()):
        preset = load_preset(name)
        if any(c.use == "export-masks" for c in preset.stages):
            continue
        stages = []
        for cfg in preset.stages:
            spec = plugins.stages.get(cfg.use)
            if spec is None:
                continue
            props = spec.options_model.model_json_schema().get("properties", {})
            defaults = spec.options_model()
            fields = [_field(k, v, cfg.options.get(k, getattr(defaults, k, v.get("default"))))
                      for k, v in props.items()
                      if k not in HIDDEN_OPTIONS and not is_path_option(spec.options_model, k)]
            stages.append({"id": cfg.id, "use": cfg.use, "description": spec.description, "fields": fields})
        forms[name] = {"description": preset.description, "stages": stages}
    return forms


def settings_preset(name: str, options: dict[str, str], plugins: PluginManager) -> Preset:
    """Built-in preset ``name`` with ``options`` (``"stage.option"`` → the text typed in the
    form, read as ``--set`` reads it: a TOML value, else text), checked as the CLI checks
    ``--set``: :class:`PresetError` with the CLI's message (``--set blur.sigma=-1: sigma:
    Input should be greater than or equal to 0``); an option that takes a file path is a
    :class:`PresetError` too (no text from the page becomes a path)."""
    items = [f"{key}={value}" for key, value in options.items()]
    preset = apply_overrides(load_preset(name), items)
    for cfg in preset.stages:
        spec = plugins.stages.get(cfg.use)
        for option, item in cfg.overrides.items():
            if spec is not None and is_path_option(spec.options_model, option):
                raise PresetError(f"--set {item}: the web UI takes no file paths (use `trackedit run --set`)")
    validate_preset(preset, plugins)
    return preset


_BOUNDS = {"greater_than_equal": ("ge", "≥"), "greater_than": ("gt", ">"), "less_than_equal": ("le", "≤"),
           "less_than": ("lt", "<")}
_KINDS = {"int_parsing": "a whole number", "int_from_float": "a whole number", "int_type": "a whole number",
          "float_parsing": "a number", "float_type": "a number", "bool_parsing": "on or off", "bool_type": "on or off"}


def _number(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _page_message(label: str, exc: PresetError) -> str:
    """``exc`` (a ``--set`` refusal) in the page's words: ``Sigma must be ≥ 0``."""
    cause = exc.__cause__
    if not isinstance(cause, ValidationError):  # not the model's rule: the CLI's reason, without the flag
        text = str(exc)
        return text.split(": ", 1)[1] if text.startswith("--set ") and ": " in text else text
    err = cause.errors()[0]
    kind, ctx = err.get("type", ""), err.get("ctx") or {}
    if kind in _BOUNDS and _BOUNDS[kind][0] in ctx:
        key, sign = _BOUNDS[kind]
        return f"{label} must be {sign} {_number(ctx[key])}"
    if kind in _KINDS:
        return f"{label} must be {_KINDS[kind]}"
    if kind == "literal_error" and "expected" in ctx:
        return f"{label} must be one of {ctx['expected']}"
    msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{label}: {msg[:1].lower()}{msg[1:]}"


def check_settings(name: str, options: dict[str, str], plugins: PluginManager) -> dict[str, str]:
    """Each of ``options`` (``"stage.option"`` → text typed) that :func:`settings_preset`
    refuses — the CLI's rules — → its message in the page's words, to show next to the field
    as it is typed (``{"blur.sigma": "Sigma must be ≥ 0"}``); empty when all are good. Each
    option is checked on its own, so that every bad field is named."""
    preset = load_preset(name)
    errors: dict[str, str] = {}
    for key, value in options.items():
        try:
            settings_preset(name, {key: value}, plugins)
        except PresetError as exc:
            sid, _, option = key.partition(".")
            cfg = next((c for c in preset.stages if c.id == sid), None)
            spec = plugins.stages.get(cfg.use) if cfg is not None else None
            props = spec.options_model.model_json_schema().get("properties", {}) if spec is not None else {}
            errors[key] = _page_message(props.get(option, {}).get("title", option), exc)
    return errors


def encode_options(output: OutputSettings) -> tuple[EncodeOptions, str]:
    """The encoder options and the file suffix for ``output``; :class:`OutputError` (the
    CLI's message) for a codec this FFmpeg lacks, :class:`PresetError` for one the form does
    not list."""
    if output.codec not in CODECS:
        raise PresetError(f"--codec {output.codec!r}: not one of {', '.join(available_codecs())}")
    encode = EncodeOptions.resolve(output.codec, crf=output.crf, container=CONTAINERS[output.container])
    return encode, output.container


def available_codecs() -> list[str]:
    """The listed codecs this FFmpeg build has (``auto`` first)."""
    return [c for c in CODECS if c == "auto" or c in av.codecs_available]
