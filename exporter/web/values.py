"""Checks of one value of the web config file, shared by its sections."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ConfigProblem(Exception):
    """A problem inside the file; ``load_web_config`` prefixes the file name."""


def _section(value: object, where: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if value is None:  # "tls_server_config:" with nothing under it
        return {}
    if not isinstance(value, Mapping):
        raise ConfigProblem(f"{where}: expected a mapping, got {_kind(value)}")
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise ConfigProblem(
            f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    return value


def _opt_str(sec: Mapping[str, Any], key: str, where: str) -> str:
    """A string setting; missing, null and "" all mean unset, as in Go."""
    value = sec.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ConfigProblem(f"{where}.{key}: expected a string, got {_kind(value)}")
    return value


def _str_list(sec: Mapping[str, Any], key: str, where: str) -> list[str]:
    value = sec.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigProblem(f"{where}.{key}: expected a list of strings")
    return value


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
