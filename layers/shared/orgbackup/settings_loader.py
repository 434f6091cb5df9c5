"""Typed, validated configuration read from a flat mapping of strings.

A field ``organization_id`` is the environment variable ``ORGANIZATION_ID`` (what SAM passes to the functions)
and the CloudFormation parameter ``OrganizationId`` (what `template.yaml` and `samconfig.toml` hold), so the
Lambda functions, the CLI and the local simulation read the same settings one way. Each field may carry a
regular expression (``pattern``, usually one of ``orgbackup.fields``) that every value (every item, for lists)
must match in full.
"""

import dataclasses
import os
import re
import types
from collections.abc import Mapping
from typing import Any, Literal, get_args, get_origin, get_type_hints

from orgbackup.exceptions import ConfigurationError

Naming = Literal["env", "cfn"]


def pattern(regex: str, *, default: Any = dataclasses.MISSING, why: str = "") -> Any:
    """A dataclass field whose value (or each of its items) must match ``regex`` in full."""
    metadata = {"pattern": regex, "why": why}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def key_for(field_name: str, naming: Naming) -> str:
    if naming == "env":
        return field_name.upper()
    return "".join(part.capitalize() for part in field_name.split("_"))


def split_list(raw: str) -> tuple[str, ...]:
    """CloudFormation CommaDelimitedList values arrive joined with commas; blanks are dropped."""
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _convert(key: str, raw: str, annotation: Any) -> Any:
    origin = get_origin(annotation)
    if annotation is str:
        return raw.strip()
    if annotation is bool:
        lowered = raw.strip().lower()
        if lowered not in {"true", "false"}:
            raise ConfigurationError(f"{key}={raw!r} is not a boolean: use 'true' or 'false'")
        return lowered == "true"
    if annotation is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise ConfigurationError(f"{key}={raw!r} is not a whole number") from None
    if origin is tuple and get_args(annotation)[0] is str:
        return split_list(raw)
    if origin in (types.UnionType,) and type(None) in get_args(annotation):
        inner = next(arg for arg in get_args(annotation) if arg is not type(None))
        return _convert(key, raw, inner) if raw.strip() else None
    raise TypeError(f"unsupported settings type for {key}: {annotation!r}")  # a programming error


def _check_pattern(key: str, value: Any, field: dataclasses.Field[Any]) -> None:
    regex = field.metadata.get("pattern")
    if not regex or value is None:
        return
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if not re.fullmatch(regex, str(item)):
            why = field.metadata.get("why") or f"must match {regex}"
            raise ConfigurationError(f"{key}={item!r} is invalid: {why}")


def load[T](cls: type[T], values: Mapping[str, str], naming: Naming = "env") -> T:
    """Build the dataclass ``cls`` from ``values``; raise ConfigurationError naming the key, value and rule."""
    hints = get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = key_for(field.name, naming)
        if key not in values:
            if field.default is dataclasses.MISSING:
                raise ConfigurationError(f"{key} is required but not set")
            continue
        value = _convert(key, values[key], hints[field.name])
        _check_pattern(key, value, field)
        kwargs[field.name] = value
    return cls(**kwargs)


def from_environment[T](cls: type[T]) -> T:
    """``cls`` from this process's environment variables. Only handlers call it, at entry: the domain takes the
    settings objects, so every function reads exactly the variables of the classes its handler names (the
    function's Environment in template.yaml, checked by tests/static/test_function_environment.py)."""
    return load(cls, os.environ)
