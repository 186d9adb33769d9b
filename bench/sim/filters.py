"""The engine's query parameters that select: ``filters``, and ``since``/``until`` of
/events; and the matching of objects and events against them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


class BadFilter(ValueError):
    pass


def parse_filters(raw: str | None, allowed: Iterable[str]) -> dict[str, set[str]]:
    """Docker's ``filters`` parameter: ``{"key":["v",...]}`` or the old ``{"key":{"v":true}}``."""
    if not raw:
        return {}
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise BadFilter(f"invalid filter: {exc}") from None
    if not isinstance(obj, dict):
        raise BadFilter("invalid filter: not an object")
    out: dict[str, set[str]] = {}
    ok = set(allowed)
    for key, value in obj.items():
        if key not in ok:
            raise BadFilter(f"invalid filter '{key}'")
        if isinstance(value, list):
            out[key] = {str(v) for v in value}
        elif isinstance(value, dict):
            out[key] = {str(k) for k, v in value.items() if v}
        else:
            raise BadFilter(f"invalid filter '{key}'")
    return out


def label_ok(labels: Mapping[str, str], want: str) -> bool:
    """A ``label`` filter value: ``key`` (present) or ``key=value``."""
    k, sep, v = want.partition("=")
    return k in labels and (not sep or labels[k] == v)


def event_matches(ev: Mapping[str, Any], filters: Mapping[str, set[str]]) -> bool:
    actor = ev["Actor"]
    for key, values in filters.items():
        if key == "type" and ev["Type"] not in values:
            return False
        if key == "scope" and ev["scope"] not in values:
            return False
        if key == "event" and ev["Action"] not in values:
            return False
        if key in ("node", "service") and (
            ev["Type"] != key
            or (actor["ID"] not in values and actor["Attributes"].get("name") not in values)
        ):
            return False
        if key == "label":
            attrs = actor["Attributes"]
            if not any(
                (v.partition("=")[0] in attrs)
                and (not v.partition("=")[1] or attrs[v.partition("=")[0]] == v.partition("=")[2])
                for v in values
            ):
                return False
    return True


def parse_since(raw: str | None) -> int | None:
    """``since``/``until``: Unix seconds with an optional fraction, or RFC 3339."""
    if not raw:
        return None
    try:
        sec, _, frac = raw.partition(".")
        return int(sec) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)
    except ValueError:
        pass
    try:
        return int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1e9)
    except ValueError:
        raise BadFilter(f"invalid time {raw!r}") from None
