"""Scenario files: TOML in, validated :class:`Scenario` out, with errors a user can act on.

A file may start from a preset (``preset = "qemu-ras"`` at the top) and override any
key; ``--set dotted.key=value`` overrides apply last. Errors name the file, the dotted
path of the key and the problem, and suggest the key that was probably meant.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import tomli_w
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

from rassim.errors import ConfigError
from rassim.presets import PRESETS
from rassim.scenario import USER_INPUT, Scenario


def load_scenario(
    path: str | Path | None = None,
    preset: str | None = None,
    overrides: list[str] | None = None,
) -> Scenario:
    """Build a scenario from a TOML file and/or a preset, then ``key=value`` overrides."""
    data: dict[str, Any] = {}
    source = "scenario"
    if path is not None:
        source = str(path)
        data = read_toml(path)
        file_preset = data.pop("preset", None)
        if file_preset is not None and preset is not None and file_preset != preset:
            raise ConfigError(f"{source}: preset {file_preset!r} conflicts with --preset {preset}")
        preset = preset or file_preset
    if preset is not None:
        data = merge(preset_data(preset), data)
    for item in overrides or []:
        apply_override(data, item)
    return validate(data, source)


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.exists() and not path.is_dir() and not path.is_file():
        raise ConfigError(f"{path}: not a regular file (a device or a pipe?)")
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a TOML file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{path}: not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
            f"{error.start}); TOML files are UTF-8"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def preset_data(name: str) -> dict[str, Any]:
    try:
        return copy.deepcopy(PRESETS[name].overrides)
    except KeyError:
        hint = did_you_mean(name, PRESETS)
        raise ConfigError(f"unknown preset {name!r}{hint}; `rassim presets` lists them") from None


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """``top`` over ``base``, recursively for nested tables."""
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def apply_override(data: dict[str, Any], item: str) -> None:
    """Apply ``dotted.key=value``; the value is read as TOML (``3``, ``true``, ``"x"``,
    ``[1, 2]``) and falls back to a bare string (``50us``, ``exit_to_user``)."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(
            f"--set {item!r}: expected key=value, e.g. hypervisor.policy=exit_to_user"
        )
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()
    assign(data, key, value, "--set")


def assign(data: dict[str, Any], key: str, value: Any, where: str) -> None:
    """Set dotted ``key`` in nested ``data``; a table value merges into a table."""
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{where}: {key}: {part} is a value, not a section")
        node = child
    last = parts[-1]
    if isinstance(value, dict) and isinstance(node.get(last), dict):
        node[last] = merge(node[last], value)
    else:
        node[last] = value


def validate(data: dict[str, Any], source: str = "scenario") -> Scenario:
    """What a user wrote, as a scenario: every duration, size and rate with its unit."""
    try:
        return Scenario.model_validate(data, context=USER_INPUT)
    except ValidationError as error:
        raise ConfigError(format_validation_error(error, source)) from None


def format_validation_error(
    error: ValidationError,
    source: str,
    fields_at: Callable[[list[str]], list[str]] | None = None,
) -> str:
    """One line per problem: ``source: dotted.path: what is wrong``; ``fields_at`` names
    the keys allowed at a path, for suggestions (default: the scenario's sections)."""
    fields_at = fields_at or _fields_at
    lines = []
    for problem in error.errors():
        loc = [str(part) for part in problem["loc"] if part != "[key]"]
        path = ".".join(loc) or "(top level)"
        kind = problem["type"]
        if kind == "extra_forbidden":
            hint = did_you_mean(loc[-1], fields_at(loc[:-1]))
            message = f"unknown key{hint}"
        elif kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
            message = f"{problem['msg'].removeprefix('Input should be ')}, got {problem['input']!r}"
            message = f"must be {message}"
        elif kind == "value_error":
            message = problem["msg"].removeprefix("Value error, ")
        elif kind == "missing":
            message = "required key is missing"
        else:
            message = f"{problem['msg']}, got {problem.get('input')!r}"
        lines.append(f"{source}: {path}: {message}")
    return "\n".join(lines)


def _fields_at(loc: list[str]) -> list[str]:
    """Field names of the section at ``loc`` (for suggesting near-miss keys)."""
    model: type[BaseModel] | None = Scenario
    for part in loc:
        if model is None or part not in model.model_fields:
            return []
        annotation = model.model_fields[part].annotation
        model = (
            annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel)
            else None
        )
    return list(model.model_fields) if model is not None else []


def key_type(key: str) -> Any:
    """The type of dotted scenario ``key`` with its validators and serializer (a type for
    :class:`pydantic.TypeAdapter`), through sections and table entries
    (``memory.access.guest_anon.access_rate``); an unknown key is a ConfigError."""
    annotation: Any = Scenario
    parts = key.split(".")
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the scenario"
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                hint = did_you_mean(part, annotation.model_fields)
                raise ConfigError(f"{key}: unknown key {part!r} in {where}{hint}")
            annotation = field_type(field)
        elif get_origin(annotation) is dict:
            entry, annotation = get_args(annotation)
            try:
                TypeAdapter(entry).validate_python(part)
            except ValidationError:
                names = [str(getattr(e, "value", e)) for e in choices(entry)]
                hint = did_you_mean(part, names)
                raise ConfigError(
                    f"{key}: {where} has no entry {part!r}{hint} (it has {', '.join(names)})"
                ) from None
        else:
            raise ConfigError(f"{key}: {where} is a value, not a section")
    return annotation


def field_type(field: FieldInfo) -> Any:
    """A field's type with its validators, bounds and serializer (``Annotated``)."""
    if field.metadata:
        return Annotated[(field.annotation, *field.metadata)]
    return field.annotation


def choices(entry: Any) -> list[Any]:
    """The allowed keys of a table keyed by an enum or a Literal."""
    if isinstance(entry, type) and issubclass(entry, Enum):
        return list(entry)
    return list(get_args(entry))


def did_you_mean(word: str, choices) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def dump_scenario(scenario: Scenario) -> str:
    """The fully resolved scenario as TOML; loading it gives an equal scenario."""
    return tomli_w.dumps(scenario.model_dump(mode="json", exclude_none=True))
