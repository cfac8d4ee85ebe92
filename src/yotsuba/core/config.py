"""Configs as plain data: a strict pydantic base model, YAML/TOML loading, and overrides.

A config error is fatal before any work starts and says where it is: ``file:line: field:
problem (allowed range)``. Sweeps clone configs with ``config.model_copy(update=point)``, or
with :func:`with_overrides` when the values arrive as ``FIELD=VALUE`` strings from a command
line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from yotsuba.core.errors import ConfigError

M = TypeVar("M", bound="YotsubaModel")
_DECIMAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


class YotsubaModel(BaseModel):
    """Base of every config: unknown fields are errors, instances are immutable values."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    def get_params(self) -> dict[str, Any]:
        """The config as a plain dict (scikit-learn style), ready for ``model_copy(update=)``."""
        return self.model_dump()


def _yaml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path of a YAML mapping document to the 1-based line of its value."""
    lines: dict[tuple[str, ...], int] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                sub = (*path, str(i))
                lines[sub] = item.start_mark.line + 1
                walk(item, sub)

    if root is not None:
        walk(root, ())
    return lines


def _toml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Best-effort key -> line map for TOML (tables and ``key = value`` lines)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for n, raw in enumerate(text.splitlines(), start=1):
        s = raw.strip()
        if m := re.match(r"^\[+([^\]]+)\]+", s):
            table = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
            lines[table] = n
        elif m := re.match(r"^([A-Za-z0-9_\-\"'.]+)\s*=", s):
            key = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
            lines[(*table, *key)] = n
    return lines


def _parse(path: Path) -> tuple[Any, dict[tuple[str, ...], int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found; check the path", path=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read file ({exc})", path=str(path)) from None
    suffix = path.suffix.lower()
    if suffix == ".toml":
        try:
            return tomllib.loads(text), _toml_lines(text)
        except tomllib.TOMLDecodeError as exc:
            m = re.search(r"line (\d+)", str(exc))
            raise ConfigError(
                f"malformed TOML ({exc})", path=str(path), line=int(m.group(1)) if m else None
            ) from None
    if suffix in (".yaml", ".yml", ".json", ""):
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise ConfigError(
                f"malformed YAML ({problem}); fix the syntax",
                path=str(path),
                line=mark.line + 1 if mark is not None else None,
            ) from None
        return data, _yaml_lines(text)
    raise ConfigError(
        f"unknown config format '{suffix}': use .yaml, .yml, .json or .toml", path=str(path)
    )


def _field_bounds(model: type[BaseModel] | None, loc: tuple[str, ...]) -> dict[str, Any]:
    """All of a field's numeric bounds (``ge``/``gt``/``le``/``lt``) from its declaration."""
    field = None
    for part in loc:
        if model is None or part not in model.model_fields:
            return {}
        field = model.model_fields[part]
        ann = field.annotation
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    bounds: dict[str, Any] = {}
    for meta in field.metadata if field is not None else ():
        for key in ("ge", "gt", "le", "lt"):
            if getattr(meta, key, None) is not None:
                bounds[key] = getattr(meta, key)
    return bounds


def _describe(err: Mapping[str, Any], model: type[BaseModel] | None = None) -> str:
    kind = err.get("type", "")
    ctx = dict(err.get("ctx") or {})
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        # pydantic names only the bound broken; say the whole allowed range.
        ctx = {**_field_bounds(model, tuple(str(p) for p in err.get("loc", ()))), **ctx}
    value = err.get("input")
    if kind == "extra_forbidden":
        return "unknown field; check its spelling against the documented field names"
    if kind == "missing":
        return "required field is missing"
    bounds = []
    for key, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if key in ctx:
            bounds.append(f"{sym} {ctx[key]}")
    if bounds:
        return f"{value!r} is out of range: must be {' and '.join(bounds)}"
    msg = str(err.get("msg", "invalid value"))
    return f"{value!r} is invalid: {msg[0].lower()}{msg[1:]}" if msg else "invalid value"


def validation_error_to_config_error(
    exc: ValidationError,
    *,
    path: str | None = None,
    lines: Mapping[tuple[str, ...], int] | None = None,
    prefix: tuple[str, ...] = (),
    model: type[BaseModel] | None = None,
) -> ConfigError:
    """Turn the first pydantic error into a one-line :class:`ConfigError`.

    With ``model``, an out-of-range message states the field's whole allowed range.
    """
    err = exc.errors()[0]
    loc = tuple(str(p) for p in err.get("loc", ()))
    line = None
    if lines:
        full = (*prefix, *loc)
        while full and line is None:
            line = lines.get(full)
            full = full[:-1]
    field = ".".join(loc) if loc else None
    return ConfigError(_describe(err, model), path=path, line=line, field=field)


def build(model: type[M], data: Mapping[str, Any], *, source: str | None = None) -> M:
    """Validate ``data`` into ``model``, raising :class:`ConfigError` with the field named.

    >>> class C(YotsubaModel):
    ...     x: float = 1.0
    >>> build(C, {"x": 2}).x
    2.0
    """
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise validation_error_to_config_error(exc, path=source, model=model) from None


def load(model: type[M], path: str | Path, *, section: str | None = None) -> M:
    """Load ``model`` from a YAML/TOML/JSON file; errors carry ``file:line`` and the field.

    Parameters
    ----------
    model
        The pydantic model class to build.
    path
        The file to read.
    section
        Optional top-level key whose mapping holds the model's fields.
    """
    p = Path(path)
    data, lines = _parse(p)
    prefix: tuple[str, ...] = ()
    if section is not None and isinstance(data, dict) and section in data:
        data, prefix = data[section], (section,)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping of field: value, got {type(data).__name__}", path=str(p), line=1
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_config_error(
            exc, path=str(p), lines=lines, prefix=prefix, model=model
        ) from None


def parse_assignments(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``FIELD=VALUE`` strings; values are YAML scalars (``1e-6``, ``true``, ``abc``).

    >>> parse_assignments(["a=1e-6", "b=x"])
    {'a': 1e-06, 'b': 'x'}
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"'{item}' is not FIELD=VALUE; write e.g. --set extra_loss_db=3")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        # YAML 1.1 reads '1e-6' as a string; numbers are what users mean (but 'nan', 'inf'
        # stay strings: a float field parses them itself, a text field keeps them as text).
        if isinstance(value, str) and _DECIMAL.match(value.strip()):
            value = float(value)
        out[key] = value
    return out


def with_overrides(config: M, items: Iterable[str], *, option: str = "--set") -> M:
    """A copy of ``config`` with ``FIELD=VALUE`` overrides applied and validated.

    Unknown fields and out-of-range values raise :class:`ConfigError` naming the option.
    """
    items = list(items)
    updates = parse_assignments(items)
    if not updates:
        return config
    known = type(config).model_fields
    for key in updates:
        if key not in known:
            allowed = ", ".join(sorted(known))
            raise ConfigError(f"unknown field; allowed fields: {allowed}", path=option, field=key)
    # A text field takes the value as typed (``name=2024`` is the text '2024', not a number).
    raw = {k.strip(): v.strip() for k, _, v in (item.partition("=") for item in items)}
    for key in updates:
        if known[key].annotation is str:
            updates[key] = raw[key]
    data = {**config.model_dump(), **updates}
    try:
        return type(config).model_validate(data)
    except ValidationError as exc:
        raise validation_error_to_config_error(exc, path=option, model=type(config)) from None
